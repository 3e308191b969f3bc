// Scanning one file: frames -> faces -> backbone -> head -> calibrated probabilities.
#include "dfdetect/detect/scan.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "detect_internal.h"
#include "dfdetect/detect/aggregate.h"
#include "dfdetect/detect/backbone.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/sha256.h"

struct dfd_scanner {
    const dfd_detector_model *model;
    const dfd_face_models *faces;
    dfd_scan_opts o;
    dfd_face_engine *engine[2]; // [0] videos, [1] images; created on first use
    dfd_backbone *backbone;
    dfd_head *head; // this scanner's copy: a forward keeps state
};

const char *dfd_scan_verdict_name(dfd_scan_verdict v)
{
    switch (v) {
    case DFD_SCAN_REAL:
        return "REAL";
    case DFD_SCAN_FAKE:
        return "FAKE";
    case DFD_SCAN_NO_FACE:
        return "NO_FACE";
    case DFD_SCAN_ERROR:
        break;
    }
    return "ERROR";
}

dfd_scan_opts dfd_scan_opts_default(void)
{
    return (dfd_scan_opts){ .frames = 0,
                            .threshold = -1.0f,
                            .n_threads = 0,
                            .batch = 4,
                            .keep_crops = false,
                            .mirror = false };
}

bool dfd_scan_is_image(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0);
}

void dfd_scan_result_free(dfd_scan_result *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->n_ids; i++) {
        for (size_t k = 0; r->ids[i].faces && k < r->ids[i].n; k++) {
            dfd_image_free(&r->ids[i].faces[k].crop);
        }
        dfd_free(r->ids[i].faces);
    }
    dfd_free(r->ids);
    r->ids = NULL;
    r->n_ids = 0;
}

void dfd_scanner_free(dfd_scanner *s)
{
    if (!s) {
        return;
    }
    dfd_face_engine_free(s->engine[0]);
    dfd_face_engine_free(s->engine[1]);
    dfd_backbone_free(s->backbone);
    dfd_head_free(s->head);
    dfd_free(s);
}

dfd_status detect_head_copy(dfd_head **out, dfd_head *src, dfd_error *err)
{
    // One thread: a scan's sequences are a few dozen steps of a 64-wide cell, far below what an
    // OpenMP team pays back; with two threads the team's barriers cost 10-100x the work when
    // the other core is busy (a second scan, the server's other worker).
    dfd_head_opts o = *dfd_head_opts_of(src);
    o.n_threads = 1;
    dfd_status st = dfd_head_create(out, &o, err);
    if (st) {
        return st;
    }
    size_t n_src, n_dst;
    dfd_param *const *from = dfd_head_params(src, &n_src);
    dfd_param *const *to = dfd_head_params(*out, &n_dst);
    for (size_t i = 0; i < n_src && i < n_dst; i++) {
        memcpy(to[i]->value, from[i]->value, dfd_param_numel(from[i]) * sizeof(float));
    }
    dfd_head_set_training(*out, false);
    return DFD_OK;
}

dfd_status dfd_scanner_create(dfd_scanner **out, const dfd_detector_model *model,
                              const dfd_face_models *faces, const dfd_graph *backbone,
                              const dfd_scan_opts *opts, dfd_error *err)
{
    *out = NULL;
    dfd_scan_opts o = opts ? *opts : dfd_scan_opts_default();
    if (o.batch == 0) {
        o.batch = 4;
    }
    if (o.frames < 0 || o.frames > 10000 || o.n_threads < 0 || !(o.threshold <= 1.0f)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "scanner: bad options");
    }
    if (dfd_head_opts_of(model->head)->input_dim != DFD_BACKBONE_DIM) {
        return dfd_error_set(err, DFD_ERR_INVALID, "model %s: head input is %d, not %d",
                             model->name, dfd_head_opts_of(model->head)->input_dim,
                             DFD_BACKBONE_DIM);
    }
    dfd_scanner *s = dfd_calloc(1, sizeof *s);
    if (!s) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "out of memory");
    }
    s->model = model;
    s->faces = faces;
    s->o = o;
    dfd_status st = dfd_backbone_create(&s->backbone, backbone, o.batch, o.n_threads, err);
    if (!st) {
        st = detect_head_copy(&s->head, model->head, err);
    }
    if (st) {
        dfd_scanner_free(s);
        return st;
    }
    *out = s;
    return DFD_OK;
}

static float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static dfd_status get_engine(dfd_face_engine **e, dfd_scanner *s, bool image, dfd_error *err)
{
    if (!s->engine[image]) {
        dfd_face_opts fo = dfd_face_opts_default();
        fo.crop_size = s->model->prep.crop_size;
        fo.margin = s->model->prep.margin;
        fo.n_threads = s->o.n_threads;
        if (image) { // one frame: a face seen once is an identity
            fo.min_track_frames = 1;
            fo.min_track_frac = 0;
        }
        dfd_status st = dfd_face_engine_create(&s->engine[image], s->faces, &fo, err);
        if (st) {
            return st;
        }
    }
    *e = s->engine[image];
    return DFD_OK;
}

static dfd_status load_frames(dfd_frame_set *set, dfd_scanner *s, const char *path, bool image,
                              dfd_error *err)
{
    memset(set, 0, sizeof *set);
    if (image) {
        set->frames = dfd_calloc(1, sizeof *set->frames);
        if (!set->frames) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
        }
        dfd_status st = dfd_image_read(&set->frames[0].image, path, err);
        if (st) {
            dfd_free(set->frames);
            set->frames = NULL;
            return st;
        }
        set->n = 1;
        return DFD_OK;
    }
    dfd_video_opts vo = dfd_video_opts_default();
    vo.n_threads = s->o.n_threads;
    dfd_video *v = NULL;
    dfd_status st = dfd_video_open(&v, path, &vo, err);
    if (!st) {
        int n = s->o.frames ? s->o.frames : s->model->prep.frames;
        st = dfd_video_sample(set, v, &s->model->prep.sampling, (size_t)n, NULL, NULL, err);
    }
    dfd_video_close(v);
    return st;
}

// Test-time mirroring: feats (n embeddings of crops) becomes the mean of those and the
// embeddings of the mirrored crops.
static dfd_status add_mirrored(float *feats, dfd_backbone *b, const dfd_image *crops, size_t n,
                               dfd_error *err)
{
    dfd_image *mirrored = dfd_calloc(n, sizeof *mirrored);
    float *more = dfd_malloc(n * DFD_BACKBONE_DIM * sizeof *more);
    dfd_status st = mirrored && more ? DFD_OK : dfd_error_set(err, DFD_ERR_NOMEM, "out of memory");
    for (size_t k = 0; !st && k < n; k++) {
        st = dfd_image_copy(&mirrored[k], &crops[k]);
        if (st) {
            st = dfd_error_set(err, st, "out of memory");
        } else {
            dfd_image_mirror(&mirrored[k]);
        }
    }
    if (!st) {
        st = dfd_backbone_embed(more, b, mirrored, n, err);
    }
    for (size_t i = 0; !st && i < n * DFD_BACKBONE_DIM; i++) {
        feats[i] = 0.5f * (feats[i] + more[i]);
    }
    for (size_t k = 0; mirrored && k < n; k++) {
        dfd_image_free(&mirrored[k]);
    }
    dfd_free(mirrored);
    dfd_free(more);
    return st;
}

// Backbone and head over one identity's crops.
static dfd_status score_identity(dfd_scan_identity *out, dfd_scanner *s,
                                 const dfd_face_identity *id, dfd_scan_timing *t, dfd_error *err)
{
    const size_t n = id->n;
    out->faces = dfd_calloc(n, sizeof *out->faces);
    dfd_image *crops = dfd_calloc(n, sizeof *crops);
    float *feats = dfd_malloc(n * DFD_BACKBONE_DIM * sizeof *feats);
    float *frame_logits = dfd_malloc(n * sizeof *frame_logits);
    dfd_status st = DFD_OK;
    if (!out->faces || !crops || !feats || !frame_logits) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        crops[k] = id->obs[k].crop; // borrowed
    }
    double t0 = dfd_now();
    st = dfd_backbone_embed(feats, s->backbone, crops, n, err);
    if (!st && s->o.mirror) {
        st = add_mirrored(feats, s->backbone, crops, n, err);
    }
    t->backbone += dfd_now() - t0;
    if (st) {
        goto done;
    }
    t0 = dfd_now();
    int len = (int)n;
    st = dfd_head_forward(s->head, frame_logits, &out->seq_logit, feats, &len, 1, len, 0, err);
    t->head += dfd_now() - t0;
    if (st) {
        goto done;
    }
    out->probability = sigmoidf(out->seq_logit / s->model->temperature);
    for (size_t k = 0; k < n; k++) {
        const dfd_face_obs *ob = &id->obs[k];
        dfd_scan_face *f = &out->faces[k];
        f->frame_index = ob->frame_index;
        f->pts_s = ob->pts_s;
        f->logit = frame_logits[k];
        f->probability = sigmoidf(frame_logits[k] / s->model->frame_temperature);
        f->box[0] = ob->det.x0;
        f->box[1] = ob->det.y0;
        f->box[2] = ob->det.x1;
        f->box[3] = ob->det.y1;
        if (!st && s->o.keep_crops && dfd_image_copy(&f->crop, &ob->crop)) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "out of memory");
        }
    }
    out->n = n; // the crops copied so far are freed with the result
done:
    dfd_free(crops);
    dfd_free(feats);
    dfd_free(frame_logits);
    return st;
}

// Verdict from the identities' probabilities.
static void decide(dfd_scan_result *out, const float *probs)
{
    out->probability = dfd_aggregate_identities(probs, out->n_ids);
    out->verdict = out->probability >= out->threshold ? DFD_SCAN_FAKE : DFD_SCAN_REAL;
}

// An image with no usable face is a tight face crop (as in DFDC's face sets, whose faces are too
// large or too cut for the detector): its centre square, at the crop size, is taken as the one
// face, the way the face cache prepares such images for training.
static dfd_status score_whole(dfd_scan_result *out, dfd_scanner *s, const dfd_image *img,
                              const char *path, dfd_error *err)
{
    const int side = img->w < img->h ? img->w : img->h;
    const int x0 = (img->w - side) / 2, y0 = (img->h - side) / 2;
    dfd_image square = dfd_image_view(img, x0, y0, side, side);
    dfd_face_obs ob;
    memset(&ob, 0, sizeof ob);
    ob.det.x0 = (float)x0;
    ob.det.y0 = (float)y0;
    ob.det.x1 = (float)(x0 + side);
    ob.det.y1 = (float)(y0 + side);
    dfd_face_identity id = { &ob, 1, 0.f };
    dfd_status st =
        dfd_image_alloc(&ob.crop, s->model->prep.crop_size, s->model->prep.crop_size, 3);
    if (!st) {
        st = dfd_image_resize(&ob.crop, &square, DFD_RESIZE_AREA);
    }
    out->ids = st ? NULL : dfd_calloc(1, sizeof *out->ids);
    if (st || !out->ids) {
        dfd_image_free(&ob.crop);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    out->n_ids = 1;
    st = score_identity(&out->ids[0], s, &id, &out->seconds, err);
    dfd_image_free(&ob.crop);
    if (!st) {
        decide(out, &out->ids[0].probability);
        out->whole_image = true;
        char why[128];
        snprintf(why, sizeof why, "%.120s", out->reason);
        snprintf(out->reason, sizeof out->reason, "image taken whole as the face (%.120s)", why);
    }
    return st;
}

static dfd_status scan(dfd_scan_result *out, dfd_scanner *s, const char *path, dfd_error *err)
{
    const bool image = dfd_scan_is_image(path);
    dfd_face_engine *e = NULL;
    dfd_status st = get_engine(&e, s, image, err);
    if (st) {
        return st;
    }
    dfd_frame_set set;
    double t0 = dfd_now();
    st = load_frames(&set, s, path, image, err);
    out->seconds.decode = dfd_now() - t0;
    if (st) {
        return st;
    }
    out->n_frames = set.n;
    const dfd_image_faces mode = s->model->prep.images;
    if (image && set.n == 1 && mode == DFD_IMAGE_FACES_WHOLE) {
        // The model was trained on face crops taken whole: so is this image.
        snprintf(out->reason, sizeof out->reason, "the model takes images whole");
        st = score_whole(out, s, &set.frames[0].image, path, err);
        dfd_frame_set_free(&set);
        return st;
    }
    dfd_face_result r = { 0 };
    st = dfd_faces_extract(&r, e, &set, err);
    if (st) {
        dfd_frame_set_free(&set);
        return st;
    }
    out->seconds.detect = r.seconds_detect;
    out->seconds.landmarks = r.seconds_mesh;
    out->seconds.crop = r.seconds_crop;
    snprintf(out->reason, sizeof out->reason, "%s", r.reason);
    const dfd_image *img = set.n ? &set.frames[0].image : NULL;
    float frac = 0;
    const bool crop = image && set.n == 1 && dfd_faces_image_is_crop(&r, img->w, img->h, &frac);
    if (r.outcome != DFD_FACES_FOUND || r.n_ids == 0) {
        out->verdict = DFD_SCAN_NO_FACE;
        dfd_face_result_free(&r);
        const bool whole =
            image && set.n == 1 &&
            (mode == DFD_IMAGE_FACES_DETECT_OR_WHOLE || mode == DFD_IMAGE_FACES_AUTO);
        st = whole ? score_whole(out, s, img, path, err) : DFD_OK;
        dfd_frame_set_free(&set);
        return st;
    }
    if (crop && mode == DFD_IMAGE_FACES_AUTO) {
        // Already a face crop, as the model's training images were taken.
        dfd_face_result_free(&r);
        snprintf(out->reason, sizeof out->reason, "a face crop: its face spans %.0f%% of it",
                 100.0 * (double)frac);
        st = score_whole(out, s, img, path, err);
        dfd_frame_set_free(&set);
        return st;
    }
    dfd_frame_set_free(&set);
    float *probs = dfd_malloc(r.n_ids * sizeof *probs);
    out->ids = dfd_calloc(r.n_ids, sizeof *out->ids);
    if (!probs || !out->ids) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; !st && i < r.n_ids; i++) {
        st = score_identity(&out->ids[i], s, &r.ids[i], &out->seconds, err);
        out->n_ids = i + 1; // freed by dfd_scan_result_free whatever happened
        if (!st) {
            probs[i] = out->ids[i].probability;
        }
    }
    if (!st) {
        decide(out, probs);
    }
    dfd_free(probs);
    dfd_face_result_free(&r);
    return st;
}

dfd_status dfd_scan_file(dfd_scan_result *out, dfd_scanner *s, const char *path, dfd_error *err)
{
    memset(out, 0, sizeof *out);
    out->probability = NAN;
    out->threshold = s->o.threshold >= 0 ? s->o.threshold : s->model->threshold;
    double t0 = dfd_now();
    out->mirrored = s->o.mirror;
    dfd_error local;
    dfd_error_clear(&local);
    dfd_status st = scan(out, s, path, &local);
    out->seconds.total = dfd_now() - t0;
    if (st) {
        dfd_scan_result_free(out);
        out->verdict = DFD_SCAN_ERROR;
        out->probability = NAN;
        const char *msg = dfd_error_message(&local);
        if (strstr(msg, path)) { // the message names the file already
            snprintf(out->error, sizeof out->error, "%s", msg);
        } else {
            snprintf(out->error, sizeof out->error, "%s: %s", path, msg);
        }
        dfd_error_set(err, st, "%s", out->error);
    }
    return st;
}

// The digest of the last backbone file asked about: hashing 7 MB costs tens of milliseconds, and
// a process (the server, a scan of many files) asks about the same file again and again.
static pthread_mutex_t hash_lock = PTHREAD_MUTEX_INITIALIZER;
static char hash_path[4096];
static char hash_hex[DFD_SHA256_HEX_LEN + 1];

dfd_status dfd_scan_backbone_matches(bool *matches, const dfd_detector_model *model,
                                     const char *path, dfd_error *err)
{
    *matches = true;
    if (model->backbone_tuned) {
        return DFD_OK;
    }
    char hex[DFD_SHA256_HEX_LEN + 1];
    pthread_mutex_lock(&hash_lock);
    const bool cached = hash_hex[0] && strcmp(hash_path, path) == 0;
    memcpy(hex, hash_hex, sizeof hex);
    pthread_mutex_unlock(&hash_lock);
    if (!cached) {
        uint8_t dig[DFD_SHA256_BYTES];
        dfd_status st = dfd_sha256_file(dig, NULL, path, err);
        if (st) {
            return st;
        }
        dfd_sha256_hex(hex, dig);
        pthread_mutex_lock(&hash_lock);
        if (strlen(path) < sizeof hash_path) { // else not remembered
            snprintf(hash_path, sizeof hash_path, "%s", path);
            memcpy(hash_hex, hex, sizeof hex);
        }
        pthread_mutex_unlock(&hash_lock);
    }
    *matches = strcmp(hex, model->backbone_sha256) == 0;
    return DFD_OK;
}
