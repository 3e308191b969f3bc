// Scoring many files with a detector on a pool of scanners: see scan_pool.h.
#include "scan_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "dfdetect/detect/tuned.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/progress.h"
#include "dfdetect/util/threads.h"

// A head trained on another backbone's embeddings reads this one's wrongly: say so, go on.
static int check_backbone(const dfd_detector_model *m, const char *path)
{
    dfd_error err;
    bool same;
    if (dfd_scan_backbone_matches(&same, m, path, &err)) {
        return cli_fail(&err);
    }
    if (!same) {
        fprintf(stderr,
                "dfdetect: warning: model %s was trained on another backbone than %s "
                "(backbone_sha256 differs): its scores may be wrong\n",
                m->name, path);
    }
    return CLI_OK;
}

int cli_scanning_load_networks(cli_scanning *r, const char *models_dir)
{
    dfd_error err;
    char dir[4096];
    if (models_dir) {
        snprintf(dir, sizeof dir, "%s", models_dir);
    } else {
        dfd_models_dir_default(dir, sizeof dir);
    }
    if (dfd_face_models_load(&r->faces, dir, &err) ||
        dfd_model_path(r->backbone_path, sizeof r->backbone_path, dir, DFD_ROLE_BACKBONE, &err) ||
        dfd_backbone_load_for_model(&r->backbone, r->model, r->backbone_path, &err)) {
        return cli_fail(&err);
    }
    return check_backbone(r->model, r->backbone_path);
}

void cli_scanning_free(cli_scanning *r)
{
    dfd_detector_model_free(r->model);
    dfd_face_models_free(r->faces);
    dfd_graph_free(r->backbone);
    r->model = NULL;
    r->faces = NULL;
    r->backbone = NULL;
}

bool cli_parse_probability(float *out, const char *s)
{
    char *end;
    float v = strtof(s, &end);
    if (end == s || *end || !(v >= 0.0f && v <= 1.0f)) {
        return false;
    }
    *out = v;
    return true;
}

// What the pool's threads share.
typedef struct pool_job {
    dfd_scan_result *res;
    dfd_status *st;
    const char *const *paths;
    const cli_scanning *r;
    const dfd_scan_opts *opts;
    dfd_scanner **scanners; // one per pool thread, made on first use
    pthread_mutex_t lock;
    dfd_progress bar;
    size_t done;
} pool_job;

static void scan_task(void *ctx, size_t i, int thread)
{
    pool_job *j = ctx;
    dfd_error err;
    dfd_error_clear(&err);
    dfd_status st = DFD_OK;
    if (!j->scanners[thread]) {
        st = dfd_scanner_create(&j->scanners[thread], j->r->model, j->r->faces, j->r->backbone,
                                j->opts, &err);
    }
    st = st ? st : dfd_scan_file(&j->res[i], j->scanners[thread], j->paths[i], &err);
    if (st) {
        j->res[i].verdict = DFD_SCAN_ERROR;
        snprintf(j->res[i].error, sizeof j->res[i].error, "%s", dfd_error_message(&err));
    }
    j->st[i] = st;
    pthread_mutex_lock(&j->lock);
    dfd_progress_update(&j->bar, ++j->done);
    pthread_mutex_unlock(&j->lock);
}

int cli_scan_paths(dfd_scan_result *res, dfd_status *st, const char *const *paths, size_t n,
                   const cli_scanning *r, const dfd_scan_opts *opts, int jobs, bool progress)
{
    dfd_error err;
    dfd_pool *pool = NULL;
    if (dfd_pool_create(&pool, jobs, &err)) {
        return cli_fail(&err);
    }
    int n_threads = dfd_pool_size(pool);
    pool_job j = { .res = res, .st = st, .paths = paths, .r = r, .opts = opts };
    if (!(j.scanners = dfd_calloc((size_t)n_threads, sizeof *j.scanners))) {
        dfd_pool_destroy(pool);
        cli_error("out of memory");
        return CLI_FAILED;
    }
    pthread_mutex_init(&j.lock, NULL);
    dfd_progress_begin(&j.bar, stderr, "items", n, progress);
    dfd_pool_run(pool, scan_task, &j, n);
    dfd_progress_end(&j.bar);
    pthread_mutex_destroy(&j.lock);
    for (int t = 0; t < n_threads; t++) {
        dfd_scanner_free(j.scanners[t]);
    }
    dfd_free(j.scanners);
    dfd_pool_destroy(pool);
    return CLI_OK;
}
