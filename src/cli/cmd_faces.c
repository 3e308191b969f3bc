// dfdetect faces VIDEO...|DIR [--out DIR]: find, track, landmark and crop the faces of videos,
// writing one folder per video (see face/export.h), several videos at once with --jobs.
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dfdetect/face/export.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/progress.h"
#include "dfdetect/util/threads.h"
#include "dfdetect/video/video.h"

static const char faces_help[] =
    "usage: dfdetect faces VIDEO...|DIR... [--out DIR] [--frames N] [--size N] [--jobs N]\n"
    "                      [--sampling uniform|bursts] [--export-video] [--sheet] [--json]\n"
    "\n"
    "Find the faces of each video: detect them in N sampled frames, link them across frames\n"
    "into identities, place 468 landmarks on each, and cut square crops levelled on the eyes,\n"
    "the same size for every frame of an identity. A folder argument means every video in it.\n"
    "\n"
    "With --out, each video gets a folder OUT/<name>/ holding\n"
    "  faces.json          boxes, scores, keypoints, landmarks and crop placement per frame\n"
    "  face<k>/<n>.png     the crops of identity k (n: the frame's index in the video)\n"
    "  face<k>.mp4         with --export-video: identity k's crops as a clip\n"
    "  sheet.png           with --sheet: the frames with boxes and landmarks drawn\n"
    "Each folder is written whole or not at all, replacing an earlier one.\n"
    "\n"
    "options:\n"
    "  --out DIR           where the folders go (created if missing); without it nothing is\n"
    "                      written and the results are only listed\n"
    "  --frames N          frames sampled per video (default 32)\n"
    "  --sampling P        uniform (default) or bursts (runs of --burst-len frames)\n"
    "  --burst-len L       frames per burst (default 8)\n"
    "  --size N            side of the crops in pixels (default 224)\n"
    "  --margin M          crop side as a multiple of the face's extent (default 1.3)\n"
    "  --min-score S       detector confidence to keep a face, 0..1 (default 0.6)\n"
    "  --min-size PX       smallest face side kept, in frame pixels (default 24)\n"
    "  --export-video      also write each identity's crops as an MP4 clip\n"
    "  --sheet             also write a contact sheet of the frames with the faces drawn\n"
    "  --jobs N            videos processed at once (default: one per CPU, at most one per\n"
    "                      video)\n"
    "  --threads N         threads per video for decoding and the networks (default: the CPUs\n"
    "                      shared among the jobs)\n"
    "  --models DIR        the face models (default: the repository's models/, or $DFD_MODELS)\n"
    "  --json              print the results as JSON\n"
    "  --help              this text\n"
    "\n"
    "A video without a usable face is a result, not an error: it is listed as NO_FACE with the\n"
    "reason (none found, too small, too few frames, rejected by the landmark model).\n"
    "exit codes: 0 every video processed, 1 a video or the models could not be read (the\n"
    "others are still processed), 2 usage error\n";

// One video to process and what became of it.
typedef struct item {
    char *path;
    char *out_dir; // OUT/<name>, NULL without --out
    dfd_status status;
    char error[512];
    dfd_face_outcome outcome;
    char reason[192];
    size_t n_ids, n_frames, n_with_face;
    double seconds[5]; // decode, detect, landmarks, crop, write
} item;

typedef struct run_ctx {
    item *items;
    size_t n;
    const dfd_face_models *models;
    dfd_face_opts face_opts;
    dfd_face_export_opts export_opts;
    dfd_sampling sampling;
    int frames;
    int threads;               // per job
    dfd_face_engine **engines; // one per pool thread, created on first use
    pthread_mutex_t lock;      // progress and the count of finished items
    dfd_progress bar;
    size_t done;
} run_ctx;

static dfd_status process(item *it, run_ctx *c, dfd_face_engine *e, dfd_error *err)
{
    dfd_video_opts vo = dfd_video_opts_default();
    vo.n_threads = c->threads;
    dfd_video *v = NULL;
    dfd_frame_set set = { 0 };
    double t0 = dfd_now();
    dfd_status st = dfd_video_open(&v, it->path, &vo, err);
    if (!st) {
        st = dfd_video_sample(&set, v, &c->sampling, (size_t)c->frames, NULL, NULL, err);
    }
    it->seconds[0] = dfd_now() - t0;
    dfd_face_result r = { 0 };
    if (!st) {
        st = dfd_faces_extract(&r, e, &set, err);
    }
    if (!st) {
        it->outcome = r.outcome;
        snprintf(it->reason, sizeof it->reason, "%s", r.reason);
        it->n_ids = r.n_ids;
        it->n_frames = r.n_frames;
        it->n_with_face = r.n_frames_with_face;
        it->seconds[1] = r.seconds_detect;
        it->seconds[2] = r.seconds_mesh;
        it->seconds[3] = r.seconds_crop;
    }
    if (!st && it->out_dir) {
        dfd_video_info info;
        dfd_video_probe(&info, v);
        double t1 = dfd_now();
        st = dfd_face_export(it->out_dir, &r, &set, &info, it->seconds[0], &c->export_opts, err);
        it->seconds[4] = dfd_now() - t1;
    }
    dfd_face_result_free(&r);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
    return st;
}

static void run_one(void *ctx, size_t i, int thread)
{
    run_ctx *c = ctx;
    item *it = &c->items[i];
    dfd_error err;
    dfd_error_clear(&err);
    dfd_status st = DFD_OK;
    if (!c->engines[thread]) {
        st = dfd_face_engine_create(&c->engines[thread], c->models, &c->face_opts, &err);
    }
    if (!st) {
        st = process(it, c, c->engines[thread], &err);
    }
    it->status = st;
    if (st) {
        snprintf(it->error, sizeof it->error, "%s", err.msg);
    }
    pthread_mutex_lock(&c->lock);
    c->done++;
    dfd_progress_update(&c->bar, c->done);
    pthread_mutex_unlock(&c->lock);
}

// ---- inputs and output names ----

typedef struct item_list {
    item *v;
    size_t n;
} item_list;

// One item per file the arguments name.
static int collect_items(item_list *l, const char *const *args, size_t n)
{
    char **paths;
    size_t np;
    if (cli_collect_inputs(&paths, &np, args, n, CLI_INPUT_VIDEO)) {
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

// OUT/<file name without extension>, made unique with "-2", "-3", ... when names repeat.
static int name_outputs(item_list *l, const char *out)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *base = strrchr(l->v[i].path, '/');
        base = base ? base + 1 : l->v[i].path;
        char stem[256];
        snprintf(stem, sizeof stem, "%s", base);
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem) {
            *dot = '\0';
        }
        char path[4096];
        for (int k = 1;; k++) {
            if (k == 1) {
                snprintf(path, sizeof path, "%s/%s", out, stem);
            } else {
                snprintf(path, sizeof path, "%s/%s-%d", out, stem, k);
            }
            bool taken = false;
            for (size_t j = 0; j < i && !taken; j++) {
                taken = strcmp(l->v[j].out_dir, path) == 0;
            }
            if (!taken) {
                break;
            }
        }
        l->v[i].out_dir = dfd_strdup(path);
        if (!l->v[i].out_dir) {
            return -1;
        }
    }
    return 0;
}

// ---- output ----

static const char *item_status(const item *it)
{
    if (it->status) {
        return "error";
    }
    return dfd_face_outcome_name(it->outcome);
}

static void print_json(const item_list *l, double seconds)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "videos");
    size_t n_faces = 0, n_none = 0, n_err = 0;
    for (size_t i = 0; arr && i < l->n; i++) {
        const item *it = &l->v[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            break;
        }
        cJSON_AddStringToObject(o, "video", it->path);
        cJSON_AddStringToObject(o, "status", item_status(it));
        if (it->status) {
            cJSON_AddStringToObject(o, "error", it->error);
            n_err++;
        } else {
            n_faces += it->outcome == DFD_FACES_FOUND;
            n_none += it->outcome != DFD_FACES_FOUND;
            cJSON_AddStringToObject(o, "reason", it->reason);
            cJSON_AddNumberToObject(o, "identities", (double)it->n_ids);
            cJSON_AddNumberToObject(o, "frames", (double)it->n_frames);
            cJSON_AddNumberToObject(o, "frames_with_face", (double)it->n_with_face);
            if (it->out_dir) {
                cJSON_AddStringToObject(o, "out", it->out_dir);
            }
            cJSON *t = cJSON_AddObjectToObject(o, "timing_s");
            static const char *const names[5] = { "decode", "detect", "landmarks", "crop",
                                                  "write" };
            for (int k = 0; t && k < 5; k++) {
                cJSON_AddNumberToObject(t, names[k], (double)(long)(it->seconds[k] * 1e4) / 1e4);
            }
        }
        cJSON_AddItemToArray(arr, o);
    }
    cJSON *s = cJSON_AddObjectToObject(root, "summary");
    if (s) {
        cJSON_AddNumberToObject(s, "videos", (double)l->n);
        cJSON_AddNumberToObject(s, "with_faces", (double)n_faces);
        cJSON_AddNumberToObject(s, "no_face", (double)n_none);
        cJSON_AddNumberToObject(s, "failed", (double)n_err);
        cJSON_AddNumberToObject(s, "seconds", (double)(long)(seconds * 1e3) / 1e3);
    }
    char *text = cJSON_Print(root);
    if (text) {
        printf("%s\n", text);
        cJSON_free(text);
    }
    cJSON_Delete(root);
}

static void print_text(const item_list *l, double seconds)
{
    size_t n_faces = 0, n_none = 0, n_err = 0;
    for (size_t i = 0; i < l->n; i++) {
        const item *it = &l->v[i];
        if (it->status) {
            n_err++;
            printf("ERROR    %s\n", it->error);
            continue;
        }
        if (it->outcome == DFD_FACES_FOUND) {
            n_faces++;
            printf("FACES    %-40s %s%s%s\n", it->reason, it->path, it->out_dir ? "  -> " : "",
                   it->out_dir ? it->out_dir : "");
        } else {
            n_none++;
            printf("NO_FACE  %-40s %s\n", it->reason, it->path);
        }
    }
    if (l->n > 1) {
        fprintf(stderr, "%zu videos: %zu with faces, %zu without, %zu failed (%.1f s)\n", l->n,
                n_faces, n_none, n_err, seconds);
    }
}

// ---- the command ----

static bool parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    float v = strtof(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        return false;
    }
    *out = v;
    return true;
}

static void items_free(item_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        dfd_free(l->v[i].path);
        dfd_free(l->v[i].out_dir);
    }
    dfd_free(l->v);
}

// Run every item on `jobs` threads; returns the number that failed.
static size_t run_all(run_ctx *c, int jobs, bool progress, dfd_error *err, dfd_status *st)
{
    dfd_pool *pool = NULL;
    *st = dfd_pool_create(&pool, jobs, err);
    if (*st) {
        return 0;
    }
    c->engines = dfd_calloc((size_t)dfd_pool_size(pool), sizeof *c->engines);
    if (!c->engines) {
        dfd_pool_destroy(pool);
        *st = dfd_error_set(err, DFD_ERR_NOMEM, "out of memory");
        return 0;
    }
    pthread_mutex_init(&c->lock, NULL);
    dfd_progress_begin(&c->bar, stderr, "videos", c->n, progress);
    dfd_pool_run(pool, run_one, c, c->n);
    dfd_progress_end(&c->bar);
    pthread_mutex_destroy(&c->lock);
    for (int t = 0; t < dfd_pool_size(pool); t++) {
        dfd_face_engine_free(c->engines[t]);
    }
    dfd_free(c->engines);
    dfd_pool_destroy(pool);
    size_t failed = 0;
    for (size_t i = 0; i < c->n; i++) {
        failed += c->items[i].status != DFD_OK;
    }
    return failed;
}

static int run_faces(int argc, char **argv)
{
    bool json = false, help = false, export_video = false, sheet = false;
    int frames = 32, size = 224, jobs = 0, threads = 0, burst_len = 8;
    const char *out = NULL, *sampling = "uniform", *models_dir = NULL, *margin_s = NULL;
    const char *min_score_s = NULL, *min_size_s = NULL;
    const cli_opt opts[] = {
        { "out", CLI_STRING, &out, 0, 0 },
        { "frames", CLI_INT, &frames, 1, 1000 },
        { "sampling", CLI_STRING, &sampling, 0, 0 },
        { "burst-len", CLI_INT, &burst_len, 1, 1000 },
        { "size", CLI_INT, &size, 16, 2048 },
        { "margin", CLI_STRING, &margin_s, 0, 0 },
        { "min-score", CLI_STRING, &min_score_s, 0, 0 },
        { "min-size", CLI_STRING, &min_size_s, 0, 0 },
        { "export-video", CLI_FLAG, &export_video, 0, 0 },
        { "sheet", CLI_FLAG, &sheet, 0, 0 },
        { "jobs", CLI_INT, &jobs, 1, 256 },
        { "threads", CLI_INT, &threads, 0, 256 },
        { "models", CLI_STRING, &models_dir, 0, 0 },
        { "json", CLI_FLAG, &json, 0, 0 },
    };
    const char **pos;
    size_t n_pos;
    int rc = cli_parse_many(&cli_faces, argc, argv, opts, sizeof opts / sizeof opts[0], &pos,
                            &n_pos, &help);
    if (rc || help) {
        dfd_free(pos);
        return rc;
    }
    dfd_face_opts fo = dfd_face_opts_default();
    dfd_sampling policy = { .burst_len = burst_len };
    fo.crop_size = size;
    if (n_pos == 0) {
        cli_error("faces: give videos or folders (usage: dfdetect faces VIDEO... --out DIR)");
        rc = CLI_USAGE;
    } else if (dfd_sampling_parse(&policy.kind, sampling) != DFD_OK) {
        cli_error("faces: unknown sampling policy '%s' (use uniform or bursts)", sampling);
        rc = CLI_USAGE;
    } else if (margin_s && !parse_float(margin_s, 1, 4, &fo.margin)) {
        cli_error("faces: --margin must be a number from 1 to 4, not '%s'", margin_s);
        rc = CLI_USAGE;
    } else if (min_score_s && !parse_float(min_score_s, 0, 1, &fo.detector.min_score)) {
        cli_error("faces: --min-score must be a number from 0 to 1, not '%s'", min_score_s);
        rc = CLI_USAGE;
    } else if (min_size_s && !parse_float(min_size_s, 0, 4096, &fo.detector.min_size)) {
        cli_error("faces: --min-size must be a number of pixels, not '%s'", min_size_s);
        rc = CLI_USAGE;
    }
    item_list l = { 0 };
    if (!rc && collect_items(&l, pos, n_pos)) {
        rc = CLI_FAILED;
    } else if (!rc && out && name_outputs(&l, out)) {
        cli_error("out of memory");
        rc = CLI_FAILED;
    }
    dfd_free(pos);
    dfd_error err;
    dfd_error_clear(&err);
    if (!rc && out && dfd_mkdir_p(out, &err) != DFD_OK) {
        rc = cli_fail(&err);
    }
    if (rc || l.n == 0) {
        items_free(&l);
        return rc ? rc : CLI_FAILED;
    }
    jobs = cli_jobs(jobs, l.n);
    if (threads == 0) {
        threads = cli_threads_per_job(jobs);
    }
    fo.n_threads = threads;

    dfd_face_models *models = NULL;
    if (dfd_face_models_load(&models, models_dir, &err) != DFD_OK) {
        items_free(&l);
        return cli_fail(&err);
    }
    run_ctx c = { .items = l.v,
                  .n = l.n,
                  .models = models,
                  .face_opts = fo,
                  .export_opts = dfd_face_export_opts_default(),
                  .sampling = policy,
                  .frames = frames,
                  .threads = threads };
    c.export_opts.video = export_video;
    c.export_opts.sheet = sheet;
    c.export_opts.sampling = dfd_sampling_name(policy.kind);
    c.export_opts.face_opts = &c.face_opts;
    double t0 = dfd_now();
    dfd_status st;
    size_t failed = run_all(&c, jobs, cli_show_progress(json), &err, &st);
    double seconds = dfd_now() - t0;
    if (st) {
        rc = cli_fail(&err);
    } else {
        if (json) {
            print_json(&l, seconds);
        } else {
            print_text(&l, seconds);
        }
        rc = failed ? CLI_FAILED : CLI_OK;
    }
    dfd_face_models_free(models);
    items_free(&l);
    return rc;
}

const cli_command cli_faces = {
    .name = "faces",
    .summary = "find, track and crop the faces of videos (crops, landmarks, clips, sheets)",
    .help = faces_help,
    .run = run_faces,
};
