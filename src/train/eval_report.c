// The evaluation report folder: charts, per-item CSV, JSON and an HTML page (see
// dfd_eval_report_write in include/dfdetect/train/eval.h).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/report/chart.h"
#include "dfdetect/report/html.h"
#include "dfdetect/train/eval.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"

#define PATH_CAP 4096

static const char *fmt(char *buf, size_t cap, double v)
{
    if (isfinite(v)) {
        snprintf(buf, cap, "%.4f", v);
    } else {
        snprintf(buf, cap, "n/a");
    }
    return buf;
}

static dfd_status join(char *out, const char *dir, const char *name, dfd_error *err)
{
    int k = snprintf(out, PATH_CAP, "%s/%s", dir, name);
    if (k < 0 || k >= PATH_CAP) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: path too long", dir);
    }
    return DFD_OK;
}

// ---- charts ----

// roc.png: the video-level and frame-level curves with the operating point. *drawn: false when
// neither curve exists (one label or nothing scored).
static dfd_status draw_roc(bool *drawn, const char *path, const dfd_eval *e, dfd_error *err)
{
    char names[2][64];
    dfd_roc_curve curves[2];
    size_t k = 0;
    const dfd_roc *rocs[2] = { &e->roc, &e->frame_roc };
    const double aucs[2] = { e->video.auc, e->frame_auc };
    const char *labels[2] = { "video level", "frame level" };
    for (int i = 0; i < 2; i++) {
        if (rocs[i]->n >= 2) {
            snprintf(names[k], sizeof names[k], "%s", labels[i]);
            curves[k] = (dfd_roc_curve){ .name = names[k],
                                         .fpr = rocs[i]->fpr,
                                         .tpr = rocs[i]->tpr,
                                         .n = rocs[i]->n,
                                         .auc = aucs[i] };
            k++;
        }
    }
    *drawn = k > 0;
    if (!*drawn) {
        return DFD_OK;
    }
    char op[64];
    snprintf(op, sizeof op, "threshold %.2f", e->threshold);
    dfd_roc_chart c = { .curves = curves, .n_curves = k };
    if (e->roc.n >= 2 && isfinite(e->video.fpr) && isfinite(e->video.tpr)) {
        c.has_operating_point = true;
        c.op_fpr = e->video.fpr;
        c.op_tpr = e->video.tpr;
        c.op_label = op;
    }
    dfd_chart_opts o = dfd_chart_opts_default();
    o.title = "ROC";
    return dfd_chart_roc_png(path, &c, &o, err);
}

static dfd_status draw_confusion(const char *path, const dfd_eval *e, dfd_error *err)
{
    const long long counts[4] = { e->video.confusion[0][0], e->video.confusion[0][1],
                                  e->video.confusion[1][0], e->video.confusion[1][1] };
    static const char *const names[2] = { "REAL", "FAKE" };
    dfd_confusion_chart c = { .counts = counts, .n_classes = 2, .class_names = names };
    char title[64];
    snprintf(title, sizeof title, "Confusion at %.2f", e->threshold);
    dfd_chart_opts o = dfd_chart_opts_default();
    o.title = title;
    return dfd_chart_confusion_png(path, &c, &o, err);
}

static dfd_status draw_hist(const char *path, const dfd_eval *e, const dfd_eval_item *items,
                            size_t n, dfd_error *err)
{
    double *v = dfd_malloc(e->n_scored * sizeof *v);
    if (!v) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n_lab[2] = { 0, 0 }, k = 0;
    for (int lab = 0; lab < 2; lab++) {
        for (size_t i = 0; i < n; i++) {
            if (items[i].outcome == DFD_EVAL_SCORED && (int)items[i].label == lab) {
                v[k++] = items[i].probability;
                n_lab[lab]++;
            }
        }
    }
    static const uint8_t blue[3] = { 31, 119, 180 }, orange[3] = { 255, 127, 14 };
    char names[2][48];
    dfd_hist_series s[2];
    size_t n_s = 0;
    for (int lab = 0; lab < 2; lab++) {
        if (n_lab[lab] == 0) {
            continue;
        }
        snprintf(names[lab], sizeof names[lab], "%s (n = %zu)", lab ? "FAKE" : "REAL", n_lab[lab]);
        s[n_s++] = (dfd_hist_series){ .name = names[lab],
                                      .values = v + (lab ? n_lab[0] : 0),
                                      .n = n_lab[lab],
                                      .color = lab ? orange : blue };
    }
    dfd_hist_chart c = { .series = s,
                         .n_series = n_s,
                         .lo = 0,
                         .hi = 1,
                         .n_bins = 20,
                         .density = true,
                         .has_threshold = true,
                         .threshold = e->threshold };
    dfd_chart_opts o = dfd_chart_opts_default();
    o.title = "Video scores";
    o.x_label = "P(FAKE)";
    o.y_label = "share of the class";
    dfd_status st = dfd_chart_hist_png(path, &c, &o, err);
    dfd_free(v);
    return st;
}

// ---- HTML ----

#define METRIC_ROWS 8
#define METRIC_COLS 4

static void metrics_table(dfd_html *h, const dfd_eval *e)
{
    static const char *const header[METRIC_COLS] = { "metric", "video (scored items)",
                                                     "video (unscored at 0.5)", "frame" };
    static const char *const names[METRIC_ROWS] = {
        "items",
        "AUC",
        "AUC 95% interval",
        "log loss",
        "accuracy",
        "balanced accuracy",
        "EER",
        "FPR at 90% TPR",
    };
    char buf[METRIC_ROWS][METRIC_COLS][64];
    const char *cells[METRIC_ROWS * METRIC_COLS];
    const dfd_metrics *ms[2] = { &e->video, &e->video_all };
    for (int c = 0; c < 2; c++) {
        const dfd_metrics *m = ms[c];
        snprintf(buf[0][c + 1], 64, "%zu", m->n);
        fmt(buf[1][c + 1], 64, m->auc);
        fmt(buf[3][c + 1], 64, m->log_loss);
        fmt(buf[4][c + 1], 64, m->accuracy);
        fmt(buf[5][c + 1], 64, m->balanced_accuracy);
        fmt(buf[6][c + 1], 64, m->eer);
        fmt(buf[7][c + 1], 64, m->fpr_at_tpr90);
    }
    if (isfinite(e->auc_lo)) {
        snprintf(buf[2][1], 64, "%.4f - %.4f", e->auc_lo, e->auc_hi);
    } else {
        snprintf(buf[2][1], 64, "n/a");
    }
    snprintf(buf[2][2], 64, "n/a");
    snprintf(buf[0][3], 64, "%zu", e->n_frames);
    fmt(buf[1][3], 64, e->frame_auc);
    fmt(buf[3][3], 64, e->frame_log_loss);
    for (int r = 0; r < METRIC_ROWS; r++) {
        cells[r * METRIC_COLS] = names[r];
        for (int c = 1; c < METRIC_COLS; c++) {
            bool frame_only = c == 3 && r != 0 && r != 1 && r != 3;
            cells[r * METRIC_COLS + c] = frame_only ? "" : buf[r][c];
        }
    }
    char caption[96];
    snprintf(caption, sizeof caption, "Metrics (threshold %.2f for accuracy and the confusion)",
             e->threshold);
    dfd_html_table(h, caption, header, METRIC_COLS, cells, METRIC_ROWS);
}

static void methods_table(dfd_html *h, const dfd_eval *e)
{
    if (e->n_methods == 0) {
        return;
    }
    static const char *const header[6] = { "method",   "items",  "fakes",
                                           "accuracy", "recall", "AUC vs REAL" };
    char(*buf)[5][32] = dfd_malloc(e->n_methods * sizeof *buf);
    const char **cells = dfd_malloc(e->n_methods * 6 * sizeof *cells);
    if (buf && cells) {
        for (size_t i = 0; i < e->n_methods; i++) {
            const dfd_eval_method *m = &e->methods[i];
            snprintf(buf[i][0], 32, "%zu", m->n);
            snprintf(buf[i][1], 32, "%zu", m->n_fake);
            fmt(buf[i][2], 32, m->accuracy);
            fmt(buf[i][3], 32, m->recall);
            fmt(buf[i][4], 32, m->auc);
            cells[i * 6] = m->name;
            for (int c = 0; c < 5; c++) {
                cells[i * 6 + 1 + (size_t)c] = buf[i][c];
            }
        }
        dfd_html_table(h, "Per method", header, 6, cells, e->n_methods);
    }
    dfd_free(buf);
    dfd_free(cells);
}

static void unscored_table(dfd_html *h, const dfd_eval *e, const dfd_eval_item *items, size_t n)
{
    size_t k = e->n_no_face + e->n_failed;
    if (k == 0) {
        return;
    }
    const char **cells = dfd_malloc(k * 3 * sizeof *cells);
    if (!cells) {
        return;
    }
    size_t r = 0;
    for (size_t i = 0; i < n && r < k; i++) {
        if (items[i].outcome != DFD_EVAL_SCORED) {
            cells[r * 3] = items[i].file;
            cells[r * 3 + 1] = dfd_eval_verdict(&items[i], e->threshold);
            cells[r * 3 + 2] = items[i].reason;
            r++;
        }
    }
    static const char *const header[3] = { "file", "verdict", "reason" };
    dfd_html_table(h, "Items without a score", header, 3, cells, r);
    dfd_free(cells);
}

static void header_text(dfd_html *h, const dfd_eval *e, const dfd_eval_info *info)
{
    char line[1024];
    snprintf(line, sizeof line, "Model: %s %s (%s).", info->model_name ? info->model_name : "?",
             info->model_version ? info->model_version : "",
             info->model_path ? info->model_path : "");
    dfd_html_paragraph(h, line);
    size_t len = (size_t)snprintf(line, sizeof line, "Data:");
    for (size_t i = 0; i < info->n_data && len < sizeof line; i++) {
        len += (size_t)snprintf(line + len, sizeof line - len, " %s", info->data[i]);
    }
    if (info->holdout && len < sizeof line) {
        snprintf(line + len, sizeof line - len, " (held-out fold %d of %d only)",
                 info->holdout_fold, info->holdout_folds);
    }
    dfd_html_paragraph(h, line);
    snprintf(line, sizeof line,
             "%zu items (%zu REAL, %zu FAKE): %zu scored, %zu without a face, %zu failed; "
             "%zu faces scored. %d frames per video, %.1f s.",
             e->n, e->n_label[DFD_LABEL_REAL], e->n_label[DFD_LABEL_FAKE], e->n_scored,
             e->n_no_face, e->n_failed, e->n_frames, info->frames, info->seconds);
    if (info->mirrored) {
        const size_t used = strlen(line);
        snprintf(line + used, sizeof line - used, " Every crop also scored mirrored.");
    }
    dfd_html_paragraph(h, line);
}

static dfd_status write_html(const char *path, const dfd_eval *e, const dfd_eval_item *items,
                             size_t n, const dfd_eval_info *info, const bool drawn[3],
                             dfd_error *err)
{
    char title[128];
    snprintf(title, sizeof title, "dfdetect eval: %s %s", info->model_name ? info->model_name : "",
             info->model_version ? info->model_version : "");
    dfd_html *h;
    dfd_status st = dfd_html_create(&h, title, err);
    if (st) {
        return st;
    }
    header_text(h, e, info);
    dfd_html_heading(h, "Metrics");
    metrics_table(h, e);
    char c[4][32];
    const long long(*cm)[2] = e->video.confusion;
    snprintf(c[0], 32, "%lld", cm[0][0]);
    snprintf(c[1], 32, "%lld", cm[0][1]);
    snprintf(c[2], 32, "%lld", cm[1][0]);
    snprintf(c[3], 32, "%lld", cm[1][1]);
    const char *conf[6] = { "REAL", c[0], c[1], "FAKE", c[2], c[3] };
    static const char *const conf_header[3] = { "true \\ predicted", "REAL", "FAKE" };
    dfd_html_table(h, "Confusion matrix (scored items)", conf_header, 3, conf, 2);
    methods_table(h, e);
    dfd_html_heading(h, "Charts");
    static const char *const files[3] = { "roc.png", "confusion.png", "scores.png" };
    static const char *const captions[3] = {
        "ROC curves: video level (one probability per item) and frame level (every face)",
        "Confusion matrix of the scored items at the threshold",
        "Video probabilities of REAL and FAKE items (share of each class per bin)"
    };
    for (int i = 0; i < 3; i++) {
        if (drawn[i]) {
            dfd_html_image(h, files[i], NULL, captions[i]);
        } else {
            char msg[160];
            snprintf(msg, sizeof msg, "%s: not drawn (needs scored items%s).", files[i],
                     i == 0 ? " of both labels" : "");
            dfd_html_paragraph(h, msg);
        }
    }
    dfd_html_heading(h, "Items");
    dfd_html_paragraph(h, "Every item's probability, verdict, faces and reason: items.csv; all "
                          "figures as JSON: metrics.json.");
    unscored_table(h, e, items, n);
    st = dfd_html_write(h, path, err);
    dfd_html_destroy(h);
    return st;
}

// ---- the folder ----

static dfd_status write_text(const char *dir, const char *name, char *text, dfd_error *err)
{
    char path[PATH_CAP];
    dfd_status st = join(path, dir, name, err);
    if (!st && !text) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s/%s: out of memory", dir, name);
    }
    if (!st) {
        st = dfd_file_write_atomic(path, text, strlen(text), err);
    }
    dfd_free(text);
    return st;
}

static dfd_status write_files(const char *tmp, const dfd_eval *e, const dfd_eval_item *items,
                              size_t n, const dfd_eval_info *info, dfd_error *err)
{
    char path[PATH_CAP];
    bool drawn[3] = { false, e->n_scored > 0, e->n_scored > 0 };
    dfd_status st = join(path, tmp, "roc.png", err);
    if (!st) {
        st = draw_roc(&drawn[0], path, e, err);
    }
    if (!st && drawn[1] && !(st = join(path, tmp, "confusion.png", err))) {
        st = draw_confusion(path, e, err);
    }
    if (!st && drawn[2] && !(st = join(path, tmp, "scores.png", err))) {
        st = draw_hist(path, e, items, n, err);
    }
    if (!st) {
        st = write_text(tmp, "items.csv", dfd_eval_csv(e, items, n), err);
    }
    if (!st) {
        st = write_text(tmp, "metrics.json", dfd_eval_to_json(e, items, n, info), err);
    }
    if (!st && !(st = join(path, tmp, "index.html", err))) {
        st = write_html(path, e, items, n, info, drawn, err);
    }
    return st;
}

dfd_status dfd_eval_report_write(const char *dir, const dfd_eval *e, const dfd_eval_item *items,
                                 size_t n, const dfd_eval_info *info, dfd_error *err)
{
    static const dfd_eval_info none;
    char tmp[PATH_CAP];
    dfd_status st = dfd_temp_dir_create(tmp, sizeof tmp, dir, err);
    if (st) {
        return st;
    }
    st = write_files(tmp, e, items, n, info ? info : &none, err);
    if (!st) {
        st = dfd_dir_publish(tmp, dir, err);
    }
    if (st) {
        dfd_remove_tree(tmp, NULL);
    }
    return st;
}
