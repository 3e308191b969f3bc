// Bar charts, line charts and histograms (report/chart.h) on the shared frame of chart_frame.c:
// each renderer checks its input, sizes the axes from the data, then draws bars, lines or bins
// between the grid and the axes.
#include "dfdetect/report/chart.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/image/draw.h"
#include "dfdetect/image/paint.h"
#include "dfdetect/util/alloc.h"
#include "report_internal.h"

// ---- shared ----

static dfd_status check_count(const chart_ctx *ctx, const char *what, size_t n, size_t max,
                              const void *ptr, dfd_error *err)
{
    if (!ptr || n == 0 || n > max) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: %zu %s (1..%zu needed)", ctx->what, n, what,
                             max);
    }
    return DFD_OK;
}

// ---- bar chart ----

static dfd_status bar_check(const chart_ctx *ctx, const dfd_bar_chart *c, dfd_error *err)
{
    dfd_status st = check_count(ctx, "categories", c->n_categories, DFD_CHART_MAX_CATEGORIES,
                                c->categories, err);
    if (!st) {
        st = check_count(ctx, "series", c->n_series, DFD_CHART_MAX_SERIES, c->series, err);
    }
    for (size_t j = 0; !st && j < c->n_series; j++) {
        const dfd_bar_series *sr = &c->series[j];
        st = dfd_chart_check_finite(ctx, "series", j, sr->name, "values", sr->values,
                                    c->n_categories, err);
        for (size_t i = 0; !st && c->stacked && i < c->n_categories; i++) {
            if (sr->values[i] < 0.0) {
                st = dfd_error_set(err, DFD_ERR_INVALID,
                                   "bar chart: series %zu: values[%zu] = %g is negative (stacked)",
                                   j, i, sr->values[i]);
            }
        }
    }
    return st;
}

// Data range of the bars: [min(0, lowest), max(0, highest)], stack totals when stacked.
static void bar_range(const dfd_bar_chart *c, double *lo, double *hi, bool *integer)
{
    *lo = 0.0;
    *hi = 0.0;
    *integer = true;
    for (size_t i = 0; i < c->n_categories; i++) {
        double total = 0.0;
        for (size_t j = 0; j < c->n_series; j++) {
            double v = c->series[j].values[i];
            *integer = *integer && v == floor(v);
            total += v;
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, c->stacked ? total : v);
        }
    }
    if (*hi == *lo) {
        *hi = *lo + 1.0;
    }
}

// Fill the bar between values a and b (any order) over columns [c0, c1].
static void fill_bar(chart_ctx *ctx, int c0, int c1, double a, double b, const uint8_t color[3])
{
    int ra = dfd_chart_plot_row(&ctx->plot, a), rb = dfd_chart_plot_row(&ctx->plot, b);
    int top = ra < rb ? ra : rb, bottom = ra < rb ? rb : ra;
    // The bar covers rows top .. bottom - 1: its height is exactly the rows between the values.
    dfd_draw_fill_rect(&ctx->img, c0, top, c1 - c0 + 1, bottom - top, color);
}

static void bar_value_text(chart_ctx *ctx, int cx, int y, double v)
{
    char buf[32];
    dfd_chart_format_value(buf, sizeof buf, v);
    int w = dfd_draw_text_width(buf, ctx->s) - ctx->s;
    dfd_draw_text(&ctx->img, cx - w / 2, y, buf, ctx->s, ctx->o.text_color);
}

static void bar_draw(chart_ctx *ctx, const dfd_bar_chart *c)
{
    const dfd_chart_plot *p = &ctx->plot;
    const int s = ctx->s, th = 10 * s;
    const double ns = (double)c->n_series;
    for (size_t i = 0; i < c->n_categories; i++) {
        double base = 0.0;
        for (size_t j = 0; j < c->n_series; j++) {
            const uint8_t *col = dfd_chart_series_color(c->series[j].color, j);
            double v = c->series[j].values[i];
            double a = (double)i + 0.1, b = (double)i + 0.9;
            if (!c->stacked) {
                a = (double)i + 0.1 + 0.8 * (double)j / ns;
                b = (double)i + 0.1 + 0.8 * (double)(j + 1) / ns;
            }
            int c0 = dfd_chart_plot_col(p, a), c1 = dfd_chart_plot_col(p, b) - 1;
            if (!c->stacked && c->n_series > 1 && c1 - c0 > 4) {
                c1--; // a one-pixel gap between neighbouring bars of a group
            }
            c1 = c1 < c0 ? c0 : c1;
            double lo = c->stacked ? base : 0.0, hi = lo + v;
            fill_bar(ctx, c0, c1, lo, hi, col);
            int cx = (c0 + c1) / 2;
            if (c->show_values && !c->stacked) {
                int r = dfd_chart_plot_row(p, v);
                bar_value_text(ctx, cx, v >= 0.0 ? r - th - 1 : r + 3, v);
            } else if (c->show_values && v > 0.0) {
                int r0 = dfd_chart_plot_row(p, lo), r1 = dfd_chart_plot_row(p, hi);
                if (r0 - r1 >= th + 4) {
                    bar_value_text(ctx, cx, (r0 + r1) / 2 - (7 * s) / 2, v);
                }
            }
            base = hi;
        }
        if (c->show_values && c->stacked) {
            int cx = dfd_chart_plot_col(p, (double)i + 0.5);
            bar_value_text(ctx, cx, dfd_chart_plot_row(p, base) - th - 1, base);
        }
    }
    if (p->y_min < 0.0) { // the zero line
        dfd_draw_fill_rect(&ctx->img, p->x0, dfd_chart_plot_row(p, 0.0), p->x1 - p->x0 + 1, 1,
                           dfd_chart_axis_rgb);
    }
}

static dfd_status bar_render(chart_ctx *ctx, const void *arg, dfd_error *err)
{
    const dfd_bar_chart *chart = arg;
    dfd_status st = bar_check(ctx, chart, err);
    if (st) {
        return st;
    }
    double lo, hi;
    bool integer;
    bar_range(chart, &lo, &hi, &integer);
    if (chart->show_values) { // room for the value labels above the bars
        hi += (hi - lo) * 0.08;
    }
    st = dfd_chart_layout_rows(ctx, 0, err);
    if (!st) {
        st = dfd_chart_axis_make(ctx, &ctx->y, lo, hi, true, integer, ctx->plot.y1 - ctx->plot.y0,
                                 false, 0, err);
    }
    if (!st) {
        st = dfd_chart_layout_cols(ctx, 0, err);
    }
    if (st) {
        return st;
    }
    ctx->x.lo = 0.0;
    ctx->x.hi = (double)chart->n_categories;
    if ((st = dfd_chart_alloc(ctx, err))) {
        return st;
    }
    dfd_chart_draw_grid(ctx, false, true);
    dfd_chart_draw_axes(ctx, chart->categories, chart->n_categories);
    bar_draw(ctx, chart);
    for (size_t j = 0; j < chart->n_series; j++) {
        dfd_chart_legend_add(ctx, chart->series[j].name,
                             dfd_chart_series_color(chart->series[j].color, j), SWATCH_RECT, 1.0);
    }
    dfd_chart_draw_legend(ctx);
    return DFD_OK;
}

dfd_status dfd_chart_bar_plot(dfd_image *out, dfd_chart_plot *plot, const dfd_bar_chart *chart,
                              const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render(out, plot, "bar chart", bar_render, chart, opts, err);
}

dfd_status dfd_chart_bar(dfd_image *out, const dfd_bar_chart *chart, const dfd_chart_opts *opts,
                         dfd_error *err)
{
    return dfd_chart_render(out, NULL, "bar chart", bar_render, chart, opts, err);
}

dfd_status dfd_chart_bar_png(const char *path, const dfd_bar_chart *chart,
                             const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render_png(path, "bar chart", bar_render, chart, opts, err);
}

// ---- line chart ----

dfd_line_chart dfd_line_chart_default(void)
{
    dfd_line_chart c;
    memset(&c, 0, sizeof c);
    c.x_min = c.x_max = c.y_min = c.y_max = c.y2_min = c.y2_max = (double)NAN;
    return c;
}

// A fixed bound is finite; NaN is automatic; anything else (infinite) is an error.
static dfd_status check_bounds(const chart_ctx *ctx, const char *axis, double lo, double hi,
                               dfd_error *err)
{
    if (isinf(lo) || isinf(hi) || (!isnan(lo) && !isnan(hi) && !(lo < hi))) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: %s range [%g, %g] is not min < max",
                             ctx->what, axis, lo, hi);
    }
    return DFD_OK;
}

static dfd_status line_check(const chart_ctx *ctx, const dfd_line_chart *c, dfd_error *err)
{
    dfd_status st = check_count(ctx, "series", c->n_series, DFD_CHART_MAX_SERIES, c->series, err);
    for (size_t j = 0; !st && j < c->n_series; j++) {
        const dfd_line_series *sr = &c->series[j];
        if (sr->n == 0) {
            return dfd_error_set(err, DFD_ERR_INVALID, "line chart: series %zu has no points", j);
        }
        st = dfd_chart_check_finite(ctx, "series", j, sr->name, "y", sr->y, sr->n, err);
        if (!st && sr->x) {
            st = dfd_chart_check_finite(ctx, "series", j, sr->name, "x", sr->x, sr->n, err);
        }
    }
    if (!st) {
        st = check_bounds(ctx, "x", c->x_min, c->x_max, err);
    }
    if (!st) {
        st = check_bounds(ctx, "y", c->y_min, c->y_max, err);
    }
    if (!st) {
        st = check_bounds(ctx, "y2", c->y2_min, c->y2_max, err);
    }
    if (!st && c->has_hline && !isfinite(c->hline_y)) {
        st = dfd_error_set(err, DFD_ERR_INVALID, "line chart: threshold %g is not finite",
                           c->hline_y);
    }
    if (!st && c->n_marks > DFD_CHART_MAX_MARKS) {
        st = dfd_error_set(err, DFD_ERR_INVALID, "line chart: %zu marks (at most %d)", c->n_marks,
                           DFD_CHART_MAX_MARKS);
    }
    if (!st && c->n_marks) {
        st = dfd_chart_check_finite(ctx, "marks", 0, NULL, "marks", c->marks, c->n_marks, err);
    }
    return st;
}

static double point_x(const dfd_line_series *sr, size_t i)
{
    return sr->x ? sr->x[i] : (double)i;
}

// Resolve one axis: automatic bounds from the data range [dlo, dhi] widened to nice ticks, fixed
// bounds kept as given (ticks inside them).
static dfd_status line_axis(chart_ctx *ctx, chart_axis *ax, double dlo, double dhi, double fix_lo,
                            double fix_hi, bool integer, int len, bool horizontal, dfd_error *err)
{
    const bool both = !isnan(fix_lo) && !isnan(fix_hi);
    double lo = isnan(fix_lo) ? dlo : fix_lo, hi = isnan(fix_hi) ? dhi : fix_hi;
    if (!(lo <= hi)) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "%s: the data lie outside the fixed range (%g > %g)", ctx->what, lo,
                             hi);
    }
    dfd_status st = dfd_chart_axis_make(ctx, ax, lo, hi, !both, integer, len, horizontal, 0, err);
    if (st || both || (isnan(fix_lo) && isnan(fix_hi))) {
        return st;
    }
    // One fixed bound: put it back and keep the ticks inside.
    ax->lo = isnan(fix_lo) ? ax->lo : fix_lo;
    ax->hi = isnan(fix_hi) ? ax->hi : fix_hi;
    if (!(ax->lo < ax->hi)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: empty axis range [%g, %g]", ctx->what,
                             ax->lo, ax->hi);
    }
    size_t n = 0;
    for (size_t i = 0; i < ax->n; i++) {
        if (ax->ticks[i] >= ax->lo && ax->ticks[i] <= ax->hi) {
            ax->ticks[n] = ax->ticks[i];
            memmove(ax->labels[n], ax->labels[i], CHART_LABEL_BYTES);
            n++;
        }
    }
    ax->n = n;
    return DFD_OK;
}

static void series_range(const dfd_line_chart *c, bool right, bool any_left, double *xl, double *xh,
                         double *yl, double *yh)
{
    for (size_t j = 0; j < c->n_series; j++) {
        const dfd_line_series *sr = &c->series[j];
        bool on_right = sr->right_axis && any_left;
        for (size_t i = 0; i < sr->n; i++) {
            *xl = fmin(*xl, point_x(sr, i));
            *xh = fmax(*xh, point_x(sr, i));
            if (on_right == right) {
                *yl = fmin(*yl, sr->y[i]);
                *yh = fmax(*yh, sr->y[i]);
            }
        }
    }
}

static void line_draw_marks(chart_ctx *ctx, const dfd_line_chart *c, const uint8_t *color)
{
    const dfd_chart_plot *p = &ctx->plot;
    const int s = ctx->s;
    for (size_t i = 0; i < c->n_marks; i++) {
        double x = c->marks[i];
        if (x < p->x_min || x > p->x_max) {
            continue;
        }
        int col = dfd_chart_plot_col(p, x);
        dfd_draw_fill_rect(&ctx->img, col, p->y0, 1, p->y1 - p->y0, color);
        double xs[3] = { col - 4.0 * s, col + 4.0 * s, col };
        double ys[3] = { p->y1 - 0.5, p->y1 - 0.5, p->y1 - 0.5 - 6.0 * s };
        dfd_mask_polygon(&ctx->mask, xs, ys, 3);
    }
    dfd_chart_mask_paint(ctx, color, 1.0);
}

static void line_draw_series(chart_ctx *ctx, const dfd_line_series *sr, size_t j, bool on_right,
                             double *px, double *py)
{
    const int s = ctx->s;
    for (size_t i = 0; i < sr->n; i++) {
        px[i] = dfd_chart_fx(&ctx->plot, point_x(sr, i));
        py[i] = on_right ? dfd_chart_fy2(&ctx->plot, sr->y[i]) : dfd_chart_fy(&ctx->plot, sr->y[i]);
    }
    const uint8_t *color = dfd_chart_series_color(sr->color, j);
    if (sr->n > 1) {
        dfd_chart_mask_polyline(ctx, px, py, sr->n, 2.0 * s, sr->dashed, 7.0 * s, 4.0 * s);
        dfd_chart_mask_paint(ctx, color, 1.0);
    }
    if (sr->markers || sr->n == 1) {
        int ox, oy;
        dfd_image view = dfd_chart_clip_view(ctx, &ox, &oy);
        for (size_t i = 0; i < sr->n; i++) {
            dfd_mask_disc(&view, px[i] - ox, py[i] - oy, 2.5 * s);
        }
        dfd_chart_mask_paint(ctx, color, 1.0);
    }
}

static chart_swatch line_swatch(const dfd_line_series *sr)
{
    if (sr->n == 1) {
        return SWATCH_MARK;
    }
    if (sr->markers) {
        return sr->dashed ? SWATCH_DASH_MARK : SWATCH_LINE_MARK;
    }
    return sr->dashed ? SWATCH_DASH : SWATCH_LINE;
}

// Axes of a line chart: x from all series, y from the left ones (and the threshold), y2 from the
// right ones.
static dfd_status line_axes(chart_ctx *ctx, const dfd_line_chart *c, dfd_error *err)
{
    bool any_left = false, any_right = false;
    for (size_t j = 0; j < c->n_series; j++) {
        any_left = any_left || !c->series[j].right_axis;
        any_right = any_right || c->series[j].right_axis;
    }
    ctx->has_y2 = any_left && any_right;
    double xl = (double)INFINITY, xh = -(double)INFINITY, yl = (double)INFINITY,
           yh = -(double)INFINITY;
    double x2l = (double)INFINITY, x2h = -(double)INFINITY, y2l = (double)INFINITY,
           y2h = -(double)INFINITY;
    series_range(c, false, any_left, &xl, &xh, &yl, &yh);
    if (c->has_hline) {
        yl = fmin(yl, c->hline_y);
        yh = fmax(yh, c->hline_y);
    }
    dfd_status st = dfd_chart_layout_rows(ctx, 0, err);
    const int ph = ctx->plot.y1 - ctx->plot.y0;
    if (!st) {
        st = line_axis(ctx, &ctx->y, yl, yh, c->y_min, c->y_max, false, ph, false, err);
    }
    if (!st && ctx->has_y2) {
        series_range(c, true, any_left, &x2l, &x2h, &y2l, &y2h);
        st = line_axis(ctx, &ctx->y2, y2l, y2h, c->y2_min, c->y2_max, false, ph, false, err);
    }
    if (!st) {
        st = dfd_chart_layout_cols(ctx, 0, err);
    }
    if (!st) {
        st = line_axis(ctx, &ctx->x, xl, xh, c->x_min, c->x_max, c->x_integer,
                       ctx->plot.x1 - ctx->plot.x0, true, err);
    }
    return st;
}

static dfd_status line_render(chart_ctx *ctx, const void *arg, dfd_error *err)
{
    const dfd_line_chart *chart = arg;
    dfd_status st = line_check(ctx, chart, err);
    if (!st) {
        st = line_axes(ctx, chart, err);
    }
    if (st) {
        return st;
    }
    size_t n_max = 1;
    for (size_t j = 0; j < chart->n_series; j++) {
        n_max = chart->series[j].n > n_max ? chart->series[j].n : n_max;
    }
    double *px = dfd_calloc(n_max, sizeof *px), *py = dfd_calloc(n_max, sizeof *py);
    if (!px || !py || (st = dfd_chart_alloc(ctx, err))) {
        dfd_free(px);
        dfd_free(py);
        return st ? st : dfd_error_set(err, DFD_ERR_NOMEM, "line chart: out of memory");
    }
    dfd_chart_draw_grid(ctx, true, true);
    dfd_chart_draw_axes(ctx, NULL, 0);
    const uint8_t *mark_color = chart->marks_color ? chart->marks_color : dfd_chart_grey_rgb;
    const uint8_t *hline_color = chart->hline_color ? chart->hline_color : dfd_chart_red_rgb;
    line_draw_marks(ctx, chart, mark_color);
    if (chart->has_hline) {
        dfd_chart_dashed_hline(ctx, dfd_chart_plot_row(&ctx->plot, chart->hline_y), 2, hline_color);
    }
    for (size_t j = 0; j < chart->n_series; j++) {
        const dfd_line_series *sr = &chart->series[j];
        line_draw_series(ctx, sr, j, sr->right_axis && ctx->has_y2, px, py);
        dfd_chart_legend_add(ctx, sr->name, dfd_chart_series_color(sr->color, j), line_swatch(sr),
                             1.0);
    }
    dfd_free(px);
    dfd_free(py);
    if (chart->has_hline) {
        dfd_chart_legend_add(ctx, chart->hline_label, hline_color, SWATCH_DASH, 1.0);
    }
    if (chart->n_marks) {
        dfd_chart_legend_add(ctx, chart->marks_label, mark_color, SWATCH_VLINE, 1.0);
    }
    dfd_chart_draw_legend(ctx);
    return DFD_OK;
}

dfd_status dfd_chart_line_plot(dfd_image *out, dfd_chart_plot *plot, const dfd_line_chart *chart,
                               const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render(out, plot, "line chart", line_render, chart, opts, err);
}

dfd_status dfd_chart_line(dfd_image *out, const dfd_line_chart *chart, const dfd_chart_opts *opts,
                          dfd_error *err)
{
    return dfd_chart_render(out, NULL, "line chart", line_render, chart, opts, err);
}

dfd_status dfd_chart_line_png(const char *path, const dfd_line_chart *chart,
                              const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render_png(path, "line chart", line_render, chart, opts, err);
}

// ---- histogram ----

#define HIST_OPACITY 0.45

static dfd_status hist_check(const chart_ctx *ctx, const dfd_hist_chart *c, dfd_error *err)
{
    dfd_status st = check_count(ctx, "series", c->n_series, DFD_CHART_MAX_SERIES, c->series, err);
    for (size_t j = 0; !st && j < c->n_series; j++) {
        if (c->series[j].n == 0) {
            return dfd_error_set(err, DFD_ERR_INVALID, "histogram: series %zu has no values", j);
        }
        st = dfd_chart_check_finite(ctx, "series", j, c->series[j].name, "values",
                                    c->series[j].values, c->series[j].n, err);
    }
    if (!st &&
        (!isfinite(c->lo) || !isfinite(c->hi) || !(c->lo < c->hi) || !isfinite(c->hi - c->lo))) {
        st = dfd_error_set(err, DFD_ERR_INVALID, "histogram: range [%g, %g] is not lo < hi", c->lo,
                           c->hi);
    }
    if (!st && (c->n_bins < 1 || c->n_bins > 1000)) {
        st = dfd_error_set(err, DFD_ERR_INVALID, "histogram: %d bins (1..1000)", c->n_bins);
    }
    if (!st && c->has_threshold && !isfinite(c->threshold)) {
        st = dfd_error_set(err, DFD_ERR_INVALID, "histogram: threshold %g is not finite",
                           c->threshold);
    }
    return st;
}

// counts[j * n_bins + k]: series j's count (or fraction) in bin k; returns the largest.
static double hist_count(double *counts, const dfd_hist_chart *c)
{
    const double w = (c->hi - c->lo) / c->n_bins;
    double top = 0.0;
    for (size_t j = 0; j < c->n_series; j++) {
        double *row = counts + j * (size_t)c->n_bins;
        for (size_t i = 0; i < c->series[j].n; i++) {
            double k = floor((c->series[j].values[i] - c->lo) / w);
            k = k < 0.0 ? 0.0 : k > c->n_bins - 1 ? c->n_bins - 1 : k;
            row[(size_t)k] += 1.0;
        }
        for (int k = 0; k < c->n_bins; k++) {
            if (c->density) {
                row[k] /= (double)c->series[j].n;
            }
            top = fmax(top, row[k]);
        }
    }
    return top;
}

// The bars of one series: translucent fills, then a step outline in the full colour.
static void hist_draw_series(chart_ctx *ctx, const dfd_hist_chart *c, const double *row,
                             const uint8_t color[3], bool outline)
{
    const dfd_chart_plot *p = &ctx->plot;
    const double w = (c->hi - c->lo) / c->n_bins;
    int prev_r = p->y1;
    for (int k = 0; k < c->n_bins; k++) {
        int a = dfd_chart_plot_col(p, c->lo + k * w),
            b = dfd_chart_plot_col(p, c->lo + (k + 1) * w);
        int r = row[k] > 0.0 ? dfd_chart_plot_row(p, row[k]) : p->y1;
        if (!outline) {
            dfd_draw_blend_rect(&ctx->img, a, r, b - a, p->y1 - r, color, HIST_OPACITY);
            continue;
        }
        if (r < p->y1) {
            dfd_draw_fill_rect(&ctx->img, a, r, b - a, 1, color);
        }
        int t = r < prev_r ? r : prev_r, u = r < prev_r ? prev_r : r;
        if (u > t) {
            dfd_draw_fill_rect(&ctx->img, a, t, 1, u - t, color);
        }
        prev_r = r;
    }
    if (outline && prev_r < p->y1) {
        int b = dfd_chart_plot_col(p, c->hi) - 1;
        dfd_draw_fill_rect(&ctx->img, b, prev_r, 1, p->y1 - prev_r, color);
    }
}

static dfd_status hist_render(chart_ctx *ctx, const void *arg, dfd_error *err)
{
    const dfd_hist_chart *chart = arg;
    dfd_status st = hist_check(ctx, chart, err);
    if (st) {
        return st;
    }
    double *counts = dfd_calloc(chart->n_series * (size_t)chart->n_bins, sizeof *counts);
    if (!counts) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "histogram: out of memory");
    }
    double top = hist_count(counts, chart);
    st = dfd_chart_layout_rows(ctx, 0, err);
    if (!st) {
        st = dfd_chart_axis_make(ctx, &ctx->y, 0.0, top, true, !chart->density,
                                 ctx->plot.y1 - ctx->plot.y0, false, 0, err);
    }
    if (!st) {
        st = dfd_chart_layout_cols(ctx, 0, err);
    }
    if (!st) {
        st = dfd_chart_axis_make(ctx, &ctx->x, chart->lo, chart->hi, false, false,
                                 ctx->plot.x1 - ctx->plot.x0, true, 0, err);
    }
    if (!st) {
        st = dfd_chart_alloc(ctx, err);
    }
    if (st) {
        dfd_free(counts);
        return st;
    }
    dfd_chart_draw_grid(ctx, false, true);
    dfd_chart_draw_axes(ctx, NULL, 0);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 0; j < chart->n_series; j++) {
            hist_draw_series(ctx, chart, counts + j * (size_t)chart->n_bins,
                             dfd_chart_series_color(chart->series[j].color, j), pass == 1);
        }
    }
    dfd_free(counts);
    for (size_t j = 0; j < chart->n_series; j++) {
        dfd_chart_legend_add(ctx, chart->series[j].name,
                             dfd_chart_series_color(chart->series[j].color, j), SWATCH_RECT,
                             HIST_OPACITY);
    }
    if (chart->has_threshold) {
        char label[48];
        dfd_chart_dashed_vline(ctx, dfd_chart_plot_col(&ctx->plot, chart->threshold), 2,
                               dfd_chart_red_rgb);
        snprintf(label, sizeof label, "threshold %.2f", chart->threshold);
        dfd_chart_legend_add(ctx, label, dfd_chart_red_rgb, SWATCH_DASH, 1.0);
    }
    dfd_chart_draw_legend(ctx);
    return DFD_OK;
}

dfd_status dfd_chart_hist_plot(dfd_image *out, dfd_chart_plot *plot, const dfd_hist_chart *chart,
                               const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render(out, plot, "histogram", hist_render, chart, opts, err);
}

dfd_status dfd_chart_hist(dfd_image *out, const dfd_hist_chart *chart, const dfd_chart_opts *opts,
                          dfd_error *err)
{
    return dfd_chart_render(out, NULL, "histogram", hist_render, chart, opts, err);
}

dfd_status dfd_chart_hist_png(const char *path, const dfd_hist_chart *chart,
                              const dfd_chart_opts *opts, dfd_error *err)
{
    return dfd_chart_render_png(path, "histogram", hist_render, chart, opts, err);
}
