// Logging through one settable sink. Library code never prints: it calls dfd_log, and the program
// (CLI, server, tests) decides where messages go. Until a sink is set, messages are discarded.
#ifndef DFD_UTIL_LOG_H
#define DFD_UTIL_LOG_H

#include <stdbool.h>

typedef enum dfd_log_level {
    DFD_LOG_DEBUG = 0,
    DFD_LOG_INFO,
    DFD_LOG_WARN,
    DFD_LOG_ERROR,
    DFD_LOG_NONE // as a minimum level: log nothing
} dfd_log_level;

// Receives one formatted message (no trailing newline). Called from any thread that logs, so a
// sink must be thread-safe; `ctx` is the pointer given to dfd_log_set.
typedef void (*dfd_log_sink)(void *ctx, dfd_log_level level, const char *msg);

// Install the sink and the minimum level. Call once at start-up, before other threads log; a NULL
// sink discards everything. Not thread-safe against concurrent dfd_log calls.
void dfd_log_set(dfd_log_sink sink, void *ctx, dfd_log_level min_level);

// True when a message at `level` would reach the sink (to skip expensive formatting).
bool dfd_log_enabled(dfd_log_level level);

// Format and deliver one message; messages longer than 1 KiB are truncated. Thread-safe.
void dfd_log(dfd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// A ready-made sink writing "dfdetect: <level>: <msg>\n" to the FILE* passed as ctx (stderr in
// the CLI). stdio locks the stream, so lines from different threads do not interleave.
void dfd_log_sink_file(void *ctx, dfd_log_level level, const char *msg);

// "debug", "info", "warn", "error"; static string.
const char *dfd_log_level_str(dfd_log_level level);

#endif
