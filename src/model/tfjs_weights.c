// TF.js weights: the manifest lists, group by group, each weight's name, shape, logical dtype and
// optional quantization; the bytes are the group's shard files concatenated, entries back to back
// in manifest order with no padding (see ../shared/MODELS.md §1.1). Stored encodings:
//   float32 / int32          4 bytes little-endian
//   quantization float16     2 bytes IEEE half (the manifest still says dtype float32)
//   quantization uint8/16    q, decoded as q * scale + min (ints rounded)
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/size.h"
#include "model_internal.h"

#define MAX_WEIGHT_BYTES ((size_t)1 << 30)

float tfjs_half_to_float(uint16_t h)
{
    // Exact, by moving the fields (a model's millions of weights: ldexpf was most of loading).
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        const float v = (float)mant * 0x1p-24f; // subnormal or zero: exact
        return sign ? -v : v;
    }
    const uint32_t bits = sign | (exp == 31 ? 0xffu : exp + 112) << 23 | mant << 13;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

bool tfjs_base64_decode(char *out, size_t n, const char *in)
{
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = in; *p && *p != '='; p++) {
        int v;
        char c = *p;
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '+' || c == '-') {
            v = 62;
        } else if (c == '/' || c == '_') {
            v = 63;
        } else {
            return false;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k + 1 >= n) {
                return false;
            }
            out[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (n == 0) {
        return false;
    }
    out[k] = '\0';
    return true;
}

void tfjs_weights_free(tfjs_weights *w)
{
    for (size_t i = 0; i < w->n; i++) {
        dfd_tensor_free(&w->items[i].value);
    }
    dfd_free(w->items);
    w->items = NULL;
    w->n = 0;
}

const tfjs_weight *tfjs_weights_find(const tfjs_weights *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++) {
        if (strcmp(w->items[i].name, name) == 0) {
            return &w->items[i];
        }
    }
    return NULL;
}

// Shape of a manifest entry; a scalar (empty shape) becomes [1]. False when invalid.
static bool entry_shape(const cJSON *shape, int *rank, int dims[DFD_MAX_RANK], size_t *numel)
{
    int r = cJSON_GetArraySize(shape);
    if (!cJSON_IsArray(shape) || r > DFD_MAX_RANK) {
        return false;
    }
    *numel = 1;
    for (int i = 0; i < r; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > 1e9) {
            return false;
        }
        dims[i] = (int)d->valuedouble;
        if (!dfd_size_mul(numel, *numel, (size_t)dims[i]) || *numel > DFD_TENSOR_MAX_NUMEL) {
            return false;
        }
    }
    if (r == 0) {
        dims[0] = 1;
        r = 1;
    }
    *rank = r;
    return true;
}

// Concatenate the shard files of one manifest group.
static dfd_status read_group(unsigned char **buf, size_t *n, const cJSON *paths, const char *dir,
                             dfd_error *err)
{
    *buf = NULL;
    *n = 0;
    if (!cJSON_IsArray(paths) || cJSON_GetArraySize(paths) < 1) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: weights group without files", dir);
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, paths)
    {
        if (!cJSON_IsString(p) || strchr(p->valuestring, '/') || strstr(p->valuestring, "..")) {
            dfd_free(*buf);
            *buf = NULL;
            return dfd_error_set(err, DFD_ERR_FORMAT, "%s: bad weights file name", dir);
        }
        char path[4096];
        int len_path = snprintf(path, sizeof path, "%s/%s", dir, p->valuestring);
        if (len_path < 0 || (size_t)len_path >= sizeof path) {
            dfd_free(*buf);
            *buf = NULL;
            return dfd_error_set(err, DFD_ERR_LIMIT, "%s: weights path too long", dir);
        }
        void *data;
        size_t len;
        dfd_status st = dfd_file_read_all(&data, &len, path, MAX_WEIGHT_BYTES, err);
        if (st) {
            dfd_free(*buf);
            *buf = NULL;
            return st;
        }
        if (!*buf) { // the first shard (usually the only one): kept as read
            *buf = data;
            *n = len;
            continue;
        }
        unsigned char *nb = len ? dfd_realloc(*buf, *n + len) : *buf;
        if (len && !nb) {
            dfd_free(data);
            dfd_free(*buf);
            *buf = NULL;
            return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
        }
        if (len) {
            memcpy(nb + *n, data, len);
        }
        *buf = nb;
        *n += len;
        dfd_free(data);
    }
    return DFD_OK;
}

// Decode one entry from bytes[*pos...]; advances *pos.
static dfd_status decode_entry(tfjs_weight *out, const cJSON *e, const unsigned char *bytes,
                               size_t n_bytes, size_t *pos, const char *what, dfd_error *err)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "quantization");
    int rank, dims[DFD_MAX_RANK];
    size_t numel;
    if (!cJSON_IsString(name) || !cJSON_IsString(dtype) ||
        !entry_shape(cJSON_GetObjectItemCaseSensitive(e, "shape"), &rank, dims, &numel)) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: malformed weights manifest entry", what);
    }
    out->name = name->valuestring;
    const char *dt = dtype->valuestring;
    out->is_int = strcmp(dt, "int32") == 0;
    if (!out->is_int && strcmp(dt, "float32") != 0) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: weight '%s' has unsupported dtype %s",
                             what, out->name, dt);
    }
    const char *qd = NULL;
    double scale = 1, minv = 0;
    if (q) {
        const cJSON *qdt = cJSON_GetObjectItemCaseSensitive(q, "dtype");
        if (!cJSON_IsString(qdt)) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "%s: weight '%s': bad quantization", what,
                                 out->name);
        }
        qd = qdt->valuestring;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(q, "scale");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(q, "min");
        if (strcmp(qd, "float16") != 0) {
            if (!cJSON_IsNumber(s) || !cJSON_IsNumber(m)) {
                return dfd_error_set(err, DFD_ERR_FORMAT,
                                     "%s: weight '%s': quantization without "
                                     "scale/min",
                                     what, out->name);
            }
            scale = s->valuedouble;
            minv = m->valuedouble;
        }
    }
    size_t elem = 4;
    if (qd) {
        if (strcmp(qd, "float16") == 0 || strcmp(qd, "uint16") == 0) {
            elem = 2;
        } else if (strcmp(qd, "uint8") == 0) {
            elem = 1;
        } else {
            return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: weight '%s': quantization %s", what,
                                 out->name, qd);
        }
    }
    size_t len;
    if (!dfd_size_mul(&len, numel, elem) || len > n_bytes - *pos) {
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "%s: truncated weights: '%s' needs %zu bytes at offset %zu of %zu",
                             what, out->name, numel * elem, *pos, n_bytes);
    }
    dfd_status st = dfd_tensor_alloc_uninit(&out->value, rank, dims); // every element set below
    if (st) {
        return dfd_error_set(err, st, "%s: weight '%s': %s", what, out->name, dfd_status_str(st));
    }
    const unsigned char *p = bytes + *pos;
    float *v = out->value.data;
    const bool half = qd && strcmp(qd, "float16") == 0;
    for (size_t i = 0; i < numel; i++) {
        const unsigned char *b = p + i * elem;
        if (!qd) {
            uint32_t u =
                (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            if (out->is_int) {
                v[i] = (float)(int32_t)u;
            } else {
                memcpy(&v[i], &u, 4);
            }
        } else if (half) {
            v[i] = tfjs_half_to_float((uint16_t)(b[0] | b[1] << 8));
        } else {
            unsigned qv = elem == 1 ? b[0] : (unsigned)(b[0] | b[1] << 8);
            double d = qv * scale + minv;
            v[i] = (float)(out->is_int ? round(d) : d);
        }
    }
    *pos += len;
    return DFD_OK;
}

dfd_status tfjs_weights_load(tfjs_weights *w, const cJSON *manifest, const char *json_path,
                             dfd_error *err)
{
    memset(w, 0, sizeof *w);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", json_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    if (!cJSON_IsArray(manifest)) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: no weightsManifest", json_path);
    }
    size_t total = 0;
    const cJSON *group;
    cJSON_ArrayForEach(group, manifest)
    {
        total += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(group, "weights"));
    }
    w->items = dfd_calloc(total ? total : 1, sizeof *w->items);
    if (!w->items) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", json_path);
    }
    dfd_status st = DFD_OK;
    cJSON_ArrayForEach(group, manifest)
    {
        unsigned char *bytes;
        size_t n_bytes, pos = 0;
        st = read_group(&bytes, &n_bytes, cJSON_GetObjectItemCaseSensitive(group, "paths"), dir,
                        err);
        if (st) {
            break;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(group, "weights"))
        {
            st = decode_entry(&w->items[w->n], e, bytes, n_bytes, &pos, json_path, err);
            if (st) {
                break;
            }
            w->n++;
        }
        if (!st && pos != n_bytes) {
            st = dfd_error_set(err, DFD_ERR_FORMAT,
                               "%s: the weights files hold %zu bytes but the manifest uses %zu",
                               json_path, n_bytes, pos);
        }
        dfd_free(bytes);
        if (st) {
            break;
        }
    }
    if (st) {
        tfjs_weights_free(w);
    }
    return st;
}
