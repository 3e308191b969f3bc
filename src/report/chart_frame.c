// The frame every chart shares: options, layout of the plot rectangle, "nice" axis ticks and their
// labels, grid, spines, title, axis labels, the legend, and the mapping from data values to
// pixels. The renderers in chart.c and chart_roc.c only add their data on top.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/image/draw.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/paint.h"
#include "dfdetect/report/chart.h"
#include "report_internal.h"

const uint8_t dfd_chart_grid_rgb[3] = { 232, 232, 232 };
const uint8_t dfd_chart_axis_rgb[3] = { 90, 90, 90 };
const uint8_t dfd_chart_red_rgb[3] = { 214, 39, 40 };
const uint8_t dfd_chart_grey_rgb[3] = { 127, 127, 127 };
const uint8_t dfd_chart_frame_rgb[3] = { 204, 204, 204 };

// tab10: the matplotlib default cycle, designed to stay distinct for colour-blind readers.
static const uint8_t palette[10][3] = {
    { 31, 119, 180 }, { 255, 127, 14 },  { 44, 160, 44 },   { 214, 39, 40 },  { 148, 103, 189 },
    { 140, 86, 75 },  { 227, 119, 194 }, { 127, 127, 127 }, { 188, 189, 34 }, { 23, 190, 207 },
};

// ---- options ----

dfd_chart_opts dfd_chart_opts_default(void)
{
    dfd_chart_opts o;
    memset(&o, 0, sizeof o);
    o.width = 640;
    o.height = 480;
    o.legend = true;
    memset(o.background, 255, 3);
    memset(o.text_color, 33, 3);
    return o;
}

const uint8_t *dfd_chart_palette(size_t i)
{
    return palette[i % 10];
}

const uint8_t *dfd_chart_series_color(const uint8_t *own, size_t i)
{
    return own ? own : dfd_chart_palette(i);
}

static bool has_text(const char *s)
{
    return s && *s;
}

// Outer padding of the image, pixels.
static int pad_of(const chart_ctx *ctx)
{
    return 8 + 4 * ctx->s;
}

dfd_status dfd_chart_begin(chart_ctx *ctx, const char *what, const dfd_chart_opts *opts,
                           dfd_error *err)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->what = what;
    ctx->o = opts ? *opts : dfd_chart_opts_default();
    const dfd_chart_opts *o = &ctx->o;
    if (o->width < 160 || o->width > 8192 || o->height < 120 || o->height > 8192) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: size %dx%d outside 160x120 .. 8192x8192",
                             what, o->width, o->height);
    }
    if (o->text_scale < 0 || o->text_scale > 8) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: text scale %d outside 0..8", what,
                             o->text_scale);
    }
    ctx->s = o->text_scale ? o->text_scale : o->width >= 1200 ? 2 : 1;
    return DFD_OK;
}

// ---- nice numbers ----

// Tick index range of a step over [lo, hi]: outward (expand) or inward. False when not finite.
static bool tick_range(double *kl, double *kh, double lo, double hi, double step, bool expand)
{
    const double tol = 1e-9;
    *kl = expand ? floor(lo / step + tol) : ceil(lo / step - tol);
    *kh = expand ? ceil(hi / step - tol) : floor(hi / step + tol);
    return isfinite(*kl) && isfinite(*kh);
}

size_t dfd_chart_nice_ticks(double *ticks, size_t cap, double *lo, double *hi, int target,
                            bool expand, bool integer)
{
    if (!lo || !hi || !isfinite(*lo) || !isfinite(*hi) || !(*lo < *hi) || target < 2 ||
        target > 50 || !isfinite(*hi - *lo)) {
        return 0;
    }
    static const double mant[4] = { 1.0, 2.0, 2.5, 5.0 };
    const double span = *hi - *lo;
    const int e0 = (int)floor(log10(span / target));
    double best_step = 0.0, best_kl = 0.0, best_kh = 0.0, best_miss = (double)INFINITY;
    double best_cover = (double)INFINITY;
    for (int e = e0 - 1; e <= e0 + 2; e++) {
        for (int m = 0; m < 4; m++) {
            double step = mant[m] * pow(10.0, e);
            if (integer && (step < 1.0 || m == 2)) {
                continue;
            }
            double kl, kh;
            if (!(step > 0.0) || !isfinite(step) || !tick_range(&kl, &kh, *lo, *hi, step, expand)) {
                continue;
            }
            // Closest count to the target first; among equals the tighter axis; then the larger
            // step (candidates come in increasing order).
            double count = kh - kl + 1.0, miss = fabs(count - target), cover = (kh - kl) * step;
            if (count >= 2.0 && (miss < best_miss || (miss == best_miss && cover <= best_cover))) {
                best_miss = miss;
                best_cover = cover;
                best_step = step;
                best_kl = kl;
                best_kh = kh;
            }
        }
    }
    if (best_step == 0.0) {
        // Integer axes over a span < 1 (e.g. [0.2, 0.8]): a step of 1 with outward range.
        if (!integer || !tick_range(&best_kl, &best_kh, *lo, *hi, 1.0, true)) {
            return 0;
        }
        best_step = 1.0;
        expand = true;
    }
    if (expand) {
        *lo = best_kl * best_step;
        *hi = best_kh * best_step;
    }
    size_t n = 0;
    for (double k = best_kl; k <= best_kh && n < cap; k += 1.0) {
        double v = k * best_step;
        ticks[n++] = fabs(v) < best_step * 1e-9 ? 0.0 : v;
    }
    return n;
}

// Decimals needed to print multiples of `step` exactly (0..12).
static int decimals_for(double step)
{
    int d = 0;
    double v = step;
    while (d < 12 && fabs(v - round(v)) > 1e-6 * fabs(v)) {
        v *= 10.0;
        d++;
    }
    return d;
}

void dfd_chart_format_value(char *buf, size_t cap, double v)
{
    if (v == 0.0) {
        v = 0.0; // no "-0"
    }
    if (fabs(v) < 1e15 && v == floor(v)) {
        snprintf(buf, cap, "%.0f", v);
    } else {
        snprintf(buf, cap, "%.3g", v);
    }
}

static void label_ticks(chart_ctx *ctx, chart_axis *ax)
{
    double step = ax->n > 1 ? ax->ticks[1] - ax->ticks[0] : 1.0;
    double big = fmax(fabs(ax->lo), fabs(ax->hi));
    int d = decimals_for(step);
    ax->max_label_w = 0;
    for (size_t i = 0; i < ax->n; i++) {
        if (big >= 1e7 || (big > 0.0 && big < 1e-4)) {
            snprintf(ax->labels[i], CHART_LABEL_BYTES, "%.3g", ax->ticks[i]);
        } else {
            snprintf(ax->labels[i], CHART_LABEL_BYTES, "%.*f", d, ax->ticks[i]);
        }
        int w = dfd_draw_text_width(ax->labels[i], ctx->s);
        ax->max_label_w = w > ax->max_label_w ? w : ax->max_label_w;
    }
}

dfd_status dfd_chart_axis_make(chart_ctx *ctx, chart_axis *ax, double lo, double hi, bool expand,
                               bool integer, int len_px, bool horizontal, int target,
                               dfd_error *err)
{
    if (expand && lo == hi) {
        double d = lo != 0.0 ? fabs(lo) * 0.1 : 1.0;
        lo -= d;
        hi += d;
    }
    const int s = ctx->s;
    if (target <= 0) {
        target = horizontal ? len_px / (70 * s) : len_px / (36 * s);
        target = target < 2 ? 2 : target > 12 ? 12 : target;
    }
    for (; target >= 2; target--) {
        ax->lo = lo;
        ax->hi = hi;
        ax->n = dfd_chart_nice_ticks(ax->ticks, CHART_MAX_TICKS, &ax->lo, &ax->hi, target, expand,
                                     integer);
        if (ax->n == 0) {
            break;
        }
        label_ticks(ctx, ax);
        // Labels must not touch: compare the tick spacing in pixels with what a label needs.
        double spacing =
            ax->n > 1 ? (ax->ticks[1] - ax->ticks[0]) / (ax->hi - ax->lo) * len_px : (double)len_px;
        double need = horizontal ? ax->max_label_w + 8.0 * s : 10.0 * s + 6.0;
        if (spacing >= need) {
            return DFD_OK;
        }
    }
    if (ax->n == 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: cannot draw an axis from %g to %g",
                             ctx->what, lo, hi);
    }
    return DFD_OK; // the sparsest ticks found; labels may crowd on a tiny chart
}

// ---- layout ----

static dfd_status too_small(const chart_ctx *ctx, dfd_error *err)
{
    return dfd_error_set(err, DFD_ERR_INVALID, "%s: %dx%d is too small for its text", ctx->what,
                         ctx->o.width, ctx->o.height);
}

dfd_status dfd_chart_layout_rows(chart_ctx *ctx, int below, dfd_error *err)
{
    const int s = ctx->s, pad = pad_of(ctx);
    int top = pad + 5 * s;
    if (has_text(ctx->o.title)) {
        top += 20 * s + 4 * s;
    }
    int bottom = pad + CHART_TICK_LEN + 4 + 10 * s + below + ctx->legend_below_h;
    if (has_text(ctx->o.x_label)) {
        bottom += 10 * s + 6;
    }
    ctx->top = top;
    ctx->bottom = bottom;
    ctx->plot.y0 = top;
    ctx->plot.y1 = ctx->o.height - 1 - bottom;
    if (ctx->plot.y1 - ctx->plot.y0 < 40) {
        return too_small(ctx, err);
    }
    return DFD_OK;
}

dfd_status dfd_chart_layout_cols(chart_ctx *ctx, int right, dfd_error *err)
{
    const int s = ctx->s, pad = pad_of(ctx);
    int left = pad + ctx->y.max_label_w + CHART_TICK_LEN + 4;
    if (has_text(ctx->o.y_label)) {
        left += 10 * s + 8;
    }
    int r = pad + right;
    if (ctx->has_y2) {
        r += CHART_TICK_LEN + 4 + ctx->y2.max_label_w;
        if (has_text(ctx->o.y2_label)) {
            r += 10 * s + 8;
        }
    } else {
        r += 12 * s; // half of the last x tick label
    }
    ctx->plot.x0 = left;
    ctx->plot.x1 = ctx->o.width - 1 - r;
    if (ctx->plot.x1 - ctx->plot.x0 < 40) {
        return too_small(ctx, err);
    }
    return DFD_OK;
}

dfd_status dfd_chart_alloc(chart_ctx *ctx, dfd_error *err)
{
    dfd_status st = dfd_image_alloc(&ctx->img, ctx->o.width, ctx->o.height, 3);
    if (!st) {
        st = dfd_image_alloc(&ctx->mask, ctx->o.width, ctx->o.height, 1);
    }
    if (st) {
        dfd_image_free(&ctx->img);
        return dfd_error_set(err, st, "%s: out of memory for a %dx%d image", ctx->what,
                             ctx->o.width, ctx->o.height);
    }
    dfd_draw_fill_rect(&ctx->img, 0, 0, ctx->img.w, ctx->img.h, ctx->o.background);
    dfd_chart_plot *p = &ctx->plot;
    p->x_min = ctx->x.lo;
    p->x_max = ctx->x.hi;
    p->y_min = ctx->y.lo;
    p->y_max = ctx->y.hi;
    if (ctx->has_y2) {
        p->y2_min = ctx->y2.lo;
        p->y2_max = ctx->y2.hi;
    }
    return DFD_OK;
}

void dfd_chart_finish(chart_ctx *ctx, dfd_image *out, dfd_chart_plot *plot)
{
    *out = ctx->img;
    memset(&ctx->img, 0, sizeof ctx->img);
    if (plot) {
        *plot = ctx->plot;
    }
    dfd_image_free(&ctx->mask);
}

void dfd_chart_discard(chart_ctx *ctx)
{
    dfd_image_free(&ctx->img);
    dfd_image_free(&ctx->mask);
}

// ---- data coordinates ----

static double clamp_px(double v)
{
    return isnan(v) ? -1e7 : v < -1e7 ? -1e7 : v > 1e7 ? 1e7 : v;
}

double dfd_chart_fx(const dfd_chart_plot *p, double x)
{
    double span = p->x_max - p->x_min;
    return clamp_px(p->x0 + (x - p->x_min) / span * (p->x1 - p->x0));
}

static double fy_range(const dfd_chart_plot *p, double y, double lo, double hi)
{
    return clamp_px(p->y1 - (y - lo) / (hi - lo) * (p->y1 - p->y0));
}

double dfd_chart_fy(const dfd_chart_plot *p, double y)
{
    return fy_range(p, y, p->y_min, p->y_max);
}

double dfd_chart_fy2(const dfd_chart_plot *p, double y)
{
    return fy_range(p, y, p->y2_min, p->y2_max);
}

int dfd_chart_plot_col(const dfd_chart_plot *plot, double x)
{
    return (int)lround(dfd_chart_fx(plot, x));
}

int dfd_chart_plot_row(const dfd_chart_plot *plot, double y)
{
    return (int)lround(dfd_chart_fy(plot, y));
}

int dfd_chart_plot_row2(const dfd_chart_plot *plot, double y2)
{
    return (int)lround(dfd_chart_fy2(plot, y2));
}

// ---- drawing helpers ----

dfd_image dfd_chart_clip_view(chart_ctx *ctx, int *ox, int *oy)
{
    const dfd_chart_plot *p = &ctx->plot;
    int x0 = p->x0 - CHART_CLIP_BLEED, y0 = p->y0 - CHART_CLIP_BLEED;
    int x1 = p->x1 + CHART_CLIP_BLEED, y1 = p->y1 + CHART_CLIP_BLEED;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 >= ctx->mask.w ? ctx->mask.w - 1 : x1;
    y1 = y1 >= ctx->mask.h ? ctx->mask.h - 1 : y1;
    *ox = x0;
    *oy = y0;
    return dfd_image_view(&ctx->mask, x0, y0, x1 - x0 + 1, y1 - y0 + 1);
}

// Blend through the mask inside the box (clamped to the image) and clear it there. Shapes are
// only ever drawn inside the box given, so compositing just that part saves scanning the image.
static void paint_box(chart_ctx *ctx, int x, int y, int w, int h, const uint8_t color[3],
                      double opacity)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > ctx->img.w ? ctx->img.w : x + w, y1 = y + h > ctx->img.h ? ctx->img.h : y + h;
    if (x1 <= x0 || y1 <= y0) {
        return;
    }
    dfd_image iv = dfd_image_view(&ctx->img, x0, y0, x1 - x0, y1 - y0);
    dfd_image mv = dfd_image_view(&ctx->mask, x0, y0, x1 - x0, y1 - y0);
    dfd_mask_composite(&iv, &mv, color, opacity);
}

void dfd_chart_mask_paint(chart_ctx *ctx, const uint8_t color[3], double opacity)
{
    const dfd_chart_plot *p = &ctx->plot;
    const int g = 8 * ctx->s; // room for markers centred on the plot's edges
    paint_box(ctx, p->x0 - g, p->y0 - g, p->x1 - p->x0 + 1 + 2 * g, p->y1 - p->y0 + 1 + 2 * g,
              color, opacity);
}

void dfd_chart_mask_polyline(chart_ctx *ctx, const double *px, const double *py, size_t n,
                             double width, bool dashed, double dash, double gap)
{
    int ox, oy;
    dfd_image view = dfd_chart_clip_view(ctx, &ox, &oy);
    // Dash state carried across vertices: drawing (on) or not, and how far into that state.
    bool on = true;
    double phase = 0.0;
    dashed = dashed && dash > 0.0 && gap > 0.0;
    for (size_t i = 0; i + 1 < n; i++) {
        double ax = px[i] - ox, ay = py[i] - oy, bx = px[i + 1] - ox, by = py[i + 1] - oy;
        double len = hypot(bx - ax, by - ay);
        if (!dashed || !(len > 0.0) || len > 1e6) { // solid, empty, or far outside anyway
            dfd_mask_segment(&view, ax, ay, bx, by, width);
            continue;
        }
        // Each step either ends the segment or toggles the state, whose length is > 0, so the
        // loop ends even when rounding makes a step tiny.
        for (double t = 0.0; t < len;) {
            double rem = (on ? dash : gap) - phase;
            double t1 = fmin(len, t + rem);
            if (on) {
                dfd_mask_segment(&view, ax + (bx - ax) * t / len, ay + (by - ay) * t / len,
                                 ax + (bx - ax) * t1 / len, ay + (by - ay) * t1 / len, width);
            }
            if (t + rem <= len) {
                on = !on;
                phase = 0.0;
            } else {
                phase += t1 - t;
            }
            t = t1;
        }
    }
    if (n == 1) {
        dfd_mask_disc(&view, px[0] - ox, py[0] - oy, width);
    }
}

void dfd_chart_dashed_hline(chart_ctx *ctx, int row, int thick, const uint8_t color[3])
{
    const dfd_chart_plot *p = &ctx->plot;
    if (row < p->y0 - 1 || row > p->y1 + 1) {
        return;
    }
    for (int x = p->x0; x <= p->x1; x += 10) {
        int w = p->x1 - x + 1 < 6 ? p->x1 - x + 1 : 6;
        dfd_draw_fill_rect(&ctx->img, x, row - thick / 2, w, thick, color);
    }
}

void dfd_chart_dashed_vline(chart_ctx *ctx, int col, int thick, const uint8_t color[3])
{
    const dfd_chart_plot *p = &ctx->plot;
    if (col < p->x0 - 1 || col > p->x1 + 1) {
        return;
    }
    for (int y = p->y1; y >= p->y0; y -= 10) {
        int h = y - p->y0 + 1 < 6 ? y - p->y0 + 1 : 6;
        dfd_draw_fill_rect(&ctx->img, col - thick / 2, y - h + 1, thick, h, color);
    }
}

dfd_status dfd_chart_check_finite(const chart_ctx *ctx, const char *series_kind, size_t i_series,
                                  const char *series_name, const char *array, const double *v,
                                  size_t n, dfd_error *err)
{
    if (!v) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: %s %zu: %s is NULL", ctx->what, series_kind,
                             i_series, array);
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: %s %zu%s%s%s: %s[%zu] is %s", ctx->what,
                                 series_kind, i_series, has_text(series_name) ? " '" : "",
                                 has_text(series_name) ? series_name : "",
                                 has_text(series_name) ? "'" : "", array, i,
                                 isnan(v[i]) ? "NaN" : "infinite");
        }
    }
    return DFD_OK;
}

// ---- axes, title, labels ----

// Copy text into buf shortened with ".." to at most max_w pixels at scale s.
static const char *shorten(char *buf, size_t cap, const char *text, int max_w, int s)
{
    if (dfd_draw_text_width(text, s) <= max_w) {
        return text;
    }
    int keep = max_w / (DFD_FONT_CELL_W * s) - 2;
    keep = keep < 0 ? 0 : keep;
    // Keep whole glyphs: count bytes of the first `keep` glyphs (UTF-8 continuations are free).
    size_t i = 0;
    for (int g = 0; text[i] && g <= keep; i++) {
        unsigned char b = (unsigned char)text[i];
        if (!(b >= 0x80 && b <= 0xbf) && g++ == keep) {
            break;
        }
    }
    snprintf(buf, cap, "%.*s..", (int)i, text);
    return buf;
}

// Text centred on column cx with its top at row y, shortened to max_w.
static void text_centered(chart_ctx *ctx, int cx, int y, const char *text, int max_w, int scale)
{
    char buf[256];
    const char *t = shorten(buf, sizeof buf, text, max_w, scale);
    int w = dfd_draw_text_width(t, scale) - scale; // without the trailing blank column
    dfd_draw_text(&ctx->img, cx - w / 2, y, t, scale, ctx->o.text_color);
}

// Rotated text centred on row cy with its left edge at column x, shortened to max_w.
static void text_up_centered(chart_ctx *ctx, int x, int cy, const char *text, int max_w)
{
    char buf[256];
    const char *t = shorten(buf, sizeof buf, text, max_w, ctx->s);
    int w = dfd_draw_text_width(t, ctx->s) - ctx->s;
    dfd_draw_text_up(&ctx->img, x, cy + w / 2, t, ctx->s, ctx->o.text_color);
}

void dfd_chart_draw_title(chart_ctx *ctx)
{
    if (has_text(ctx->o.title)) {
        int pad = pad_of(ctx);
        text_centered(ctx, ctx->o.width / 2, pad, ctx->o.title, ctx->o.width - 2 * pad, 2 * ctx->s);
    }
}

void dfd_chart_draw_grid(chart_ctx *ctx, bool x_grid, bool y_grid)
{
    const dfd_chart_plot *p = &ctx->plot;
    for (size_t i = 0; x_grid && i < ctx->x.n; i++) {
        int c = dfd_chart_plot_col(p, ctx->x.ticks[i]);
        dfd_draw_fill_rect(&ctx->img, c, p->y0, 1, p->y1 - p->y0 + 1, dfd_chart_grid_rgb);
    }
    for (size_t i = 0; y_grid && i < ctx->y.n; i++) {
        int r = dfd_chart_plot_row(p, ctx->y.ticks[i]);
        dfd_draw_fill_rect(&ctx->img, p->x0, r, p->x1 - p->x0 + 1, 1, dfd_chart_grid_rgb);
    }
}

// Labels of a vertical axis: right-aligned left of x (left side) or left-aligned right of it.
static void y_tick_labels(chart_ctx *ctx, const chart_axis *ax, bool right_side)
{
    const dfd_chart_plot *p = &ctx->plot;
    const int s = ctx->s;
    int x = right_side ? p->x1 : p->x0;
    for (size_t i = 0; i < ax->n; i++) {
        int r = (int)lround(right_side ? dfd_chart_fy2(p, ax->ticks[i])
                                       : dfd_chart_fy(p, ax->ticks[i]));
        int tx = right_side ? x + 1 : x - CHART_TICK_LEN;
        dfd_draw_fill_rect(&ctx->img, tx, r, CHART_TICK_LEN, 1, dfd_chart_axis_rgb);
        int w = dfd_draw_text_width(ax->labels[i], s) - s;
        int lx = right_side ? x + CHART_TICK_LEN + 4 : x - CHART_TICK_LEN - 4 - w;
        dfd_draw_text(&ctx->img, lx, r - (7 * s) / 2, ax->labels[i], s, ctx->o.text_color);
    }
}

void dfd_chart_draw_axes(chart_ctx *ctx, const char *const *categories, size_t n_cat)
{
    const dfd_chart_plot *p = &ctx->plot;
    const int s = ctx->s, pad = pad_of(ctx);
    const int pw = p->x1 - p->x0 + 1, ph = p->y1 - p->y0 + 1;
    // spines
    dfd_draw_fill_rect(&ctx->img, p->x0, p->y0, 1, ph, dfd_chart_axis_rgb);
    dfd_draw_fill_rect(&ctx->img, p->x0, p->y1, pw, 1, dfd_chart_axis_rgb);
    if (ctx->has_y2) {
        dfd_draw_fill_rect(&ctx->img, p->x1, p->y0, 1, ph, dfd_chart_axis_rgb);
    }
    // x ticks
    const int ly = p->y1 + CHART_TICK_LEN + 4;
    if (categories) {
        int band = pw / (int)(n_cat ? n_cat : 1);
        for (size_t i = 0; i < n_cat; i++) {
            int c = dfd_chart_plot_col(p, (double)i + 0.5);
            dfd_draw_fill_rect(&ctx->img, c, p->y1 + 1, 1, CHART_TICK_LEN, dfd_chart_axis_rgb);
            if (has_text(categories[i])) {
                text_centered(ctx, c, ly, categories[i], band - 4, s);
            }
        }
    } else {
        for (size_t i = 0; i < ctx->x.n; i++) {
            int c = dfd_chart_plot_col(p, ctx->x.ticks[i]);
            dfd_draw_fill_rect(&ctx->img, c, p->y1 + 1, 1, CHART_TICK_LEN, dfd_chart_axis_rgb);
            text_centered(ctx, c, ly, ctx->x.labels[i], ctx->o.width, s);
        }
    }
    y_tick_labels(ctx, &ctx->y, false);
    if (ctx->has_y2) {
        y_tick_labels(ctx, &ctx->y2, true);
    }
    // axis labels
    if (has_text(ctx->o.x_label)) {
        text_centered(ctx, (p->x0 + p->x1) / 2, ly + 10 * s + 6, ctx->o.x_label,
                      ctx->o.width - 2 * pad, s);
    }
    if (has_text(ctx->o.y_label)) {
        int x = p->x0 - CHART_TICK_LEN - 4 - ctx->y.max_label_w - 8 - 10 * s;
        text_up_centered(ctx, x < 0 ? 0 : x, (p->y0 + p->y1) / 2, ctx->o.y_label, ph);
    }
    if (ctx->has_y2 && has_text(ctx->o.y2_label)) {
        int x = p->x1 + CHART_TICK_LEN + 4 + ctx->y2.max_label_w + 8;
        text_up_centered(ctx, x, (p->y0 + p->y1) / 2, ctx->o.y2_label, ph);
    }
    dfd_chart_draw_title(ctx);
}

// ---- legend ----

void dfd_chart_legend_add(chart_ctx *ctx, const char *text, const uint8_t color[3],
                          chart_swatch swatch, double opacity)
{
    if (!has_text(text) || ctx->n_legend >= CHART_MAX_LEGEND) {
        return;
    }
    chart_legend_entry *e = &ctx->legend[ctx->n_legend++];
    snprintf(e->text, sizeof e->text, "%s", text);
    memcpy(e->color, color, 3);
    e->swatch = swatch;
    e->opacity = opacity;
}

// Pixels in the box that are data (neither background nor grid).
static long ink_in(const chart_ctx *ctx, int x, int y, int w, int h)
{
    long n = 0;
    for (int j = y; j < y + h; j++) {
        for (int i = x; i < x + w; i++) {
            const uint8_t *q = dfd_image_px(&ctx->img, i, j);
            n += memcmp(q, ctx->o.background, 3) != 0 && memcmp(q, dfd_chart_grid_rgb, 3) != 0;
        }
    }
    return n;
}

static void draw_swatch(chart_ctx *ctx, const chart_legend_entry *e, int x, int cy)
{
    const int s = ctx->s, len = 24 * s;
    const double lw = 2.0 * s;
    double xs[2] = { x, x + len - 1 }, ys[2] = { cy, cy };
    switch (e->swatch) {
    case SWATCH_RECT:
        dfd_draw_blend_rect(&ctx->img, x + 2, cy - 4 * s, len - 4, 8 * s, e->color, e->opacity);
        dfd_draw_rect(&ctx->img, x + 2, cy - 4 * s, len - 4, 8 * s, 1, e->color);
        return;
    case SWATCH_VLINE:
        dfd_draw_fill_rect(&ctx->img, x + len / 2, cy - 5 * s, 1, 10 * s, e->color);
        return;
    case SWATCH_DISC:
        dfd_mask_disc(&ctx->mask, x + len / 2.0, cy, 4.5 * s);
        paint_box(ctx, x - 2, cy - 6 * s - 2, len + 4, 12 * s + 4, dfd_chart_axis_rgb, 1.0);
        dfd_mask_disc(&ctx->mask, x + len / 2.0, cy, 3.0 * s);
        paint_box(ctx, x - 2, cy - 6 * s - 2, len + 4, 12 * s + 4, e->color, 1.0);
        return;
    case SWATCH_LINE:
    case SWATCH_LINE_MARK:
        dfd_mask_segment(&ctx->mask, xs[0], ys[0], xs[1], ys[1], lw);
        break;
    case SWATCH_DASH:
    case SWATCH_DASH_MARK:
        for (int k = 0; k < 3; k++) {
            double a = x + k * 9.0 * s;
            dfd_mask_segment(&ctx->mask, a, cy, fmin(a + 5.0 * s, xs[1]), cy, lw);
        }
        break;
    case SWATCH_MARK:
        break;
    }
    if (e->swatch == SWATCH_LINE_MARK || e->swatch == SWATCH_DASH_MARK ||
        e->swatch == SWATCH_MARK) {
        dfd_mask_disc(&ctx->mask, x + len / 2.0, cy, 3.0 * s);
    }
    paint_box(ctx, x - 2, cy - 6 * s - 2, len + 4, 12 * s + 4, e->color, 1.0);
}

// Width of one legend entry laid out in a row: swatch, gap, text, spacing.
static int entry_w(const chart_ctx *ctx, const chart_legend_entry *e)
{
    return 24 * ctx->s + 6 + dfd_draw_text_width(e->text, ctx->s) + 12 * ctx->s;
}

// Lay the entries out in centred rows under the plot (draw = false only measures); returns the
// height used.
static int legend_rows(chart_ctx *ctx, bool draw)
{
    const int s = ctx->s, pad = pad_of(ctx), avail = ctx->o.width - 2 * pad, row_h = 10 * s + 5;
    const int top = ctx->o.height - pad - ctx->legend_below_h + 6;
    int rows = 0;
    for (size_t i = 0; i < ctx->n_legend;) {
        size_t j = i;
        int w = 0;
        while (j < ctx->n_legend && (j == i || w + entry_w(ctx, &ctx->legend[j]) <= avail)) {
            w += entry_w(ctx, &ctx->legend[j++]);
        }
        int x = pad + (avail - w) / 2 + 6 * s;
        for (size_t k = i; draw && k < j; k++) {
            int mid = top + rows * row_h + (7 * s) / 2;
            draw_swatch(ctx, &ctx->legend[k], x, mid);
            dfd_draw_text_fit(&ctx->img, x + 24 * s + 6, top + rows * row_h + 1,
                              ctx->legend[k].text, avail - (x - pad) - 24 * s - 6, s,
                              ctx->o.text_color);
            x += entry_w(ctx, &ctx->legend[k]);
        }
        rows++;
        i = j;
    }
    return rows * row_h + 6;
}

void dfd_chart_draw_legend(chart_ctx *ctx)
{
    if (!ctx->o.legend || ctx->n_legend == 0) {
        return;
    }
    if (ctx->legend_below_h > 0) {
        (void)legend_rows(ctx, true);
        return;
    }
    const dfd_chart_plot *p = &ctx->plot;
    const int s = ctx->s, inset = 8, swatch_w = 24 * s, row_h = 10 * s + 5;
    const int max_text_w = p->x1 - p->x0 - 2 * inset - swatch_w - 18;
    int text_w = 0;
    for (size_t i = 0; i < ctx->n_legend; i++) {
        int w = dfd_draw_text_width(ctx->legend[i].text, s);
        text_w = w > text_w ? w : text_w;
    }
    text_w = text_w > max_text_w ? max_text_w : text_w;
    if (text_w < DFD_FONT_CELL_W * s) {
        return; // no room for a legend at all
    }
    size_t n = ctx->n_legend;
    int box_w = 6 + swatch_w + 6 + text_w + 4;
    while (n > 0 && 6 + (int)n * row_h > p->y1 - p->y0 - 2 * inset) {
        n--;
    }
    if (n == 0) {
        return;
    }
    int box_h = 6 + (int)n * row_h;
    // Candidate corners: upper right, upper left, lower right, lower left; least ink wins.
    const int cx[4] = { p->x1 - inset - box_w, p->x0 + inset + 1, p->x1 - inset - box_w,
                        p->x0 + inset + 1 };
    const int cy[4] = { p->y0 + inset, p->y0 + inset, p->y1 - inset - box_h,
                        p->y1 - inset - box_h };
    int best = 0;
    long best_ink = -1;
    for (int k = 0; k < 4; k++) {
        long ink = ink_in(ctx, cx[k], cy[k], box_w, box_h);
        if (best_ink < 0 || ink < best_ink) {
            best_ink = ink;
            best = k;
        }
    }
    // Some data under the best corner (more than a stray pixel or two): better below the plot.
    ctx->legend_crowded = best_ink > (long)box_w * box_h / 200;
    const int bx = cx[best], by = cy[best];
    dfd_draw_fill_rect(&ctx->img, bx, by, box_w, box_h, ctx->o.background);
    dfd_draw_rect(&ctx->img, bx, by, box_w, box_h, 1, dfd_chart_frame_rgb);
    for (size_t i = 0; i < n; i++) {
        int ry = by + 4 + (int)i * row_h;
        int mid = ry + (7 * s) / 2;
        draw_swatch(ctx, &ctx->legend[i], bx + 6, mid);
        dfd_draw_text_fit(&ctx->img, bx + 6 + swatch_w + 6, ry + 1, ctx->legend[i].text, text_w, s,
                          ctx->o.text_color);
    }
}

// ---- the driver ----

dfd_status dfd_chart_render(dfd_image *out, dfd_chart_plot *plot, const char *what,
                            chart_draw_fn draw, const void *chart, const dfd_chart_opts *opts,
                            dfd_error *err)
{
    if (out) {
        memset(out, 0, sizeof *out);
    }
    if (plot) {
        memset(plot, 0, sizeof *plot);
    }
    // Three tries at most: legend inside; if crowded, legend below; if that does not fit,
    // inside again, crowded or not.
    int below = 0;
    bool may_move = true;
    for (;;) {
        chart_ctx ctx;
        dfd_status st = dfd_chart_begin(&ctx, what, opts, err);
        if (!st && (!out || !chart)) {
            st = dfd_error_set(err, DFD_ERR_INVALID, "%s: NULL argument", what);
        }
        if (st) {
            return st;
        }
        ctx.legend_below_h = below;
        st = draw(&ctx, chart, err);
        if (st && below > 0) {
            dfd_chart_discard(&ctx);
            below = 0;
            continue;
        }
        if (st) {
            dfd_chart_discard(&ctx);
            return st;
        }
        if (may_move && ctx.legend_crowded) {
            may_move = false;
            below = legend_rows(&ctx, false);
            dfd_chart_discard(&ctx);
            continue;
        }
        dfd_chart_finish(&ctx, out, plot);
        dfd_error_clear(err);
        return DFD_OK;
    }
}

dfd_status dfd_chart_render_png(const char *path, const char *what, chart_draw_fn draw,
                                const void *chart, const dfd_chart_opts *opts, dfd_error *err)
{
    if (!path || !*path) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: no output path", what);
    }
    dfd_image img;
    dfd_status st = dfd_chart_render(&img, NULL, what, draw, chart, opts, err);
    if (!st) {
        st = dfd_png_write(path, &img, err);
    }
    dfd_image_free(&img);
    return st;
}
