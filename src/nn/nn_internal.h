// Shared between the files of src/nn only.
#ifndef DFD_NN_NN_INTERNAL_H
#    define DFD_NN_NN_INTERNAL_H

#    include "dfdetect/nn/graph.h"
#    include "dfdetect/nn/session.h"

struct dfd_graph {
    dfd_value *values;
    size_t n_values, cap_values;
    dfd_node *nodes;
    size_t n_nodes, cap_nodes;
    int *inputs;
    size_t n_inputs;
    int *outputs;
    char *(*output_alias)[DFD_OUTPUT_MAX_ALIASES];
    size_t n_outputs;
    bool finalized;
};

// ---- shape inference (shape.c) ----

// Infer the shape of node n's output from its inputs' shapes (batch symbolic), fill SAME pads,
// and check its parameters. DFD_ERR_FORMAT with a message naming the node on mismatch.
dfd_status nn_infer_node(dfd_graph *g, dfd_node *n, const char *what, dfd_error *err);

// Output height/width of a window over an input of h x w (pads already filled).
void nn_window_out(const dfd_window *win, int h, int w, int *oh, int *ow);

// Fill win->pads for SAME padding given the input size (VALID: zeros; EXPLICIT: unchanged).
void nn_window_pads(dfd_window *win, int h, int w);

// ---- fusion (fuse.c) ----

// Fold per-channel scales, biases, residual adds and activations into CONV2D and MATMUL nodes.
// Rewired nodes are marked dead (op = DFD_OP_COUNT) for the caller to drop.
// With fuse_dwpw, also merge depthwise -> 1x1 pairs into DWPW nodes.
dfd_status nn_fuse(dfd_graph *g, bool fuse_dwpw);

// Number of nodes reading value v (as an input or residual) plus one per graph output it is.
int nn_value_uses(const dfd_graph *g, int v);

// ---- activations (shared by reference kernels) ----

// Apply an activation to x[0..n), channel of element i being i % c (for PReLU slopes).
void nn_act_apply(float *x, size_t n, int c, const dfd_act *act, const float *slopes);

#endif

// ---- kernels ----

// Arguments of one node's execution, with concrete shapes (batch resolved).
typedef struct nn_args {
    const dfd_node *node;
    const dfd_tensor *in[DFD_NODE_MAX_INPUTS];
    int n_in;
    const dfd_tensor *residual; // CONV2D/MATMUL fused residual, or NULL
    dfd_tensor *out;
    int n_threads;
} nn_args;

typedef void (*nn_kernel)(const nn_args *a);

// The reference implementation of one op: forward, and the slot the training issue fills with
// the backward pass (given the output's gradient, accumulate the inputs' and parameters'
// gradients, kept beside the values). NULL until then.
typedef struct nn_op_impl {
    nn_kernel forward;
    nn_kernel backward;
} nn_op_impl;

// Plain C reference implementation of each op (kernels_ref.c). RESHAPE is a no-op (a view).
extern const nn_op_impl nn_ref_ops[DFD_OP_COUNT];

// Fast kernels (kernels_dnnl.c): state prepared per session and node for fixed shapes.
typedef struct nn_fast nn_fast;

// Prepare a fast kernel for a->node at the shapes in a (data pointers unused). *out = NULL and
// DFD_OK when there is no fast kernel for this node (the reference one runs instead).
dfd_status nn_fast_prepare(nn_fast **out, const nn_args *a, dfd_error *err);
// Run with the data pointers of a. Thread-safe across sessions.
void nn_fast_run(nn_fast *f, const nn_args *a);
void nn_fast_free(nn_fast *f); // accepts NULL

// The fused depthwise->pointwise kernel (kernels_dwpw_avx512.c) for DWPW nodes, and whether
// this CPU can run it. Its parameters are packed once per session (NULL: out of memory).
bool nn_dwpw_fast_available(void);
typedef struct nn_dwpw_packed {
    int C, CP, OC, OCP; // channels, and rounded up to 16 (C) or 32 (OC)
    float *dw_w;        // [KH*KW][CP]
    float *dw_b;        // [CP]
    float *pw_w;        // [C][OCP]
    float *pw_b;        // [OCP]
    float *slopes;      // [OCP] PReLU, or NULL
    void *block;        // one allocation for all of the above
} nn_dwpw_packed;
nn_dwpw_packed *nn_dwpw_pack(const dfd_node *n);
void nn_dwpw_packed_free(nn_dwpw_packed *p); // accepts NULL
void nn_dwpw_avx512(const nn_args *a, const nn_dwpw_packed *p);
