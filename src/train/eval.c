// Evaluation figures from per-item outcomes, as JSON and CSV: see include/dfdetect/train/eval.h.
#include "dfdetect/train/eval.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"

dfd_eval_opts dfd_eval_opts_default(void)
{
    dfd_eval_opts o = { .threshold = 0.5, .n_boot = 1000, .level = 0.95, .seed = 1 };
    return o;
}

void dfd_eval_free(dfd_eval *e)
{
    if (!e) {
        return;
    }
    dfd_roc_free(&e->roc);
    dfd_roc_free(&e->frame_roc);
    dfd_free(e->methods);
    memset(e, 0, sizeof *e);
}

const char *dfd_eval_verdict(const dfd_eval_item *it, double t)
{
    switch (it->outcome) {
    case DFD_EVAL_SCORED:
        return it->probability >= t ? "FAKE" : "REAL";
    case DFD_EVAL_NO_FACE:
        return "NO_FACE";
    default:
        return "ERROR";
    }
}

// ---- computing ----

static void metrics_empty(dfd_metrics *m, double threshold)
{
    memset(m, 0, sizeof *m);
    m->threshold = threshold;
    m->auc = m->log_loss = m->accuracy = m->balanced_accuracy = NAN;
    m->tpr = m->fpr = m->eer = m->eer_threshold = m->fpr_at_tpr90 = NAN;
}

static bool is_prob(double p)
{
    return p >= 0.0 && p <= 1.0;
}

static dfd_status check_items(const dfd_eval_item *items, size_t n, double threshold,
                              dfd_error *err)
{
    if (n == 0 || !is_prob(threshold)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "eval: %s",
                             n == 0 ? "no items" : "threshold outside [0, 1]");
    }
    for (size_t i = 0; i < n; i++) {
        const dfd_eval_item *it = &items[i];
        if ((unsigned)it->label >= DFD_LABEL_COUNT || (unsigned)it->outcome > DFD_EVAL_FAILED) {
            return dfd_error_set(err, DFD_ERR_INVALID, "eval: item %zu: bad label or outcome", i);
        }
        if (it->outcome != DFD_EVAL_SCORED) {
            continue;
        }
        bool ok = is_prob(it->probability);
        for (size_t k = 0; ok && k < it->n_frame_probs; k++) {
            ok = is_prob((double)it->frame_probs[k]);
        }
        if (!ok) {
            return dfd_error_set(err, DFD_ERR_INVALID,
                                 "eval: item %zu (%s): a probability outside [0, 1]", i,
                                 it->file ? it->file : "?");
        }
    }
    return DFD_OK;
}

// Metrics of n scores; empty ones when n == 0.
static dfd_status metrics_of(dfd_metrics *m, const double *s, const uint8_t *y, size_t n,
                             double threshold, dfd_error *err)
{
    if (n == 0) {
        metrics_empty(m, threshold);
        return DFD_OK;
    }
    return dfd_metrics_compute(m, s, y, n, threshold, err);
}

// AUC and ROC when both labels are present, else NaN and an empty curve.
static dfd_status auc_roc(double *auc, dfd_roc *roc, const double *s, const uint8_t *y, size_t n,
                          dfd_error *err)
{
    size_t n_pos = 0;
    for (size_t i = 0; i < n; i++) {
        n_pos += y[i];
    }
    *auc = NAN;
    if (n_pos == 0 || n_pos == n) {
        return DFD_OK;
    }
    dfd_status st = dfd_metrics_auc(auc, s, y, n, err);
    return st || !roc ? st : dfd_metrics_roc(roc, s, y, n, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// The distinct method names of the items, sorted, into e->methods.
static dfd_status list_methods(dfd_eval *e, const dfd_eval_item *items, size_t n)
{
    const char **names = dfd_malloc(n * sizeof *names);
    if (!names) {
        return DFD_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].method) {
            names[k++] = items[i].method;
        }
    }
    qsort(names, k, sizeof *names, cmp_str);
    size_t n_distinct = 0;
    for (size_t i = 0; i < k; i++) {
        n_distinct += i == 0 || strcmp(names[i], names[i - 1]) != 0;
    }
    if (n_distinct > 0 && !(e->methods = dfd_calloc(n_distinct, sizeof *e->methods))) {
        dfd_free(names);
        return DFD_ERR_NOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0) {
            e->methods[e->n_methods++].name = names[i];
        }
    }
    dfd_free(names);
    return DFD_OK;
}

// One method's figures; s, y: scratch for n items.
static dfd_status method_figures(dfd_eval_method *m, const dfd_eval_item *items, size_t n, double t,
                                 double *s, uint8_t *y, dfd_error *err)
{
    size_t n_ok = 0, n_caught = 0, n_fake_scored = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        const dfd_eval_item *it = &items[i];
        bool mine = it->method && strcmp(it->method, m->name) == 0;
        bool scored = it->outcome == DFD_EVAL_SCORED;
        bool fake = it->label == DFD_LABEL_FAKE;
        if (mine) {
            m->n++;
            m->n_fake += fake;
            m->n_scored += scored;
        }
        if (!scored) {
            continue;
        }
        bool said_fake = it->probability >= t;
        if (mine) {
            n_ok += said_fake == fake;
            n_fake_scored += fake;
            n_caught += fake && said_fake;
        }
        if ((mine && fake) || !fake) {
            s[k] = it->probability;
            y[k++] = fake;
        }
    }
    m->accuracy = m->n_scored ? (double)n_ok / (double)m->n_scored : (double)NAN;
    m->recall = n_fake_scored ? (double)n_caught / (double)n_fake_scored : (double)NAN;
    m->auc = NAN;
    return n_fake_scored ? auc_roc(&m->auc, NULL, s, y, k, err) : DFD_OK;
}

dfd_status dfd_eval_compute(dfd_eval *out, const dfd_eval_item *items, size_t n,
                            const dfd_eval_opts *o, dfd_error *err)
{
    memset(out, 0, sizeof *out);
    const dfd_eval_opts def = dfd_eval_opts_default();
    o = o ? o : &def;
    dfd_status st = check_items(items, n, o->threshold, err);
    if (st) {
        return st;
    }
    dfd_eval *e = out;
    e->threshold = o->threshold;
    e->n = n;
    e->auc_lo = e->auc_hi = e->frame_auc = e->frame_log_loss = NAN;
    size_t n_fp = 0;
    for (size_t i = 0; i < n; i++) {
        e->n_label[items[i].label]++;
        e->n_scored += items[i].outcome == DFD_EVAL_SCORED;
        e->n_no_face += items[i].outcome == DFD_EVAL_NO_FACE;
        e->n_failed += items[i].outcome == DFD_EVAL_FAILED;
        n_fp += items[i].outcome == DFD_EVAL_SCORED ? items[i].n_frame_probs : 0;
    }
    size_t cap = n > n_fp ? n : n_fp;
    double *s = dfd_malloc(cap * sizeof *s);
    uint8_t *y = dfd_malloc(cap);
    if (!s || !y) {
        st = DFD_ERR_NOMEM;
        goto done;
    }
    // Video level, scored items only; then every item with 0.5 for the unscored.
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].outcome == DFD_EVAL_SCORED) {
            s[k] = items[i].probability;
            y[k++] = (uint8_t)items[i].label;
        }
    }
    st = metrics_of(&e->video, s, y, k, o->threshold, err);
    if (!st) {
        st = auc_roc(&e->video.auc, &e->roc, s, y, k, err);
    }
    if (!st && isfinite(e->video.auc) && o->n_boot >= 10) {
        st = dfd_metrics_auc_ci(&e->auc_lo, &e->auc_hi, s, y, k, o->n_boot, o->level, o->seed, err);
    }
    for (size_t i = 0; !st && i < n; i++) {
        s[i] = items[i].outcome == DFD_EVAL_SCORED ? items[i].probability : 0.5;
        y[i] = (uint8_t)items[i].label;
    }
    if (!st) {
        st = metrics_of(&e->video_all, s, y, n, o->threshold, err);
    }
    // Frame level.
    k = 0;
    for (size_t i = 0; !st && i < n; i++) {
        for (size_t f = 0; items[i].outcome == DFD_EVAL_SCORED && f < items[i].n_frame_probs; f++) {
            s[k] = (double)items[i].frame_probs[f];
            y[k++] = (uint8_t)items[i].label;
        }
    }
    e->n_frames = k;
    if (!st && k > 0) {
        st = dfd_metrics_log_loss(&e->frame_log_loss, s, y, k, err);
    }
    if (!st) {
        st = auc_roc(&e->frame_auc, &e->frame_roc, s, y, k, err);
    }
    if (!st) {
        st = list_methods(e, items, n);
    }
    for (size_t m = 0; !st && m < e->n_methods; m++) {
        st = method_figures(&e->methods[m], items, n, o->threshold, s, y, err);
    }
done:
    dfd_free(s);
    dfd_free(y);
    if (st) {
        if (st == DFD_ERR_NOMEM) {
            dfd_error_set(err, st, "eval: out of memory");
        }
        dfd_eval_free(e);
    }
    return st;
}

// ---- JSON ----

static void add_num(cJSON *o, const char *key, double v)
{
    if (isfinite(v)) {
        cJSON_AddNumberToObject(o, key, v);
    } else {
        cJSON_AddNullToObject(o, key);
    }
}

// Numbers v[0..n) under names[0..n) (NaN as null).
static void add_nums(cJSON *o, const char *const *names, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        add_num(o, names[i], v[i]);
    }
}

static cJSON *metrics_json(const dfd_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    static const char *const names[12] = { "n",   "n_real",   "n_fake",   "threshold",
                                           "auc", "log_loss", "accuracy", "balanced_accuracy",
                                           "tpr", "fpr",      "eer",      "fpr_at_tpr90" };
    const double v[12] = { (double)m->n, (double)m->n_neg, (double)m->n_pos, m->threshold,
                           m->auc,       m->log_loss,      m->accuracy,      m->balanced_accuracy,
                           m->tpr,       m->fpr,           m->eer,           m->fpr_at_tpr90 };
    add_nums(o, names, v, 12);
    cJSON *c = cJSON_AddObjectToObject(o, "confusion");
    static const char *const cells[4] = { "tn", "fp", "fn", "tp" };
    const double cv[4] = { (double)m->confusion[0][0], (double)m->confusion[0][1],
                           (double)m->confusion[1][0], (double)m->confusion[1][1] };
    if (c) {
        add_nums(c, cells, cv, 4);
    }
    return o;
}

static void add_str(cJSON *o, const char *key, const char *s)
{
    if (s) {
        cJSON_AddStringToObject(o, key, s);
    } else {
        cJSON_AddNullToObject(o, key);
    }
}

static void add_info(cJSON *root, const dfd_eval_info *info, const dfd_eval *e)
{
    cJSON *m = cJSON_AddObjectToObject(root, "model");
    if (m) {
        add_str(m, "path", info->model_path);
        add_str(m, "name", info->model_name);
        add_str(m, "version", info->model_version);
    }
    cJSON *d = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; d && i < info->n_data; i++) {
        cJSON_AddItemToArray(d, cJSON_CreateString(info->data[i]));
    }
    if (info->holdout) {
        cJSON *h = cJSON_AddObjectToObject(root, "holdout");
        if (h) {
            add_num(h, "fold", info->holdout_fold);
            add_num(h, "folds", info->holdout_folds);
        }
    } else {
        cJSON_AddNullToObject(root, "holdout");
    }
    add_num(root, "frames", info->frames);
    cJSON_AddBoolToObject(root, "mirrored", info->mirrored);
    add_num(root, "seconds", info->seconds);
    cJSON *c = cJSON_AddObjectToObject(root, "counts");
    if (c) {
        add_num(c, "items", (double)e->n);
        add_num(c, "real", (double)e->n_label[DFD_LABEL_REAL]);
        add_num(c, "fake", (double)e->n_label[DFD_LABEL_FAKE]);
        add_num(c, "scored", (double)e->n_scored);
        add_num(c, "no_face", (double)e->n_no_face);
        add_num(c, "failed", (double)e->n_failed);
    }
}

static void add_items(cJSON *root, const dfd_eval *e, const dfd_eval_item *items, size_t n)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "items");
    for (size_t i = 0; arr && i < n; i++) {
        const dfd_eval_item *it = &items[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            return;
        }
        add_str(o, "file", it->file);
        cJSON_AddStringToObject(o, "label", dfd_label_name(it->label));
        add_num(o, "probability", it->outcome == DFD_EVAL_SCORED ? it->probability : (double)NAN);
        cJSON_AddStringToObject(o, "verdict", dfd_eval_verdict(it, e->threshold));
        add_num(o, "n_faces", (double)it->n_faces);
        add_str(o, "reason", it->reason ? it->reason : "");
        add_str(o, "method", it->method);
        cJSON_AddItemToArray(arr, o);
    }
}

char *dfd_eval_to_json(const dfd_eval *e, const dfd_eval_item *items, size_t n,
                       const dfd_eval_info *info)
{
    static const dfd_eval_info none;
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        return NULL;
    }
    add_info(root, info ? info : &none, e);
    cJSON *v = metrics_json(&e->video);
    if (v) {
        cJSON *ci = cJSON_AddArrayToObject(v, "auc_ci");
        double b[2] = { e->auc_lo, e->auc_hi };
        for (int j = 0; ci && j < 2; j++) {
            cJSON_AddItemToArray(ci,
                                 isfinite(b[j]) ? cJSON_CreateNumber(b[j]) : cJSON_CreateNull());
        }
        cJSON_AddItemToObject(root, "video", v);
    }
    cJSON *va = metrics_json(&e->video_all);
    if (va) {
        cJSON_AddItemToObject(root, "video_all", va);
    }
    cJSON *f = cJSON_AddObjectToObject(root, "frame");
    if (f) {
        add_num(f, "n", (double)e->n_frames);
        add_num(f, "auc", e->frame_auc);
        add_num(f, "log_loss", e->frame_log_loss);
    }
    cJSON *ms = cJSON_AddArrayToObject(root, "methods");
    for (size_t i = 0; ms && i < e->n_methods; i++) {
        const dfd_eval_method *m = &e->methods[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            break;
        }
        static const char *const names[6] = {
            "n", "n_fake", "n_scored", "accuracy", "recall", "auc"
        };
        const double mv[6] = { (double)m->n, (double)m->n_fake, (double)m->n_scored,
                               m->accuracy,  m->recall,         m->auc };
        cJSON_AddStringToObject(o, "method", m->name);
        add_nums(o, names, mv, 6);
        cJSON_AddItemToArray(ms, o);
    }
    add_items(root, e, items, n);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char *out = text ? dfd_strdup(text) : NULL;
    cJSON_free(text);
    return out;
}

// ---- CSV ----

// Bytes a CSV field takes, quoted when it holds a comma, quote or line break.
static size_t csv_field(char *dst, const char *s)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    size_t k = 0;
    if (quote) {
        if (dst) {
            dst[k] = '"';
        }
        k++;
    }
    for (const char *p = s; *p; p++) {
        if (*p == '"') {
            if (dst) {
                dst[k] = '"';
            }
            k++;
        }
        if (dst) {
            dst[k] = *p;
        }
        k++;
    }
    if (quote) {
        if (dst) {
            dst[k] = '"';
        }
        k++;
    }
    return k;
}

char *dfd_eval_csv(const dfd_eval *e, const dfd_eval_item *items, size_t n)
{
    static const char header[] = "file,label,probability,verdict,n_faces,reason\n";
    size_t cap = sizeof header;
    for (size_t i = 0; i < n; i++) {
        cap += csv_field(NULL, items[i].file ? items[i].file : "") +
               csv_field(NULL, items[i].reason ? items[i].reason : "") + 80;
    }
    char *buf = dfd_malloc(cap);
    if (!buf) {
        return NULL;
    }
    size_t len = (size_t)snprintf(buf, cap, "%s", header);
    for (size_t i = 0; i < n; i++) {
        const dfd_eval_item *it = &items[i];
        len += csv_field(buf + len, it->file ? it->file : "");
        len += (size_t)snprintf(buf + len, cap - len, ",%s,", dfd_label_name(it->label));
        if (it->outcome == DFD_EVAL_SCORED) {
            len += (size_t)snprintf(buf + len, cap - len, "%.6f", it->probability);
        }
        len += (size_t)snprintf(buf + len, cap - len, ",%s,%zu,",
                                dfd_eval_verdict(it, e->threshold), it->n_faces);
        len += csv_field(buf + len, it->reason ? it->reason : "");
        buf[len++] = '\n';
    }
    buf[len] = '\0';
    return buf;
}
