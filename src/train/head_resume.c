// Resumable head training: see head_resume.h.
#include "head_resume.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/model/checkpoint.h"
#include "dfdetect/model/safetensors.h"
#include "dfdetect/util/alloc.h"

#define META_KEY  "resume"
#define ORDER_KEY "resume/order"
#define BEST_PFX  "best/"

// The parameters, their best copies (named "best/<name>") and the order tensor as one list of
// parameters for the checkpoint functions; names and order values in the caller's buffers.
typedef struct views {
    dfd_param *all; // 2n + 1
    dfd_param **ptr;
    char **names; // n best names
    size_t n;
} views;

static void views_free(views *v)
{
    for (size_t i = 0; v->names && i < v->n; i++) {
        dfd_free(v->names[i]);
    }
    dfd_free(v->names);
    dfd_free(v->all);
    dfd_free(v->ptr);
}

static bool views_make(views *v, const head_loop_tensors *t, float *order)
{
    memset(v, 0, sizeof *v);
    v->n = t->n;
    v->all = dfd_calloc(2 * t->n + 1, sizeof *v->all);
    v->ptr = dfd_calloc(2 * t->n + 1, sizeof *v->ptr);
    v->names = dfd_calloc(t->n ? t->n : 1, sizeof *v->names);
    if (!v->all || !v->ptr || !v->names) {
        return false;
    }
    for (size_t i = 0; i < t->n; i++) {
        size_t len = strlen(BEST_PFX) + strlen(t->params[i]->name) + 1;
        if (!(v->names[i] = dfd_malloc(len))) {
            return false;
        }
        snprintf(v->names[i], len, "%s%s", BEST_PFX, t->params[i]->name);
        v->all[i] = *t->params[i];
        v->all[t->n + i] = *t->params[i];
        v->all[t->n + i].name = v->names[i];
        v->all[t->n + i].value = t->best[i];
        v->all[t->n + i].grad = NULL;
    }
    v->all[2 * t->n] =
        (dfd_param){ .name = ORDER_KEY, .value = order, .rank = 1, .shape = { (int)t->n_order } };
    for (size_t i = 0; i < 2 * t->n + 1; i++) {
        v->ptr[i] = &v->all[i];
    }
    return true;
}

// Doubles travel as "%.17g" strings: cJSON prints numbers with 15 digits whenever they read
// back within an epsilon, which loses the last bits, and a resumed run compares these values.
static cJSON *exact_number(double v)
{
    char t[40];
    snprintf(t, sizeof t, "%.17g", v);
    return cJSON_CreateString(t);
}

static bool exact_of(double *v, const cJSON *x)
{
    char *end = NULL;
    if (!cJSON_IsString(x)) {
        return false;
    }
    *v = strtod(x->valuestring, &end);
    return end != x->valuestring && !*end;
}

static cJSON *epoch_json(const dfd_head_train_epoch *h)
{
    cJSON *a = cJSON_CreateArray();
    const double f[] = { h->epoch,   h->train_loss,   h->val_loss,
                         h->val_auc, h->val_accuracy, h->val_calibrated_loss };
    for (size_t i = 0; a && i < sizeof f / sizeof f[0]; i++) {
        cJSON_AddItemToArray(a, exact_number(f[i]));
    }
    return a;
}

static bool epoch_of(dfd_head_train_epoch *h, const cJSON *a)
{
    double f[6];
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        if (!exact_of(&f[i], cJSON_GetArrayItem(a, i))) {
            return false;
        }
    }
    *h = (dfd_head_train_epoch){ .epoch = (int)f[0],
                                 .train_loss = f[1],
                                 .val_loss = f[2],
                                 .val_auc = f[3],
                                 .val_accuracy = f[4],
                                 .val_calibrated_loss = f[5] };
    return true;
}

static char *state_json(const char *fingerprint, const head_loop_state *s)
{
    cJSON *o = cJSON_CreateObject();
    char rng[24];
    snprintf(rng, sizeof rng, "%016" PRIx64, s->rng);
    cJSON_AddStringToObject(o, "fingerprint", fingerprint);
    cJSON_AddNumberToObject(o, "epochs_done", s->epochs_done);
    cJSON_AddStringToObject(o, "rng", rng);
    cJSON_AddNumberToObject(o, "best_epoch", s->best_epoch);
    if (s->best_epoch > 0) { // INFINITY before the first epoch has no JSON form
        cJSON_AddItemToObject(o, "best_loss", exact_number(s->best_loss));
        cJSON_AddItemToObject(o, "best", epoch_json(&s->best));
    }
    cJSON *h = cJSON_AddArrayToObject(o, "history");
    for (int i = 0; h && i < s->epochs_done; i++) {
        cJSON_AddItemToArray(h, epoch_json(&s->hist[i]));
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

dfd_status head_resume_save(const char *path, const char *fingerprint, const head_loop_tensors *t,
                            const head_loop_state *s, dfd_error *err)
{
    float *order = dfd_malloc((t->n_order ? t->n_order : 1) * sizeof *order);
    views v;
    memset(&v, 0, sizeof v);
    char *meta = NULL;
    dfd_status st = order && views_make(&v, t, order) && (meta = state_json(fingerprint, s))
                        ? DFD_OK
                        : dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; !st && i < t->n_order; i++) {
        order[i] = (float)t->order[i]; // exact: item counts stay far below 2^24
    }
    if (!st) {
        const dfd_st_meta m = { META_KEY, meta };
        st = dfd_checkpoint_save(path, v.ptr, 2 * t->n + 1, t->opt, &m, 1, err);
    }
    cJSON_free(meta);
    views_free(&v);
    dfd_free(order);
    return st;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

// The saved order as indices, if it holds the same items as the caller's (the same multiset).
static bool order_of(size_t *out, const float *saved, const size_t *cur, size_t n)
{
    size_t *a = dfd_malloc((n ? n : 1) * sizeof *a), *b = dfd_malloc((n ? n : 1) * sizeof *b);
    bool ok = a && b;
    for (size_t i = 0; ok && i < n; i++) {
        ok = saved[i] >= 0 && saved[i] < 16777216.f && saved[i] == (float)(size_t)saved[i];
        a[i] = ok ? (size_t)saved[i] : 0;
        b[i] = cur[i];
    }
    if (ok) {
        memcpy(out, a, n * sizeof *a);
        qsort(a, n, sizeof *a, cmp_size);
        qsort(b, n, sizeof *b, cmp_size);
        ok = memcmp(a, b, n * sizeof *a) == 0;
    }
    dfd_free(a);
    dfd_free(b);
    return ok;
}

// Parse the "resume" metadata into *s (hist must hold max_epochs entries).
static dfd_status parse_state(head_loop_state *s, const char *text, const char *fingerprint,
                              int max_epochs, const char *path, dfd_error *err)
{
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(o, "fingerprint");
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(o, "epochs_done");
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(o, "rng");
    const cJSON *be = cJSON_GetObjectItemCaseSensitive(o, "best_epoch");
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(o, "history");
    dfd_status st = DFD_OK;
    if (!cJSON_IsString(fp) || !cJSON_IsNumber(done) || !cJSON_IsString(rng) ||
        !cJSON_IsNumber(be) || !cJSON_IsArray(hist) || done->valueint < 0 ||
        cJSON_GetArraySize(hist) != done->valueint || be->valueint < 0 ||
        be->valueint > done->valueint) {
        st = dfd_error_set(err, DFD_ERR_FORMAT,
                           "%s: not a checkpoint of head training (no valid \"%s\" metadata)", path,
                           META_KEY);
    } else if (strcmp(fp->valuestring, fingerprint) != 0) {
        st = dfd_error_set(err, DFD_ERR_INVALID,
                           "%s: made by a run with other settings (data, split, architecture, "
                           "batch or learning rates differ): start anew without --resume",
                           path);
    } else if (done->valueint > max_epochs) {
        st = dfd_error_set(err, DFD_ERR_INVALID,
                           "%s: %d epochs are done already; ask for more with --epochs", path,
                           done->valueint);
    }
    char *end = NULL;
    if (!st) {
        s->rng = strtoull(rng->valuestring, &end, 16);
        s->epochs_done = done->valueint;
        s->best_epoch = be->valueint;
        s->best_loss = INFINITY;
    }
    bool ok = !st && end && !*end;
    for (int i = 0; ok && i < s->epochs_done; i++) {
        ok = epoch_of(&s->hist[i], cJSON_GetArrayItem(hist, i));
    }
    if (ok && s->best_epoch > 0) {
        const cJSON *bl = cJSON_GetObjectItemCaseSensitive(o, "best_loss");
        ok = exact_of(&s->best_loss, bl) &&
             epoch_of(&s->best, cJSON_GetObjectItemCaseSensitive(o, "best"));
    }
    if (!st && !ok) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: damaged \"%s\" metadata", path, META_KEY);
    }
    cJSON_Delete(o);
    return st;
}

dfd_status head_resume_load(const char *path, const char *fingerprint, const head_loop_tensors *t,
                            head_loop_state *s, int max_epochs, dfd_error *err)
{
    dfd_safetensors *f = NULL;
    dfd_status st = dfd_checkpoint_open(&f, path, err);
    if (st) {
        return st;
    }
    head_loop_state tmp = { .hist = s->hist };
    st = parse_state(&tmp, dfd_safetensors_meta(f, META_KEY), fingerprint, max_epochs, path, err);
    float *saved = dfd_malloc((t->n_order ? t->n_order : 1) * sizeof *saved);
    size_t *order = dfd_malloc((t->n_order ? t->n_order : 1) * sizeof *order);
    views v;
    memset(&v, 0, sizeof v);
    if (!st && (!saved || !order || !views_make(&v, t, saved))) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    // The order first (nothing else is written if it does not fit), then everything else.
    if (!st) {
        st = dfd_safetensors_load_params(f, &v.ptr[2 * t->n], 1, err);
    }
    if (!st && !order_of(order, saved, t->order, t->n_order)) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: its \"%s\" is not this run's items", path,
                           ORDER_KEY);
    }
    if (!st) {
        st = dfd_checkpoint_load(f, v.ptr, 2 * t->n, t->opt, err);
    }
    if (!st) {
        memcpy(t->order, order, t->n_order * sizeof *order);
        *s = tmp;
    }
    views_free(&v);
    dfd_free(saved);
    dfd_free(order);
    dfd_safetensors_close(f);
    return st;
}
