// Training a graph: reverse-mode automatic differentiation. An autograd session binds a
// finalized graph to one batch size, like dfd_session, but keeps every activation the backward
// pass needs. It runs forward passes in training mode (Dropout draws masks, BatchNorm uses and
// updates batch statistics) or inference mode, then the backward pass in reverse topological
// order, adding the parameters' gradients into dfd_param views of the graph's own weights
// (param.h). The same machinery gives the gradient with respect to any intermediate value and
// that value itself (Grad-CAM saliency).
//
// One step:
//   fill dfd_autograd_input(s, 0); dfd_autograd_forward(s, true, err);
//   compute the loss and dloss/doutput from dfd_autograd_output(s, i);
//   dfd_autograd_set_grad(s, "output name", dloss, err); dfd_autograd_backward(s, err);
//   an optimiser updates p->value from p->grad for the non-frozen params, then zeroes the grads.
//
// Graphs to train are finalized with fuse = true and fuse_dwpw = false: fusion folds per-channel
// scales, biases, residual adds and activations into CONV2D/MATMUL nodes (their backward covers
// the whole fused epilogue), which keeps one kernel per layer in both directions; the fused
// depthwise->pointwise DWPW nodes have no backward and are refused.
//
// Parameters are the weights of the graph's nodes, named "<node>/weight", "<node>/bias" and
// "<node>/alpha" (PReLU slopes; BatchNorm's gamma and beta are its weight and bias). They are
// views: optimisers write the graph's weights directly, so a graph being trained must not run in
// other sessions at the same time, and inference sessions made before an update keep weights
// copied at their creation (make them afresh after training). BatchNorm running statistics are
// listed apart, as buffers ("<node>/running_mean", "<node>/running_var"): state to save in
// checkpoints, never trained.
//
// Determinism: the same graph, seed, inputs and thread count give bit-identical outputs,
// gradients and so loss curves, run after run (tests check one thread); the reference kernels'
// results do not depend on the thread count, oneDNN's may (its reductions split by thread).
//
// Thread-safety: a session is used by one thread at a time.
#ifndef DFD_NN_AUTOGRAD_H
#define DFD_NN_AUTOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/nn/graph.h"
#include "dfdetect/nn/param.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/nn/tensor.h"
#include "dfdetect/util/status.h"

typedef struct dfd_autograd_opts {
    int n_threads;       // threads inside kernels; 0 = one per CPU
    dfd_backend backend; // FAST: oneDNN for CONV2D and MATMUL (forward primitives; backward
                         // primitives, or sgemm for the 1x1 ones and matmuls); REF: the plain C
                         // kernels only (tests)
    uint64_t seed;       // Dropout masks (see dfd_autograd_set_seed)
    bool profile;        // time every node's forward and backward (dfd_autograd_node_seconds)
} dfd_autograd_opts;

dfd_autograd_opts dfd_autograd_opts_default(void);

typedef struct dfd_autograd dfd_autograd;

// Prepare to train `g` (finalized; borrowed, must outlive the session; its weights are updated
// through the params) at `batch` items. Every parameter starts trainable, in group 0, with a
// zero gradient. Errors: DFD_ERR_INVALID (batch outside 1..4096, graph not finalized, two
// parameters with the same name), DFD_ERR_UNSUPPORTED (a DWPW node), DFD_ERR_LIMIT (activations
// beyond 16 GiB), DFD_ERR_NOMEM.
dfd_status dfd_autograd_create(dfd_autograd **out, dfd_graph *g, int batch,
                               const dfd_autograd_opts *opts, dfd_error *err);
void dfd_autograd_free(dfd_autograd *s); // accepts NULL

int dfd_autograd_batch(const dfd_autograd *s);

// The i-th graph input, shaped [batch, ...] (NULL past the last): write it before a forward.
// Owned by the session, valid for its life.
dfd_tensor *dfd_autograd_input(dfd_autograd *s, size_t i);

// Run every node. is_training: Dropout masks (from the seed and a step counter that each
// training forward advances) and BatchNorm batch statistics, whose running statistics move by
// the node's momentum; otherwise inference semantics, exactly as dfd_session. The following
// backward differentiates what this forward computed. Errors: none today beyond DFD_ERR_INVALID
// for a NULL session (kept as a status for kernels that could fail).
dfd_status dfd_autograd_forward(dfd_autograd *s, bool is_training, dfd_error *err);

// Restart the Dropout masks: the next training forwards draw the masks they would draw in a
// session created with this seed. Masks depend only on (seed, step, node, element), not on
// threads or backend.
void dfd_autograd_set_seed(dfd_autograd *s, uint64_t seed);

// The i-th graph output after the last forward (NULL past the last), and any value by name
// (graph input, computed value or output alias; NULL if unknown). Valid until the next forward.
const dfd_tensor *dfd_autograd_output(const dfd_autograd *s, size_t i);
const dfd_tensor *dfd_autograd_value(const dfd_autograd *s, const char *name);

// Set the gradient of the loss with respect to value `name` (an output name or alias, or any
// computed value): numel floats of its shape, copied. Setting it twice replaces it. Values that
// get no gradient count as zero. Consumed by the next backward. Errors: DFD_ERR_NOT_FOUND (no
// such value), DFD_ERR_INVALID (a constant or a graph input), DFD_ERR_NOMEM.
dfd_status dfd_autograd_set_grad(dfd_autograd *s, const char *name, const float *grad,
                                 dfd_error *err);

// Ask for the gradient with respect to value `name` (a graph input or a computed value, e.g. a
// backbone's last feature map for Grad-CAM); it is kept after each backward (zeros when the
// value does not influence the loss). Errors: DFD_ERR_NOT_FOUND, DFD_ERR_INVALID (a constant).
dfd_status dfd_autograd_watch(dfd_autograd *s, const char *name, dfd_error *err);

// The gradient of a watched value after the last backward, shaped like the value; NULL when
// not watched. Valid until the next backward.
const dfd_tensor *dfd_autograd_grad(const dfd_autograd *s, const char *name);

// Backpropagate the gradients set since the last backward through what the last forward
// computed, in reverse topological order: adds into the grad of every non-frozen parameter that
// influences them, and fills the watched values' gradients. Work for the parts of the graph
// through which no gradient is wanted (frozen layers with nothing trainable or watched before
// them) is skipped. The first backward after a change of the frozen flags, watched values or
// gradient-carrying values plans its memory again (allocates). Errors: DFD_ERR_INVALID (no
// forward yet), DFD_ERR_UNSUPPORTED (a gradient would have to cross an op without a backward:
// RESIZE_BILINEAR), DFD_ERR_NOMEM.
dfd_status dfd_autograd_backward(dfd_autograd *s, dfd_error *err);

// The trainable parameters, in topological order of their nodes: n views owned by the session
// (valid for its life). Callers may set their frozen flag and group directly.
size_t dfd_autograd_n_params(const dfd_autograd *s);
dfd_param *const *dfd_autograd_params(dfd_autograd *s);
dfd_param *dfd_autograd_param(dfd_autograd *s, const char *name); // NULL if none

// Set the frozen flag (or the group) of every parameter whose name starts with `prefix` ("" for
// all); returns how many matched.
size_t dfd_autograd_freeze(dfd_autograd *s, const char *prefix, bool frozen);
size_t dfd_autograd_set_group(dfd_autograd *s, const char *prefix, int group);

// Set the frozen flag of every parameter in `group` (e.g. the backbone's, for heads-only
// epochs); returns how many it changed or confirmed.
size_t dfd_autograd_freeze_group(dfd_autograd *s, int group, bool frozen);

// Non-trainable state to checkpoint (BatchNorm running statistics): views with grad NULL and
// frozen true, named "<node>/running_mean" and "<node>/running_var".
size_t dfd_autograd_n_buffers(const dfd_autograd *s);
dfd_param *const *dfd_autograd_buffers(dfd_autograd *s);

// Bytes held for activations and for gradients (for memory reports).
size_t dfd_autograd_bytes(const dfd_autograd *s);

// Nodes whose forward and backward run on fast kernels.
size_t dfd_autograd_n_fast(const dfd_autograd *s);

// With opts.profile: seconds spent in node i's forwards (topological order, as dfd_graph_node)
// summed over all runs so far, and in its backwards through *backward_seconds (may be NULL).
// 0 without profiling.
double dfd_autograd_node_seconds(const dfd_autograd *s, size_t i, double *backward_seconds);

#endif
