// What the server's files share: the server itself, JSON replies, uploads and the workers.
#ifndef DFD_SERVER_SERVER_INTERNAL_H
#define DFD_SERVER_SERVER_INTERNAL_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "dfdetect/server/jobs.h"
#include "dfdetect/server/server.h"

typedef struct server_worker server_worker;

struct dfd_server {
    dfd_server_opts o;
    char data_dir[1024];
    char listen_host[256];
    char token_header[512]; // "Bearer TOKEN", or "" without a token
    int port;
    struct MHD_Daemon *daemon;
    dfd_job_store *store;
    server_worker *workers;
    int n_workers;
    pthread_mutex_t wake_lock; // workers sleep on `wake` until a job is queued or stop
    pthread_cond_t wake;
    unsigned long wake_seq; // moves each time a job is queued (under wake_lock)
    atomic_bool stopping;
    atomic_long n_uploads; // uploads in progress (bench and health)
};

// ---- replies (http_json.c) ----

// Queue a JSON reply (the object is consumed) with Content-Type and Cache-Control: no-store.
enum MHD_Result server_reply_json(struct MHD_Connection *c, unsigned http, cJSON *body);

// Queue {"error": {"code": code, "message": msg}} with status http.
enum MHD_Result server_reply_error(struct MHD_Connection *c, unsigned http, const char *code,
                                   const char *msg);

// The reply for a failed library call: INVALID/FORMAT -> 400, LIMIT -> 413, UNSUPPORTED -> 415,
// NOT_FOUND -> 404, anything else -> 500 (STYLE.md §3).
enum MHD_Result server_reply_status(struct MHD_Connection *c, const dfd_error *err);

// 503 with Retry-After: the queue is full.
enum MHD_Result server_reply_busy(struct MHD_Connection *c, const char *msg);

// "<data_dir>/jobs/<id>" (+ "/" + rest when rest is not NULL) into out; false when it does not fit.
bool server_job_path(char *out, size_t n, const dfd_server *s, const char *id, const char *rest);

// ---- uploads (upload.c) ----

typedef struct server_upload server_upload;

// Start an upload for POST /api/v1/scans (the first call of the request): checks the queue and
// Content-Length and opens the temporary file. *out is NULL when a reply (error) was queued.
enum MHD_Result server_upload_begin(server_upload **out, dfd_server *s, struct MHD_Connection *c);

// Take the next piece of the body: all of *size is consumed.
enum MHD_Result server_upload_feed(server_upload *u, const char *data, size_t *size);

// The body is complete: check the file, create the job and queue the reply (202 or an error).
enum MHD_Result server_upload_end(server_upload *u, struct MHD_Connection *c);

// Remove the temporary file (when still there) and free. Accepts NULL.
void server_upload_free(server_upload *u);

// Empty DIR/tmp (uploads a crash interrupted); create DIR, DIR/jobs and DIR/tmp.
dfd_status server_upload_dirs_prepare(const dfd_server *s, dfd_error *err);

// ---- workers (workers.c) ----

// Start s->o.workers workers (each with its own scanner and explainer). Errors: those of
// dfd_scanner_create, dfd_explainer_create, DFD_ERR_NOMEM, DFD_ERR_IO (thread creation).
dfd_status server_workers_start(dfd_server *s, dfd_error *err);

// Wake a sleeping worker: a job was queued.
void server_workers_wake(dfd_server *s);

// Set stopping, wake all, join them (each finishes its current job) and free them.
void server_workers_stop(dfd_server *s);

#endif
