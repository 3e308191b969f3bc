// dfdetect scan VIDEO...|IMAGE...|DIR --model FILE: a REAL / FAKE / NO_FACE answer per file,
// several files at once with --jobs, as text, JSON or a DFDC submission file; with --explain a
// folder per file of Grad-CAM face heatmaps and a per-frame score timeline.
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfdetect/detect/explain.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/detect/scan.h"
#include "dfdetect/detect/scan_json.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/progress.h"
#include "dfdetect/util/threads.h"
#include "scan_pool.h"

static const char scan_help[] =
    "usage: dfdetect scan VIDEO...|IMAGE...|DIR... [--model FILE] [--json] [--jobs N]\n"
    "                     [--threshold T] [--frames N] [--mirror] [--submission FILE.csv]\n"
    "                     [--explain DIR] [--models DIR]\n"
    "\n"
    "Say whether each video or image is a deepfake: sample frames as the model was trained to,\n"
    "find and track the faces, score every face with the detector and give the file the\n"
    "calibrated probability of its most suspicious face. One line per file:\n"
    "  FAKE 0.93  path         probability at or above the threshold\n"
    "  REAL 0.04  path\n"
    "  NO_FACE  path           no usable face (not an error)\n"
    "A folder argument means every video and image in it (.png, .jpg, .jpeg are images, scanned\n"
    "as one frame).\n"
    "\n"
    "options:\n"
    "  --model FILE        the detector (a safetensors file made by `dfdetect train`; default:\n"
    "                      $DFD_DETECTOR, else the shipped "
    "share/models/dfdetect-default.safetensors,\n"
    "                      see docs/MODEL_CARD.md)\n"
    "  --json              print a JSON array: per file the verdict, probability, identities\n"
    "                      with per-frame scores and boxes, timings, the model's name/version\n"
    "  --jobs N            files scanned at once (default: one per CPU, at most one per\n"
    "                      file; each job holds its own frames in memory)\n"
    "  --threshold T       probability at or above which a file is FAKE (default: the model's)\n"
    "  --frames N          frames sampled per video (default: the model's)\n"
    "  --mirror            also score every face crop mirrored and give the temporal model the\n"
    "                      mean of the two (test-time augmentation: twice the backbone time)\n"
    "  --submission FILE   also write the DFDC submission CSV `filename,label` (label: the\n"
    "                      probability; 0.5 for a file without a face or that failed)\n"
    "  --explain DIR       for each file with faces, a folder DIR/<file name> with each face\n"
    "                      crop under a Grad-CAM heatmap of where the FAKE evidence lies\n"
    "                      (idI_fFRAME_pPROB.png), a contact sheet of them (sheet.png) and\n"
    "                      the per-frame FAKE probability of each face over time\n"
    "                      (timeline.png); --json lists the files\n"
    "  --models DIR        the face and backbone models (default: the repository's models/, or\n"
    "                      $DFD_MODELS)\n"
    "  --help              this text\n"
    "\n"
    "exit codes: 0 every file scanned (NO_FACE included), 1 a file or the model could not be\n"
    "read (one line on stderr each; the other files are still scanned), 2 usage error\n";

typedef struct scan_item {
    char *path;
    dfd_status status;
    dfd_scan_result r;
    char *explain_dir;           // --explain: DIR/<safe name> (owned), else NULL
    dfd_explain_files explained; // what was written there (empty when nothing was)
    char explain_error[512];     // why the folder could not be written ("" when it was)
    double explain_seconds;      // spent writing it (Grad-CAM included)
} scan_item;

typedef struct scan_list {
    scan_item *v;
    size_t n;
} scan_list;

// One item per file the arguments name.
static int collect_items(scan_list *l, const char *const *args, size_t n)
{
    char **paths;
    size_t np;
    if (cli_collect_inputs(&paths, &np, args, n, CLI_INPUT_VIDEO | CLI_INPUT_IMAGE)) {
        return -1;
    }
    l->v = dfd_calloc(np ? np : 1, sizeof *l->v);
    if (!l->v) {
        cli_paths_free(paths, np);
        cli_error("out of memory");
        return -1;
    }
    for (size_t i = 0; i < np; i++) {
        l->v[i].path = paths[i]; // owned by the item now
    }
    l->n = np;
    dfd_free(paths);
    return 0;
}

static void list_free(scan_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        dfd_free(l->v[i].path);
        dfd_free(l->v[i].explain_dir);
        dfd_explain_files_free(&l->v[i].explained);
        dfd_scan_result_free(&l->v[i].r);
    }
    dfd_free(l->v);
}

typedef struct scan_ctx {
    scan_list *files;
    const dfd_detector_model *model;
    const dfd_face_models *faces;
    const dfd_graph *backbone;
    dfd_graph *explain_graph; // --explain: the backbone without DWPW fusion, else NULL
    dfd_scan_opts opts;
    dfd_scanner **scanners;     // one per pool thread, created on first use
    dfd_explainer **explainers; // likewise, with --explain
    pthread_mutex_t lock;
    dfd_progress bar;
    size_t done;
} scan_ctx;

// The --explain folder of one scanned file (a file with faces only).
static void explain_one(scan_ctx *c, scan_item *it, int thread)
{
    if (it->r.verdict != DFD_SCAN_REAL && it->r.verdict != DFD_SCAN_FAKE) {
        return;
    }
    dfd_error err;
    dfd_error_clear(&err);
    dfd_status st = DFD_OK;
    if (!c->explainers[thread]) {
        st = dfd_explainer_create(&c->explainers[thread], c->model, c->explain_graph,
                                  c->opts.n_threads, &err);
    }
    const char *base = strrchr(it->path, '/');
    char title[256];
    snprintf(title, sizeof title, "%s: %s %.2f", base ? base + 1 : it->path,
             dfd_scan_verdict_name(it->r.verdict), (double)it->r.probability);
    double t0 = dfd_now();
    if (!st) {
        st = dfd_explain_write(&it->explained, c->explainers[thread], &it->r, it->explain_dir,
                               title, &err);
    }
    it->explain_seconds = dfd_now() - t0;
    if (st) {
        snprintf(it->explain_error, sizeof it->explain_error, "%s: --explain: %s", it->path,
                 dfd_error_message(&err));
    }
}

static void scan_one(void *ctx, size_t i, int thread)
{
    scan_ctx *c = ctx;
    scan_item *it = &c->files->v[i];
    dfd_error err;
    dfd_error_clear(&err);
    dfd_status st = DFD_OK;
    if (!c->scanners[thread]) {
        st = dfd_scanner_create(&c->scanners[thread], c->model, c->faces, c->backbone, &c->opts,
                                &err);
    }
    if (!st) {
        st = dfd_scan_file(&it->r, c->scanners[thread], it->path, &err);
    } else {
        it->r.verdict = DFD_SCAN_ERROR;
        it->r.probability = NAN;
        snprintf(it->r.error, sizeof it->r.error, "%s", dfd_error_message(&err));
    }
    it->status = st;
    if (!st && c->explain_graph) {
        explain_one(c, it, thread);
    }
    pthread_mutex_lock(&c->lock);
    c->done++;
    dfd_progress_update(&c->bar, c->done);
    pthread_mutex_unlock(&c->lock);
}

static cJSON *file_json(const scan_item *it, const dfd_detector_model *m)
{
    const dfd_scan_json_explain ex = { .dir = it->explain_dir,
                                       .files = &it->explained,
                                       .seconds = it->explain_seconds };
    return dfd_scan_result_json(&it->r, it->path, m, &ex);
}

static void print_results(const scan_list *l, const dfd_detector_model *m, bool json)
{
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; arr && i < l->n; i++) {
            cJSON *o = file_json(&l->v[i], m);
            if (o) {
                cJSON_AddItemToArray(arr, o);
            }
        }
        char *text = arr ? cJSON_Print(arr) : NULL;
        if (text) {
            printf("%s\n", text);
            cJSON_free(text);
        }
        cJSON_Delete(arr);
    }
    for (size_t i = 0; i < l->n; i++) {
        const scan_item *it = &l->v[i];
        if (it->status) {
            cli_error("%s", it->r.error);
        } else if (!json && it->r.verdict == DFD_SCAN_NO_FACE) {
            printf("NO_FACE  %s\n", it->path);
        } else if (!json) {
            printf("%-4s %.2f  %s\n", dfd_scan_verdict_name(it->r.verdict),
                   (double)it->r.probability, it->path);
        }
        if (it->explain_error[0]) {
            cli_error("%s", it->explain_error);
        }
    }
}

// The DFDC submission: filename (the base name), label (the probability; 0.5 when unknown).
static int write_submission(const char *path, const scan_list *l)
{
    size_t cap = 32 + l->n * 64, len = 0;
    for (size_t i = 0; i < l->n; i++) {
        cap += strlen(l->v[i].path);
    }
    char *buf = dfd_malloc(cap);
    if (!buf) {
        cli_error("%s: out of memory", path);
        return CLI_FAILED;
    }
    len += (size_t)snprintf(buf, cap, "filename,label\n");
    for (size_t i = 0; i < l->n; i++) {
        const scan_item *it = &l->v[i];
        const char *base = strrchr(it->path, '/');
        base = base ? base + 1 : it->path;
        double p =
            it->status || it->r.verdict == DFD_SCAN_NO_FACE ? 0.5 : (double)it->r.probability;
        len += (size_t)snprintf(buf + len, cap - len, "%s,%.6f\n", base, p);
    }
    dfd_error err;
    dfd_status st = dfd_file_write_atomic(path, buf, len, &err);
    dfd_free(buf);
    return st ? cli_fail(&err) : CLI_OK;
}

static int scan_all(scan_ctx *c, int jobs, bool progress)
{
    dfd_error err;
    dfd_pool *pool = NULL;
    if (dfd_pool_create(&pool, jobs, &err)) {
        return cli_fail(&err);
    }
    c->scanners = dfd_calloc((size_t)dfd_pool_size(pool), sizeof *c->scanners);
    c->explainers = dfd_calloc((size_t)dfd_pool_size(pool), sizeof *c->explainers);
    if (!c->scanners || !c->explainers) {
        dfd_free(c->scanners);
        dfd_free(c->explainers);
        dfd_pool_destroy(pool);
        cli_error("out of memory");
        return CLI_FAILED;
    }
    pthread_mutex_init(&c->lock, NULL);
    dfd_progress_begin(&c->bar, stderr, "files", c->files->n, progress);
    dfd_pool_run(pool, scan_one, c, c->files->n);
    dfd_progress_end(&c->bar);
    pthread_mutex_destroy(&c->lock);
    for (int t = 0; t < dfd_pool_size(pool); t++) {
        dfd_scanner_free(c->scanners[t]);
        dfd_explainer_free(c->explainers[t]);
    }
    dfd_free(c->scanners);
    dfd_free(c->explainers);
    dfd_pool_destroy(pool);
    return CLI_OK;
}

// A folder name for `path`: its base name with every byte but [A-Za-z0-9._-] made '_', never
// hidden nor "." or "..", at most 200 bytes; into out (capacity >= 208).
static void safe_name(char *out, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = 0;
    if (base[0] == '.' || !base[0]) {
        out[n++] = '_';
    }
    for (const char *p = base; *p && n < 200; p++) {
        const char ch = *p;
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        out[n++] = ok ? ch : '_';
    }
    out[n] = 0;
}

// Create DIR (and its parents) and give every file its folder DIR/<safe name>, names made unique
// with "-2", "-3", ... (clip.mp4 in two folders). One error line on failure.
static int explain_dirs(scan_list *l, const char *dir)
{
    dfd_error err;
    if (dfd_mkdir_p(dir, &err)) {
        cli_error("scan: --explain: %s", dfd_error_message(&err));
        return CLI_FAILED;
    }
    for (size_t i = 0; i < l->n; i++) {
        char name[208], path[8192];
        safe_name(name, l->v[i].path);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        for (int k = 2; k < 1000000; k++) {
            bool taken = false;
            for (size_t j = 0; j < i && !taken; j++) {
                taken = strcmp(l->v[j].explain_dir, path) == 0;
            }
            if (!taken) {
                break;
            }
            snprintf(path, sizeof path, "%s/%s-%d", dir, name, k);
        }
        if (!(l->v[i].explain_dir = dfd_strdup(path))) {
            cli_error("out of memory");
            return CLI_FAILED;
        }
    }
    return CLI_OK;
}

static int run_scan(int argc, char **argv)
{
    bool json = false, help = false, mirror = false;
    int jobs = 0, frames = 0;
    const char *model_path = NULL, *threshold_s = NULL, *submission = NULL, *models_dir = NULL,
               *explain = NULL;
    const cli_opt opts[] = {
        { "model", CLI_STRING, &model_path, 0, 0 },
        { "json", CLI_FLAG, &json, 0, 0 },
        { "jobs", CLI_INT, &jobs, 1, 256 },
        { "threshold", CLI_STRING, &threshold_s, 0, 0 },
        { "frames", CLI_INT, &frames, 1, 1000 },
        { "mirror", CLI_FLAG, &mirror, 0, 0 },
        { "submission", CLI_STRING, &submission, 0, 0 },
        { "models", CLI_STRING, &models_dir, 0, 0 },
        { "explain", CLI_STRING, &explain, 0, 0 },
    };
    const char **pos;
    size_t n_pos;
    int rc = cli_parse_many(&cli_scan, argc, argv, opts, sizeof opts / sizeof opts[0], &pos, &n_pos,
                            &help);
    if (rc || help) {
        dfd_free(pos);
        return rc;
    }
    dfd_scan_opts so = dfd_scan_opts_default();
    so.frames = frames;
    so.mirror = mirror;
    if (n_pos == 0) {
        cli_error("scan: no video or image given (see dfdetect scan --help)");
        dfd_free(pos);
        return CLI_USAGE;
    }
    if (threshold_s && !cli_parse_probability(&so.threshold, threshold_s)) {
        cli_error("scan: --threshold wants a number in [0, 1], not '%s'", threshold_s);
        dfd_free(pos);
        return CLI_USAGE;
    }
    scan_list files = { 0 };
    if (collect_items(&files, pos, n_pos)) {
        dfd_free(pos);
        list_free(&files);
        return CLI_FAILED;
    }
    jobs = cli_jobs(jobs, files.n);
    so.n_threads = cli_threads_per_job(jobs);
    dfd_free(pos);
    if (explain && explain_dirs(&files, explain)) {
        list_free(&files);
        return CLI_FAILED;
    }
    so.keep_crops = explain != NULL;
    cli_scanning res = { 0 };
    rc = cli_scanning_load(&res, model_path, models_dir, explain != NULL);
    if (!rc) {
        scan_ctx c = { .files = &files,
                       .model = res.model,
                       .faces = res.faces,
                       .backbone = res.backbone,
                       .explain_graph = res.explain,
                       .opts = so };
        rc = scan_all(&c, jobs, cli_show_progress(json));
    }
    if (!rc) {
        print_results(&files, res.model, json);
        for (size_t i = 0; i < files.n; i++) {
            rc = files.v[i].status || files.v[i].explain_error[0] ? CLI_FAILED : rc;
        }
        if (submission && write_submission(submission, &files)) {
            rc = CLI_FAILED;
        }
    }
    cli_scanning_free(&res);
    list_free(&files);
    return rc;
}

const cli_command cli_scan = {
    .name = "scan",
    .summary = "say whether videos or images are deepfakes (REAL / FAKE / NO_FACE)",
    .help = scan_help,
    .run = run_scan,
};
