// What the server tests share: a `dfdetect serve` child process on 127.0.0.1 port 0 (its port
// read from the first stdout line), HTTP requests through libcurl, raw socket writes for
// malformed and cut requests, and polling a job until it ends.
#ifndef DFD_TESTS_SERVER_HARNESS_H
#define DFD_TESTS_SERVER_HARNESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct test_server {
    pid_t pid;
    int port;
} test_server;

// Whether the face models and the default detector are there (scripts/setup.sh fetches them).
bool harness_have_models(void);

// $DFD_FIXTURES/name or $DFD_SOURCE_DIR/name into buf.
const char *harness_fixture(char *buf, size_t n, const char *name);
const char *harness_source(char *buf, size_t n, const char *rel);

// Start `dfdetect serve --listen 127.0.0.1:0 --data-dir DIR ARGS...` (args: NULL-terminated, may
// be NULL) and wait (60 s at most) for its "listening on" line. false when it did not come.
bool harness_start(test_server *s, const char *data_dir, const char *const *args);

// Send sig, wait for the process; its exit status as waitpid gives it (-1 on failure).
int harness_stop(test_server *s, int sig);

typedef struct http_reply {
    long code;
    char *body; // NUL-terminated (dfd_free)
    size_t n;
    char retry_after[16]; // the Retry-After header, "" when absent
    char content_type[64];
} http_reply;

void http_reply_free(http_reply *r);

// One request: method, path (with query), an optional Authorization token, and a body: a file
// as multipart field "file" (name: the part's file name, NULL for the file's own), or raw bytes
// with a Content-Type (raw may be NULL). curl errors give code 0.
typedef struct http_request {
    const char *method; // NULL: GET, or POST when a body is given
    const char *path;
    const char *token;
    const char *file;      // multipart upload of this file
    const char *file_name; // its name in the part (NULL: the file's)
    const void *raw;       // raw body
    size_t raw_n;
    const char *content_type; // of the raw body
} http_request;

http_reply http_do(const test_server *s, const http_request *rq);

// Write `data` to the server on a fresh connection, read what comes back (up to 2 s of silence)
// into out (capacity n, NUL-terminated) and close. Returns the bytes read.
size_t harness_raw(const test_server *s, const void *data, size_t len, char *out, size_t n);

// GET /api/v1/scans/<id> until its status is done or failed (timeout_s at most): the parsed job
// (cJSON_Delete), or NULL on timeout or a bad reply.
cJSON *harness_wait_job(const test_server *s, const char *id, const char *token, double timeout_s);

// The upload reply's job id into id (capacity 64); false when the reply is not a 202 with one.
bool harness_job_id(char *id, const http_reply *r);

// Sleep ms milliseconds.
void harness_sleep_ms(int ms);

#endif
