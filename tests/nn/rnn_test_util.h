// Helpers of the recurrent-layer tests (test_rnn.c, test_rnn_torch.c): a configuration, a layer
// and a random batch for it through the public API, relative errors, and the same problem in
// double precision for the reference entry point rnn_ref_run (src/nn/rnn_impl.h).
#ifndef DFD_TESTS_NN_RNN_TEST_UTIL_H
#define DFD_TESTS_NN_RNN_TEST_UTIL_H

#include <math.h>
#include <string.h>

#include "dfdetect/nn/rnn.h"
#include "dfdetect/util/alloc.h"
#include "nn/rnn_impl.h"
#include "nn_test_util.h"

// ---- a layer and one batch for it ----

// A configuration; tables list the fields in this order.
typedef struct cfg {
    dfd_rnn_cell cell;
    int I, H, L, N, T;
    bool bidir;
    bool h0;            // initial states given (else zeros)
    const int *lengths; // NULL: all T
    bool training;      // dropout on (when dropout > 0)
    float dropout;
} cfg;

#define GRU  DFD_RNN_GRU
#define LSTM DFD_RNN_LSTM

typedef struct batch {
    cfg c;
    int D, LD;
    dfd_tensor x, h0, c0, y, h_n, c_n, dy, dh_n, dc_n, dx, dh0, dc0;
} batch;

static inline void batch_free(batch *b)
{
    dfd_tensor *t[] = { &b->x,  &b->h0,   &b->c0,   &b->y,  &b->h_n, &b->c_n,
                        &b->dy, &b->dh_n, &b->dc_n, &b->dx, &b->dh0, &b->dc0 };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        dfd_tensor_free(t[i]);
    }
}

static inline bool is_lstm(const batch *b)
{
    return b->c.cell == DFD_RNN_LSTM;
}

// Random inputs and upstream gradients (uniform in [-1, 1)) for configuration c.
static inline dfd_status batch_make(batch *b, const cfg *c)
{
    memset(b, 0, sizeof *b);
    b->c = *c;
    b->D = c->bidir ? 2 : 1;
    b->LD = c->L * b->D;
    int xs[3] = { c->N, c->T, c->I }, ys[3] = { c->N, c->T, b->D * c->H };
    int ss[3] = { b->LD, c->N, c->H };
    dfd_status st = DFD_OK;
    struct {
        dfd_tensor *t;
        const int *shape;
        bool fill;
    } all[] = { { &b->x, xs, true },   { &b->h0, ss, true },   { &b->c0, ss, true },
                { &b->y, ys, false },  { &b->h_n, ss, false }, { &b->c_n, ss, false },
                { &b->dy, ys, true },  { &b->dh_n, ss, true }, { &b->dc_n, ss, true },
                { &b->dx, xs, false }, { &b->dh0, ss, false }, { &b->dc0, ss, false } };
    for (size_t i = 0; i < sizeof all / sizeof all[0] && !st; i++) {
        st = dfd_tensor_alloc(all[i].t, 3, all[i].shape);
        if (!st && all[i].fill) {
            test_fill(all[i].t, 1.0f);
        }
    }
    return st;
}

static inline dfd_rnn_opts opts_of(const cfg *c, dfd_backend backend)
{
    dfd_rnn_opts o = dfd_rnn_opts_default();
    o.cell = c->cell;
    o.input_size = c->I;
    o.hidden_size = c->H;
    o.n_layers = c->L;
    o.bidirectional = c->bidir;
    o.dropout = c->dropout;
    o.seed = 42;
    o.n_threads = 1;
    o.backend = backend;
    return o;
}

// A layer for c (opts_of, on n_threads threads) and a random batch for it; on error, whatever
// was made is still freed by batch_free and dfd_rnn_free.
static inline dfd_status setup(dfd_rnn **r, batch *b, const cfg *c, dfd_backend backend,
                               int n_threads)
{
    *r = NULL;
    dfd_rnn_opts o = opts_of(c, backend);
    o.n_threads = n_threads;
    dfd_status st = batch_make(b, c);
    return st ? st : dfd_rnn_create(r, &o, NULL);
}

// Forward then backward with every gradient (parameter grads and dx/dh0/dc0 zeroed first).
static inline dfd_status run_both(dfd_rnn *r, batch *b, uint64_t seed)
{
    size_t np;
    dfd_param *p = dfd_rnn_params(r, &np);
    for (size_t i = 0; i < np; i++) {
        memset(p[i].grad, 0, dfd_param_numel(&p[i]) * sizeof(float));
    }
    memset(b->dx.data, 0, dfd_tensor_numel(&b->dx) * sizeof(float));
    memset(b->dh0.data, 0, dfd_tensor_numel(&b->dh0) * sizeof(float));
    memset(b->dc0.data, 0, dfd_tensor_numel(&b->dc0) * sizeof(float));
    bool lstm = is_lstm(b);
    dfd_rnn_set_training(r, b->c.training);
    dfd_status st =
        dfd_rnn_forward(&b->y, &b->h_n, lstm ? &b->c_n : NULL, r, &b->x, b->c.lengths,
                        b->c.h0 ? &b->h0 : NULL, b->c.h0 && lstm ? &b->c0 : NULL, seed, NULL);
    if (!st) {
        st = dfd_rnn_backward(&b->dx, b->c.h0 ? &b->dh0 : NULL, b->c.h0 && lstm ? &b->dc0 : NULL, r,
                              &b->dy, &b->dh_n, lstm ? &b->dc_n : NULL, NULL);
    }
    return st;
}

// Largest |a - b| over n values relative to the largest |b| (NaN counts as infinite).
static inline double rel_err(const float *a, const float *b, size_t n)
{
    double scale = 1e-12, worst = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs((double)b[i]));
    }
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        worst = fmax(worst, e != e ? (double)INFINITY : e);
    }
    return worst / scale;
}

static inline double rel_err_t(const dfd_tensor *a, const dfd_tensor *b)
{
    return rel_err(a->data, b->data, dfd_tensor_numel(b));
}

// ---- the same problem in double, for the reference ----

// Everything of one double-precision reference problem.
typedef struct dprob {
    dfd_rnn *r;
    cfg c;
    size_t n_st, n_x, n_y, n_w;
    double *w_block, **w, *dw_block, **dw;
    double *x, *h0, *c0, *dy, *dh_n, *dc_n; // inputs and upstream gradients
    double *y, *h_n, *c_n, *dx, *dh0, *dc0; // outputs and gradients
} dprob;

static inline double *drand_array(size_t n, bool fill)
{
    double *a = dfd_calloc(n, sizeof *a);
    for (size_t i = 0; a && fill && i < n; i++) {
        a[i] = (double)test_rand();
    }
    return a;
}

static inline void dprob_free(dprob *p)
{
    double *a[] = { p->w_block, p->dw_block, p->x,   p->h0,  p->c0, p->dy,  p->dh_n,
                    p->dc_n,    p->y,        p->h_n, p->c_n, p->dx, p->dh0, p->dc0 };
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        dfd_free(a[i]);
    }
    dfd_free(p->w);
    dfd_free(p->dw);
    dfd_rnn_free(p->r);
}

static inline dfd_status dprob_make(dprob *p, const cfg *c)
{
    memset(p, 0, sizeof *p);
    p->c = *c;
    dfd_rnn_opts o = opts_of(c, DFD_BACKEND_REF);
    dfd_status st = dfd_rnn_create(&p->r, &o, NULL);
    if (st) {
        return st;
    }
    size_t np;
    dfd_param *prm = dfd_rnn_params(p->r, &np);
    for (size_t i = 0; i < np; i++) {
        p->n_w += dfd_param_numel(&prm[i]);
    }
    int D = c->bidir ? 2 : 1;
    p->n_st = (size_t)c->L * D * c->N * c->H;
    p->n_x = (size_t)c->N * c->T * c->I;
    p->n_y = (size_t)c->N * c->T * D * c->H;
    struct {
        double **a;
        size_t n;
        bool fill; // random in [-1, 1) (in this order), else zeros
    } all[] = { { &p->w_block, p->n_w, true }, { &p->dw_block, p->n_w, false },
                { &p->x, p->n_x, true },       { &p->h0, p->n_st, true },
                { &p->c0, p->n_st, true },     { &p->dy, p->n_y, true },
                { &p->dh_n, p->n_st, true },   { &p->dc_n, p->n_st, true },
                { &p->y, p->n_y, false },      { &p->h_n, p->n_st, false },
                { &p->c_n, p->n_st, false },   { &p->dx, p->n_x, false },
                { &p->dh0, p->n_st, false },   { &p->dc0, p->n_st, false } };
    p->w = dfd_calloc(np, sizeof *p->w);
    p->dw = dfd_calloc(np, sizeof *p->dw);
    bool ok = p->w && p->dw;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        *all[i].a = drand_array(all[i].n, all[i].fill);
        ok = ok && *all[i].a;
    }
    if (!ok) {
        return DFD_ERR_NOMEM;
    }
    size_t off = 0;
    for (size_t i = 0; i < np; i++) {
        p->w[i] = p->w_block + off;
        p->dw[i] = p->dw_block + off;
        off += dfd_param_numel(&prm[i]);
    }
    return DFD_OK;
}

static inline rnn_ref_args dprob_args(const dprob *p, bool backward)
{
    bool lstm = p->c.cell == DFD_RNN_LSTM;
    return (rnn_ref_args){ .w = (const double *const *)p->w,
                           .N = p->c.N,
                           .T = p->c.T,
                           .lengths = p->c.lengths,
                           .x = p->x,
                           .h0 = p->c.h0 ? p->h0 : NULL,
                           .c0 = p->c.h0 && lstm ? p->c0 : NULL,
                           .dropout_on = p->c.training && p->c.dropout > 0,
                           .dropout_seed = 7,
                           .y = p->y,
                           .h_n = p->h_n,
                           .c_n = lstm ? p->c_n : NULL,
                           .backward = backward,
                           .dy = p->dy,
                           .dh_n = p->dh_n,
                           .dc_n = lstm ? p->dc_n : NULL,
                           .dx = p->dx,
                           .dh0 = p->dh0,
                           .dc0 = p->dc0,
                           .dw = p->dw };
}

#endif
