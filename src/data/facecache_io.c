// Face cache entries on disk: meta.json (cJSON) and faces.bin (one block: header, crops,
// landmarks; the layout is specified in facecache.h). Reading validates every size against
// meta.json before trusting it; anything that does not add up is DFD_ERR_FORMAT and the caller
// rebuilds the entry.
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/size.h"

#define MAX_META_BYTES ((size_t)64 << 20)
#define MAX_FACES      100000

// ---- the block ----

static size_t pad64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

// Crop bytes, padded, and total bytes; false on overflow.
static bool block_sizes(size_t n_faces, int side, int n_lm, size_t *crops_padded, size_t *total)
{
    size_t crop, crops, lm;
    if (!dfd_size_mul3(&crop, (size_t)side, (size_t)side, 3) ||
        !dfd_size_mul(&crops, crop, n_faces) || crops > SIZE_MAX - 64 ||
        !dfd_size_mul3(&lm, n_faces, (size_t)n_lm, 3 * sizeof(float))) {
        return false;
    }
    *crops_padded = pad64(crops);
    return dfd_size_add(total, FC_HEADER_BYTES + *crops_padded, lm);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); // host order: the byte-order word tells a reader which one it was
}

size_t fc_block_bytes(const dfd_face_entry *e)
{
    size_t n = 0, pad, total = 0;
    for (size_t i = 0; i < e->n_ids; i++) {
        n += e->ids[i].n;
    }
    return block_sizes(n, e->crop_size, e->n_landmarks, &pad, &total) ? total : 0;
}

dfd_status fc_entry_alloc(dfd_face_entry *e, const size_t *counts, size_t n_ids, int side, int n_lm)
{
    size_t n_faces = 0;
    for (size_t i = 0; i < n_ids; i++) {
        n_faces += counts[i];
    }
    size_t crops_padded, total, head, crop_bytes_all;
    if (n_faces > MAX_FACES || side < 1 || side > 4096 || n_lm < 0 ||
        !block_sizes(n_faces, side, n_lm, &crops_padded, &total) ||
        !dfd_size_add(&head, n_ids * sizeof(dfd_cached_identity),
                      n_faces * sizeof(dfd_cached_face))) {
        return DFD_ERR_LIMIT;
    }
    crop_bytes_all = n_faces * (size_t)side * (size_t)side * 3; // checked by block_sizes
    // Not zeroed (a cached entry's block is read over at once): only the header and the padding
    // after the crops are cleared here; builders write every crop and landmark.
    uint8_t *block = dfd_malloc(total);
    void *ids = dfd_calloc(1, head ? head : 1);
    if (!block || !ids) {
        dfd_free(block);
        dfd_free(ids);
        return DFD_ERR_NOMEM;
    }
    memset(block, 0, FC_HEADER_BYTES);
    memset(block + FC_HEADER_BYTES + crop_bytes_all, 0, crops_padded - crop_bytes_all);
    memcpy(block, "DFDFACE1", 8);
    put_u32(block + 8, 0x01020304u);
    put_u32(block + 12, (uint32_t)n_faces);
    put_u32(block + 16, (uint32_t)side);
    put_u32(block + 20, 3);
    put_u32(block + 24, (uint32_t)n_lm);
    put_u32(block + 28, 0);
    e->ids = ids;
    e->n_ids = n_ids;
    e->crop_size = side;
    e->n_landmarks = n_lm;
    e->block = block;
    dfd_cached_face *faces = (dfd_cached_face *)((dfd_cached_identity *)ids + n_ids);
    const size_t crop_bytes = (size_t)side * (size_t)side * 3;
    float *lm = (float *)(void *)(block + FC_HEADER_BYTES + crops_padded);
    size_t k = 0;
    for (size_t i = 0; i < n_ids; i++) {
        e->ids[i].faces = faces + k;
        e->ids[i].n = counts[i];
        for (size_t j = 0; j < counts[i]; j++, k++) {
            dfd_cached_face *f = &faces[k];
            f->crop = (dfd_image){ side, side, 3, (size_t)side * 3,
                                   block + FC_HEADER_BYTES + k * crop_bytes };
            f->landmarks = n_lm ? (float(*)[3])(lm + k * (size_t)n_lm * 3) : NULL;
        }
    }
    return DFD_OK;
}

// ---- writing ----

static cJSON *floats(const float *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        // 0.001 pixel is plenty and keeps the file small.
        cJSON_AddItemToArray(a, cJSON_CreateNumber(round((double)v[i] * 1000) / 1000));
    }
    return a;
}

static char *meta_text(const dfd_face_entry *e, const fc_source *src)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        return NULL;
    }
    cJSON_AddStringToObject(root, "format", "dfdetect face cache");
    cJSON_AddNumberToObject(root, "version", DFD_FACE_CACHE_VERSION);
    cJSON_AddStringToObject(root, "key", e->key);
    cJSON *s = cJSON_AddObjectToObject(root, "source");
    if (s) {
        cJSON_AddStringToObject(s, "path", src->path);
        cJSON_AddNumberToObject(s, "bytes", (double)src->bytes);
        cJSON_AddStringToObject(s, "sha256", e->sha256);
        cJSON_AddStringToObject(s, "kind", dfd_media_kind_name(e->kind));
        cJSON_AddNumberToObject(s, "width", e->width);
        cJSON_AddNumberToObject(s, "height", e->height);
        cJSON_AddNumberToObject(s, "fps", round(e->fps * 1000) / 1000);
        cJSON_AddNumberToObject(s, "duration_s", round(e->duration_s * 1000) / 1000);
    }
    cJSON_AddStringToObject(root, "settings", src->settings);
    cJSON_AddNumberToObject(root, "frames_sampled", (double)e->n_frames);
    cJSON_AddStringToObject(root, "outcome", dfd_face_outcome_name(e->outcome));
    cJSON_AddStringToObject(root, "reason", e->reason);
    cJSON_AddBoolToObject(root, "whole_image", e->whole_image);
    cJSON_AddNumberToObject(root, "crop_size", e->crop_size);
    cJSON_AddNumberToObject(root, "landmarks", e->n_landmarks);
    cJSON *ids = cJSON_AddArrayToObject(root, "identities");
    for (size_t i = 0; ids && i < e->n_ids; i++) {
        cJSON *id = cJSON_CreateObject();
        cJSON *faces = id ? cJSON_AddArrayToObject(id, "faces") : NULL;
        if (!faces) {
            cJSON_Delete(id);
            break;
        }
        cJSON_AddNumberToObject(id, "mean_score", round((double)e->ids[i].mean_score * 1e4) / 1e4);
        for (size_t j = 0; j < e->ids[i].n; j++) {
            const dfd_cached_face *f = &e->ids[i].faces[j];
            cJSON *o = cJSON_CreateObject();
            if (!o) {
                break;
            }
            cJSON_AddNumberToObject(o, "frame", (double)f->frame_index);
            cJSON_AddNumberToObject(o, "t", round(f->pts_s * 1e6) / 1e6);
            cJSON_AddItemToObject(o, "box", floats(f->box, 4));
            cJSON_AddNumberToObject(o, "score", round((double)f->score * 1e4) / 1e4);
            cJSON_AddNumberToObject(o, "presence", round((double)f->presence * 1e4) / 1e4);
            const float place[4] = { f->cx, f->cy, f->side, f->roll };
            cJSON_AddItemToObject(o, "crop", floats(place, 4));
            cJSON_AddItemToArray(faces, o);
        }
        cJSON_AddItemToArray(ids, id);
    }
    cJSON *t = cJSON_AddObjectToObject(root, "timing_s");
    static const char *const names[4] = { "decode", "detect", "landmarks", "crop" };
    for (int k = 0; t && k < 4; k++) {
        cJSON_AddNumberToObject(t, names[k], round(src->seconds[k] * 1e4) / 1e4);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

// Write n bytes to dir/name with plain stdio: the folder is published whole afterwards, and a
// reader that finds a short file (after a crash) rebuilds the entry.
static dfd_status write_file(const char *dir, const char *name, const void *data, size_t n,
                             dfd_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        return dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: cannot create", path);
    }
    size_t wrote = fwrite(data, 1, n, fp);
    int e = errno;
    if (fclose(fp) != 0 || wrote != n) {
        return dfd_error_set_errno(err, DFD_ERR_IO, e ? e : EIO, "%s: cannot write", path);
    }
    return DFD_OK;
}

dfd_status fc_write(const char *entry_dir, const dfd_face_entry *e, const fc_source *src,
                    dfd_error *err)
{
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", entry_dir);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
    }
    dfd_status st = dfd_mkdir_p(parent, err);
    if (st) {
        return st;
    }
    char tmp[4096];
    st = dfd_temp_dir_create(tmp, sizeof tmp, entry_dir, err);
    if (st) {
        return st;
    }
    char *meta = meta_text(e, src);
    if (!meta) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", entry_dir);
    }
    if (!st) {
        st = write_file(tmp, "faces.bin", e->block, fc_block_bytes(e), err);
    }
    if (!st) {
        st = write_file(tmp, "meta.json", meta, strlen(meta), err);
    }
    cJSON_free(meta);
    if (!st) {
        st = dfd_dir_publish(tmp, entry_dir, err);
    }
    if (st) {
        dfd_remove_tree(tmp, NULL);
    }
    return st;
}

// ---- reading ----

static double num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

static bool read_floats(float *out, const cJSON *o, const char *name, int n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        return false;
    }
    int i = 0;
    for (const cJSON *v = a->child; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v)) {
            return false;
        }
        out[i] = (float)v->valuedouble;
    }
    return true;
}

static bool parse_outcome(dfd_face_outcome *o, const char *name)
{
    for (int k = DFD_FACES_FOUND; k <= DFD_NO_FACE_REJECTED; k++) {
        if (strcmp(dfd_face_outcome_name((dfd_face_outcome)k), name) == 0) {
            *o = (dfd_face_outcome)k;
            return true;
        }
    }
    return false;
}

// Read exactly n bytes of `path` into buf (the file must be n bytes long).
static dfd_status read_exact(void *buf, size_t n, const char *path, dfd_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return dfd_error_set_errno(err, errno == ENOENT ? DFD_ERR_FORMAT : DFD_ERR_IO, errno, "%s",
                                   path);
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != (uint64_t)n) {
        close(fd);
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: not the size meta.json implies", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (uint8_t *)buf + got, n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            int e = errno;
            close(fd);
            return dfd_error_set_errno(err, DFD_ERR_IO, r < 0 ? e : EIO, "%s: read failed", path);
        }
        got += (size_t)r;
    }
    close(fd);
    return DFD_OK;
}

// The entry's fields from meta.json, the identities allocated (block not yet read).
static dfd_status parse_meta(dfd_face_entry *e, const cJSON *root, const char *path, dfd_error *err)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(root, "source");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(root, "identities");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(root, "key");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(src, "sha256");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(src, "kind");
    const cJSON *outcome = cJSON_GetObjectItemCaseSensitive(root, "outcome");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(root, "reason");
    const cJSON *whole = cJSON_GetObjectItemCaseSensitive(root, "whole_image");
    double version = num(root, "version"), side = num(root, "crop_size");
    double n_lm = num(root, "landmarks"), n_frames = num(root, "frames_sampled");
    if (version != DFD_FACE_CACHE_VERSION || !cJSON_IsString(key) || !cJSON_IsString(sha) ||
        strlen(key->valuestring) != DFD_SHA256_HEX_LEN ||
        strlen(sha->valuestring) != DFD_SHA256_HEX_LEN || !cJSON_IsString(kind) ||
        !cJSON_IsString(outcome) || !parse_outcome(&e->outcome, outcome->valuestring) ||
        !cJSON_IsString(reason) || !cJSON_IsBool(whole) || !cJSON_IsArray(ids) ||
        !(side >= 1 && side <= 4096) || !(n_lm == 0 || n_lm == DFD_MESH_POINTS) ||
        !(n_frames >= 0 && n_frames <= 1e6)) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: incomplete or unknown entry", path);
    }
    memcpy(e->key, key->valuestring, DFD_SHA256_HEX_LEN + 1);
    memcpy(e->sha256, sha->valuestring, DFD_SHA256_HEX_LEN + 1);
    e->kind = strcmp(kind->valuestring, "image") == 0 ? DFD_MEDIA_IMAGE : DFD_MEDIA_VIDEO;
    snprintf(e->reason, sizeof e->reason, "%s", reason->valuestring);
    e->whole_image = cJSON_IsTrue(whole);
    e->width = (int)num(src, "width");
    e->height = (int)num(src, "height");
    e->fps = num(src, "fps");
    e->duration_s = num(src, "duration_s");
    e->n_frames = (size_t)n_frames;
    size_t n_ids = (size_t)cJSON_GetArraySize(ids);
    size_t *counts = dfd_calloc(n_ids ? n_ids : 1, sizeof *counts);
    if (!counts) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t i = 0;
    for (const cJSON *id = ids->child; id; id = id->next, i++) {
        const cJSON *faces = cJSON_GetObjectItemCaseSensitive(id, "faces");
        if (!cJSON_IsArray(faces)) {
            dfd_free(counts);
            return dfd_error_set(err, DFD_ERR_FORMAT, "%s: identity %zu has no faces", path, i);
        }
        counts[i] = (size_t)cJSON_GetArraySize(faces);
    }
    dfd_status st = fc_entry_alloc(e, counts, n_ids, (int)side, (int)n_lm);
    dfd_free(counts);
    if (st) {
        return dfd_error_set(err, st, "%s: %s", path,
                             st == DFD_ERR_NOMEM ? "out of memory" : "sizes out of range");
    }
    i = 0;
    for (const cJSON *id = ids->child; id; id = id->next, i++) {
        const cJSON *faces = cJSON_GetObjectItemCaseSensitive(id, "faces");
        e->ids[i].mean_score = (float)num(id, "mean_score");
        size_t j = 0;
        for (const cJSON *o = faces->child; o; o = o->next, j++) {
            dfd_cached_face *f = &e->ids[i].faces[j];
            float place[4];
            double frame = num(o, "frame");
            if (!read_floats(f->box, o, "box", 4) || !read_floats(place, o, "crop", 4) ||
                !(frame >= 0)) {
                return dfd_error_set(err, DFD_ERR_FORMAT, "%s: identity %zu face %zu is damaged",
                                     path, i, j);
            }
            f->frame_index = (int64_t)frame;
            f->pts_s = num(o, "t");
            f->score = (float)num(o, "score");
            f->presence = (float)num(o, "presence");
            f->cx = place[0];
            f->cy = place[1];
            f->side = place[2];
            f->roll = place[3];
        }
    }
    return DFD_OK;
}

dfd_status fc_read(dfd_face_entry *e, const char *entry_dir, uint64_t *bytes_read, dfd_error *err)
{
    memset(e, 0, sizeof *e);
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", entry_dir);
    void *text;
    size_t n;
    dfd_status st = dfd_file_read_all(&text, &n, path, MAX_META_BYTES, err);
    if (st) {
        return st;
    }
    cJSON *root = cJSON_ParseWithLength(text, n);
    dfd_free(text);
    if (!root) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: damaged (not JSON)", path);
    }
    st = parse_meta(e, root, path, err);
    cJSON_Delete(root);
    if (!st) {
        size_t bytes = fc_block_bytes(e);
        snprintf(path, sizeof path, "%s/faces.bin", entry_dir);
        // The header read back must be the one the identities imply.
        uint8_t want[FC_HEADER_BYTES];
        memcpy(want, e->block, FC_HEADER_BYTES);
        st = read_exact(e->block, bytes, path, err);
        if (!st && memcmp(want, e->block, FC_HEADER_BYTES) != 0) {
            st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: header does not match meta.json", path);
        }
        *bytes_read = bytes;
    }
    if (st) {
        dfd_face_entry_free(e);
    }
    return st;
}
