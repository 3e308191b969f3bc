// Charts (report/chart.h): nice tick numbers, and for each chart kind the pixels that must hold:
// bar heights proportional to values, the threshold line on its row, right-axis mapping, marks,
// the ROC diagonal through the plot's corners, histogram bars at their counts, confusion cells
// darker for larger counts; nothing drawn outside the plot for out-of-range data; clear errors
// for NaN, empty and one-point inputs; PNG round trip; out-of-memory paths.
#include <math.h>
#include <stdint.h>

#include "dfdetect/image/convert.h"
#include "dfdetect/image/image.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/report/chart.h"
#include "dfdetect/util/alloc.h"
#include "image/image_test_util.h"
#include "test.h"

static const uint8_t RED[3] = { 220, 0, 0 }, GREEN[3] = { 0, 160, 0 }, BLUE[3] = { 0, 0, 230 };

static bool px_is(const dfd_image *img, int x, int y, const uint8_t rgb[3])
{
    if (x < 0 || y < 0 || x >= img->w || y >= img->h) {
        return false;
    }
    return memcmp(dfd_image_px(img, x, y), rgb, 3) == 0;
}

// Rows of column x (between rows y0 and y1 inclusive) painted exactly rgb.
static int count_rows(const dfd_image *img, int x, int y0, int y1, const uint8_t rgb[3])
{
    int n = 0;
    for (int y = y0; y <= y1; y++) {
        n += px_is(img, x, y, rgb);
    }
    return n;
}

// Pixels of exactly rgb outside the box [x0, x1] x [y0, y1].
static int count_outside(const dfd_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3])
{
    int n = 0;
    for (int y = 0; y < img->h; y++) {
        for (int x = 0; x < img->w; x++) {
            if ((x < x0 || x > x1 || y < y0 || y > y1) && px_is(img, x, y, rgb)) {
                n++;
            }
        }
    }
    return n;
}

static dfd_chart_opts quiet_opts(void)
{
    dfd_chart_opts o = dfd_chart_opts_default();
    o.legend = false;
    return o;
}

// A line chart of n series with the y range [y_min, y_max] (NaN: automatic).
static dfd_line_chart line_chart(const dfd_line_series *s, size_t n, double y_min, double y_max)
{
    dfd_line_chart c = dfd_line_chart_default();
    c.series = s;
    c.n_series = n;
    c.y_min = y_min;
    c.y_max = y_max;
    return c;
}

// ---- nice numbers ----

static void test_nice_ticks_are_round_numbers(void)
{
    double t[64], lo = 0.0, hi = 1.0;
    size_t n = dfd_chart_nice_ticks(t, 64, &lo, &hi, 6, false, false);
    REQUIRE(n == 6);
    for (size_t i = 0; i < n; i++) {
        CHECK_NEAR(t[i], 0.2 * (double)i, 1e-12);
    }
    CHECK(lo == 0.0 && hi == 1.0);
    // Automatic range: widened outward to multiples of the step.
    lo = 0.03;
    hi = 0.97;
    n = dfd_chart_nice_ticks(t, 64, &lo, &hi, 6, true, false);
    CHECK(n == 6 && lo == 0.0 && fabs(hi - 1.0) < 1e-12);
    lo = -3.2;
    hi = 7.9;
    n = dfd_chart_nice_ticks(t, 64, &lo, &hi, 6, true, false);
    CHECK(n == 7 && lo == -4.0 && hi == 8.0 && t[2] == 0.0); // step 2
    // A 2.5 step where it fits best; never on integer axes.
    lo = 0.0;
    hi = 10.0;
    n = dfd_chart_nice_ticks(t, 64, &lo, &hi, 5, false, false);
    CHECK(n == 5 && t[1] == 2.5);
    n = dfd_chart_nice_ticks(t, 64, &lo, &hi, 5, false, true);
    CHECK(n >= 2 && t[1] == floor(t[1]) && t[1] != 2.5);
    // Integer axes never step below 1: epochs 1..3.
    lo = 1.0;
    hi = 3.0;
    n = dfd_chart_nice_ticks(t, 64, &lo, &hi, 8, true, true);
    CHECK(n == 3 && t[0] == 1.0 && t[2] == 3.0);
    lo = 0.2;
    hi = 0.8;
    n = dfd_chart_nice_ticks(t, 64, &lo, &hi, 5, true, true);
    CHECK(n == 2 && lo == 0.0 && hi == 1.0);
    // Large magnitudes and tiny spans stay exact multiples of the step.
    lo = 1e12;
    hi = 1e12 + 3.0;
    n = dfd_chart_nice_ticks(t, 64, &lo, &hi, 4, true, false);
    CHECK(n >= 2 && n <= 8 && t[0] >= 1e12 - 1.0);
    // Invalid input: nothing.
    lo = 1.0;
    hi = 1.0;
    CHECK(dfd_chart_nice_ticks(t, 64, &lo, &hi, 5, true, false) == 0);
    lo = (double)NAN;
    CHECK(dfd_chart_nice_ticks(t, 64, &lo, &hi, 5, true, false) == 0);
    lo = -1e308;
    hi = 1e308;
    CHECK(dfd_chart_nice_ticks(t, 64, &lo, &hi, 5, true, false) == 0); // span overflows
    lo = 0.0;
    hi = 1.0;
    CHECK(dfd_chart_nice_ticks(t, 64, &lo, &hi, 1, true, false) == 0);
    CHECK(dfd_chart_nice_ticks(t, 3, &lo, &hi, 10, true, false) == 3); // capped
}

// ---- bar chart ----

static void test_bar_heights_are_proportional_to_values(void)
{
    static const char *const cats[] = { "train", "val", "test" };
    static const double a[] = { 40, 10, 25 }, b[] = { 7, 33, 0 };
    dfd_bar_series s[2] = { { "real", a, RED }, { "fake", b, BLUE } };
    dfd_bar_chart c = { cats, 3, s, 2, false, false };
    dfd_chart_opts o = quiet_opts(); // no legend swatches in the bars' columns
    o.title = "Labels";
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_bar_plot(&img, &p, &c, &o, NULL));
    CHECK(img.w == 640 && img.h == 480 && img.c == 3);
    CHECK(p.y_min == 0.0 && p.y_max >= 40.0);
    const double px_per_unit = (p.y1 - p.y0) / (p.y_max - p.y_min);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 2; j++) {
            // The middle column of bar (category i, series j).
            int x = dfd_chart_plot_col(&p, i + 0.1 + 0.8 * (j + 0.5) / 2.0);
            const double v = j ? b[i] : a[i];
            int h = count_rows(&img, x, p.y0, p.y1, j ? BLUE : RED);
            CHECK_NEAR(h, v * px_per_unit, 1.0);
            if (v > 0) { // the bar ends on the row of its value, just above the axis line
                CHECK(px_is(&img, x, dfd_chart_plot_row(&p, v), j ? BLUE : RED));
                CHECK(px_is(&img, x, p.y1 - 1, j ? BLUE : RED));
                CHECK(!px_is(&img, x, dfd_chart_plot_row(&p, v) - 1, j ? BLUE : RED));
            }
        }
    }
    dfd_image_free(&img);

    // Stacked: each segment as tall as its value, the stack as tall as the total.
    c.stacked = true;
    CHECK_OK(dfd_chart_bar_plot(&img, &p, &c, &o, NULL));
    const double ppu = (p.y1 - p.y0) / (p.y_max - p.y_min);
    CHECK(p.y_max >= 47.0);
    for (int i = 0; i < 3; i++) {
        int x = dfd_chart_plot_col(&p, i + 0.5);
        CHECK_NEAR(count_rows(&img, x, p.y0, p.y1, RED), a[i] * ppu, 1.0);
        CHECK_NEAR(count_rows(&img, x, p.y0, p.y1, BLUE), b[i] * ppu, 1.0);
        CHECK(px_is(&img, x, dfd_chart_plot_row(&p, a[i] + b[i]), b[i] > 0 ? BLUE : RED));
    }
    dfd_image_free(&img);
}

static void test_bar_values_may_be_negative_when_grouped_only(void)
{
    static const char *const cats[] = { "a", "b" };
    static const double v[] = { -3, 5 };
    dfd_bar_series s = { NULL, v, GREEN };
    dfd_bar_chart c = { cats, 2, &s, 1, false, true };
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_bar_plot(&img, &p, &c, NULL, NULL));
    CHECK(p.y_min <= -3.0 && p.y_max >= 5.0);
    int x = dfd_chart_plot_col(&p, 0.5), r0 = dfd_chart_plot_row(&p, 0.0);
    CHECK(px_is(&img, x, r0 + 2, GREEN)); // the negative bar hangs below zero
    CHECK(px_is(&img, x, dfd_chart_plot_row(&p, -3.0) - 1, GREEN));
    CHECK(!px_is(&img, x, r0 - 2, GREEN));
    dfd_image_free(&img);
    dfd_error err;
    c.stacked = true;
    CHECK(dfd_chart_bar(&img, &c, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "negative");
    CHECK(img.data == NULL);
}

// ---- line chart ----

static void test_threshold_line_lies_on_its_row(void)
{
    static const double ys[4] = { 0.9, 0.95, 0.92, 0.97 }; // far from the threshold
    dfd_line_series s = { "score", NULL, ys, 4, BLUE, false, false, false };
    dfd_line_chart c = line_chart(&s, 1, 0.0, 1.0);
    c.has_hline = true;
    c.hline_y = 0.3;
    c.hline_color = RED;
    dfd_chart_opts o = quiet_opts();
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_line_plot(&img, &p, &c, &o, NULL));
    CHECK(p.y_min == 0.0 && p.y_max == 1.0);
    const int row = dfd_chart_plot_row(&p, 0.3);
    int on_row = 0, elsewhere = 0;
    for (int x = p.x0; x <= p.x1; x++) {
        on_row += px_is(&img, x, row, RED);
    }
    for (int y = p.y0; y <= p.y1; y++) {
        if (y != row && y != row - 1) {
            for (int x = p.x0; x <= p.x1; x++) {
                elsewhere += px_is(&img, x, y, RED);
            }
        }
    }
    // Dashed: 6 of every 10 columns.
    CHECK_NEAR(on_row, 0.6 * (p.x1 - p.x0 + 1), 8.0);
    CHECK_EQ_INT(elsewhere, 0);
    // The series is drawn at its values: point 1 is (1, 0.95).
    CHECK(px_is(&img, dfd_chart_plot_col(&p, 1.0), dfd_chart_plot_row(&p, 0.95), BLUE));
    dfd_image_free(&img);
}

static void test_right_axis_series_use_the_second_scale(void)
{
    static const double loss[3] = { 2.0, 1.0, 0.5 }, acc[3] = { 0.6, 0.6, 0.6 };
    static const double ep[3] = { 1, 2, 3 };
    dfd_line_series s[2] = { { "loss", ep, loss, 3, BLUE, false, false, true },
                             { "acc", ep, acc, 3, GREEN, true, true, false } };
    dfd_line_chart c = line_chart(s, 2, (double)NAN, (double)NAN);
    c.y2_min = 0.5;
    c.y2_max = 1.0;
    c.x_integer = true;
    static const double marks[1] = { 2 };
    c.marks = marks;
    c.n_marks = 1;
    c.marks_color = RED;
    dfd_chart_opts o = quiet_opts();
    o.y2_label = "accuracy";
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_line_plot(&img, &p, &c, &o, NULL));
    CHECK(p.y2_min == 0.5 && p.y2_max == 1.0);
    CHECK(p.y_min <= 0.5 && p.y_max >= 2.0);
    // The flat right-axis series runs along the row of 0.6 on the right scale (dashed: look for
    // it in a stretch of columns).
    int row2 = dfd_chart_plot_row2(&p, 0.6), hits = 0;
    for (int x = dfd_chart_plot_col(&p, 1.0); x <= dfd_chart_plot_col(&p, 3.0); x++) {
        hits += px_is(&img, x, row2, GREEN);
    }
    CHECK(hits > (dfd_chart_plot_col(&p, 3.0) - dfd_chart_plot_col(&p, 1.0)) / 3);
    // ...and nowhere else in a column: every green pixel lies within 2 rows of it.
    for (int x = p.x0; x <= p.x1; x++) {
        CHECK_EQ_INT(count_rows(&img, x, p.y0, p.y1, GREEN),
                     count_rows(&img, x, row2 - 2, row2 + 2, GREEN));
    }
    // Markers at the left-axis points; the mark is a vertical line at x = 2.
    CHECK(px_is(&img, dfd_chart_plot_col(&p, 3.0), dfd_chart_plot_row(&p, 0.5), BLUE));
    int mark_col = dfd_chart_plot_col(&p, 2.0);
    CHECK(count_rows(&img, mark_col, p.y0, p.y1, RED) > (p.y1 - p.y0) / 2);
    dfd_image_free(&img);
}

static void test_out_of_range_data_stays_inside_the_plot(void)
{
    static const double y[5] = { -1e6, 0.5, 1e300, 0.4, -1e300 };
    dfd_line_series s = { "wild", NULL, y, 5, RED, false, false, true };
    dfd_line_chart c = line_chart(&s, 1, 0.0, 1.0);
    c.x_min = 1.0; // the first point is left of the range too
    c.x_max = 4.0;
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_line_plot(&img, &p, &c, NULL, NULL));
    // Nothing in the series colour outside the plot grown by the 3-pixel bleed; some inside.
    CHECK_EQ_INT(count_outside(&img, p.x0 - 3, p.y0 - 3, p.x1 + 3, p.y1 + 3, RED), 0);
    CHECK(count_outside(&img, 1, 1, 0, 0, RED) > 50); // everywhere: the lines inside do show
    dfd_image_free(&img);
}

static void test_one_point_and_flat_series_still_draw(void)
{
    static const double y[1] = { 0.42 };
    dfd_line_series s = { "epoch 1", NULL, y, 1, GREEN, false, false, false };
    dfd_line_chart c = line_chart(&s, 1, (double)NAN, (double)NAN);
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_line_plot(&img, &p, &c, NULL, NULL));
    CHECK(p.x_min < 0.0 && p.x_max > 0.0 && p.y_min < 0.42 && p.y_max > 0.42);
    CHECK(px_is(&img, dfd_chart_plot_col(&p, 0.0), dfd_chart_plot_row(&p, 0.42), GREEN));
    dfd_image_free(&img);
}

static void test_crowded_legend_moves_below_the_plot(void)
{
    // Two curves crossing every corner of the plot (x 0..60 fills the automatic range [0, 60]):
    // no inner corner is free.
    enum {
        N = 61
    };
    double a[N], b[N];
    for (int i = 0; i < N; i++) {
        a[i] = (i % 2) ? 1.0 : 0.0;
        b[i] = (i % 2) ? 0.0 : 1.0;
    }
    dfd_line_series s[2] = { { "a", NULL, a, N, RED, false, false, false },
                             { "b", NULL, b, N, BLUE, false, false, false } };
    dfd_line_chart c = line_chart(s, 2, (double)NAN, (double)NAN);
    dfd_chart_opts with = dfd_chart_opts_default(), without = quiet_opts();
    dfd_image img;
    dfd_chart_plot p_with, p_without;
    CHECK_OK(dfd_chart_line_plot(&img, &p_without, &c, &without, NULL));
    dfd_image_free(&img);
    CHECK_OK(dfd_chart_line_plot(&img, &p_with, &c, &with, NULL));
    CHECK(p_with.y1 < p_without.y1); // rows given to the legend under the plot
    // Its swatches are there, under the plot.
    CHECK(count_outside(&img, 0, 0, img.w - 1, p_with.y1 + 20, RED) > 0);
    dfd_image_free(&img);
    // A chart with an empty corner keeps its legend inside.
    static const double flat[2] = { 0.0, 0.0 };
    dfd_line_series f = { "flat", NULL, flat, 2, RED, false, false, false };
    c.series = &f;
    c.n_series = 1;
    c.y_min = 0.0;
    c.y_max = 1.0;
    CHECK_OK(dfd_chart_line_plot(&img, &p_with, &c, &with, NULL));
    dfd_image_free(&img);
    CHECK_OK(dfd_chart_line_plot(&img, &p_without, &c, &without, NULL));
    dfd_image_free(&img);
    CHECK_EQ_INT(p_with.y1, p_without.y1);
}

// ---- ROC ----

static void test_roc_diagonal_joins_the_plot_corners(void)
{
    static const double fpr[3] = { 0, 0, 1 }, tpr[3] = { 0, 1, 1 }; // perfect: along the edges
    dfd_roc_curve cv = { "perfect", fpr, tpr, 3, 1.0, BLUE };
    dfd_roc_chart c = { &cv, 1, true, 0.0, 1.0, "threshold 0.5" };
    dfd_chart_opts o = quiet_opts();
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_roc_plot(&img, &p, &c, &o, NULL));
    CHECK_EQ_INT(p.x1 - p.x0, p.y1 - p.y0); // square
    CHECK(p.x_min == 0.0 && p.x_max == 1.0 && p.y_min == 0.0 && p.y_max == 1.0);
    const uint8_t grey[3] = { 127, 127, 127 };
    int on = 0, off = 0, near_bl = 0, near_tr = 0;
    for (int y = p.y0; y <= p.y1; y++) {
        for (int x = p.x0; x <= p.x1; x++) {
            if (!px_is(&img, x, y, grey)) {
                continue;
            }
            int d = abs((x - p.x0) - (p.y1 - y));
            on += d <= 1;
            off += d > 1;
            near_bl += x - p.x0 < 8 && p.y1 - y < 8;
            near_tr += p.x1 - x < 8 && y - p.y0 < 8 && d <= 1;
        }
    }
    CHECK(on > (p.x1 - p.x0) / 2); // dashed, most of its length
    CHECK_EQ_INT(off, 0);
    CHECK(near_bl > 0 && near_tr > 0);
    // The curve runs up the left edge and along the top.
    int mid = (p.y0 + p.y1) / 2;
    CHECK(px_is(&img, p.x0, mid, BLUE));
    CHECK(px_is(&img, (p.x0 + p.x1) / 2, p.y0, BLUE));
    // The operating point is a disc of the curve's colour centred on (0, 1).
    CHECK(px_is(&img, p.x0, p.y0, BLUE));
    dfd_image_free(&img);
}

static void test_roc_operating_point_is_drawn_where_asked(void)
{
    static const double fpr[2] = { 0, 1 }, tpr[2] = { 0, 1 };
    dfd_roc_curve cv = { NULL, fpr, tpr, 2, (double)NAN, GREEN };
    dfd_roc_chart c = { &cv, 1, true, 0.7, 0.2, NULL };
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_roc_plot(&img, &p, &c, NULL, NULL));
    int x = dfd_chart_plot_col(&p, 0.7), y = dfd_chart_plot_row(&p, 0.2);
    CHECK(px_is(&img, x, y, GREEN));
    CHECK(px_is(&img, x + 2, y, GREEN));
    CHECK(!px_is(&img, x + 12, y, GREEN));
    dfd_image_free(&img);
}

// ---- histogram ----

static void test_histogram_bars_reach_their_counts(void)
{
    // Series A: 3 values in bin 0, 1 in bin 1; series B: 2 values in bin 3 (of 4 on [0, 1]).
    static const double a[4] = { 0.05, 0.1, 0.2, 0.3 }, b[2] = { 0.8, 0.99 };
    dfd_hist_series s[2] = { { "real", a, 4, RED }, { "fake", b, 2, BLUE } };
    dfd_hist_chart c = { s, 2, 0.0, 1.0, 4, false, true, 0.5 };
    dfd_chart_opts o = quiet_opts();
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_hist_plot(&img, &p, &c, &o, NULL));
    CHECK(p.x_min == 0.0 && p.x_max == 1.0 && p.y_min == 0.0 && p.y_max >= 3.0);
    uint8_t fill_a[3], fill_b[3];
    for (int k = 0; k < 3; k++) { // 45% over white
        fill_a[k] = (uint8_t)lround(255 + (RED[k] - 255) * 0.45);
        fill_b[k] = (uint8_t)lround(255 + (BLUE[k] - 255) * 0.45);
    }
    int xa = dfd_chart_plot_col(&p, 0.125), xb = dfd_chart_plot_col(&p, 0.875);
    int ra = dfd_chart_plot_row(&p, 3.0), rb = dfd_chart_plot_row(&p, 2.0);
    CHECK(px_is(&img, xa, ra, RED)); // outline on the count's row
    CHECK(!px_is(&img, xa, ra - 1, RED) && !px_is(&img, xa, ra - 1, fill_a));
    CHECK(px_is(&img, xa, ra + 1, fill_a));
    CHECK(px_is(&img, xa, p.y1 - 1, fill_a));
    CHECK(px_is(&img, xb, rb, BLUE));
    CHECK(px_is(&img, xb, rb + 1, fill_b));
    CHECK(px_is(&img, dfd_chart_plot_col(&p, 0.375), dfd_chart_plot_row(&p, 1.0), RED));
    // Bin 2 is empty for both.
    CHECK_EQ_INT(count_rows(&img, dfd_chart_plot_col(&p, 0.6), p.y0, p.y1 - 1, fill_a), 0);
    // The threshold line at 0.5 (dashed red, 2 px: columns col - 1 and col).
    const uint8_t thr[3] = { 214, 39, 40 };
    CHECK(count_rows(&img, dfd_chart_plot_col(&p, 0.5), p.y0, p.y1, thr) > (p.y1 - p.y0) / 3);
    dfd_image_free(&img);

    // Density: each series sums to 1, so A's bin 0 is at 0.75 and B's bin 3 at 1.
    c.density = true;
    CHECK_OK(dfd_chart_hist_plot(&img, &p, &c, &o, NULL));
    CHECK(px_is(&img, xa, dfd_chart_plot_row(&p, 0.75), RED));
    CHECK(px_is(&img, xb, dfd_chart_plot_row(&p, 1.0), BLUE));
    dfd_image_free(&img);
}

// ---- confusion matrix ----

static int luma_at(const dfd_image *img, int x, int y)
{
    const uint8_t *q = dfd_image_px(img, x, y);
    return dfd_rgb_luma(q[0], q[1], q[2]);
}

static void test_confusion_cells_darken_with_count(void)
{
    static const long long counts[4] = { 50, 5, 20, 100 }; // [true][pred]
    static const char *const names[2] = { "real", "fake" };
    dfd_confusion_chart c = { counts, 2, names };
    dfd_image img;
    dfd_chart_plot p;
    CHECK_OK(dfd_chart_confusion_plot(&img, &p, &c, NULL, NULL));
    REQUIRE(p.cell > 20);
    CHECK_EQ_INT(p.x1 - p.x0 + 1, 2 * p.cell);
    int l[4];
    for (int t = 0; t < 2; t++) {
        for (int q = 0; q < 2; q++) { // a pixel near the cell's corner, away from its text
            l[t * 2 + q] = luma_at(&img, p.x0 + q * p.cell + 4, p.y0 + t * p.cell + 4);
        }
    }
    CHECK(l[3] < l[0] && l[0] < l[2] && l[2] < l[1]); // 100 < 50 < 20 < 5 in lightness
    // The largest count is the darkest blue; the text in it is white for contrast.
    const uint8_t dark[3] = { 8, 48, 107 }, white[3] = { 255, 255, 255 };
    CHECK(px_is(&img, p.x0 + p.cell + 4, p.y0 + p.cell + 4, dark));
    int whites = 0;
    for (int y = p.y0 + p.cell + 1; y < p.y0 + 2 * p.cell; y++) {
        for (int x = p.x0 + p.cell + 1; x < p.x0 + 2 * p.cell; x++) {
            whites += px_is(&img, x, y, white);
        }
    }
    CHECK(whites > 20);
    dfd_image_free(&img);
    // All zero: every cell the lightest colour, no division by zero.
    static const long long zeros[4] = { 0, 0, 0, 0 };
    c.counts = zeros;
    CHECK_OK(dfd_chart_confusion_plot(&img, &p, &c, NULL, NULL));
    const uint8_t light[3] = { 247, 251, 255 };
    CHECK(px_is(&img, p.x0 + 4, p.y0 + 4, light));
    dfd_image_free(&img);
}

// ---- errors ----

static void test_bad_inputs_give_clear_errors(void)
{
    dfd_image img = { 0 };
    dfd_error err;
    static const double nan_y[3] = { 0.1, (double)NAN, 0.3 }, ok_y[3] = { 0.1, 0.2, 0.3 };
    dfd_line_series s = { "val loss", NULL, nan_y, 3, NULL, false, false, false };
    dfd_line_chart lc = line_chart(&s, 1, (double)NAN, (double)NAN);
    CHECK(dfd_chart_line(&img, &lc, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "line chart: series 0 'val loss': y[1] is NaN");
    CHECK(img.data == NULL);
    s.y = ok_y;
    s.n = 0;
    CHECK(dfd_chart_line(&img, &lc, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "no points");
    s.n = 3;
    lc.y_min = 1.0;
    lc.y_max = 0.0;
    CHECK(dfd_chart_line(&img, &lc, NULL, &err) == DFD_ERR_INVALID);
    lc.y_min = lc.y_max = (double)NAN;
    lc.n_series = 0;
    CHECK(dfd_chart_line(&img, &lc, NULL, &err) == DFD_ERR_INVALID);
    lc.n_series = 1;
    lc.has_hline = true;
    lc.hline_y = (double)INFINITY;
    CHECK(dfd_chart_line(&img, &lc, NULL, &err) == DFD_ERR_INVALID);
    lc.has_hline = false;
    CHECK(dfd_chart_line(NULL, &lc, NULL, &err) == DFD_ERR_INVALID);
    CHECK(dfd_chart_line(&img, NULL, NULL, &err) == DFD_ERR_INVALID);

    // ROC: one point, NaN, outside [0, 1].
    static const double one[1] = { 0.5 }, two_nan[2] = { 0.0, (double)NAN }, two[2] = { 0.0, 1.0 };
    static const double big[2] = { 0.0, 1.5 };
    dfd_roc_curve cv = { "video", one, one, 1, 0.9, NULL };
    dfd_roc_chart rc = { &cv, 1, false, 0, 0, NULL };
    CHECK(dfd_chart_roc(&img, &rc, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "1 points");
    cv.fpr = two;
    cv.tpr = two_nan;
    cv.n = 2;
    CHECK(dfd_chart_roc(&img, &rc, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "curve 0 'video': tpr[1] is NaN");
    cv.tpr = big;
    CHECK(dfd_chart_roc(&img, &rc, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "outside [0, 1]");
    rc.n_curves = 0;
    CHECK(dfd_chart_roc(&img, &rc, NULL, &err) == DFD_ERR_INVALID);

    // Bars: no categories, NaN value.
    static const char *const cats[1] = { "x" };
    static const double v_nan[1] = { (double)NAN };
    dfd_bar_series bs = { "s", v_nan, NULL };
    dfd_bar_chart bc = { cats, 1, &bs, 1, false, false };
    CHECK(dfd_chart_bar(&img, &bc, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "values[0] is NaN");
    bc.n_categories = 0;
    CHECK(dfd_chart_bar(&img, &bc, NULL, &err) == DFD_ERR_INVALID);

    // Histogram: empty series, bad range, bad bins.
    dfd_hist_series hs = { "real", ok_y, 0, NULL };
    dfd_hist_chart hc = { &hs, 1, 0.0, 1.0, 10, false, false, 0 };
    CHECK(dfd_chart_hist(&img, &hc, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "no values");
    hs.n = 3;
    hc.hi = 0.0;
    CHECK(dfd_chart_hist(&img, &hc, NULL, &err) == DFD_ERR_INVALID);
    hc.hi = 1.0;
    hc.n_bins = 0;
    CHECK(dfd_chart_hist(&img, &hc, NULL, &err) == DFD_ERR_INVALID);

    // Confusion: negative count, no classes.
    static const long long neg[4] = { 1, -1, 0, 2 };
    dfd_confusion_chart cc = { neg, 2, NULL };
    CHECK(dfd_chart_confusion(&img, &cc, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "negative");
    static const long long huge[4] = { 1, 2, 3, 9223372036854775807LL };
    cc.counts = huge;
    CHECK(dfd_chart_confusion(&img, &cc, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "count [1][1] = 9223372036854775807 is too large");
    cc.n_classes = 0;
    CHECK(dfd_chart_confusion(&img, &cc, NULL, &err) == DFD_ERR_INVALID);

    // Options.
    dfd_chart_opts o = dfd_chart_opts_default();
    o.width = 100;
    hc.n_bins = 10;
    CHECK(dfd_chart_hist(&img, &hc, &o, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "histogram: size 100x480");
    o.width = 640;
    o.text_scale = 9;
    CHECK(dfd_chart_hist(&img, &hc, &o, &err) == DFD_ERR_INVALID);
    CHECK(img.data == NULL);
}

static void test_extreme_sizes_and_values_never_crash(void)
{
    static const double y[3] = { 1e300, -1e300, 0.0 }, tiny[3] = { 1e-300, 2e-300, 3e-300 };
    static const double span[2] = { -1e308, 1e308 };
    dfd_line_series s = { "a very long series name that will not fit in any legend at all",
                          NULL,
                          y,
                          3,
                          NULL,
                          false,
                          true,
                          true };
    dfd_line_chart c = line_chart(&s, 1, (double)NAN, (double)NAN);
    dfd_chart_opts o = dfd_chart_opts_default();
    o.title = "A title much wider than the smallest chart can show in its bitmap font";
    o.x_label = "x";
    o.y_label = "y label longer than the plot is tall, surely, at this size";
    dfd_image img;
    for (int k = 0; k < 3; k++) {
        o.width = k == 0 ? 160 : k == 1 ? 8192 : 640;
        o.height = k == 0 ? 120 : k == 1 ? 200 : 480;
        s.y = k == 2 ? tiny : y;
        dfd_error err;
        dfd_status st = dfd_chart_line(&img, &c, &o, &err);
        CHECK(st == DFD_OK || st == DFD_ERR_INVALID);
        if (!st) {
            CHECK(img.w == o.width && img.h == o.height);
        }
        dfd_image_free(&img);
    }
    // A range wider than a double can span is refused, not drawn wrong.
    s.y = span;
    s.n = 2;
    dfd_error err;
    CHECK(dfd_chart_line(&img, &c, NULL, &err) == DFD_ERR_INVALID);
    // Every chart at the smallest size with defaults: fine or a clear error.
    o = dfd_chart_opts_default();
    o.width = 160;
    o.height = 120;
    static const long long counts[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    dfd_confusion_chart cc = { counts, 3, NULL };
    dfd_status st = dfd_chart_confusion(&img, &cc, &o, NULL);
    CHECK(st == DFD_OK || st == DFD_ERR_INVALID);
    dfd_image_free(&img);
}

static void test_png_round_trip(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    static const long long counts[4] = { 10, 2, 3, 12 };
    dfd_confusion_chart c = { counts, 2, NULL };
    dfd_image img, back;
    CHECK_OK(dfd_chart_confusion(&img, &c, NULL, NULL));
    CHECK_OK(
        dfd_chart_confusion_png(tmpdir_path(path, sizeof path, dir, "cm.png"), &c, NULL, NULL));
    CHECK_OK(dfd_image_read(&back, path, NULL));
    CHECK(images_equal(&img, &back));
    dfd_image_free(&back);
    dfd_image_free(&img);
    // A failed render writes nothing; a missing directory is an I/O error.
    dfd_error err;
    c.n_classes = 0;
    CHECK(dfd_chart_confusion_png(tmpdir_path(path, sizeof path, dir, "bad.png"), &c, NULL, &err) ==
          DFD_ERR_INVALID);
    c.n_classes = 2;
    CHECK(dfd_chart_confusion_png(tmpdir_path(path, sizeof path, dir, "no/such/x.png"), &c, NULL,
                                  &err) == DFD_ERR_IO);
    CHECK(dfd_chart_confusion_png(NULL, &c, NULL, &err) == DFD_ERR_INVALID);
    CHECK_EQ_INT(tmpdir_count(dir), 1);
    tmpdir_remove(dir);
}

static void test_out_of_memory_fails_cleanly(void)
{
    static const double y[3] = { 0.1, 0.5, 0.3 };
    dfd_line_series s = { "a", NULL, y, 3, NULL, false, false, true };
    dfd_line_chart c = line_chart(&s, 1, (double)NAN, (double)NAN);
    static const double v[3] = { 0.2, 0.9, 0.95 };
    dfd_hist_series hs = { "h", v, 3, NULL };
    dfd_hist_chart hc = { &hs, 1, 0.0, 1.0, 10, false, false, 0 };
    int failures = 0;
    for (long k = 0; k < 8; k++) {
        dfd_image a, b;
        dfd_error err;
        dfd_alloc_fail_after(k);
        dfd_status st1 = dfd_chart_line(&a, &c, NULL, &err);
        dfd_alloc_fail_after(k);
        dfd_status st2 = dfd_chart_hist(&b, &hc, NULL, NULL);
        dfd_alloc_fail_after(-1);
        CHECK(st1 == DFD_OK || (st1 == DFD_ERR_NOMEM && a.data == NULL));
        CHECK(st2 == DFD_OK || (st2 == DFD_ERR_NOMEM && b.data == NULL));
        failures += (st1 != DFD_OK) + (st2 != DFD_OK);
        dfd_image_free(&a);
        dfd_image_free(&b);
    }
    CHECK(failures > 0);
}

DFD_TEST_MAIN(
    { "nice_ticks_are_round_numbers", test_nice_ticks_are_round_numbers },
    { "bar_heights_are_proportional_to_values", test_bar_heights_are_proportional_to_values },
    { "bar_values_may_be_negative_when_grouped_only",
      test_bar_values_may_be_negative_when_grouped_only },
    { "threshold_line_lies_on_its_row", test_threshold_line_lies_on_its_row },
    { "right_axis_series_use_the_second_scale", test_right_axis_series_use_the_second_scale },
    { "out_of_range_data_stays_inside_the_plot", test_out_of_range_data_stays_inside_the_plot },
    { "one_point_and_flat_series_still_draw", test_one_point_and_flat_series_still_draw },
    { "crowded_legend_moves_below_the_plot", test_crowded_legend_moves_below_the_plot },
    { "roc_diagonal_joins_the_plot_corners", test_roc_diagonal_joins_the_plot_corners },
    { "roc_operating_point_is_drawn_where_asked", test_roc_operating_point_is_drawn_where_asked },
    { "histogram_bars_reach_their_counts", test_histogram_bars_reach_their_counts },
    { "confusion_cells_darken_with_count", test_confusion_cells_darken_with_count },
    { "bad_inputs_give_clear_errors", test_bad_inputs_give_clear_errors },
    { "extreme_sizes_and_values_never_crash", test_extreme_sizes_and_values_never_crash },
    { "png_round_trip", test_png_round_trip },
    { "out_of_memory_fails_cleanly", test_out_of_memory_fails_cleanly })
