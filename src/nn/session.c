// Sessions: a graph bound to a batch size. Creation resolves every shape, plans the arena and
// prepares fast kernels; a run is then a walk over the nodes with no allocation.
//
// Memory plan: each computed value (or the chain of reshapes viewing it: one "storage root") is
// alive from the node that writes it to the last node that reads it; outputs stay alive to the
// end. Roots are placed largest first at the lowest 64-byte-aligned offset that overlaps no root
// alive at the same time (greedy interval packing).
#ifdef _OPENMP
#    include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/threads.h"
#include "nn_internal.h"

#define MAX_ARENA ((size_t)16 << 30)

struct dfd_session {
    const dfd_graph *g;
    int batch;
    dfd_session_opts opts;
    dfd_tensor *vals; // per value: concrete shape, data in the arena or the graph's constant
    unsigned char *arena;
    size_t arena_bytes;
    nn_fast **fast; // per node, NULL when the reference kernel runs
    size_t n_fast;
    double *node_seconds; // with opts.profile
};

dfd_session_opts dfd_session_opts_default(void)
{
    dfd_session_opts o = { 0, DFD_BACKEND_FAST, false };
    return o;
}

void dfd_session_free(dfd_session *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; s->fast && i < s->g->n_nodes; i++) {
        nn_fast_free(s->fast[i]);
    }
    dfd_free(s->fast);
    dfd_free(s->node_seconds);
    dfd_free(s->vals);
    dfd_aligned_free(s->arena);
    dfd_free(s);
}

typedef struct root_info {
    size_t bytes_hint; // elements of the value itself (a root's views have the same count)
    size_t bytes;
    long first, last; // node indices; inputs start at -1, outputs end at n_nodes
    size_t offset;
    bool used;
} root_info;

static int cmp_roots_by_size(const void *a, const void *b, const root_info *r)
{
    size_t x = r[*(const int *)a].bytes, y = r[*(const int *)b].bytes;
    return x < y ? 1 : (x > y ? -1 : 0);
}

// Insertion sort of root ids by size, largest first (a few hundred entries at most).
static void sort_roots(int *ids, int n, const root_info *r)
{
    for (int i = 1; i < n; i++) {
        int v = ids[i], j = i - 1;
        while (j >= 0 && cmp_roots_by_size(&ids[j], &v, r) > 0) {
            ids[j + 1] = ids[j];
            j--;
        }
        ids[j + 1] = v;
    }
}

static dfd_status plan(dfd_session *s, dfd_error *err)
{
    const dfd_graph *g = s->g;
    const size_t nv = g->n_values, nn = g->n_nodes;
    int *root = dfd_malloc(nv * sizeof *root);
    root_info *ri = dfd_calloc(nv, sizeof *ri);
    int *order = dfd_malloc(nv * sizeof *order);
    int *placed = dfd_malloc(nv * sizeof *placed);
    dfd_status st = DFD_OK;
    if (!root || !ri || !order || !placed) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "session: out of memory planning");
        goto done;
    }
    for (size_t v = 0; v < nv; v++) {
        root[v] = (int)v;
    }
    for (size_t i = 0; i < nn; i++) {
        const dfd_node *n = &g->nodes[i];
        if (n->op == DFD_OP_RESHAPE && g->values[n->in[0]].constant.rank == 0) {
            root[n->out] = root[n->in[0]];
        }
    }
    // Inputs: alive from the start.
    for (size_t i = 0; i < g->n_inputs; i++) {
        root_info *r = &ri[root[g->inputs[i]]];
        r->used = true;
        r->first = -1;
        r->last = -1;
    }
    for (size_t v = 0; v < nv; v++) {
        ri[v].bytes_hint = dfd_tensor_numel(&s->vals[v]);
    }
    for (size_t i = 0; i < nn; i++) {
        const dfd_node *n = &g->nodes[i];
        root_info *r = &ri[root[n->out]];
        if (!r->used) {
            r->used = true;
            r->first = r->last = (long)i;
        }
        for (int k = 0; k <= n->n_in; k++) {
            int v = k < n->n_in ? n->in[k] : n->residual;
            if (v >= 0 && g->values[v].constant.rank == 0 && ri[root[v]].last < (long)i) {
                ri[root[v]].last = (long)i;
            }
        }
    }
    for (size_t i = 0; i < g->n_outputs; i++) {
        if (g->values[g->outputs[i]].constant.rank == 0) {
            ri[root[g->outputs[i]]].last = (long)nn;
        }
    }
    // A conv or matmul with a fused residual writes in place over the residual when nothing
    // reads the residual afterwards (and it is not one of the node's inputs, which a window
    // still reads): oneDNN then adds it with its cheap 'sum' post-op.
    for (size_t i = 0; i < nn; i++) {
        const dfd_node *n = &g->nodes[i];
        if (n->residual < 0 || g->values[n->residual].constant.rank > 0) {
            continue;
        }
        int rr = root[n->residual], ro = root[n->out];
        bool reads_it = false;
        for (int k = 0; k < n->n_in; k++) {
            reads_it |= root[n->in[k]] == rr;
        }
        if (reads_it || rr == ro || ri[rr].last != (long)i || ri[rr].first < 0 ||
            ri[rr].bytes_hint != ri[ro].bytes_hint) {
            continue;
        }
        ri[rr].last = ri[ro].last;
        ri[ro].used = false;
        for (size_t v = 0; v < nv; v++) {
            if (root[v] == ro) {
                root[v] = rr;
            }
        }
    }
    int n_roots = 0;
    for (size_t v = 0; v < nv; v++) {
        if (ri[v].used) {
            ri[v].bytes = (dfd_tensor_numel(&s->vals[v]) * sizeof(float) + DFD_ALIGN - 1) /
                          DFD_ALIGN * DFD_ALIGN;
            order[n_roots++] = (int)v;
        }
    }
    sort_roots(order, n_roots, ri);
    size_t total = 0;
    int n_placed = 0;
    for (int k = 0; k < n_roots; k++) {
        root_info *r = &ri[order[k]];
        size_t off = 0;
        // Move past every placed root that overlaps in time and in space, until none does.
        for (bool moved = true; moved;) {
            moved = false;
            for (int p = 0; p < n_placed; p++) {
                const root_info *q = &ri[placed[p]];
                bool live_together = !(q->last < r->first || r->last < q->first);
                bool overlap = off < q->offset + q->bytes && q->offset < off + r->bytes;
                if (live_together && overlap) {
                    off = q->offset + q->bytes;
                    moved = true;
                }
            }
        }
        r->offset = off;
        placed[n_placed++] = order[k];
        if (off + r->bytes > total) {
            total = off + r->bytes;
        }
    }
    if (total > MAX_ARENA) {
        st = dfd_error_set(err, DFD_ERR_LIMIT, "session: %zu MB of activations at batch %d",
                           total >> 20, s->batch);
        goto done;
    }
    s->arena_bytes = total;
    s->arena = dfd_aligned_alloc(total ? total : DFD_ALIGN);
    if (!s->arena) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "session: out of memory (%zu MB of activations)",
                           total >> 20);
        goto done;
    }
    for (size_t v = 0; v < nv; v++) {
        if (g->values[v].constant.rank > 0) {
            s->vals[v].data = g->values[v].constant.data;
        } else if (ri[root[v]].used) {
            s->vals[v].data = (float *)(void *)(s->arena + ri[root[v]].offset);
        }
    }
done:
    dfd_free(root);
    dfd_free(ri);
    dfd_free(order);
    dfd_free(placed);
    return st;
}

// Team sizes of sessions (nn_internal.h).
int nn_threads_enter(int n)
{
#ifdef _OPENMP
    int prev = omp_get_max_threads();
    omp_set_num_threads(n);
    return prev;
#else
    (void)n;
    return 0;
#endif
}

void nn_threads_leave(int prev)
{
#ifdef _OPENMP
    omp_set_num_threads(prev);
#else
    (void)prev;
#endif
}

static void node_args(nn_args *a, const dfd_session *s, size_t i)
{
    const dfd_node *n = &s->g->nodes[i];
    memset(a, 0, sizeof *a); // the training fields stay zero: inference semantics
    a->node = n;
    a->n_in = n->n_in;
    for (int k = 0; k < n->n_in; k++) {
        a->in[k] = &s->vals[n->in[k]];
    }
    a->residual = n->residual >= 0 ? &s->vals[n->residual] : NULL;
    a->out = &s->vals[n->out];
    a->n_threads = s->opts.n_threads;
}

dfd_status dfd_session_create(dfd_session **out, const dfd_graph *g, int batch,
                              const dfd_session_opts *opts, dfd_error *err)
{
    *out = NULL;
    if (!g->finalized || batch < 1 || batch > 4096) {
        return dfd_error_set(err, DFD_ERR_INVALID, "session: %s",
                             g->finalized ? "batch must be 1..4096" : "graph not finalized");
    }
    dfd_session *s = dfd_calloc(1, sizeof *s);
    if (!s) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "session: out of memory");
    }
    s->g = g;
    s->batch = batch;
    s->opts = opts ? *opts : dfd_session_opts_default();
    if (s->opts.n_threads <= 0) {
        s->opts.n_threads = dfd_cpu_count();
    }
    s->vals = dfd_calloc(g->n_values, sizeof *s->vals);
    s->fast = dfd_calloc(g->n_nodes ? g->n_nodes : 1, sizeof *s->fast);
    if (s->opts.profile) {
        s->node_seconds = dfd_calloc(g->n_nodes ? g->n_nodes : 1, sizeof *s->node_seconds);
    }
    if (!s->vals || !s->fast || (s->opts.profile && !s->node_seconds)) {
        dfd_session_free(s);
        return dfd_error_set(err, DFD_ERR_NOMEM, "session: out of memory");
    }
    for (size_t v = 0; v < g->n_values; v++) {
        const dfd_value *val = &g->values[v];
        dfd_tensor *t = &s->vals[v];
        t->rank = val->rank;
        for (int i = 0; i < DFD_MAX_RANK; i++) {
            t->shape[i] = val->shape[i] == DFD_BATCH ? batch : val->shape[i];
        }
    }
    dfd_status st = plan(s, err);
    // oneDNN splits its work for the thread count in force when a primitive is created, so
    // that must already be the session's.
    int prev_threads = nn_threads_enter(s->opts.n_threads);
    for (size_t i = 0; st == DFD_OK && s->opts.backend == DFD_BACKEND_FAST && i < g->n_nodes; i++) {
        nn_args a;
        node_args(&a, s, i);
        st = nn_fast_prepare(&s->fast[i], &a, err);
        s->n_fast += s->fast[i] != NULL;
    }
    nn_threads_leave(prev_threads);
    if (st) {
        dfd_session_free(s);
        return st;
    }
    *out = s;
    return DFD_OK;
}

int dfd_session_batch(const dfd_session *s)
{
    return s->batch;
}

dfd_tensor *dfd_session_input(dfd_session *s, size_t i)
{
    return i < s->g->n_inputs ? &s->vals[s->g->inputs[i]] : NULL;
}

dfd_status dfd_session_run(dfd_session *s, dfd_error *err)
{
    if (!s) {
        return dfd_error_set(err, DFD_ERR_INVALID, "session: NULL");
    }
    int prev_threads = nn_threads_enter(s->opts.n_threads);
    for (size_t i = 0; i < s->g->n_nodes; i++) {
        nn_args a;
        node_args(&a, s, i);
        double t0 = s->node_seconds ? dfd_now() : 0;
        if (s->fast[i]) {
            nn_fast_run(s->fast[i], &a);
        } else {
            nn_ref_ops[a.node->op].forward(&a);
        }
        if (s->node_seconds) {
            s->node_seconds[i] += dfd_now() - t0;
        }
    }
    nn_threads_leave(prev_threads);
    return DFD_OK;
}

const dfd_tensor *dfd_session_output(const dfd_session *s, size_t i)
{
    return i < s->g->n_outputs ? &s->vals[s->g->outputs[i]] : NULL;
}

const dfd_tensor *dfd_session_output_by_name(const dfd_session *s, const char *name)
{
    int i = dfd_graph_find_output(s->g, name);
    return i >= 0 ? &s->vals[s->g->outputs[i]] : NULL;
}

size_t dfd_session_arena_bytes(const dfd_session *s)
{
    return s->arena_bytes;
}

const char *dfd_session_node_kernel(const dfd_session *s, size_t i)
{
    return i < s->g->n_nodes && s->fast && s->fast[i] ? nn_fast_kernel(s->fast[i]) : "reference";
}

size_t dfd_session_n_fast(const dfd_session *s)
{
    return s->n_fast;
}

double dfd_session_node_seconds(const dfd_session *s, size_t i, bool *is_fast)
{
    if (is_fast) {
        *is_fast = i < s->g->n_nodes && s->fast[i] != NULL;
    }
    return s->node_seconds && i < s->g->n_nodes ? s->node_seconds[i] : 0;
}
