// Recurrent layers (GRU, LSTM; stacked, bidirectional, masked): the object, its parameters in
// PyTorch's names and layouts, argument checks, and dispatch to the fast path (rnn_fast.c) or
// the double-precision reference (rnn_ref.c). Used by the temporal head of detect/ and train/.
#include "dfdetect/nn/rnn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#    include <omp.h>
#endif

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/size.h"
#include "rnn_impl.h"

dfd_rnn_opts dfd_rnn_opts_default(void)
{
    dfd_rnn_opts o;
    memset(&o, 0, sizeof o);
    o.cell = DFD_RNN_GRU;
    o.n_layers = 1;
    o.backend = DFD_BACKEND_FAST;
    return o;
}

// ---- random numbers: splitmix64, as a stream (weights) and as a hash (dropout masks) ----

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform in [0, 1) from the top 24 bits (exact in float).
static float unit_float(uint64_t bits)
{
    return (float)(bits >> 40) * (1.0f / 16777216.0f);
}

float rnn_dropout_scale(uint64_t seed, int l, size_t e, float p)
{
    uint64_t key = mix64(seed + 0x9e3779b97f4a7c15ull * (uint64_t)(l + 1));
    float u = unit_float(mix64(key + 0x9e3779b97f4a7c15ull * (uint64_t)e));
    return u < p ? 0.0f : 1.0f / (1.0f - p);
}

// ---- creation ----

static dfd_status check_opts(const dfd_rnn_opts *o, dfd_error *err)
{
    const char *bad = NULL;
    if (o->cell != DFD_RNN_GRU && o->cell != DFD_RNN_LSTM) {
        bad = "unknown cell";
    } else if (o->input_size < 1 || o->input_size > 65536) {
        bad = "input_size must be 1..65536";
    } else if (o->hidden_size < 1 || o->hidden_size > 8192) {
        bad = "hidden_size must be 1..8192";
    } else if (o->n_layers < 1 || o->n_layers > 16) {
        bad = "n_layers must be 1..16";
    } else if (!(o->dropout >= 0.0f && o->dropout < 1.0f)) {
        bad = "dropout must be in [0, 1)";
    } else if (o->backend != DFD_BACKEND_FAST && o->backend != DFD_BACKEND_REF) {
        bad = "unknown backend";
    } else if (o->prefix && strlen(o->prefix) > 200) {
        bad = "prefix longer than 200 characters";
    }
    return bad ? dfd_error_set(err, DFD_ERR_INVALID, "rnn: %s", bad) : DFD_OK;
}

// Floats of all parameters (each weight shape is within DFD_TENSOR_MAX_NUMEL, checked).
static bool count_params(size_t *total, const dfd_rnn *r)
{
    const size_t H = (size_t)r->o.hidden_size, GH = (size_t)r->G * H;
    size_t n = 0;
    for (int l = 0; l < r->o.n_layers; l++) {
        size_t per_dir, w_ih;
        if (!dfd_size_mul(&w_ih, GH, (size_t)rnn_layer_in(r, l)) ||
            w_ih > (size_t)DFD_TENSOR_MAX_NUMEL || !dfd_size_add(&per_dir, w_ih, GH * H + 2 * GH) ||
            !dfd_size_mul(&per_dir, per_dir, (size_t)r->D) || !dfd_size_add(&n, n, per_dir)) {
            return false;
        }
    }
    *total = n;
    return n <= (size_t)DFD_TENSOR_MAX_NUMEL;
}

// Name, shape and place of every parameter (names are name_stride bytes apart in r->names).
static void layout_params(dfd_rnn *r, const char *prefix, size_t name_stride)
{
    static const char *const kinds[4] = { "weight_ih", "weight_hh", "bias_ih", "bias_hh" };
    const int H = r->o.hidden_size, GH = r->G * H;
    size_t off = 0;
    for (int l = 0; l < r->o.n_layers; l++) {
        for (int d = 0; d < r->D; d++) {
            for (int k = 0; k < 4; k++) {
                dfd_param *p = rnn_param(r, l, d, k);
                char *name = r->names + (size_t)(p - r->params) * name_stride;
                snprintf(name, name_stride, "%s%s%s_l%d%s", prefix, *prefix ? "/" : "", kinds[k], l,
                         d ? "_reverse" : "");
                p->name = name;
                p->rank = k < 2 ? 2 : 1;
                p->shape[0] = GH;
                p->shape[1] = k == 0 ? rnn_layer_in(r, l) : H;
                p->value = r->values + off;
                p->grad = r->grads + off;
                off += dfd_param_numel(p);
            }
        }
    }
}

// PyTorch's default initialisation: every weight and bias uniform in [-1/sqrt(H), 1/sqrt(H)].
static void init_values(dfd_rnn *r, size_t n)
{
    float k = 1.0f / sqrtf((float)r->o.hidden_size);
    uint64_t state = r->o.seed;
    for (size_t i = 0; i < n; i++) {
        state += 0x9e3779b97f4a7c15ull;
        r->values[i] = (2.0f * unit_float(mix64(state)) - 1.0f) * k;
    }
}

dfd_status dfd_rnn_create(dfd_rnn **out, const dfd_rnn_opts *opts, dfd_error *err)
{
    *out = NULL;
    dfd_status st = check_opts(opts, err);
    if (st) {
        return st;
    }
    dfd_rnn *r = dfd_calloc(1, sizeof *r);
    if (!r) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "rnn: out of memory");
    }
    r->o = *opts;
    r->o.prefix = NULL;
    r->G = opts->cell == DFD_RNN_GRU ? 3 : 4;
    r->D = opts->bidirectional ? 2 : 1;
    r->n_params = (size_t)opts->n_layers * (size_t)r->D * 4;
    size_t total;
    if (!count_params(&total, r)) {
        dfd_rnn_free(r);
        return dfd_error_set(err, DFD_ERR_LIMIT, "rnn: more than 2^31 - 1 parameters");
    }
    const char *prefix = opts->prefix ? opts->prefix : "";
    size_t name_stride = strlen(prefix) + 40; // "/weight_ih_l15_reverse" and the NUL fit
    r->params = dfd_calloc(r->n_params, sizeof *r->params);
    r->names = dfd_calloc(r->n_params, name_stride);
    r->values = dfd_aligned_alloc(total * sizeof(float));
    r->grads = dfd_aligned_calloc(total * sizeof(float));
    if (!r->params || !r->names || !r->values || !r->grads) {
        dfd_rnn_free(r);
        return dfd_error_set(err, DFD_ERR_NOMEM, "rnn: out of memory for %zu parameters", total);
    }
    layout_params(r, prefix, name_stride);
    init_values(r, total);
    *out = r;
    return DFD_OK;
}

void dfd_rnn_free(dfd_rnn *r)
{
    if (!r) {
        return;
    }
    rnn_fast_ws_free(&r->ws);
    dfd_aligned_free(r->values);
    dfd_aligned_free(r->grads);
    dfd_free(r->params);
    dfd_free(r->names);
    dfd_free(r);
}

dfd_param *dfd_rnn_params(dfd_rnn *r, size_t *n_params)
{
    *n_params = r->n_params;
    return r->params;
}

void dfd_rnn_set_training(dfd_rnn *r, bool is_training)
{
    r->is_training = is_training;
}

// ---- forward and backward: checks, threads, dispatch ----

// NULL, or a tensor of exactly [a, b, c] (the name goes into the message).
static dfd_status check_shape(const dfd_tensor *t, bool allowed, int a, int b, int c,
                              const char *what, dfd_error *err)
{
    if (!t) {
        return DFD_OK;
    }
    if (!allowed) {
        return dfd_error_set(err, DFD_ERR_INVALID, "rnn: %s given to a GRU", what);
    }
    int want[3] = { a, b, c };
    if (t->rank != 3 || !t->data || memcmp(t->shape, want, sizeof want) != 0) {
        char got[64], exp[64];
        return dfd_error_set(err, DFD_ERR_INVALID, "rnn: %s must be %s, got %s", what,
                             dfd_shape_str(exp, sizeof exp, 3, want),
                             dfd_shape_str(got, sizeof got, t->rank, t->shape));
    }
    return DFD_OK;
}

// The states' shape [L*D, N, H] for the arguments named in `names`, and the outputs' [N, T, D*H].
static dfd_status check_io(const dfd_rnn *r, const dfd_tensor *seq, const char *seq_name,
                           const dfd_tensor *const st[2], const char *const names[2],
                           dfd_error *err)
{
    const int LD = r->o.n_layers * r->D, H = r->o.hidden_size;
    bool lstm = r->o.cell == DFD_RNN_LSTM;
    dfd_status s = check_shape(seq, true, r->N, r->T, r->D * H, seq_name, err);
    for (int i = 0; i < 2 && !s; i++) {
        s = check_shape(st[i], i == 0 || lstm, LD, r->N, H, names[i], err);
    }
    return s;
}

// oneDNN (OpenMP runtime) and our loops take their team size from the calling thread: run at
// opts.n_threads, and give the caller its own setting back afterwards.
static int threads_push(const dfd_rnn *r)
{
#ifdef _OPENMP
    int prev = omp_get_max_threads();
    if (r->o.n_threads > 0) {
        omp_set_num_threads(r->o.n_threads);
    }
    return prev;
#else
    (void)r;
    return 0;
#endif
}

static void threads_pop(int prev)
{
#ifdef _OPENMP
    omp_set_num_threads(prev);
#else
    (void)prev;
#endif
}

dfd_status dfd_rnn_forward(dfd_tensor *y, dfd_tensor *h_n, dfd_tensor *c_n, dfd_rnn *r,
                           const dfd_tensor *x, const int *lengths, const dfd_tensor *h0,
                           const dfd_tensor *c0, uint64_t dropout_seed, dfd_error *err)
{
    r->has_forward = false;
    if (!x || x->rank != 3 || !x->data || x->shape[0] < 1 || x->shape[1] < 1 ||
        x->shape[2] != r->o.input_size) {
        return dfd_error_set(err, DFD_ERR_INVALID, "rnn: x must be [N, T, %d]", r->o.input_size);
    }
    r->N = x->shape[0];
    r->T = x->shape[1];
    if (!y) {
        return dfd_error_set(err, DFD_ERR_INVALID, "rnn: y is required");
    }
    const dfd_tensor *outs[2] = { h_n, c_n }, *ins[2] = { h0, c0 };
    static const char *const out_names[2] = { "h_n", "c_n" }, *const in_names[2] = { "h0", "c0" };
    dfd_status st = check_io(r, y, "y", outs, out_names, err);
    if (!st) {
        st = check_io(r, NULL, "", ins, in_names, err);
    }
    for (int n = 0; !st && lengths && n < r->N; n++) {
        if (lengths[n] < 0 || lengths[n] > r->T) {
            st = dfd_error_set(err, DFD_ERR_INVALID, "rnn: lengths[%d] = %d is outside 0..%d", n,
                               lengths[n], r->T);
        }
    }
    if (st) {
        return st;
    }
    r->x = x->data;
    r->lengths = lengths;
    r->h0 = h0 ? h0->data : NULL;
    r->c0 = c0 ? c0->data : NULL;
    r->dropout_on = r->is_training && r->o.dropout > 0.0f && r->o.n_layers > 1;
    r->dropout_seed = dropout_seed;
    float *hn = h_n ? h_n->data : NULL, *cn = c_n ? c_n->data : NULL;
    int prev = threads_push(r);
    st = r->o.backend == DFD_BACKEND_REF ? rnn_ref_forward(r, y->data, hn, cn)
                                         : rnn_fast_forward(r, y->data, hn, cn);
    threads_pop(prev);
    if (st) {
        return dfd_error_set(err, st, "rnn: out of memory for the activations of [%d, %d] steps",
                             r->N, r->T);
    }
    r->has_forward = true;
    return DFD_OK;
}

dfd_status dfd_rnn_backward(dfd_tensor *dx, dfd_tensor *dh0, dfd_tensor *dc0, dfd_rnn *r,
                            const dfd_tensor *dy, const dfd_tensor *dh_n, const dfd_tensor *dc_n,
                            dfd_error *err)
{
    if (!r->has_forward) {
        return dfd_error_set(err, DFD_ERR_INVALID, "rnn: backward without a forward");
    }
    dfd_status st = DFD_OK;
    if (dx) {
        int want[3] = { r->N, r->T, r->o.input_size };
        if (dx->rank != 3 || !dx->data || memcmp(dx->shape, want, sizeof want) != 0) {
            st = dfd_error_set(err, DFD_ERR_INVALID, "rnn: dx must be shaped like x");
        }
    }
    const dfd_tensor *grads[2] = { dh_n, dc_n }, *outs[2] = { dh0, dc0 };
    static const char *const g_names[2] = { "dh_n", "dc_n" }, *const o_names[2] = { "dh0", "dc0" };
    if (!st) {
        st = check_io(r, dy, "dy", grads, g_names, err);
    }
    if (!st) {
        st = check_io(r, NULL, "", outs, o_names, err);
    }
    if (st) {
        return st;
    }
    int prev = threads_push(r);
    float *pdx = dx ? dx->data : NULL, *pdh0 = dh0 ? dh0->data : NULL;
    float *pdc0 = dc0 ? dc0->data : NULL;
    const float *pdy = dy ? dy->data : NULL, *pdhn = dh_n ? dh_n->data : NULL;
    const float *pdcn = dc_n ? dc_n->data : NULL;
    st = r->o.backend == DFD_BACKEND_REF ? rnn_ref_backward(r, pdx, pdh0, pdc0, pdy, pdhn, pdcn)
                                         : rnn_fast_backward(r, pdx, pdh0, pdc0, pdy, pdhn, pdcn);
    threads_pop(prev);
    if (st) {
        return dfd_error_set(err, st, "rnn: out of memory for backward of [%d, %d] steps", r->N,
                             r->T);
    }
    return DFD_OK;
}
