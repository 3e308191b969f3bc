// The face stage: detect, track, landmark, crop (see faces.h for the steps and their reasons).
#include "dfdetect/face/faces.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/image/warp.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"

#define MESH_INPUT 192
#define MESH_SCALE 1.4f // FaceMesh's crop: the detector box enlarged x1.4 (MODELS.md §1.2)

struct dfd_face_models {
    dfd_graph *detector;
    dfd_graph *mesh;
};

struct dfd_face_engine {
    const dfd_face_models *m;
    dfd_face_opts o;
    dfd_detector *det;
    dfd_session *mesh;        // batch o.mesh_batch, made on first full batch
    dfd_session *mesh_single; // batch 1, made on first need (remainders; an image's one face)
    const char *mesh_out, *flag_out;
    dfd_image mesh_crop; // MESH_INPUT x MESH_INPUT scratch
};

dfd_face_opts dfd_face_opts_default(void)
{
    dfd_face_opts o = { .detector = dfd_detector_opts_default(),
                        .crop_size = 224,
                        .margin = 1.3f,
                        .min_presence = 0.5f,
                        .min_track_frac = 0.25f,
                        .min_track_frames = 2,
                        .max_gap = 4,
                        .mesh_batch = 8,
                        .n_threads = 0 };
    return o;
}

static const char *const IMAGE_FACES_NAMES[4] = { "detect_or_whole", "detect", "whole", "auto" };

const char *dfd_image_faces_name(dfd_image_faces m)
{
    return (unsigned)m < 4 ? IMAGE_FACES_NAMES[m] : "?";
}

bool dfd_image_faces_parse(dfd_image_faces *out, const char *s)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, IMAGE_FACES_NAMES[i]) == 0) {
            *out = (dfd_image_faces)i;
            return true;
        }
    }
    return false;
}

bool dfd_faces_image_is_crop(const dfd_face_result *r, int width, int height, float *frac)
{
    float widest = 0;
    for (size_t i = 0; r->outcome == DFD_FACES_FOUND && i < r->n_ids; i++) {
        for (size_t k = 0; k < r->ids[i].n; k++) {
            const dfd_detection *d = &r->ids[i].obs[k].det;
            widest = d->x1 - d->x0 > widest ? d->x1 - d->x0 : widest;
        }
    }
    const int side = width < height ? width : height;
    *frac = side > 0 ? widest / (float)side : 0;
    return r->outcome != DFD_FACES_FOUND || r->n_ids == 0 || *frac >= DFD_FACE_CROP_MIN_FRAC;
}

const char *dfd_face_outcome_name(dfd_face_outcome o)
{
    switch (o) {
    case DFD_FACES_FOUND:
        return "faces";
    case DFD_NO_FACE_NONE_FOUND:
        return "none_found";
    case DFD_NO_FACE_TOO_SMALL:
        return "too_small";
    case DFD_NO_FACE_TOO_FEW_FRAMES:
        return "too_few_frames";
    case DFD_NO_FACE_REJECTED:
        return "rejected";
    }
    return "unknown";
}

// ---- models and engines ----

void dfd_face_models_free(dfd_face_models *m)
{
    if (!m) {
        return;
    }
    dfd_graph_free(m->detector);
    dfd_graph_free(m->mesh);
    dfd_free(m);
}

static dfd_status load_role(dfd_graph **g, const char *dir, dfd_model_role role, dfd_error *err)
{
    char path[4096];
    dfd_status st = dfd_model_path(path, sizeof path, dir, role, err);
    return st ? st : dfd_tfjs_load(g, path, err);
}

dfd_status dfd_face_models_load(dfd_face_models **out, const char *dir, dfd_error *err)
{
    *out = NULL;
    char def[4096];
    if (!dir) {
        dfd_models_dir_default(def, sizeof def);
        dir = def;
    }
    dfd_face_models *m = dfd_calloc(1, sizeof *m);
    if (!m) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "face models: out of memory");
    }
    dfd_status st = load_role(&m->detector, dir, DFD_ROLE_DETECTOR, err);
    if (!st) {
        st = load_role(&m->mesh, dir, DFD_ROLE_LANDMARKS, err);
    }
    if (!st && (dfd_graph_find_output(m->mesh, "output_mesh") < 0 ||
                dfd_graph_find_output(m->mesh, "output_faceflag") < 0)) {
        st = dfd_error_set(err, DFD_ERR_INVALID, "%s/%s: not a FaceMesh model (outputs missing)",
                           dir, dfd_model_role_file(DFD_ROLE_LANDMARKS));
    }
    if (st) {
        dfd_face_models_free(m);
        return st;
    }
    *out = m;
    return DFD_OK;
}

void dfd_face_engine_free(dfd_face_engine *e)
{
    if (!e) {
        return;
    }
    dfd_detector_free(e->det);
    dfd_session_free(e->mesh);
    dfd_session_free(e->mesh_single);
    dfd_image_free(&e->mesh_crop);
    dfd_free(e);
}

dfd_status dfd_face_engine_create(dfd_face_engine **out, const dfd_face_models *m,
                                  const dfd_face_opts *opts, dfd_error *err)
{
    *out = NULL;
    dfd_face_opts o = opts ? *opts : dfd_face_opts_default();
    if (o.crop_size < 16 || o.crop_size > 2048 || !(o.margin >= 1 && o.margin <= 4) ||
        !(o.min_presence >= 0 && o.min_presence <= 1) ||
        !(o.min_track_frac >= 0 && o.min_track_frac <= 1) || o.min_track_frames < 1 ||
        o.max_gap < 0 || o.mesh_batch < 1 || o.mesh_batch > 64) {
        return dfd_error_set(err, DFD_ERR_INVALID, "face stage: invalid options");
    }
    dfd_face_engine *e = dfd_calloc(1, sizeof *e);
    if (!e) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "face stage: out of memory");
    }
    e->m = m;
    e->o = o;
    // The detector keeps every size; small faces are counted, then dropped here, so that a video
    // whose faces are all too small can say so.
    dfd_detector_opts dopt = o.detector;
    dopt.min_size = 0;
    dopt.n_threads = o.n_threads;
    dfd_status st = dfd_detector_create(&e->det, m->detector, &dopt, err);
    if (!st && dfd_image_alloc(&e->mesh_crop, MESH_INPUT, MESH_INPUT, 3) != DFD_OK) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "face stage: out of memory");
    }
    if (st) {
        dfd_face_engine_free(e);
        return st;
    }
    *out = e;
    return DFD_OK;
}

// ---- results ----

static void identity_free(dfd_face_identity *id)
{
    for (size_t k = 0; k < id->n; k++) {
        dfd_free(id->obs[k].landmarks);
        dfd_image_free(&id->obs[k].crop);
    }
    dfd_free(id->obs);
    id->obs = NULL;
    id->n = 0;
}

void dfd_face_result_free(dfd_face_result *r)
{
    if (!r) {
        return;
    }
    for (size_t i = 0; i < r->n_ids; i++) {
        identity_free(&r->ids[i]);
    }
    dfd_free(r->ids);
    memset(r, 0, sizeof *r);
}

// ---- landmarks ----

// The angle that levels the line from the image-left point (lx, ly) to the image-right one.
static float level_angle(float lx, float ly, float rx, float ry)
{
    return atan2f(ly - ry, rx - lx);
}

// FaceMesh's crop of a detection: the box centre, 1.4x the box's longer side, levelled on the
// detector's eyes (the subject's right eye is on the image's left).
static void mesh_crop_matrix(double m[6], const dfd_detection *d)
{
    float cx = (d->x0 + d->x1) / 2, cy = (d->y0 + d->y1) / 2;
    float side = MESH_SCALE * fmaxf(d->x1 - d->x0, d->y1 - d->y0);
    float angle = level_angle(d->kp[DFD_KP_RIGHT_EYE][0], d->kp[DFD_KP_RIGHT_EYE][1],
                              d->kp[DFD_KP_LEFT_EYE][0], d->kp[DFD_KP_LEFT_EYE][1]);
    dfd_affine_crop(m, cx, cy, side, angle, MESH_INPUT, MESH_INPUT);
}

// The FaceMesh session for runs of nb faces (the full batch, or 1), made on first use: a session's
// arena grows with its batch, and an image's one face should not pay for eight.
static dfd_status mesh_session(dfd_session **out, dfd_face_engine *e, size_t nb, dfd_error *err)
{
    dfd_session **s = nb == (size_t)e->o.mesh_batch ? &e->mesh : &e->mesh_single;
    if (!*s) {
        dfd_session_opts so = dfd_session_opts_default();
        so.n_threads = e->o.n_threads;
        dfd_status st = dfd_session_create(s, e->m->mesh, nb, &so, err);
        if (st) {
            return st;
        }
    }
    *out = *s;
    return DFD_OK;
}

// Run FaceMesh over every observation (full batches, then the rest one at a time), filling
// presence and landmarks.
static dfd_status run_mesh(dfd_face_engine *e, dfd_face_obs **obs, size_t n,
                           const dfd_frame_set *frames, dfd_error *err)
{
    const size_t B = (size_t)e->o.mesh_batch;
    const size_t per_item = (size_t)MESH_INPUT * MESH_INPUT * 3;
    double mats[64][6];
    for (size_t j0 = 0, nb; j0 < n; j0 += nb) {
        nb = n - j0 >= B ? B : 1;
        dfd_session *ms;
        dfd_status st0 = mesh_session(&ms, e, nb, err);
        if (st0) {
            return st0;
        }
        dfd_tensor *in = dfd_session_input(ms, 0);
        for (size_t k = 0; k < nb; k++) {
            dfd_face_obs *ob = obs[j0 + k];
            mesh_crop_matrix(mats[k], &ob->det);
            dfd_status st = dfd_image_warp_affine(&e->mesh_crop, &frames->frames[ob->frame].image,
                                                  mats[k], NULL);
            if (st) {
                return dfd_error_set(err, st, "face stage: cannot crop frame %zu", ob->frame);
            }
            float *dst = in->data + k * per_item;
            for (int y = 0; y < MESH_INPUT; y++) {
                const uint8_t *p = e->mesh_crop.data + (size_t)y * e->mesh_crop.stride;
                for (int i = 0; i < MESH_INPUT * 3; i++) {
                    *dst++ = (float)p[i] * (1.0f / 255.0f); // FaceMesh's input range [0, 1]
                }
            }
        }
        dfd_status st = dfd_session_run(ms, err);
        if (st) {
            return st;
        }
        const dfd_tensor *mesh = dfd_session_output_by_name(ms, "output_mesh");
        const dfd_tensor *flag = dfd_session_output_by_name(ms, "output_faceflag");
        for (size_t k = 0; k < nb; k++) {
            dfd_face_obs *ob = obs[j0 + k];
            ob->presence = flag->data[k];
            ob->landmarks = dfd_malloc(DFD_MESH_POINTS * sizeof *ob->landmarks);
            if (!ob->landmarks) {
                return dfd_error_set(err, DFD_ERR_NOMEM, "face stage: out of memory");
            }
            // Crop pixels (continuous) to frame pixels; z scales like x.
            const double zscale = sqrt(fabs(mats[k][0] * mats[k][4] - mats[k][1] * mats[k][3]));
            const float *p = mesh->data + k * DFD_MESH_POINTS * 3;
            for (int i = 0; i < DFD_MESH_POINTS; i++) {
                double x, y;
                dfd_affine_apply(mats[k], p[3 * i], p[3 * i + 1], &x, &y);
                ob->landmarks[i][0] = (float)x;
                ob->landmarks[i][1] = (float)y;
                ob->landmarks[i][2] = (float)((double)p[3 * i + 2] * zscale);
            }
        }
    }
    return DFD_OK;
}

// ---- crops ----

static void mean_point(const float (*lm)[3], int a, int b, float *x, float *y)
{
    *x = (lm[a][0] + lm[b][0]) / 2;
    *y = (lm[a][1] + lm[b][1]) / 2;
}

// The crop square of one observation, before the identity's common size: levelled on the mesh's
// eye centres, centred on the landmarks' extent in the levelled frame; *extent is that extent's
// larger side.
static void place_crop(dfd_face_obs *ob, float *extent)
{
    const float(*lm)[3] = (const float(*)[3])ob->landmarks;
    float rx, ry, lx, ly; // subject's right eye (image left), left eye (image right)
    mean_point(lm, DFD_MESH_RIGHT_EYE_OUTER, DFD_MESH_RIGHT_EYE_INNER, &rx, &ry);
    mean_point(lm, DFD_MESH_LEFT_EYE_INNER, DFD_MESH_LEFT_EYE_OUTER, &lx, &ly);
    float a = level_angle(rx, ry, lx, ly);
    // Levelled axes: u along (cos a, -sin a), v along (sin a, cos a) (dfd_affine_crop's frame).
    float c = cosf(a), s = sinf(a);
    float u0 = INFINITY, u1 = -INFINITY, v0 = INFINITY, v1 = -INFINITY;
    for (int i = 0; i < DFD_MESH_POINTS; i++) {
        float u = lm[i][0] * c - lm[i][1] * s, v = lm[i][0] * s + lm[i][1] * c;
        u0 = fminf(u0, u);
        u1 = fmaxf(u1, u);
        v0 = fminf(v0, v);
        v1 = fmaxf(v1, v);
    }
    float uc = (u0 + u1) / 2, vc = (v0 + v1) / 2;
    ob->cx = uc * c + vc * s;
    ob->cy = -uc * s + vc * c;
    ob->roll = a;
    *extent = fmaxf(u1 - u0, v1 - v0);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// Place every crop of an identity, give them the identity's median size, and cut them.
static dfd_status cut_crops(dfd_face_engine *e, dfd_face_identity *id, const dfd_frame_set *frames,
                            dfd_error *err)
{
    float *ext = dfd_malloc(id->n * sizeof *ext);
    if (!ext) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "face stage: out of memory");
    }
    for (size_t k = 0; k < id->n; k++) {
        place_crop(&id->obs[k], &ext[k]);
    }
    if (id->n > 1) {
        qsort(ext, id->n, sizeof *ext, cmp_float);
    }
    float side =
        e->o.margin * (id->n % 2 ? ext[id->n / 2] : (ext[id->n / 2 - 1] + ext[id->n / 2]) / 2);
    dfd_free(ext);
    const int cs = e->o.crop_size;
    for (size_t k = 0; k < id->n; k++) {
        dfd_face_obs *ob = &id->obs[k];
        ob->side = side;
        double m[6];
        dfd_affine_crop(m, ob->cx, ob->cy, side, ob->roll, cs, cs);
        if (dfd_image_alloc(&ob->crop, cs, cs, 3) != DFD_OK) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "face stage: out of memory");
        }
        dfd_status st = dfd_image_warp_affine(&ob->crop, &frames->frames[ob->frame].image, m, NULL);
        if (st) {
            return dfd_error_set(err, st, "face stage: cannot crop frame %zu", ob->frame);
        }
    }
    return DFD_OK;
}

// ---- the stage ----

// Keep the detections at least min_size on their shorter side; counts what was dropped.
static dfd_status filter_small(dfd_frame_faces *ff, size_t n, float min_size, size_t *n_all,
                               size_t *n_small)
{
    *n_all = *n_small = 0;
    for (size_t f = 0; f < n; f++) {
        size_t k = 0;
        for (size_t i = 0; i < ff[f].n; i++) {
            const dfd_detection *d = &ff[f].faces[i];
            if (fminf(d->x1 - d->x0, d->y1 - d->y0) >= min_size) {
                ff[f].faces[k++] = *d;
            } else {
                (*n_small)++;
            }
        }
        *n_all += ff[f].n;
        ff[f].n = k;
    }
    return DFD_OK;
}

static int cmp_identity(const void *a, const void *b)
{
    const dfd_face_identity *x = a, *y = b;
    if (x->n != y->n) {
        return (x->n < y->n) - (x->n > y->n);
    }
    return (x->mean_score < y->mean_score) - (x->mean_score > y->mean_score);
}

// Drop the observations FaceMesh rejected, then identities left too short; sort the rest.
static void drop_rejected(dfd_face_result *r, float min_presence, size_t need)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n_ids; i++) {
        dfd_face_identity *id = &r->ids[i];
        size_t k = 0;
        double score = 0;
        for (size_t j = 0; j < id->n; j++) {
            if (id->obs[j].presence >= min_presence) {
                score += (double)id->obs[j].det.score;
                id->obs[k++] = id->obs[j];
            } else {
                dfd_free(id->obs[j].landmarks);
            }
        }
        id->n = k;
        if (k >= need) {
            id->mean_score = (float)(score / (double)k);
            r->ids[kept++] = *id;
        } else {
            identity_free(id);
        }
    }
    r->n_ids = kept;
    if (r->n_ids > 1) {
        qsort(r->ids, r->n_ids, sizeof *r->ids, cmp_identity);
    }
}

static size_t frames_with_face(const dfd_face_result *r, size_t n_frames)
{
    size_t count = 0;
    for (size_t f = 0; f < n_frames; f++) {
        bool any = false;
        for (size_t i = 0; i < r->n_ids && !any; i++) {
            for (size_t j = 0; j < r->ids[i].n && !any; j++) {
                any = r->ids[i].obs[j].frame == f;
            }
        }
        count += any;
    }
    return count;
}

// Identities from tracks; observations carry the detections, not yet landmarks or crops.
static dfd_status build_identities(dfd_face_result *r, const dfd_track *tracks, size_t n_tracks,
                                   const dfd_frame_faces *ff, const dfd_frame_set *frames)
{
    r->ids = dfd_calloc(n_tracks, sizeof *r->ids);
    if (!r->ids) {
        return DFD_ERR_NOMEM;
    }
    for (size_t t = 0; t < n_tracks; t++) {
        dfd_face_identity *id = &r->ids[r->n_ids++];
        id->obs = dfd_calloc(tracks[t].n, sizeof *id->obs);
        if (!id->obs) {
            return DFD_ERR_NOMEM;
        }
        id->n = tracks[t].n;
        for (size_t k = 0; k < tracks[t].n; k++) {
            const dfd_track_link *l = &tracks[t].links[k];
            dfd_face_obs *ob = &id->obs[k];
            ob->frame = l->frame;
            ob->frame_index = frames->frames[l->frame].index;
            ob->pts_s = frames->frames[l->frame].pts_s;
            ob->det = ff[l->frame].faces[l->det];
        }
    }
    return DFD_OK;
}

static dfd_status landmark_all(dfd_face_engine *e, dfd_face_result *r, const dfd_frame_set *frames,
                               dfd_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_ids; i++) {
        n += r->ids[i].n;
    }
    dfd_face_obs **all = dfd_malloc((n ? n : 1) * sizeof *all);
    if (!all) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "face stage: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n_ids; i++) {
        for (size_t j = 0; j < r->ids[i].n; j++) {
            all[k++] = &r->ids[i].obs[j];
        }
    }
    dfd_status st = run_mesh(e, all, n, frames, err);
    dfd_free(all);
    return st;
}

static void set_outcome(dfd_face_result *r, dfd_face_outcome o, size_t n_all, size_t n_small,
                        size_t n_tracks_before)
{
    r->outcome = o;
    switch (o) {
    case DFD_FACES_FOUND:
        snprintf(r->reason, sizeof r->reason, "%zu face%s in %zu of %zu frames", r->n_ids,
                 r->n_ids == 1 ? "" : "s", r->n_frames_with_face, r->n_frames);
        break;
    case DFD_NO_FACE_NONE_FOUND:
        snprintf(r->reason, sizeof r->reason, "no face found in %zu frames", r->n_frames);
        break;
    case DFD_NO_FACE_TOO_SMALL:
        snprintf(r->reason, sizeof r->reason, "%zu faces found, all smaller than the minimum size",
                 n_all);
        break;
    case DFD_NO_FACE_TOO_FEW_FRAMES:
        snprintf(r->reason, sizeof r->reason,
                 "%zu faces found, none seen in enough of the %zu frames to trust", n_all - n_small,
                 r->n_frames);
        break;
    case DFD_NO_FACE_REJECTED:
        snprintf(r->reason, sizeof r->reason, "%zu tracked face%s rejected by the landmark model",
                 n_tracks_before, n_tracks_before == 1 ? "" : "s");
        break;
    }
}

dfd_status dfd_faces_extract(dfd_face_result *out, dfd_face_engine *e, const dfd_frame_set *frames,
                             dfd_error *err)
{
    memset(out, 0, sizeof *out);
    const size_t n = frames->n;
    out->n_frames = n;
    for (size_t i = 0; i < n; i++) {
        if (frames->frames[i].image.c != 3 || !frames->frames[i].image.data) {
            return dfd_error_set(err, DFD_ERR_INVALID, "face stage: frame %zu is not RGB", i);
        }
    }
    if (n == 0) {
        set_outcome(out, DFD_NO_FACE_NONE_FOUND, 0, 0, 0);
        return DFD_OK;
    }
    dfd_frame_faces *ff = dfd_calloc(n, sizeof *ff);
    dfd_image *imgs = dfd_malloc(n * sizeof *imgs);
    int64_t *index = dfd_malloc(n * sizeof *index);
    if (!ff || !imgs || !index) {
        dfd_free(ff);
        dfd_free(imgs);
        dfd_free(index);
        return dfd_error_set(err, DFD_ERR_NOMEM, "face stage: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        imgs[i] = frames->frames[i].image;
        index[i] = frames->frames[i].index;
    }
    double t0 = dfd_now();
    const size_t inputs0 = dfd_detector_n_inputs(e->det);
    dfd_status st = dfd_detector_run_video(ff, e->det, imgs, index, n, err);
    out->n_detector_inputs = dfd_detector_n_inputs(e->det) - inputs0;
    dfd_free(imgs);
    dfd_free(index);
    out->seconds_detect = dfd_now() - t0;
    dfd_track *tracks = NULL;
    size_t n_tracks = 0, n_all = 0, n_small = 0;
    if (!st) {
        filter_small(ff, n, e->o.detector.min_size, &n_all, &n_small);
        st = dfd_track_faces_sampled(&tracks, &n_tracks, ff, frames, e->o.max_gap,
                                     e->o.min_track_frames, e->o.min_track_frac);
        if (st) {
            dfd_error_set(err, st, "face stage: out of memory");
        }
    }
    if (!st && n_tracks && build_identities(out, tracks, n_tracks, ff, frames) != DFD_OK) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "face stage: out of memory");
    }
    dfd_tracks_free(tracks, n_tracks);
    dfd_frame_faces_free(ff, n);
    dfd_free(ff);
    if (!st && n_tracks) {
        t0 = dfd_now();
        st = landmark_all(e, out, frames, err);
        out->seconds_mesh = dfd_now() - t0;
    }
    if (!st && n_tracks) {
        size_t need = (size_t)ceilf(e->o.min_track_frac * (float)n);
        need = need < (size_t)e->o.min_track_frames ? (size_t)e->o.min_track_frames : need;
        drop_rejected(out, e->o.min_presence, need);
        t0 = dfd_now();
        for (size_t i = 0; i < out->n_ids && !st; i++) {
            st = cut_crops(e, &out->ids[i], frames, err);
        }
        out->seconds_crop = dfd_now() - t0;
    }
    if (st) {
        dfd_face_result_free(out);
        return st;
    }
    out->n_frames_with_face = frames_with_face(out, n);
    dfd_face_outcome o = DFD_FACES_FOUND;
    if (out->n_ids == 0) {
        o = n_all == 0         ? DFD_NO_FACE_NONE_FOUND
            : n_all == n_small ? DFD_NO_FACE_TOO_SMALL
            : n_tracks == 0    ? DFD_NO_FACE_TOO_FEW_FRAMES
                               : DFD_NO_FACE_REJECTED;
    }
    set_outcome(out, o, n_all, n_small, n_tracks);
    return DFD_OK;
}
