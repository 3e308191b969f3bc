// Running a finalized graph. A session binds a graph to one batch size: it plans every
// intermediate tensor into one arena by liveness (buffers of values that are never alive at the
// same time share memory), prepares the fast kernels for those shapes, and then runs as often as
// needed without allocating. One graph can serve many sessions at once (one per thread); a
// session itself is used by one thread at a time.
#ifndef DFD_NN_SESSION_H
#define DFD_NN_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "dfdetect/nn/graph.h"
#include "dfdetect/nn/tensor.h"
#include "dfdetect/util/status.h"

typedef enum dfd_backend {
    DFD_BACKEND_FAST = 0, // optimized kernels where they exist (oneDNN), reference elsewhere
    DFD_BACKEND_REF,      // the plain C reference kernels only (for tests)
} dfd_backend;

typedef struct dfd_session_opts {
    int n_threads; // threads inside kernels; 0 = one per CPU
    dfd_backend backend;
    bool profile; // time every node of every run (see dfd_session_node_seconds)
} dfd_session_opts;

dfd_session_opts dfd_session_opts_default(void);

typedef struct dfd_session dfd_session;

// Plan `g` (finalized; borrowed, must outlive the session) for `batch` items.
// Errors: DFD_ERR_INVALID (batch outside 1..4096, graph not finalized), DFD_ERR_LIMIT (the
// arena would exceed 16 GiB), DFD_ERR_NOMEM, DFD_ERR_UNSUPPORTED (a fast kernel refused a shape
// it claimed; never for the reference backend).
dfd_status dfd_session_create(dfd_session **out, const dfd_graph *g, int batch,
                              const dfd_session_opts *opts, dfd_error *err);
void dfd_session_free(dfd_session *s); // accepts NULL

int dfd_session_batch(const dfd_session *s);

// The i-th graph input, shaped [batch, ...]: write its data before dfd_session_run. Owned by the
// session; the pointer stays valid for the session's life.
dfd_tensor *dfd_session_input(dfd_session *s, size_t i);

// Run every node. Errors: none today beyond DFD_ERR_INVALID for a freed session; kept as a
// status so that kernels that can fail (out of memory in a library) have a way to say so.
dfd_status dfd_session_run(dfd_session *s, dfd_error *err);

// The i-th graph output (or the one named `name`: value name or alias, ":0" optional) after the
// last run; NULL if no such output. Valid until the next run or dfd_session_free.
const dfd_tensor *dfd_session_output(const dfd_session *s, size_t i);
const dfd_tensor *dfd_session_output_by_name(const dfd_session *s, const char *name);

// Bytes of the activation arena (for memory reports).
size_t dfd_session_arena_bytes(const dfd_session *s);

// Nodes that run on a fast kernel in this session.
size_t dfd_session_n_fast(const dfd_session *s);
// The kernel node i runs: "reference", or a fast one ("onednn", "dwpw", "im2col", "firstconv").
const char *dfd_session_node_kernel(const dfd_session *s, size_t i);

// With opts.profile: seconds spent in node i (topological order, as dfd_graph_node) summed
// over all runs so far, and whether it ran on a fast kernel. 0 without profiling.
double dfd_session_node_seconds(const dfd_session *s, size_t i, bool *is_fast);

#endif
