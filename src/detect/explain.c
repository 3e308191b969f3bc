// Grad-CAM of the detector's frame logit on the backbone's last feature map, heatmaps over the
// face crops, the per-frame timeline, and the folder `scan --explain` writes per file.
#include "dfdetect/detect/explain.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detect_internal.h"
#include "dfdetect/detect/backbone.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/nn/autograd.h"
#include "dfdetect/report/chart.h"
#include "dfdetect/report/grid.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"

// ---- Grad-CAM ----

struct dfd_cam {
    dfd_autograd *s;
    const char *emb, *fmap; // value names, borrowed from the graph
    int gh, gw, ch;         // the feature map's grid and channels
    int in_rank, in_shape[4];
    size_t in_numel; // per item
    int batch;
    int n_forward; // items of the last forward (0: none yet)
    float *seed;   // [batch][ch]: the embedding's gradient, zero past the items
    double *alpha; // [ch]
};

void dfd_cam_free(dfd_cam *c)
{
    if (!c) {
        return;
    }
    dfd_autograd_free(c->s);
    dfd_free(c->seed);
    dfd_free(c->alpha);
    dfd_free(c);
}

// The node computing value `id`, or NULL.
static const dfd_node *producer_of(const dfd_graph *g, int id)
{
    for (size_t i = 0; i < dfd_graph_n_nodes(g); i++) {
        if (dfd_graph_node(g, i)->out == id) {
            return dfd_graph_node(g, i);
        }
    }
    return NULL;
}

dfd_status dfd_cam_create(dfd_cam **out, dfd_graph *g, const char *embedding, int batch,
                          int n_threads, dfd_error *err)
{
    *out = NULL;
    if (batch < 1 || batch > 256) {
        return dfd_error_set(err, DFD_ERR_INVALID, "grad-cam: batch %d outside 1..256", batch);
    }
    const int id = dfd_graph_find_value(g, embedding);
    if (id < 0) {
        return dfd_error_set(err, DFD_ERR_NOT_FOUND, "grad-cam: the graph has no value %s",
                             embedding);
    }
    const dfd_node *mean = producer_of(g, id);
    const dfd_value *fmap = mean ? dfd_graph_value(g, mean->in[0]) : NULL;
    if (!mean || mean->op != DFD_OP_MEAN || fmap->rank != 4 || dfd_graph_n_inputs(g) != 1) {
        return dfd_error_set(err, DFD_ERR_FORMAT,
                             "grad-cam: %s is not the global mean of a feature map of a "
                             "one-input graph",
                             embedding);
    }
    const dfd_value *in = dfd_graph_value(g, dfd_graph_input(g, 0));
    dfd_cam *c = dfd_calloc(1, sizeof *c);
    if (!c) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "grad-cam: out of memory");
    }
    c->emb = dfd_graph_value(g, id)->name;
    c->fmap = fmap->name;
    c->gh = fmap->shape[1];
    c->gw = fmap->shape[2];
    c->ch = fmap->shape[3];
    c->in_rank = in->rank - 1;
    c->in_numel = 1;
    for (int k = 1; k < in->rank && k <= 4; k++) {
        c->in_shape[k - 1] = in->shape[k];
        c->in_numel *= (size_t)in->shape[k];
    }
    c->batch = batch;
    c->seed = dfd_calloc((size_t)batch * (size_t)c->ch, sizeof *c->seed);
    c->alpha = dfd_calloc((size_t)c->ch, sizeof *c->alpha);
    if (!c->seed || !c->alpha) {
        dfd_cam_free(c);
        return dfd_error_set(err, DFD_ERR_NOMEM, "grad-cam: out of memory");
    }
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.n_threads = n_threads;
    dfd_status st = dfd_autograd_create(&c->s, g, batch, &ao, err);
    if (!st) {
        dfd_autograd_freeze(c->s, "", true); // only the feature map's gradient is wanted
        st = dfd_autograd_watch(c->s, c->fmap, err);
    }
    if (st) {
        dfd_cam_free(c);
        return st;
    }
    *out = c;
    return DFD_OK;
}

int dfd_cam_input_shape(const dfd_cam *c, int shape[4])
{
    memcpy(shape, c->in_shape, sizeof c->in_shape);
    return c->in_rank;
}

int dfd_cam_batch(const dfd_cam *c)
{
    return c->batch;
}

void dfd_cam_grid(const dfd_cam *c, int *gh, int *gw, int *channels)
{
    *gh = c->gh;
    *gw = c->gw;
    *channels = c->ch;
}

dfd_status dfd_cam_forward(dfd_cam *c, const float **embedding, const float *input, int n,
                           dfd_error *err)
{
    *embedding = NULL;
    if (n < 1 || n > c->batch) {
        return dfd_error_set(err, DFD_ERR_INVALID, "grad-cam: %d items for a batch of %d", n,
                             c->batch);
    }
    // Items past n keep what they held: they are computed and ignored (no batch statistics).
    memcpy(dfd_autograd_input(c->s, 0)->data, input, (size_t)n * c->in_numel * sizeof *input);
    dfd_status st = dfd_autograd_forward(c->s, false, err);
    c->n_forward = st ? 0 : n;
    if (!st) {
        *embedding = dfd_autograd_value(c->s, c->emb)->data;
    }
    return st;
}

dfd_status dfd_cam_backward(float *cam, dfd_cam *c, const float *d_embedding, dfd_error *err)
{
    if (!c->n_forward) {
        return dfd_error_set(err, DFD_ERR_INVALID, "grad-cam: backward without a forward");
    }
    const size_t n = (size_t)c->n_forward, ch = (size_t)c->ch;
    memcpy(c->seed, d_embedding, n * ch * sizeof *c->seed);
    dfd_status st = dfd_autograd_set_grad(c->s, c->emb, c->seed, err);
    if (!st) {
        st = dfd_autograd_backward(c->s, err);
    }
    if (st) {
        return st;
    }
    // A: [batch, gh, gw, ch]; dA likewise. alpha_c = mean over the grid of dA_c, per item.
    const size_t cells = (size_t)c->gh * (size_t)c->gw;
    for (size_t b = 0; b < n; b++) {
        const float *a = dfd_autograd_value(c->s, c->fmap)->data + b * cells * ch;
        const float *da = dfd_autograd_grad(c->s, c->fmap)->data + b * cells * ch;
        memset(c->alpha, 0, ch * sizeof *c->alpha);
        for (size_t p = 0; p < cells; p++) {
            for (size_t k = 0; k < ch; k++) {
                c->alpha[k] += (double)da[p * ch + k];
            }
        }
        for (size_t p = 0; p < cells; p++) {
            double v = 0;
            for (size_t k = 0; k < ch; k++) {
                v += c->alpha[k] / (double)cells * (double)a[p * ch + k];
            }
            cam[b * cells + p] = v > 0 ? (float)v : 0.0f;
        }
    }
    return DFD_OK;
}

// ---- rendering ----

static float clamp01(float v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

void dfd_cam_color(uint8_t rgb[3], float v)
{
    v = clamp01(v);
    // Jet: each channel a tent of width 1.5 around 0.75 (red), 0.5 (green), 0.25 (blue).
    const float centre[3] = { 0.75f, 0.5f, 0.25f };
    for (int k = 0; k < 3; k++) {
        float t = clamp01(1.5f - fabsf(4.0f * (v - centre[k])));
        rgb[k] = (uint8_t)lroundf(t * 255.0f);
    }
}

// Bilinear sample of the gh x gw grid at grid coordinates (x, y), edges clamped.
static float sample_grid(const float *g, int gh, int gw, float x, float y)
{
    x = x < 0 ? 0 : x > (float)(gw - 1) ? (float)(gw - 1) : x;
    y = y < 0 ? 0 : y > (float)(gh - 1) ? (float)(gh - 1) : y;
    const int x0 = (int)x, y0 = (int)y;
    const int x1 = x0 + 1 < gw ? x0 + 1 : x0, y1 = y0 + 1 < gh ? y0 + 1 : y0;
    const float fx = x - (float)x0, fy = y - (float)y0;
    const float top = g[y0 * gw + x0] * (1 - fx) + g[y0 * gw + x1] * fx;
    const float bot = g[y1 * gw + x0] * (1 - fx) + g[y1 * gw + x1] * fx;
    return top * (1 - fy) + bot * fy;
}

dfd_status dfd_cam_overlay(dfd_image *out, const dfd_image *crop, const float *cam, int gh, int gw,
                           float alpha)
{
    memset(out, 0, sizeof *out);
    if (!crop->data || crop->c != 3 || gh < 1 || gw < 1 || !(alpha >= 0 && alpha <= 1)) {
        return DFD_ERR_INVALID;
    }
    dfd_status st = dfd_image_alloc(out, crop->w, crop->h, 3);
    if (st) {
        return st;
    }
    float top = 0;
    for (int i = 0; i < gh * gw; i++) {
        top = cam[i] > top ? cam[i] : top;
    }
    const float sx = (float)gw / (float)crop->w, sy = (float)gh / (float)crop->h;
    for (int y = 0; y < crop->h; y++) {
        const float gy = ((float)y + 0.5f) * sy - 0.5f;
        for (int x = 0; x < crop->w; x++) {
            const float v =
                top > 0 ? sample_grid(cam, gh, gw, ((float)x + 0.5f) * sx - 0.5f, gy) / top : 0.0f;
            uint8_t col[3];
            dfd_cam_color(col, v);
            const uint8_t *src = dfd_image_px(crop, x, y);
            uint8_t *dst = dfd_image_px(out, x, y);
            for (int k = 0; k < 3; k++) {
                dst[k] = (uint8_t)lroundf((1 - alpha) * (float)src[k] + alpha * (float)col[k]);
            }
        }
    }
    return DFD_OK;
}

// ---- the detector's explanations ----

#define HEATMAP_ALPHA 0.45f
#define EXPLAIN_BATCH 8 // crops per backbone pass: fewer, larger kernels than one at a time

struct dfd_explainer {
    const dfd_detector_model *model;
    dfd_cam *cam;
    dfd_head *head; // private copy: forward and backward keep state
    float *input;   // [EXPLAIN_BATCH][224 * 224 * 3]
    float *d_emb;   // [EXPLAIN_BATCH][DFD_BACKBONE_DIM]
};

void dfd_explainer_free(dfd_explainer *x)
{
    if (!x) {
        return;
    }
    dfd_cam_free(x->cam);
    dfd_head_free(x->head);
    dfd_free(x->input);
    dfd_free(x->d_emb);
    dfd_free(x);
}

dfd_status dfd_explainer_create(dfd_explainer **out, const dfd_detector_model *model,
                                dfd_graph *backbone, int n_threads, dfd_error *err)
{
    *out = NULL;
    dfd_explainer *x = dfd_calloc(1, sizeof *x);
    if (!x) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "explain: out of memory");
    }
    x->model = model;
    dfd_status st =
        dfd_cam_create(&x->cam, backbone, DFD_BACKBONE_OUT, EXPLAIN_BATCH, n_threads, err);
    int shape[4], gh, gw, ch;
    if (!st) {
        dfd_cam_grid(x->cam, &gh, &gw, &ch);
        const int rank = dfd_cam_input_shape(x->cam, shape);
        if (rank != 3 || shape[0] != DFD_BACKBONE_SIZE || shape[1] != DFD_BACKBONE_SIZE ||
            shape[2] != 3 || ch != DFD_BACKBONE_DIM ||
            dfd_head_opts_of(model->head)->input_dim != DFD_BACKBONE_DIM) {
            st = dfd_error_set(err, DFD_ERR_FORMAT,
                               "explain: model %s: the backbone is not a %dx%dx3 -> %d network "
                               "feeding its head",
                               model->name, DFD_BACKBONE_SIZE, DFD_BACKBONE_SIZE, DFD_BACKBONE_DIM);
        }
    }
    if (!st) {
        st = detect_head_copy(&x->head, model->head, err);
    }
    if (!st) {
        x->input = dfd_malloc((size_t)EXPLAIN_BATCH * DFD_BACKBONE_SIZE * DFD_BACKBONE_SIZE * 3 *
                              sizeof(float));
        x->d_emb = dfd_malloc((size_t)EXPLAIN_BATCH * DFD_BACKBONE_DIM * sizeof(float));
        if (!x->input || !x->d_emb) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "explain: out of memory");
        }
    }
    if (st) {
        dfd_explainer_free(x);
        return st;
    }
    *out = x;
    return DFD_OK;
}

void dfd_explainer_grid(const dfd_explainer *x, int *gh, int *gw)
{
    int ch;
    dfd_cam_grid(x->cam, gh, gw, &ch);
}

// Up to EXPLAIN_BATCH crops at once.
static dfd_status explain_batch(float *cams, float *logits, dfd_explainer *x,
                                const dfd_image *crops, int n, dfd_error *err)
{
    const size_t in = (size_t)DFD_BACKBONE_SIZE * DFD_BACKBONE_SIZE * 3;
    for (int b = 0; b < n; b++) {
        dfd_status st = dfd_backbone_input(x->input + (size_t)b * in, &crops[b]);
        if (st) {
            return dfd_error_set(err, st, "explain: bad face crop (%dx%dx%d)", crops[b].w,
                                 crops[b].h, crops[b].c);
        }
    }
    const float *emb;
    dfd_status st = dfd_cam_forward(x->cam, &emb, x->input, n, err);
    // Each crop a one-frame sequence: its frame logit is the frame's own (the frame path has no
    // recurrence); the gradient with respect to the embeddings comes from the head's backward.
    float frame[EXPLAIN_BATCH], seq[EXPLAIN_BATCH], ones[EXPLAIN_BATCH];
    int len[EXPLAIN_BATCH];
    for (int b = 0; b < EXPLAIN_BATCH; b++) {
        ones[b] = 1.0f;
        len[b] = 1;
    }
    if (!st) {
        st = dfd_head_forward(x->head, frame, seq, emb, len, n, 1, 0, err);
    }
    if (!st) {
        memset(x->d_emb, 0, (size_t)n * DFD_BACKBONE_DIM * sizeof *x->d_emb);
        st = dfd_head_backward(x->head, x->d_emb, ones, NULL, err);
    }
    if (!st && cams) {
        st = dfd_cam_backward(cams, x->cam, x->d_emb, err);
    }
    if (!st && logits) {
        memcpy(logits, frame, (size_t)n * sizeof *logits);
    }
    return st;
}

dfd_status dfd_explain_faces(float *cams, float *logits, dfd_explainer *x, const dfd_image *crops,
                             size_t n, dfd_error *err)
{
    int gh, gw;
    dfd_explainer_grid(x, &gh, &gw);
    const size_t cells = (size_t)gh * (size_t)gw;
    for (size_t i = 0; i < n; i += EXPLAIN_BATCH) {
        const int m = (int)(n - i < EXPLAIN_BATCH ? n - i : EXPLAIN_BATCH);
        dfd_status st = explain_batch(cams ? cams + i * cells : NULL, logits ? logits + i : NULL, x,
                                      crops + i, m, err);
        if (st) {
            return st;
        }
    }
    return DFD_OK;
}

dfd_status dfd_explain_heatmaps(dfd_image *out, dfd_explainer *x, const dfd_image *crops, size_t n,
                                dfd_error *err)
{
    int gh, gw;
    dfd_explainer_grid(x, &gh, &gw);
    memset(out, 0, n * sizeof *out);
    const size_t cells = (size_t)gh * (size_t)gw;
    float *cams = dfd_malloc((n ? n : 1) * cells * sizeof *cams);
    if (!cams) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "explain: out of memory");
    }
    dfd_status st = dfd_explain_faces(cams, NULL, x, crops, n, err);
    for (size_t i = 0; !st && i < n; i++) {
        if (dfd_cam_overlay(&out[i], &crops[i], cams + i * cells, gh, gw, HEATMAP_ALPHA)) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "explain: out of memory");
        }
    }
    for (size_t i = 0; st && i < n; i++) {
        dfd_image_free(&out[i]);
    }
    dfd_free(cams);
    return st;
}

dfd_status dfd_explain_timeline(dfd_image *out, const dfd_scan_result *r, const char *title,
                                dfd_error *err)
{
    memset(out, 0, sizeof *out);
    size_t n = r->n_ids < DFD_CHART_MAX_SERIES ? r->n_ids : DFD_CHART_MAX_SERIES;
    if (n == 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "timeline: no face to chart");
    }
    dfd_line_series series[DFD_CHART_MAX_SERIES];
    char names[DFD_CHART_MAX_SERIES][32];
    double *xy[DFD_CHART_MAX_SERIES] = { 0 };
    dfd_status st = DFD_OK;
    for (size_t i = 0; i < n; i++) {
        const dfd_scan_identity *id = &r->ids[i];
        xy[i] = dfd_malloc((id->n ? id->n : 1) * 2 * sizeof(double));
        if (!xy[i]) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "timeline: out of memory");
            goto done;
        }
        for (size_t k = 0; k < id->n; k++) {
            xy[i][k] = id->faces[k].pts_s;
            xy[i][id->n + k] = (double)id->faces[k].probability;
        }
        snprintf(names[i], sizeof names[i], "face %zu", i + 1);
        series[i] = (dfd_line_series){
            .name = names[i], .x = xy[i], .y = xy[i] + id->n, .n = id->n, .markers = true
        };
    }
    dfd_line_chart chart = dfd_line_chart_default();
    chart.series = series;
    chart.n_series = n;
    chart.y_min = 0;
    chart.y_max = 1;
    chart.has_hline = true;
    chart.hline_y = (double)r->threshold;
    char thr[48];
    snprintf(thr, sizeof thr, "threshold %.2f", (double)r->threshold);
    chart.hline_label = thr;
    dfd_chart_opts co = dfd_chart_opts_default();
    co.width = 800;
    co.height = 400;
    co.title = title;
    co.x_label = "time (s)";
    co.y_label = "P(fake) per frame";
    st = dfd_chart_line(out, &chart, &co, err);
done:
    for (size_t i = 0; i < n; i++) {
        dfd_free(xy[i]);
    }
    return st;
}

// ---- the folder ----

void dfd_explain_files_free(dfd_explain_files *f)
{
    if (!f) {
        return;
    }
    dfd_free(f->timeline);
    dfd_free(f->sheet);
    for (size_t i = 0; f->heatmap && i < f->n_ids; i++) {
        for (size_t k = 0; f->heatmap[i] && f->heatmap[i][k]; k++) {
            dfd_free(f->heatmap[i][k]);
        }
        dfd_free(f->heatmap[i]);
    }
    dfd_free(f->heatmap);
    memset(f, 0, sizeof *f);
}

// files->heatmap shaped after r, every name NULL (each row ends with a NULL).
static dfd_status files_alloc(dfd_explain_files *f, const dfd_scan_result *r)
{
    memset(f, 0, sizeof *f);
    f->heatmap = dfd_calloc(r->n_ids, sizeof *f->heatmap);
    if (!f->heatmap) {
        return DFD_ERR_NOMEM;
    }
    f->n_ids = r->n_ids;
    for (size_t i = 0; i < r->n_ids; i++) {
        if (!(f->heatmap[i] = dfd_calloc(r->ids[i].n + 1, sizeof *f->heatmap[i]))) {
            return DFD_ERR_NOMEM;
        }
    }
    f->timeline = dfd_strdup("timeline.png");
    f->sheet = dfd_strdup("sheet.png");
    return f->timeline && f->sheet ? DFD_OK : DFD_ERR_NOMEM;
}

// Write img as tmp/name (a PNG).
static dfd_status write_png(const char *tmp, const char *name, const dfd_image *img, dfd_error *err)
{
    char path[4352];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    return dfd_png_write(path, img, err);
}

// The heatmaps, the sheet and the timeline into the folder tmp; names into f.
static dfd_status write_all(dfd_explain_files *f, dfd_explainer *x, const dfd_scan_result *r,
                            const char *tmp, const char *title, dfd_error *err)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_ids; i++) {
        n += r->ids[i].n;
    }
    dfd_image *tiles = dfd_calloc(n, sizeof *tiles), *crops = dfd_calloc(n, sizeof *crops);
    char **labels = dfd_calloc(n, sizeof *labels);
    dfd_status st = tiles && crops && labels ? DFD_OK : DFD_ERR_NOMEM;
    size_t t = 0;
    for (size_t i = 0; !st && i < r->n_ids; i++) {
        const dfd_scan_identity *id = &r->ids[i];
        for (size_t k = 0; k < id->n; k++) {
            crops[t + k] = id->faces[k].crop; // borrowed
        }
        st = dfd_explain_heatmaps(&tiles[t], x, &crops[t], id->n, err);
        for (size_t k = 0; !st && k < id->n; k++, t++) {
            const dfd_scan_face *fc = &r->ids[i].faces[k];
            char name[96], label[64];
            snprintf(name, sizeof name, "id%zu_f%06lld_p%.3f.png", i, (long long)fc->frame_index,
                     (double)fc->probability);
            snprintf(label, sizeof label, "face %zu #%lld P=%.2f", i + 1,
                     (long long)fc->frame_index, (double)fc->probability);
            f->heatmap[i][k] = dfd_strdup(name);
            labels[t] = dfd_strdup(label);
            if (!f->heatmap[i][k] || !labels[t]) {
                st = DFD_ERR_NOMEM;
                break;
            }
            st = write_png(tmp, name, &tiles[t], err);
        }
    }
    dfd_image img = { 0 };
    if (!st) {
        dfd_grid_opts go = dfd_grid_opts_default();
        go.tile_width = r->ids[0].faces[0].crop.w;
        go.title = title;
        st = dfd_grid_render(&img, tiles, (const char *const *)labels, n, &go);
        if (!st) {
            st = write_png(tmp, f->sheet, &img, err);
        } else {
            dfd_error_set(err, st, "contact sheet: %s", dfd_status_str(st));
        }
        dfd_image_free(&img);
    }
    if (!st) {
        st = dfd_explain_timeline(&img, r, title, err);
    }
    if (!st) {
        st = write_png(tmp, f->timeline, &img, err);
    }
    dfd_image_free(&img);
    for (size_t j = 0; j < n; j++) {
        dfd_image_free(tiles ? &tiles[j] : NULL);
        dfd_free(labels ? labels[j] : NULL);
    }
    dfd_free(tiles);
    dfd_free(crops);
    dfd_free(labels);
    if (st == DFD_ERR_NOMEM) {
        dfd_error_set(err, st, "out of memory");
    }
    return st;
}

dfd_status dfd_explain_write(dfd_explain_files *files, dfd_explainer *x, const dfd_scan_result *r,
                             const char *dir, const char *title, dfd_error *err)
{
    if (files) {
        memset(files, 0, sizeof *files);
    }
    if (r->verdict != DFD_SCAN_REAL && r->verdict != DFD_SCAN_FAKE) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: nothing to explain (%s)", dir,
                             dfd_scan_verdict_name(r->verdict));
    }
    for (size_t i = 0; i < r->n_ids; i++) {
        for (size_t k = 0; k < r->ids[i].n; k++) {
            if (!r->ids[i].faces[k].crop.data) {
                return dfd_error_set(err, DFD_ERR_INVALID,
                                     "%s: the scan kept no face crops (keep_crops)", dir);
            }
        }
    }
    if (r->n_ids == 0 || r->ids[0].n == 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: nothing to explain (no face)", dir);
    }
    dfd_explain_files f;
    char tmp[4096];
    dfd_status st = files_alloc(&f, r);
    if (st) {
        dfd_explain_files_free(&f);
        return dfd_error_set(err, st, "%s: out of memory", dir);
    }
    st = dfd_temp_dir_create(tmp, sizeof tmp, dir, err);
    if (st) {
        dfd_explain_files_free(&f);
        return st;
    }
    dfd_error local;
    dfd_error_clear(&local);
    st = write_all(&f, x, r, tmp, title, &local);
    if (st) {
        dfd_error_set(err, st, "%s: %s", dir, dfd_error_message(&local));
    } else {
        st = dfd_dir_publish(tmp, dir, err);
    }
    if (st) {
        dfd_remove_tree(tmp, NULL);
        dfd_explain_files_free(&f);
        return st;
    }
    if (files) {
        *files = f;
    } else {
        dfd_explain_files_free(&f);
    }
    return DFD_OK;
}
