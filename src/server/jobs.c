// The server's job store on SQLite (WAL): see jobs.h for the table and the guarantees.
#include "dfdetect/server/jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dfdetect/util/alloc.h"

struct dfd_job_store {
    sqlite3 *db;
    pthread_mutex_t lock;
    char path[512];
};

static const char *const status_names[DFD_JOB_STATUS_COUNT] = { "queued", "running", "done",
                                                                "failed" };

const char *dfd_job_status_name(dfd_job_status s)
{
    return s < DFD_JOB_STATUS_COUNT ? status_names[s] : "unknown";
}

static dfd_job_status status_parse(const char *s)
{
    for (int i = 0; i < DFD_JOB_STATUS_COUNT; i++) {
        if (s && strcmp(s, status_names[i]) == 0) {
            return (dfd_job_status)i;
        }
    }
    return DFD_JOB_FAILED;
}

void dfd_job_clear(dfd_job *j)
{
    if (!j) {
        return;
    }
    dfd_free(j->error);
    dfd_free(j->result);
    memset(j, 0, sizeof *j);
}

bool dfd_job_id_valid(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++) {
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) {
            return false;
        }
    }
    return s && n == DFD_JOB_ID_LEN;
}

dfd_status dfd_job_id_new(char *id, dfd_error *err)
{
    unsigned char b[DFD_JOB_ID_LEN / 2];
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0) {
        return dfd_error_set_errno(err, DFD_ERR_IO, errno, "/dev/urandom");
    }
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n != (ssize_t)sizeof b) {
        return dfd_error_set(err, DFD_ERR_IO, "/dev/urandom: short read");
    }
    for (size_t i = 0; i < sizeof b; i++) {
        snprintf(id + 2 * i, 3, "%02x", b[i]);
    }
    return DFD_OK;
}

// ---- statements ----

static dfd_status db_fail(dfd_job_store *s, dfd_error *err, const char *what)
{
    return dfd_error_set(err, DFD_ERR_IO, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static dfd_status exec(dfd_job_store *s, const char *sql, dfd_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        dfd_error_set(err, DFD_ERR_IO, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return DFD_ERR_IO;
    }
    return DFD_OK;
}

// Prepare sql and bind the NULL-terminated text arguments to ?1, ?2, ...
static dfd_status prepare(sqlite3_stmt **st, dfd_job_store *s, const char *sql,
                          const char *const *texts, dfd_error *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        return db_fail(s, err, "prepare");
    }
    for (int i = 0; texts && texts[i]; i++) {
        sqlite3_bind_text(*st, i + 1, texts[i], -1, SQLITE_TRANSIENT);
    }
    return DFD_OK;
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

static char *dup_text(const unsigned char *src)
{
    return src ? dfd_strdup((const char *)src) : NULL;
}

#define JOB_COLUMNS                                                                              \
    "id, status, progress, file_name, input, created, attempts, verdict, probability, n_faces, " \
    "error"

// One row of JOB_COLUMNS (then `result` when with_result) into j.
static dfd_status read_row(dfd_job *j, sqlite3_stmt *st, bool with_result)
{
    memset(j, 0, sizeof *j);
    copy_text(j->id, sizeof j->id, sqlite3_column_text(st, 0));
    j->status = status_parse((const char *)sqlite3_column_text(st, 1));
    j->progress = sqlite3_column_double(st, 2);
    copy_text(j->file_name, sizeof j->file_name, sqlite3_column_text(st, 3));
    copy_text(j->input, sizeof j->input, sqlite3_column_text(st, 4));
    copy_text(j->created, sizeof j->created, sqlite3_column_text(st, 5));
    j->attempts = sqlite3_column_int(st, 6);
    copy_text(j->verdict, sizeof j->verdict, sqlite3_column_text(st, 7));
    j->probability =
        sqlite3_column_type(st, 8) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(st, 8);
    j->n_faces = sqlite3_column_int(st, 9);
    const unsigned char *e = sqlite3_column_text(st, 10);
    const unsigned char *r = with_result ? sqlite3_column_text(st, 11) : NULL;
    if ((e && !(j->error = dup_text(e))) || (r && !(j->result = dup_text(r)))) {
        dfd_job_clear(j);
        return DFD_ERR_NOMEM;
    }
    return DFD_OK;
}

// ---- open / close ----

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=FULL;"
                             "CREATE TABLE IF NOT EXISTS jobs ("
                             " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                             " id TEXT NOT NULL UNIQUE,"
                             " status TEXT NOT NULL,"
                             " progress REAL NOT NULL DEFAULT 0,"
                             " file_name TEXT NOT NULL,"
                             " input TEXT NOT NULL,"
                             " created TEXT NOT NULL,"
                             " attempts INTEGER NOT NULL DEFAULT 0,"
                             " error TEXT, result TEXT, verdict TEXT, probability REAL,"
                             " n_faces INTEGER NOT NULL DEFAULT 0);"
                             "CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);";

dfd_status dfd_job_store_open(dfd_job_store **out, const char *path, size_t *n_requeued,
                              dfd_error *err)
{
    *out = NULL;
    dfd_job_store *s = dfd_calloc(1, sizeof *s);
    if (!s) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    pthread_mutex_init(&s->lock, NULL);
    dfd_status st = DFD_OK;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        st = db_fail(s, err, "open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    st = exec(s, schema, err);
    // A crash left these running: run them again (they finish exactly once, see finish).
    st = st ? st
            : exec(s, "UPDATE jobs SET status = 'queued', progress = 0 WHERE status = 'running'",
                   err);
    if (st) {
        goto fail;
    }
    if (n_requeued) {
        *n_requeued = (size_t)sqlite3_changes(s->db);
    }
    *out = s;
    return DFD_OK;
fail:
    dfd_job_store_close(s);
    return st;
}

void dfd_job_store_close(dfd_job_store *s)
{
    if (!s) {
        return;
    }
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    dfd_free(s);
}

// ---- queries ----

// The single count of `sql` (bound to texts) into *n.
static dfd_status count(size_t *n, dfd_job_store *s, const char *sql, const char *const *texts,
                        dfd_error *err)
{
    sqlite3_stmt *st;
    dfd_status rc = prepare(&st, s, sql, texts, err);
    if (rc) {
        return rc;
    }
    rc = sqlite3_step(st) == SQLITE_ROW ? DFD_OK : db_fail(s, err, "count");
    *n = rc ? 0 : (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

dfd_status dfd_job_store_add(dfd_job_store *s, const char *id, const char *file_name,
                             const char *input, size_t max_queued, dfd_error *err)
{
    if (!dfd_job_id_valid(id) || strlen(file_name) >= sizeof((dfd_job *)0)->file_name ||
        strlen(input) >= sizeof((dfd_job *)0)->input) {
        return dfd_error_set(err, DFD_ERR_INVALID, "job store: bad job id or name");
    }
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&s->lock);
    size_t queued;
    static const char *const none[] = { NULL };
    dfd_status rc =
        count(&queued, s, "SELECT COUNT(*) FROM jobs WHERE status = 'queued'", none, err);
    if (!rc && queued >= max_queued) {
        rc = dfd_error_set(err, DFD_ERR_LIMIT, "the queue is full (%zu jobs wait)", queued);
    }
    sqlite3_stmt *st = NULL;
    const char *const args[] = { id, file_name, input, created, NULL };
    rc = rc ? rc
            : prepare(&st, s,
                      "INSERT INTO jobs (id, status, file_name, input, created) "
                      "VALUES (?1, 'queued', ?2, ?3, ?4)",
                      args, err);
    if (!rc && sqlite3_step(st) != SQLITE_DONE) {
        rc = db_fail(s, err, "insert");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

dfd_status dfd_job_store_get(dfd_job *out, dfd_job_store *s, const char *id, bool with_result,
                             dfd_error *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    const char *const args[] = { id, NULL };
    dfd_status rc =
        prepare(&st, s, "SELECT " JOB_COLUMNS ", result FROM jobs WHERE id = ?1", args, err);
    if (!rc) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            rc = read_row(out, st, with_result);
            rc = rc ? dfd_error_set(err, rc, "job %s: out of memory", id) : DFD_OK;
        } else if (step == SQLITE_DONE) {
            rc = dfd_error_set(err, DFD_ERR_NOT_FOUND, "no scan %s", id);
        } else {
            rc = db_fail(s, err, "get");
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

dfd_status dfd_job_store_list(dfd_job **out, size_t *n_out, size_t *total, dfd_job_store *s,
                              size_t limit, size_t offset, dfd_error *err)
{
    *out = NULL;
    *n_out = 0;
    dfd_job *v = dfd_calloc(limit ? limit : 1, sizeof *v);
    if (!v) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "job list: out of memory");
    }
    pthread_mutex_lock(&s->lock);
    static const char *const none[] = { NULL };
    dfd_status rc = count(total, s, "SELECT COUNT(*) FROM jobs", none, err);
    sqlite3_stmt *st = NULL;
    rc = rc ? rc
            : prepare(&st, s,
                      "SELECT " JOB_COLUMNS " FROM jobs ORDER BY seq DESC LIMIT ?1 OFFSET ?2", none,
                      err);
    size_t n = 0;
    if (!rc) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)offset);
        int step;
        while (n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
            if (read_row(&v[n], st, false)) {
                rc = dfd_error_set(err, DFD_ERR_NOMEM, "job list: out of memory");
                break;
            }
            n++;
        }
        if (!rc && n < limit && step != SQLITE_DONE) {
            rc = db_fail(s, err, "list");
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            dfd_job_clear(&v[i]);
        }
        dfd_free(v);
        return rc;
    }
    *out = v;
    *n_out = n;
    return DFD_OK;
}

dfd_status dfd_job_store_counts(size_t *queued, size_t *running, dfd_job_store *s, dfd_error *err)
{
    static const char *const q[] = { "queued", NULL }, *const r[] = { "running", NULL };
    static const char sql[] = "SELECT COUNT(*) FROM jobs WHERE status = ?1";
    pthread_mutex_lock(&s->lock);
    dfd_status rc = count(queued, s, sql, q, err);
    rc = rc ? rc : count(running, s, sql, r, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

// ---- a job's life ----

// Run a statement that changes rows (bound to texts); *changed (may be NULL) gets how many.
static dfd_status change(size_t *changed, dfd_job_store *s, const char *sql,
                         const char *const *texts, dfd_error *err)
{
    sqlite3_stmt *st;
    dfd_status rc = prepare(&st, s, sql, texts, err);
    if (rc) {
        return rc;
    }
    rc = sqlite3_step(st) == SQLITE_DONE ? DFD_OK : db_fail(s, err, "update");
    sqlite3_finalize(st);
    if (changed) {
        *changed = rc ? 0 : (size_t)sqlite3_changes(s->db);
    }
    return rc;
}

dfd_status dfd_job_store_claim(dfd_job *out, bool *found, dfd_job_store *s, dfd_error *err)
{
    *found = false;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    static const char *const none[] = { NULL };
    dfd_status rc = prepare(
        &st, s, "SELECT " JOB_COLUMNS " FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1",
        none, err);
    if (!rc) {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            rc = read_row(out, st, false);
            rc = rc ? dfd_error_set(err, rc, "job store: out of memory") : DFD_OK;
            *found = !rc;
        } else if (step != SQLITE_DONE) {
            rc = db_fail(s, err, "claim");
        }
        sqlite3_finalize(st);
    }
    if (*found) {
        const char *const args[] = { out->id, NULL };
        rc = change(NULL, s,
                    "UPDATE jobs SET status = 'running', progress = 0, "
                    "attempts = attempts + 1 WHERE id = ?1",
                    args, err);
        out->status = DFD_JOB_RUNNING;
        out->attempts++;
        *found = !rc;
        if (rc) {
            dfd_job_clear(out);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

dfd_status dfd_job_store_progress(dfd_job_store *s, const char *id, double progress, dfd_error *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    const char *const args[] = { id, NULL };
    dfd_status rc = prepare(
        &st, s, "UPDATE jobs SET progress = ?2 WHERE id = ?1 AND status = 'running'", args, err);
    if (!rc) {
        sqlite3_bind_double(st, 2, progress);
        rc = sqlite3_step(st) == SQLITE_DONE ? DFD_OK : db_fail(s, err, "progress");
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

dfd_status dfd_job_store_finish(bool *stored, dfd_job_store *s, const char *id,
                                const dfd_job_outcome *o, dfd_error *err)
{
    *stored = false;
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    const bool done = o->error == NULL;
    const char *const args[] = { id, NULL };
    // One statement, so one transaction: the status, result and figures change together, and
    // only for a job still running (a deleted or already finished job is left alone).
    dfd_status rc = prepare(&st, s,
                            "UPDATE jobs SET status = ?2, progress = 1, result = ?3, error = ?4, "
                            "verdict = ?5, probability = ?6, n_faces = ?7 "
                            "WHERE id = ?1 AND status = 'running'",
                            args, err);
    if (!rc) {
        sqlite3_bind_text(st, 2, done ? "done" : "failed", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 7, done ? o->n_faces : 0);
        if (done) {
            sqlite3_bind_text(st, 3, o->result_json, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 5, o->verdict, -1, SQLITE_TRANSIENT);
            if (!isnan(o->probability)) {
                sqlite3_bind_double(st, 6, o->probability);
            }
        } else {
            sqlite3_bind_text(st, 4, o->error, -1, SQLITE_TRANSIENT);
        }
        rc = sqlite3_step(st) == SQLITE_DONE ? DFD_OK : db_fail(s, err, "finish");
        *stored = !rc && sqlite3_changes(s->db) == 1;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

dfd_status dfd_job_store_delete(dfd_job_store *s, const char *id, dfd_error *err)
{
    pthread_mutex_lock(&s->lock);
    size_t n;
    const char *const args[] = { id, NULL };
    dfd_status rc = change(&n, s, "DELETE FROM jobs WHERE id = ?1", args, err);
    if (!rc && n == 0) {
        rc = dfd_error_set(err, DFD_ERR_NOT_FOUND, "no scan %s", id);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
