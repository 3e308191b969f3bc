// Recurrent layers, inside: the layer struct shared by rnn.c (API, parameters, checks),
// rnn_fast.c (the GEMM path) and rnn_ref.c (the plain double-precision reference), and the
// reference's double entry point that tests drive directly for finite differences.
// Included by those files and tests/nn/test_rnn.c only (the rest of nn/ uses nn_internal.h).
#ifndef DFD_NN_RNN_IMPL_H
#define DFD_NN_RNN_IMPL_H

#include <stdint.h>
#include <string.h>

#include "dfdetect/nn/rnn.h"

// A float buffer that only grows (the activation cache is reused from call to call).
typedef struct rnn_buf {
    float *p;
    size_t cap; // floats
} rnn_buf;

// What the fast path keeps from forward for backward, and its scratch. Row layouts:
//   perm[i]: the sequence in row i of the sorted order (longest first, ties by index), so the
//            sequences still running at step t are rows [0, n_active[t]) -- a prefix
//   gates:   per layer and direction [T][N][S] (sorted rows), S = 4H: GRU r z n (Whn h + bhn);
//            S = 6H: LSTM i f g o c_prev tanh(c)
//   hprev:   per layer and direction [T][N][H] (sorted rows; zero rows where not running)
//   io:      per layer below the last [N*T, D*H]: its outputs after dropout = next layer's input
typedef struct rnn_fast_ws {
    int *perm, *n_active;
    size_t cap_perm, cap_active;
    rnn_buf gates, hprev, io, gx, gh, h, c;    // forward
    rnn_buf dgx, dgh, dy_a, dy_b, dh, dc, acc; // backward
} rnn_fast_ws;

struct dfd_rnn {
    dfd_rnn_opts o; // o.prefix is NULL: names are built at creation
    int G, D;       // gates per cell (3 GRU, 4 LSTM), directions
    dfd_param *params;
    size_t n_params;
    float *values, *grads; // one block each; params are views into them
    char *names;
    bool is_training;

    // The last forward (borrowed inputs; see dfd_rnn_forward).
    bool has_forward;
    int N, T;
    const float *x, *h0, *c0;
    const int *lengths;
    bool dropout_on;
    uint64_t dropout_seed;
    rnn_fast_ws ws;
};

// Parameter k (0 w_ih, 1 w_hh, 2 b_ih, 3 b_hh) of layer l, direction d.
static inline dfd_param *rnn_param(const dfd_rnn *r, int l, int d, int k)
{
    return &r->params[((size_t)l * (size_t)r->D + (size_t)d) * 4 + (size_t)k];
}

// Input size of layer l.
static inline int rnn_layer_in(const dfd_rnn *r, int l)
{
    return l == 0 ? r->o.input_size : r->o.hidden_size * r->D;
}

// ---- activations: branch-free so the cell loops vectorise; libm's tanhf (through expm1f) and
// expf took most of the step time. Accuracy, checked by tests/nn/test_rnn.c over [-100, 100]:
// within 3e-7 relative (a few ulp) of the double-precision functions (sigmoid below -80, where
// the clamp of rnn_expf shows, within 1e-30 absolute); NaN propagates, infinities saturate.

// e^x: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2 in two parts, n*ln2_hi exact), e^r by
// its Taylor polynomial to r^7 (truncation below 6e-9 relative), 2^n built in the exponent bits.
// x is clamped to [-87, 88] so 2^n stays a normal float (results beyond saturate the callers).
static inline float rnn_expf(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    // Adding 1.5 * 2^23 rounds x log2(e) to an integer n kept in the low mantissa bits of t.
    float t = x * 1.44269504f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    // (n + 127) << 23, in unsigned arithmetic: for a NaN x the bits are garbage but defined,
    // and p is NaN anyway.
    uint32_t ti, bits;
    float scale;
    memcpy(&ti, &t, sizeof ti);
    bits = (ti - 0x4b400000u + 127u) << 23;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float rnn_sigmoidf(float x)
{
    return 1.0f / (1.0f + rnn_expf(-x));
}

// tanh: an odd polynomial below |x| = 0.625 (tanh(x)/x fitted in x^2 by least squares at
// Chebyshev nodes, float-evaluated error 1e-7 relative), 1 - 2 / (1 + e^2x) above it (where
// the subtraction loses at most a bit).
static inline float rnn_tanhf(float x)
{
    float s = x * x;
    float p = -5.69731137e-3f;
    p = p * s + 2.06301119e-2f;
    p = p * s - 5.37358001e-2f;
    p = p * s + 1.33313641e-1f;
    p = p * s - 3.33332747e-1f;
    p = p * s + 1.0f;
    float big = 1.0f - 2.0f / (1.0f + rnn_expf(2.0f * x));
    return s < 0.390625f ? x * p : big;
}

// Dropout multiplier (0 or 1 / (1 - p)) of element e of layer l's output [N*T*D*H]: a hash of
// (seed, l, e), so masks depend on nothing else (not the thread count, not the path).
float rnn_dropout_scale(uint64_t seed, int l, size_t e, float p);

// ---- fast path (rnn_fast.c) ----

// Forward on r's borrowed inputs (r->N, r->T, r->x, ...): fills y [N, T, D*H] and h_n, c_n
// [L*D, N, H] (NULL when not wanted), and the cache. DFD_ERR_NOMEM when the cache cannot grow.
dfd_status rnn_fast_forward(dfd_rnn *r, float *y, float *h_n, float *c_n);
// Backward for the cached forward (gradients NULL = zero; results added; frozen skipped).
dfd_status rnn_fast_backward(dfd_rnn *r, float *dx, float *dh0, float *dc0, const float *dy,
                             const float *dh_n, const float *dc_n);
void rnn_fast_ws_free(rnn_fast_ws *ws);

// ---- reference path (rnn_ref.c): per sequence, per step, dot products, all in double ----

// One run of the reference: forward always; backward too when `backward` is set. Arrays as in
// rnn.h (batch first, states [L*D, N, H]); NULL inputs and upstream gradients are zeros, NULL
// outputs are not written; gradients (dx, dh0, dc0, dw[i]) are added to; dw[i] NULL skips
// parameter i. w[i] is parameter i's value (r's order and shapes); only r's sizes are used.
typedef struct rnn_ref_args {
    const double *const *w;
    int N, T;
    const int *lengths;
    const double *x, *h0, *c0;
    bool dropout_on;
    uint64_t dropout_seed;
    double *y, *h_n, *c_n;
    bool backward;
    const double *dy, *dh_n, *dc_n;
    double *dx, *dh0, *dc0;
    double *const *dw;
} rnn_ref_args;

dfd_status rnn_ref_run(const dfd_rnn *r, const rnn_ref_args *a);

// The REF backend behind dfd_rnn_forward / dfd_rnn_backward: float in and out around rnn_ref_run.
dfd_status rnn_ref_forward(dfd_rnn *r, float *y, float *h_n, float *c_n);
dfd_status rnn_ref_backward(dfd_rnn *r, float *dx, float *dh0, float *dc0, const float *dy,
                            const float *dh_n, const float *dc_n);

#endif
