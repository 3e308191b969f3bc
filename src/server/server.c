// The HTTP side of the server: the libmicrohttpd daemon (a thread per connection), the router and
// the handlers of every endpoint but the upload (upload.c). See docs/openapi.yaml for the API.
#include "dfdetect/server/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfdetect/server/web_assets.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/log.h"
#include "server_internal.h"

#define API                "/api/v1"
#define SCANS              API "/scans"
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX     1000

dfd_server_opts dfd_server_opts_default(void)
{
    return (dfd_server_opts){ .listen = "127.0.0.1:8080",
                              .data_dir = "dfdetect-data",
                              .workers = 1,
                              .max_upload = (size_t)250 << 20,
                              .max_duration = 600,
                              .max_queue = 64 };
}

// What one request keeps between the calls libmicrohttpd makes for it.
typedef struct request {
    server_upload *up; // POST /api/v1/scans in progress
    bool replied;      // a reply is queued: drop whatever body follows
} request;

// ---- helpers ----

static const char *query(struct MHD_Connection *c, const char *key)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

// Compare without leaking where the first difference is.
static bool same_secret(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na && i < nb; i++) {
        diff |= (unsigned char)(a[i] ^ b[i]);
    }
    return diff == 0;
}

static bool authorized(const dfd_server *s, struct MHD_Connection *c)
{
    if (!s->token_header[0]) {
        return true;
    }
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *t = query(c, "token");
    return (h && same_secret(h, s->token_header)) || (t && same_secret(t, s->o.token));
}

// A whole number in [lo, hi] from a query argument (def when absent); false when malformed.
static bool query_size(size_t *out, struct MHD_Connection *c, const char *key, size_t def,
                       size_t lo, size_t hi)
{
    const char *v = query(c, key);
    if (!v) {
        *out = def;
        return true;
    }
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end || *v == '-' || n < lo || n > hi) {
        return false;
    }
    *out = (size_t)n;
    return true;
}

// "/api/v1/scans/<id>/faces/<k>.png" for job j.
static cJSON *face_url(const char *id, int k)
{
    char url[128];
    snprintf(url, sizeof url, SCANS "/%s/faces/%d.png", id, k);
    return cJSON_CreateString(url);
}

static cJSON *job_json(const dfd_job *j)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        return NULL;
    }
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "status", dfd_job_status_name(j->status));
    cJSON_AddNumberToObject(o, "progress", j->progress);
    cJSON_AddStringToObject(o, "file_name", j->file_name);
    cJSON_AddStringToObject(o, "created", j->created);
    cJSON_AddNumberToObject(o, "attempts", j->attempts);
    if (j->status == DFD_JOB_FAILED && j->error) {
        cJSON_AddStringToObject(o, "error", j->error);
    }
    if (j->status == DFD_JOB_DONE) {
        cJSON_AddStringToObject(o, "verdict", j->verdict);
        if (j->probability == j->probability) {
            cJSON_AddNumberToObject(o, "probability", j->probability);
        } else {
            cJSON_AddNullToObject(o, "probability");
        }
    }
    if (j->result) {
        cJSON_AddItemToObject(o, "result", cJSON_Parse(j->result));
    }
    cJSON *faces = cJSON_AddArrayToObject(o, "faces");
    for (int k = 0; faces && j->status == DFD_JOB_DONE && k < j->n_faces; k++) {
        cJSON_AddItemToArray(faces, face_url(j->id, k));
    }
    return o;
}

// ---- handlers ----

static enum MHD_Result get_job(dfd_server *s, struct MHD_Connection *c, const char *id)
{
    dfd_job j;
    dfd_error err;
    if (dfd_job_store_get(&j, s->store, id, true, &err)) {
        return server_reply_status(c, &err);
    }
    enum MHD_Result r = server_reply_json(c, MHD_HTTP_OK, job_json(&j));
    dfd_job_clear(&j);
    return r;
}

static enum MHD_Result list_jobs(dfd_server *s, struct MHD_Connection *c)
{
    size_t limit, offset;
    if (!query_size(&limit, c, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX) ||
        !query_size(&offset, c, "offset", 0, 0, (size_t)1 << 40)) {
        return server_reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid",
                                  "limit must be 1..1000 and offset a whole number >= 0");
    }
    dfd_job *v;
    size_t n, total;
    dfd_error err;
    if (dfd_job_store_list(&v, &n, &total, s->store, limit, offset, &err)) {
        return server_reply_status(c, &err);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = o ? cJSON_AddArrayToObject(o, "items") : NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON *item = items ? job_json(&v[i]) : NULL;
        if (item) {
            cJSON_AddItemToArray(items, item);
        }
        dfd_job_clear(&v[i]);
    }
    dfd_free(v);
    if (o) {
        cJSON_AddNumberToObject(o, "total", (double)total);
    }
    return server_reply_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result delete_job(dfd_server *s, struct MHD_Connection *c, const char *id)
{
    dfd_error err;
    char dir[1200];
    if (dfd_job_store_delete(s->store, id, &err)) {
        return server_reply_status(c, &err);
    }
    if (server_job_path(dir, sizeof dir, s, id, NULL) && dfd_remove_tree(dir, &err)) {
        dfd_log(DFD_LOG_WARN, "delete %s: %s", id, dfd_error_message(&err));
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}

// name: "<k>.png" with k a face index of the done job id.
static enum MHD_Result get_face(dfd_server *s, struct MHD_Connection *c, const char *id,
                                const char *name)
{
    char *end;
    long k = strtol(name, &end, 10);
    if (end == name || *name < '0' || *name > '9' || strcmp(end, ".png") != 0 || k > 1000000) {
        return server_reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such face image");
    }
    dfd_job j;
    dfd_error err;
    if (dfd_job_store_get(&j, s->store, id, false, &err)) {
        return server_reply_status(c, &err);
    }
    const bool have = j.status == DFD_JOB_DONE && k < j.n_faces;
    dfd_job_clear(&j);
    char rest[64], path[1300];
    snprintf(rest, sizeof rest, "faces/%ld.png", k);
    int fd = have && server_job_path(path, sizeof path, s, id, rest)
                 ? open(path, O_RDONLY | O_CLOEXEC)
                 : -1;
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return server_reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such face image");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)sb.st_size, fd); // owns fd
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "image/png");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "private, max-age=86400");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result get_health(dfd_server *s, struct MHD_Connection *c)
{
    size_t queued = 0, running = 0;
    dfd_error err;
    if (dfd_job_store_counts(&queued, &running, s->store, &err)) {
        return server_reply_status(c, &err);
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "status", "ok");
        cJSON_AddNumberToObject(o, "workers", s->n_workers);
        cJSON_AddNumberToObject(o, "queued", (double)queued);
        cJSON_AddNumberToObject(o, "running", (double)running);
        cJSON_AddNumberToObject(o, "uploads", (double)atomic_load(&s->n_uploads));
    }
    return server_reply_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result get_version(dfd_server *s, struct MHD_Connection *c)
{
    const dfd_detector_model *m = s->o.networks->model;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "name", "dfdetect");
        cJSON_AddStringToObject(o, "version", DFD_VERSION);
    }
    cJSON *mo = o ? cJSON_AddObjectToObject(o, "model") : NULL;
    if (mo) {
        cJSON_AddStringToObject(mo, "name", m->name);
        cJSON_AddStringToObject(mo, "version", m->version);
        cJSON_AddNumberToObject(mo, "threshold", (double)m->threshold);
    }
    return server_reply_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result get_asset(struct MHD_Connection *c, const char *url)
{
    const dfd_web_asset *a = dfd_web_asset_find(url);
    if (!a) {
        return server_reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such page");
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(a->size, (void *)(uintptr_t)a->data,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r) {
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->mime);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result not_allowed(struct MHD_Connection *c)
{
    return server_reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method", "method not allowed here");
}

// /api/v1/scans/<id>[/faces/<k>.png]
static enum MHD_Result route_scan(dfd_server *s, struct MHD_Connection *c, const char *path,
                                  bool get, bool del)
{
    char id[DFD_JOB_ID_LEN + 1];
    const char *slash = strchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : strlen(path);
    if (n != DFD_JOB_ID_LEN) {
        return server_reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such scan");
    }
    memcpy(id, path, n);
    id[n] = 0;
    if (!dfd_job_id_valid(id)) {
        return server_reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such scan");
    }
    if (!slash) {
        return get ? get_job(s, c, id) : del ? delete_job(s, c, id) : not_allowed(c);
    }
    if (strncmp(slash, "/faces/", 7) == 0) {
        return get ? get_face(s, c, id, slash + 7) : not_allowed(c);
    }
    return server_reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
}

// Every request but an upload.
static enum MHD_Result route(dfd_server *s, struct MHD_Connection *c, const char *url,
                             const char *method)
{
    const bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    const bool del = strcmp(method, "DELETE") == 0;
    if (strcmp(url, "/healthz") == 0) {
        return get ? get_health(s, c) : not_allowed(c);
    }
    if (strncmp(url, "/api/", 5) != 0) {
        return get ? get_asset(c, url) : not_allowed(c);
    }
    if (!authorized(s, c)) {
        return server_reply_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                                  "this server wants \"Authorization: Bearer TOKEN\"");
    }
    if (strcmp(url, API "/version") == 0) {
        return get ? get_version(s, c) : not_allowed(c);
    }
    if (strcmp(url, SCANS) == 0) {
        return get ? list_jobs(s, c) : not_allowed(c);
    }
    if (strncmp(url, SCANS "/", sizeof SCANS) == 0) {
        return route_scan(s, c, url + sizeof SCANS, get, del);
    }
    return server_reply_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no such path");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)version;
    dfd_server *s = cls;
    request *rq = *con_cls;
    if (!rq) {
        if (!(rq = dfd_calloc(1, sizeof *rq))) {
            return MHD_NO;
        }
        *con_cls = rq;
        rq->replied = true; // unless an upload begins
        if (strcmp(method, "POST") != 0 || strcmp(url, SCANS) != 0) {
            return route(s, c, url, method);
        }
        if (!authorized(s, c)) {
            return server_reply_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                                      "this server wants \"Authorization: Bearer TOKEN\"");
        }
        enum MHD_Result r = server_upload_begin(&rq->up, s, c);
        rq->replied = rq->up == NULL;
        return r;
    }
    if (rq->replied) {
        *size = 0; // a body nobody asked for
        return MHD_YES;
    }
    if (*size) {
        return server_upload_feed(rq->up, data, size);
    }
    rq->replied = true;
    return server_upload_end(rq->up, c);
}

// The request is over, complete or cut: a partial upload's file goes.
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request *rq = *con_cls;
    if (rq) {
        server_upload_free(rq->up);
        dfd_free(rq);
        *con_cls = NULL;
    }
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') {
        msg[--n] = 0;
    }
    dfd_log(DFD_LOG_WARN, "http: %s", msg);
}

// ---- start / stop ----

static dfd_status parse_listen(struct sockaddr_in *sa, dfd_server *s, const char *listen,
                               dfd_error *err)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    size_t host_len = colon ? (size_t)(colon - listen) : 0;
    if (!colon || end == colon + 1 || *end || port < 0 || port > 65535 || !host_len ||
        host_len >= sizeof s->listen_host) {
        return dfd_error_set(err, DFD_ERR_INVALID, "--listen: want HOST:PORT, not '%s'", listen);
    }
    memcpy(s->listen_host, listen, host_len);
    s->listen_host[host_len] = 0;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    const char *host = strcmp(s->listen_host, "localhost") == 0 ? "127.0.0.1" : s->listen_host;
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        return dfd_error_set(err, DFD_ERR_INVALID, "--listen: '%s' is not an IPv4 address",
                             s->listen_host);
    }
    return DFD_OK;
}

// Remove job folders the store does not know: a crash between storing an upload and queueing
// its job, or during a DELETE.
static void remove_orphans(dfd_server *s)
{
    char jobs[1100];
    snprintf(jobs, sizeof jobs, "%s/jobs", s->data_dir);
    DIR *d = opendir(jobs);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        dfd_job j = { 0 };
        char path[1200];
        if (dfd_job_id_valid(e->d_name) &&
            dfd_job_store_get(&j, s->store, e->d_name, false, NULL) == DFD_ERR_NOT_FOUND &&
            server_job_path(path, sizeof path, s, e->d_name, NULL)) {
            dfd_remove_tree(path, NULL);
        }
        dfd_job_clear(&j);
    }
    if (d) {
        closedir(d);
    }
}

static dfd_status check_opts(const dfd_server_opts *o, dfd_error *err)
{
    if (!o->networks || !o->networks->model || !o->networks->backbone || !o->networks->explain) {
        return dfd_error_set(err, DFD_ERR_INVALID, "serve: the networks are not loaded");
    }
    if (o->workers < 1 || o->workers > 64 || o->max_queue < 1 || o->max_upload < 1 ||
        !o->data_dir || !o->data_dir[0] || strlen(o->data_dir) > 900 || !o->listen) {
        return dfd_error_set(err, DFD_ERR_INVALID, "serve: bad options");
    }
    if (o->token && (strlen(o->token) > 400 || strpbrk(o->token, "\r\n"))) {
        return dfd_error_set(err, DFD_ERR_INVALID, "serve: bad --token");
    }
    return DFD_OK;
}

dfd_status dfd_server_start(dfd_server **out, const dfd_server_opts *opts, dfd_error *err)
{
    *out = NULL;
    dfd_status st = check_opts(opts, err);
    if (st) {
        return st;
    }
    dfd_server *s = dfd_calloc(1, sizeof *s);
    if (!s) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "serve: out of memory");
    }
    s->o = *opts;
    pthread_mutex_init(&s->wake_lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    snprintf(s->data_dir, sizeof s->data_dir, "%s", opts->data_dir);
    if (opts->token && opts->token[0]) {
        snprintf(s->token_header, sizeof s->token_header, "Bearer %s", opts->token);
    }
    struct sockaddr_in sa;
    char db[1100];
    size_t requeued = 0;
    snprintf(db, sizeof db, "%s/jobs.db", s->data_dir);
    st = parse_listen(&sa, s, opts->listen, err);
    st = st ? st : server_upload_dirs_prepare(s, err);
    st = st ? st : dfd_job_store_open(&s->store, db, &requeued, err);
    st = st ? st : server_workers_start(s, err);
    if (st) {
        goto fail;
    }
    remove_orphans(s);
    if (requeued) {
        dfd_log(DFD_LOG_INFO, "%zu job(s) interrupted by a crash run again", requeued);
    }
    s->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_END);
    if (!s->daemon) {
        st = dfd_error_set(err, DFD_ERR_IO, "serve: cannot listen on %s (address in use?)",
                           opts->listen);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : ntohs(sa.sin_port);
    *out = s;
    return DFD_OK;
fail:
    dfd_server_stop(s);
    return st;
}

int dfd_server_port(const dfd_server *s)
{
    return s->port;
}

void dfd_server_stop(dfd_server *s)
{
    if (!s) {
        return;
    }
    if (s->daemon) {
        MHD_stop_daemon(s->daemon);
    }
    server_workers_stop(s);
    dfd_job_store_close(s->store);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->wake_lock);
    dfd_free(s);
}
