// The server's job store (server/jobs.h) on a temporary SQLite file: the life of a job, the queue
// limit, paging newest first, deletion, finishing exactly once, and running jobs requeued when
// the store is opened again after a crash.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/server/jobs.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "test.h"

typedef struct tmp_store {
    char dir[64];
    char path[128];
    dfd_job_store *s;
} tmp_store;

static bool open_tmp(tmp_store *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/dfd_test_jobs_XXXXXX");
    if (!mkdtemp(t->dir)) {
        return false;
    }
    snprintf(t->path, sizeof t->path, "%s/jobs.db", t->dir);
    return dfd_job_store_open(&t->s, t->path, NULL, NULL) == DFD_OK;
}

static void close_tmp(tmp_store *t)
{
    dfd_job_store_close(t->s);
    dfd_remove_tree(t->dir, NULL);
}

static void job_ids_are_random_hex(void)
{
    char a[DFD_JOB_ID_LEN + 1], b[DFD_JOB_ID_LEN + 1];
    CHECK_OK(dfd_job_id_new(a, NULL));
    CHECK_OK(dfd_job_id_new(b, NULL));
    CHECK(dfd_job_id_valid(a) && dfd_job_id_valid(b));
    CHECK(strcmp(a, b) != 0);
    CHECK(!dfd_job_id_valid("../../etc/passwd"));
    CHECK(!dfd_job_id_valid("0123456789ABCDEF0123456789abcdef"));
    CHECK(!dfd_job_id_valid(""));
}

static void a_job_is_queued_claimed_and_finished_once(void)
{
    tmp_store t;
    REQUIRE(open_tmp(&t));
    char id[DFD_JOB_ID_LEN + 1];
    CHECK_OK(dfd_job_id_new(id, NULL));
    CHECK_OK(dfd_job_store_add(t.s, id, "clip.mp4", "input.video", 10, NULL));
    dfd_job j;
    CHECK_OK(dfd_job_store_get(&j, t.s, id, true, NULL));
    CHECK_EQ_INT(j.status, DFD_JOB_QUEUED);
    CHECK(strcmp(j.file_name, "clip.mp4") == 0 && strcmp(j.input, "input.video") == 0);
    CHECK(strlen(j.created) == 20 && j.created[19] == 'Z');
    CHECK(j.result == NULL && j.error == NULL);
    dfd_job_clear(&j);
    bool found = false;
    CHECK_OK(dfd_job_store_claim(&j, &found, t.s, NULL));
    CHECK(found && strcmp(j.id, id) == 0);
    CHECK_EQ_INT(j.status, DFD_JOB_RUNNING);
    CHECK_EQ_INT(j.attempts, 1);
    dfd_job_clear(&j);
    CHECK_OK(dfd_job_store_claim(&j, &found, t.s, NULL));
    CHECK(!found); // nothing else waits
    CHECK_OK(dfd_job_store_progress(t.s, id, 0.5, NULL));
    dfd_job_outcome o = { .result_json = "{\"verdict\":\"FAKE\"}",
                          .verdict = "FAKE",
                          .probability = 0.75,
                          .n_faces = 3 };
    bool stored = false;
    CHECK_OK(dfd_job_store_finish(&stored, t.s, id, &o, NULL));
    CHECK(stored);
    // A second finish (a rerun after a crash that had in fact completed) changes nothing.
    dfd_job_outcome again = { .error = "should not land" };
    CHECK_OK(dfd_job_store_finish(&stored, t.s, id, &again, NULL));
    CHECK(!stored);
    CHECK_OK(dfd_job_store_get(&j, t.s, id, true, NULL));
    CHECK_EQ_INT(j.status, DFD_JOB_DONE);
    CHECK_NEAR(j.progress, 1, 0);
    CHECK(j.result && strcmp(j.result, "{\"verdict\":\"FAKE\"}") == 0);
    CHECK(strcmp(j.verdict, "FAKE") == 0);
    CHECK_NEAR(j.probability, 0.75, 1e-12);
    CHECK_EQ_INT(j.n_faces, 3);
    CHECK(j.error == NULL);
    dfd_job_clear(&j);
    close_tmp(&t);
}

static void a_failed_job_keeps_its_error(void)
{
    tmp_store t;
    REQUIRE(open_tmp(&t));
    char id[DFD_JOB_ID_LEN + 1];
    CHECK_OK(dfd_job_id_new(id, NULL));
    CHECK_OK(dfd_job_store_add(t.s, id, "x.mp4", "input.video", 10, NULL));
    dfd_job j;
    bool found, stored;
    CHECK_OK(dfd_job_store_claim(&j, &found, t.s, NULL));
    dfd_job_clear(&j);
    dfd_job_outcome o = { .error = "x.mp4: damaged" };
    CHECK_OK(dfd_job_store_finish(&stored, t.s, id, &o, NULL));
    CHECK(stored);
    CHECK_OK(dfd_job_store_get(&j, t.s, id, true, NULL));
    CHECK_EQ_INT(j.status, DFD_JOB_FAILED);
    CHECK(j.error && strcmp(j.error, "x.mp4: damaged") == 0);
    CHECK(j.result == NULL && isnan(j.probability));
    dfd_job_clear(&j);
    close_tmp(&t);
}

static void the_queue_limit_refuses_more_jobs(void)
{
    tmp_store t;
    REQUIRE(open_tmp(&t));
    char id[DFD_JOB_ID_LEN + 1];
    for (int i = 0; i < 2; i++) {
        CHECK_OK(dfd_job_id_new(id, NULL));
        CHECK_OK(dfd_job_store_add(t.s, id, "a.png", "input.png", 2, NULL));
    }
    CHECK_OK(dfd_job_id_new(id, NULL));
    dfd_error err;
    CHECK_EQ_INT(dfd_job_store_add(t.s, id, "a.png", "input.png", 2, &err), DFD_ERR_LIMIT);
    size_t queued, running;
    CHECK_OK(dfd_job_store_counts(&queued, &running, t.s, NULL));
    CHECK_EQ_INT(queued, 2);
    CHECK_EQ_INT(running, 0);
    CHECK_EQ_INT(dfd_job_store_add(t.s, "not-an-id", "a.png", "input.png", 9, NULL),
                 DFD_ERR_INVALID);
    close_tmp(&t);
}

static void the_list_pages_newest_first_and_delete_removes(void)
{
    tmp_store t;
    REQUIRE(open_tmp(&t));
    char ids[5][DFD_JOB_ID_LEN + 1];
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d.png", i);
        CHECK_OK(dfd_job_id_new(ids[i], NULL));
        CHECK_OK(dfd_job_store_add(t.s, ids[i], name, "input.png", 100, NULL));
    }
    dfd_job *v;
    size_t n, total;
    CHECK_OK(dfd_job_store_list(&v, &n, &total, t.s, 2, 1, NULL));
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(total, 5);
    CHECK(strcmp(v[0].id, ids[3]) == 0 && strcmp(v[1].id, ids[2]) == 0);
    for (size_t i = 0; i < n; i++) {
        dfd_job_clear(&v[i]);
    }
    dfd_free(v);
    CHECK_OK(dfd_job_store_delete(t.s, ids[3], NULL));
    CHECK_EQ_INT(dfd_job_store_delete(t.s, ids[3], NULL), DFD_ERR_NOT_FOUND);
    dfd_job j;
    CHECK_EQ_INT(dfd_job_store_get(&j, t.s, ids[3], false, NULL), DFD_ERR_NOT_FOUND);
    CHECK_OK(dfd_job_store_list(&v, &n, &total, t.s, 10, 0, NULL));
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(total, 4);
    for (size_t i = 0; i < n; i++) {
        dfd_job_clear(&v[i]);
    }
    dfd_free(v);
    CHECK_OK(dfd_job_store_list(&v, &n, &total, t.s, 10, 50, NULL));
    CHECK_EQ_INT(n, 0);
    dfd_free(v);
    close_tmp(&t);
}

static void running_jobs_are_requeued_on_reopen(void)
{
    tmp_store t;
    REQUIRE(open_tmp(&t));
    char a[DFD_JOB_ID_LEN + 1], b[DFD_JOB_ID_LEN + 1];
    CHECK_OK(dfd_job_id_new(a, NULL));
    CHECK_OK(dfd_job_id_new(b, NULL));
    CHECK_OK(dfd_job_store_add(t.s, a, "a.mp4", "input.video", 10, NULL));
    CHECK_OK(dfd_job_store_add(t.s, b, "b.mp4", "input.video", 10, NULL));
    dfd_job j;
    bool found;
    CHECK_OK(dfd_job_store_claim(&j, &found, t.s, NULL));
    CHECK(found && strcmp(j.id, a) == 0);
    dfd_job_clear(&j);
    // A crash: the store is simply opened again (the old connection never finished a).
    dfd_job_store_close(t.s);
    size_t requeued = 0;
    CHECK_OK(dfd_job_store_open(&t.s, t.path, &requeued, NULL));
    CHECK_EQ_INT(requeued, 1);
    CHECK_OK(dfd_job_store_claim(&j, &found, t.s, NULL));
    CHECK(found && strcmp(j.id, a) == 0); // the oldest again, first
    CHECK_EQ_INT(j.attempts, 2);
    dfd_job_clear(&j);
    close_tmp(&t);
}

DFD_TEST_MAIN({ "job_ids_are_random_hex", job_ids_are_random_hex },
              { "a_job_is_queued_claimed_and_finished_once",
                a_job_is_queued_claimed_and_finished_once },
              { "a_failed_job_keeps_its_error", a_failed_job_keeps_its_error },
              { "the_queue_limit_refuses_more_jobs", the_queue_limit_refuses_more_jobs },
              { "the_list_pages_newest_first_and_delete_removes",
                the_list_pages_newest_first_and_delete_removes },
              { "running_jobs_are_requeued_on_reopen", running_jobs_are_requeued_on_reopen })
