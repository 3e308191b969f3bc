// Fusion: fold what follows a CONV2D or MATMUL into the node itself, so that the whole chain is
// one pass over memory (and one oneDNN primitive with post-ops):
//   x -> conv -> Mul(per-channel const)  -> Add/Sub(per-channel const) -> Add(residual value)
//             -> activation (Relu, PReLU, Sigmoid, ...; Relu -> Minimum(6) -> Maximum(0) = clip)
// Each fold needs the intermediate value to have exactly one reader and not be a graph output.
// Folding a scale into the weights changes rounding by about one ulp per product.
#include <math.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "nn_internal.h"

// The only node reading value v, or NULL when v has other readers or is a graph output.
static dfd_node *sole_reader(dfd_graph *g, int v)
{
    if (nn_value_uses(g, v) != 1) {
        return NULL;
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        dfd_node *n = &g->nodes[i];
        if (n->op == DFD_OP_COUNT) {
            continue;
        }
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k] == v) {
                return n;
            }
        }
    }
    return NULL; // read only as a residual: not foldable
}

// If value v is a constant usable as a per-channel vector of c entries (a scalar, or shape
// [c], [1,c], [1,1,c], [1,1,1,c]), return its data and set *scalar.
static const float *channel_const(const dfd_graph *g, int v, int c, bool *scalar)
{
    const dfd_tensor *t = &g->values[v].constant;
    if (t->rank == 0) {
        return NULL;
    }
    size_t n = dfd_tensor_numel(t);
    for (int i = 0; i < t->rank - 1; i++) {
        if (t->shape[i] != 1) {
            return NULL;
        }
    }
    if (n == 1) {
        *scalar = true;
        return t->data;
    }
    if ((int)n == c) {
        *scalar = false;
        return t->data;
    }
    return NULL;
}

// Whether value v is computed (directly or not) from node `target`'s output. Walks producers
// backwards with an explicit stack; `seen` has one byte per node.
static bool depends_on(const dfd_graph *g, int v, const dfd_node *target, char *seen)
{
    memset(seen, 0, g->n_nodes);
    int stack[256];
    int top = 0;
    stack[top++] = v;
    while (top > 0) {
        int cur = stack[--top];
        int p = g->values[cur].producer;
        if (p < 0 || seen[p]) {
            continue;
        }
        seen[p] = 1;
        const dfd_node *n = &g->nodes[p];
        if (n == target) {
            return true;
        }
        for (int k = 0; k <= n->n_in; k++) {
            int in = k < n->n_in ? n->in[k] : n->residual;
            if (in >= 0) {
                if (top == (int)(sizeof stack / sizeof stack[0])) {
                    return true; // too deep to tell: assume the worst
                }
                stack[top++] = in;
            }
        }
    }
    return false;
}

// Index of the other input of a binary node, given one of them.
static int other_input(const dfd_node *n, int v)
{
    return n->in[0] == v ? n->in[1] : n->in[0];
}

static int out_channels(const dfd_node *n)
{
    return n->weight.shape[n->weight.rank - 1];
}

// Make sure node n has a bias (zeros if it had none).
static dfd_status ensure_bias(dfd_node *n)
{
    if (n->bias.rank > 0) {
        return DFD_OK;
    }
    int oc = out_channels(n);
    return dfd_tensor_alloc(&n->bias, 1, &oc);
}

// Clip bounds of an activation that is a clip (NONE counts as clip(-inf, inf)); false otherwise.
static bool as_clip(const dfd_act *a, float *lo, float *hi)
{
    switch (a->kind) {
    case DFD_ACT_NONE:
        *lo = -INFINITY;
        *hi = INFINITY;
        return true;
    case DFD_ACT_RELU:
        *lo = 0;
        *hi = INFINITY;
        return true;
    case DFD_ACT_CLIP:
        *lo = a->lo;
        *hi = a->hi;
        return true;
    default:
        return false;
    }
}

static dfd_act clip_act(float lo, float hi)
{
    dfd_act a = { DFD_ACT_CLIP, 0, lo, hi };
    if (lo == 0 && isinf(hi) && hi > 0) {
        a.kind = DFD_ACT_RELU;
    }
    return a;
}

// Try to fold consumer c into producer n. Returns true when folded (c is then dead).
static dfd_status fold(dfd_graph *g, dfd_node *n, size_t n_index, dfd_node *c, bool *folded)
{
    *folded = false;
    const int oc = out_channels(n);
    const bool plain = n->act.kind == DFD_ACT_NONE && n->residual < 0;
    bool scalar = false;
    if (c->op == DFD_OP_MUL && plain) {
        const float *s = channel_const(g, other_input(c, n->out), oc, &scalar);
        if (!s) {
            return DFD_OK;
        }
        size_t nw = dfd_tensor_numel(&n->weight);
        for (size_t i = 0; i < nw; i++) {
            n->weight.data[i] *= s[scalar ? 0 : i % (size_t)oc];
        }
        for (int i = 0; n->bias.rank > 0 && i < oc; i++) {
            n->bias.data[i] *= s[scalar ? 0 : i];
        }
        *folded = true;
    } else if ((c->op == DFD_OP_ADD || (c->op == DFD_OP_SUB && c->in[0] == n->out)) && plain &&
               channel_const(g, other_input(c, n->out), oc, &scalar)) {
        const float *b = channel_const(g, other_input(c, n->out), oc, &scalar);
        dfd_status st = ensure_bias(n);
        if (st) {
            return st;
        }
        float sign = c->op == DFD_OP_SUB ? -1.0f : 1.0f;
        for (int i = 0; i < oc; i++) {
            n->bias.data[i] += sign * b[scalar ? 0 : i];
        }
        *folded = true;
    } else if (c->op == DFD_OP_ADD && plain) {
        // A residual: the other operand is computed before n and has exactly n's output shape.
        int r = other_input(c, n->out);
        const dfd_value *rv = &g->values[r], *ov = &g->values[n->out];
        bool same = rv->rank == ov->rank && rv->constant.rank == 0 &&
                    memcmp(rv->shape, ov->shape, sizeof rv->shape) == 0;
        // The residual must not be computed from n itself (that would make a cycle); where it
        // sits in the current order does not matter, the graph is sorted again after fusion.
        char *seen = dfd_malloc(g->n_nodes ? g->n_nodes : 1);
        if (!seen) {
            return DFD_ERR_NOMEM;
        }
        bool cyclic = depends_on(g, r, n, seen);
        dfd_free(seen);
        if (!same || cyclic) {
            return DFD_OK;
        }
        n->residual = r;
        *folded = true;
    } else if (c->op == DFD_OP_ACT && n->act.kind == DFD_ACT_NONE) {
        n->act = c->act;
        n->alpha = c->alpha;
        memset(&c->alpha, 0, sizeof c->alpha);
        *folded = true;
    } else if (c->op == DFD_OP_MINIMUM || c->op == DFD_OP_MAXIMUM) {
        const float *k = channel_const(g, other_input(c, n->out), oc, &scalar);
        float lo, hi;
        if (!k || !scalar || !as_clip(&n->act, &lo, &hi)) {
            return DFD_OK;
        }
        if (c->op == DFD_OP_MINIMUM) {
            hi = fminf(hi, k[0]);
        } else {
            lo = fmaxf(lo, k[0]);
        }
        if (lo > hi) {
            return DFD_OK;
        }
        n->act = clip_act(lo, hi);
        *folded = true;
    }
    if (*folded) {
        n->out = c->out;
        g->values[n->out].producer = (int)n_index;
        c->op = DFD_OP_COUNT; // dead
    }
    return DFD_OK;
}

// Largest channel counts of a DWPW node: small pointwise convolutions are memory-bound (fusing
// saves the round trip of the depthwise output); large ones run near peak on oneDNN anyway.
#define DWPW_MAX_CHANNELS 32

// b is a 1x1 stride-1 convolution whose input is a multiplier-1 depthwise convolution with no
// epilogue that nothing else reads: make b a DWPW node reading the depthwise input.
static bool try_dwpw(dfd_graph *g, dfd_node *b)
{
    const dfd_tensor *w = &b->weight;
    const dfd_window *bw = &b->a.conv.win;
    if (b->op != DFD_OP_CONV2D || b->a.conv.groups != 1 || w->shape[0] != 1 || w->shape[1] != 1 ||
        bw->sh != 1 || bw->sw != 1 || bw->pads[0] || bw->pads[1] || bw->pads[2] || bw->pads[3] ||
        w->shape[2] > DWPW_MAX_CHANNELS || w->shape[3] > DWPW_MAX_CHANNELS) {
        return false;
    }
    int p = g->values[b->in[0]].producer;
    if (p < 0 || sole_reader(g, b->in[0]) != b) {
        return false;
    }
    dfd_node *a = &g->nodes[p];
    const int c = a->weight.rank == 4 ? a->weight.shape[3] : -1;
    if (a->op != DFD_OP_CONV2D || a->act.kind != DFD_ACT_NONE || a->residual >= 0 ||
        a->a.conv.groups != c || a->weight.shape[2] != 1 || c != w->shape[2] ||
        a->a.conv.win.dh != 1 || a->a.conv.win.dw != 1) {
        return false;
    }
    b->op = DFD_OP_DWPW;
    b->in[0] = a->in[0];
    b->a.conv.win = a->a.conv.win;
    b->a.conv.groups = 1;
    b->weight2 = a->weight;
    b->bias2 = a->bias;
    memset(&a->weight, 0, sizeof a->weight);
    memset(&a->bias, 0, sizeof a->bias);
    a->op = DFD_OP_COUNT; // dead
    return true;
}

dfd_status nn_fuse(dfd_graph *g, bool fuse_dwpw)
{
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < g->n_nodes; i++) {
            dfd_node *n = &g->nodes[i];
            if (n->op != DFD_OP_CONV2D && n->op != DFD_OP_MATMUL) {
                continue;
            }
            for (;;) {
                dfd_node *c = sole_reader(g, n->out);
                if (!c || c->op == DFD_OP_COUNT) {
                    break;
                }
                bool folded;
                dfd_status st = fold(g, n, i, c, &folded);
                if (st) {
                    return st;
                }
                if (!folded) {
                    break;
                }
                changed = true;
            }
        }
    }
    for (size_t i = 0; fuse_dwpw && i < g->n_nodes; i++) {
        try_dwpw(g, &g->nodes[i]);
    }
    return DFD_OK;
}
