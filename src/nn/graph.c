// Graph storage, the builder used by importers, and finalization: topological sort, dead-node
// elimination, shape inference (shape.c) and fusion (fuse.c).
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/size.h"
#include "nn_internal.h"

#define MAX_ITEMS (1 << 20)

static const char *const op_names[DFD_OP_COUNT] = {
    "conv2d", "matmul",          "add",     "sub",     "mul",       "maximum", "minimum",
    "act",    "softmax",         "maxpool", "avgpool", "pad",       "reshape", "mean",
    "concat", "resize_bilinear", "dwpw",    "dropout", "batchnorm",
};

static const char *const act_names[DFD_ACT_COUNT] = {
    "none", "relu", "clip", "leaky_relu", "prelu", "elu", "sigmoid", "tanh",
};

const char *dfd_op_name(dfd_op op)
{
    return (unsigned)op < DFD_OP_COUNT ? op_names[op] : "dead";
}

const char *dfd_act_name(dfd_act_kind kind)
{
    return (unsigned)kind < DFD_ACT_COUNT ? act_names[kind] : "unknown";
}

dfd_status dfd_graph_create(dfd_graph **out)
{
    *out = dfd_calloc(1, sizeof **out);
    return *out ? DFD_OK : DFD_ERR_NOMEM;
}

static void node_free(dfd_node *n)
{
    dfd_free(n->name);
    dfd_tensor_free(&n->weight);
    dfd_tensor_free(&n->bias);
    dfd_tensor_free(&n->alpha);
    dfd_tensor_free(&n->weight2);
    dfd_tensor_free(&n->bias2);
    dfd_tensor_free(&n->running_mean);
    dfd_tensor_free(&n->running_var);
}

dfd_finalize_opts dfd_finalize_opts_default(void)
{
    dfd_finalize_opts o = { .fuse = true, .fuse_dwpw = nn_dwpw_fast_available() };
    return o;
}

void dfd_graph_free(dfd_graph *g)
{
    if (!g) {
        return;
    }
    for (size_t i = 0; i < g->n_values; i++) {
        dfd_free(g->values[i].name);
        dfd_tensor_free(&g->values[i].constant);
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        node_free(&g->nodes[i]);
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        for (int k = 0; k < DFD_OUTPUT_MAX_ALIASES; k++) {
            dfd_free(g->output_alias[i][k]);
        }
    }
    dfd_free(g->values);
    dfd_free(g->nodes);
    dfd_free(g->inputs);
    dfd_free(g->outputs);
    dfd_free(g->output_alias);
    dfd_free(g);
}

// Grow an array of `size`-byte items to hold one more.
static dfd_status grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) {
        return DFD_OK;
    }
    if (n >= MAX_ITEMS) {
        return DFD_ERR_LIMIT;
    }
    size_t ncap = *cap ? *cap * 2 : 64;
    void *p = dfd_realloc(*arr, ncap * size);
    if (!p) {
        return DFD_ERR_NOMEM;
    }
    *arr = p;
    *cap = ncap;
    return DFD_OK;
}

int dfd_graph_find_value(const dfd_graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_values; i++) {
        if (strcmp(g->values[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

dfd_status dfd_graph_add_value(dfd_graph *g, const char *name, int rank, const int *shape, int *id)
{
    if (rank < 0 || rank > DFD_MAX_RANK || (rank > 0 && !shape) || !name) {
        return DFD_ERR_INVALID;
    }
    if (dfd_graph_find_value(g, name) >= 0) {
        return DFD_ERR_INVALID;
    }
    dfd_status st = grow((void **)&g->values, &g->cap_values, g->n_values, sizeof *g->values);
    if (st) {
        return st;
    }
    dfd_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = dfd_strdup(name);
    if (!v->name) {
        return DFD_ERR_NOMEM;
    }
    v->rank = rank;
    for (int i = 0; i < DFD_MAX_RANK; i++) {
        v->shape[i] = i < rank ? shape[i] : 1;
    }
    v->producer = -1;
    *id = (int)g->n_values++;
    return DFD_OK;
}

dfd_status dfd_graph_add_const(dfd_graph *g, const char *name, dfd_tensor *t, int *id)
{
    dfd_status st = dfd_graph_add_value(g, name, t->rank, t->shape, id);
    if (st) {
        return st;
    }
    g->values[*id].constant = *t;
    memset(t, 0, sizeof *t);
    return DFD_OK;
}

dfd_status dfd_graph_add_node(dfd_graph *g, dfd_op op, const char *name, const int *in, int n_in,
                              int out, dfd_node **node)
{
    if ((unsigned)op >= DFD_OP_COUNT || n_in < 0 || n_in > DFD_NODE_MAX_INPUTS || out < 0 ||
        (size_t)out >= g->n_values || !name) {
        return DFD_ERR_INVALID;
    }
    for (int i = 0; i < n_in; i++) {
        if (in[i] < 0 || (size_t)in[i] >= g->n_values) {
            return DFD_ERR_INVALID;
        }
    }
    dfd_status st = grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes);
    if (st) {
        return st;
    }
    dfd_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = dfd_strdup(name);
    if (!n->name) {
        return DFD_ERR_NOMEM;
    }
    n->op = op;
    memcpy(n->in, in, (size_t)n_in * sizeof *in);
    n->n_in = n_in;
    n->out = out;
    n->residual = -1;
    *node = n;
    g->n_nodes++;
    return DFD_OK;
}

dfd_status dfd_graph_add_input(dfd_graph *g, int value)
{
    if (value < 0 || (size_t)value >= g->n_values) {
        return DFD_ERR_INVALID;
    }
    int *p = dfd_realloc(g->inputs, (g->n_inputs + 1) * sizeof *p);
    if (!p) {
        return DFD_ERR_NOMEM;
    }
    g->inputs = p;
    g->inputs[g->n_inputs++] = value;
    return DFD_OK;
}

dfd_status dfd_graph_add_output(dfd_graph *g, int value, const char *const *aliases,
                                size_t n_aliases)
{
    if (value < 0 || (size_t)value >= g->n_values || n_aliases > DFD_OUTPUT_MAX_ALIASES) {
        return DFD_ERR_INVALID;
    }
    int *p = dfd_realloc(g->outputs, (g->n_outputs + 1) * sizeof *p);
    if (!p) {
        return DFD_ERR_NOMEM;
    }
    g->outputs = p;
    char *(*a)[DFD_OUTPUT_MAX_ALIASES] =
        dfd_realloc(g->output_alias, (g->n_outputs + 1) * sizeof *a);
    if (!a) {
        return DFD_ERR_NOMEM;
    }
    g->output_alias = a;
    memset(a[g->n_outputs], 0, sizeof a[0]);
    for (size_t k = 0; k < n_aliases; k++) {
        if (aliases[k] && !(a[g->n_outputs][k] = dfd_strdup(aliases[k]))) {
            for (size_t j = 0; j < k; j++) {
                dfd_free(a[g->n_outputs][j]);
            }
            return DFD_ERR_NOMEM;
        }
    }
    g->outputs[g->n_outputs++] = value;
    return DFD_OK;
}

// ---- finalize ----

int nn_value_uses(const dfd_graph *g, int v)
{
    int uses = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const dfd_node *n = &g->nodes[i];
        if (n->op == DFD_OP_COUNT) {
            continue;
        }
        for (int k = 0; k < n->n_in; k++) {
            uses += n->in[k] == v;
        }
        uses += n->residual == v;
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        uses += g->outputs[i] == v;
    }
    return uses;
}

// Keep only live nodes (op < DFD_OP_COUNT) that some output needs, in topological order, and
// record each value's producer. Fails on a cycle or a value that is used but never computed.
static dfd_status sort_nodes(dfd_graph *g, const char *what, dfd_error *err)
{
    size_t nv = g->n_values, nn = g->n_nodes;
    int *producer = dfd_malloc(nv * sizeof *producer);
    char *needed = dfd_calloc(nn ? nn : 1, 1);
    char *state = dfd_calloc(nn ? nn : 1, 1); // 0 new, 1 on stack, 2 placed
    size_t *order = dfd_malloc((nn ? nn : 1) * sizeof *order);
    size_t *stack = dfd_malloc((nn ? nn : 1) * 2 * sizeof *stack);
    dfd_node *sorted = NULL;
    dfd_status st = DFD_OK;
    if (!producer || !needed || !state || !order || !stack) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    for (size_t v = 0; v < nv; v++) {
        producer[v] = -1;
    }
    for (size_t i = 0; i < nn; i++) {
        const dfd_node *n = &g->nodes[i];
        if (n->op == DFD_OP_COUNT) {
            continue;
        }
        if (producer[n->out] >= 0) {
            st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: value '%s' is computed twice", what,
                               g->values[n->out].name);
            goto done;
        }
        producer[n->out] = (int)i;
    }
    // Depth-first from the outputs: a node is placed after everything it reads.
    size_t n_order = 0;
    for (size_t o = 0; o < g->n_outputs; o++) {
        int v = g->outputs[o];
        if (producer[v] < 0) {
            bool is_input = false;
            for (size_t q = 0; q < g->n_inputs; q++) {
                is_input |= g->inputs[q] == v;
            }
            if (g->values[v].constant.rank == 0 && !is_input) {
                st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: output '%s' is never computed", what,
                                   g->values[v].name);
                goto done;
            }
            continue;
        }
        size_t top = 0;
        stack[top++] = (size_t)producer[v];
        while (top > 0) {
            size_t i = stack[top - 1];
            if (state[i] == 2) {
                top--;
                continue;
            }
            state[i] = 1;
            const dfd_node *n = &g->nodes[i];
            bool pushed = false;
            for (int k = 0; k <= n->n_in && !pushed; k++) {
                int in = k < n->n_in ? n->in[k] : n->residual;
                if (in < 0) {
                    continue;
                }
                int p = producer[in];
                if (p < 0) {
                    const dfd_value *val = &g->values[in];
                    bool is_input = false;
                    for (size_t q = 0; q < g->n_inputs; q++) {
                        is_input |= g->inputs[q] == in;
                    }
                    if (val->constant.rank == 0 && !is_input) {
                        st = dfd_error_set(err, DFD_ERR_FORMAT,
                                           "%s: node '%s' reads '%s', which nothing computes", what,
                                           n->name, val->name);
                        goto done;
                    }
                    continue;
                }
                if (state[p] == 1) {
                    st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: cycle through node '%s'", what,
                                       n->name);
                    goto done;
                }
                if (state[p] == 0) {
                    stack[top++] = (size_t)p;
                    pushed = true;
                }
            }
            if (!pushed) {
                state[i] = 2;
                order[n_order++] = i;
                top--;
            }
        }
    }
    sorted = dfd_malloc((n_order ? n_order : 1) * sizeof *sorted);
    if (!sorted) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    for (size_t k = 0; k < n_order; k++) {
        sorted[k] = g->nodes[order[k]];
        needed[order[k]] = 1;
    }
    for (size_t i = 0; i < nn; i++) {
        if (!needed[i]) {
            node_free(&g->nodes[i]);
        }
    }
    dfd_free(g->nodes);
    g->nodes = sorted;
    g->n_nodes = g->cap_nodes = n_order;
    sorted = NULL;
    for (size_t v = 0; v < nv; v++) {
        g->values[v].producer = -1;
    }
    for (size_t k = 0; k < g->n_nodes; k++) {
        g->values[g->nodes[k].out].producer = (int)k;
    }
done:
    dfd_free(producer);
    dfd_free(needed);
    dfd_free(state);
    dfd_free(order);
    dfd_free(stack);
    dfd_free(sorted);
    return st;
}

dfd_status dfd_graph_finalize(dfd_graph *g, const dfd_finalize_opts *opts, const char *what,
                              dfd_error *err)
{
    if (g->finalized) {
        return DFD_OK;
    }
    if (g->n_outputs == 0 || g->n_inputs == 0) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: the graph has no %s", what,
                             g->n_inputs ? "outputs" : "inputs");
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        const dfd_value *v = &g->values[g->inputs[i]];
        if (v->rank < 1 || v->shape[0] != DFD_BATCH) {
            return dfd_error_set(err, DFD_ERR_FORMAT,
                                 "%s: input '%s' must have a batch dimension first", what, v->name);
        }
    }
    dfd_status st = sort_nodes(g, what, err);
    for (size_t i = 0; st == DFD_OK && i < g->n_nodes; i++) {
        st = nn_infer_node(g, &g->nodes[i], what, err);
    }
    dfd_finalize_opts o = opts ? *opts : dfd_finalize_opts_default();
    if (st == DFD_OK && o.fuse) {
        st = nn_fuse(g, o.fuse_dwpw);
        if (st) {
            dfd_error_set(err, st, "%s: out of memory while fusing", what);
        }
        if (st == DFD_OK) {
            st = sort_nodes(g, what, err); // drop what fusion made dead
        }
    }
    if (st == DFD_OK) {
        g->finalized = true;
    }
    return st;
}

// ---- reading ----

size_t dfd_graph_n_nodes(const dfd_graph *g)
{
    return g->n_nodes;
}

const dfd_node *dfd_graph_node(const dfd_graph *g, size_t i)
{
    return &g->nodes[i];
}

size_t dfd_graph_n_values(const dfd_graph *g)
{
    return g->n_values;
}

const dfd_value *dfd_graph_value(const dfd_graph *g, int id)
{
    return &g->values[id];
}

size_t dfd_graph_n_inputs(const dfd_graph *g)
{
    return g->n_inputs;
}

int dfd_graph_input(const dfd_graph *g, size_t i)
{
    return g->inputs[i];
}

size_t dfd_graph_n_outputs(const dfd_graph *g)
{
    return g->n_outputs;
}

int dfd_graph_output(const dfd_graph *g, size_t i)
{
    return g->outputs[i];
}

const char *dfd_graph_output_name(const dfd_graph *g, size_t i)
{
    return g->output_alias[i][0] ? g->output_alias[i][0] : g->values[g->outputs[i]].name;
}

// Equal, ignoring a ":0" suffix on either side.
static bool same_tensor_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 2 && strcmp(a + la - 2, ":0") == 0) {
        la -= 2;
    }
    if (lb > 2 && strcmp(b + lb - 2, ":0") == 0) {
        lb -= 2;
    }
    return la == lb && strncmp(a, b, la) == 0;
}

int dfd_graph_find_output(const dfd_graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_outputs; i++) {
        if (same_tensor_name(g->values[g->outputs[i]].name, name)) {
            return (int)i;
        }
        for (int k = 0; k < DFD_OUTPUT_MAX_ALIASES; k++) {
            if (g->output_alias[i][k] && same_tensor_name(g->output_alias[i][k], name)) {
                return (int)i;
            }
        }
    }
    return -1;
}

void dfd_graph_stats_get(dfd_graph_stats *s, const dfd_graph *g)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < g->n_values; i++) {
        s->n_params += dfd_tensor_numel(&g->values[i].constant);
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        const dfd_node *n = &g->nodes[i];
        s->op_count[n->op]++;
        s->n_params +=
            dfd_tensor_numel(&n->weight) + dfd_tensor_numel(&n->bias) + dfd_tensor_numel(&n->alpha);
        const dfd_value *out = &g->values[n->out];
        if (n->op == DFD_OP_CONV2D || n->op == DFD_OP_DWPW) {
            // per item: OH*OW*OC * KH*KW*IC/G (+ the depthwise stage: OH*OW*C * KH*KW)
            double per_out = (double)n->weight.shape[0] * n->weight.shape[1] * n->weight.shape[2];
            s->macs += (double)out->shape[1] * out->shape[2] * out->shape[3] * per_out;
            if (n->op == DFD_OP_DWPW) {
                s->macs += (double)out->shape[1] * out->shape[2] * (double)n->weight2.shape[3] *
                           n->weight2.shape[0] * n->weight2.shape[1];
            }
        } else if (n->op == DFD_OP_MATMUL) {
            s->macs += (double)n->weight.shape[0] * n->weight.shape[1];
        }
    }
}
