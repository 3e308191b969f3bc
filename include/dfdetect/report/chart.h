// Charts as images: bar charts (label distributions), line charts (loss/accuracy per epoch, the
// per-frame score timeline), ROC curves, score histograms per class and confusion matrices. Each
// renders into a newly allocated RGB dfd_image, and has a *_png convenience that renders and writes
// a PNG file atomically (image/imageio.h). `dfdetect dataset stats`, `train`, `eval` and
// `scan --explain` draw their figures with these.
//
// Look: white background, light grey grid, dark text in the built-in bitmap font (image/draw.h),
// a title line at twice the text scale, axis labels, "nice" tick numbers (1, 2, 2.5 or 5 times a
// power of ten), data drawn over the axes with anti-aliased lines, and a legend box in the inner
// corner of the plot that covers the least data (or in rows under the plot when every corner
// would hide some). Series without a colour of their own take the colours of dfd_chart_palette
// in order. Readable at the default 640 x 480.
//
// Common contract of every dfd_chart_* function:
// - *out is overwritten (free it first), RGB (c = 3) with opts->width x opts->height pixels, and
//   left empty on error. Nothing is drawn outside it (the drawing primitives clip).
// - All inputs are borrowed for the call only. Strings may be NULL where a field says so; text
//   too wide for its place is shortened with "..".
// - Errors: DFD_ERR_INVALID with a one-line message naming the chart and the offending input
//   ("roc chart: curve 0 'video': tpr[3] is NaN") for: NULL required pointers, zero counts, NaN
//   or infinite values, a data range too wide for a double, options out of range, an image too
//   small for its text; DFD_ERR_NOMEM; the *_png functions also DFD_ERR_IO. Never a crash,
//   whatever the numbers.
// - Thread-safe: no global state.
#ifndef DFD_REPORT_CHART_H
#define DFD_REPORT_CHART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

// Most series (bar series, lines, ROC curves, histogram classes) one chart takes.
#define DFD_CHART_MAX_SERIES 16
// Most bar categories / confusion-matrix classes / vertical marks one chart takes.
#define DFD_CHART_MAX_CATEGORIES 256
#define DFD_CHART_MAX_CLASSES    32
#define DFD_CHART_MAX_MARKS      4096
// Largest count a confusion-matrix cell may hold (row sums stay far from overflow).
#define DFD_CHART_MAX_COUNT 1000000000000000LL

// ---- options shared by every chart ----

typedef struct dfd_chart_opts {
    int width, height;     // image size in pixels: 160..8192 x 120..8192 (default 640 x 480)
    int text_scale;        // bitmap-font scale of ticks, labels, legend: 0 = automatic (1, or 2
                           // when the image is at least 1200 wide); otherwise 1..8. Title: twice.
    const char *title;     // line above the plot; NULL or "" for none
    const char *x_label;   // under the x axis; NULL or "" for none
    const char *y_label;   // left of the y axis (drawn rotated 90 degrees); NULL or "" for none
    const char *y2_label;  // line charts with right-axis series: the right axis' label
    bool legend;           // draw the legend (default true; charts with one unnamed series have
                           // no legend entries and draw none)
    uint8_t background[3]; // default white (255, 255, 255)
    uint8_t text_color[3]; // default near-black (33, 33, 33)
} dfd_chart_opts;

// 640 x 480, automatic text scale, no title or axis labels, legend on, black on white.
dfd_chart_opts dfd_chart_opts_default(void);

// The i-th colour of the series palette (i taken modulo its 10 colours: blue, orange, green, red,
// purple, brown, pink, grey, olive, cyan; colour-blind friendly, as in matplotlib's tab10).
const uint8_t *dfd_chart_palette(size_t i);

// ---- bar chart ----

// One series of bar values, one value per category (>= 0 when stacked; any finite value when
// grouped, bars grow up from 0).
typedef struct dfd_bar_series {
    const char *name;     // legend text; NULL or "" for none
    const double *values; // n_categories values
    const uint8_t *color; // RGB, NULL = palette colour of the series index
} dfd_bar_series;

typedef struct dfd_bar_chart {
    const char *const *categories; // n_categories labels under the x axis (entries may be NULL)
    size_t n_categories;           // 1..DFD_CHART_MAX_CATEGORIES
    const dfd_bar_series *series;  // n_series series
    size_t n_series;               // 1..DFD_CHART_MAX_SERIES
    bool stacked;     // false: the series' bars side by side in each category (grouped);
                      // true: stacked bottom to top in series order (values must be >= 0)
    bool show_values; // print each bar's value above it (stacked: each segment's value inside it
                      // when it is tall enough, and the total above the stack)
} dfd_bar_chart;

// Bar chart: categories evenly spaced along x, the y axis from 0 (or the most negative value) to
// a nice number at or above the largest bar (stack total). Bar heights are proportional to the
// values: a bar of value v spans from the row of 0 to the row of v on the y axis (rounded).
dfd_status dfd_chart_bar(dfd_image *out, const dfd_bar_chart *chart, const dfd_chart_opts *opts,
                         dfd_error *err);
dfd_status dfd_chart_bar_png(const char *path, const dfd_bar_chart *chart,
                             const dfd_chart_opts *opts, dfd_error *err);

// ---- line chart ----

typedef struct dfd_line_series {
    const char *name;     // legend text; NULL or "" for none
    const double *x;      // n x values, or NULL for 0, 1, ..., n - 1; need not be sorted (points
                          // are joined in the given order)
    const double *y;      // n y values (finite)
    size_t n;             // >= 1; a one-point series is drawn as its marker only
    const uint8_t *color; // RGB, NULL = palette colour of the series index
    bool right_axis;      // plot against the second (right) y axis
    bool dashed;          // dashed line (e.g. validation curves)
    bool markers;         // a small filled disc at each point
} dfd_line_series;

typedef struct dfd_line_chart {
    const dfd_line_series *series; // n_series series, 1..DFD_CHART_MAX_SERIES
    size_t n_series;
    // Axis ranges: a NaN bound is automatic (the data's range widened to nice tick numbers; a
    // flat range is widened by 1 or by 10% of its magnitude). Set both bounds to fix a range,
    // e.g. y in [0, 1] for scores. Fixed bounds need min < max.
    double x_min, x_max, y_min, y_max, y2_min, y2_max;
    bool x_integer; // ticks on x only at whole numbers (epochs, frame indices)
    // Optional horizontal reference line across the plot at y = hline_y on the left axis
    // (the decision threshold), drawn dashed in hline_color, with hline_label in the legend.
    bool has_hline;
    double hline_y;
    const char *hline_label;
    const uint8_t *hline_color; // NULL = red (214, 39, 40)
    // Optional vertical marks at these x values (best epoch, frames shown in an explanation):
    // thin vertical lines over the full plot height plus a small triangle pointing up from the
    // bottom edge of the plot, marks_label in the legend. n_marks 0..DFD_CHART_MAX_MARKS; marks
    // outside the x range are not drawn.
    const double *marks;
    size_t n_marks;
    const char *marks_label;
    const uint8_t *marks_color; // NULL = grey (127, 127, 127)
} dfd_line_chart;

// A line chart with no series filled in: every range automatic (NaN), no threshold, no marks.
dfd_line_chart dfd_line_chart_default(void);

// Line chart. A right axis (ticks and opts->y2_label) is drawn only when some series have
// right_axis set and others do not (when all do, they are plotted on the left axis). The automatic
// y range includes hline_y. The threshold line covers the row of hline_y (rounded) and the row
// above it, dashed over the full plot width.
dfd_status dfd_chart_line(dfd_image *out, const dfd_line_chart *chart, const dfd_chart_opts *opts,
                          dfd_error *err);
dfd_status dfd_chart_line_png(const char *path, const dfd_line_chart *chart,
                              const dfd_chart_opts *opts, dfd_error *err);

// ---- ROC curve ----

// One ROC curve: points (fpr[i], tpr[i]) in [0, 1], joined in order (train/metrics.h
// dfd_metrics_roc gives them sorted from (0, 0) to (1, 1)).
typedef struct dfd_roc_curve {
    const char *name;     // legend text, e.g. "video level"; NULL or "" for "ROC"
    const double *fpr;    // n values in [0, 1]
    const double *tpr;    // n values in [0, 1]
    size_t n;             // >= 2
    double auc;           // shown in the legend as "name (AUC = 0.953)"; NaN to leave it out
    const uint8_t *color; // RGB, NULL = palette colour of the curve index
} dfd_roc_curve;

typedef struct dfd_roc_chart {
    const dfd_roc_curve *curves; // 1..DFD_CHART_MAX_SERIES curves
    size_t n_curves;
    // Optional operating point (the chosen threshold): a filled circle at (op_fpr, op_tpr) on
    // the first curve's colour with a dark outline, op_label in the legend
    // (e.g. "threshold 0.50").
    bool has_operating_point;
    double op_fpr, op_tpr;
    const char *op_label;
} dfd_roc_chart;

// ROC chart: square-ish plot with both axes fixed to [0, 1] (ticks every 0.2), the chance
// diagonal from the plot's bottom-left corner (0, 0) to its top-right corner (1, 1) dashed grey,
// the curves on top. Default axis labels "False positive rate" / "True positive rate" when
// opts leaves them NULL.
dfd_status dfd_chart_roc(dfd_image *out, const dfd_roc_chart *chart, const dfd_chart_opts *opts,
                         dfd_error *err);
dfd_status dfd_chart_roc_png(const char *path, const dfd_roc_chart *chart,
                             const dfd_chart_opts *opts, dfd_error *err);

// ---- histogram ----

// The scores of one class (e.g. "real" and "fake").
typedef struct dfd_hist_series {
    const char *name;     // legend text, e.g. "real (n = 120)"; NULL or "" for none
    const double *values; // n finite values; values outside [lo, hi] are counted in the first or
                          // last bin
    size_t n;             // >= 1
    const uint8_t *color; // RGB, NULL = palette colour (series 0 blue, 1 orange, ...)
} dfd_hist_series;

typedef struct dfd_hist_chart {
    const dfd_hist_series *series; // 1..DFD_CHART_MAX_SERIES
    size_t n_series;
    double lo, hi; // binned range, lo < hi (scores: 0 and 1)
    int n_bins;    // 1..1000 equal bins; bin k is [lo + k w, lo + (k+1) w), the last one closed
    bool density;  // y is each series' fraction of its own values per bin (classes of very
                   // different sizes compare fairly) instead of counts
    // Optional vertical threshold line at x = threshold, dashed red, in the legend as
    // "threshold <value>".
    bool has_threshold;
    double threshold;
} dfd_hist_chart;

// Histogram chart: the series are overlaid, each bin's bar filled with the series colour at 45%
// opacity over what is below and outlined with the full colour, so two classes stay readable
// where they overlap. Bar tops are on the rows of their counts (fractions) on the y axis.
dfd_status dfd_chart_hist(dfd_image *out, const dfd_hist_chart *chart, const dfd_chart_opts *opts,
                          dfd_error *err);
dfd_status dfd_chart_hist_png(const char *path, const dfd_hist_chart *chart,
                              const dfd_chart_opts *opts, dfd_error *err);

// ---- confusion matrix ----

typedef struct dfd_confusion_chart {
    // counts[t * n_classes + p]: samples of true class t predicted as class p (rows: truth,
    // columns: prediction). Row-major, n_classes * n_classes entries.
    const long long *counts;
    int n_classes;                  // 1..DFD_CHART_MAX_CLASSES
    const char *const *class_names; // n_classes names (e.g. "real", "fake"); NULL = "0", "1", ..
} dfd_confusion_chart;

// Confusion-matrix heatmap: an n x n grid of square cells, rows = true class (top to bottom),
// columns = predicted class (left to right), each cell filled with a colour from white (0) to dark
// blue (the largest count), darker for larger counts (a larger count is never lighter; counts
// within about 1/1000 of the largest apart may share a colour), with its count and its percentage
// of the true class (the row; "recall" on the diagonal) written inside in black or white,
// whichever contrasts. A colour bar on the right maps counts to colours. Default axis labels
// "Predicted label" / "True label" when opts leaves them NULL. Errors also for counts below 0 or
// above DFD_CHART_MAX_COUNT.
dfd_status dfd_chart_confusion(dfd_image *out, const dfd_confusion_chart *chart,
                               const dfd_chart_opts *opts, dfd_error *err);
dfd_status dfd_chart_confusion_png(const char *path, const dfd_confusion_chart *chart,
                                   const dfd_chart_opts *opts, dfd_error *err);

// ---- plot geometry (for tests, and for callers placing their own annotations) ----

// Where a chart put its plot area (inside the axes), in image pixels, inclusive bounds: column x0
// shows x_min and x1 shows x_max; row y1 (bottom) shows y_min and y0 (top) shows y_max; the right
// axis, when a line chart has one, maps y2_min..y2_max onto the same rows (else both are 0).
// Confusion matrices: the cell grid, x_min = y_min = 0 and x_max = y_max = n_classes; every cell
// is `cell` pixels square and cell (t, p) covers columns x0 + p * cell .. x0 + (p + 1) * cell - 1
// and rows y0 + t * cell .. y0 + (t + 1) * cell - 1 (true class t top to bottom).
typedef struct dfd_chart_plot {
    int x0, y0, x1, y1;
    double x_min, x_max;
    double y_min, y_max;
    double y2_min, y2_max;
    int cell; // confusion matrices only, else 0
} dfd_chart_plot;

// The column / row where data value v lands (rounded to the nearest pixel; far values are clamped
// to +-1e7 pixels so the result stays an int):
// col = x0 + round((x - x_min) / (x_max - x_min) * (x1 - x0)),
// row = y1 - round((y - y_min) / (y_max - y_min) * (y1 - y0)); row2 the same on the right axis.
// Charts place every bar edge, point, line and mark with these.
int dfd_chart_plot_col(const dfd_chart_plot *plot, double x);
int dfd_chart_plot_row(const dfd_chart_plot *plot, double y);
int dfd_chart_plot_row2(const dfd_chart_plot *plot, double y2);

// As the renderers above, also returning the geometry they used in *plot (may be NULL; zeroed on
// error). The plain renderers are these with the geometry discarded.
dfd_status dfd_chart_bar_plot(dfd_image *out, dfd_chart_plot *plot, const dfd_bar_chart *chart,
                              const dfd_chart_opts *opts, dfd_error *err);
dfd_status dfd_chart_line_plot(dfd_image *out, dfd_chart_plot *plot, const dfd_line_chart *chart,
                               const dfd_chart_opts *opts, dfd_error *err);
dfd_status dfd_chart_roc_plot(dfd_image *out, dfd_chart_plot *plot, const dfd_roc_chart *chart,
                              const dfd_chart_opts *opts, dfd_error *err);
dfd_status dfd_chart_hist_plot(dfd_image *out, dfd_chart_plot *plot, const dfd_hist_chart *chart,
                               const dfd_chart_opts *opts, dfd_error *err);
dfd_status dfd_chart_confusion_plot(dfd_image *out, dfd_chart_plot *plot,
                                    const dfd_confusion_chart *chart, const dfd_chart_opts *opts,
                                    dfd_error *err);

// ---- nice numbers ----

// Tick values for an axis over [*lo, *hi] (finite, *lo < *hi) with about `target` (2..50) ticks:
// the step is 1, 2, 2.5 or 5 times a power of ten (integer: at least 1, and never 2.5), chosen so
// that the tick count is closest to target (ties: the tighter axis, then the larger step); an
// integer axis narrower than 1 gets step 1 and is widened. When `expand`, *lo and *hi are widened
// to multiples of the step (automatic ranges); otherwise they stay and the ticks are the step's
// multiples inside them. Writes at most `cap` ticks in increasing order and returns how many it
// wrote (0 for invalid input). Every chart uses this, so callers and tests agree on the numbers.
size_t dfd_chart_nice_ticks(double *ticks, size_t cap, double *lo, double *hi, int target,
                            bool expand, bool integer);

#endif
