// Durability of dfdetect serve: jobs queued and running when the server is killed with SIGKILL
// all complete after a restart on the same data directory, each exactly once, with their ids.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/server/jobs.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"
#include "server/server_harness.h"
#include "test.h"

#define N_JOBS 4

static const char *status_of(const test_server *s, const char *id)
{
    static char status[32];
    char path[256];
    snprintf(path, sizeof path, "/api/v1/scans/%s", id);
    http_request rq = { .path = path };
    http_reply r = http_do(s, &rq);
    cJSON *o = r.code == 200 ? cJSON_Parse(r.body) : NULL;
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "status"));
    snprintf(status, sizeof status, "%s", v ? v : "?");
    cJSON_Delete(o);
    http_reply_free(&r);
    return status;
}

static void killed_jobs_complete_exactly_once_after_a_restart(void)
{
    if (!harness_have_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    char work[] = "/tmp/dfd_test_durable_XXXXXX", data[256], clip[1024], img[1024];
    REQUIRE(mkdtemp(work));
    snprintf(data, sizeof data, "%s/data", work);
    harness_fixture(clip, sizeof clip, "astronaut_pan.mp4");
    harness_source(img, sizeof img, "assets/astronaut.png");
    test_server s = { 0 };
    REQUIRE(harness_start(&s, data, NULL));
    // A video first (it runs a few seconds), then images that wait behind it.
    char ids[N_JOBS][64];
    for (int i = 0; i < N_JOBS; i++) {
        http_request rq = { .path = "/api/v1/scans", .file = i ? img : clip };
        http_reply r = http_do(&s, &rq);
        CHECK_EQ_INT(r.code, 202);
        bool ok = harness_job_id(ids[i], &r);
        http_reply_free(&r);
        if (!ok) {
            harness_stop(&s, SIGKILL);
            REQUIRE(ok);
        }
    }
    for (int i = 0; i < 100 && strcmp(status_of(&s, ids[0]), "running") != 0; i++) {
        harness_sleep_ms(50);
    }
    CHECK(strcmp(status_of(&s, ids[0]), "running") == 0);
    CHECK(strcmp(status_of(&s, ids[N_JOBS - 1]), "queued") == 0);
    harness_stop(&s, SIGKILL);
    // What a crash can also leave: an upload half received, a job folder never queued.
    char orphan[512], part[512];
    snprintf(orphan, sizeof orphan, "%s/jobs/0123456789abcdef0123456789abcdef", data);
    snprintf(part, sizeof part, "%s/tmp/x.part", data);
    CHECK_OK(dfd_mkdir_p(orphan, NULL));
    CHECK_OK(dfd_file_write_atomic(part, "half", 4, NULL));
    // Restart on the same folder: every job ends done, the killed one run a second time.
    REQUIRE(harness_start(&s, data, NULL));
    CHECK(access(orphan, F_OK) != 0);
    CHECK(access(part, F_OK) != 0);
    for (int i = 0; i < N_JOBS; i++) {
        cJSON *job = harness_wait_job(&s, ids[i], NULL, 240);
        CHECK(job != NULL);
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(job, "status"));
        CHECK(st && strcmp(st, "done") == 0);
        CHECK(cJSON_GetObjectItemCaseSensitive(job, "result") != NULL);
        const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(job, "attempts");
        CHECK(cJSON_IsNumber(attempts) && attempts->valueint == (i == 0 ? 2 : 1));
        cJSON_Delete(job);
    }
    http_request rq = { .path = "/api/v1/scans" };
    http_reply r = http_do(&s, &rq);
    CHECK_STR_CONTAINS(r.body, "\"total\":4");
    http_reply_free(&r);
    harness_stop(&s, SIGTERM);
    // The store itself: N_JOBS rows, all done, nothing left running or queued.
    char db[512];
    snprintf(db, sizeof db, "%s/jobs.db", data);
    dfd_job_store *store = NULL;
    size_t requeued = 99, queued = 99, running = 99;
    CHECK_OK(dfd_job_store_open(&store, db, &requeued, NULL));
    CHECK_OK(dfd_job_store_counts(&queued, &running, store, NULL));
    CHECK_EQ_INT(requeued, 0);
    CHECK_EQ_INT(queued + running, 0);
    dfd_job_store_close(store);
    dfd_remove_tree(work, NULL);
}

DFD_TEST_MAIN({ "killed_jobs_complete_exactly_once_after_a_restart",
                killed_jobs_complete_exactly_once_after_a_restart })
