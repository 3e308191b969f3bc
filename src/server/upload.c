// POST /api/v1/scans: the upload streamed piece by piece into a temporary file under DIR/tmp
// (never held whole in memory), as multipart/form-data (field "file") or a raw body named by
// ?name= or X-File-Name; then checked (a PNG/JPEG image that decodes, or a video that opens and
// indexes), moved into its job's folder under a generated name and queued.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dfdetect/image/imageio.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/video/video.h"
#include "server_internal.h"

// Room for the multipart framing around the file in a Content-Length check.
#define MULTIPART_SLACK (64 * 1024)
// Bytes of body read and dropped after an error before the connection is cut.
#define DISCARD_MAX (1024 * 1024)

struct server_upload {
    dfd_server *s;
    struct MHD_PostProcessor *pp; // multipart/form-data; NULL for a raw body
    int fd;                       // the temporary file, -1 once closed
    char tmp_path[1100];
    size_t bytes;     // file bytes received
    size_t discarded; // body bytes dropped after an error
    bool have_file;   // multipart: the "file" part began
    bool counted;     // in s->n_uploads
    char file_name[200];
    unsigned err_http; // an error to answer with at the end (0: none)
    char err_code[16];
    char err_msg[256];
};

// Remember the first error; later pieces of the body are dropped.
static void fail(server_upload *u, unsigned http, const char *code, const char *msg)
{
    if (u->err_http) {
        return;
    }
    u->err_http = http;
    snprintf(u->err_code, sizeof u->err_code, "%s", code);
    snprintf(u->err_msg, sizeof u->err_msg, "%s", msg);
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
    if (u->tmp_path[0]) {
        unlink(u->tmp_path);
        u->tmp_path[0] = 0;
    }
}

// The client's name for display: its last path component, control bytes as '_', never empty,
// "." or ".." (the stored file has a generated name whatever this is).
static void set_file_name(server_upload *u, const char *name)
{
    const char *base = name ? name : "";
    for (const char *p = base; *p; p++) {
        if (*p == '/' || *p == '\\') {
            base = p + 1;
        }
    }
    size_t n = 0;
    for (; base[n] && n + 1 < sizeof u->file_name; n++) {
        const unsigned char ch = (unsigned char)base[n];
        u->file_name[n] = ch < 0x20 || ch == 0x7f ? '_' : (char)ch;
    }
    u->file_name[n] = 0;
    if (!n || strcmp(u->file_name, ".") == 0 || strcmp(u->file_name, "..") == 0) {
        snprintf(u->file_name, sizeof u->file_name, "upload");
    }
}

static void write_piece(server_upload *u, const char *data, size_t n)
{
    if (u->err_http) {
        return;
    }
    if (n > u->s->o.max_upload - u->bytes) {
        char msg[128];
        snprintf(msg, sizeof msg, "the file is larger than the limit of %zu bytes",
                 u->s->o.max_upload);
        fail(u, MHD_HTTP_CONTENT_TOO_LARGE, "limit", msg);
        return;
    }
    while (n) {
        ssize_t w = write(u->fd, data, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "io", "could not store the upload");
            return;
        }
        data += w;
        n -= (size_t)w;
        u->bytes += (size_t)w;
    }
}

// The multipart parser's callback: the part named "file" goes to disk, other fields are ignored.
static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    server_upload *u = cls;
    if (!key || strcmp(key, "file") != 0) {
        return MHD_YES;
    }
    if (off == 0 && !u->have_file) {
        u->have_file = true;
        set_file_name(u, filename);
    } else if (off == 0 && size && u->bytes) {
        fail(u, MHD_HTTP_BAD_REQUEST, "invalid", "more than one file in the form");
    }
    write_piece(u, data, size);
    return u->err_http ? MHD_NO : MHD_YES;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

enum MHD_Result server_upload_begin(server_upload **out, dfd_server *s, struct MHD_Connection *c)
{
    *out = NULL;
    dfd_error err;
    size_t queued, running;
    if (dfd_job_store_counts(&queued, &running, s->store, &err)) {
        return server_reply_status(c, &err);
    }
    if (queued >= s->o.max_queue) {
        return server_reply_busy(c, "the queue is full: try again later");
    }
    const char *type = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
    const bool multipart = type && strncasecmp(type, "multipart/form-data", 19) == 0;
    if (type && strncasecmp(type, "application/x-www-form-urlencoded", 33) == 0) {
        return server_reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid",
                                  "send the file as multipart/form-data or as a raw body");
    }
    const char *length = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(length, &end, 10);
        const size_t slack = multipart ? MULTIPART_SLACK : 0;
        if (errno || end == length || *end || n > s->o.max_upload + slack) {
            char msg[128];
            snprintf(msg, sizeof msg, "the file is larger than the limit of %zu bytes",
                     s->o.max_upload);
            return server_reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "limit", msg);
        }
    }
    server_upload *u = dfd_calloc(1, sizeof *u);
    if (!u) {
        return server_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "nomem", "out of memory");
    }
    u->s = s;
    u->fd = -1;
    if (multipart) {
        if (!(u->pp = MHD_create_post_processor(c, 64 * 1024, on_part, u))) {
            dfd_free(u);
            return server_reply_error(c, MHD_HTTP_BAD_REQUEST, "invalid",
                                      "malformed multipart/form-data (no boundary)");
        }
    } else {
        const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
        set_file_name(u, name ? name : header(c, "X-File-Name"));
    }
    char id[DFD_JOB_ID_LEN + 1];
    if (dfd_job_id_new(id, &err) ||
        snprintf(u->tmp_path, sizeof u->tmp_path, "%s/tmp/%s.part", s->data_dir, id) >=
            (int)sizeof u->tmp_path ||
        (u->fd = open(u->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        u->tmp_path[0] = 0;
        server_upload_free(u);
        return server_reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "io",
                                  "could not store the upload");
    }
    atomic_fetch_add(&s->n_uploads, 1);
    u->counted = true;
    *out = u;
    return MHD_YES;
}

enum MHD_Result server_upload_feed(server_upload *u, const char *data, size_t *size)
{
    if (u->err_http) {
        u->discarded += *size;
        *size = 0;
        return u->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    if (u->pp) {
        if (MHD_post_process(u->pp, data, *size) != MHD_YES) {
            fail(u, MHD_HTTP_BAD_REQUEST, "invalid", "malformed multipart/form-data body");
        }
    } else {
        write_piece(u, data, *size);
    }
    *size = 0;
    return MHD_YES;
}

// ---- checking the file ----

// What the first bytes say: "png", "jpg" or "video" (anything else: the decoder decides).
static const char *sniff(const char *path)
{
    unsigned char b[8] = { 0 };
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) {
        fclose(f);
    }
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
        return "png";
    }
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
        return "jpg";
    }
    return "video";
}

// err's message with the temporary path replaced by the client's file name.
static void client_message(char *out, size_t n, const dfd_error *err, const server_upload *u)
{
    const char *m = dfd_error_message(err);
    const char *at = u->tmp_path[0] ? strstr(m, u->tmp_path) : NULL;
    if (at) {
        snprintf(out, n, "%.*s%s%s", (int)(at - m), m, u->file_name, at + strlen(u->tmp_path));
    } else {
        snprintf(out, n, "%s", m);
    }
}

// A decodable image or video within the limits; else the error to answer with.
static void check_file(server_upload *u, const char *kind)
{
    dfd_error err;
    dfd_status st;
    double duration = 0;
    if (strcmp(kind, "video") != 0) {
        dfd_image img = { 0 };
        st = dfd_image_read(&img, u->tmp_path, &err);
        dfd_image_free(&img);
    } else {
        dfd_video_opts vo = dfd_video_opts_default();
        vo.n_threads = 1;
        dfd_video *v = NULL;
        st = dfd_video_open(&v, u->tmp_path, &vo, &err);
        if (!st) {
            dfd_video_info info;
            dfd_video_probe(&info, v);
            duration = info.duration_s;
        }
        dfd_video_close(v);
    }
    char msg[256];
    if (st) {
        client_message(msg, sizeof msg, &err, u);
        const bool limit = st == DFD_ERR_LIMIT;
        fail(u, limit ? MHD_HTTP_CONTENT_TOO_LARGE : MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
             dfd_status_str(st), msg);
    } else if (u->s->o.max_duration > 0 && duration > u->s->o.max_duration) {
        snprintf(msg, sizeof msg, "%s: the video lasts %.1f s, longer than the limit of %.0f s",
                 u->file_name, duration, u->s->o.max_duration);
        fail(u, MHD_HTTP_CONTENT_TOO_LARGE, "limit", msg);
    }
}

// Move the checked file into a new job's folder and queue the job: its id into id.
static void create_job(server_upload *u, char *id)
{
    dfd_server *s = u->s;
    dfd_error err;
    char dir[1200], input[16], path[1300];
    const char *kind = sniff(u->tmp_path);
    snprintf(input, sizeof input, "input.%s", kind);
    if (dfd_job_id_new(id, &err) || !server_job_path(dir, sizeof dir, s, id, NULL) ||
        !server_job_path(path, sizeof path, s, id, input) || dfd_mkdir_p(dir, &err) ||
        rename(u->tmp_path, path) != 0) {
        fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "io", "could not store the upload");
        return;
    }
    u->tmp_path[0] = 0; // moved
    dfd_status st = dfd_job_store_add(s->store, id, u->file_name, input, s->o.max_queue, &err);
    if (st) {
        dfd_remove_tree(dir, NULL);
        fail(u, st == DFD_ERR_LIMIT ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR,
             st == DFD_ERR_LIMIT ? "busy" : "io", dfd_error_message(&err));
        return;
    }
    server_workers_wake(s);
}

enum MHD_Result server_upload_end(server_upload *u, struct MHD_Connection *c)
{
    if (u->pp) {
        if (MHD_destroy_post_processor(u->pp) != MHD_YES) {
            fail(u, MHD_HTTP_BAD_REQUEST, "invalid", "malformed multipart/form-data body");
        }
        u->pp = NULL;
        if (!u->have_file) {
            fail(u, MHD_HTTP_BAD_REQUEST, "invalid", "no \"file\" field in the form");
        }
    }
    if (!u->err_http && u->bytes == 0) {
        fail(u, MHD_HTTP_BAD_REQUEST, "invalid", "the upload is empty");
    }
    if (!u->err_http && close(u->fd) != 0) {
        u->fd = -1;
        fail(u, MHD_HTTP_INTERNAL_SERVER_ERROR, "io", "could not store the upload");
    }
    u->fd = -1;
    if (!u->err_http) {
        check_file(u, sniff(u->tmp_path));
    }
    char id[DFD_JOB_ID_LEN + 1];
    if (!u->err_http) {
        create_job(u, id);
    }
    if (u->err_http == MHD_HTTP_SERVICE_UNAVAILABLE) {
        return server_reply_busy(c, u->err_msg);
    }
    if (u->err_http) {
        return server_reply_error(c, u->err_http, u->err_code, u->err_msg);
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "status", "queued");
    }
    return server_reply_json(c, MHD_HTTP_ACCEPTED, o);
}

void server_upload_free(server_upload *u)
{
    if (!u) {
        return;
    }
    if (u->pp) {
        MHD_destroy_post_processor(u->pp);
    }
    if (u->fd >= 0) {
        close(u->fd);
    }
    if (u->counted) {
        atomic_fetch_sub(&u->s->n_uploads, 1);
    }
    if (u->tmp_path[0]) {
        unlink(u->tmp_path);
    }
    dfd_free(u);
}

dfd_status server_upload_dirs_prepare(const dfd_server *s, dfd_error *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/tmp", s->data_dir);
    dfd_status st = dfd_mkdir_p(s->data_dir, err);
    st = st ? st : dfd_remove_tree(path, err);
    st = st ? st : dfd_mkdir_p(path, err);
    snprintf(path, sizeof path, "%s/jobs", s->data_dir);
    return st ? st : dfd_mkdir_p(path, err);
}
