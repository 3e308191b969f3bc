// Safetensors read and write (model/safetensors.h): our checkpoint and model format.
//
//   bytes 0..8        N, the header length: unsigned 64-bit little-endian
//   bytes 8..8+N      the header: UTF-8 JSON object, starting with '{', padded with spaces
//                     "__metadata__": {"key": "value", ...}                       (optional)
//                     "<tensor name>": {"dtype": "F32", "shape": [d0, ...],
//                                       "data_offsets": [begin, end]}             (any number)
//   bytes 8+N..       the data area; tensor bytes at [begin, end) of it, little-endian, row-major
//
// The reader trusts nothing: it checks N against the file size, the header's encoding and JSON,
// each entry's fields and that end - begin is exactly numel x dtype size, and that the tensors
// tile the data area (sorted by offset, each starts where the previous ended, the last ends at
// the end of the file), as the reference implementation requires.
#include "dfdetect/model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/size.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#    error "safetensors.c writes host memory as little-endian data"
#endif

#define META_KEY "__metadata__"

// Offsets above 2^53 cannot be JSON numbers read exactly as doubles.
#define MAX_OFFSET ((double)(1ULL << 53))

struct dfd_safetensors {
    char *path;           // for messages
    unsigned char *bytes; // the whole file
    size_t n_bytes;
    cJSON *header;          // parsed header; tensor names and metadata point into it
    dfd_st_tensor *tensors; // sorted by name
    size_t n;
    const cJSON *meta; // the "__metadata__" object, or NULL
};

// ---- dtypes and small helpers ----

static const struct {
    const char *name;
    size_t size;
} DTYPES[DFD_ST_DTYPE_COUNT] = {
    [DFD_ST_BOOL] = { "BOOL", 1 },       [DFD_ST_U8] = { "U8", 1 },
    [DFD_ST_I8] = { "I8", 1 },           [DFD_ST_F8_E5M2] = { "F8_E5M2", 1 },
    [DFD_ST_F8_E4M3] = { "F8_E4M3", 1 }, [DFD_ST_I16] = { "I16", 2 },
    [DFD_ST_U16] = { "U16", 2 },         [DFD_ST_F16] = { "F16", 2 },
    [DFD_ST_BF16] = { "BF16", 2 },       [DFD_ST_I32] = { "I32", 4 },
    [DFD_ST_U32] = { "U32", 4 },         [DFD_ST_F32] = { "F32", 4 },
    [DFD_ST_F64] = { "F64", 8 },         [DFD_ST_I64] = { "I64", 8 },
    [DFD_ST_U64] = { "U64", 8 },
};

size_t dfd_st_dtype_size(dfd_st_dtype dtype)
{
    return (unsigned)dtype < DFD_ST_DTYPE_COUNT ? DTYPES[dtype].size : 0;
}

const char *dfd_st_dtype_name(dfd_st_dtype dtype)
{
    return (unsigned)dtype < DFD_ST_DTYPE_COUNT ? DTYPES[dtype].name : "?";
}

size_t dfd_st_tensor_numel(const dfd_st_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] < 0 || !dfd_size_mul(&n, n, (size_t)t->shape[i])) {
            return SIZE_MAX;
        }
    }
    return n;
}

dfd_status dfd_st_tensors_of_params(dfd_st_tensor *out, dfd_param *const *params, size_t n,
                                    const char *path, dfd_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const dfd_param *p = params[i];
        if (!p || p->rank < 1 || p->rank > DFD_MAX_RANK) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: parameter %zu ('%s') has rank %d", path,
                                 i, p && p->name ? p->name : "(null)", p ? p->rank : 0);
        }
        memset(&out[i], 0, sizeof out[i]);
        out[i].name = p->name;
        out[i].dtype = DFD_ST_F32;
        out[i].rank = p->rank;
        memcpy(out[i].shape, p->shape, (size_t)p->rank * sizeof p->shape[0]);
        out[i].data = p->value;
    }
    return DFD_OK;
}

// Bytes of a tensor, or false when it is beyond the limits (or has a negative dimension).
static bool tensor_bytes(size_t *bytes, const dfd_st_tensor *t)
{
    const size_t numel = dfd_st_tensor_numel(t);
    return numel <= (size_t)DFD_ST_MAX_TENSOR_NUMEL &&
           dfd_size_mul(bytes, numel, dfd_st_dtype_size(t->dtype));
}

// Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF) without NUL bytes,
// which cJSON would take for the end of the text.
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned c = s[i];
        size_t len;
        unsigned cp, min;
        if (c == 0) {
            return false;
        } else if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += len;
    }
    return true;
}

static bool valid_name(const char *s)
{
    return s && valid_utf8((const unsigned char *)s, strlen(s));
}

// Sort n items of `size` bytes with cmp; the first item equal to the one before it, or NULL.
static const void *sort_find_equal(void *items, size_t n, size_t size,
                                   int (*cmp)(const void *, const void *))
{
    qsort(items, n, size, cmp);
    for (size_t i = 1; i < n; i++) {
        const char *at = (const char *)items + i * size;
        if (cmp(at - size, at) == 0) {
            return at;
        }
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// ---- writing ----

// Sort orders of the writer, over arrays of tensor pointers.
static int cmp_tensor_name(const void *a, const void *b)
{
    const dfd_st_tensor *const *ta = a, *const *tb = b;
    return strcmp((*ta)->name, (*tb)->name);
}

// Widest dtype first, then by name: the reference's storage order.
static int cmp_tensor_storage(const void *a, const void *b)
{
    const dfd_st_tensor *const *ta = a, *const *tb = b;
    if ((*ta)->dtype != (*tb)->dtype) {
        return (*ta)->dtype > (*tb)->dtype ? -1 : 1;
    }
    return strcmp((*ta)->name, (*tb)->name);
}

static int cmp_meta_key(const void *a, const void *b)
{
    const dfd_st_meta *const *ma = a, *const *mb = b;
    return strcmp((*ma)->key, (*mb)->key);
}

static dfd_status check_tensor_arg(const dfd_st_tensor *t, const char *path, dfd_error *err)
{
    if (!t->name || !t->name[0] || strcmp(t->name, META_KEY) == 0 || !valid_name(t->name)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: invalid tensor name '%s'", path,
                             t->name ? t->name : "(null)");
    }
    if ((unsigned)t->dtype >= DFD_ST_DTYPE_COUNT || t->rank < 0 || t->rank > DFD_ST_MAX_RANK) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: tensor '%s' has dtype %d, rank %d", path,
                             t->name, (int)t->dtype, t->rank);
    }
    for (int i = 0; i < t->rank; i++) {
        if (t->shape[i] < 0) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: tensor '%s' has dimension %d < 0", path,
                                 t->name, t->shape[i]);
        }
    }
    size_t bytes;
    if (!tensor_bytes(&bytes, t)) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: tensor '%s' has more than %ld elements", path,
                             t->name, DFD_ST_MAX_TENSOR_NUMEL);
    }
    if (bytes && !t->data) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: tensor '%s' has no data", path, t->name);
    }
    return DFD_OK;
}

// Add one tensor's header entry {"dtype", "shape", "data_offsets"} for data at [begin, end).
static bool add_entry(cJSON *root, const dfd_st_tensor *t, size_t begin, size_t end)
{
    cJSON *e = cJSON_AddObjectToObject(root, t->name);
    if (!e || !cJSON_AddStringToObject(e, "dtype", dfd_st_dtype_name(t->dtype))) {
        return false;
    }
    cJSON *shape = cJSON_AddArrayToObject(e, "shape");
    bool ok = shape != NULL;
    for (int i = 0; ok && i < t->rank; i++) {
        ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[i]));
    }
    cJSON *offsets = ok ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
    return offsets && cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)begin)) &&
           cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)end));
}

// The header JSON for tensors in storage order `order`; NULL when out of memory.
static char *header_json(const dfd_st_tensor *const *order, size_t n,
                         const dfd_st_meta *const *meta, size_t n_meta)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, META_KEY);
        ok = m != NULL;
        for (size_t i = 0; ok && i < n_meta; i++) {
            ok = cJSON_AddStringToObject(m, meta[i]->key, meta[i]->value) != NULL;
        }
    }
    size_t at = 0;
    for (size_t i = 0; ok && i < n; i++) {
        size_t bytes = 0;
        tensor_bytes(&bytes, order[i]);
        ok = add_entry(root, order[i], at, at + bytes);
        at += bytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

// Check the arguments and sort them: tensors in storage order, metadata by key.
static dfd_status prepare(const dfd_st_tensor **order, const dfd_st_meta **meta_order,
                          const char *path, const dfd_st_tensor *tensors, size_t n,
                          const dfd_st_meta *meta, size_t n_meta, dfd_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        dfd_status st = check_tensor_arg(&tensors[i], path, err);
        if (st) {
            return st;
        }
        size_t bytes = 0;
        tensor_bytes(&bytes, &tensors[i]);
        if (!dfd_size_add(&total, total, bytes) || total > DFD_ST_MAX_FILE_BYTES) {
            return dfd_error_set(err, DFD_ERR_LIMIT, "%s: more than %zu bytes of tensors", path,
                                 DFD_ST_MAX_FILE_BYTES);
        }
        order[i] = &tensors[i];
    }
    const dfd_st_tensor *const *same = sort_find_equal(order, n, sizeof *order, cmp_tensor_name);
    if (same) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: two tensors named '%s'", path,
                             (*same)->name);
    }
    qsort(order, n, sizeof *order, cmp_tensor_storage);
    for (size_t i = 0; i < n_meta; i++) {
        if (!valid_name(meta[i].key) || !valid_name(meta[i].value)) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: invalid metadata entry %zu", path, i);
        }
        meta_order[i] = &meta[i];
    }
    const dfd_st_meta *const *twice =
        sort_find_equal(meta_order, n_meta, sizeof *meta_order, cmp_meta_key);
    if (twice) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: metadata key '%s' given twice", path,
                             (*twice)->key);
    }
    return DFD_OK;
}

dfd_status dfd_safetensors_write(const char *path, const dfd_st_tensor *tensors, size_t n,
                                 const dfd_st_meta *meta, size_t n_meta, dfd_error *err)
{
    if (!path || (n && !tensors) || (n_meta && !meta)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "safetensors: NULL argument");
    }
    const dfd_st_tensor **order = dfd_malloc((n + 1) * sizeof *order);
    const dfd_st_meta **meta_order = dfd_malloc((n_meta + 1) * sizeof *meta_order);
    char *json = NULL;
    dfd_atomic_file *f = NULL;
    dfd_status st;
    if (!order || !meta_order) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((st = prepare(order, meta_order, path, tensors, n, meta, n_meta, err))) {
        goto done;
    }
    json = header_json(order, n, meta_order, n_meta);
    if (!json) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory for the header", path);
        goto done;
    }
    // Pad with spaces so that the data area starts at a multiple of 8 bytes.
    const size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    unsigned char head[8];
    for (int i = 0; i < 8; i++) {
        head[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    }
    if ((st = dfd_atomic_file_open(&f, path, err))) {
        goto done;
    }
    FILE *s = dfd_atomic_file_stream(f);
    bool ok = fwrite(head, 1, 8, s) == 8 && fwrite(json, 1, len, s) == len &&
              fwrite("       ", 1, padded - len, s) == padded - len;
    for (size_t i = 0; ok && i < n; i++) {
        size_t bytes = 0;
        tensor_bytes(&bytes, order[i]);
        ok = bytes == 0 || fwrite(order[i]->data, 1, bytes, s) == bytes;
    }
    if (!ok) {
        st = dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: write failed", path);
        goto done;
    }
    st = dfd_atomic_file_commit(f, err);
    f = NULL;
done:
    dfd_atomic_file_abort(f);
    cJSON_free(json);
    dfd_free(order);
    dfd_free(meta_order);
    return st;
}

dfd_status dfd_safetensors_save_params(const char *path, dfd_param *const *params, size_t n,
                                       const dfd_st_meta *meta, size_t n_meta, dfd_error *err)
{
    if (!path || (n && !params)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "safetensors: NULL argument");
    }
    dfd_st_tensor *t = dfd_malloc((n + 1) * sizeof *t);
    if (!t) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    dfd_status st = dfd_st_tensors_of_params(t, params, n, path, err);
    if (!st) {
        st = dfd_safetensors_write(path, t, n, meta, n_meta, err);
    }
    dfd_free(t);
    return st;
}

// ---- reading ----

// A JSON number that is an integer in [0, max]; false otherwise.
static bool json_uint(double *out, const cJSON *v, double max)
{
    if (!cJSON_IsNumber(v)) {
        return false;
    }
    const double d = v->valuedouble;
    if (!(d >= 0 && d <= max) || d != (double)(uint64_t)d) {
        return false;
    }
    *out = d;
    return true;
}

static dfd_status entry_error(const dfd_safetensors *st, const char *name, dfd_error *err,
                              const char *what)
{
    return dfd_error_set(err, DFD_ERR_FORMAT, "%s: tensor '%s': %s", st->path, name, what);
}

// Check one tensor entry of the header and fill *t (data offsets in *begin, *end).
static dfd_status parse_entry(dfd_st_tensor *t, size_t *begin, size_t *end,
                              const dfd_safetensors *st, const cJSON *e, size_t data_size,
                              dfd_error *err)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e)) {
        return entry_error(st, name, err, "not an object");
    }
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets)) {
        return entry_error(st, name, err, "needs a dtype string and shape and data_offsets arrays");
    }
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = DFD_ST_DTYPE_COUNT;
    for (int k = 0; k < DFD_ST_DTYPE_COUNT; k++) {
        if (strcmp(dtype->valuestring, DTYPES[k].name) == 0) {
            t->dtype = (dfd_st_dtype)k;
        }
    }
    if (t->dtype == DFD_ST_DTYPE_COUNT) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype '%s'",
                             st->path, name, dtype->valuestring);
    }
    const int rank = cJSON_GetArraySize(shape);
    if (rank > DFD_ST_MAX_RANK) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: tensor '%s': rank %d above %d", st->path,
                             name, rank, DFD_ST_MAX_RANK);
    }
    t->rank = rank;
    const cJSON *v;
    int i = 0;
    cJSON_ArrayForEach(v, shape)
    {
        double d;
        if (!json_uint(&d, v, 2147483647.0)) {
            return entry_error(st, name, err, "shape holds something other than a size");
        }
        t->shape[i++] = (int)d;
    }
    size_t bytes;
    if (!tensor_bytes(&bytes, t)) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: tensor '%s': more than %ld elements",
                             st->path, name, DFD_ST_MAX_TENSOR_NUMEL);
    }
    double b, e2;
    if (cJSON_GetArraySize(offsets) != 2 || !json_uint(&b, offsets->child, MAX_OFFSET) ||
        !json_uint(&e2, offsets->child->next, MAX_OFFSET)) {
        return entry_error(st, name, err, "data_offsets is not two byte offsets");
    }
    if (b > e2 || e2 > (double)data_size) {
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets [%.0f, %.0f] outside the data area "
                             "of %zu bytes",
                             st->path, name, b, e2, data_size);
    }
    *begin = (size_t)b;
    *end = (size_t)e2;
    if (*end - *begin != bytes) {
        char s[160];
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "%s: tensor '%s': %s %s needs %zu bytes but data_offsets hold %zu",
                             st->path, name, DTYPES[t->dtype].name,
                             dfd_shape_str(s, sizeof s, t->rank, t->shape), bytes, *end - *begin);
    }
    return DFD_OK;
}

static dfd_status parse_meta(dfd_safetensors *st, const cJSON *m, dfd_error *err)
{
    if (st->meta) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: two %s objects", st->path, META_KEY);
    }
    if (!cJSON_IsObject(m)) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: %s is not an object", st->path, META_KEY);
    }
    const cJSON *v;
    size_t n = 0;
    cJSON_ArrayForEach(v, m)
    {
        if (!cJSON_IsString(v)) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "%s: %s value of '%s' is not a string",
                                 st->path, META_KEY, v->string);
        }
        n++;
    }
    // A key given twice would mean one thing here and another to a reader keeping the last.
    const char **keys = dfd_malloc((n + 1) * sizeof *keys);
    if (!keys) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", st->path);
    }
    n = 0;
    cJSON_ArrayForEach(v, m)
    {
        keys[n++] = v->string;
    }
    const char *const *twice = sort_find_equal(keys, n, sizeof *keys, cmp_str);
    dfd_status s = DFD_OK;
    if (twice) {
        s = dfd_error_set(err, DFD_ERR_FORMAT, "%s: %s key '%s' given twice", st->path, META_KEY,
                          *twice);
    }
    dfd_free(keys);
    if (!s) {
        st->meta = m;
    }
    return s;
}

// A tensor and its data offsets, for the tiling check.
typedef struct span {
    size_t begin, end;
    const char *name;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin) {
        return x->begin < y->begin ? -1 : 1;
    }
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_st_tensor(const void *a, const void *b)
{
    return strcmp(((const dfd_st_tensor *)a)->name, ((const dfd_st_tensor *)b)->name);
}

// The tensors must cover [0, data_size) exactly once. Sorts `spans`.
static dfd_status check_tiling(const dfd_safetensors *st, span *spans, size_t n, size_t data_size,
                               dfd_error *err)
{
    qsort(spans, n, sizeof *spans, cmp_span);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].begin < at) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", st->path,
                                 spans[i - 1].name, spans[i].name);
        }
        if (spans[i].begin > at) {
            return dfd_error_set(err, DFD_ERR_FORMAT,
                                 "%s: bytes %zu..%zu of the data area belong to no tensor",
                                 st->path, at, spans[i].begin);
        }
        at = spans[i].end;
    }
    if (at != data_size) {
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "%s: %zu bytes after the last tensor (data area of %zu bytes)",
                             st->path, data_size - at, data_size);
    }
    return DFD_OK;
}

// Parse the header JSON (hlen bytes at bytes + 8) into st->header, st->tensors, st->meta.
static dfd_status parse_header(dfd_safetensors *st, size_t hlen, dfd_error *err)
{
    const unsigned char *h = st->bytes + 8;
    if (hlen == 0 || h[0] != '{') {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: header does not start with '{'", st->path);
    }
    if (!valid_utf8(h, hlen)) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: header is not UTF-8 text", st->path);
    }
    // A NUL-terminated copy, so the parser cannot run into the data area.
    char *text = dfd_malloc(hlen + 1);
    if (!text) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory for the header", st->path);
    }
    memcpy(text, h, hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    st->header = cJSON_ParseWithLengthOpts(text, hlen, &end, false);
    const size_t at = end ? (size_t)(end - text) : 0;
    size_t rest = at;
    while (st->header && rest < hlen && strchr(" \t\r\n", text[rest])) {
        rest++;
    }
    dfd_free(text);
    if (!st->header) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: header is not valid JSON (byte %zu of %zu)",
                             st->path, at, hlen);
    }
    if (rest != hlen) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: text after the header JSON at byte %zu",
                             st->path, rest);
    }
    if (!cJSON_IsObject(st->header)) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: header is not a JSON object", st->path);
    }
    return DFD_OK;
}

// Check every entry of the parsed header and build the tensor table.
static dfd_status parse_tensors(dfd_safetensors *st, size_t data_size, dfd_error *err)
{
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, st->header)
    {
        n += strcmp(e->string, META_KEY) != 0;
    }
    if (n > DFD_ST_MAX_TENSORS) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: %zu tensors, above %d", st->path, n,
                             DFD_ST_MAX_TENSORS);
    }
    st->tensors = dfd_calloc(n + 1, sizeof *st->tensors);
    span *spans = dfd_calloc(n + 1, sizeof *spans);
    if (!st->tensors || !spans) {
        dfd_free(spans);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory for %zu tensors", st->path, n);
    }
    dfd_status s = DFD_OK;
    size_t i = 0;
    cJSON_ArrayForEach(e, st->header)
    {
        if (strcmp(e->string, META_KEY) == 0) {
            s = parse_meta(st, e, err);
        } else {
            dfd_st_tensor *t = &st->tensors[i];
            s = parse_entry(t, &spans[i].begin, &spans[i].end, st, e, data_size, err);
            t->data = st->bytes + (st->n_bytes - data_size) + spans[i].begin;
            spans[i++].name = t->name;
        }
        if (s) {
            break;
        }
    }
    st->n = i;
    if (!s) {
        s = check_tiling(st, spans, n, data_size, err);
    }
    dfd_free(spans);
    if (s) {
        return s;
    }
    const dfd_st_tensor *same = sort_find_equal(st->tensors, n, sizeof *st->tensors, cmp_st_tensor);
    if (same) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: two tensors named '%s'", st->path,
                             same->name);
    }
    return DFD_OK;
}

// Validate st->bytes (the whole file) and build the tables.
static dfd_status parse(dfd_safetensors *st, dfd_error *err)
{
    if (st->n_bytes < 8) {
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "%s: truncated: %zu bytes, less than the 8-byte header length",
                             st->path, st->n_bytes);
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) {
        hlen = (hlen << 8) | st->bytes[i];
    }
    if (hlen > st->n_bytes - 8) {
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "%s: truncated or corrupt: header length %llu but %zu bytes follow",
                             st->path, (unsigned long long)hlen, st->n_bytes - 8);
    }
    if (hlen > DFD_ST_MAX_HEADER) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: header of %llu bytes, above %zu", st->path,
                             (unsigned long long)hlen, DFD_ST_MAX_HEADER);
    }
    dfd_status s = parse_header(st, (size_t)hlen, err);
    return s ? s : parse_tensors(st, st->n_bytes - 8 - (size_t)hlen, err);
}

static dfd_status make_handle(dfd_safetensors **out, const char *name, dfd_error *err)
{
    *out = dfd_calloc(1, sizeof **out);
    if (!*out || !((*out)->path = dfd_strdup(name))) {
        dfd_free(*out);
        *out = NULL;
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", name);
    }
    return DFD_OK;
}

// Parse a handle whose bytes are in place; on failure free it.
static dfd_status finish_open(dfd_safetensors **out, dfd_safetensors *st, dfd_error *err)
{
    dfd_status s = parse(st, err);
    if (s) {
        dfd_safetensors_close(st);
        return s;
    }
    *out = st;
    return DFD_OK;
}

dfd_status dfd_safetensors_open(dfd_safetensors **out, const char *path, dfd_error *err)
{
    if (!out || !path) {
        return dfd_error_set(err, DFD_ERR_INVALID, "safetensors: NULL argument");
    }
    *out = NULL;
    dfd_safetensors *st;
    dfd_status s = make_handle(&st, path, err);
    if (s) {
        return s;
    }
    void *data = NULL;
    s = dfd_file_read_all(&data, &st->n_bytes, path, DFD_ST_MAX_FILE_BYTES, err);
    st->bytes = data;
    if (s) {
        dfd_safetensors_close(st);
        return s;
    }
    return finish_open(out, st, err);
}

dfd_status dfd_safetensors_open_buffer(dfd_safetensors **out, const void *data, size_t n_bytes,
                                       const char *name, dfd_error *err)
{
    if (!out || (!data && n_bytes) || !name) {
        return dfd_error_set(err, DFD_ERR_INVALID, "safetensors: NULL argument");
    }
    *out = NULL;
    if (n_bytes > DFD_ST_MAX_FILE_BYTES) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: %zu bytes, above %zu", name, n_bytes,
                             DFD_ST_MAX_FILE_BYTES);
    }
    dfd_safetensors *st;
    dfd_status s = make_handle(&st, name, err);
    if (s) {
        return s;
    }
    st->bytes = dfd_malloc(n_bytes ? n_bytes : 1);
    if (!st->bytes) {
        dfd_safetensors_close(st);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory for %zu bytes", name, n_bytes);
    }
    if (n_bytes) {
        memcpy(st->bytes, data, n_bytes);
    }
    st->n_bytes = n_bytes;
    return finish_open(out, st, err);
}

void dfd_safetensors_close(dfd_safetensors *st)
{
    if (!st) {
        return;
    }
    cJSON_Delete(st->header);
    dfd_free(st->tensors);
    dfd_free(st->bytes);
    dfd_free(st->path);
    dfd_free(st);
}

// ---- queries ----

size_t dfd_safetensors_count(const dfd_safetensors *st)
{
    return st->n;
}

const dfd_st_tensor *dfd_safetensors_tensor(const dfd_safetensors *st, size_t i)
{
    return i < st->n ? &st->tensors[i] : NULL;
}

const dfd_st_tensor *dfd_safetensors_find(const dfd_safetensors *st, const char *name)
{
    dfd_st_tensor key;
    key.name = name;
    return bsearch(&key, st->tensors, st->n, sizeof *st->tensors, cmp_st_tensor);
}

const char *dfd_safetensors_meta(const dfd_safetensors *st, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->meta, key);
    return v ? v->valuestring : NULL;
}

size_t dfd_safetensors_meta_count(const dfd_safetensors *st)
{
    return st->meta ? (size_t)cJSON_GetArraySize(st->meta) : 0;
}

bool dfd_safetensors_meta_at(const dfd_safetensors *st, size_t i, const char **key,
                             const char **value)
{
    const cJSON *v =
        i < dfd_safetensors_meta_count(st) ? cJSON_GetArrayItem(st->meta, (int)i) : NULL;
    if (!v) {
        return false;
    }
    *key = v->string;
    *value = v->valuestring;
    return true;
}

const char *dfd_safetensors_path(const dfd_safetensors *st)
{
    return st->path;
}

// ---- loading into parameters ----

dfd_status dfd_safetensors_expect(const dfd_st_tensor **out, const dfd_safetensors *st,
                                  const char *name, dfd_st_dtype dtype, int rank, const int *shape,
                                  dfd_error *err)
{
    *out = NULL;
    const dfd_st_tensor *t = dfd_safetensors_find(st, name);
    if (!t) {
        return dfd_error_set(err, DFD_ERR_NOT_FOUND, "%s: no tensor '%s'", st->path, name);
    }
    if (t->dtype != dtype) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: tensor '%s' is %s, expected %s", st->path,
                             name, dfd_st_dtype_name(t->dtype), dfd_st_dtype_name(dtype));
    }
    bool same = t->rank == rank;
    for (int i = 0; same && i < rank; i++) {
        same = t->shape[i] == shape[i];
    }
    if (!same) {
        char a[160], b[160];
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s",
                             st->path, name, dfd_shape_str(a, sizeof a, t->rank, t->shape),
                             dfd_shape_str(b, sizeof b, rank, shape));
    }
    *out = t;
    return DFD_OK;
}

dfd_status dfd_safetensors_load_params(const dfd_safetensors *st, dfd_param *const *params,
                                       size_t n, dfd_error *err)
{
    if (!st || (n && !params)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "safetensors: NULL argument");
    }
    // Check everything first, so that a failure leaves the parameters untouched.
    for (size_t i = 0; i < n; i++) {
        const dfd_param *p = params[i];
        if (!p || !p->name || !p->value || p->rank < 1 || p->rank > DFD_MAX_RANK) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: parameter %zu is not loadable",
                                 st->path, i);
        }
        const dfd_st_tensor *t;
        dfd_status s = dfd_safetensors_expect(&t, st, p->name, DFD_ST_F32, p->rank, p->shape, err);
        if (s) {
            return s;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const dfd_st_tensor *t = dfd_safetensors_find(st, params[i]->name);
        memcpy(params[i]->value, t->data, dfd_param_numel(params[i]) * sizeof(float));
    }
    return DFD_OK;
}
