// Training checkpoints (model/checkpoint.h): parameters and optimiser state as the tensors of one
// safetensors file, the settings as JSON objects in its metadata. The optimiser's counters are
// I64 scalars, its moments F32 arrays shaped like their parameters; its options are one JSON
// object whose numbers are the float options printed exactly (cJSON prints the shortest text
// that reads back as the same double, and a float widened to double narrows back to itself).
#include "dfdetect/model/checkpoint.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"

// The settings keys whose values must be JSON objects.
static const char *const SETTINGS[] = { DFD_CKPT_ARCHITECTURE, DFD_CKPT_PREPROCESSING,
                                        DFD_CKPT_TRAINING };

static const char *const KIND_NAMES[DFD_OPTIM_KIND_COUNT] = { "sgd", "adam", "adamw" };
static const char *const LR_NAMES[DFD_LR_KIND_COUNT] = { "constant", "step", "cosine" };

// ---- optimiser options as JSON ----

static bool add_floats(cJSON *o, const char *key, const float *v, int n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; a && i < n; i++) {
        if (!cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]))) {
            return false;
        }
    }
    return a != NULL;
}

// The options as compact JSON text (cJSON_free it), or NULL when out of memory.
static char *opts_to_json(const dfd_optim_opts *o)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *s = root ? cJSON_AddObjectToObject(root, "schedule") : NULL;
    const dfd_lr_schedule *l = &o->schedule;
    bool ok = s && cJSON_AddStringToObject(root, "kind", KIND_NAMES[o->kind]) &&
              cJSON_AddNumberToObject(root, "lr", (double)o->lr) &&
              cJSON_AddNumberToObject(root, "momentum", (double)o->momentum) &&
              cJSON_AddBoolToObject(root, "nesterov", o->nesterov) &&
              cJSON_AddNumberToObject(root, "beta1", (double)o->beta1) &&
              cJSON_AddNumberToObject(root, "beta2", (double)o->beta2) &&
              cJSON_AddNumberToObject(root, "eps", (double)o->eps) &&
              cJSON_AddNumberToObject(root, "weight_decay", (double)o->weight_decay) &&
              cJSON_AddNumberToObject(root, "clip_norm", (double)o->clip_norm) &&
              add_floats(root, "group_lr_scale", o->group_lr_scale, DFD_OPTIM_MAX_GROUPS) &&
              add_floats(root, "group_wd_scale", o->group_wd_scale, DFD_OPTIM_MAX_GROUPS) &&
              cJSON_AddStringToObject(s, "kind", LR_NAMES[l->kind]) &&
              cJSON_AddNumberToObject(s, "warmup_steps", (double)l->warmup_steps) &&
              cJSON_AddNumberToObject(s, "step_size", (double)l->step_size) &&
              cJSON_AddNumberToObject(s, "gamma", (double)l->gamma) &&
              cJSON_AddNumberToObject(s, "decay_steps", (double)l->decay_steps) &&
              cJSON_AddNumberToObject(s, "min_factor", (double)l->min_factor);
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

// Reading: each key of the object is looked up in a table of fields; a field is a float, a
// count (long), a bool, a name out of a list, or an array of floats.
typedef enum field_kind {
    F_FLOAT,
    F_LONG,
    F_BOOL,
    F_NAME,
    F_FLOATS
} field_kind;

typedef struct field {
    const char *key;
    field_kind kind;
    void *dst;
    const char *const *names; // F_NAME: the choices, their index stored as int
    int n;                    // F_NAME: choices; F_FLOATS: at most this many numbers
} field;

static bool read_float(float *out, const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= (double)FLT_MAX)) {
        return false;
    }
    *out = (float)v->valuedouble;
    return true;
}

static bool read_field(const field *f, const cJSON *v)
{
    switch (f->kind) {
    case F_FLOAT:
        return read_float(f->dst, v);
    case F_LONG: // a whole number in [0, 2^53]
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0) ||
            v->valuedouble != floor(v->valuedouble)) {
            return false;
        }
        *(long *)f->dst = (long)v->valuedouble;
        return true;
    case F_BOOL:
        if (!cJSON_IsBool(v)) {
            return false;
        }
        *(bool *)f->dst = cJSON_IsTrue(v);
        return true;
    case F_NAME:
        for (int i = 0; cJSON_IsString(v) && i < f->n; i++) {
            if (strcmp(v->valuestring, f->names[i]) == 0) {
                *(int *)f->dst = i;
                return true;
            }
        }
        return false;
    case F_FLOATS: {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > f->n) {
            return false;
        }
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (!read_float((float *)f->dst + i++, e)) {
                return false;
            }
        }
        return true;
    }
    }
    return false;
}

static dfd_status opts_error(dfd_error *err, const char *path, const char *what, const char *key)
{
    return dfd_error_set(err, DFD_ERR_FORMAT, "%s: metadata '%s': %s '%s'", path,
                         DFD_CKPT_OPTIMISER, what, key);
}

// Read every key of object `o` through the n fields.
static dfd_status read_fields(const field *fields, int n, const cJSON *o, const char *path,
                              dfd_error *err)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, o)
    {
        int i = 0;
        while (i < n && strcmp(fields[i].key, v->string) != 0) {
            i++;
        }
        if (i == n) {
            return opts_error(err, path, "unknown key", v->string);
        }
        if (!read_field(&fields[i], v)) {
            return opts_error(err, path, "bad value for", v->string);
        }
    }
    return DFD_OK;
}

// Read the keys of `root` (and of its "schedule" object) into o, which holds the defaults of
// o->kind; the kind itself is read again and must not change.
static dfd_status read_opts(dfd_optim_opts *o, cJSON *root, const char *path, dfd_error *err)
{
    int kind = (int)o->kind, lr_kind = (int)o->schedule.kind;
    const field top[] = {
        { "kind", F_NAME, &kind, KIND_NAMES, DFD_OPTIM_KIND_COUNT },
        { "lr", F_FLOAT, &o->lr, NULL, 0 },
        { "momentum", F_FLOAT, &o->momentum, NULL, 0 },
        { "nesterov", F_BOOL, &o->nesterov, NULL, 0 },
        { "beta1", F_FLOAT, &o->beta1, NULL, 0 },
        { "beta2", F_FLOAT, &o->beta2, NULL, 0 },
        { "eps", F_FLOAT, &o->eps, NULL, 0 },
        { "weight_decay", F_FLOAT, &o->weight_decay, NULL, 0 },
        { "clip_norm", F_FLOAT, &o->clip_norm, NULL, 0 },
        { "group_lr_scale", F_FLOATS, o->group_lr_scale, NULL, DFD_OPTIM_MAX_GROUPS },
        { "group_wd_scale", F_FLOATS, o->group_wd_scale, NULL, DFD_OPTIM_MAX_GROUPS },
    };
    const field sched[] = {
        { "kind", F_NAME, &lr_kind, LR_NAMES, DFD_LR_KIND_COUNT },
        { "warmup_steps", F_LONG, &o->schedule.warmup_steps, NULL, 0 },
        { "step_size", F_LONG, &o->schedule.step_size, NULL, 0 },
        { "gamma", F_FLOAT, &o->schedule.gamma, NULL, 0 },
        { "decay_steps", F_LONG, &o->schedule.decay_steps, NULL, 0 },
        { "min_factor", F_FLOAT, &o->schedule.min_factor, NULL, 0 },
    };
    cJSON *s = cJSON_DetachItemFromObjectCaseSensitive(root, "schedule");
    dfd_status st = DFD_OK;
    if (s && !cJSON_IsObject(s)) {
        st = opts_error(err, path, "bad value for", "schedule");
    } else if (!(st = read_fields(top, (int)(sizeof top / sizeof top[0]), root, path, err)) && s) {
        st = read_fields(sched, (int)(sizeof sched / sizeof sched[0]), s, path, err);
    }
    cJSON_Delete(s);
    o->schedule.kind = (dfd_lr_kind)lr_kind;
    return st;
}

// Options from their JSON text: the defaults of their "kind" (which must be there), then every
// other key; the result is checked as dfd_optim_create would.
static dfd_status opts_from_json(dfd_optim_opts *out, const char *text, const char *path,
                                 dfd_error *err)
{
    cJSON *root = cJSON_Parse(text);
    int kind = -1;
    const field kind_field = { "kind", F_NAME, &kind, KIND_NAMES, DFD_OPTIM_KIND_COUNT };
    dfd_status st = DFD_OK;
    if (!cJSON_IsObject(root)) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: metadata '%s' is not a JSON object", path,
                           DFD_CKPT_OPTIMISER);
    } else if (!read_field(&kind_field, cJSON_GetObjectItemCaseSensitive(root, "kind"))) {
        st = opts_error(err, path, "missing or unknown", "kind");
    }
    dfd_optim_opts o;
    if (!st) {
        o = dfd_optim_opts_default((dfd_optim_kind)kind);
        st = read_opts(&o, root, path, err);
    }
    cJSON_Delete(root);
    dfd_error why;
    if (!st && dfd_optim_opts_check(&o, &why)) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: metadata '%s': %s", path, DFD_CKPT_OPTIMISER,
                           why.msg);
    }
    if (!st) {
        *out = o;
    }
    return st;
}

// ---- checksum ----

// CRC-32 of the IEEE polynomial (reflected, as zlib and PNG), eight bytes per round with eight
// tables ("slicing by 8": 1.9 GB/s here, against 1.2 GB/s for four tables and 5 GB/s for
// zlib's crc32, which the model module does not link); the tables cost 2048 shifts, so they are
// built per call.
typedef struct crc32_tables {
    uint32_t t[8][256];
} crc32_tables;

static void crc32_init(crc32_tables *c)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t v = i;
        for (int k = 0; k < 8; k++) {
            v = (v & 1) ? 0xedb88320u ^ (v >> 1) : v >> 1;
        }
        c->t[0][i] = v;
    }
    for (int i = 0; i < 256; i++) {
        for (int s = 1; s < 8; s++) {
            c->t[s][i] = (c->t[s - 1][i] >> 8) ^ c->t[0][c->t[s - 1][i] & 0xff];
        }
    }
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// The CRC of the bytes so far (`crc`, 0 for none) extended by n more bytes.
static uint32_t crc32_update(const crc32_tables *c, uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (; n >= 8; p += 8, n -= 8) {
        const uint32_t a = crc ^ load_le32(p), b = load_le32(p + 4);
        crc = c->t[7][a & 0xff] ^ c->t[6][(a >> 8) & 0xff] ^ c->t[5][(a >> 16) & 0xff] ^
              c->t[4][a >> 24] ^ c->t[3][b & 0xff] ^ c->t[2][(b >> 8) & 0xff] ^
              c->t[1][(b >> 16) & 0xff] ^ c->t[0][b >> 24];
    }
    for (; n; p++, n--) {
        crc = c->t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

static size_t tensor_size(const dfd_st_tensor *t)
{
    return dfd_st_tensor_numel(t) * dfd_st_dtype_size(t->dtype);
}

// The checksum of n tensors given in name order.
static uint32_t tensors_crc(const dfd_st_tensor *const *t, size_t n)
{
    crc32_tables c;
    crc32_init(&c);
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t bytes = tensor_size(t[i]);
        crc = bytes ? crc32_update(&c, crc, t[i]->data, bytes) : crc;
    }
    return crc;
}

static int cmp_tensor_ptr_name(const void *a, const void *b)
{
    const dfd_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

// The checksum text ("crc32:89abcdef") of the n tensors the writer is given, into buf, sorting
// their pointers in `order` (room for n). False when a tensor has no name, an impossible size or
// no data: the writer refuses those anyway, with a better message.
static bool checksum_of_args(char *buf, size_t n_buf, const dfd_st_tensor **order,
                             const dfd_st_tensor *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const size_t numel = dfd_st_tensor_numel(&t[i]);
        if (!t[i].name || numel > (size_t)DFD_ST_MAX_TENSOR_NUMEL ||
            !dfd_st_dtype_size(t[i].dtype) || (numel && !t[i].data)) {
            return false;
        }
        order[i] = &t[i];
    }
    if (n) {
        qsort(order, n, sizeof *order, cmp_tensor_ptr_name);
    }
    snprintf(buf, n_buf, "crc32:%08x", (unsigned)tensors_crc(order, n));
    return true;
}

// Check the "checksum" entry of an open file, if it has one.
static dfd_status check_checksum(const dfd_safetensors *st, dfd_error *err)
{
    const char *path = dfd_safetensors_path(st),
               *want = dfd_safetensors_meta(st, DFD_CKPT_CHECKSUM);
    if (!want) {
        return DFD_OK;
    }
    // Exactly "crc32:" and 8 lowercase hex digits.
    uint32_t v = 0;
    bool ok = strlen(want) == 14 && strncmp(want, "crc32:", 6) == 0;
    for (int i = 6; ok && i < 14; i++) {
        const char *digit = strchr("0123456789abcdef", want[i]);
        ok = digit != NULL;
        v = v << 4 | (uint32_t)(ok ? digit - "0123456789abcdef" : 0);
    }
    if (!ok) {
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "%s: metadata '%s' is not \"crc32:<8 hex digits>\"", path,
                             DFD_CKPT_CHECKSUM);
    }
    const size_t n = dfd_safetensors_count(st);
    const dfd_st_tensor **order = dfd_malloc((n + 1) * sizeof *order);
    if (!order) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = dfd_safetensors_tensor(st, i); // already in name order
    }
    const uint32_t got = tensors_crc(order, n);
    dfd_free(order);
    if (got != v) {
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "%s: corrupt tensor data: checksum crc32:%08x, the file says %s", path,
                             (unsigned)got, want);
    }
    return DFD_OK;
}

// ---- metadata ----

static bool is_json_object(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    const bool ok = cJSON_IsObject(v);
    cJSON_Delete(v);
    return ok;
}

static bool is_setting(const char *key)
{
    for (size_t i = 0; i < sizeof SETTINGS / sizeof SETTINGS[0]; i++) {
        if (strcmp(key, SETTINGS[i]) == 0) {
            return true;
        }
    }
    return false;
}

// The caller's metadata: no reserved key, settings that are JSON objects.
static dfd_status check_meta_args(const dfd_st_meta *meta, size_t n_meta, const char *path,
                                  dfd_error *err)
{
    for (size_t i = 0; i < n_meta; i++) {
        const char *k = meta[i].key, *v = meta[i].value;
        if (!k || !v) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: invalid metadata entry %zu", path, i);
        }
        if (strcmp(k, DFD_CKPT_VERSION_KEY) == 0 || strcmp(k, DFD_CKPT_OPTIMISER) == 0 ||
            strcmp(k, DFD_CKPT_CHECKSUM) == 0) {
            return dfd_error_set(err, DFD_ERR_INVALID,
                                 "%s: metadata key '%s' is written by the checkpoint itself", path,
                                 k);
        }
        if (is_setting(k) && !is_json_object(v)) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: metadata '%s' is not a JSON object",
                                 path, k);
        }
    }
    return DFD_OK;
}

// ---- saving ----

// The safetensors view of one state array of the optimiser.
static dfd_st_tensor state_tensor(const dfd_optim_state *s)
{
    dfd_st_tensor t;
    memset(&t, 0, sizeof t);
    t.name = s->name;
    t.dtype = s->is_int64 ? DFD_ST_I64 : DFD_ST_F32;
    t.rank = s->rank;
    memcpy(t.shape, s->shape, sizeof s->shape);
    t.data = s->data;
    return t;
}

dfd_status dfd_checkpoint_save(const char *path, dfd_param *const *params, size_t n,
                               const dfd_optim *optim, const dfd_st_meta *meta, size_t n_meta,
                               dfd_error *err)
{
    if (!path || (n && !params) || (n_meta && !meta)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "checkpoint: NULL argument");
    }
    dfd_status st = check_meta_args(meta, n_meta, path, err);
    if (st) {
        return st;
    }
    const size_t n_state = optim ? dfd_optim_state_count(optim) : 0;
    dfd_st_tensor *t = dfd_malloc((n + n_state + 1) * sizeof *t);
    dfd_st_meta *m = dfd_malloc((n_meta + 3) * sizeof *m);
    const dfd_st_tensor **order = dfd_malloc((n + n_state + 1) * sizeof *order);
    char *opts = optim ? opts_to_json(dfd_optim_options(optim)) : NULL;
    if (!t || !m || !order || (optim && !opts)) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (n_meta) {
        memcpy(m, meta, n_meta * sizeof *m);
    }
    size_t n_m = n_meta;
    m[n_m++] = (dfd_st_meta){ DFD_CKPT_VERSION_KEY, DFD_CKPT_VERSION };
    if (optim) {
        m[n_m++] = (dfd_st_meta){ DFD_CKPT_OPTIMISER, opts };
    }
    if ((st = dfd_st_tensors_of_params(t, params, n, path, err))) {
        goto done;
    }
    for (size_t i = 0; i < n_state; i++) {
        const dfd_optim_state s = dfd_optim_state_at(optim, i);
        t[n + i] = state_tensor(&s);
    }
    char crc[32];
    if (checksum_of_args(crc, sizeof crc, order, t, n + n_state)) {
        m[n_m++] = (dfd_st_meta){ DFD_CKPT_CHECKSUM, crc };
    }
    st = dfd_safetensors_write(path, t, n + n_state, m, n_m, err);
done:
    cJSON_free(opts);
    dfd_free(order);
    dfd_free(m);
    dfd_free(t);
    return st;
}

// ---- loading ----

dfd_status dfd_checkpoint_optim_opts(dfd_optim_opts *out, const dfd_safetensors *st, dfd_error *err)
{
    if (!out || !st) {
        return dfd_error_set(err, DFD_ERR_INVALID, "checkpoint: NULL argument");
    }
    const char *text = dfd_safetensors_meta(st, DFD_CKPT_OPTIMISER);
    if (!text) {
        return dfd_error_set(err, DFD_ERR_NOT_FOUND,
                             "%s: no optimiser was saved (no '%s' metadata)",
                             dfd_safetensors_path(st), DFD_CKPT_OPTIMISER);
    }
    return opts_from_json(out, text, dfd_safetensors_path(st), err);
}

dfd_status dfd_checkpoint_check(const dfd_safetensors *st, dfd_error *err)
{
    if (!st) {
        return dfd_error_set(err, DFD_ERR_INVALID, "checkpoint: NULL argument");
    }
    const char *path = dfd_safetensors_path(st);
    const char *version = dfd_safetensors_meta(st, DFD_CKPT_VERSION_KEY);
    if (version && strcmp(version, DFD_CKPT_VERSION) != 0) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED,
                             "%s: checkpoint layout version '%s'; this build reads version %s",
                             path, version, DFD_CKPT_VERSION);
    }
    for (size_t i = 0; i < sizeof SETTINGS / sizeof SETTINGS[0]; i++) {
        const char *v = dfd_safetensors_meta(st, SETTINGS[i]);
        if (v && !is_json_object(v)) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "%s: metadata '%s' is not a JSON object",
                                 path, SETTINGS[i]);
        }
    }
    dfd_status s = check_checksum(st, err);
    if (s || !dfd_safetensors_meta(st, DFD_CKPT_OPTIMISER)) {
        return s;
    }
    dfd_optim_opts o;
    return dfd_checkpoint_optim_opts(&o, st, err);
}

dfd_status dfd_checkpoint_open(dfd_safetensors **out, const char *path, dfd_error *err)
{
    if (!out) {
        return dfd_error_set(err, DFD_ERR_INVALID, "checkpoint: NULL argument");
    }
    dfd_status s = dfd_safetensors_open(out, path, err);
    if (!s && (s = dfd_checkpoint_check(*out, err))) {
        dfd_safetensors_close(*out);
        *out = NULL;
    }
    return s;
}

// Check every state array of `optim` against the file (all before any is copied), and that
// the file's optimiser, when it says which it was, is of the same kind (Adam and AdamW keep the
// same arrays).
static dfd_status check_state(const dfd_safetensors *st, const dfd_optim *optim, dfd_error *err)
{
    const char *path = dfd_safetensors_path(st);
    if (dfd_safetensors_meta(st, DFD_CKPT_OPTIMISER)) {
        dfd_optim_opts saved;
        dfd_status e = dfd_checkpoint_optim_opts(&saved, st, err);
        if (e) {
            return e;
        }
        const dfd_optim_kind kind = dfd_optim_options(optim)->kind;
        if (saved.kind != kind) {
            return dfd_error_set(err, DFD_ERR_FORMAT,
                                 "%s: optimiser state saved by %s cannot be loaded into %s", path,
                                 KIND_NAMES[saved.kind], KIND_NAMES[kind]);
        }
    }
    for (size_t i = 0; i < dfd_optim_state_count(optim); i++) {
        const dfd_optim_state s = dfd_optim_state_at(optim, i);
        const dfd_st_tensor *t;
        dfd_status e = dfd_safetensors_expect(&t, st, s.name, s.is_int64 ? DFD_ST_I64 : DFD_ST_F32,
                                              s.rank, s.shape, err);
        if (e) {
            return e;
        }
        int64_t step = 0;
        if (s.is_int64) {
            memcpy(&step, t->data, sizeof step);
        }
        // Counters far from overflowing when incremented (a real run never nears 2^62).
        if (step < 0 || step > INT64_MAX / 2) {
            return dfd_error_set(err, DFD_ERR_FORMAT,
                                 "%s: tensor '%s' is %lld, not a step count (0..2^62)", path,
                                 s.name, (long long)step);
        }
    }
    return DFD_OK;
}

dfd_status dfd_checkpoint_load(const dfd_safetensors *st, dfd_param *const *params, size_t n,
                               dfd_optim *optim, dfd_error *err)
{
    if (!st || (n && !params)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "checkpoint: NULL argument");
    }
    dfd_status s = optim ? check_state(st, optim, err) : DFD_OK;
    if (s || (s = dfd_safetensors_load_params(st, params, n, err))) {
        return s;
    }
    for (size_t i = 0; optim && i < dfd_optim_state_count(optim); i++) {
        const dfd_optim_state o = dfd_optim_state_at(optim, i);
        const dfd_st_tensor *t = dfd_safetensors_find(st, o.name);
        memcpy(o.data, t->data, dfd_st_tensor_numel(t) * dfd_st_dtype_size(t->dtype));
    }
    return DFD_OK;
}

dfd_status dfd_checkpoint_resume(dfd_optim **out, const dfd_safetensors *st,
                                 dfd_param *const *params, size_t n, dfd_error *err)
{
    if (!out || !st || (n && !params)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "checkpoint: NULL argument");
    }
    *out = NULL;
    dfd_optim_opts o;
    dfd_optim *optim = NULL;
    dfd_status s = dfd_checkpoint_optim_opts(&o, st, err);
    if (s || (s = dfd_optim_create(&optim, params, n, &o, err)) ||
        (s = dfd_checkpoint_load(st, params, n, optim, err))) {
        dfd_optim_destroy(optim);
        return s;
    }
    *out = optim;
    return DFD_OK;
}
