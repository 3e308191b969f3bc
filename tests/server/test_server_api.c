// dfdetect serve over loopback with a real HTTP client (libcurl, and a raw socket for cut and
// malformed requests): an upload of the demo clip scanned exactly as `dfdetect scan --json` says,
// its face images, paging and deletion, and every error: 400, 401, 404, 405, 413, 415, 503; a cut
// upload leaves nothing behind and a path-traversal name stays a display name.
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dfdetect/image/image.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"
#include "server/server_harness.h"
#include "test.h"

static char work[] = "/tmp/dfd_test_server_XXXXXX";
static char data_a[256], data_b[256], small_jpg[256];
static test_server server_a, server_b; // a: defaults; b: token, 20K limit, queue of 1
#define TOKEN "s3cret-token"

static void stop_servers(void)
{
    harness_stop(&server_a, SIGKILL);
    harness_stop(&server_b, SIGKILL);
    if (work[strlen(work) - 1] != 'X') {
        dfd_remove_tree(work, NULL);
    }
}

// The work folder, a small JPEG without a face worth the name (the portrait at 96 px wide) and
// the two servers, made on first use; false (after a skip) without the models.
static bool setup(void)
{
    static int state; // 0 not yet, 1 ready, -1 failed
    if (state) {
        return state > 0;
    }
    state = -1;
    if (!harness_have_models() || !mkdtemp(work)) {
        return false;
    }
    atexit(stop_servers);
    snprintf(data_a, sizeof data_a, "%s/a", work);
    snprintf(data_b, sizeof data_b, "%s/b", work);
    snprintf(small_jpg, sizeof small_jpg, "%s/small.jpg", work);
    char p[1024];
    dfd_image big = { 0 }, small = { 0 };
    bool ok = !dfd_image_read(&big, harness_source(p, sizeof p, "assets/astronaut.png"), NULL) &&
              !dfd_image_alloc(&small, 96, 96 * big.h / big.w, 3) &&
              !dfd_image_resize(&small, &big, DFD_RESIZE_AREA) &&
              !dfd_jpeg_write(small_jpg, &small, 85, NULL);
    dfd_image_free(&big);
    dfd_image_free(&small);
    static const char *const args_b[] = { "--token", TOKEN, "--max-upload", "20K", "--max-queue",
                                          "1",       NULL };
    ok = ok && harness_start(&server_a, data_a, NULL) && harness_start(&server_b, data_b, args_b);
    state = ok ? 1 : -1;
    return ok;
}

#define SETUP()                                                              \
    do {                                                                     \
        if (!harness_have_models()) {                                        \
            TEST_SKIP("face models absent (scripts/setup.sh fetches them)"); \
        }                                                                    \
        REQUIRE(setup());                                                    \
    } while (0)

static const char *str_of(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

// An error reply: the status and a JSON body {"error": {"code", "message"}} with a message.
static void check_error(const http_reply *r, long code)
{
    CHECK_EQ_INT(r->code, code);
    cJSON *o = cJSON_Parse(r->body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const char *msg = str_of(e, "message");
    CHECK(str_of(e, "code") != NULL);
    CHECK(msg && msg[0]);
    if (code != r->code) {
        fprintf(stderr, "    reply: %s\n", r->body);
    }
    cJSON_Delete(o);
}

static http_reply get(const test_server *s, const char *path, const char *token)
{
    http_request rq = { .path = path, .token = token };
    return http_do(s, &rq);
}

static http_reply upload(const test_server *s, const char *file, const char *name,
                         const char *token)
{
    http_request rq = { .path = "/api/v1/scans", .file = file, .file_name = name, .token = token };
    return http_do(s, &rq);
}

static http_reply post_raw(const test_server *s, const char *path, const void *data, size_t n,
                           const char *type)
{
    http_request rq = { .path = path, .raw = data, .raw_n = n, .content_type = type };
    return http_do(s, &rq);
}

// Jobs the server lists.
static int total_jobs(const test_server *s, const char *token)
{
    http_reply r = get(s, "/api/v1/scans", token);
    cJSON *o = r.code == 200 ? cJSON_Parse(r.body) : NULL;
    int n = o ? (int)num_of(o, "total") : -1;
    cJSON_Delete(o);
    http_reply_free(&r);
    return n;
}

// Files under dir/tmp (uploads in progress).
static size_t tmp_files(const char *data_dir)
{
    char dir[512];
    char **names = NULL;
    size_t n = 0;
    snprintf(dir, sizeof dir, "%s/tmp", data_dir);
    if (dfd_dir_list_files(&names, &n, dir, NULL)) {
        return 0;
    }
    dfd_dir_list_free(names, n);
    return n;
}

// ---- the main path ----

// The keys of b's object members all in a and the reverse, recursively, "timing_s" values aside.
static bool same_shape(const cJSON *a, const cJSON *b)
{
    if ((a->type & 0xff) != (b->type & 0xff)) {
        return false;
    }
    if (cJSON_IsArray(a)) {
        return cJSON_GetArraySize(a) == cJSON_GetArraySize(b) &&
               (!a->child || same_shape(a->child, b->child));
    }
    if (!cJSON_IsObject(a)) {
        return true;
    }
    int na = 0, nb = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, b)
    {
        nb++;
    }
    cJSON_ArrayForEach(x, a)
    {
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!y || !same_shape(x, y)) {
            fprintf(stderr, "    shape differs at \"%s\"\n", x->string);
            return false;
        }
        na++;
    }
    return na == nb;
}

// `dfdetect scan --json FILE`'s object for the file.
static cJSON *scan_json(const char *file)
{
    char cmd[2048], out[512];
    snprintf(out, sizeof out, "%s/scan.json", work);
    snprintf(cmd, sizeof cmd, "'%s' scan --json '%s' > '%s' 2>/dev/null", getenv("DFDETECT_BIN"),
             file, out);
    if (system(cmd) != 0) {
        return NULL;
    }
    void *text = NULL;
    size_t n;
    if (dfd_file_read_all(&text, &n, out, 1 << 24, NULL)) {
        return NULL;
    }
    cJSON *arr = cJSON_Parse(text);
    dfd_free(text);
    cJSON *o = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    return o;
}

static void clip_upload_is_scanned_as_scan_json_says(void)
{
    SETUP();
    char clip[1024];
    harness_fixture(clip, sizeof clip, "astronaut_pan.mp4");
    http_reply r = upload(&server_a, clip, NULL, NULL);
    char id[64];
    CHECK_EQ_INT(r.code, 202);
    CHECK_STR_CONTAINS(r.body, "\"status\":\"queued\"");
    REQUIRE(harness_job_id(id, &r));
    http_reply_free(&r);
    cJSON *job = harness_wait_job(&server_a, id, NULL, 240);
    REQUIRE(job);
    CHECK(strcmp(str_of(job, "status"), "done") == 0);
    CHECK(strcmp(str_of(job, "file_name"), "astronaut_pan.mp4") == 0);
    CHECK_NEAR(num_of(job, "progress"), 1, 0);
    CHECK(str_of(job, "created") != NULL);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(job, "result");
    cJSON *cli = scan_json(clip);
    REQUIRE(res && cli);
    CHECK(same_shape(res, cli));
    CHECK(strcmp(str_of(res, "verdict"), str_of(cli, "verdict")) == 0);
    CHECK(strcmp(str_of(res, "verdict"), "NO_FACE") != 0);
    CHECK_NEAR(num_of(res, "probability"), num_of(cli, "probability"), 1e-5);
    CHECK(strcmp(str_of(res, "file"), "astronaut_pan.mp4") == 0);
    // One face image per face of every identity, PNGs of the crop's size.
    int n_faces = 0;
    const cJSON *idn;
    cJSON_ArrayForEach(idn, cJSON_GetObjectItemCaseSensitive(res, "identities"))
    {
        n_faces += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(idn, "frames"));
    }
    const cJSON *faces = cJSON_GetObjectItemCaseSensitive(job, "faces");
    CHECK_EQ_INT(cJSON_GetArraySize(faces), n_faces);
    REQUIRE(n_faces > 0);
    const char *url = cJSON_GetStringValue(cJSON_GetArrayItem(faces, n_faces - 1));
    REQUIRE(url);
    r = get(&server_a, url, NULL);
    CHECK_EQ_INT(r.code, 200);
    CHECK(strcmp(r.content_type, "image/png") == 0);
    CHECK(r.n > 8 && memcmp(r.body, "\x89PNG", 4) == 0);
    http_reply_free(&r);
    char path[256];
    snprintf(path, sizeof path, "/api/v1/scans/%s/faces/%d.png", id, n_faces);
    r = get(&server_a, path, NULL);
    check_error(&r, 404);
    http_reply_free(&r);
    cJSON_Delete(cli);
    cJSON_Delete(job);
}

// ---- errors ----

static void files_that_do_not_decode_get_415_with_the_reason(void)
{
    SETUP();
    char text[512], cut[512], clip[1024];
    snprintf(text, sizeof text, "%s/notes.mp4", work);
    snprintf(cut, sizeof cut, "%s/cut.mp4", work);
    REQUIRE(!dfd_file_write_atomic(text, "just some text\n", 15, NULL));
    void *bytes = NULL;
    size_t n;
    REQUIRE(!dfd_file_read_all(&bytes, &n, harness_fixture(clip, sizeof clip, "astronaut_pan.mp4"),
                               1 << 26, NULL));
    REQUIRE(!dfd_file_write_atomic(cut, bytes, n / 3, NULL));
    dfd_free(bytes);
    int before = total_jobs(&server_a, NULL);
    http_reply r = upload(&server_a, text, NULL, NULL);
    check_error(&r, 415);
    CHECK_STR_CONTAINS(r.body, "notes.mp4"); // names the client's file, not the stored one
    http_reply_free(&r);
    r = upload(&server_a, cut, NULL, NULL); // no index: the end is missing
    check_error(&r, 415);
    http_reply_free(&r);
    r = upload(&server_a, harness_fixture(clip, sizeof clip, "truncated_faststart.mp4"), NULL,
               NULL); // the index lists frames the file does not have
    check_error(&r, 415);
    CHECK_STR_CONTAINS(r.body, "truncated");
    http_reply_free(&r);
    CHECK_EQ_INT(total_jobs(&server_a, NULL), before);
    CHECK_EQ_INT(tmp_files(data_a), 0);
}

static void unknown_scans_and_paths_get_404(void)
{
    SETUP();
    static const char *const paths[] = {
        "/api/v1/scans/0123456789abcdef0123456789abcdef", "/api/v1/scans/../../jobs.db",
        "/api/v1/nothing", "/api/v1/scans/0123456789abcdef0123456789abcdef/faces/0.png",
        "/no-such-page.html"
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        http_reply r = get(&server_a, paths[i], NULL);
        check_error(&r, 404);
        http_reply_free(&r);
    }
    http_request rq = { .method = "DELETE",
                        .path = "/api/v1/scans/0123456789abcdef0123456789abcdef" };
    http_reply r = http_do(&server_a, &rq);
    check_error(&r, 404);
    http_reply_free(&r);
    rq = (http_request){ .method = "PUT", .path = "/api/v1/scans" };
    r = http_do(&server_a, &rq);
    check_error(&r, 405);
    http_reply_free(&r);
}

static void malformed_requests_get_400(void)
{
    SETUP();
    int before = total_jobs(&server_a, NULL);
    static const char junk[] = "--XYZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
                               "hello\r\n--XYZ--\r\n";
    const struct {
        const char *type;
        const char *body;
    } cases[] = {
        { "multipart/form-data", junk },                    // no boundary
        { "multipart/form-data; boundary=XYZ", junk },      // no "file" field
        { "multipart/form-data; boundary=QQQ", "garbage" }, // not multipart at all
        { "application/x-www-form-urlencoded", "file=abc" },
        { "application/octet-stream", "" }, // empty
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_reply r = post_raw(&server_a, "/api/v1/scans", cases[i].body, strlen(cases[i].body),
                                cases[i].type);
        check_error(&r, 400);
        http_reply_free(&r);
    }
    http_reply r = get(&server_a, "/api/v1/scans?limit=0", NULL);
    check_error(&r, 400);
    http_reply_free(&r);
    r = get(&server_a, "/api/v1/scans?offset=-3", NULL);
    check_error(&r, 400);
    http_reply_free(&r);
    CHECK_EQ_INT(total_jobs(&server_a, NULL), before);
    CHECK_EQ_INT(tmp_files(data_a), 0);
}

static void a_cut_upload_leaves_no_job_and_no_file(void)
{
    SETUP();
    int before = total_jobs(&server_a, NULL);
    void *bytes = NULL;
    size_t n;
    REQUIRE(!dfd_file_read_all(&bytes, &n, small_jpg, 1 << 20, NULL));
    char head[256], reply[1024];
    int hn = snprintf(head, sizeof head,
                      "POST /api/v1/scans?name=cut.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n",
                      n);
    char *req = dfd_malloc((size_t)hn + n);
    REQUIRE(req);
    memcpy(req, head, (size_t)hn);
    memcpy(req + hn, bytes, n / 2); // half the body, then the connection closes
    harness_raw(&server_a, req, (size_t)hn + n / 2, reply, sizeof reply);
    dfd_free(req);
    dfd_free(bytes);
    CHECK(strstr(reply, "202") == NULL);
    for (int i = 0; i < 50 && tmp_files(data_a); i++) {
        harness_sleep_ms(100);
    }
    CHECK_EQ_INT(tmp_files(data_a), 0);
    CHECK_EQ_INT(total_jobs(&server_a, NULL), before);
}

static void a_traversal_file_name_is_only_displayed(void)
{
    SETUP();
    void *bytes = NULL;
    size_t n;
    REQUIRE(!dfd_file_read_all(&bytes, &n, small_jpg, 1 << 20, NULL));
    http_reply r1 = upload(&server_a, small_jpg, "../../etc/x.jpg", NULL);
    http_reply r2 =
        post_raw(&server_a, "/api/v1/scans?name=..%2F..%2Fetc%2Fy.jpg", bytes, n, "image/jpeg");
    dfd_free(bytes);
    char id1[64], id2[64];
    CHECK_EQ_INT(r1.code, 202);
    CHECK_EQ_INT(r2.code, 202);
    bool ok = harness_job_id(id1, &r1) && harness_job_id(id2, &r2);
    http_reply_free(&r1);
    http_reply_free(&r2);
    REQUIRE(ok);
    cJSON *j1 = harness_wait_job(&server_a, id1, NULL, 120);
    cJSON *j2 = harness_wait_job(&server_a, id2, NULL, 120);
    REQUIRE(j1 && j2);
    CHECK(strcmp(str_of(j1, "file_name"), "x.jpg") == 0);
    CHECK(strcmp(str_of(j2, "file_name"), "y.jpg") == 0);
    CHECK(strcmp(str_of(j1, "status"), "done") == 0);
    cJSON_Delete(j1);
    cJSON_Delete(j2);
    // Stored under generated names inside the job's folder, nothing outside the data dir.
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/jobs/%s/input.jpg", data_a, id1);
    CHECK(stat(path, &sb) == 0);
    snprintf(path, sizeof path, "%s/../etc/x.jpg", data_a);
    CHECK(stat(path, &sb) != 0);
    snprintf(path, sizeof path, "%s/etc", work);
    CHECK(stat(path, &sb) != 0);
}

static void the_list_pages_newest_first_and_delete_removes_a_job(void)
{
    SETUP();
    char id[64];
    http_reply r = upload(&server_a, small_jpg, "paged.jpg", NULL);
    REQUIRE(harness_job_id(id, &r));
    http_reply_free(&r);
    int total = total_jobs(&server_a, NULL);
    REQUIRE(total >= 3);
    r = get(&server_a, "/api/v1/scans?limit=2", NULL);
    cJSON *p1 = cJSON_Parse(r.body);
    http_reply_free(&r);
    r = get(&server_a, "/api/v1/scans?limit=1&offset=1", NULL);
    cJSON *p2 = cJSON_Parse(r.body);
    http_reply_free(&r);
    const cJSON *items1 = cJSON_GetObjectItemCaseSensitive(p1, "items");
    const cJSON *items2 = cJSON_GetObjectItemCaseSensitive(p2, "items");
    CHECK_EQ_INT(cJSON_GetArraySize(items1), 2);
    CHECK_EQ_INT(cJSON_GetArraySize(items2), 1);
    CHECK_EQ_INT(num_of(p2, "total"), total);
    const char *newest = str_of(cJSON_GetArrayItem(items1, 0), "id");
    CHECK(newest && strcmp(newest, id) == 0);
    const char *second = str_of(cJSON_GetArrayItem(items1, 1), "id");
    const char *second2 = str_of(cJSON_GetArrayItem(items2, 0), "id");
    CHECK(second && second2 && strcmp(second, second2) == 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items1, 0), "result") == NULL);
    cJSON_Delete(p1);
    cJSON_Delete(p2);
    // DELETE, even while it may still run: gone from the list, its folder removed.
    cJSON_Delete(harness_wait_job(&server_a, id, NULL, 120));
    char path[256];
    snprintf(path, sizeof path, "/api/v1/scans/%s", id);
    http_request rq = { .method = "DELETE", .path = path };
    r = http_do(&server_a, &rq);
    CHECK_EQ_INT(r.code, 204);
    http_reply_free(&r);
    r = get(&server_a, path, NULL);
    check_error(&r, 404);
    http_reply_free(&r);
    CHECK_EQ_INT(total_jobs(&server_a, NULL), total - 1);
    char dir[512];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s/jobs/%s", data_a, id);
    CHECK(stat(dir, &sb) != 0);
}

static void the_page_health_and_version_are_served(void)
{
    SETUP();
    http_reply r = get(&server_a, "/", NULL);
    CHECK_EQ_INT(r.code, 200);
    CHECK_STR_CONTAINS(r.content_type, "text/html");
    http_reply_free(&r);
    r = get(&server_a, "/healthz", NULL);
    CHECK_EQ_INT(r.code, 200);
    CHECK_STR_CONTAINS(r.body, "\"status\":\"ok\"");
    http_reply_free(&r);
    r = get(&server_a, "/api/v1/version", NULL);
    CHECK_EQ_INT(r.code, 200);
    CHECK_STR_CONTAINS(r.body, "\"name\":\"dfdetect\"");
    CHECK_STR_CONTAINS(r.body, "\"model\":");
    http_reply_free(&r);
}

// ---- the second server: --token, --max-upload 20K, --max-queue 1 ----

static void the_api_wants_the_token(void)
{
    SETUP();
    http_reply r = get(&server_b, "/api/v1/scans", NULL);
    check_error(&r, 401);
    http_reply_free(&r);
    r = get(&server_b, "/api/v1/scans", "wrong");
    check_error(&r, 401);
    http_reply_free(&r);
    r = upload(&server_b, small_jpg, NULL, NULL);
    check_error(&r, 401);
    http_reply_free(&r);
    r = get(&server_b, "/api/v1/scans", TOKEN);
    CHECK_EQ_INT(r.code, 200);
    http_reply_free(&r);
    r = get(&server_b, "/api/v1/scans?token=" TOKEN, NULL);
    CHECK_EQ_INT(r.code, 200);
    http_reply_free(&r);
    r = get(&server_b, "/healthz", NULL);
    CHECK_EQ_INT(r.code, 200);
    http_reply_free(&r);
}

static void an_upload_over_the_limit_gets_413(void)
{
    SETUP();
    char clip[1024];
    harness_fixture(clip, sizeof clip, "astronaut_pan.mp4");
    http_reply r = upload(&server_b, clip, NULL, TOKEN);
    check_error(&r, 413);
    http_reply_free(&r);
    void *bytes = NULL;
    size_t n;
    REQUIRE(!dfd_file_read_all(&bytes, &n, clip, 1 << 26, NULL));
    http_request rq = { .path = "/api/v1/scans",
                        .token = TOKEN,
                        .raw = bytes,
                        .raw_n = n,
                        .content_type = "video/mp4" };
    r = http_do(&server_b, &rq);
    check_error(&r, 413);
    http_reply_free(&r);
    dfd_free(bytes);
    CHECK_EQ_INT(total_jobs(&server_b, TOKEN), 0);
    CHECK_EQ_INT(tmp_files(data_b), 0);
}

static void a_full_queue_gets_503_with_retry_after(void)
{
    SETUP();
    // One worker, one queued job at most: of quick uploads of a small video (its scan decodes
    // 32 frames, far longer than an upload takes) the third at the latest must be refused.
    char clip[1024];
    harness_fixture(clip, sizeof clip, "colors_bt601.mp4");
    int busy = 0, accepted = 0;
    for (int i = 0; i < 6 && !busy; i++) {
        http_reply r = upload(&server_b, clip, NULL, TOKEN);
        if (r.code == 503) {
            check_error(&r, 503);
            CHECK(atoi(r.retry_after) > 0);
            busy++;
        } else {
            CHECK_EQ_INT(r.code, 202);
            accepted++;
        }
        http_reply_free(&r);
    }
    CHECK(busy > 0);
    CHECK(accepted > 0);
    CHECK_EQ_INT(total_jobs(&server_b, TOKEN), accepted);
}

static void sigterm_stops_the_servers_cleanly(void)
{
    SETUP();
    int st = harness_stop(&server_a, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = harness_stop(&server_b, SIGTERM);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

DFD_TEST_MAIN({ "clip_upload_is_scanned_as_scan_json_says",
                clip_upload_is_scanned_as_scan_json_says },
              { "files_that_do_not_decode_get_415_with_the_reason",
                files_that_do_not_decode_get_415_with_the_reason },
              { "unknown_scans_and_paths_get_404", unknown_scans_and_paths_get_404 },
              { "malformed_requests_get_400", malformed_requests_get_400 },
              { "a_cut_upload_leaves_no_job_and_no_file", a_cut_upload_leaves_no_job_and_no_file },
              { "a_traversal_file_name_is_only_displayed",
                a_traversal_file_name_is_only_displayed },
              { "the_list_pages_newest_first_and_delete_removes_a_job",
                the_list_pages_newest_first_and_delete_removes_a_job },
              { "the_page_health_and_version_are_served", the_page_health_and_version_are_served },
              { "the_api_wants_the_token", the_api_wants_the_token },
              { "an_upload_over_the_limit_gets_413", an_upload_over_the_limit_gets_413 },
              { "a_full_queue_gets_503_with_retry_after", a_full_queue_gets_503_with_retry_after },
              { "sigterm_stops_the_servers_cleanly", sigterm_stops_the_servers_cleanly })
