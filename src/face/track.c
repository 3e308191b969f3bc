// Linking detections across frames into identities. A track continues with the detection that
// best matches its last box: overlapping (IoU >= 0.2), or close (centre within 0.6 of the box
// size) with a similar size (ratio within 0.5..2). Matching is greedy, cheapest pair first.
// A track missing more than max_gap frames in a row ends; short tracks are dropped.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/face/faces.h"
#include "dfdetect/util/alloc.h"

#define MIN_IOU         0.2f
#define MAX_CENTRE_DIST 0.6f

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

static int cmp_pair(const void *a, const void *b)
{
    float x = ((const pair *)a)->cost, y = ((const pair *)b)->cost;
    return (x > y) - (x < y);
}

// Matching cost of a detection for a track's last box; < 0 when they do not match.
static float match_cost(const dfd_detection *a, const dfd_detection *b)
{
    float iou = dfd_box_iou(a, b);
    float sa = fmaxf(a->x1 - a->x0, a->y1 - a->y0), sb = fmaxf(b->x1 - b->x0, b->y1 - b->y0);
    float dx = (a->x0 + a->x1 - b->x0 - b->x1) / 2, dy = (a->y0 + a->y1 - b->y0 - b->y1) / 2;
    float dist = sqrtf(dx * dx + dy * dy) / fmaxf(fmaxf(sa, sb), 1.f);
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

static int cmp_track_len(const void *a, const void *b)
{
    size_t x = ((const dfd_track *)a)->n, y = ((const dfd_track *)b)->n;
    return (x < y) - (x > y);
}

void dfd_tracks_free(dfd_track *tracks, size_t n)
{
    for (size_t i = 0; tracks && i < n; i++) {
        dfd_free(tracks[i].links);
    }
    dfd_free(tracks);
}

dfd_status dfd_track_faces(dfd_track **tracks, size_t *n_tracks, const dfd_frame_faces *frames,
                           size_t n_frames, int max_gap, int min_frames, float min_frac)
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
        if (!st && open[t].t.n >= need) {
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
