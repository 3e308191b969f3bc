// Files written so that a reader never sees half of one: data goes to a temporary file in the
// same directory, which is flushed, synced and renamed over the destination only when complete.
// A failure or an abort removes the temporary file and leaves any existing destination untouched.
#ifndef DFD_UTIL_FILEIO_H
#define DFD_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dfdetect/util/status.h"

typedef struct dfd_atomic_file dfd_atomic_file;

// Start writing `path`: creates "<path>.tmp.XXXXXX" next to it (mode 0644).
// Errors: DFD_ERR_INVALID (NULL/empty path), DFD_ERR_IO (directory missing, no permission),
// DFD_ERR_NOMEM. On success *out must be finished with _commit or _abort.
dfd_status dfd_atomic_file_open(dfd_atomic_file **out, const char *path, dfd_error *err);

// The stream to write to; owned by `f`, valid until _commit/_abort. Never close it yourself.
FILE *dfd_atomic_file_stream(dfd_atomic_file *f);

// Flush, fsync and rename into place, then free `f` (whatever the outcome). A write error seen
// on the stream since _open (disk full) fails here: DFD_ERR_IO, and the temporary is removed.
dfd_status dfd_atomic_file_commit(dfd_atomic_file *f, dfd_error *err);

// Discard: close and remove the temporary, free `f`. Accepts NULL.
void dfd_atomic_file_abort(dfd_atomic_file *f);

// Write a whole buffer to `path` atomically. Errors as _open and _commit.
dfd_status dfd_file_write_atomic(const char *path, const void *data, size_t n_bytes,
                                 dfd_error *err);

// Read a whole regular file into a new buffer (NUL-terminated for convenience, the NUL not
// counted in *n_bytes) that the caller frees with dfd_free. Errors: DFD_ERR_NOT_FOUND (missing),
// DFD_ERR_INVALID (a directory or not a regular file), DFD_ERR_LIMIT (larger than max_bytes),
// DFD_ERR_IO, DFD_ERR_NOMEM. Messages name the path.
dfd_status dfd_file_read_all(void **data, size_t *n_bytes, const char *path, size_t max_bytes,
                             dfd_error *err);

// Check that `path` names a readable, non-empty regular file; the one-line error names the path
// and says what it is instead ("no such file", "is a directory", "is empty").
// Errors: DFD_ERR_NOT_FOUND, DFD_ERR_INVALID, DFD_ERR_FORMAT (empty), DFD_ERR_IO.
dfd_status dfd_file_check_regular(const char *path, size_t *size_out, dfd_error *err);

// Create a directory and its missing parents (like `mkdir -p`), mode 0755. DFD_ERR_IO on failure,
// DFD_ERR_INVALID when a component exists and is not a directory.
dfd_status dfd_mkdir_p(const char *path, dfd_error *err);

// Seconds on a monotonic clock, for timing and progress. Thread-safe.
double dfd_now(void);

#endif
