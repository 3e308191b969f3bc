// The server's scan workers: a fixed pool of threads, each owning a scanner and an explainer on
// the shared networks, that claim the oldest queued job, scan its file, write each face under its
// Grad-CAM heatmap into the job's folder (published whole) and finish the job in one transaction.
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dfdetect/detect/explain.h"
#include "dfdetect/detect/scan.h"
#include "dfdetect/detect/scan_json.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/log.h"
#include "dfdetect/util/threads.h"
#include "server_internal.h"

struct server_worker {
    dfd_server *s;
    pthread_t thread;
    bool running; // the thread was started
    dfd_scanner *scanner;
    dfd_explainer *explainer;
};

// Progress marks of a job's stages: scanning, then the face images, then the result.
#define PROGRESS_STARTED   0.05
#define PROGRESS_SCANNED   0.7
#define PROGRESS_EXPLAINED 0.95

static void set_progress(const server_worker *w, const char *id, double p)
{
    dfd_error err;
    if (dfd_job_store_progress(w->s->store, id, p, &err)) {
        dfd_log(DFD_LOG_WARN, "job %s: %s", id, dfd_error_message(&err));
    }
}

// The heatmaps of one identity's faces as PNGs dir/<k>.png from *k on.
static dfd_status write_identity(int *k, server_worker *w, const dfd_scan_identity *id,
                                 const char *dir, dfd_error *err)
{
    dfd_image *crops = dfd_calloc(id->n ? id->n : 1, sizeof *crops);
    dfd_image *heat = dfd_calloc(id->n ? id->n : 1, sizeof *heat);
    dfd_status st = crops && heat ? DFD_OK : dfd_error_set(err, DFD_ERR_NOMEM, "out of memory");
    for (size_t j = 0; !st && j < id->n; j++) {
        crops[j] = id->faces[j].crop; // borrowed views
    }
    st = st ? st : dfd_explain_heatmaps(heat, w->explainer, crops, id->n, err);
    for (size_t j = 0; !st && j < id->n; j++) {
        char path[1500];
        snprintf(path, sizeof path, "%s/%d.png", dir, (*k)++);
        st = dfd_png_write(path, &heat[j], err);
    }
    for (size_t j = 0; heat && j < id->n; j++) {
        dfd_image_free(&heat[j]);
    }
    dfd_free(heat);
    dfd_free(crops);
    return st;
}

// Remove what a killed run of this job left half-written: "faces.tmp.*" folders in job_dir.
static void remove_leftovers(const char *job_dir)
{
    DIR *d = opendir(job_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[1500];
        if (strncmp(e->d_name, "faces.tmp.", 10) == 0 &&
            snprintf(path, sizeof path, "%s/%s", job_dir, e->d_name) < (int)sizeof path) {
            dfd_remove_tree(path, NULL);
        }
    }
    if (d) {
        closedir(d);
    }
}

// Every face of r under its heatmap, identities in result order then frames, into
// job_dir/faces/<k>.png (built aside and published whole); their count into *n.
static dfd_status write_faces(int *n, server_worker *w, const dfd_scan_result *r,
                              const char *job_dir, dfd_error *err)
{
    *n = 0;
    char faces[1300], tmp[1400];
    snprintf(faces, sizeof faces, "%s/faces", job_dir);
    dfd_status st = dfd_temp_dir_create(tmp, sizeof tmp, faces, err);
    if (st) {
        return st;
    }
    int k = 0;
    for (size_t i = 0; !st && i < r->n_ids; i++) {
        st = write_identity(&k, w, &r->ids[i], tmp, err);
    }
    st = st ? st : dfd_dir_publish(tmp, faces, err);
    if (st) {
        dfd_remove_tree(tmp, NULL);
        return st;
    }
    *n = k;
    return DFD_OK;
}

static void run_job(server_worker *w, const dfd_job *job)
{
    dfd_server *s = w->s;
    char dir[1200], input[1300], msg[512];
    if (!server_job_path(dir, sizeof dir, s, job->id, NULL) ||
        !server_job_path(input, sizeof input, s, job->id, job->input)) {
        return; // cannot happen: data_dir is short
    }
    set_progress(w, job->id, PROGRESS_STARTED);
    remove_leftovers(dir);
    dfd_scan_result r = { 0 };
    dfd_error err;
    dfd_job_outcome o = { .probability = NAN };
    char *json = NULL;
    if (dfd_scan_file(&r, w->scanner, input, &err)) {
        // Name the client's file, not where it is stored.
        const char *m = dfd_error_message(&err), *at = strstr(m, input);
        snprintf(msg, sizeof msg, "%.*s%s%s", at ? (int)(at - m) : 0, m, at ? job->file_name : m,
                 at ? at + strlen(input) : "");
        o.error = msg;
    } else {
        set_progress(w, job->id, PROGRESS_SCANNED);
        if ((r.verdict == DFD_SCAN_REAL || r.verdict == DFD_SCAN_FAKE) &&
            write_faces(&o.n_faces, w, &r, dir, &err)) {
            dfd_log(DFD_LOG_WARN, "job %s: face images: %s", job->id, dfd_error_message(&err));
        }
        set_progress(w, job->id, PROGRESS_EXPLAINED);
        cJSON *j = dfd_scan_result_json(&r, job->file_name, s->o.networks->model, NULL);
        json = j ? cJSON_PrintUnformatted(j) : NULL;
        cJSON_Delete(j);
        o.result_json = json;
        o.verdict = dfd_scan_verdict_name(r.verdict);
        if (r.verdict == DFD_SCAN_REAL || r.verdict == DFD_SCAN_FAKE) {
            o.probability = (double)r.probability;
        }
        o.error = json ? NULL : "out of memory";
    }
    bool stored = false;
    if (dfd_job_store_finish(&stored, s->store, job->id, &o, &err)) {
        dfd_log(DFD_LOG_ERROR, "job %s: %s", job->id, dfd_error_message(&err));
    } else if (!stored) {
        dfd_remove_tree(dir, NULL); // deleted while it ran
    }
    if (json) {
        cJSON_free(json);
    }
    dfd_scan_result_free(&r);
}

static void *worker_main(void *arg)
{
    server_worker *w = arg;
    dfd_server *s = w->s;
    while (!atomic_load(&s->stopping)) {
        pthread_mutex_lock(&s->wake_lock);
        unsigned long seen = s->wake_seq;
        pthread_mutex_unlock(&s->wake_lock);
        dfd_job job;
        bool found = false;
        dfd_error err;
        if (dfd_job_store_claim(&job, &found, s->store, &err)) {
            dfd_log(DFD_LOG_ERROR, "worker: %s", dfd_error_message(&err));
        }
        if (found) {
            run_job(w, &job);
            dfd_job_clear(&job);
            continue;
        }
        // Nothing queued: sleep until a job is added (wake_seq moves) or a second passes.
        pthread_mutex_lock(&s->wake_lock);
        if (s->wake_seq == seen && !atomic_load(&s->stopping)) {
            struct timespec t;
            clock_gettime(CLOCK_REALTIME, &t);
            t.tv_sec += 1;
            pthread_cond_timedwait(&s->wake, &s->wake_lock, &t);
        }
        pthread_mutex_unlock(&s->wake_lock);
    }
    return NULL;
}

void server_workers_wake(dfd_server *s)
{
    pthread_mutex_lock(&s->wake_lock);
    s->wake_seq++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->wake_lock);
}

dfd_status server_workers_start(dfd_server *s, dfd_error *err)
{
    const int n = s->o.workers;
    if (!(s->workers = dfd_calloc((size_t)n, sizeof *s->workers))) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "workers: out of memory");
    }
    s->n_workers = n;
    int threads = s->o.n_threads > 0 ? s->o.n_threads : dfd_cpu_count() / n;
    dfd_scan_opts so = dfd_scan_opts_default();
    so.n_threads = threads < 1 ? 1 : threads;
    so.keep_crops = true;
    const dfd_scan_networks *net = s->o.networks;
    for (int i = 0; i < n; i++) {
        server_worker *w = &s->workers[i];
        w->s = s;
        dfd_status st =
            dfd_scanner_create(&w->scanner, net->model, net->faces, net->backbone, &so, err);
        st = st ? st
                : dfd_explainer_create(&w->explainer, net->model, net->explain, so.n_threads, err);
        if (st) {
            return st;
        }
    }
    for (int i = 0; i < n; i++) {
        server_worker *w = &s->workers[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            return dfd_error_set(err, DFD_ERR_IO, "workers: cannot start a thread");
        }
        w->running = true;
    }
    return DFD_OK;
}

void server_workers_stop(dfd_server *s)
{
    pthread_mutex_lock(&s->wake_lock);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->wake_lock);
    for (int i = 0; i < s->n_workers; i++) {
        server_worker *w = &s->workers[i];
        if (w->running) {
            pthread_join(w->thread, NULL);
        }
        dfd_scanner_free(w->scanner);
        dfd_explainer_free(w->explainer);
    }
    dfd_free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
}
