// The server's job store: one SQLite database (WAL journal, synchronous FULL) holding every scan
// job and its result, so jobs survive a restart or a crash. A job is queued, then claimed by one
// worker (running), then finished exactly once (done with its result, or failed with its error)
// in one transaction that only applies while the job is still running. Opening the store puts
// every job left running by a crash back in the queue, so it is run again.
//   jobs(seq INTEGER PRIMARY KEY, id TEXT UNIQUE, status TEXT, progress REAL, file_name TEXT,
//        input TEXT, created TEXT, attempts INTEGER, error TEXT, result TEXT, verdict TEXT,
//        probability REAL, n_faces INTEGER)
// Thread-safety: every call may come from any thread (one connection behind a mutex).
#ifndef DFD_SERVER_JOBS_H
#define DFD_SERVER_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/util/status.h"

#define DFD_JOB_ID_LEN 32 // lowercase hex characters of a job id (128 random bits)

typedef enum dfd_job_status {
    DFD_JOB_QUEUED = 0,
    DFD_JOB_RUNNING,
    DFD_JOB_DONE,
    DFD_JOB_FAILED,
    DFD_JOB_STATUS_COUNT
} dfd_job_status;

// "queued", "running", "done", "failed"; static string.
const char *dfd_job_status_name(dfd_job_status s);

typedef struct dfd_job {
    char id[DFD_JOB_ID_LEN + 1];
    dfd_job_status status;
    double progress;     // 0 queued .. 1 done
    char file_name[256]; // the client's file name, for display only
    char input[64];      // the stored upload's name inside the job's folder ("input.mp4")
    char created[32];    // ISO 8601 UTC, "2026-12-07T12:00:00Z"
    int attempts;        // times a worker claimed it (more than 1 after a crash)
    char verdict[16];    // done: "REAL", "FAKE", "NO_FACE"; else ""
    double probability;  // done with REAL / FAKE: the probability; else NaN
    int n_faces;         // done: face images in its folder
    char *error;         // failed: why (owned; dfd_job_clear)
    char *result;        // done and asked for: the result JSON text (owned); else NULL
} dfd_job;

// Free what j owns and zero it. Accepts NULL.
void dfd_job_clear(dfd_job *j);

// Whether s is a well-formed job id (DFD_JOB_ID_LEN lowercase hex characters).
bool dfd_job_id_valid(const char *s);

// A new random job id into id (capacity DFD_JOB_ID_LEN + 1), from /dev/urandom.
// Errors: DFD_ERR_IO.
dfd_status dfd_job_id_new(char *id, dfd_error *err);

typedef struct dfd_job_store dfd_job_store;

// Open (creating when missing) the store at `path`, then put jobs left running back in the queue
// (*n_requeued gets how many; may be NULL). Errors: DFD_ERR_IO (SQLite could not open or set up
// the file, naming it), DFD_ERR_NOMEM.
dfd_status dfd_job_store_open(dfd_job_store **out, const char *path, size_t *n_requeued,
                              dfd_error *err);
void dfd_job_store_close(dfd_job_store *s); // accepts NULL

// Add a queued job: `id` (dfd_job_id_new), the client's `file_name` and the stored `input` name.
// Errors: DFD_ERR_LIMIT (max_queued jobs already wait), DFD_ERR_INVALID (an id or name too long),
// DFD_ERR_IO.
dfd_status dfd_job_store_add(dfd_job_store *s, const char *id, const char *file_name,
                             const char *input, size_t max_queued, dfd_error *err);

// The job `id` into *out (overwritten; dfd_job_clear it), its result text only when with_result.
// Errors: DFD_ERR_NOT_FOUND, DFD_ERR_IO, DFD_ERR_NOMEM.
dfd_status dfd_job_store_get(dfd_job *out, dfd_job_store *s, const char *id, bool with_result,
                             dfd_error *err);

// A page of jobs, newest first, without their results: *out (n_out entries; free each with
// dfd_job_clear, then the array with dfd_free) and the number of jobs in all into *total.
// Errors: DFD_ERR_IO, DFD_ERR_NOMEM.
dfd_status dfd_job_store_list(dfd_job **out, size_t *n_out, size_t *total, dfd_job_store *s,
                              size_t limit, size_t offset, dfd_error *err);

// Jobs queued and running now.
dfd_status dfd_job_store_counts(size_t *queued, size_t *running, dfd_job_store *s, dfd_error *err);

// Claim the oldest queued job: it becomes running (attempts + 1) and is copied into *out
// (*found true), or *found is false when none waits. Errors: DFD_ERR_IO, DFD_ERR_NOMEM.
dfd_status dfd_job_store_claim(dfd_job *out, bool *found, dfd_job_store *s, dfd_error *err);

// Record a running job's progress (0..1). A job no longer running is left alone.
dfd_status dfd_job_store_progress(dfd_job_store *s, const char *id, double progress,
                                  dfd_error *err);

// How a running job ended: done with result_json (error NULL), or failed with error.
typedef struct dfd_job_outcome {
    const char *result_json; // done: the result object's text
    const char *verdict;     // done: the result's verdict name
    double probability;      // done: the probability (NaN: none)
    int n_faces;             // done: face images written
    const char *error;       // failed: why
} dfd_job_outcome;

// Finish the running job `id` in one transaction. *stored is false when the job is no longer
// running (deleted meanwhile): nothing changes. Errors: DFD_ERR_IO.
dfd_status dfd_job_store_finish(bool *stored, dfd_job_store *s, const char *id,
                                const dfd_job_outcome *o, dfd_error *err);

// Remove the job `id`. Errors: DFD_ERR_NOT_FOUND, DFD_ERR_IO.
dfd_status dfd_job_store_delete(dfd_job_store *s, const char *id, dfd_error *err);

#endif
