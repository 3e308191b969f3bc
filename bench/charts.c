// Sample charts for looking at (report/chart.h) and their render times: every chart kind that
// `dfdetect dataset stats`, `train`, `eval` and `scan --explain` draw, on made-up but realistic
// data, written as PNGs to a folder.
//   usage: charts OUT_DIR [--scale N] [--width W --height H]
// Prints one line per chart: file name, median and fastest render time over 9 runs (ms; on a
// shared machine the minimum is the steadier figure).
// Also writes OUT_DIR/report.html, the HTML report of report/html.h showing them all, and times
// the metrics of train/metrics.h on 100k scores.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/image/imageio.h"
#include "dfdetect/report/chart.h"
#include "dfdetect/report/html.h"
#include "dfdetect/train/metrics.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"

#define N_SCORES 600

// Deterministic pseudo-random numbers (xorshift) and Gaussian samples (Box-Muller).
static unsigned long long rng_state = 0x2545f4914f6cdd1dull;

static double uniform01(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gaussian(void)
{
    return sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01());
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

typedef dfd_status (*render_fn)(dfd_image *out, const void *chart, const dfd_chart_opts *o,
                                dfd_error *err);

static dfd_status r_bar(dfd_image *out, const void *c, const dfd_chart_opts *o, dfd_error *err)
{
    return dfd_chart_bar(out, c, o, err);
}
static dfd_status r_line(dfd_image *out, const void *c, const dfd_chart_opts *o, dfd_error *err)
{
    return dfd_chart_line(out, c, o, err);
}
static dfd_status r_roc(dfd_image *out, const void *c, const dfd_chart_opts *o, dfd_error *err)
{
    return dfd_chart_roc(out, c, o, err);
}
static dfd_status r_hist(dfd_image *out, const void *c, const dfd_chart_opts *o, dfd_error *err)
{
    return dfd_chart_hist(out, c, o, err);
}
static dfd_status r_conf(dfd_image *out, const void *c, const dfd_chart_opts *o, dfd_error *err)
{
    return dfd_chart_confusion(out, c, o, err);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Render once to warm up, then 9 times (median time printed); write the last image to DIR/name.
static int emit(const char *dir, const char *name, render_fn fn, const void *chart,
                const dfd_chart_opts *o)
{
    double t[9];
    dfd_image img = { 0 };
    dfd_error err = { 0 };
    if (fn(&img, chart, o, &err)) { // warm-up: first-touch page faults, lazy binding
        fprintf(stderr, "charts: %s: %s\n", name, dfd_error_message(&err));
        return 1;
    }
    for (int k = 0; k < 9; k++) {
        dfd_image_free(&img);
        double t0 = dfd_now();
        if (fn(&img, chart, o, &err)) {
            fprintf(stderr, "charts: %s: %s\n", name, dfd_error_message(&err));
            return 1;
        }
        t[k] = dfd_now() - t0;
    }
    qsort(t, 9, sizeof t[0], cmp_double);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    dfd_status st = dfd_png_write(path, &img, &err);
    dfd_image_free(&img);
    if (st) {
        fprintf(stderr, "charts: %s\n", dfd_error_message(&err));
        return 1;
    }
    printf("%-24s median %7.2f ms, min %6.2f ms\n", name, t[4] * 1e3, t[0] * 1e3);
    return 0;
}

// A line chart of n series, ranges automatic.
static dfd_line_chart line_chart(const dfd_line_series *s, size_t n)
{
    dfd_line_chart c = dfd_line_chart_default();
    c.series = s;
    c.n_series = n;
    return c;
}

static int label_distribution(const char *dir, dfd_chart_opts o)
{
    static const char *const cats[] = { "train", "validation", "test" };
    static const double real[] = { 412, 103, 98 }, fake[] = { 1630, 398, 402 };
    dfd_bar_series series[2] = { { "real", real, NULL }, { "fake", fake, NULL } };
    dfd_bar_chart c = { cats, 3, series, 2, false, true };
    o.title = "Label distribution per split";
    o.y_label = "Videos";
    int rc = emit(dir, "bar_grouped.png", r_bar, &c, &o);
    c.stacked = true;
    o.title = "Label distribution per split (stacked)";
    return rc | emit(dir, "bar_stacked.png", r_bar, &c, &o);
}

static int training_curves(const char *dir, dfd_chart_opts o)
{
    enum {
        E = 20
    };
    double ep[E], tl[E], vl[E], ta[E], va[E];
    for (int i = 0; i < E; i++) {
        ep[i] = i + 1;
        tl[i] = 0.15 + 0.55 * exp(-i / 4.0) + 0.01 * gaussian();
        vl[i] = 0.26 + 0.45 * exp(-i / 5.0) + 0.0009 * (i - 12) * (i - 12) * (i > 12) +
                0.012 * gaussian();
        ta[i] = 0.95 - 0.4 * exp(-i / 4.0) + 0.005 * gaussian();
        va[i] = 0.90 - 0.38 * exp(-i / 5.0) + 0.008 * gaussian();
    }
    dfd_line_series s[4] = {
        { "train loss", ep, tl, E, dfd_chart_palette(0), false, false, true },
        { "val loss", ep, vl, E, dfd_chart_palette(0), false, true, true },
        { "train accuracy", ep, ta, E, dfd_chart_palette(1), true, false, true },
        { "val accuracy", ep, va, E, dfd_chart_palette(1), true, true, true },
    };
    dfd_line_chart c = line_chart(s, 4);
    c.x_integer = true;
    c.y2_min = 0.5;
    c.y2_max = 1.0;
    static const double best[] = { 13 };
    c.marks = best;
    c.n_marks = 1;
    c.marks_label = "best epoch (13)";
    o.title = "Training: loss and accuracy per epoch";
    o.x_label = "Epoch";
    o.y_label = "Loss (binary cross-entropy)";
    o.y2_label = "Accuracy";
    return emit(dir, "curves.png", r_line, &c, &o);
}

static int timeline(const char *dir, dfd_chart_opts o)
{
    enum {
        F = 32
    };
    double t[F], p[F], marks[6];
    size_t n_marks = 0;
    for (int i = 0; i < F; i++) {
        t[i] = i * 10.0 / F;
        p[i] = sigmoid(1.8 * sin(i / 4.0) + 0.6 * gaussian() + (i > 16 ? 1.5 : -0.5));
        if (i % 6 == 3 && n_marks < 6) {
            marks[n_marks++] = t[i];
        }
    }
    dfd_line_series s = { "P(fake), face #0", t, p, F, NULL, false, false, true };
    dfd_line_chart c = line_chart(&s, 1);
    c.y_min = 0.0;
    c.y_max = 1.0;
    c.x_min = 0.0;
    c.x_max = 10.0;
    c.has_hline = true;
    c.hline_y = 0.5;
    c.hline_label = "threshold 0.50";
    c.marks = marks;
    c.n_marks = n_marks;
    c.marks_label = "frames in explanation";
    o.title = "clip_0042.mp4: per-frame score";
    o.x_label = "Time (s)";
    o.y_label = "P(fake)";
    return emit(dir, "timeline.png", r_line, &c, &o);
}

static int roc_and_hist(const char *dir, dfd_chart_opts o)
{
    static double sv[N_SCORES], sf[N_SCORES];
    static uint8_t lv[N_SCORES], lf[N_SCORES];
    static double real[N_SCORES], fake[N_SCORES];
    size_t nr = 0, nf = 0;
    for (int i = 0; i < N_SCORES; i++) {
        lv[i] = lf[i] = i % 3 != 0; // 2/3 fake, like DFDC
        sv[i] = sigmoid(lv[i] ? 1.6 + 1.4 * gaussian() : -1.6 + 1.2 * gaussian());
        sf[i] = sigmoid(lf[i] ? 0.9 + 1.6 * gaussian() : -0.9 + 1.5 * gaussian());
        if (lv[i]) {
            fake[nf++] = sv[i];
        } else {
            real[nr++] = sv[i];
        }
    }
    dfd_roc rv = { 0 }, rf = { 0 };
    double auc_v, auc_f;
    dfd_metrics m;
    if (dfd_metrics_roc(&rv, sv, lv, N_SCORES, NULL) ||
        dfd_metrics_roc(&rf, sf, lf, N_SCORES, NULL) ||
        dfd_metrics_auc(&auc_v, sv, lv, N_SCORES, NULL) ||
        dfd_metrics_auc(&auc_f, sf, lf, N_SCORES, NULL) ||
        dfd_metrics_compute(&m, sv, lv, N_SCORES, 0.5, NULL)) {
        fprintf(stderr, "charts: metrics failed\n");
        return 1;
    }
    dfd_roc_curve curves[2] = { { "video level", rv.fpr, rv.tpr, rv.n, auc_v, NULL },
                                { "frame level", rf.fpr, rf.tpr, rf.n, auc_f, NULL } };
    dfd_roc_chart rc = { curves, 2, true, m.fpr, m.tpr, "threshold 0.50" };
    o.title = "ROC curve (held-out fold)";
    int bad = emit(dir, "roc.png", r_roc, &rc, &o);
    dfd_roc_free(&rv);
    dfd_roc_free(&rf);

    char lr[64], lf2[64];
    snprintf(lr, sizeof lr, "real (n = %zu)", nr);
    snprintf(lf2, sizeof lf2, "fake (n = %zu)", nf);
    dfd_hist_series hs[2] = { { lr, real, nr, NULL }, { lf2, fake, nf, NULL } };
    dfd_hist_chart hc = { hs, 2, 0.0, 1.0, 25, true, true, 0.5 };
    o.title = "Score distribution per class";
    o.x_label = "P(fake)";
    o.y_label = "Fraction of class";
    bad |= emit(dir, "hist.png", r_hist, &hc, &o);

    static const char *const names[] = { "real", "fake" };
    dfd_confusion_chart cc = { &m.confusion[0][0], 2, names };
    o.title = "Confusion matrix (threshold 0.50)";
    o.x_label = NULL;
    o.y_label = NULL;
    bad |= emit(dir, "confusion.png", r_conf, &cc, &o);
    static const long long c3[9] = { 180, 12, 8, 20, 150, 30, 5, 25, 170 };
    static const char *const n3[] = { "real", "face swap", "reenactment" };
    dfd_confusion_chart c3c = { c3, 3, n3 };
    o.title = "Confusion matrix, 3 classes";
    bad |= emit(dir, "confusion3.png", r_conf, &c3c, &o);
    return bad;
}

// Metric costs at frame-level scale: every metric at once, and the 1000-resample AUC interval,
// on 100k synthetic scores (median of 5 runs each).
static int metrics_timing(void)
{
    enum {
        N = 100000
    };
    static double s[N];
    static uint8_t y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 3 != 0;
        s[i] = sigmoid(y[i] ? 1.0 + 1.5 * gaussian() : -1.0 + 1.5 * gaussian());
    }
    double t_all[5], t_ci[5], lo = 0.0, hi = 0.0;
    dfd_metrics m;
    for (int k = 0; k < 5; k++) {
        double t0 = dfd_now();
        if (dfd_metrics_compute(&m, s, y, N, 0.5, NULL)) {
            return 1;
        }
        double t1 = dfd_now();
        if (dfd_metrics_auc_ci(&lo, &hi, s, y, N, 1000, 0.95, 42, NULL)) {
            return 1;
        }
        t_all[k] = t1 - t0;
        t_ci[k] = dfd_now() - t1;
    }
    qsort(t_all, 5, sizeof t_all[0], cmp_double);
    qsort(t_ci, 5, sizeof t_ci[0], cmp_double);
    printf("%-24s %7.2f ms  (n = %d, AUC %.4f)\n", "metrics_compute", t_all[2] * 1e3, N, m.auc);
    printf("%-24s %7.2f ms  (1000 resamples: [%.4f, %.4f])\n", "metrics_auc_ci", t_ci[2] * 1e3, lo,
           hi);
    return 0;
}

// The HTML report a `dfdetect eval --report DIR` writes, on the same made-up numbers.
static int html_report(const char *dir)
{
    static const char *const head[3] = { "metric", "video level", "frame level" };
    static const char *const cells[] = {
        "AUC",      "0.957", "0.787", "log loss",          "0.281", "0.492",
        "accuracy", "0.885", "0.741", "balanced accuracy", "0.873", "0.738",
        "EER",      "0.112", "0.281", "FPR @ 90% TPR",     "13.5%", "48.0%",
    };
    static const char *const figs[][2] = {
        { "roc.png", "ROC curves, video and frame level" },
        { "confusion.png", "Confusion matrix at the 0.50 threshold" },
        { "hist.png", "Scores per class" },
        { "curves.png", "Training curves" },
        { "timeline.png", "Per-frame score of one clip (scan --explain)" },
        { "bar_grouped.png", "Label distribution" },
    };
    dfd_html *h;
    dfd_error err = { 0 };
    if (dfd_html_create(&h, "dfdetect eval: sample <report>", &err)) {
        fprintf(stderr, "charts: %s\n", dfd_error_message(&err));
        return 1;
    }
    dfd_html_paragraph(h, "Model faceres+gru (made-up numbers for a look at the layout).");
    dfd_html_heading(h, "Metrics");
    dfd_html_table(h, "Held-out fold", head, 3, cells, 6);
    dfd_html_heading(h, "Charts");
    for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
        dfd_html_image(h, figs[i][0], NULL, figs[i][1]);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/report.html", dir);
    dfd_status st = dfd_html_write(h, path, &err);
    dfd_html_destroy(h);
    if (st) {
        fprintf(stderr, "charts: %s\n", dfd_error_message(&err));
        return 1;
    }
    printf("%-24s\n", "report.html");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: charts OUT_DIR [--scale N] [--width W --height H]\n");
        return 2;
    }
    dfd_chart_opts o = dfd_chart_opts_default();
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--scale")) {
            o.text_scale = atoi(argv[i + 1]);
        } else if (!strcmp(argv[i], "--width")) {
            o.width = atoi(argv[i + 1]);
        } else if (!strcmp(argv[i], "--height")) {
            o.height = atoi(argv[i + 1]);
        }
    }
    dfd_error err = { 0 };
    if (dfd_mkdir_p(argv[1], &err)) {
        fprintf(stderr, "charts: %s\n", dfd_error_message(&err));
        return 1;
    }
    int bad = label_distribution(argv[1], o);
    bad |= training_curves(argv[1], o);
    bad |= timeline(argv[1], o);
    bad |= roc_and_hist(argv[1], o);
    bad |= html_report(argv[1]);
    bad |= metrics_timing();
    return bad ? 1 : 0;
}
