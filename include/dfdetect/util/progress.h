// A one-line terminal progress bar for long work ("frames  12/32 [=====>    ] 0.4s"). The
// program decides whether it is shown (a terminal, no --json) and where it goes; library code only
// reports progress through callbacks.
#ifndef DFD_UTIL_PROGRESS_H
#define DFD_UTIL_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

// Callback through which library code reports `done` of `total` units of work. `ctx` is the
// caller's pointer. May be called from the thread that runs the work only.
typedef void (*dfd_progress_fn)(void *ctx, size_t done, size_t total);

typedef struct dfd_progress {
    FILE *out;      // where the bar is drawn (stderr in the CLI); NULL: disabled
    char label[32]; // shown before the counts
    size_t total;   // units of work; 0 if unknown
    double t_start; // dfd_now() at begin
    double t_last;  // last redraw, to limit redraws to ~10 per second
    bool drawn;     // something is on the line and must be cleared at the end
} dfd_progress;

// Start a bar. With enabled == false every other call does nothing.
void dfd_progress_begin(dfd_progress *p, FILE *out, const char *label, size_t total, bool enabled);

// Redraw with `done` units finished (rate-limited, except when done == total).
void dfd_progress_update(dfd_progress *p, size_t done);

// A dfd_progress_fn adapter: ctx is a dfd_progress*, and its total is updated from the call.
void dfd_progress_callback(void *ctx, size_t done, size_t total);

// Erase the bar so that the next output starts on a clean line.
void dfd_progress_end(dfd_progress *p);

#endif
