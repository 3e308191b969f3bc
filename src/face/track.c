// Linking detections across frames into identities, in two steps.
//
// 1. Frame to frame (tracklets). A track continues with the detection that best matches its last
//    box: overlapping (IoU >= 0.2), or close (centre within 0.6 of the box size) with a similar
//    size (ratio within 0.5..2). Matching is greedy, cheapest pair first. A track missing more
//    than max_gap sampled frames in a row ends.
// 2. Across jumps in time (only when the frames' display indices are known). Sampling leaves
//    holes in the video: between two bursts, or between any two uniform samples, the face may
//    have moved far, so step 1 ends one tracklet and starts another for the same person. Tracklet
//    B is appended to tracklet A when all of these hold:
//    - A ends before B starts (so two faces seen in the same frame are never merged), at most
//      max_gap + 1 sampled frames apart, and video frames were skipped between A's last frame
//      and B's first (a jump: inside a burst, where frames are consecutive, step 1's verdict
//      stands);
//    - both were seen in at least 2 frames (a one-frame false positive cannot hijack a face);
//    - their mean face sides agree within a ratio of 1.4 (a face does not change size much
//      between two samples; a zoom beyond that makes a new identity);
//    - the centre moved at most 1 + 1 x dt face sides, dt the seconds between A's last and B's
//      first frame (slow camera pans and walking pass; two people in different places a fraction
//      of a second apart, as uniform samples across a cut, do not).
//    When several pairs qualify (several faces), the pairs are taken cheapest first (cost: the
//    centre distance in face sides plus |log(size ratio)|), each tracklet at most once as A and
//    once as B; with faces that are well apart this is the assignment of least total cost.
//    Geometry cannot tell two people of the same size in the same place apart (a cut between two
//    similar close-ups): those merge. Short tracks are dropped after both steps.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/face/faces.h"
#include "dfdetect/util/alloc.h"

#define MIN_IOU         0.2f
#define MAX_CENTRE_DIST 0.6f
// Step 2 (across jumps): see the top of the file.
#define JUMP_MIN_FRAMES 2
#define JUMP_MAX_RATIO  1.4f
#define JUMP_DIST       1.0f // face sides
#define JUMP_SPEED      1.0f // face sides per second

typedef struct open_track {
    dfd_track t;
    size_t cap;
    dfd_detection last;
    size_t last_frame;
    bool alive;
} open_track;

typedef struct pair {
    float cost;
    size_t track, det;
} pair;

// Cheapest first; ties in index order, so the result never depends on qsort's order.
static int cmp_pair(const void *a, const void *b)
{
    const pair *p = a, *q = b;
    if (p->cost != q->cost) {
        return (p->cost > q->cost) - (p->cost < q->cost);
    }
    if (p->track != q->track) {
        return (p->track > q->track) - (p->track < q->track);
    }
    return (p->det > q->det) - (p->det < q->det);
}

static float box_side(const dfd_detection *d)
{
    return fmaxf(d->x1 - d->x0, d->y1 - d->y0);
}

// Distance between two boxes' centres.
static float centre_dist(const dfd_detection *a, const dfd_detection *b)
{
    float dx = (a->x0 + a->x1 - b->x0 - b->x1) / 2, dy = (a->y0 + a->y1 - b->y0 - b->y1) / 2;
    return sqrtf(dx * dx + dy * dy);
}

// Matching cost of a detection for a track's last box; < 0 when they do not match.
static float match_cost(const dfd_detection *a, const dfd_detection *b)
{
    float iou = dfd_box_iou(a, b);
    float sa = box_side(a), sb = box_side(b);
    float dist = centre_dist(a, b) / fmaxf(fmaxf(sa, sb), 1.f);
    float ratio = sa > sb ? sa / fmaxf(sb, 1e-3f) : sb / fmaxf(sa, 1e-3f);
    if (iou < MIN_IOU && (dist > MAX_CENTRE_DIST || ratio > 2.f)) {
        return -1;
    }
    return (1.f - iou) + dist;
}

static dfd_status track_append(open_track *o, size_t frame, size_t det, const dfd_detection *d)
{
    if (o->t.n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        dfd_track_link *nl = dfd_realloc(o->t.links, cap * sizeof *nl);
        if (!nl) {
            return DFD_ERR_NOMEM;
        }
        o->t.links = nl;
        o->cap = cap;
    }
    o->t.links[o->t.n++] = (dfd_track_link){ frame, det };
    o->last = *d;
    o->last_frame = frame;
    return DFD_OK;
}

// Longest first; equal lengths in order of appearance.
static int cmp_track_len(const void *a, const void *b)
{
    const dfd_track *p = a, *q = b;
    if (p->n != q->n) {
        return (p->n < q->n) - (p->n > q->n);
    }
    const dfd_track_link *x = &p->links[0], *y = &q->links[0];
    if (x->frame != y->frame) {
        return (x->frame > y->frame) - (x->frame < y->frame);
    }
    return (x->det > y->det) - (x->det < y->det);
}

// ---- step 2: joining tracklets across jumps in time ----

typedef struct span {
    size_t first, last;               // sampled frames
    const dfd_detection *head, *tail; // boxes there
    float side;                       // mean face side
} span;

static span track_span(const dfd_track *t, const dfd_frame_faces *frames)
{
    const dfd_track_link *l0 = &t->links[0], *l1 = &t->links[t->n - 1];
    span s = { l0->frame, l1->frame, &frames[l0->frame].faces[l0->det],
               &frames[l1->frame].faces[l1->det], 0 };
    double sum = 0;
    for (size_t k = 0; k < t->n; k++) {
        sum += (double)box_side(&frames[t->links[k].frame].faces[t->links[k].det]);
    }
    s.side = (float)(sum / (double)t->n);
    return s;
}

// Cost of appending tracklet b to tracklet a; < 0 when the rules at the top forbid it.
static float jump_cost(const span *a, const span *b, const dfd_frame *times, int max_gap)
{
    if (a->last >= b->first || b->first - a->last > (size_t)max_gap + 1) {
        return -1;
    }
    int64_t skipped = times[b->first].index - times[a->last].index;
    if (skipped <= (int64_t)(b->first - a->last)) {
        return -1; // consecutive video frames: no jump
    }
    float lo = fmaxf(fminf(a->side, b->side), 1e-3f), hi = fmaxf(a->side, b->side);
    if (hi > JUMP_MAX_RATIO * lo) {
        return -1;
    }
    float dt = (float)(times[b->first].pts_s - times[a->last].pts_s);
    float dist = centre_dist(a->tail, b->head) / fmaxf(hi, 1.f);
    if (!(dt > 0)) {
        dt = 0;
    }
    if (dist > JUMP_DIST + JUMP_SPEED * dt) {
        return -1;
    }
    return dist + logf(hi / lo);
}

// Append tracklets to earlier ones across jumps (times: the sampled frames); joined tracklets are
// left empty (n == 0).
static dfd_status join_jumps(open_track *open, size_t n_open, const dfd_frame_faces *frames,
                             const dfd_frame *times, int max_gap)
{
    if (!times || n_open < 2) {
        return DFD_OK;
    }
    span *spans = dfd_malloc(n_open * sizeof *spans);
    size_t *next = dfd_malloc(2 * n_open * sizeof *next), *prev = next + n_open;
    pair *pairs = NULL;
    size_t n_pairs = 0, cap_pairs = 0;
    dfd_status st = DFD_OK;
    if (!spans || !next) {
        st = DFD_ERR_NOMEM;
        goto done;
    }
    for (size_t t = 0; t < n_open; t++) {
        spans[t] = track_span(&open[t].t, frames);
        next[t] = prev[t] = SIZE_MAX;
    }
    for (size_t a = 0; a < n_open; a++) {
        for (size_t b = 0; b < n_open && open[a].t.n >= JUMP_MIN_FRAMES; b++) {
            float c = open[b].t.n >= JUMP_MIN_FRAMES
                          ? jump_cost(&spans[a], &spans[b], times, max_gap)
                          : -1;
            if (c < 0) {
                continue;
            }
            if (n_pairs == cap_pairs) {
                cap_pairs = cap_pairs ? 2 * cap_pairs : 16;
                pair *np = dfd_realloc(pairs, cap_pairs * sizeof *np);
                if (!np) {
                    st = DFD_ERR_NOMEM;
                    goto done;
                }
                pairs = np;
            }
            pairs[n_pairs++] = (pair){ c, a, b };
        }
    }
    if (n_pairs > 1) {
        qsort(pairs, n_pairs, sizeof *pairs, cmp_pair);
    }
    for (size_t k = 0; k < n_pairs; k++) {
        if (next[pairs[k].track] == SIZE_MAX && prev[pairs[k].det] == SIZE_MAX) {
            next[pairs[k].track] = pairs[k].det;
            prev[pairs[k].det] = pairs[k].track;
        }
    }
    // Each chain's head takes the links of the rest (chains run forward in time).
    for (size_t h = 0; h < n_open && !st; h++) {
        if (prev[h] != SIZE_MAX) {
            continue;
        }
        for (size_t b = next[h]; b != SIZE_MAX && !st; b = next[b]) {
            for (size_t k = 0; k < open[b].t.n && !st; k++) {
                const dfd_track_link *l = &open[b].t.links[k];
                st = track_append(&open[h], l->frame, l->det, &frames[l->frame].faces[l->det]);
            }
            open[b].t.n = 0;
        }
    }
done:
    dfd_free(spans);
    dfd_free(pairs);
    dfd_free(next);
    return st;
}

void dfd_tracks_free(dfd_track *tracks, size_t n)
{
    for (size_t i = 0; tracks && i < n; i++) {
        dfd_free(tracks[i].links);
    }
    dfd_free(tracks);
}

// Both steps; times (the sampled frames, NULL: consecutive frames) enables step 2.
static dfd_status track(dfd_track **tracks, size_t *n_tracks, const dfd_frame_faces *frames,
                        const dfd_frame *times, size_t n_frames, int max_gap, int min_frames,
                        float min_frac)
{
    *tracks = NULL;
    *n_tracks = 0;
    open_track *open = NULL;
    size_t n_open = 0, cap_open = 0;
    pair *pairs = NULL;
    dfd_status st = DFD_OK;
    for (size_t f = 0; f < n_frames && !st; f++) {
        const dfd_frame_faces *ff = &frames[f];
        size_t n_pairs = 0;
        if (ff->n) {
            pair *np = dfd_realloc(pairs, (n_open ? n_open : 1) * ff->n * sizeof *np);
            if (!np) {
                st = DFD_ERR_NOMEM;
                break;
            }
            pairs = np;
        }
        for (size_t t = 0; t < n_open; t++) {
            if (!open[t].alive) {
                continue;
            }
            if ((long)(f - open[t].last_frame) > max_gap + 1) {
                open[t].alive = false;
                continue;
            }
            for (size_t d = 0; d < ff->n; d++) {
                float c = match_cost(&open[t].last, &ff->faces[d]);
                if (c >= 0) {
                    pairs[n_pairs++] = (pair){ c, t, d };
                }
            }
        }
        if (n_pairs > 1) {
            qsort(pairs, n_pairs, sizeof *pairs, cmp_pair);
        }
        bool det_used[256] = { false };
        char *track_used = dfd_calloc(n_open ? n_open : 1, 1);
        if (!track_used) {
            st = DFD_ERR_NOMEM;
            break;
        }
        for (size_t k = 0; k < n_pairs && !st; k++) {
            const pair *p = &pairs[k];
            if (track_used[p->track] || (p->det < 256 && det_used[p->det])) {
                continue;
            }
            track_used[p->track] = 1;
            if (p->det < 256) {
                det_used[p->det] = true;
            }
            st = track_append(&open[p->track], f, p->det, &ff->faces[p->det]);
        }
        dfd_free(track_used);
        // Detections nobody claimed start new tracks.
        for (size_t d = 0; d < ff->n && d < 256 && !st; d++) {
            if (det_used[d]) {
                continue;
            }
            if (n_open == cap_open) {
                size_t cap = cap_open ? cap_open * 2 : 8;
                open_track *no = dfd_realloc(open, cap * sizeof *no);
                if (!no) {
                    st = DFD_ERR_NOMEM;
                    break;
                }
                open = no;
                cap_open = cap;
            }
            memset(&open[n_open], 0, sizeof open[n_open]);
            open[n_open].alive = true;
            st = track_append(&open[n_open], f, d, &ff->faces[d]);
            n_open++;
        }
    }
    dfd_free(pairs);
    if (!st) {
        st = join_jumps(open, n_open, frames, times, max_gap);
    }
    size_t need = (size_t)ceilf(min_frac * (float)n_frames);
    if (need < (size_t)min_frames) {
        need = (size_t)min_frames;
    }
    dfd_track *out = NULL;
    size_t n_out = 0;
    if (!st && n_open) {
        out = dfd_calloc(n_open, sizeof *out);
        if (!out) {
            st = DFD_ERR_NOMEM;
        }
    }
    for (size_t t = 0; t < n_open; t++) {
        if (!st && open[t].t.n >= need && open[t].t.n > 0) {
            out[n_out++] = open[t].t;
        } else {
            dfd_free(open[t].t.links);
        }
    }
    dfd_free(open);
    if (st) {
        dfd_tracks_free(out, n_out);
        return st;
    }
    if (n_out > 1) {
        qsort(out, n_out, sizeof *out, cmp_track_len);
    }
    *tracks = out;
    *n_tracks = n_out;
    return DFD_OK;
}

dfd_status dfd_track_faces(dfd_track **tracks, size_t *n_tracks, const dfd_frame_faces *frames,
                           size_t n_frames, int max_gap, int min_frames, float min_frac)
{
    return track(tracks, n_tracks, frames, NULL, n_frames, max_gap, min_frames, min_frac);
}

dfd_status dfd_track_faces_sampled(dfd_track **tracks, size_t *n_tracks,
                                   const dfd_frame_faces *frames, const dfd_frame_set *set,
                                   int max_gap, int min_frames, float min_frac)
{
    return track(tracks, n_tracks, frames, set->frames, set->n, max_gap, min_frames, min_frac);
}
