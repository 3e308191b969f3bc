// Status codes and the error record every fallible library call fills in.
// Three tiers (STYLE.md §3): expected failures return dfd_status and describe themselves in a
// dfd_error; bugs hit DFD_ASSERT, which stays on in release builds; nothing below main() exits.
#ifndef DFD_UTIL_STATUS_H
#define DFD_UTIL_STATUS_H

#include <stdbool.h>

// Result of every fallible call. DFD_OK is 0 so `if (st)` means "failed".
typedef enum dfd_status {
    DFD_OK = 0,
    DFD_ERR_NOMEM,       // an allocation failed
    DFD_ERR_IO,          // the operating system refused a read, write, open or rename
    DFD_ERR_FORMAT,      // the input exists but is not what it claims to be (corrupt, truncated)
    DFD_ERR_UNSUPPORTED, // well-formed input we do not handle (codec, feature)
    DFD_ERR_INVALID,     // the caller passed an invalid argument
    DFD_ERR_NOT_FOUND,   // a named file, stream or item does not exist
    DFD_ERR_LIMIT,       // the input is larger than a configured limit (resolution, size, depth)
    DFD_STATUS_COUNT
} dfd_status;

// Error record filled by functions that touch the outside world. Callers own it (usually on the
// stack); functions accept NULL when the caller only wants the status. Never shared between
// threads: each request or job has its own.
typedef struct dfd_error {
    dfd_status code; // same value the function returned
    int sys_errno;   // errno when the failure came from the OS, else 0
    char msg[256];   // one line, no trailing newline, names the file and the problem
} dfd_error;

// Short lowercase name of a status ("ok", "nomem", "io", "format", "unsupported", "invalid",
// "not_found", "limit"); "unknown" for out-of-range values. The string is static.
const char *dfd_status_str(dfd_status st);

// Fill `err` (if not NULL) with `code` and a printf-formatted message, and return `code`, so a
// failure reads `return dfd_error_set(err, DFD_ERR_FORMAT, "%s: bad magic", path);`.
// Messages longer than the buffer are truncated; control characters (from quoted untrusted
// text) become '?', so a message is always one printable line.
dfd_status dfd_error_set(dfd_error *err, dfd_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// As dfd_error_set, and also records `errnum` and appends ": <strerror(errnum)>".
dfd_status dfd_error_set_errno(dfd_error *err, dfd_status code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// Reset to DFD_OK with an empty message. Accepts NULL.
void dfd_error_clear(dfd_error *err);

// The message, or the status name when no message was set. Never NULL; valid while `err` lives.
const char *dfd_error_message(const dfd_error *err);

// Bug check that stays on in release builds: on failure logs "file:line: assertion failed: expr"
// at DFD_LOG_ERROR level (and to stderr) and aborts. For broken invariants, never for input.
#define DFD_ASSERT(cond)                                \
    do {                                                \
        if (!(cond)) {                                  \
            dfd_assert_fail(__FILE__, __LINE__, #cond); \
        }                                               \
    } while (0)

_Noreturn void dfd_assert_fail(const char *file, int line, const char *expr);

#endif
