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

dfd_status nn_fuse(dfd_graph *g)
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
    return DFD_OK;
}
