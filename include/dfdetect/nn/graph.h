// The network as data: values (tensors flowing between nodes, or constants) and nodes (one op
// each, with its parameters and attributes). Importers (model/) build a graph with the builder
// calls below, then dfd_graph_finalize sorts it, infers shapes, fuses chains such as
// conv -> bias -> relu6 into single nodes, and checks everything; sessions (session.h) run it.
//
// Shapes: a value's shape[0] is DFD_BATCH for everything computed from the inputs, so one graph
// runs at any batch size chosen when a session is made. Images are NHWC.
// Parameters (weights, biases, PReLU slopes) belong to the node that uses them, so fusion can
// rewrite them and training can find them (names "<node>/weight", "<node>/bias", "<node>/alpha").
#ifndef DFD_NN_GRAPH_H
#define DFD_NN_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "dfdetect/nn/tensor.h"
#include "dfdetect/util/status.h"

// shape[0] of batch-dependent values.
#define DFD_BATCH (-1)

typedef enum dfd_op {
    DFD_OP_CONV2D, // in: x [N,H,W,IC]; weight [KH,KW,IC/G,OC]; depthwise: G = IC
    DFD_OP_MATMUL, // in: x [M,K]; weight [K,OC] -> [M,OC]
    DFD_OP_ADD,    // binary ops broadcast NumPy-style (shapes aligned on the right)
    DFD_OP_SUB,
    DFD_OP_MUL,
    DFD_OP_MAXIMUM,
    DFD_OP_MINIMUM,
    DFD_OP_ACT,             // unary activation: node->act
    DFD_OP_SOFTMAX,         // over the last axis
    DFD_OP_MAXPOOL,         // in: [N,H,W,C]
    DFD_OP_AVGPOOL,         // TF semantics: padded cells are not counted
    DFD_OP_PAD,             // constant padding per dimension
    DFD_OP_RESHAPE,         // a view: same data, new shape
    DFD_OP_MEAN,            // over H and W of [N,H,W,C]
    DFD_OP_CONCAT,          // along node->a.concat.axis
    DFD_OP_RESIZE_BILINEAR, // [N,H,W,C] -> [N,OH,OW,C]
    DFD_OP_DWPW,            // fused depthwise then pointwise (made by fusion, never imported):
                            // x [N,H,W,C] -> depthwise (weight2 [KH,KW,1,C], bias2 [C], window
                            // a.conv.win) -> 1x1 conv (weight [1,1,C,OC], bias, residual, act)
    DFD_OP_DROPOUT,         // identity at inference; in training (autograd.h) zeroes each element
                            // with probability a.dropout.rate and scales the rest by 1/(1-rate)
    DFD_OP_BATCHNORM,       // per channel (last axis) of [N,C] or [N,H,W,C]: weight (gamma) [C],
                            // bias (beta) [C]; inference normalises with running_mean/var [C],
                            // training with the batch's statistics (see a.bn)
    DFD_OP_COUNT
} dfd_op;

// Name of an op for messages ("conv2d", "matmul", ...); static string.
const char *dfd_op_name(dfd_op op);

typedef enum dfd_act_kind {
    DFD_ACT_NONE = 0,
    DFD_ACT_RELU,       // max(x, 0)
    DFD_ACT_CLIP,       // min(max(x, lo), hi); ReLU6 is CLIP(0, 6)
    DFD_ACT_LEAKY_RELU, // x < 0 ? alpha * x : x
    DFD_ACT_PRELU,      // x < 0 ? slope[c] * x : x; slopes in node->alpha (per channel)
    DFD_ACT_ELU,        // x < 0 ? alpha * (exp(x) - 1) : x
    DFD_ACT_SIGMOID,
    DFD_ACT_TANH,
    DFD_ACT_COUNT
} dfd_act_kind;

typedef struct dfd_act {
    dfd_act_kind kind;
    float alpha;  // LEAKY_RELU, ELU
    float lo, hi; // CLIP
} dfd_act;

// Name of an activation ("relu", "clip", ...); static string.
const char *dfd_act_name(dfd_act_kind kind);

typedef enum dfd_padding {
    DFD_PAD_VALID = 0, // no padding
    DFD_PAD_SAME,      // TensorFlow SAME: output = ceil(in / stride); the odd pixel of padding
                       // goes at the bottom/right (asymmetric), unlike PyTorch
    DFD_PAD_EXPLICIT   // pads[] as given
} dfd_padding;

// Spatial window of convolutions and pools. pads[] = top, bottom, left, right, filled in by
// dfd_graph_finalize for SAME from the (static) input height and width.
typedef struct dfd_window {
    int kh, kw; // kernel size
    int sh, sw; // strides
    int dh, dw; // dilations (1 = none)
    dfd_padding padding;
    int pads[4];
} dfd_window;

typedef struct dfd_value {
    char *name;
    int rank; // 0 until shape inference for computed values
    int shape[DFD_MAX_RANK];
    dfd_tensor constant; // rank > 0: a constant (owned), else computed or an input
    int producer;        // index of the node computing it, -1 for inputs and constants
} dfd_value;

#define DFD_NODE_MAX_INPUTS 16
#define DFD_SQUEEZE_ALL     0x80000000u

typedef struct dfd_node {
    dfd_op op;
    char *name;
    int in[DFD_NODE_MAX_INPUTS]; // value ids
    int n_in;
    int out; // value id
    // Parameters, owned (empty tensors when absent).
    dfd_tensor weight;  // CONV2D [KH,KW,IC/G,OC]; MATMUL [K,OC]
    dfd_tensor bias;    // [OC]
    dfd_tensor alpha;   // PReLU slopes [C]
    dfd_tensor weight2; // DWPW: the depthwise stage's filter [KH, KW, 1, C]
    dfd_tensor bias2;   // DWPW: the depthwise stage's bias [C]
    // BATCHNORM [C]: statistics for inference, updated by training forward passes (not
    // trainable)
    dfd_tensor running_mean, running_var;
    // Fused epilogue of CONV2D and MATMUL, in this order: + bias, + residual value, activation.
    int residual; // value id added before the activation, or -1
    dfd_act act;  // also the activation of DFD_OP_ACT
    union {
        struct {
            dfd_window win;
            int groups;
        } conv;
        dfd_window pool;
        struct {
            int before[DFD_MAX_RANK], after[DFD_MAX_RANK];
            float value;
        } pad;
        struct {
            int rank;
            int shape[DFD_MAX_RANK]; // shape[0] may be DFD_BATCH; one other entry may be -2
                                     // ("whatever is left", like TF's -1)
            unsigned squeeze;        // nonzero: ignore rank/shape and drop the dimensions in
                                     // this bit mask (DFD_SQUEEZE_ALL: every size-1 one but N)
        } reshape;
        struct {
            int axis;
        } concat;
        struct {
            int out_h, out_w;
            bool align_corners, half_pixel_centers;
        } resize;
        struct {
            bool keep_dims;
        } mean;
        struct {
            float rate; // probability of dropping an element, 0 <= rate < 1
        } dropout;
        struct {
            float eps;      // y = (x - mean) / sqrt(var + eps) * gamma + beta
            float momentum; // PyTorch convention: running = (1 - momentum) * running +
                            // momentum * batch (variance unbiased), 0 < momentum <= 1
        } bn;
    } a;
} dfd_node;

typedef struct dfd_graph dfd_graph;

// ---- building (importers) ----

// Errors of the builder calls: DFD_ERR_NOMEM, DFD_ERR_LIMIT (more than 1<<20 values or nodes),
// DFD_ERR_INVALID (duplicate value name, bad id).
dfd_status dfd_graph_create(dfd_graph **out);
void dfd_graph_free(dfd_graph *g); // accepts NULL

// Add a value named `name` (copied) and return its id in *id. rank 0: shape to be inferred.
dfd_status dfd_graph_add_value(dfd_graph *g, const char *name, int rank, const int *shape, int *id);

// Add a constant; takes ownership of *t (left empty).
dfd_status dfd_graph_add_const(dfd_graph *g, const char *name, dfd_tensor *t, int *id);

// Look a value up by name: id or -1.
int dfd_graph_find_value(const dfd_graph *g, const char *name);

// Add a node computing value `out` from values in[0..n_in); returns it through *node (valid until
// the next add_node) with parameters empty, residual -1 and attributes zeroed.
dfd_status dfd_graph_add_node(dfd_graph *g, dfd_op op, const char *name, const int *in, int n_in,
                              int out, dfd_node **node);

#define DFD_OUTPUT_MAX_ALIASES 4

// Declare a graph input (an added value with a full shape, shape[0] DFD_BATCH) or output, in
// order. An output can also be found by up to DFD_OUTPUT_MAX_ALIASES other names (copied; e.g. a
// signature key and the tensor name an Identity chain gave it); the first is its display name.
dfd_status dfd_graph_add_input(dfd_graph *g, int value);
dfd_status dfd_graph_add_output(dfd_graph *g, int value, const char *const *aliases,
                                size_t n_aliases);

typedef struct dfd_finalize_opts {
    bool fuse;      // fold bias/scale/activations into conv and matmul nodes (default true)
    bool fuse_dwpw; // also merge depthwise -> 1x1 pairs with at most 128 channels into DWPW
                    // nodes; worth it where the fused kernel exists (AVX-512)
} dfd_finalize_opts;

// The options importers use: fuse, and fuse_dwpw when this CPU runs the fused kernel.
dfd_finalize_opts dfd_finalize_opts_default(void);

// Sort the nodes topologically, drop nodes no output needs, infer every shape, fuse (opts), and
// check the parameters of every node. After this the graph is read-only and can be shared by
// any number of sessions on any threads. `what` names the graph in messages (a file name).
// Errors: DFD_ERR_FORMAT (a cycle, a value used but never computed, shapes that do not fit,
// parameters of the wrong size), DFD_ERR_NOMEM. The message names the node.
dfd_status dfd_graph_finalize(dfd_graph *g, const dfd_finalize_opts *opts, const char *what,
                              dfd_error *err);

// ---- reading (sessions, tools) ----

size_t dfd_graph_n_nodes(const dfd_graph *g);
const dfd_node *dfd_graph_node(const dfd_graph *g, size_t i); // topological order after finalize
size_t dfd_graph_n_values(const dfd_graph *g);
const dfd_value *dfd_graph_value(const dfd_graph *g, int id);
size_t dfd_graph_n_inputs(const dfd_graph *g);
int dfd_graph_input(const dfd_graph *g, size_t i);
size_t dfd_graph_n_outputs(const dfd_graph *g);
int dfd_graph_output(const dfd_graph *g, size_t i);
// Display name of output i: its first alias, else its value's name.
const char *dfd_graph_output_name(const dfd_graph *g, size_t i);

// Index of the output whose value name or alias is `name` (a trailing ":0" is ignored), or -1.
int dfd_graph_find_output(const dfd_graph *g, const char *name);

// Statistics per inference of one item (batch 1).
typedef struct dfd_graph_stats {
    size_t n_params; // parameter and constant elements
    double macs;     // multiply-accumulates of CONV2D and MATMUL
    size_t op_count[DFD_OP_COUNT];
} dfd_graph_stats;

void dfd_graph_stats_get(dfd_graph_stats *s, const dfd_graph *g);

#endif
