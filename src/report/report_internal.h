// Helpers shared by the chart renderers of the report module (chart_frame.c holds them); no other
// module includes this header. A chart is drawn in a fixed order: begin (options), vertical
// layout, y axes, horizontal layout, x axis, allocate, grid, data, axes, legend, finish.
#ifndef DFD_REPORT_REPORT_INTERNAL_H
#define DFD_REPORT_REPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/report/chart.h"
#include "dfdetect/util/status.h"

#define CHART_MAX_TICKS   64
#define CHART_LABEL_BYTES 24
#define CHART_MAX_LEGEND  (DFD_CHART_MAX_SERIES + 4)
#define CHART_TICK_LEN    5 // tick marks outside the plot, pixels
#define CHART_CLIP_BLEED  3 // data may be drawn this far outside the plot rectangle

// Fixed colours of the chart furniture.
extern const uint8_t dfd_chart_grid_rgb[3];  // grid lines
extern const uint8_t dfd_chart_axis_rgb[3];  // spines and tick marks
extern const uint8_t dfd_chart_red_rgb[3];   // thresholds
extern const uint8_t dfd_chart_grey_rgb[3];  // marks, the chance diagonal
extern const uint8_t dfd_chart_frame_rgb[3]; // legend box outline

// One axis: its range and tick values with their printed labels.
typedef struct chart_axis {
    double lo, hi;
    double ticks[CHART_MAX_TICKS];
    char labels[CHART_MAX_TICKS][CHART_LABEL_BYTES];
    size_t n;
    int max_label_w; // widest label in pixels at the chart's text scale
} chart_axis;

typedef enum chart_swatch {
    SWATCH_RECT,      // filled box (bars, histogram classes)
    SWATCH_LINE,      // solid line
    SWATCH_DASH,      // dashed line
    SWATCH_LINE_MARK, // solid line with a marker
    SWATCH_DASH_MARK, // dashed line with a marker
    SWATCH_MARK,      // marker only
    SWATCH_DISC,      // outlined disc (operating point)
    SWATCH_VLINE,     // thin vertical line (marks)
} chart_swatch;

typedef struct chart_legend_entry {
    char text[96];
    uint8_t color[3];
    chart_swatch swatch;
    double opacity; // fill opacity of SWATCH_RECT
} chart_legend_entry;

typedef struct chart_ctx {
    const char *what; // "line chart": first word of every error message
    dfd_chart_opts o; // the caller's options, or the defaults
    int s;            // text scale
    dfd_image img, mask;
    dfd_chart_plot plot;
    chart_axis x, y, y2;
    bool has_y2;
    int top, bottom; // margins from the vertical layout
    chart_legend_entry legend[CHART_MAX_LEGEND];
    size_t n_legend;
    int legend_below_h;  // > 0: the legend goes in this many rows under the x label
    bool legend_crowded; // set by dfd_chart_draw_legend: no inner corner was free of data
} chart_ctx;

// Draws one chart into a begun ctx: checks the input, lays out, allocates, draws.
typedef dfd_status (*chart_draw_fn)(chart_ctx *ctx, const void *chart, dfd_error *err);

// The driver of every renderer: clears *out and *plot, begins a ctx, runs `draw`, and when the
// legend had to cover data inside the plot, draws the chart again with the legend under it.
// Errors: those of dfd_chart_begin and draw, DFD_ERR_INVALID for NULL out or chart.
dfd_status dfd_chart_render(dfd_image *out, dfd_chart_plot *plot, const char *what,
                            chart_draw_fn draw, const void *chart, const dfd_chart_opts *opts,
                            dfd_error *err);

// The *_png conveniences: render as dfd_chart_render, then write the PNG at path.
// Errors: those of dfd_chart_render, DFD_ERR_INVALID (no path), those of dfd_png_write.
dfd_status dfd_chart_render_png(const char *path, const char *what, chart_draw_fn draw,
                                const void *chart, const dfd_chart_opts *opts, dfd_error *err);

// ---- setup ----

// Check and resolve the options (NULL: defaults) into ctx (zeroed first). Errors: DFD_ERR_INVALID.
dfd_status dfd_chart_begin(chart_ctx *ctx, const char *what, const dfd_chart_opts *opts,
                           dfd_error *err);

// Plot rows from the title and x-label lines (and legend_below_h): fills plot.y0, plot.y1.
// `below` extra pixels are kept under the x tick labels. Errors: DFD_ERR_INVALID (too small).
dfd_status dfd_chart_layout_rows(chart_ctx *ctx, int below, dfd_error *err);

// Plot columns from the y axes' label widths (ctx->y, and ctx->y2 when has_y2) and the y label;
// `right` extra pixels are kept at the right. Fills plot.x0, plot.x1.
// Errors: DFD_ERR_INVALID (too small).
dfd_status dfd_chart_layout_cols(chart_ctx *ctx, int right, dfd_error *err);

// Fill `ax` for the range [lo, hi] (finite; a flat range is widened as chart.h says when
// `expand`) with about `target` ticks (0: as many as suit an axis of len_px pixels). Tick spacing
// is reduced until labels do not collide along the axis (`horizontal`: labels side by side).
// Errors: DFD_ERR_INVALID (range not representable).
dfd_status dfd_chart_axis_make(chart_ctx *ctx, chart_axis *ax, double lo, double hi, bool expand,
                               bool integer, int len_px, bool horizontal, int target,
                               dfd_error *err);

// Allocate the image and the mask, paint the background, copy axis ranges into ctx->plot.
// Errors: DFD_ERR_NOMEM.
dfd_status dfd_chart_alloc(chart_ctx *ctx, dfd_error *err);

// ---- drawing ----

// Light grid lines at the x ticks (vertical, when x_grid) and y ticks (horizontal).
void dfd_chart_draw_grid(chart_ctx *ctx, bool x_grid, bool y_grid);

// Spines, tick marks, tick labels, axis labels and title. `categories` (may be NULL): categorical
// x axis with n_cat labels centred on x = i + 0.5 instead of numeric ticks.
void dfd_chart_draw_axes(chart_ctx *ctx, const char *const *categories, size_t n_cat);

// The title line (scale 2s), centred over the whole image.
void dfd_chart_draw_title(chart_ctx *ctx);

// The legend box in whichever inner corner of the plot holds the least data ink (setting
// legend_crowded when even that corner holds some), or in rows under the x label when
// legend_below_h > 0.
void dfd_chart_draw_legend(chart_ctx *ctx);

// Add a legend entry (ignored when text is NULL or empty, or the legend is full).
void dfd_chart_legend_add(chart_ctx *ctx, const char *text, const uint8_t color[3],
                          chart_swatch swatch, double opacity);

// Move the image to *out, the geometry to *plot (may be NULL); frees the rest.
void dfd_chart_finish(chart_ctx *ctx, dfd_image *out, dfd_chart_plot *plot);

// Free everything after an error.
void dfd_chart_discard(chart_ctx *ctx);

// ---- data coordinates to pixels (doubles, clamped to +-1e7 so far data stays finite) ----

double dfd_chart_fx(const dfd_chart_plot *p, double x);
double dfd_chart_fy(const dfd_chart_plot *p, double y);
double dfd_chart_fy2(const dfd_chart_plot *p, double y);

// The mask view of the data area (the plot grown by CHART_CLIP_BLEED pixels) and its origin.
dfd_image dfd_chart_clip_view(chart_ctx *ctx, int *ox, int *oy);

// Blend the colour through the mask over the plot and a margin of 8 s pixels around it (where
// every data shape lies), and clear it there.
void dfd_chart_mask_paint(chart_ctx *ctx, const uint8_t color[3], double opacity);

// An anti-aliased polyline of n points in image pixel coordinates into the clipped mask view;
// dashed lines use `dash` pixels on and `gap` off, continuing across vertices.
void dfd_chart_mask_polyline(chart_ctx *ctx, const double *px, const double *py, size_t n,
                             double width, bool dashed, double dash, double gap);

// A crisp dashed horizontal (or vertical) line of `thick` pixels, clipped to the plot.
void dfd_chart_dashed_hline(chart_ctx *ctx, int row, int thick, const uint8_t color[3]);
void dfd_chart_dashed_vline(chart_ctx *ctx, int col, int thick, const uint8_t color[3]);

// ---- numbers and validation ----

// Print v compactly: integers without decimals, otherwise 3 significant digits.
void dfd_chart_format_value(char *buf, size_t cap, double v);

// DFD_ERR_INVALID naming what/series/array/index when some of n values is not finite.
dfd_status dfd_chart_check_finite(const chart_ctx *ctx, const char *series_kind, size_t i_series,
                                  const char *series_name, const char *array, const double *v,
                                  size_t n, dfd_error *err);

// The colour of series i: its own or the palette's.
const uint8_t *dfd_chart_series_color(const uint8_t *own, size_t i);

#endif
