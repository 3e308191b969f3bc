// dfdetect eval --model M --data D: scan every item of a labelled dataset as `dfdetect scan` does
// and measure the model: video- and frame-level metrics as text or JSON, and a report folder.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfdetect/data/dataset.h"
#include "dfdetect/detect/scan.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/train/eval.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/log.h"
#include "dfdetect/util/threads.h"
#include "scan_pool.h"

static const char eval_help[] =
    "usage: dfdetect eval [--model FILE] --data D [--data D2 ...] [--json] [--report DIR]\n"
    "                     [--frames N] [--mirror] [--jobs N] [--threshold T] [--holdout]\n"
    "                     [--limit N]\n"
    "\n"
    "Measure a detector on a labelled dataset (a DFDC folder with metadata.json, a labels CSV,\n"
    "or real/ + fake/ folders; repeat --data for several as one): every item is scanned as\n"
    "`dfdetect scan` does, then the video-level figures (one probability per item: AUC with a\n"
    "bootstrap 95% interval, log loss, accuracy and balanced accuracy at the threshold, EER,\n"
    "FPR at 90% TPR, confusion matrix), the frame-level ones (every scored face with its item's\n"
    "label: AUC, log loss) and, when the data has a `method` column, per-method accuracy,\n"
    "recall and AUC against the REAL items are printed.\n"
    "\n"
    "Items without a usable face (NO_FACE) or that cannot be read are counted and listed, and\n"
    "left out of the main figures; the `unscored at 0.5` line scores them 0.5 instead.\n"
    "\n"
    "options:\n"
    "  --model FILE      the detector (a safetensors file made by `dfdetect train`; default:\n"
    "                    $DFD_DETECTOR, else the shipped "
    "share/models/dfdetect-default.safetensors)\n"
    "  --data D          a dataset (required; repeat for several)\n"
    "  --json            print the figures and every item as JSON\n"
    "  --report DIR      write DIR (replaced whole): roc.png, confusion.png, scores.png,\n"
    "                    items.csv, metrics.json and index.html\n"
    "  --frames N        frames sampled per video (default: the model's)\n"
    "  --mirror          score every face crop mirrored too, as `dfdetect scan --mirror`\n"
    "  --jobs N          items scanned at once (default: one per CPU, at most one per item)\n"
    "  --threshold T     probability at or above which an item is FAKE (default: the model's)\n"
    "  --holdout         only the items the model never trained on: the held-out fold its\n"
    "                    training recorded (`dfdetect train --cv-folds K`): give the same\n"
    "                    --data, in the same order\n"
    "  --limit N         at most N items, evenly spaced over the dataset (quick looks)\n"
    "  --models DIR      the face and backbone models (default: the repository's models/, or\n"
    "                    $DFD_MODELS)\n"
    "  --help            this text\n"
    "\n"
    "exit codes: 0 evaluated, 1 the data, the model or an item's file could not be read (one\n"
    "line on stderr each; the figures are still given when some items were scored), 2 usage\n"
    "error\n";

// One scan per selected item.
typedef struct eval_run {
    const dfd_dataset *ds;
    const size_t *idx; // dataset items scanned
    dfd_scan_result *res;
    dfd_status *st;
    size_t n;
} eval_run;

// ---- scan results -> evaluation items ----

typedef struct eval_items {
    dfd_eval_item *v;
    float **frames; // each item's frame probabilities (owned)
    size_t n;
} eval_items;

static void items_free(eval_items *it)
{
    for (size_t i = 0; it->frames && i < it->n; i++) {
        dfd_free(it->frames[i]);
    }
    dfd_free(it->frames);
    dfd_free(it->v);
}

static int items_build(eval_items *out, const eval_run *c)
{
    out->n = c->n;
    out->v = dfd_calloc(c->n, sizeof *out->v);
    out->frames = dfd_calloc(c->n, sizeof *out->frames);
    if (!out->v || !out->frames) {
        cli_error("eval: out of memory");
        return CLI_FAILED;
    }
    for (size_t i = 0; i < c->n; i++) {
        const dfd_dataset_item *d = &c->ds->items[c->idx[i]];
        const dfd_scan_result *r = &c->res[i];
        dfd_eval_item *e = &out->v[i];
        e->file = d->file;
        e->label = d->label;
        e->method = d->method;
        e->n_faces = r->n_ids;
        e->probability = (double)r->probability;
        e->reason = r->verdict == DFD_SCAN_ERROR ? r->error : r->reason;
        e->outcome = r->verdict == DFD_SCAN_ERROR     ? DFD_EVAL_FAILED
                     : r->verdict == DFD_SCAN_NO_FACE ? DFD_EVAL_NO_FACE
                                                      : DFD_EVAL_SCORED;
        size_t n_f = 0;
        for (size_t k = 0; k < r->n_ids; k++) {
            n_f += r->ids[k].n;
        }
        if (e->outcome != DFD_EVAL_SCORED || n_f == 0) {
            continue;
        }
        if (!(out->frames[i] = dfd_malloc(n_f * sizeof *out->frames[i]))) {
            cli_error("eval: out of memory");
            return CLI_FAILED;
        }
        for (size_t k = 0; k < r->n_ids; k++) {
            for (size_t f = 0; f < r->ids[k].n; f++) {
                out->frames[i][e->n_frame_probs++] = r->ids[k].faces[f].probability;
            }
        }
        e->frame_probs = out->frames[i];
    }
    return CLI_OK;
}

// ---- output ----

static void print_num(const char *name, double v)
{
    if (isfinite(v)) {
        printf("  %-22s %.4f\n", name, v);
    } else {
        printf("  %-22s n/a\n", name);
    }
}

static void print_text(const dfd_eval *e, const eval_items *it, const dfd_eval_info *info)
{
    printf("model  %s %s (%s)\n", info->model_name, info->model_version, info->model_path);
    printf("items  %zu (%zu REAL, %zu FAKE): %zu scored, %zu no face, %zu failed; %.1f s\n", e->n,
           e->n_label[DFD_LABEL_REAL], e->n_label[DFD_LABEL_FAKE], e->n_scored, e->n_no_face,
           e->n_failed, info->seconds);
    printf("video level (scored items, threshold %.2f)\n", e->threshold);
    print_num("AUC", e->video.auc);
    if (isfinite(e->auc_lo)) {
        printf("  %-22s %.4f - %.4f\n", "AUC 95% interval", e->auc_lo, e->auc_hi);
    }
    print_num("log loss", e->video.log_loss);
    print_num("accuracy", e->video.accuracy);
    print_num("balanced accuracy", e->video.balanced_accuracy);
    print_num("EER", e->video.eer);
    print_num("FPR at 90% TPR", e->video.fpr_at_tpr90);
    const long long(*cm)[2] = e->video.confusion;
    printf("  confusion              REAL->REAL %lld  REAL->FAKE %lld  FAKE->REAL %lld  "
           "FAKE->FAKE %lld\n",
           cm[0][0], cm[0][1], cm[1][0], cm[1][1]);
    printf("video level (every item, unscored at 0.5)\n");
    print_num("AUC", e->video_all.auc);
    print_num("log loss", e->video_all.log_loss);
    print_num("accuracy", e->video_all.accuracy);
    printf("frame level (%zu faces)\n", e->n_frames);
    print_num("AUC", e->frame_auc);
    print_num("log loss", e->frame_log_loss);
    if (e->n_methods) {
        printf("per method              items  fakes  accuracy  recall  AUC vs REAL\n");
    }
    for (size_t m = 0; m < e->n_methods; m++) {
        const dfd_eval_method *x = &e->methods[m];
        char f[3][16];
        const double v[3] = { x->accuracy, x->recall, x->auc };
        for (int j = 0; j < 3; j++) {
            snprintf(f[j], sizeof f[j], isfinite(v[j]) ? "%.4f" : "n/a", v[j]);
        }
        printf("  %-20.20s %7zu %6zu  %8s  %6s  %s\n", x->name, x->n, x->n_fake, f[0], f[1], f[2]);
    }
    for (size_t i = 0; i < it->n; i++) {
        const dfd_eval_item *x = &it->v[i];
        if (x->outcome == DFD_EVAL_NO_FACE) {
            printf("NO_FACE  %s  (%s)\n", x->file, x->reason);
        }
    }
}

// ---- resources ----

typedef struct eval_res {
    cli_scanning net;
    dfd_dataset ds;
    size_t *idx;
    size_t n;
} eval_res;

static void res_free(eval_res *r)
{
    cli_scanning_free(&r->net);
    dfd_dataset_free(&r->ds);
    dfd_free(r->idx);
}

// The model, the data and which items: CLI_FAILED / CLI_USAGE with one line on error.
static int load_model_and_data(eval_res *r, dfd_eval_holdout *h, const char *model_path,
                               const cli_strings *data, bool holdout, int limit)
{
    dfd_error err;
    if (dfd_detector_model_load(&r->net.model, model_path, &err)) {
        return cli_fail(&err);
    }
    if (holdout) {
        dfd_status hs = dfd_eval_holdout_parse(h, r->net.model->training_json);
        if (hs) {
            cli_error("eval: --holdout: %s %s (train with --cv-folds K to hold a fold out)",
                      model_path,
                      hs == DFD_ERR_NOT_FOUND ? "records no held-out fold"
                                              : "has a malformed \"holdout\" in its training data");
            return CLI_USAGE;
        }
    }
    if (cli_load_datasets(&r->ds, data->v, data->n, &err) ||
        dfd_eval_select(&r->idx, &r->n, &r->ds, holdout ? h : NULL, (size_t)limit, &err)) {
        return cli_fail(&err);
    }
    if (r->n == 0) {
        cli_error("eval: %s: no item selected", data->v[0]);
        return CLI_FAILED;
    }
    if (holdout && h->n >= 0 && limit == 0 && (size_t)h->n != r->n) {
        dfd_log(DFD_LOG_WARN,
                "eval: %zu items in held-out fold %d, but %lld when %s was trained: is this the "
                "same data?",
                r->n, h->fold, h->n, model_path);
    }
    return CLI_OK;
}

// Figures, output and report from the scans; the exit code.
static int report(const eval_run *c, const eval_items *items, const dfd_eval_info *info,
                  double threshold, bool json, const char *report_dir)
{
    dfd_error err;
    dfd_eval e;
    dfd_eval_opts o = dfd_eval_opts_default();
    o.threshold = threshold;
    int rc = CLI_OK;
    for (size_t i = 0; i < c->n; i++) {
        if (c->st[i]) {
            cli_error("%s", c->res[i].error);
            rc = CLI_FAILED;
        }
    }
    if (dfd_eval_compute(&e, items->v, items->n, &o, &err)) {
        return cli_fail(&err);
    }
    if (json) {
        char *text = dfd_eval_to_json(&e, items->v, items->n, info);
        if (!text) {
            cli_error("eval: out of memory");
            rc = CLI_FAILED;
        } else {
            printf("%s\n", text);
        }
        dfd_free(text);
    } else {
        print_text(&e, items, info);
    }
    if (report_dir && dfd_eval_report_write(report_dir, &e, items->v, items->n, info, &err)) {
        rc = cli_fail(&err);
    }
    if (e.n_scored == 0) {
        cli_error("eval: no item could be scored (no face or unreadable in all %zu)", e.n);
        rc = CLI_FAILED;
    }
    dfd_eval_free(&e);
    return rc;
}

static int evaluate(eval_res *r, const dfd_eval_info *base, const dfd_scan_opts *so, int jobs,
                    bool json, const char *report_dir)
{
    eval_run c = { .ds = &r->ds, .idx = r->idx, .n = r->n };
    c.res = dfd_calloc(r->n, sizeof *c.res);
    c.st = dfd_calloc(r->n, sizeof *c.st);
    const char **paths = dfd_malloc(r->n * sizeof *paths);
    eval_items items = { 0 };
    int rc = CLI_OK;
    if (!c.res || !c.st || !paths) {
        cli_error("eval: out of memory");
        rc = CLI_FAILED;
    }
    for (size_t i = 0; !rc && i < r->n; i++) {
        paths[i] = r->ds.items[r->idx[i]].path;
    }
    double t0 = dfd_now();
    if (!rc) {
        rc = cli_scan_paths(c.res, c.st, paths, r->n, &r->net, so, jobs, cli_show_progress(json));
    }
    dfd_free(paths);
    dfd_eval_info info = *base;
    info.seconds = dfd_now() - t0;
    rc = rc ? rc : items_build(&items, &c);
    // The float threshold to 6 decimals, so that 0.4 is 0.4 in the JSON and the report (for a
    // threshold of at most 6 decimals no float probability lies between the two).
    float t = so->threshold >= 0 ? so->threshold : r->net.model->threshold;
    double threshold = round((double)t * 1e6) / 1e6;
    rc = rc ? rc : report(&c, &items, &info, threshold, json, report_dir);
    items_free(&items);
    for (size_t i = 0; c.res && i < r->n; i++) {
        dfd_scan_result_free(&c.res[i]);
    }
    dfd_free(c.res);
    dfd_free(c.st);
    return rc;
}

static int run_eval(int argc, char **argv)
{
    bool json = false, help = false, holdout = false, mirror = false;
    int jobs = 0, frames = 0, limit = 0;
    const char *model_path = NULL, *threshold_s = NULL, *report_dir = NULL, *models_dir = NULL;
    cli_strings data = { .n = 0 };
    const cli_opt opts[] = {
        { "model", CLI_STRING, &model_path, 0, 0 },
        { "data", CLI_STRINGS, &data, 0, 0 },
        { "json", CLI_FLAG, &json, 0, 0 },
        { "report", CLI_STRING, &report_dir, 0, 0 },
        { "frames", CLI_INT, &frames, 1, 1000 },
        { "mirror", CLI_FLAG, &mirror, 0, 0 },
        { "jobs", CLI_INT, &jobs, 1, 256 },
        { "threshold", CLI_STRING, &threshold_s, 0, 0 },
        { "holdout", CLI_FLAG, &holdout, 0, 0 },
        { "limit", CLI_INT, &limit, 1, 100000000 },
        { "models", CLI_STRING, &models_dir, 0, 0 },
    };
    size_t n_pos;
    int rc = cli_parse(&cli_eval, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, &n_pos,
                       &help);
    if (rc || help) {
        return rc;
    }
    if (data.n == 0) {
        cli_error("eval: --data D is required (see dfdetect eval --help)");
        return CLI_USAGE;
    }
    char default_model[4096];
    if (!model_path) {
        dfd_detector_default_path(default_model, sizeof default_model);
        model_path = default_model;
    }
    dfd_scan_opts so = dfd_scan_opts_default();
    so.frames = frames;
    so.mirror = mirror;
    if (threshold_s && !cli_parse_probability(&so.threshold, threshold_s)) {
        cli_error("eval: --threshold wants a number in [0, 1], not '%s'", threshold_s);
        return CLI_USAGE;
    }
    eval_res r = { 0 };
    dfd_eval_holdout h;
    rc = load_model_and_data(&r, &h, model_path, &data, holdout, limit);
    jobs = cli_jobs(jobs, r.n);
    so.n_threads = cli_threads_per_job(jobs);
    rc = rc ? rc : cli_scanning_load_networks(&r.net, models_dir);
    if (!rc) {
        dfd_eval_info info = { .model_path = model_path,
                               .model_name = r.net.model->name,
                               .model_version = r.net.model->version,
                               .data = data.v,
                               .n_data = data.n,
                               .holdout = holdout,
                               .holdout_fold = holdout ? h.fold : 0,
                               .holdout_folds = holdout ? h.folds : 0,
                               .frames = frames ? frames : r.net.model->prep.frames,
                               .mirrored = mirror };
        rc = evaluate(&r, &info, &so, jobs, json, report_dir);
    }
    res_free(&r);
    return rc;
}

const cli_command cli_eval = {
    .name = "eval",
    .summary = "measure a detector on a labelled dataset (metrics, charts, HTML report)",
    .help = eval_help,
    .run = run_eval,
};
