// Scoring many files with a detector on a pool of scanners: see scan_pool.h.
#include "scan_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/progress.h"
#include "dfdetect/util/threads.h"

int cli_scanning_load_networks(cli_scanning *r, const char *models_dir)
{
    dfd_error err;
    if (dfd_scan_networks_load(r, models_dir, &err)) {
        return cli_fail(&err);
    }
    // A head trained on another backbone's embeddings reads this one's wrongly: say so, go on.
    if (r->backbone_mismatch) {
        fprintf(stderr,
                "dfdetect: warning: model %s was trained on another backbone than %s "
                "(backbone_sha256 differs): its scores may be wrong\n",
                r->model->name, r->backbone_path);
    }
    return CLI_OK;
}

int cli_scanning_load(cli_scanning *r, const char *model_path, const char *models_dir, bool explain)
{
    dfd_error err;
    char default_model[4096];
    if (!model_path) {
        dfd_detector_default_path(default_model, sizeof default_model);
        model_path = default_model;
    }
    if (dfd_detector_model_load(&r->model, model_path, &err)) {
        return cli_fail(&err);
    }
    int rc = cli_scanning_load_networks(r, models_dir);
    if (!rc && explain && dfd_scan_networks_load_explain(r, &err)) {
        rc = cli_fail(&err);
    }
    return rc;
}

void cli_scanning_free(cli_scanning *r)
{
    dfd_scan_networks_free(r);
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
