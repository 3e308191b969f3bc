// ROC curves and confusion-matrix heatmaps (report/chart.h): the two charts of `dfdetect eval`
// that are not plain x/y plots: a square [0, 1] x [0, 1] plot with the chance diagonal, and a grid
// of cells coloured by count with a colour bar.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/image/convert.h"
#include "dfdetect/image/draw.h"
#include "dfdetect/image/paint.h"
#include "dfdetect/report/chart.h"
#include "report_internal.h"

// ---- ROC ----

static dfd_status check_unit(const chart_ctx *ctx, size_t j, const char *name, const char *array,
                             const double *v, size_t n, dfd_error *err)
{
    dfd_status st = dfd_chart_check_finite(ctx, "curve", j, name, array, v, n, err);
    for (size_t i = 0; !st && i < n; i++) {
        if (v[i] < 0.0 || v[i] > 1.0) {
            st = dfd_error_set(err, DFD_ERR_INVALID,
                               "roc chart: curve %zu: %s[%zu] = %g is outside [0, 1]", j, array, i,
                               v[i]);
        }
    }
    return st;
}

static dfd_status roc_check(const chart_ctx *ctx, const dfd_roc_chart *c, dfd_error *err)
{
    if (!c->curves || c->n_curves == 0 || c->n_curves > DFD_CHART_MAX_SERIES) {
        return dfd_error_set(err, DFD_ERR_INVALID, "roc chart: %zu curves (1..%d needed)",
                             c->n_curves, DFD_CHART_MAX_SERIES);
    }
    dfd_status st = DFD_OK;
    for (size_t j = 0; !st && j < c->n_curves; j++) {
        const dfd_roc_curve *cv = &c->curves[j];
        if (cv->n < 2) {
            return dfd_error_set(err, DFD_ERR_INVALID,
                                 "roc chart: curve %zu has %zu points (at least 2 needed)", j,
                                 cv->n);
        }
        st = check_unit(ctx, j, cv->name, "fpr", cv->fpr, cv->n, err);
        if (!st) {
            st = check_unit(ctx, j, cv->name, "tpr", cv->tpr, cv->n, err);
        }
        if (!st && isinf(cv->auc)) {
            st = dfd_error_set(err, DFD_ERR_INVALID, "roc chart: curve %zu: AUC is infinite", j);
        }
    }
    if (!st && c->has_operating_point &&
        !(c->op_fpr >= 0.0 && c->op_fpr <= 1.0 && c->op_tpr >= 0.0 && c->op_tpr <= 1.0)) {
        st = dfd_error_set(err, DFD_ERR_INVALID,
                           "roc chart: operating point (%g, %g) is outside [0, 1]", c->op_fpr,
                           c->op_tpr);
    }
    return st;
}

// The chance diagonal, dashed so that it starts and ends with a dash at the plot's corners.
static void roc_diagonal(chart_ctx *ctx)
{
    const dfd_chart_plot *p = &ctx->plot;
    double xs[2] = { p->x0, p->x1 }, ys[2] = { p->y1, p->y0 };
    const double dash = 6.0 * ctx->s, len = hypot(xs[1] - xs[0], ys[1] - ys[0]);
    double k = floor((len - dash) / (dash + 4.0 * ctx->s));
    k = k < 1.0 ? 1.0 : k;
    double gap = (len - dash * (k + 1.0)) / k;
    dfd_chart_mask_polyline(ctx, xs, ys, 2, 1.5 * ctx->s, gap > 0.0, dash, gap);
    dfd_chart_mask_paint(ctx, dfd_chart_grey_rgb, 1.0);
}

// Square plot centred in the space the layout gave.
static void make_square(chart_ctx *ctx)
{
    dfd_chart_plot *p = &ctx->plot;
    int w = p->x1 - p->x0, h = p->y1 - p->y0;
    if (w > h) {
        p->x0 += (w - h) / 2;
        p->x1 = p->x0 + h;
    } else {
        p->y0 += (h - w) / 2;
        p->y1 = p->y0 + w;
    }
}

static dfd_status roc_render(chart_ctx *ctx, const void *arg, dfd_error *err)
{
    const dfd_roc_chart *chart = arg;
    dfd_status st = roc_check(ctx, chart, err);
    if (st) {
        return st;
    }
    if (!ctx->o.x_label) {
        ctx->o.x_label = "False positive rate";
    }
    if (!ctx->o.y_label) {
        ctx->o.y_label = "True positive rate";
    }
    st = dfd_chart_layout_rows(ctx, 0, err);
    if (!st) {
        st = dfd_chart_axis_make(ctx, &ctx->y, 0.0, 1.0, false, false, ctx->plot.y1 - ctx->plot.y0,
                                 false, 6, err);
    }
    if (!st) {
        st = dfd_chart_layout_cols(ctx, 0, err);
    }
    if (!st) {
        make_square(ctx);
        st = dfd_chart_axis_make(ctx, &ctx->x, 0.0, 1.0, false, false, ctx->plot.x1 - ctx->plot.x0,
                                 true, 6, err);
    }
    if (st || (st = dfd_chart_alloc(ctx, err))) {
        return st;
    }
    dfd_chart_draw_grid(ctx, true, true);
    dfd_chart_draw_axes(ctx, NULL, 0);
    roc_diagonal(ctx);
    for (size_t j = 0; j < chart->n_curves; j++) {
        const dfd_roc_curve *cv = &chart->curves[j];
        const uint8_t *color = dfd_chart_series_color(cv->color, j);
        double px[2], py[2];
        for (size_t i = 0; i + 1 < cv->n; i++) { // segment by segment: no scratch arrays
            for (int k = 0; k < 2; k++) {
                px[k] = dfd_chart_fx(&ctx->plot, cv->fpr[i + (size_t)k]);
                py[k] = dfd_chart_fy(&ctx->plot, cv->tpr[i + (size_t)k]);
            }
            dfd_chart_mask_polyline(ctx, px, py, 2, 2.0 * ctx->s, false, 0.0, 0.0);
        }
        dfd_chart_mask_paint(ctx, color, 1.0);
        char label[160];
        const char *name = cv->name && *cv->name ? cv->name : "ROC";
        if (isnan(cv->auc)) {
            snprintf(label, sizeof label, "%s", name);
        } else {
            snprintf(label, sizeof label, "%s (AUC = %.3f)", name, cv->auc);
        }
        dfd_chart_legend_add(ctx, label, color, SWATCH_LINE, 1.0);
    }
    dfd_chart_legend_add(ctx, "chance (AUC = 0.5)", dfd_chart_grey_rgb, SWATCH_DASH, 1.0);
    if (chart->has_operating_point) {
        const uint8_t *color = dfd_chart_series_color(chart->curves[0].color, 0);
        double x = dfd_chart_fx(&ctx->plot, chart->op_fpr),
               y = dfd_chart_fy(&ctx->plot, chart->op_tpr);
        dfd_mask_disc(&ctx->mask, x, y, 5.0 * ctx->s);
        dfd_chart_mask_paint(ctx, dfd_chart_axis_rgb, 1.0);
        dfd_mask_disc(&ctx->mask, x, y, 3.5 * ctx->s);
        dfd_chart_mask_paint(ctx, color, 1.0);
        dfd_chart_legend_add(ctx, chart->op_label, color, SWATCH_DISC, 1.0);
    }
    dfd_chart_draw_legend(ctx);
    return DFD_OK;
}

dfd_status dfd_chart_roc_plot(dfd_image *out, dfd_chart_plot *plot, const dfd_roc_chart *chart,
                              const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render(out, plot, "roc chart", roc_render, chart, opts, err);
}

dfd_status dfd_chart_roc(dfd_image *out, const dfd_roc_chart *chart, const dfd_chart_opts *opts,
                         dfd_error *err)
{
    return dfd_chart_render(out, NULL, "roc chart", roc_render, chart, opts, err);
}

dfd_status dfd_chart_roc_png(const char *path, const dfd_roc_chart *chart,
                             const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render_png(path, "roc chart", roc_render, chart, opts, err);
}

// ---- confusion matrix ----

// matplotlib's "Blues" at 9 stops: luma falls strictly from white to dark blue, so a larger count
// is always at least as dark.
static const uint8_t blues[9][3] = {
    { 247, 251, 255 }, { 222, 235, 247 }, { 198, 219, 239 }, { 158, 202, 225 }, { 107, 174, 214 },
    { 66, 146, 198 },  { 33, 113, 181 },  { 8, 81, 156 },    { 8, 48, 107 },
};

static void blues_at(uint8_t rgb[3], double t)
{
    t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
    double f = t * 8.0;
    int i = f >= 8.0 ? 7 : (int)f;
    double a = f - i;
    for (int k = 0; k < 3; k++) {
        rgb[k] = (uint8_t)lround(blues[i][k] + (blues[i + 1][k] - blues[i][k]) * a);
    }
}

typedef struct confusion_layout {
    int cell, x0, y0, g; // cell size, grid origin, grid side
    int names_w;         // widest row name
    int bar_x, bar_w;    // colour bar column and width
    long long max;       // largest count (colour scale top)
} confusion_layout;

static const char *class_name(const dfd_confusion_chart *c, int i, char buf[16])
{
    if (c->class_names && c->class_names[i]) {
        return c->class_names[i];
    }
    snprintf(buf, 16, "%d", i);
    return buf;
}

static dfd_status confusion_check(const dfd_confusion_chart *c, long long *max, dfd_error *err)
{
    if (!c->counts || c->n_classes < 1 || c->n_classes > DFD_CHART_MAX_CLASSES) {
        return dfd_error_set(err, DFD_ERR_INVALID, "confusion chart: %d classes (1..%d needed)",
                             c->n_classes, DFD_CHART_MAX_CLASSES);
    }
    *max = 0;
    for (int i = 0; i < c->n_classes * c->n_classes; i++) {
        if (c->counts[i] < 0 || c->counts[i] > DFD_CHART_MAX_COUNT) {
            return dfd_error_set(err, DFD_ERR_INVALID,
                                 "confusion chart: count [%d][%d] = %lld is %s", i / c->n_classes,
                                 i % c->n_classes, c->counts[i],
                                 c->counts[i] < 0 ? "negative" : "too large");
        }
        *max = c->counts[i] > *max ? c->counts[i] : *max;
    }
    return DFD_OK;
}

static dfd_status confusion_layout_make(confusion_layout *L, chart_ctx *ctx,
                                        const dfd_confusion_chart *c, dfd_error *err)
{
    const int s = ctx->s, pad = 8 + 4 * s, n = c->n_classes;
    char buf[16];
    L->names_w = 0;
    for (int i = 0; i < n; i++) {
        int w = dfd_draw_text_width(class_name(c, i, buf), s);
        L->names_w = w > L->names_w ? w : L->names_w;
    }
    L->names_w = L->names_w > 120 * s ? 120 * s : L->names_w;
    int top = pad + (ctx->o.title && *ctx->o.title ? 24 * s : 0);
    int left = pad + 10 * s + 8 + L->names_w + 6;
    int bottom = pad + 10 * s + 6 + 10 * s + 6;
    char maxbuf[32];
    snprintf(maxbuf, sizeof maxbuf, "%lld", L->max);
    L->bar_w = 14 * s;
    int right = pad + 16 + L->bar_w + CHART_TICK_LEN + 4 + dfd_draw_text_width(maxbuf, s);
    int aw = ctx->o.width - left - right, ah = ctx->o.height - top - bottom;
    L->cell = (aw < ah ? aw : ah) / n;
    if (L->cell < 8) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "confusion chart: %dx%d is too small for %d classes", ctx->o.width,
                             ctx->o.height, n);
    }
    L->g = L->cell * n;
    // Centre the whole block (labels, grid, colour bar) horizontally.
    int block = (left - pad) + L->g + (right - pad);
    L->x0 = (ctx->o.width - block) / 2 + (left - pad);
    L->y0 = top + (ah - L->g) / 2;
    L->bar_x = L->x0 + L->g + 16;
    return DFD_OK;
}

// Count and row percentage inside a cell, as large as fits (scale s .. 2s).
static void confusion_cell_text(chart_ctx *ctx, const confusion_layout *L, int x, int y,
                                long long count, long long row_total, const uint8_t bg[3])
{
    char a[32], b[32];
    snprintf(a, sizeof a, "%lld", count);
    if (row_total > 0) {
        snprintf(b, sizeof b, "%.1f%%", 100.0 * (double)count / (double)row_total);
    } else {
        snprintf(b, sizeof b, "-");
    }
    const uint8_t white[3] = { 255, 255, 255 };
    const uint8_t *color = dfd_rgb_luma(bg[0], bg[1], bg[2]) < 140 ? white : ctx->o.text_color;
    int ts = ctx->s;
    for (int t = 2 * ctx->s; t > ctx->s; t--) {
        int wa = dfd_draw_text_width(a, t), wb = dfd_draw_text_width(b, t);
        if ((wa > wb ? wa : wb) <= L->cell * 8 / 10 && 20 * t + 4 <= L->cell * 8 / 10) {
            ts = t;
            break;
        }
    }
    int cx = x + L->cell / 2, cy = y + L->cell / 2;
    int wa = dfd_draw_text_width(a, ts) - ts, wb = dfd_draw_text_width(b, ts) - ts;
    if (20 * ts + 4 > L->cell) { // room for the count only
        dfd_draw_text(&ctx->img, cx - wa / 2, cy - (7 * ts) / 2, a, ts, color);
        return;
    }
    dfd_draw_text(&ctx->img, cx - wa / 2, cy - 10 * ts - 1, a, ts, color);
    dfd_draw_text(&ctx->img, cx - wb / 2, cy + 3, b, ts, color);
}

static void confusion_colour_bar(chart_ctx *ctx, const confusion_layout *L)
{
    const int s = ctx->s;
    uint8_t rgb[3];
    for (int r = 0; r < L->g; r++) {
        blues_at(rgb, L->g > 1 ? (double)(L->g - 1 - r) / (L->g - 1) : 1.0);
        dfd_draw_fill_rect(&ctx->img, L->bar_x, L->y0 + r, L->bar_w, 1, rgb);
    }
    dfd_draw_rect(&ctx->img, L->bar_x, L->y0, L->bar_w, L->g, 1, dfd_chart_frame_rgb);
    double lo = 0.0, hi = L->max > 0 ? (double)L->max : 1.0;
    double ticks[CHART_MAX_TICKS];
    size_t n = dfd_chart_nice_ticks(ticks, CHART_MAX_TICKS, &lo, &hi, 5, false, true);
    for (size_t i = 0; i < n; i++) {
        int r = L->y0 + L->g - 1 - (int)lround(ticks[i] / hi * (L->g - 1));
        int x = L->bar_x + L->bar_w;
        char buf[32];
        dfd_chart_format_value(buf, sizeof buf, ticks[i]);
        dfd_draw_fill_rect(&ctx->img, x, r, CHART_TICK_LEN, 1, dfd_chart_axis_rgb);
        dfd_draw_text(&ctx->img, x + CHART_TICK_LEN + 4, r - (7 * s) / 2, buf, s,
                      ctx->o.text_color);
    }
}

static void confusion_labels(chart_ctx *ctx, const confusion_layout *L,
                             const dfd_confusion_chart *c)
{
    const int s = ctx->s, n = c->n_classes;
    char buf[16];
    for (int i = 0; i < n; i++) {
        const char *name = class_name(c, i, buf);
        int mid = L->y0 + i * L->cell + L->cell / 2;
        int w = dfd_draw_text_width(name, s) - s;
        w = w > L->names_w ? L->names_w : w;
        dfd_draw_text_fit(&ctx->img, L->x0 - 6 - w, mid - (7 * s) / 2, name, L->names_w, s,
                          ctx->o.text_color);
        int cx = L->x0 + i * L->cell + L->cell / 2;
        int cw = dfd_draw_text_width(name, s) - s;
        cw = cw > L->cell - 4 ? L->cell - 4 : cw;
        dfd_draw_text_fit(&ctx->img, cx - cw / 2, L->y0 + L->g + 6, name, L->cell - 4, s,
                          ctx->o.text_color);
    }
    const char *xl = ctx->o.x_label ? ctx->o.x_label : "Predicted label";
    const char *yl = ctx->o.y_label ? ctx->o.y_label : "True label";
    if (*xl) {
        int w = dfd_draw_text_width(xl, s) - s;
        dfd_draw_text_fit(&ctx->img, L->x0 + L->g / 2 - w / 2, L->y0 + L->g + 6 + 10 * s + 6, xl,
                          ctx->o.width, s, ctx->o.text_color);
    }
    if (*yl) {
        int w = dfd_draw_text_width(yl, s) - s;
        dfd_draw_text_up(&ctx->img, L->x0 - 6 - L->names_w - 8 - 10 * s, L->y0 + L->g / 2 + w / 2,
                         yl, s, ctx->o.text_color);
    }
}

static dfd_status confusion_render(chart_ctx *ctx, const void *arg, dfd_error *err)
{
    const dfd_confusion_chart *chart = arg;
    confusion_layout L = { 0 };
    dfd_status st = confusion_check(chart, &L.max, err);
    if (!st) {
        st = confusion_layout_make(&L, ctx, chart, err);
    }
    if (!st) {
        ctx->x.hi = ctx->y.hi = chart->n_classes;
        ctx->plot = (dfd_chart_plot){
            .x0 = L.x0, .y0 = L.y0, .x1 = L.x0 + L.g - 1, .y1 = L.y0 + L.g - 1, .cell = L.cell
        };
        st = dfd_chart_alloc(ctx, err);
    }
    if (st) {
        return st;
    }
    const int n = chart->n_classes;
    for (int t = 0; t < n; t++) {
        long long row_total = 0;
        for (int p = 0; p < n; p++) {
            row_total += chart->counts[t * n + p];
        }
        for (int p = 0; p < n; p++) {
            long long k = chart->counts[t * n + p];
            uint8_t rgb[3];
            blues_at(rgb, L.max > 0 ? (double)k / (double)L.max : 0.0);
            int x = L.x0 + p * L.cell, y = L.y0 + t * L.cell;
            dfd_draw_fill_rect(&ctx->img, x, y, L.cell, L.cell, rgb);
            confusion_cell_text(ctx, &L, x, y, k, row_total, rgb);
        }
    }
    // Thin separators in the background colour between cells, inside the cells' edges.
    for (int i = 1; i < n; i++) {
        dfd_draw_fill_rect(&ctx->img, L.x0 + i * L.cell, L.y0, 1, L.g, ctx->o.background);
        dfd_draw_fill_rect(&ctx->img, L.x0, L.y0 + i * L.cell, L.g, 1, ctx->o.background);
    }
    confusion_colour_bar(ctx, &L);
    confusion_labels(ctx, &L, chart);
    dfd_chart_draw_title(ctx);
    return DFD_OK;
}

dfd_status dfd_chart_confusion_plot(dfd_image *out, dfd_chart_plot *plot,
                                    const dfd_confusion_chart *chart, const dfd_chart_opts *opts,
                                    dfd_error *err)
{
    return dfd_chart_render(out, plot, "confusion chart", confusion_render, chart, opts, err);
}

dfd_status dfd_chart_confusion(dfd_image *out, const dfd_confusion_chart *chart,
                               const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render(out, NULL, "confusion chart", confusion_render, chart, opts, err);
}

dfd_status dfd_chart_confusion_png(const char *path, const dfd_confusion_chart *chart,
                                   const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render_png(path, "confusion chart", confusion_render, chart, opts, err);
}
