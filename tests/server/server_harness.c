// The server tests' harness: see server_harness.h.
#include "server_harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dfdetect/util/alloc.h"

const char *harness_fixture(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", getenv("DFD_FIXTURES"), name);
    return buf;
}

const char *harness_source(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/%s", getenv("DFD_SOURCE_DIR"), rel);
    return buf;
}

bool harness_have_models(void)
{
    static const char *const files[] = { "models/faceres.json", "models/blazeface.json",
                                         "share/models/dfdetect-default.safetensors" };
    char p[1024];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (access(harness_source(p, sizeof p, files[i]), R_OK) != 0) {
            return false;
        }
    }
    return true;
}

// One line from fd within timeout_ms; false on timeout or end of file.
static bool read_line(int fd, char *line, size_t n, int timeout_ms)
{
    size_t len = 0;
    while (len + 1 < n) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, timeout_ms) <= 0) {
            return false;
        }
        char ch;
        if (read(fd, &ch, 1) != 1) {
            return false;
        }
        if (ch == '\n') {
            break;
        }
        line[len++] = ch;
    }
    line[len] = 0;
    return true;
}

bool harness_start(test_server *s, const char *data_dir, const char *const *args)
{
    const char *bin = getenv("DFDETECT_BIN");
    const char *argv[32] = { bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir };
    size_t n = 6;
    for (size_t i = 0; args && args[i] && n + 1 < sizeof argv / sizeof argv[0]; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int fds[2];
    if (!bin || pipe(fds) != 0) {
        return false;
    }
    s->pid = fork();
    if (s->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(bin, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(fds[1]);
    char line[256];
    bool ok = s->pid > 0 && read_line(fds[0], line, sizeof line, 60000);
    close(fds[0]);
    const char *colon = ok ? strrchr(line, ':') : NULL;
    ok = ok && strncmp(line, "listening on http://127.0.0.1:", 30) == 0 && colon;
    s->port = ok ? atoi(colon + 1) : 0;
    if (!ok || s->port <= 0) {
        if (s->pid > 0) {
            harness_stop(s, SIGKILL);
        }
        return false;
    }
    return true;
}

int harness_stop(test_server *s, int sig)
{
    if (s->pid <= 0) {
        return -1;
    }
    kill(s->pid, sig);
    int st;
    pid_t r = waitpid(s->pid, &st, 0);
    s->pid = 0;
    return r < 0 ? -1 : st;
}

// ---- HTTP ----

void http_reply_free(http_reply *r)
{
    dfd_free(r->body);
    r->body = NULL;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    http_reply *r = ctx;
    size_t add = size * n;
    char *b = dfd_realloc(r->body, r->n + add + 1);
    if (!b) {
        return 0;
    }
    memcpy(b + r->n, data, add);
    r->n += add;
    b[r->n] = 0;
    r->body = b;
    return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    http_reply *r = ctx;
    size_t len = size * n;
    if (len > 13 && strncasecmp(data, "Retry-After: ", 13) == 0) {
        snprintf(r->retry_after, sizeof r->retry_after, "%.*s", (int)strcspn(data + 13, "\r\n"),
                 data + 13);
    }
    return len;
}

http_reply http_do(const test_server *s, const http_request *rq)
{
    http_reply r = { 0 };
    r.body = dfd_calloc(1, 1);
    CURL *c = curl_easy_init();
    if (!c || !r.body) {
        return r;
    }
    char url[2048], auth[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, rq->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    struct curl_slist *h = NULL;
    if (rq->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", rq->token);
        h = curl_slist_append(h, auth);
    }
    curl_mime *mime = NULL;
    if (rq->file) {
        mime = curl_mime_init(c);
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, "file");
        curl_mime_filedata(part, rq->file);
        if (rq->file_name) {
            curl_mime_filename(part, rq->file_name);
        }
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    } else if (rq->raw) {
        char type[128];
        snprintf(type, sizeof type, "Content-Type: %s", rq->content_type);
        h = curl_slist_append(h, type);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->raw);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)rq->raw_n);
    }
    if (rq->method) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.code);
        char *type = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
        snprintf(r.content_type, sizeof r.content_type, "%s", type ? type : "");
    }
    curl_mime_free(mime);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

size_t harness_raw(const test_server *s, const void *data, size_t len, char *out, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    size_t got = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        send(fd, data, len, MSG_NOSIGNAL) == (ssize_t)len) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        while (got + 1 < n && poll(&p, 1, 2000) > 0) {
            ssize_t r = recv(fd, out + got, n - 1 - got, 0);
            if (r <= 0) {
                break;
            }
            got += (size_t)r;
        }
    }
    if (n) {
        out[got] = 0;
    }
    if (fd >= 0) {
        close(fd);
    }
    return got;
}

void harness_sleep_ms(int ms)
{
    struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

bool harness_job_id(char *id, const http_reply *r)
{
    cJSON *o = r->code == 202 ? cJSON_Parse(r->body) : NULL;
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
    bool ok = v && strlen(v) < 64;
    if (ok) {
        snprintf(id, 64, "%s", v);
    }
    cJSON_Delete(o);
    return ok;
}

cJSON *harness_wait_job(const test_server *s, const char *id, const char *token, double timeout_s)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/scans/%s", id);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        http_request rq = { .path = path, .token = token };
        http_reply r = http_do(s, &rq);
        cJSON *o = r.code == 200 ? cJSON_Parse(r.body) : NULL;
        http_reply_free(&r);
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "status"));
        if (!o || !st) {
            cJSON_Delete(o);
            return NULL;
        }
        if (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0) {
            return o;
        }
        cJSON_Delete(o);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec) > timeout_s) {
            return NULL;
        }
        harness_sleep_ms(200);
    }
}
