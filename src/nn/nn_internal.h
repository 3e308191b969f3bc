// Shared between the files of src/nn only.
#ifndef DFD_NN_NN_INTERNAL_H
#define DFD_NN_NN_INTERNAL_H

#include <stdint.h>

#include "dfdetect/nn/graph.h"
#include "dfdetect/nn/session.h"

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

// oneDNN (OpenMP runtime) and our kernels take their team size from the calling thread's
// OpenMP setting: sessions set theirs with nn_threads_enter (which returns the caller's) and
// give the caller its own back with nn_threads_leave (session.c).
int nn_threads_enter(int n);
void nn_threads_leave(int prev);

// Strides (in elements) of t seen as rank r (aligned on the right) inside an output of shape
// oshape[0..r), 0 along the dimensions where t broadcasts.
void nn_broadcast_strides(long st[DFD_MAX_RANK], const dfd_tensor *t, const int *oshape, int r);

// CONCAT along `axis` of the output y, seen as (outer, y->shape[axis] * inner) rows: the product
// of the dimensions before the axis and of those after it.
void nn_concat_geometry(long *outer, long *inner, const dfd_tensor *y, int axis);

// ---- kernels ----

// Arguments of one node's execution, with concrete shapes (batch resolved).
typedef struct nn_args {
    const dfd_node *node;
    const dfd_tensor *in[DFD_NODE_MAX_INPUTS];
    int n_in;
    const dfd_tensor *residual; // CONV2D/MATMUL fused residual, or NULL
    dfd_tensor *out;
    int n_threads;
    // ---- training (autograd.c); all zero in inference sessions ----
    bool is_training; // forward: DROPOUT draws its mask, BATCHNORM uses (and updates the running
                      // statistics with) the batch's statistics
    uint64_t seed;    // DROPOUT: seed of this node's mask for this step (same in the backward)
    float *stats;     // BATCHNORM: [2][C] batch mean and 1/sqrt(var + eps), written by the
                      // training forward and read by the backward
    dfd_tensor *pre;  // CONV2D/MATMUL whose activation cannot be undone from out (see
                      // nn_act_needs_pre): the pre-activation, written by the forward
    // ---- backward: the gradient of out, and where the gradients go (NULL: not wanted) ----
    const dfd_tensor *dout;
    dfd_tensor *din[DFD_NODE_MAX_INPUTS];
    bool din_acc[DFD_NODE_MAX_INPUTS]; // add into din[k]; false: overwrite it
    dfd_tensor *dresidual;
    bool dresidual_acc;
    float *dweight, *dbias, *dalpha; // parameter gradients, always accumulated into
    float *dz;      // CONV2D/MATMUL backward, or NULL: where to write the pre-activation
                    // gradient (dout's own memory when nothing reads it afterwards)
    float *scratch; // CONV2D/MATMUL backward: numel(out) floats for the pre-activation gradient
                    // when dz is NULL, then numel(in[0]) more where the fast kernels compute an
                    // input gradient that is to be added (din_acc[0]); only as much as the
                    // node needs (autograd.c plans it)
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
// Backward is NULL for RESIZE_BILINEAR and DWPW (train graphs finalized with fuse_dwpw off).
extern const nn_op_impl nn_ref_ops[DFD_OP_COUNT];

// Element-wise passes over fewer elements than this run on the calling thread: waking a team
// costs more than the work (the heads and recurrent layers' inputs are that small).
#define NN_PAR_MIN 32768

// ---- reference backward kernels (kernels_ref_backward.c) ----
// Each reads a->dout (and whatever forward values it needs through in/out/pre/stats) and writes
// the gradients that are not NULL: din[k] (added when din_acc[k], else overwritten), dresidual,
// and the parameter gradients dweight/dbias/dalpha (always added). Sums over the batch run in a
// fixed order, so results do not depend on the thread count.
void nn_conv2d_backward_ref(const nn_args *a);
void nn_matmul_backward_ref(const nn_args *a);
void nn_binary_backward_ref(const nn_args *a); // ADD, SUB, MUL, MAXIMUM, MINIMUM, broadcasting
void nn_act_backward_ref(const nn_args *a);
void nn_softmax_backward_ref(const nn_args *a);
void nn_pool_backward_ref(const nn_args *a); // MAXPOOL, AVGPOOL
void nn_pad_backward_ref(const nn_args *a);
void nn_reshape_backward_ref(const nn_args *a);
void nn_mean_backward_ref(const nn_args *a);
void nn_concat_backward_ref(const nn_args *a);
void nn_dropout_backward_ref(const nn_args *a);
void nn_batchnorm_backward_ref(const nn_args *a);

// The CONV2D/MATMUL epilogue backward: from a->dout, the gradient dz of the pre-activation
// (product + bias + residual) into a->dz (when set) or a->scratch, adding the PReLU slopes'
// gradient to dalpha. Returns where dz is: that buffer, or a->dout's data when there is no
// activation.
const float *nn_epilogue_backward(const nn_args *a);
// Then, once din[0] is written: dresidual (+)= dz.
void nn_residual_backward(const nn_args *a, const float *dz);
// dbias[o] += the sum of dz[r][o] over the rows, in row order, in double, each channel by one
// thread (the result does not depend on n_threads).
void nn_bias_backward(float *dbias, const float *dz, size_t rows, int oc, int n_threads);

// Whether the activation's derivative cannot be recovered from its output alone (PReLU, and
// leaky ReLU / ELU with alpha <= 0): training then keeps the pre-activation in a->pre.
bool nn_act_needs_pre(const dfd_act *act);

// DROPOUT: whether element i survives (the same answer in forward and backward).
bool nn_dropout_keep(uint64_t seed, size_t i, float rate);

// Fast kernels (kernels_dnnl.c): state prepared per session and node for fixed shapes.
typedef struct nn_fast nn_fast;

// Prepare a fast kernel for a->node at the shapes in a (data pointers unused). *out = NULL and
// DFD_OK when there is no fast kernel for this node (the reference one runs instead).
dfd_status nn_fast_prepare(nn_fast **out, const nn_args *a, dfd_error *err);
// Run with the data pointers of a. Thread-safe across sessions.
void nn_fast_run(nn_fast *f, const nn_args *a);
void nn_fast_free(nn_fast *f); // accepts NULL

// Fast training kernels (kernels_dnnl_backward.c): oneDNN forward (training), backward-data and
// backward-weights primitives for one CONV2D or MATMUL node of an autograd session. The node's
// weights are read at every run (an optimiser changes them between steps).
typedef struct nn_train_fast nn_train_fast;
// *out = NULL and DFD_OK when oneDNN has no kernel for the node (the reference ones run).
dfd_status nn_train_fast_prepare(nn_train_fast **out, const nn_args *a, dfd_error *err);
// Forward: writes a->out, and a->pre when the activation needs it (nn_act_needs_pre).
void nn_train_fast_forward(nn_train_fast *f, const nn_args *a);
// Backward with the conventions of the reference backward kernels; a->scratch holds
// numel(out) + numel(in[0]) floats.
void nn_train_fast_backward(nn_train_fast *f, const nn_args *a);
void nn_train_fast_free(nn_train_fast *f); // accepts NULL

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
void nn_dwpw_avx512_rows(const nn_args *a, const nn_dwpw_packed *p, long r0, long r1);

// Convolutions of few input channels as im2col + the DWPW kernel's pointwise stage
// (kernels_im2col_avx512.c), used where nn_im2col_suits says so and this CPU runs the DWPW
// kernel. Packed into the pointwise fields of nn_dwpw_packed (C = KH * KW * IC taps, CP = C
// rounded up to 16: the stride of a pixel's taps; no depthwise fields).
#define NN_IM2COL_MAX_TAPS 160
bool nn_im2col_suits(const dfd_node *n, const dfd_tensor *x);
nn_dwpw_packed *nn_im2col_pack(const dfd_node *n);
void nn_im2col_avx512(const nn_args *a, const nn_dwpw_packed *p);
// Convolutions of few input channels and large kernels with pixels along the vector
// (kernels_firstconv_avx512.c: BlazeFace's first layer), used where nn_firstconv_suits says so
// and this CPU runs the DWPW kernel; it goes before the im2col kernel. Packed into the pointwise
// fields of nn_dwpw_packed: pw_w [OC / 8][KH][KW][IC][8] (OC rounded up to 8), pw_b and slopes
// [OCP] with OCP = OC rounded up to 16; no depthwise fields.
#define NN_FIRSTCONV_MAX_IC     4
#define NN_FIRSTCONV_MAX_K      7
#define NN_FIRSTCONV_MAX_STRIDE 3
#define NN_FIRSTCONV_MAX_OW     256
#define NN_FIRSTCONV_MAX_OC     24
bool nn_firstconv_suits(const dfd_node *n, const dfd_tensor *x, const dfd_tensor *y);
nn_dwpw_packed *nn_firstconv_pack(const dfd_node *n);
void nn_firstconv_avx512(const nn_args *a, const nn_dwpw_packed *p);

// Which kernel a prepared fast node runs: "onednn", "dwpw", "im2col" or "firstconv".
const char *nn_fast_kernel(const nn_fast *f);

#endif
