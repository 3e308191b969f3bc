// The face cache: keys from settings and content hashes, lookups, and building missing entries
// with the same sampling and face stage inference uses. Storage is in facecache_io.c; the
// contract in data/facecache.h.
#include "dfdetect/data/facecache.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/image/warp.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/log.h"
#include "dfdetect/util/threads.h"

// A remembered content hash: valid while the file's identity, size and time are unchanged.
typedef struct memo_rec {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char hex[DFD_SHA256_HEX_LEN + 1];
} memo_rec;

// Engines not in use, for one kind of input.
typedef struct engine_stack {
    dfd_face_engine **v;
    size_t n, cap;
} engine_stack;

struct dfd_face_cache {
    char *dir;
    dfd_face_cache_opts o;
    char models_dir[4096];
    char *settings_video, *settings_image; // key texts (see settings())
    pthread_mutex_t lock;                  // everything below
    dfd_face_models *models;               // loaded on the first miss
    engine_stack engines[2];               // [0] videos, [1] images
    data_strmap memo_map;                  // path -> index in memo
    data_strpool memo_paths;
    memo_rec *memo;
    size_t n_memo, cap_memo;
    dfd_face_cache_stats stats;
};

dfd_face_cache_opts dfd_face_cache_opts_default(void)
{
    dfd_face_cache_opts o = {
        .face = dfd_face_opts_default(),
        .sampling = { DFD_SAMPLING_UNIFORM, 8 },
        .frames = 32,
        .image_faces = DFD_IMAGE_FACES_AUTO,
        .models_dir = NULL,
        .decode_threads = 1,
    };
    return o;
}

void dfd_face_cache_dir_default(char *out, size_t n)
{
    const char *v = getenv("DFD_CACHE");
    if (v && v[0]) {
        snprintf(out, n, "%s", v);
        return;
    }
    v = getenv("XDG_CACHE_HOME");
    if (v && v[0]) {
        snprintf(out, n, "%s/dfdetect/faces", v);
        return;
    }
    v = getenv("HOME");
    if (v && v[0]) {
        snprintf(out, n, "%s/.cache/dfdetect/faces", v);
        return;
    }
    snprintf(out, n, ".dfdetect-cache/faces");
}

// ---- keys ----

// "<sha of the json>,<sha of the weights>" of one model role (the weights are the .bin file of
// the same name, when present).
static dfd_status model_hash(char *out, size_t n, const char *dir, dfd_model_role role,
                             dfd_error *err)
{
    char path[4096];
    dfd_status st = dfd_model_path(path, sizeof path, dir, role, err);
    uint8_t d[DFD_SHA256_BYTES];
    char json[DFD_SHA256_HEX_LEN + 1], bin[DFD_SHA256_HEX_LEN + 1] = "none";
    if (!st) {
        st = dfd_sha256_file(d, NULL, path, err);
    }
    if (st) {
        return st;
    }
    dfd_sha256_hex(json, d);
    size_t len = strlen(path);
    if (len > 5 && strcmp(path + len - 5, ".json") == 0) {
        memcpy(path + len - 5, ".bin", 5);
        if (dfd_sha256_file(d, NULL, path, NULL) == DFD_OK) {
            dfd_sha256_hex(bin, d);
        }
    }
    snprintf(out, n, "%s,%s", json, bin);
    return DFD_OK;
}

// The settings texts the keys are made from: every option that changes what the face stage
// produces, and nothing else (threads, batch sizes). Images leave out the frame sampling and
// record the tracking minimum they run with (one frame).
static dfd_status settings(dfd_face_cache *c, dfd_error *err)
{
    char det[200], mesh[200];
    dfd_status st = model_hash(det, sizeof det, c->models_dir, DFD_ROLE_DETECTOR, err);
    if (!st) {
        st = model_hash(mesh, sizeof mesh, c->models_dir, DFD_ROLE_LANDMARKS, err);
    }
    if (st) {
        return st;
    }
    const dfd_face_opts *f = &c->o.face;
    char common[2048];
    snprintf(common, sizeof common,
             "dfdetect face cache v%d\n"
             "crop_size=%d\nmargin=%.9g\nmin_presence=%.9g\nmax_gap=%d\n"
             "detector.min_score=%.9g\ndetector.nms_iou=%.9g\ndetector.min_size=%.9g\n"
             "detector.tiles=%d\nmodel.detector=%s\nmodel.landmarks=%s\n",
             DFD_FACE_CACHE_VERSION, f->crop_size, (double)f->margin, (double)f->min_presence,
             f->max_gap, (double)f->detector.min_score, (double)f->detector.nms_iou,
             (double)f->detector.min_size, (int)f->detector.tiles, det, mesh);
    char video[4096], image[4096];
    snprintf(video, sizeof video,
             "%skind=video\nframes=%d\nsampling=%s\nburst_len=%d\nmin_track_frac=%.9g\n"
             "min_track_frames=%d\n",
             common, c->o.frames, dfd_sampling_name(c->o.sampling.kind),
             c->o.sampling.kind == DFD_SAMPLING_BURSTS ? c->o.sampling.burst_len : 0,
             (double)f->min_track_frac, f->min_track_frames);
    snprintf(image, sizeof image, "%skind=image\nimages=%s\nmin_track_frames=1\n", common,
             dfd_image_faces_name(c->o.image_faces));
    c->settings_video = dfd_strdup(video);
    c->settings_image = dfd_strdup(image);
    if (!c->settings_video || !c->settings_image) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "face cache: out of memory");
    }
    return DFD_OK;
}

const char *dfd_face_cache_settings(const dfd_face_cache *c)
{
    return c->settings_video;
}

static void make_key(char key[DFD_SHA256_HEX_LEN + 1], const char *settings_text,
                     const char *content_hex)
{
    dfd_sha256 s;
    uint8_t d[DFD_SHA256_BYTES];
    dfd_sha256_init(&s);
    dfd_sha256_update(&s, settings_text, strlen(settings_text));
    dfd_sha256_update(&s, "content=", 8);
    dfd_sha256_update(&s, content_hex, DFD_SHA256_HEX_LEN);
    dfd_sha256_final(d, &s);
    dfd_sha256_hex(key, d);
}

// ---- open / close ----

dfd_status dfd_face_cache_open(dfd_face_cache **out, const char *dir,
                               const dfd_face_cache_opts *opts, dfd_error *err)
{
    *out = NULL;
    dfd_face_cache_opts o = opts ? *opts : dfd_face_cache_opts_default();
    if (!dir || !dir[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "face cache: empty folder name");
    }
    if (o.frames < 1 || o.frames > 10000 || o.face.crop_size < 16 || o.face.crop_size > 4096 ||
        (unsigned)o.image_faces > DFD_IMAGE_FACES_AUTO || o.sampling.burst_len < 1 ||
        o.decode_threads < 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "face cache: invalid options");
    }
    dfd_face_cache *c = dfd_calloc(1, sizeof *c);
    if (!c) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "face cache: out of memory");
    }
    c->o = o;
    c->dir = dfd_strdup(dir);
    if (o.models_dir) {
        snprintf(c->models_dir, sizeof c->models_dir, "%s", o.models_dir);
    } else {
        dfd_models_dir_default(c->models_dir, sizeof c->models_dir);
    }
    c->o.models_dir = c->models_dir;
    pthread_mutex_init(&c->lock, NULL);
    dfd_status st =
        c->dir ? DFD_OK : dfd_error_set(err, DFD_ERR_NOMEM, "face cache: out of memory");
    if (!st) {
        st = settings(c, err);
    }
    if (!st) {
        st = dfd_mkdir_p(dir, err);
    }
    if (st) {
        dfd_face_cache_close(c);
        return st;
    }
    *out = c;
    return DFD_OK;
}

void dfd_face_cache_close(dfd_face_cache *c)
{
    if (!c) {
        return;
    }
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < c->engines[k].n; i++) {
            dfd_face_engine_free(c->engines[k].v[i]);
        }
        dfd_free(c->engines[k].v);
    }
    dfd_face_models_free(c->models);
    data_strmap_free(&c->memo_map);
    data_strpool_free(&c->memo_paths);
    dfd_free(c->memo);
    dfd_free(c->settings_video);
    dfd_free(c->settings_image);
    dfd_free(c->dir);
    pthread_mutex_destroy(&c->lock);
    dfd_free(c);
}

void dfd_face_cache_get_stats(dfd_face_cache_stats *s, dfd_face_cache *c)
{
    pthread_mutex_lock(&c->lock);
    *s = c->stats;
    pthread_mutex_unlock(&c->lock);
}

void dfd_face_entry_free(dfd_face_entry *e)
{
    if (!e) {
        return;
    }
    dfd_free(e->ids);
    dfd_free(e->block);
    e->ids = NULL;
    e->block = NULL;
    e->n_ids = 0;
}

// ---- content hashes, remembered per path ----

// Remember the hash of `path` (lock held). A failure to remember only costs a hash later.
static void memo_remember(dfd_face_cache *c, const char *path, const memo_rec *rec)
{
    size_t slot;
    bool found;
    if (data_strmap_get(&c->memo_map, path, &slot)) {
        c->memo[slot] = *rec;
        return;
    }
    if (c->n_memo == c->cap_memo) {
        size_t cap = c->cap_memo ? 2 * c->cap_memo : 256;
        memo_rec *v = dfd_realloc(c->memo, cap * sizeof *v);
        if (!v) {
            return;
        }
        c->memo = v;
        c->cap_memo = cap;
    }
    const char *key = data_strpool_dup(&c->memo_paths, path);
    if (key && data_strmap_put(&c->memo_map, key, c->n_memo, &slot, &found)) {
        c->memo[c->n_memo++] = *rec;
    }
}

static dfd_status content_hash(char hex[DFD_SHA256_HEX_LEN + 1], uint64_t *bytes, dfd_face_cache *c,
                               const char *path, dfd_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        dfd_status st = dfd_file_check_regular(path, NULL, err); // the one-line error
        return st ? st : dfd_error_set(err, DFD_ERR_IO, "%s: cannot read", path);
    }
    pthread_mutex_lock(&c->lock);
    size_t i;
    bool hit = data_strmap_get(&c->memo_map, path, &i) && c->memo[i].dev == sb.st_dev &&
               c->memo[i].ino == sb.st_ino && c->memo[i].size == sb.st_size &&
               c->memo[i].mtime.tv_sec == sb.st_mtim.tv_sec &&
               c->memo[i].mtime.tv_nsec == sb.st_mtim.tv_nsec;
    if (hit) {
        memcpy(hex, c->memo[i].hex, DFD_SHA256_HEX_LEN + 1);
    }
    pthread_mutex_unlock(&c->lock);
    *bytes = (uint64_t)sb.st_size;
    if (hit) {
        return DFD_OK;
    }
    double t0 = dfd_now();
    uint8_t d[DFD_SHA256_BYTES];
    dfd_status st = dfd_sha256_file(d, bytes, path, err);
    if (st) {
        return st;
    }
    dfd_sha256_hex(hex, d);
    memo_rec rec = { sb.st_dev, sb.st_ino, sb.st_size, sb.st_mtim, "" };
    memcpy(rec.hex, hex, sizeof rec.hex);
    pthread_mutex_lock(&c->lock);
    c->stats.hashed++;
    c->stats.bytes_hashed += *bytes;
    c->stats.seconds_hash += dfd_now() - t0;
    memo_remember(c, path, &rec);
    pthread_mutex_unlock(&c->lock);
    return DFD_OK;
}

// ---- engines ----

static dfd_status engine_take(dfd_face_engine **e, dfd_face_cache *c, bool image, dfd_error *err)
{
    *e = NULL;
    dfd_status st = DFD_OK;
    pthread_mutex_lock(&c->lock);
    if (!c->models) {
        st = dfd_face_models_load(&c->models, c->models_dir, err);
    }
    engine_stack *s = &c->engines[image];
    if (!st && s->n > 0) {
        *e = s->v[--s->n];
    }
    pthread_mutex_unlock(&c->lock);
    if (st || *e) {
        return st;
    }
    dfd_face_opts fo = c->o.face;
    if (image) {
        // One frame: an identity needs only that frame.
        fo.min_track_frames = 1;
        fo.min_track_frac = 0;
    }
    return dfd_face_engine_create(e, c->models, &fo, err);
}

static void engine_give(dfd_face_cache *c, dfd_face_engine *e, bool image)
{
    pthread_mutex_lock(&c->lock);
    engine_stack *s = &c->engines[image];
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        dfd_face_engine **v = dfd_realloc(s->v, cap * sizeof *v);
        if (v) {
            s->v = v;
            s->cap = cap;
        }
    }
    if (s->n < s->cap) {
        s->v[s->n++] = e;
        e = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    dfd_face_engine_free(e); // only when it could not be kept
}

// ---- building an entry ----

// The frames of a file: a video sampled as the cache's options say, or an image as one frame.
static dfd_status load_frames(dfd_frame_set *set, dfd_face_entry *e, const dfd_face_cache *c,
                              const char *path, dfd_error *err)
{
    memset(set, 0, sizeof *set);
    if (e->kind == DFD_MEDIA_IMAGE) {
        set->frames = dfd_calloc(1, sizeof *set->frames);
        if (!set->frames) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
        }
        dfd_status st = dfd_image_read(&set->frames[0].image, path, err);
        if (st) {
            dfd_frame_set_free(set);
            return st;
        }
        set->n = 1;
        set->frames[0].is_keyframe = true;
        e->width = set->frames[0].image.w;
        e->height = set->frames[0].image.h;
        e->n_frames = 1;
        return DFD_OK;
    }
    dfd_video_opts vo = dfd_video_opts_default();
    vo.n_threads = c->o.decode_threads;
    dfd_video *v;
    dfd_status st = dfd_video_open(&v, path, &vo, err);
    if (st) {
        return st;
    }
    st = dfd_video_sample(set, v, &c->o.sampling, (size_t)c->o.frames, NULL, NULL, err);
    dfd_video_info info;
    dfd_video_probe(&info, v);
    dfd_video_close(v);
    e->width = info.display_width;
    e->height = info.display_height;
    e->fps = info.fps;
    e->duration_s = info.duration_s;
    e->n_frames = set->n;
    return st;
}

// The whole image as the one face: its centre square resized to the crop size.
static dfd_status take_whole(dfd_face_entry *e, const dfd_image *img, const char *why,
                             const char *path, dfd_error *err)
{
    const size_t one = 1;
    dfd_status st = fc_entry_alloc(e, &one, 1, e->crop_size, 0);
    if (st) {
        return dfd_error_set(err, st, "%s: out of memory", path);
    }
    const int side = img->w < img->h ? img->w : img->h;
    const int x0 = (img->w - side) / 2, y0 = (img->h - side) / 2;
    dfd_image square = dfd_image_view(img, x0, y0, side, side);
    dfd_cached_face *f = &e->ids[0].faces[0];
    st = dfd_image_resize(&f->crop, &square, DFD_RESIZE_AREA);
    if (st) {
        return dfd_error_set(err, st, "%s: cannot resize the image", path);
    }
    f->box[0] = (float)x0;
    f->box[1] = (float)y0;
    f->box[2] = (float)(x0 + side);
    f->box[3] = (float)(y0 + side);
    f->cx = (float)x0 + (float)side / 2;
    f->cy = (float)y0 + (float)side / 2;
    f->side = (float)side;
    e->outcome = DFD_FACES_FOUND;
    e->whole_image = true;
    snprintf(e->reason, sizeof e->reason, "image taken whole as the face (%s)", why);
    return DFD_OK;
}

// Copy a face-stage result into the entry (crops into the block, landmarks into crop pixels).
static dfd_status take_result(dfd_face_entry *e, const dfd_face_result *r, const char *path,
                              dfd_error *err)
{
    size_t *counts = dfd_malloc((r->n_ids ? r->n_ids : 1) * sizeof *counts);
    if (!counts) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < r->n_ids; i++) {
        counts[i] = r->ids[i].n;
    }
    dfd_status st = fc_entry_alloc(e, counts, r->n_ids, e->crop_size, DFD_MESH_POINTS);
    dfd_free(counts);
    if (st) {
        return dfd_error_set(err, st, "%s: out of memory", path);
    }
    e->outcome = r->outcome;
    snprintf(e->reason, sizeof e->reason, "%s", r->reason);
    const int cs = e->crop_size;
    for (size_t i = 0; i < r->n_ids; i++) {
        e->ids[i].mean_score = r->ids[i].mean_score;
        for (size_t j = 0; j < r->ids[i].n; j++) {
            const dfd_face_obs *ob = &r->ids[i].obs[j];
            dfd_cached_face *f = &e->ids[i].faces[j];
            if (ob->crop.w != cs || ob->crop.h != cs || ob->crop.c != 3) {
                return dfd_error_set(err, DFD_ERR_INVALID, "%s: unexpected crop size", path);
            }
            for (int y = 0; y < cs; y++) {
                memcpy(dfd_image_px(&f->crop, 0, y), dfd_image_px(&ob->crop, 0, y), (size_t)cs * 3);
            }
            f->frame_index = ob->frame_index;
            f->pts_s = ob->pts_s;
            f->box[0] = ob->det.x0;
            f->box[1] = ob->det.y0;
            f->box[2] = ob->det.x1;
            f->box[3] = ob->det.y1;
            f->score = ob->det.score;
            f->presence = ob->presence;
            f->cx = ob->cx;
            f->cy = ob->cy;
            f->side = ob->side;
            f->roll = ob->roll;
            // Frame -> crop: the inverse of the crop's matrix; z scales like x and y.
            double m[6], inv[6];
            dfd_affine_crop(m, ob->cx, ob->cy, ob->side, ob->roll, cs, cs);
            float(*lm)[3] = f->landmarks;
            memset(lm, 0, sizeof(float) * 3 * DFD_MESH_POINTS);
            if (ob->landmarks && dfd_affine_invert(inv, m)) {
                const double zk = (double)cs / (double)ob->side;
                for (int k = 0; k < DFD_MESH_POINTS; k++) {
                    double x, y;
                    dfd_affine_apply(inv, ob->landmarks[k][0], ob->landmarks[k][1], &x, &y);
                    lm[k][0] = (float)x;
                    lm[k][1] = (float)y;
                    lm[k][2] = (float)((double)ob->landmarks[k][2] * zk);
                }
            }
        }
    }
    return DFD_OK;
}

// Run the face stage on the file and fill the entry (key, hash, kind and crop size already set).
static dfd_status build(dfd_face_entry *e, dfd_face_cache *c, const char *path, double seconds[4],
                        dfd_error *err)
{
    double t0 = dfd_now();
    dfd_frame_set set;
    dfd_status st = load_frames(&set, e, c, path, err);
    seconds[0] = dfd_now() - t0;
    if (st) {
        return st;
    }
    const bool image = e->kind == DFD_MEDIA_IMAGE;
    if (image && c->o.image_faces == DFD_IMAGE_FACES_WHOLE) {
        st = take_whole(e, &set.frames[0].image, "as the cache was told", path, err);
        dfd_frame_set_free(&set);
        return st;
    }
    dfd_face_engine *eng;
    st = engine_take(&eng, c, image, err);
    dfd_face_result r = { 0 };
    if (!st) {
        st = dfd_faces_extract(&r, eng, &set, err);
        engine_give(c, eng, image);
    }
    if (!st) {
        seconds[1] = r.seconds_detect;
        seconds[2] = r.seconds_mesh;
        seconds[3] = r.seconds_crop;
        const dfd_image *img = set.n ? &set.frames[0].image : NULL;
        float frac = 0;
        const bool crop = image && img && dfd_faces_image_is_crop(&r, img->w, img->h, &frac);
        if (image && r.outcome != DFD_FACES_FOUND &&
            (c->o.image_faces == DFD_IMAGE_FACES_DETECT_OR_WHOLE ||
             c->o.image_faces == DFD_IMAGE_FACES_AUTO)) {
            char why[256];
            snprintf(why, sizeof why, "the detector: %s", r.reason);
            st = take_whole(e, img, why, path, err);
        } else if (crop && c->o.image_faces == DFD_IMAGE_FACES_AUTO) {
            char why[256];
            snprintf(why, sizeof why, "a face crop: its face spans %.0f%% of it",
                     100.0 * (double)frac);
            st = take_whole(e, img, why, path, err);
        } else {
            st = take_result(e, &r, path, err);
        }
    }
    dfd_face_result_free(&r);
    dfd_frame_set_free(&set);
    return st;
}

// ---- lookups ----

dfd_status dfd_face_cache_get(dfd_face_entry *out, dfd_face_cache *c, const char *path,
                              dfd_error *err)
{
    memset(out, 0, sizeof *out);
    if (!path || !path[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "face cache: empty file name");
    }
    char hex[DFD_SHA256_HEX_LEN + 1];
    uint64_t bytes = 0;
    dfd_status st = content_hash(hex, &bytes, c, path, err);
    if (st) {
        return st;
    }
    const dfd_media_kind kind = dfd_media_kind_of(path);
    const char *settings_text = kind == DFD_MEDIA_IMAGE ? c->settings_image : c->settings_video;
    char key[DFD_SHA256_HEX_LEN + 1];
    make_key(key, settings_text, hex);
    char entry_dir[4096];
    snprintf(entry_dir, sizeof entry_dir, "%s/%.2s/%s", c->dir, key, key);

    double t0 = dfd_now();
    uint64_t loaded = 0;
    dfd_error e2;
    st = fc_read(out, entry_dir, &loaded, &e2);
    if (!st && strcmp(out->key, key) == 0 && strcmp(out->sha256, hex) == 0) {
        out->from_cache = true;
        pthread_mutex_lock(&c->lock);
        c->stats.hits++;
        c->stats.bytes_loaded += loaded;
        c->stats.seconds_load += dfd_now() - t0;
        pthread_mutex_unlock(&c->lock);
        return DFD_OK;
    }
    if (st == DFD_ERR_NOMEM) {
        return dfd_error_set(err, st, "%s", e2.msg);
    }
    bool damaged = st != DFD_ERR_NOT_FOUND;
    if (damaged) {
        dfd_face_entry_free(out);
        dfd_log(DFD_LOG_WARN, "face cache: rebuilding %s (%s)", entry_dir,
                st ? e2.msg : "key mismatch");
    }
    memset(out, 0, sizeof *out);
    memcpy(out->key, key, sizeof key);
    memcpy(out->sha256, hex, sizeof hex);
    out->kind = kind;
    out->crop_size = c->o.face.crop_size;
    double seconds[4] = { 0 };
    t0 = dfd_now();
    st = build(out, c, path, seconds, err);
    if (!st) {
        fc_source src = {
            path, bytes, settings_text, { seconds[0], seconds[1], seconds[2], seconds[3] }
        };
        st = fc_write(entry_dir, out, &src, err);
    }
    if (st) {
        dfd_face_entry_free(out);
        return st;
    }
    pthread_mutex_lock(&c->lock);
    c->stats.misses++;
    c->stats.damaged += damaged;
    c->stats.seconds_build += dfd_now() - t0;
    pthread_mutex_unlock(&c->lock);
    return DFD_OK;
}

// ---- many files ----

typedef struct fill_ctx {
    dfd_face_cache *c;
    const char *const *paths;
    size_t n;
    dfd_status *status;
    dfd_error *errors;
    void (*progress)(void *ctx, size_t done, size_t total);
    void *progress_ctx;
    pthread_mutex_t lock;
    size_t done;
} fill_ctx;

static void fill_one(void *ctx, size_t i, int thread)
{
    (void)thread;
    fill_ctx *f = ctx;
    dfd_face_entry e;
    dfd_error err;
    dfd_error_clear(&err);
    dfd_status st = dfd_face_cache_get(&e, f->c, f->paths[i], &err);
    dfd_face_entry_free(&e);
    if (f->status) {
        f->status[i] = st;
    }
    if (f->errors) {
        f->errors[i] = err;
    }
    pthread_mutex_lock(&f->lock);
    f->done++;
    if (f->progress) {
        f->progress(f->progress_ctx, f->done, f->n);
    }
    pthread_mutex_unlock(&f->lock);
}

dfd_status dfd_face_cache_fill(dfd_face_cache *c, const char *const *paths, size_t n, int n_jobs,
                               dfd_status *status, dfd_error *errors,
                               void (*progress)(void *ctx, size_t done, size_t total), void *ctx,
                               dfd_error *err)
{
    if (n == 0) {
        return DFD_OK;
    }
    dfd_pool *pool;
    if (n_jobs > 0 && (size_t)n_jobs > n) {
        n_jobs = (int)n;
    }
    dfd_status st = dfd_pool_create(&pool, n_jobs, err);
    if (st) {
        return st;
    }
    fill_ctx f = { .c = c,
                   .paths = paths,
                   .n = n,
                   .status = status,
                   .errors = errors,
                   .progress = progress,
                   .progress_ctx = ctx };
    pthread_mutex_init(&f.lock, NULL);
    dfd_pool_run(pool, fill_one, &f, n);
    pthread_mutex_destroy(&f.lock);
    dfd_pool_destroy(pool);
    return DFD_OK;
}
