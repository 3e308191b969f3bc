// Autograd sessions: a graph bound to a batch size for training. The forward keeps every value
// (each computed value has its own memory; reshapes are views), the pre-activations that cannot
// be recovered from a fused node's output and BatchNorm's batch statistics. The backward walks
// the nodes in reverse, with the gradients of values planned into one arena by liveness over
// that walk (a value's gradient lives from its last reader's backward to its producer's).
//
// Which values carry a gradient: those that depend on something trainable or watched
// ("requires") and influence a value whose gradient was set ("reaches"). Nodes whose output
// carries none are skipped, so frozen prefixes of a network cost nothing in the backward.
#include "dfdetect/nn/autograd.h"

#include <stdio.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/threads.h"
#include "nn_internal.h"

#define MAX_BYTES ((size_t)16 << 30)

// Which parameter of a node a dfd_param views.
enum {
    SLOT_WEIGHT,
    SLOT_BIAS,
    SLOT_ALPHA,
    N_SLOTS
};

struct dfd_autograd {
    dfd_graph *g;
    int batch;
    dfd_autograd_opts opts;
    size_t nv, nn;
    dfd_tensor *vals; // per value: resolved shape; data in `fwd`, or the graph's constant
    unsigned char *fwd;
    size_t fwd_bytes;
    dfd_tensor *pre;  // per node: the kept pre-activation (rank 0 when none)
    float **stats;    // per node: BatchNorm batch statistics [2][C], or NULL
    float *scratch;   // backward scratch, scratch_n floats
    size_t scratch_n; // see nn_args.scratch
    nn_train_fast **fast;
    size_t n_fast;
    double (*seconds)[2]; // per node, with opts.profile: forward and backward time
    // parameters
    dfd_param *params, **param_list;
    size_t n_params;
    int (*slot)[N_SLOTS]; // per node: index of the param viewing each slot, or -1
    float *grad_block;
    dfd_param *buffers, **buffer_list;
    size_t n_buffers;
    // forward state
    bool has_forward, last_training;
    uint64_t step;
    // gradients
    float **seed;   // per value: the gradient set by the caller (allocated on first use)
    bool *seeded;   // per value: set since the last backward
    bool *watched;  // per value
    bool *has_grad; // per value, in the current plan: a gradient buffer exists
    bool *flows;    // per value, in the current plan: requires and reaches (its producer's
                    // backward runs)
    bool *ready;    // per value, during a backward: its gradient holds something
    dfd_tensor *grads;
    unsigned char *grad_arena;
    size_t grad_bytes;
    bool planned;
    bool *plan_seeded, *plan_frozen; // what the plan was made for
};

dfd_autograd_opts dfd_autograd_opts_default(void)
{
    dfd_autograd_opts o = { 0, DFD_BACKEND_FAST, 0, false };
    return o;
}

static void free_params(dfd_param *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        dfd_free((void *)(uintptr_t)p[i].name);
    }
    dfd_free(p);
}

void dfd_autograd_free(dfd_autograd *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; s->fast && i < s->nn; i++) {
        nn_train_fast_free(s->fast[i]);
    }
    for (size_t v = 0; s->seed && v < s->nv; v++) {
        dfd_free(s->seed[v]);
    }
    free_params(s->params, s->n_params);
    free_params(s->buffers, s->n_buffers);
    dfd_free(s->param_list);
    dfd_free(s->buffer_list);
    dfd_free(s->slot);
    dfd_aligned_free(s->grad_block);
    dfd_free(s->fast);
    dfd_free(s->seconds);
    dfd_free(s->vals);
    dfd_free(s->pre);
    dfd_free(s->stats);
    dfd_aligned_free(s->fwd);
    dfd_aligned_free(s->scratch);
    dfd_free(s->seed);
    dfd_free(s->seeded);
    dfd_free(s->watched);
    dfd_free(s->has_grad);
    dfd_free(s->flows);
    dfd_free(s->ready);
    dfd_free(s->grads);
    dfd_aligned_free(s->grad_arena);
    dfd_free(s->plan_seeded);
    dfd_free(s->plan_frozen);
    dfd_free(s);
}

static size_t round_bytes(size_t floats)
{
    return (floats * sizeof(float) + DFD_ALIGN - 1) / DFD_ALIGN * DFD_ALIGN;
}

// ---- parameters ----

static const dfd_tensor *node_slot(const dfd_node *n, int slot)
{
    return slot == SLOT_WEIGHT ? &n->weight : slot == SLOT_BIAS ? &n->bias : &n->alpha;
}

static const char *const slot_names[N_SLOTS] = { "weight", "bias", "alpha" };

// Fill one view of tensor t named "<node>/<what>".
static dfd_status make_view(dfd_param *p, const dfd_node *n, const char *what, const dfd_tensor *t)
{
    size_t len = strlen(n->name) + strlen(what) + 2;
    char *name = dfd_malloc(len);
    if (!name) {
        return DFD_ERR_NOMEM;
    }
    snprintf(name, len, "%s/%s", n->name, what);
    memset(p, 0, sizeof *p);
    p->name = name;
    p->value = t->data;
    p->rank = t->rank;
    for (int i = 0; i < DFD_MAX_RANK; i++) {
        p->shape[i] = t->shape[i];
    }
    return DFD_OK;
}

static bool is_trainable_slot(const dfd_node *n, int slot)
{
    if (n->op == DFD_OP_BATCHNORM) {
        return slot != SLOT_ALPHA;
    }
    if (n->op == DFD_OP_ACT) {
        return slot == SLOT_ALPHA && n->act.kind == DFD_ACT_PRELU;
    }
    if (n->op == DFD_OP_CONV2D || n->op == DFD_OP_MATMUL) {
        return slot != SLOT_ALPHA || n->act.kind == DFD_ACT_PRELU;
    }
    return false;
}

static dfd_status make_params(dfd_autograd *s, dfd_error *err)
{
    const dfd_graph *g = s->g;
    size_t np = 0, nb = 0, grad_floats = 0;
    for (size_t i = 0; i < s->nn; i++) {
        const dfd_node *n = &g->nodes[i];
        for (int k = 0; k < N_SLOTS; k++) {
            if (is_trainable_slot(n, k) && node_slot(n, k)->rank > 0) {
                np++;
                grad_floats += round_bytes(dfd_tensor_numel(node_slot(n, k))) / sizeof(float);
            }
        }
        nb += n->op == DFD_OP_BATCHNORM ? 2 : 0;
    }
    s->params = dfd_calloc(np ? np : 1, sizeof *s->params);
    s->param_list = dfd_calloc(np ? np : 1, sizeof *s->param_list);
    s->buffers = dfd_calloc(nb ? nb : 1, sizeof *s->buffers);
    s->buffer_list = dfd_calloc(nb ? nb : 1, sizeof *s->buffer_list);
    s->slot = dfd_malloc((s->nn ? s->nn : 1) * sizeof *s->slot);
    s->grad_block = dfd_aligned_calloc((grad_floats ? grad_floats : 1) * sizeof(float));
    if (!s->params || !s->param_list || !s->buffers || !s->buffer_list || !s->slot ||
        !s->grad_block) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory");
    }
    // One contiguous block of gradients, each view starting on a cache line.
    float *grad = s->grad_block;
    for (size_t i = 0; i < s->nn; i++) {
        const dfd_node *n = &g->nodes[i];
        for (int k = 0; k < N_SLOTS; k++) {
            s->slot[i][k] = -1;
            const dfd_tensor *t = node_slot(n, k);
            if (!is_trainable_slot(n, k) || t->rank == 0) {
                continue;
            }
            dfd_param *p = &s->params[s->n_params];
            if (make_view(p, n, slot_names[k], t)) {
                return dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory");
            }
            p->grad = grad;
            grad += round_bytes(dfd_tensor_numel(t)) / sizeof(float);
            s->slot[i][k] = (int)s->n_params;
            s->param_list[s->n_params] = p;
            s->n_params++;
        }
        if (n->op == DFD_OP_BATCHNORM) {
            const dfd_tensor *st[2] = { &n->running_mean, &n->running_var };
            for (int k = 0; k < 2; k++) {
                dfd_param *p = &s->buffers[s->n_buffers];
                if (make_view(p, n, k ? "running_var" : "running_mean", st[k])) {
                    return dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory");
                }
                p->frozen = true;
                s->buffer_list[s->n_buffers++] = p;
            }
        }
    }
    // Names are checkpoint keys: they must be unique.
    for (size_t i = 0; i < s->n_params + s->n_buffers; i++) {
        const dfd_param *a = i < s->n_params ? &s->params[i] : &s->buffers[i - s->n_params];
        for (size_t j = 0; j < i; j++) {
            const dfd_param *b = j < s->n_params ? &s->params[j] : &s->buffers[j - s->n_params];
            if (strcmp(a->name, b->name) == 0) {
                return dfd_error_set(err, DFD_ERR_INVALID,
                                     "autograd: two parameters are named '%s' (node names must "
                                     "be unique)",
                                     a->name);
            }
        }
    }
    return DFD_OK;
}

// ---- forward memory: every value kept ----

static dfd_status plan_forward(dfd_autograd *s, dfd_error *err)
{
    const dfd_graph *g = s->g;
    size_t *offset = dfd_malloc((s->nv ? s->nv : 1) * sizeof *offset);
    int *root = dfd_malloc((s->nv ? s->nv : 1) * sizeof *root);
    bool *own = dfd_calloc(s->nv ? s->nv : 1, sizeof *own);
    size_t *pre_at = dfd_malloc((s->nn ? s->nn : 1) * sizeof *pre_at);
    dfd_status st = DFD_OK;
    if (!offset || !root || !own || !pre_at) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory");
        goto done;
    }
    for (size_t v = 0; v < s->nv; v++) {
        root[v] = (int)v;
    }
    for (size_t i = 0; i < g->n_inputs; i++) {
        own[g->inputs[i]] = true;
    }
    size_t total = 0;
    for (size_t i = 0; i < s->nn; i++) {
        const dfd_node *n = &g->nodes[i];
        if (n->op == DFD_OP_RESHAPE && g->values[n->in[0]].constant.rank == 0) {
            root[n->out] = root[n->in[0]]; // a view
        } else {
            own[n->out] = true;
        }
        pre_at[i] = (size_t)-1;
        if ((n->op == DFD_OP_CONV2D || n->op == DFD_OP_MATMUL) && nn_act_needs_pre(&n->act)) {
            pre_at[i] = total;
            total += round_bytes(dfd_tensor_numel(&s->vals[n->out]));
        }
        if (n->op == DFD_OP_BATCHNORM) {
            pre_at[i] = total; // the statistics
            total += round_bytes(2 * (size_t)n->weight.shape[0]);
        }
    }
    for (size_t v = 0; v < s->nv; v++) {
        if (own[v] && g->values[v].constant.rank == 0) {
            offset[v] = total;
            total += round_bytes(dfd_tensor_numel(&s->vals[v]));
        }
    }
    if (total > MAX_BYTES) {
        st = dfd_error_set(err, DFD_ERR_LIMIT, "autograd: %zu MB of activations at batch %d",
                           total >> 20, s->batch);
        goto done;
    }
    s->fwd_bytes = total;
    s->fwd = dfd_aligned_alloc(total ? total : DFD_ALIGN);
    if (!s->fwd) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory (%zu MB of activations)",
                           total >> 20);
        goto done;
    }
    for (size_t v = 0; v < s->nv; v++) {
        if (g->values[v].constant.rank > 0) {
            s->vals[v].data = g->values[v].constant.data;
        } else if (own[root[v]]) {
            s->vals[v].data = (float *)(void *)(s->fwd + offset[root[v]]);
        }
    }
    for (size_t i = 0; i < s->nn; i++) {
        const dfd_node *n = &g->nodes[i];
        if (pre_at[i] == (size_t)-1) {
            continue;
        }
        float *at = (float *)(void *)(s->fwd + pre_at[i]);
        if (n->op == DFD_OP_BATCHNORM) {
            s->stats[i] = at;
        } else {
            s->pre[i] = s->vals[n->out];
            s->pre[i].data = at;
        }
    }
done:
    dfd_free(offset);
    dfd_free(root);
    dfd_free(own);
    dfd_free(pre_at);
    return st;
}

// ---- node arguments ----

// The forward arguments of node i (the backward fields stay zero).
static void fwd_args(nn_args *a, dfd_autograd *s, size_t i, bool is_training)
{
    const dfd_node *n = &s->g->nodes[i];
    memset(a, 0, sizeof *a);
    a->node = n;
    a->n_in = n->n_in;
    for (int k = 0; k < n->n_in; k++) {
        a->in[k] = &s->vals[n->in[k]];
    }
    a->residual = n->residual >= 0 ? &s->vals[n->residual] : NULL;
    a->out = &s->vals[n->out];
    a->n_threads = s->opts.n_threads;
    a->is_training = is_training;
    // Dropout's mask seed: a hash of the session seed, the step and the node.
    uint64_t z = s->opts.seed ^ (s->step * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)i << 40);
    z = (z ^ (z >> 31)) * 0xd6e8feb86659fd93ull;
    a->seed = z ^ (z >> 32);
    a->stats = s->stats[i];
    a->pre = s->pre[i].rank ? &s->pre[i] : NULL;
}

dfd_status dfd_autograd_create(dfd_autograd **out, dfd_graph *g, int batch,
                               const dfd_autograd_opts *opts, dfd_error *err)
{
    *out = NULL;
    if (!g->finalized || batch < 1 || batch > 4096) {
        return dfd_error_set(err, DFD_ERR_INVALID, "autograd: %s",
                             g->finalized ? "batch must be 1..4096" : "graph not finalized");
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].op == DFD_OP_DWPW) {
            return dfd_error_set(err, DFD_ERR_UNSUPPORTED,
                                 "autograd: node '%s' is a fused depthwise-pointwise pair, which "
                                 "has no backward (finalize with fuse_dwpw = false to train)",
                                 g->nodes[i].name);
        }
    }
    dfd_autograd *s = dfd_calloc(1, sizeof *s);
    if (!s) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory");
    }
    s->g = g;
    s->batch = batch;
    s->opts = opts ? *opts : dfd_autograd_opts_default();
    if (s->opts.n_threads <= 0) {
        s->opts.n_threads = dfd_cpu_count();
    }
    s->nv = g->n_values;
    s->nn = g->n_nodes;
    size_t nv1 = s->nv ? s->nv : 1, nn1 = s->nn ? s->nn : 1;
    s->vals = dfd_calloc(nv1, sizeof *s->vals);
    s->grads = dfd_calloc(nv1, sizeof *s->grads);
    s->seed = dfd_calloc(nv1, sizeof *s->seed);
    s->seeded = dfd_calloc(nv1, sizeof *s->seeded);
    s->watched = dfd_calloc(nv1, sizeof *s->watched);
    s->has_grad = dfd_calloc(nv1, sizeof *s->has_grad);
    s->flows = dfd_calloc(nv1, sizeof *s->flows);
    s->ready = dfd_calloc(nv1, sizeof *s->ready);
    s->plan_seeded = dfd_calloc(nv1, sizeof *s->plan_seeded);
    s->pre = dfd_calloc(nn1, sizeof *s->pre);
    s->stats = dfd_calloc(nn1, sizeof *s->stats);
    s->fast = dfd_calloc(nn1, sizeof *s->fast);
    s->seconds = s->opts.profile ? dfd_calloc(nn1, sizeof *s->seconds) : NULL;
    if ((s->opts.profile && !s->seconds) || !s->vals || !s->grads || !s->seed || !s->seeded ||
        !s->watched || !s->has_grad || !s->flows || !s->ready || !s->plan_seeded || !s->pre ||
        !s->stats || !s->fast) {
        dfd_autograd_free(s);
        return dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory");
    }
    for (size_t v = 0; v < s->nv; v++) {
        const dfd_value *val = &g->values[v];
        dfd_tensor *t = &s->vals[v];
        t->rank = val->rank;
        for (int i = 0; i < DFD_MAX_RANK; i++) {
            t->shape[i] = val->shape[i] == DFD_BATCH ? batch : val->shape[i];
        }
    }
    dfd_status st = make_params(s, err);
    if (!st) {
        st = plan_forward(s, err);
    }
    int prev = nn_threads_enter(s->opts.n_threads);
    for (size_t i = 0; !st && s->opts.backend == DFD_BACKEND_FAST && i < s->nn; i++) {
        nn_args a;
        fwd_args(&a, s, i, true);
        st = nn_train_fast_prepare(&s->fast[i], &a, err);
        s->n_fast += s->fast[i] != NULL;
    }
    nn_threads_leave(prev);
    if (st) {
        dfd_autograd_free(s);
        return st;
    }
    *out = s;
    return DFD_OK;
}

int dfd_autograd_batch(const dfd_autograd *s)
{
    return s->batch;
}

dfd_tensor *dfd_autograd_input(dfd_autograd *s, size_t i)
{
    return i < s->g->n_inputs ? &s->vals[s->g->inputs[i]] : NULL;
}

void dfd_autograd_set_seed(dfd_autograd *s, uint64_t seed)
{
    s->opts.seed = seed;
    s->step = 0;
}

// ---- forward ----

// The reference forward of node i, keeping the pre-activation where the backward needs it: the
// node runs without its activation into `pre`, and the activation is applied from there.
static void ref_forward(const nn_args *a)
{
    if (!a->pre) {
        nn_ref_ops[a->node->op].forward(a);
        return;
    }
    dfd_node plain = *a->node; // a shallow copy: borrows the parameters
    plain.act.kind = DFD_ACT_NONE;
    nn_args b = *a;
    b.node = &plain;
    b.out = a->pre;
    nn_ref_ops[plain.op].forward(&b);
    const size_t n = dfd_tensor_numel(a->out);
    const int c = a->out->shape[a->out->rank - 1];
    memcpy(a->out->data, a->pre->data, n * sizeof(float));
    nn_act_apply(a->out->data, n, c, &a->node->act, a->node->alpha.data);
}

dfd_status dfd_autograd_forward(dfd_autograd *s, bool is_training, dfd_error *err)
{
    if (!s) {
        return dfd_error_set(err, DFD_ERR_INVALID, "autograd: NULL session");
    }
    if (is_training) {
        s->step++;
    }
    int prev = nn_threads_enter(s->opts.n_threads);
    for (size_t i = 0; i < s->nn; i++) {
        nn_args a;
        fwd_args(&a, s, i, is_training);
        double t0 = s->seconds ? dfd_now() : 0;
        if (s->fast[i]) {
            nn_train_fast_forward(s->fast[i], &a);
        } else {
            ref_forward(&a);
        }
        if (s->seconds) {
            s->seconds[i][0] += dfd_now() - t0;
        }
    }
    nn_threads_leave(prev);
    s->has_forward = true;
    s->last_training = is_training;
    return DFD_OK;
}

const dfd_tensor *dfd_autograd_output(const dfd_autograd *s, size_t i)
{
    return i < s->g->n_outputs ? &s->vals[s->g->outputs[i]] : NULL;
}

// A value by output name or alias, else by value name; -1 if none.
static int find_value(const dfd_autograd *s, const char *name)
{
    int o = dfd_graph_find_output(s->g, name);
    return o >= 0 ? s->g->outputs[o] : dfd_graph_find_value(s->g, name);
}

const dfd_tensor *dfd_autograd_value(const dfd_autograd *s, const char *name)
{
    int v = find_value(s, name);
    return v >= 0 && s->vals[v].data ? &s->vals[v] : NULL;
}

// ---- gradients set and watched ----

dfd_status dfd_autograd_set_grad(dfd_autograd *s, const char *name, const float *grad,
                                 dfd_error *err)
{
    int v = find_value(s, name);
    if (v < 0 || !s->vals[v].data) {
        return dfd_error_set(err, DFD_ERR_NOT_FOUND, "autograd: no value named '%s'", name);
    }
    if (s->g->values[v].constant.rank > 0 || s->g->values[v].producer < 0) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "autograd: '%s' is not computed by the graph: no gradient to set",
                             name);
    }
    size_t n = dfd_tensor_numel(&s->vals[v]);
    if (!s->seed[v] && !(s->seed[v] = dfd_malloc(n * sizeof(float)))) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory");
    }
    memcpy(s->seed[v], grad, n * sizeof(float));
    s->seeded[v] = true;
    return DFD_OK;
}

dfd_status dfd_autograd_watch(dfd_autograd *s, const char *name, dfd_error *err)
{
    int v = find_value(s, name);
    if (v < 0 || !s->vals[v].data) {
        return dfd_error_set(err, DFD_ERR_NOT_FOUND, "autograd: no value named '%s'", name);
    }
    if (s->g->values[v].constant.rank > 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "autograd: '%s' is a constant", name);
    }
    if (!s->watched[v]) {
        s->watched[v] = true;
        s->planned = false;
    }
    return DFD_OK;
}

const dfd_tensor *dfd_autograd_grad(const dfd_autograd *s, const char *name)
{
    int v = find_value(s, name);
    return v >= 0 && s->watched[v] && s->grads[v].data ? &s->grads[v] : NULL;
}

// ---- backward plan ----

static bool slot_trainable(const dfd_autograd *s, size_t i, int k)
{
    int p = s->slot[i][k];
    return p >= 0 && !s->params[p].frozen;
}

static bool node_trainable(const dfd_autograd *s, size_t i)
{
    return slot_trainable(s, i, SLOT_WEIGHT) || slot_trainable(s, i, SLOT_BIAS) ||
           slot_trainable(s, i, SLOT_ALPHA);
}

// Whether the current plan was made for these seeds and frozen flags.
static bool plan_current(const dfd_autograd *s)
{
    if (!s->planned) {
        return false;
    }
    for (size_t v = 0; v < s->nv; v++) {
        if (s->seeded[v] != s->plan_seeded[v]) {
            return false;
        }
    }
    for (size_t p = 0; p < s->n_params; p++) {
        if (s->params[p].frozen != s->plan_frozen[p]) {
            return false;
        }
    }
    return true;
}

// Each value's gradient interval over the backward walk (position p runs node nn - 1 - p):
// from its first writer (-1: set or watched, alive from the start) to its producer's backward
// (nn: watched, alive to the end).
typedef struct grad_span {
    long first, last;
    size_t bytes, offset;
} grad_span;

// Greedy placement, largest first: each span goes to the lowest offset where it overlaps no
// placed span alive at the same time.
static size_t pack_spans(grad_span *sp, const int *ids, int n)
{
    size_t total = 0;
    for (int k = 0; k < n; k++) {
        grad_span *r = &sp[ids[k]];
        r->offset = 0;
        for (int again = 1; again;) {
            again = 0;
            for (int j = 0; j < k; j++) {
                const grad_span *q = &sp[ids[j]];
                if (q->last < r->first || r->last < q->first || r->offset >= q->offset + q->bytes ||
                    q->offset >= r->offset + r->bytes) {
                    continue;
                }
                r->offset = q->offset + q->bytes;
                again = 1;
            }
        }
        total = r->offset + r->bytes > total ? r->offset + r->bytes : total;
    }
    return total;
}

// Floats of backward scratch the current plan needs (nn_args.scratch): a CONV2D/MATMUL node
// whose output is watched computes its pre-activation gradient there (numel(out)), not in
// place; a fast node whose input gradient may already hold something (two writers or more: a
// fan-out, or a gradient set on it) has its input gradient computed there and then added
// (numel(in) more, after numel(out)). Usually none: the backward then needs no scratch at all.
static size_t scratch_floats(const dfd_autograd *s, const int *writers)
{
    size_t need = 0;
    for (size_t i = 0; i < s->nn; i++) {
        const dfd_node *n = &s->g->nodes[i];
        if ((n->op != DFD_OP_CONV2D && n->op != DFD_OP_MATMUL) || !s->flows[n->out]) {
            continue;
        }
        const bool dz = s->watched[n->out] && n->act.kind != DFD_ACT_NONE;
        const bool acc = s->fast[i] && s->has_grad[n->in[0]] && writers[n->in[0]] >= 2;
        size_t k = dz || acc ? dfd_tensor_numel(&s->vals[n->out]) : 0;
        k += acc ? dfd_tensor_numel(&s->vals[n->in[0]]) : 0;
        need = k > need ? k : need;
    }
    return need;
}

static dfd_status plan_backward(dfd_autograd *s, dfd_error *err)
{
    const dfd_graph *g = s->g;
    const long nn = (long)s->nn;
    bool *requires = dfd_calloc(s->nv ? s->nv : 1, sizeof *requires);
    bool *reaches = dfd_calloc(s->nv ? s->nv : 1, sizeof *reaches);
    grad_span *sp = dfd_calloc(s->nv ? s->nv : 1, sizeof *sp);
    int *ids = dfd_malloc((s->nv ? s->nv : 1) * sizeof *ids);
    int *writers = dfd_malloc((s->nv ? s->nv : 1) * sizeof *writers);
    dfd_status st = DFD_OK;
    if (!s->plan_frozen) {
        s->plan_frozen = dfd_calloc(s->n_params ? s->n_params : 1, sizeof *s->plan_frozen);
    }
    if (!requires || !reaches || !sp || !ids || !writers || !s->plan_frozen) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory");
        goto done;
    }
    for (size_t v = 0; v < s->nv; v++) {
        requires[v] = s->watched[v];
        reaches[v] = s->seeded[v];
    }
    for (size_t i = 0; i < s->nn; i++) {
        const dfd_node *n = &g->nodes[i];
        bool r = node_trainable(s, i);
        for (int k = 0; k <= n->n_in; k++) {
            int v = k < n->n_in ? n->in[k] : n->residual;
            r |= v >= 0 && requires[v];
        }
        requires[n->out] |= r;
    }
    for (long i = nn - 1; i >= 0; i--) {
        const dfd_node *n = &g->nodes[i];
        if (!reaches[n->out] || !requires[n->out]) {
            continue;
        }
        if (!nn_ref_ops[n->op].backward) {
            st = dfd_error_set(err, DFD_ERR_UNSUPPORTED,
                               "autograd: node '%s' (%s) has no backward, and a gradient must "
                               "cross it",
                               n->name, dfd_op_name(n->op));
            goto done;
        }
        for (int k = 0; k <= n->n_in; k++) {
            int v = k < n->n_in ? n->in[k] : n->residual;
            if (v >= 0) {
                reaches[v] = true;
            }
        }
    }
    int n_ids = 0;
    for (size_t v = 0; v < s->nv; v++) {
        s->flows[v] = requires[v] && reaches[v];
        s->has_grad[v] = s->flows[v] || s->watched[v];
        s->grads[v] = s->vals[v];
        s->grads[v].data = NULL;
        if (!s->has_grad[v]) {
            continue;
        }
        sp[v].first = s->seeded[v] || s->watched[v] ? -1 : nn;
        sp[v].last =
            s->watched[v] || g->values[v].producer < 0 ? nn : nn - 1 - g->values[v].producer;
        sp[v].bytes = round_bytes(dfd_tensor_numel(&s->vals[v]));
        ids[n_ids++] = (int)v;
    }
    for (long i = 0; i < nn; i++) { // the first writer is the last reader in forward order
        const dfd_node *n = &g->nodes[i];
        if (!s->flows[n->out]) {
            continue;
        }
        for (int k = 0; k <= n->n_in; k++) {
            int v = k < n->n_in ? n->in[k] : n->residual;
            if (v >= 0 && s->has_grad[v] && nn - 1 - i < sp[v].first) {
                sp[v].first = nn - 1 - i;
            }
        }
    }
    // Largest first (insertion sort: a few hundred values).
    for (int k = 1; k < n_ids; k++) {
        int v = ids[k], j = k - 1;
        while (j >= 0 && sp[ids[j]].bytes < sp[v].bytes) {
            ids[j + 1] = ids[j];
            j--;
        }
        ids[j + 1] = v;
    }
    size_t total = pack_spans(sp, ids, n_ids);
    // Who writes each gradient: the caller (a set gradient) and every input slot of a node whose
    // backward runs.
    for (size_t v = 0; v < s->nv; v++) {
        writers[v] = s->seeded[v];
    }
    for (size_t i = 0; i < s->nn; i++) {
        const dfd_node *n = &g->nodes[i];
        for (int k = 0; s->flows[n->out] && k <= n->n_in; k++) {
            int v = k < n->n_in ? n->in[k] : n->residual;
            writers[v] += v >= 0;
        }
    }
    const size_t scratch_n = scratch_floats(s, writers);
    if (scratch_n > s->scratch_n) {
        dfd_aligned_free(s->scratch);
        s->scratch_n = 0;
        if (!(s->scratch = dfd_aligned_alloc(round_bytes(scratch_n)))) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory (%zu MB of scratch)",
                               scratch_n >> 18);
            goto done;
        }
        s->scratch_n = scratch_n;
    }
    if (total > MAX_BYTES) {
        st = dfd_error_set(err, DFD_ERR_LIMIT, "autograd: %zu MB of gradients", total >> 20);
        goto done;
    }
    if (total > s->grad_bytes || !s->grad_arena) {
        dfd_aligned_free(s->grad_arena);
        s->grad_bytes = 0;
        s->grad_arena = dfd_aligned_alloc(total ? total : DFD_ALIGN);
        if (!s->grad_arena) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "autograd: out of memory (%zu MB of gradients)",
                               total >> 20);
            goto done;
        }
        s->grad_bytes = total;
    }
    for (int k = 0; k < n_ids; k++) {
        s->grads[ids[k]].data = (float *)(void *)(s->grad_arena + sp[ids[k]].offset);
    }
    memcpy(s->plan_seeded, s->seeded, s->nv * sizeof *s->seeded);
    for (size_t p = 0; p < s->n_params; p++) {
        s->plan_frozen[p] = s->params[p].frozen;
    }
    s->planned = true;
done:
    if (st) {
        s->planned = false;
    }
    dfd_free(requires);
    dfd_free(reaches);
    dfd_free(sp);
    dfd_free(ids);
    dfd_free(writers);
    return st;
}

// ---- backward ----

static float *param_grad(const dfd_autograd *s, size_t i, int k)
{
    return slot_trainable(s, i, k) ? s->params[s->slot[i][k]].grad : NULL;
}

// Point din[k] (and dresidual) at the gradients that are wanted, in the order the kernels write
// them, and note which ones already hold something.
static void bwd_args(nn_args *a, dfd_autograd *s, size_t i)
{
    const dfd_node *n = &s->g->nodes[i];
    a->dout = &s->grads[n->out];
    for (int k = 0; k <= n->n_in; k++) {
        int v = k < n->n_in ? n->in[k] : n->residual;
        if (v < 0 || !s->has_grad[v] || s->g->values[v].constant.rank > 0) {
            continue;
        }
        if (k < n->n_in) {
            a->din[k] = &s->grads[v];
            a->din_acc[k] = s->ready[v];
        } else {
            a->dresidual = &s->grads[v];
            a->dresidual_acc = s->ready[v];
        }
        s->ready[v] = true;
    }
    a->dweight = param_grad(s, i, SLOT_WEIGHT);
    a->dbias = param_grad(s, i, SLOT_BIAS);
    a->dalpha = param_grad(s, i, SLOT_ALPHA);
    a->scratch = s->scratch;
    // The output's gradient is read by this backward only, unless the caller watches it: the
    // activation's derivative can then be applied in place (a pass less over a large tensor).
    a->dz = s->watched[n->out] ? NULL : s->grads[n->out].data;
}

dfd_status dfd_autograd_backward(dfd_autograd *s, dfd_error *err)
{
    if (!s || !s->has_forward) {
        return dfd_error_set(err, DFD_ERR_INVALID, "autograd: backward before any forward");
    }
    if (!plan_current(s)) {
        dfd_status st = plan_backward(s, err);
        if (st) {
            return st;
        }
    }
    for (size_t v = 0; v < s->nv; v++) {
        s->ready[v] = false;
        if (!s->has_grad[v]) {
            continue;
        }
        size_t n = dfd_tensor_numel(&s->grads[v]);
        if (s->seeded[v]) {
            memcpy(s->grads[v].data, s->seed[v], n * sizeof(float));
            s->ready[v] = true;
        }
    }
    int prev = nn_threads_enter(s->opts.n_threads);
    for (size_t j = s->nn; j-- > 0;) {
        const dfd_node *n = &s->g->nodes[j];
        if (!s->flows[n->out]) {
            continue;
        }
        if (!s->ready[n->out]) { // nothing downstream wrote it: a zero gradient
            memset(s->grads[n->out].data, 0, dfd_tensor_numel(&s->grads[n->out]) * sizeof(float));
            s->ready[n->out] = true;
        }
        nn_args a;
        fwd_args(&a, s, j, s->last_training);
        bwd_args(&a, s, j);
        double t0 = s->seconds ? dfd_now() : 0;
        if (s->fast[j]) {
            nn_train_fast_backward(s->fast[j], &a);
        } else {
            nn_ref_ops[n->op].backward(&a);
        }
        if (s->seconds) {
            s->seconds[j][1] += dfd_now() - t0;
        }
    }
    nn_threads_leave(prev);
    // Watched values are written by their first reader's backward (no zeroing pass before, no
    // extra add); the ones nothing wrote get zeros.
    for (size_t v = 0; v < s->nv; v++) {
        if (s->watched[v] && !s->ready[v]) {
            memset(s->grads[v].data, 0, dfd_tensor_numel(&s->grads[v]) * sizeof(float));
        }
    }
    memset(s->seeded, 0, s->nv * sizeof *s->seeded);
    return DFD_OK;
}

// ---- parameters ----

size_t dfd_autograd_n_params(const dfd_autograd *s)
{
    return s->n_params;
}

dfd_param *const *dfd_autograd_params(dfd_autograd *s)
{
    return s->param_list;
}

dfd_param *dfd_autograd_param(dfd_autograd *s, const char *name)
{
    for (size_t i = 0; i < s->n_params; i++) {
        if (strcmp(s->params[i].name, name) == 0) {
            return &s->params[i];
        }
    }
    return NULL;
}

// Set the frozen flag (or the group) of the parameters whose name starts with `prefix`, or
// (prefix NULL) that are in group `in_group`; how many matched.
static size_t edit_params(dfd_autograd *s, const char *prefix, int in_group, bool set_frozen,
                          int value)
{
    size_t n = 0, len = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; i < s->n_params; i++) {
        dfd_param *p = &s->params[i];
        if (prefix ? strncmp(p->name, prefix, len) != 0 : p->group != in_group) {
            continue;
        }
        if (set_frozen) {
            p->frozen = value != 0;
        } else {
            p->group = value;
        }
        n++;
    }
    return n;
}

size_t dfd_autograd_freeze(dfd_autograd *s, const char *prefix, bool frozen)
{
    return edit_params(s, prefix, 0, true, frozen);
}

size_t dfd_autograd_set_group(dfd_autograd *s, const char *prefix, int group)
{
    return edit_params(s, prefix, 0, false, group);
}

size_t dfd_autograd_freeze_group(dfd_autograd *s, int group, bool frozen)
{
    return edit_params(s, NULL, group, true, frozen);
}

size_t dfd_autograd_n_buffers(const dfd_autograd *s)
{
    return s->n_buffers;
}

dfd_param *const *dfd_autograd_buffers(dfd_autograd *s)
{
    return s->buffer_list;
}

size_t dfd_autograd_bytes(const dfd_autograd *s)
{
    return s->fwd_bytes + s->grad_bytes + round_bytes(s->scratch_n);
}

size_t dfd_autograd_n_fast(const dfd_autograd *s)
{
    return s->n_fast;
}

double dfd_autograd_node_seconds(const dfd_autograd *s, size_t i, double *backward_seconds)
{
    bool ok = s->seconds && i < s->nn;
    if (backward_seconds) {
        *backward_seconds = ok ? s->seconds[i][1] : 0;
    }
    return ok ? s->seconds[i][0] : 0;
}
