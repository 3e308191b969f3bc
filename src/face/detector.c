// BlazeFace: letterbox, network, anchor decoding, weighted NMS, zooms and tiles.
#include "dfdetect/face/detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/image/resize.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/util/alloc.h"

#define INPUT          256
#define N_ANCHORS      896
#define MAX_CANDIDATES 896
#define MAX_TILES      16
#define PROBE_EVERY    4
// Faces smaller than this in the network's input (pixels of 256) are found, but their boxes are
// coarse (and some are not faces): each gets a closer look, a square where it is ZOOM_INPUT
// pixels of the input (at most MAX_ZOOMS per frame).
#define RELIABLE_INPUT 16.f
#define ZOOM_INPUT     64.f
#define MAX_ZOOMS      4

struct dfd_detector {
    const dfd_graph *graph;
    dfd_detector_opts opts;
    dfd_session *session;                   // batch = opts.batch
    dfd_session *single;                    // batch 1, for the jobs short of a full batch
    int out_s16, out_s32, out_b16, out_b32; // output indices
    dfd_image square;                       // INPUT x INPUT letterbox scratch
    size_t n_inputs;                        // network inputs run so far
};

dfd_detector_opts dfd_detector_opts_default(void)
{
    dfd_detector_opts o = { .min_score = 0.6f,
                            .nms_iou = 0.3f,
                            .min_size = 24,
                            .tiles = true,
                            .batch = 1,
                            .n_threads = 0 };
    return o;
}

void dfd_detector_free(dfd_detector *d)
{
    if (!d) {
        return;
    }
    dfd_session_free(d->session);
    dfd_session_free(d->single);
    dfd_image_free(&d->square);
    dfd_free(d);
}

dfd_status dfd_detector_create(dfd_detector **out, const dfd_graph *graph,
                               const dfd_detector_opts *opts, dfd_error *err)
{
    *out = NULL;
    dfd_detector_opts o = opts ? *opts : dfd_detector_opts_default();
    if (o.batch < 1 || o.batch > 64 || !(o.min_score >= 0 && o.min_score <= 1) ||
        !(o.nms_iou > 0 && o.nms_iou < 1) || o.min_size < 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "face detector: invalid options");
    }
    // BlazeFace's outputs: scores of the stride-16 and stride-32 anchors, then their boxes.
    int s16 = dfd_graph_find_output(graph, "Identity:0");
    int s32 = dfd_graph_find_output(graph, "Identity_1:0");
    int b16 = dfd_graph_find_output(graph, "Identity_2:0");
    int b32 = dfd_graph_find_output(graph, "Identity_3:0");
    if (s16 < 0 || s32 < 0 || b16 < 0 || b32 < 0 || dfd_graph_n_inputs(graph) != 1) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "face detector: the model is not BlazeFace (outputs missing)");
    }
    dfd_detector *d = dfd_calloc(1, sizeof *d);
    if (!d) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
    }
    d->graph = graph;
    d->opts = o;
    d->out_s16 = s16;
    d->out_s32 = s32;
    d->out_b16 = b16;
    d->out_b32 = b32;
    dfd_session_opts so = dfd_session_opts_default();
    so.n_threads = o.n_threads;
    dfd_status st = dfd_session_create(&d->session, graph, o.batch, &so, err);
    if (!st && o.batch > 1) {
        st = dfd_session_create(&d->single, graph, 1, &so, err);
    }
    if (!st && dfd_image_alloc(&d->square, INPUT, INPUT, 3) != DFD_OK) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
    }
    if (st) {
        dfd_detector_free(d);
        return st;
    }
    *out = d;
    return DFD_OK;
}

size_t dfd_detector_n_inputs(const dfd_detector *d)
{
    return d->n_inputs;
}

void dfd_frame_faces_free(dfd_frame_faces *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        dfd_free(f[i].faces);
        f[i].faces = NULL;
        f[i].n = 0;
    }
}

float dfd_box_iou(const dfd_detection *a, const dfd_detection *b)
{
    float ix0 = fmaxf(a->x0, b->x0), iy0 = fmaxf(a->y0, b->y0);
    float ix1 = fminf(a->x1, b->x1), iy1 = fminf(a->y1, b->y1);
    float iw = ix1 - ix0, ih = iy1 - iy0;
    if (iw <= 0 || ih <= 0) {
        return 0;
    }
    float inter = iw * ih;
    float ua = (a->x1 - a->x0) * (a->y1 - a->y0) + (b->x1 - b->x0) * (b->y1 - b->y0) - inter;
    return ua > 0 ? inter / ua : 0;
}

// ---- decoding ----

static int cmp_score_desc(const void *a, const void *b)
{
    float x = ((const dfd_detection *)a)->score, y = ((const dfd_detection *)b)->score;
    return (x < y) - (x > y);
}

// Candidates of one anchor layer: grid g x g, k anchors per cell, stride INPUT / g. Anchor
// centres are at ((x + 0.5) * stride, (y + 0.5) * stride), anchors ordered row, column, anchor
// (the NHWC order of the head). Regressors: [dx, dy, w, h, kp0x, kp0y, ...] in input pixels,
// box centre = anchor + (dx, dy), sizes absolute (not log-encoded).
static size_t decode_layer(dfd_detection *out, size_t n, const float *scores, const float *boxes,
                           int g, int k, float min_score)
{
    const float stride = (float)INPUT / (float)g;
    for (int y = 0, a = 0; y < g; y++) {
        for (int x = 0; x < g; x++) {
            for (int j = 0; j < k; j++, a++) {
                float logit = fminf(fmaxf(scores[a], -100.f), 100.f);
                float score = 1.0f / (1.0f + expf(-logit));
                if (score < min_score || n >= MAX_CANDIDATES) {
                    continue;
                }
                const float *r = boxes + (size_t)a * 16;
                float ax = ((float)x + 0.5f) * stride, ay = ((float)y + 0.5f) * stride;
                float cx = ax + r[0], cy = ay + r[1], w = r[2], h = r[3];
                dfd_detection *d = &out[n++];
                d->x0 = cx - w / 2;
                d->y0 = cy - h / 2;
                d->x1 = cx + w / 2;
                d->y1 = cy + h / 2;
                d->score = score;
                d->closer = false;
                for (int p = 0; p < DFD_KP_COUNT; p++) {
                    d->kp[p][0] = ax + r[4 + 2 * p];
                    d->kp[p][1] = ay + r[5 + 2 * p];
                }
            }
        }
    }
    return n;
}

// MediaPipe's weighted NMS: take the best remaining candidate, average (by score) the boxes and
// keypoints of every candidate overlapping it by more than iou, keep the best score. c is sorted
// best first and consumed; results go to out.
// `used` is scratch of n flags provided by the caller.
static size_t weighted_nms(dfd_detection *out, size_t max_out, dfd_detection *c, size_t n,
                           float iou, bool *used)
{
    size_t n_out = 0;
    memset(used, 0, n);
    for (size_t i = 0; i < n && n_out < max_out; i++) {
        if (used[i]) {
            continue;
        }
        double wsum = 0, acc[4 + 2 * DFD_KP_COUNT] = { 0 };
        for (size_t j = i; j < n; j++) {
            if (used[j] || (j != i && dfd_box_iou(&c[i], &c[j]) <= iou)) {
                continue;
            }
            used[j] = true;
            double w = (double)c[j].score;
            wsum += w;
            acc[0] += w * (double)c[j].x0;
            acc[1] += w * (double)c[j].y0;
            acc[2] += w * (double)c[j].x1;
            acc[3] += w * (double)c[j].y1;
            for (int p = 0; p < DFD_KP_COUNT; p++) {
                acc[4 + 2 * p] += w * (double)c[j].kp[p][0];
                acc[5 + 2 * p] += w * (double)c[j].kp[p][1];
            }
        }
        dfd_detection *d = &out[n_out++];
        *d = c[i];
        d->x0 = (float)(acc[0] / wsum);
        d->y0 = (float)(acc[1] / wsum);
        d->x1 = (float)(acc[2] / wsum);
        d->y1 = (float)(acc[3] / wsum);
        for (int p = 0; p < DFD_KP_COUNT; p++) {
            d->kp[p][0] = (float)(acc[4 + 2 * p] / wsum);
            d->kp[p][1] = (float)(acc[5 + 2 * p] / wsum);
        }
    }
    return n_out;
}

size_t dfd_blazeface_decode(dfd_detection *out, size_t max_out, const float *scores16,
                            const float *scores32, const float *boxes16, const float *boxes32,
                            float min_score, float nms_iou)
{
    dfd_detection cand[MAX_CANDIDATES];
    bool used[MAX_CANDIDATES];
    size_t n = decode_layer(cand, 0, scores16, boxes16, 16, 2, min_score);
    n = decode_layer(cand, n, scores32, boxes32, 8, 6, min_score);
    if (n > 1) {
        qsort(cand, n, sizeof cand[0], cmp_score_desc);
    }
    return weighted_nms(out, max_out, cand, n, nms_iou, used);
}

// ---- letterbox and runs ----

// A square region of the frame (x, y, side in frame pixels; may extend past the frame) scaled
// to INPUT x INPUT: the region's content letterboxed (centred, black around).
typedef struct region {
    float x, y, side;
} region;

// Fill batch slot `slot` of the session input from `frame` seen through `rg`.
static dfd_status fill_slot(dfd_detector *d, float *in, const dfd_image *frame, const region *rg)
{
    // The part of the region inside the frame, and where it lands in the square.
    float s = (float)INPUT / rg->side;
    int fx0 = (int)fmaxf(0.f, floorf(rg->x)), fy0 = (int)fmaxf(0.f, floorf(rg->y));
    int fx1 = (int)fminf((float)frame->w, ceilf(rg->x + rg->side));
    int fy1 = (int)fminf((float)frame->h, ceilf(rg->y + rg->side));
    int dx0 = (int)lroundf(((float)fx0 - rg->x) * s), dy0 = (int)lroundf(((float)fy0 - rg->y) * s);
    int dw = (int)lroundf((float)(fx1 - fx0) * s), dh = (int)lroundf((float)(fy1 - fy0) * s);
    dx0 = dx0 < 0 ? 0 : (dx0 > INPUT - 1 ? INPUT - 1 : dx0);
    dy0 = dy0 < 0 ? 0 : (dy0 > INPUT - 1 ? INPUT - 1 : dy0);
    dw = dw < 1 ? 1 : (dx0 + dw > INPUT ? INPUT - dx0 : dw);
    dh = dh < 1 ? 1 : (dy0 + dh > INPUT ? INPUT - dy0 : dh);
    memset(d->square.data, 0, d->square.stride * (size_t)INPUT);
    if (fx1 > fx0 && fy1 > fy0 && dw > 0 && dh > 0) {
        dfd_image src = dfd_image_view(frame, fx0, fy0, fx1 - fx0, fy1 - fy0);
        dfd_image dst = dfd_image_view(&d->square, dx0, dy0, dw, dh);
        dfd_status st = dfd_image_resize(&dst, &src, s < 1 ? DFD_RESIZE_AREA : DFD_RESIZE_BILINEAR);
        if (st) {
            return st;
        }
    }
    for (int y = 0; y < INPUT; y++) {
        const uint8_t *p = d->square.data + (size_t)y * d->square.stride;
        float *o = in + (size_t)y * INPUT * 3;
        for (int i = 0; i < INPUT * 3; i++) {
            o[i] = (float)p[i] / 127.5f - 1.0f; // BlazeFace's input range [-1, 1]
        }
    }
    return DFD_OK;
}

// Map a detection from input pixels back to frame pixels through the region.
static void to_frame(dfd_detection *det, const region *rg)
{
    float k = rg->side / (float)INPUT;
    det->x0 = rg->x + det->x0 * k;
    det->y0 = rg->y + det->y0 * k;
    det->x1 = rg->x + det->x1 * k;
    det->y1 = rg->y + det->y1 * k;
    for (int p = 0; p < DFD_KP_COUNT; p++) {
        det->kp[p][0] = rg->x + det->kp[p][0] * k;
        det->kp[p][1] = rg->y + det->kp[p][1] * k;
    }
}

// One job: a frame seen through a region; results accumulate into the frame's candidates.
typedef struct job {
    size_t frame;
    region rg;
} job;

typedef struct pending {
    dfd_detection *c; // candidates of the frame (frame pixels)
    size_t n, cap;
    bool closer;        // a zoom or the tile pass ran on this frame
    size_t n_from_pass; // candidates the latest closer pass added
} pending;

static dfd_status add_candidates(pending *p, const dfd_detection *c, size_t n)
{
    if (p->n + n > p->cap) {
        size_t cap = (p->n + n) * 2;
        dfd_detection *nc = dfd_realloc(p->c, cap * sizeof *nc);
        if (!nc) {
            return DFD_ERR_NOMEM;
        }
        p->c = nc;
        p->cap = cap;
    }
    if (n > 0) {
        memcpy(p->c + p->n, c, n * sizeof *c);
    }
    p->n += n;
    return DFD_OK;
}

// Run the jobs in batches, adding what each finds to its frame's pending candidates. A batch
// costs the same however many of its slots are filled, so the jobs short of a full batch run one
// at a time (the zoom waves of dfd_detector_run_video have one job per run of frames).
static dfd_status run_jobs(dfd_detector *d, const dfd_image *frames, const job *jobs, size_t n_jobs,
                           pending *pend, bool closer, dfd_error *err)
{
    const size_t per_item = (size_t)INPUT * INPUT * 3;
    for (size_t j0 = 0; j0 < n_jobs;) {
        size_t B = (size_t)d->opts.batch;
        dfd_session *s = d->session;
        if (n_jobs - j0 < B && d->single) {
            B = 1;
            s = d->single;
        }
        size_t nb = n_jobs - j0 < B ? n_jobs - j0 : B;
        dfd_tensor *in = dfd_session_input(s, 0);
        for (size_t k = 0; k < nb; k++) {
            const job *jb = &jobs[j0 + k];
            if (fill_slot(d, in->data + k * per_item, &frames[jb->frame], &jb->rg) != DFD_OK) {
                return dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
            }
        }
        dfd_status st = dfd_session_run(s, err);
        if (st) {
            return st;
        }
        d->n_inputs += nb;
        const dfd_tensor *s16 = dfd_session_output(s, (size_t)d->out_s16);
        const dfd_tensor *s32 = dfd_session_output(s, (size_t)d->out_s32);
        const dfd_tensor *b16 = dfd_session_output(s, (size_t)d->out_b16);
        const dfd_tensor *b32 = dfd_session_output(s, (size_t)d->out_b32);
        for (size_t k = 0; k < nb; k++) {
            const job *jb = &jobs[j0 + k];
            dfd_detection found[64];
            size_t nf = dfd_blazeface_decode(found, 64, s16->data + k * 512, s32->data + k * 384,
                                             b16->data + k * 512 * 16, b32->data + k * 384 * 16,
                                             d->opts.min_score, d->opts.nms_iou);
            for (size_t i = 0; i < nf; i++) {
                to_frame(&found[i], &jb->rg);
                found[i].closer = closer;
            }
            if (add_candidates(&pend[jb->frame], found, nf) != DFD_OK) {
                return dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
            }
            pend[jb->frame].n_from_pass += nf;
        }
        j0 += nb;
    }
    return DFD_OK;
}

// Overlapping square tiles covering a frame, each about 3.3x larger in the detector than the
// whole frame: side = 0.3 * the long edge (at least INPUT), stepping by 75% of a side (12 tiles
// for 16:9).
static size_t make_tiles(region *t, const dfd_image *f)
{
    float longest = (float)(f->w > f->h ? f->w : f->h);
    float side = fmaxf(0.3f * longest, (float)INPUT);
    if (side >= longest) {
        return 0; // the frame is already seen at this scale
    }
    float step = 0.75f * side;
    size_t n = 0;
    for (float y = 0;; y += step) {
        float yy = fminf(y, fmaxf(0.f, (float)f->h - side));
        for (float x = 0;; x += step) {
            float xx = fminf(x, fmaxf(0.f, (float)f->w - side));
            if (n < MAX_TILES) {
                t[n++] = (region){ xx, yy, side };
            }
            if (x + side >= (float)f->w) {
                break;
            }
        }
        if (y + side >= (float)f->h) {
            break;
        }
    }
    return n;
}

// Side of a whole-frame candidate as the network saw it (input pixels).
static float input_side(const dfd_detection *c, const dfd_image *f)
{
    return fminf(c->x1 - c->x0, c->y1 - c->y0) * (float)INPUT / (float)(f->w > f->h ? f->w : f->h);
}

// A candidate whose box can be trusted: seen closely, or large enough in the whole frame.
static bool reliable(const dfd_detection *c, const dfd_image *f)
{
    return c->closer || input_side(c, f) >= RELIABLE_INPUT;
}

// The square of a closer look at a small find: the find ZOOM_INPUT pixels wide in the input.
static region zoom_region(const dfd_detection *c)
{
    float side = fmaxf(fminf(c->x1 - c->x0, c->y1 - c->y0) * (float)INPUT / ZOOM_INPUT, ZOOM_INPUT);
    float cx = (c->x0 + c->x1) / 2, cy = (c->y0 + c->y1) / 2;
    return (region){ cx - side / 2, cy - side / 2, side };
}

// A find too small in the whole frame for its box to be trusted, which a zoom would enlarge.
static bool needs_zoom(const dfd_detection *c, const dfd_image *f)
{
    float longest = (float)(f->w > f->h ? f->w : f->h);
    return input_side(c, f) < RELIABLE_INPUT && zoom_region(c).side < longest;
}

// Final per-frame result: weighted NMS over everything found, minimum size, best first. Where
// a closer pass ran, whole-frame candidates too small to be reliable are left out: the closer
// look saw the same faces larger (or found they were not faces), and averaging in the coarse
// boxes would only blur its boxes.
static dfd_status finish_frame(dfd_frame_faces *out, pending *p, const dfd_detector_opts *o,
                               const dfd_image *frame)
{
    out->faces = NULL;
    out->n = 0;
    if (p->closer) {
        size_t k = 0;
        for (size_t i = 0; i < p->n; i++) {
            if (reliable(&p->c[i], frame)) {
                p->c[k++] = p->c[i];
            }
        }
        p->n = k;
    }
    if (p->n == 0) {
        return DFD_OK;
    }
    if (p->n > 1) {
        qsort(p->c, p->n, sizeof *p->c, cmp_score_desc);
    }
    dfd_detection *merged = dfd_malloc(p->n * sizeof *merged);
    bool *used = dfd_malloc(p->n);
    if (!merged || !used) {
        dfd_free(merged);
        dfd_free(used);
        return DFD_ERR_NOMEM;
    }
    size_t m = weighted_nms(merged, p->n, p->c, p->n, o->nms_iou, used), k = 0;
    dfd_free(used);
    for (size_t i = 0; i < m; i++) {
        float side = fminf(merged[i].x1 - merged[i].x0, merged[i].y1 - merged[i].y0);
        if (side >= o->min_size) {
            merged[k++] = merged[i];
        }
    }
    out->faces = merged;
    out->n = k;
    return DFD_OK;
}

// Every frame seen whole, small finds zoomed, faceless frames tiled unless `tiles` is false (the
// header's procedure).
static dfd_status detect_frames(dfd_frame_faces *out, dfd_detector *d, const dfd_image *frames,
                                size_t n, bool tiles, dfd_error *err)
{
    pending *pend = dfd_calloc(n ? n : 1, sizeof *pend);
    job *jobs = dfd_malloc((n ? n : 1) * MAX_TILES * sizeof *jobs);
    dfd_status st = DFD_OK;
    if (!pend || !jobs) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
        goto done;
    }
    // Pass 1: each whole frame, letterboxed into a square centred on it.
    for (size_t i = 0; i < n; i++) {
        float side = (float)(frames[i].w > frames[i].h ? frames[i].w : frames[i].h);
        jobs[i] =
            (job){ i, { ((float)frames[i].w - side) / 2, ((float)frames[i].h - side) / 2, side } };
    }
    st = run_jobs(d, frames, jobs, n, pend, false, err);
    // Pass 2: a closer look at each small find, in a square around it. It costs one network
    // input per small face instead of a frame's worth of tiles.
    size_t n_zoom = 0;
    for (size_t i = 0; !st && d->opts.tiles && i < n; i++) {
        size_t nz = 0, n0 = pend[i].n;
        for (size_t k = 0; k < n0 && nz < MAX_ZOOMS; k++) {
            const dfd_detection *c = &pend[i].c[k];
            if (!needs_zoom(c, &frames[i])) {
                continue;
            }
            jobs[n_zoom++] = (job){ i, zoom_region(c) };
            pend[i].closer = true;
            nz++;
        }
    }
    if (!st && n_zoom) {
        st = run_jobs(d, frames, jobs, n_zoom, pend, true, err);
    }
    // Pass 3: tiles of the frames where pass 1 found no face of a usable size. Every
    // PROBE_EVERY-th of them goes first; the others only if the probes find a face, so a video
    // without faces pays for a quarter of its frames (a face that recurs often enough to be
    // tracked is in consecutive frames, and cannot slip between probes).
    size_t *need = dfd_malloc((n ? n : 1) * sizeof *need), n_need = 0;
    if (!need) {
        st = st ? st : dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
    }
    for (size_t i = 0; !st && d->opts.tiles && tiles && i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < pend[i].n; k++) {
            const dfd_detection *c = &pend[i].c[k];
            found |=
                fminf(c->x1 - c->x0, c->y1 - c->y0) >= d->opts.min_size && reliable(c, &frames[i]);
        }
        if (!found) {
            pend[i].n_from_pass = 0;
            need[n_need++] = i;
        }
    }
    bool probes_found = n_need <= PROBE_EVERY;
    for (int round = 0; round < 2 && !st; round++) {
        size_t n_jobs = 0;
        for (size_t k = 0; k < n_need; k++) {
            bool probe = k % PROBE_EVERY == 0;
            if (round == 0 ? !probe : (probe || !probes_found)) {
                continue;
            }
            region t[MAX_TILES];
            size_t nt = make_tiles(t, &frames[need[k]]);
            pend[need[k]].closer |= nt > 0;
            for (size_t j = 0; j < nt; j++) {
                jobs[n_jobs++] = (job){ need[k], t[j] };
            }
        }
        if (n_jobs) {
            st = run_jobs(d, frames, jobs, n_jobs, pend, true, err);
        }
        for (size_t k = 0; k < n_need && round == 0; k += PROBE_EVERY) {
            probes_found |= pend[need[k]].n_from_pass > 0;
        }
    }
    dfd_free(need);
    for (size_t i = 0; !st && i < n; i++) {
        if (finish_frame(&out[i], &pend[i], &d->opts, &frames[i]) != DFD_OK) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
        }
    }
done:
    for (size_t i = 0; pend && i < n; i++) {
        dfd_free(pend[i].c);
    }
    dfd_free(pend);
    dfd_free(jobs);
    if (st) {
        dfd_frame_faces_free(out, n);
    }
    return st;
}

static dfd_status check_frames(dfd_frame_faces *out, const dfd_image *frames, size_t n,
                               dfd_error *err)
{
    for (size_t i = 0; i < n; i++) {
        out[i].faces = NULL;
        out[i].n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (frames[i].c != 3 || !frames[i].data) {
            return dfd_error_set(err, DFD_ERR_INVALID, "face detector: frame %zu is not RGB", i);
        }
    }
    return DFD_OK;
}

dfd_status dfd_detector_run(dfd_frame_faces *out, dfd_detector *d, const dfd_image *frames,
                            size_t n, dfd_error *err)
{
    dfd_status st = check_frames(out, frames, n, err);
    return st ? st : detect_frames(out, d, frames, n, true, err);
}

// ---- following small faces through consecutive frames ----

// The whole procedure on the frames sel[0..n_sel), results into out at their positions.
static dfd_status detect_subset(dfd_frame_faces *out, dfd_detector *d, const dfd_image *frames,
                                const size_t *sel, size_t n_sel, bool tiles, dfd_error *err)
{
    if (n_sel == 0) {
        return DFD_OK;
    }
    dfd_image *imgs = dfd_malloc(n_sel * sizeof *imgs);
    dfd_frame_faces *res = dfd_malloc(n_sel * sizeof *res);
    if (!imgs || !res) {
        dfd_free(imgs);
        dfd_free(res);
        return dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
    }
    for (size_t k = 0; k < n_sel; k++) {
        imgs[k] = frames[sel[k]];
    }
    dfd_status st = detect_frames(res, d, imgs, n_sel, tiles, err);
    for (size_t k = 0; !st && k < n_sel; k++) {
        out[sel[k]] = res[k];
    }
    dfd_free(imgs);
    dfd_free(res);
    return st;
}

// Whether the next frame can be seen through zooms around these faces alone: every face was
// found by a closer look (its whole-frame find, if any, only told where to look) and a zoom
// around it is still smaller than the frame.
static bool followable(const dfd_frame_faces *f, const dfd_image *frame)
{
    const float longest = (float)(frame->w > frame->h ? frame->w : frame->h);
    if (f->n == 0 || f->n > MAX_ZOOMS) {
        return false;
    }
    for (size_t k = 0; k < f->n; k++) {
        if (!f->faces[k].closer || zoom_region(&f->faces[k]).side >= longest) {
            return false;
        }
    }
    return true;
}

// One wave: each frame whose predecessor is done and followable gets zooms around the
// predecessor's faces (all such frames batched together). A frame that keeps every face is
// done; one that loses a face is marked lost and left for the whole procedure. Returns the
// number of frames tried (0: nothing left to follow).
static dfd_status follow_wave(size_t *n_tried, dfd_frame_faces *out, dfd_detector *d,
                              const dfd_image *frames, const int64_t *index, size_t n, bool *done,
                              bool *lost, pending *pend, job *jobs, dfd_error *err)
{
    size_t n_jobs = 0;
    *n_tried = 0;
    for (size_t i = 1; i < n; i++) {
        if (done[i] || lost[i] || !done[i - 1] || index[i] != index[i - 1] + 1 ||
            !followable(&out[i - 1], &frames[i - 1])) {
            continue;
        }
        for (size_t k = 0; k < out[i - 1].n; k++) {
            jobs[n_jobs++] = (job){ i, zoom_region(&out[i - 1].faces[k]) };
        }
        pend[i].closer = true;
        (*n_tried)++;
    }
    dfd_status st = n_jobs ? run_jobs(d, frames, jobs, n_jobs, pend, true, err) : DFD_OK;
    for (size_t i = 1; !st && i < n; i++) {
        if (!pend[i].closer) {
            continue;
        }
        if (finish_frame(&out[i], &pend[i], &d->opts, &frames[i]) != DFD_OK) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
        } else if (out[i].n >= out[i - 1].n) {
            done[i] = true;
        } else {
            dfd_frame_faces_free(&out[i], 1);
            lost[i] = true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        dfd_free(pend[i].c);
        memset(&pend[i], 0, sizeof pend[i]);
    }
    return st;
}

dfd_status dfd_detector_run_video(dfd_frame_faces *out, dfd_detector *d, const dfd_image *frames,
                                  const int64_t *index, size_t n, dfd_error *err)
{
    dfd_status st = check_frames(out, frames, n, err);
    if (st || !index || !d->opts.tiles || n < 2) {
        return st ? st : detect_frames(out, d, frames, n, true, err);
    }
    size_t *sel = dfd_malloc(n * sizeof *sel), n_sel = 0;
    bool *done = dfd_calloc(n, 2 * sizeof *done);
    pending *pend = dfd_calloc(n, sizeof *pend);
    job *jobs = dfd_malloc(n * MAX_ZOOMS * sizeof *jobs);
    if (!sel || !done || !pend || !jobs) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "face detector: out of memory");
        goto done;
    }
    bool *lost = done + n;
    // The first frame of every run of consecutive frames: the whole procedure.
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || index[i] != index[i - 1] + 1) {
            sel[n_sel++] = i;
            done[i] = true;
        }
    }
    st = detect_subset(out, d, frames, sel, n_sel, true, err);
    // The frames after them, one wave per position in the runs, while the faces stay small.
    for (size_t tried = 1; !st && tried > 0;) {
        st = follow_wave(&tried, out, d, frames, index, n, done, lost, pend, jobs, err);
    }
    // Everything else (faces large or absent, or lost by a zoom): the whole procedure, together,
    // so faceless frames share the tile probes; but frames of a run whose first frame showed no
    // face even in tiles are not tiled again (a face too small for the whole frame does not
    // appear from one frame to the next).
    for (int pass = 0; pass < 2 && !st; pass++) {
        n_sel = 0;
        for (size_t i = 0, head = 0; i < n; i++) {
            head = index[i] == index[head] + (int64_t)(i - head) ? head : i;
            bool tiled_in_vain = out[head].n == 0;
            if (!done[i] && tiled_in_vain == (pass == 1)) {
                sel[n_sel++] = i;
            }
        }
        st = detect_subset(out, d, frames, sel, n_sel, pass == 0, err);
    }
done:
    dfd_free(sel);
    dfd_free(done);
    dfd_free(pend);
    dfd_free(jobs);
    if (st) {
        dfd_frame_faces_free(out, n);
    }
    return st;
}
