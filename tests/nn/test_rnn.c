// Recurrent layers (nn/rnn.h): parameter names and shapes, the fast path's activations against
// libm, the double-precision reference against central finite differences (masks, stacks, both
// directions, dropout), the fast path against the reference on random configurations (lengths 0
// and T, two threads), zero-length and padded sequences, seeded dropout and determinism, frozen
// parameters and accumulation, a small training loop that must learn (gradients flowing into
// the features as into a backbone), argument checks and out-of-memory paths. PyTorch parity is
// in test_rnn_torch.c.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/nn/rnn.h"
#include "dfdetect/util/alloc.h"
#include "rnn_test_util.h"
#include "test.h"

// ---- names and shapes ----

static void test_parameters_have_pytorch_names_shapes_and_init(void)
{
    dfd_rnn_opts o = dfd_rnn_opts_default();
    o.cell = DFD_RNN_LSTM;
    o.input_size = 10;
    o.hidden_size = 16;
    o.n_layers = 2;
    o.bidirectional = true;
    o.prefix = "head/lstm";
    dfd_rnn *r;
    CHECK_OK(dfd_rnn_create(&r, &o, NULL));
    size_t n;
    dfd_param *p = dfd_rnn_params(r, &n);
    CHECK_EQ_INT(n, 16);
    static const char *const want[16] = {
        "weight_ih_l0",         "weight_hh_l0",         "bias_ih_l0",         "bias_hh_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
        "weight_ih_l1",         "weight_hh_l1",         "bias_ih_l1",         "bias_hh_l1",
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse",
    };
    for (size_t i = 0; i < n && i < 16; i++) {
        char name[64];
        snprintf(name, sizeof name, "head/lstm/%s", want[i]);
        CHECK(strcmp(p[i].name, name) == 0);
        int k = (int)(i % 4), l = (int)(i / 8);
        CHECK_EQ_INT(p[i].rank, k < 2 ? 2 : 1);
        CHECK_EQ_INT(p[i].shape[0], 64);
        if (k < 2) {
            CHECK_EQ_INT(p[i].shape[1], k == 1 ? 16 : (l == 0 ? 10 : 32));
        }
        double lo = 1, hi = -1;
        for (size_t e = 0; e < dfd_param_numel(&p[i]); e++) {
            lo = fmin(lo, (double)p[i].value[e]);
            hi = fmax(hi, (double)p[i].value[e]);
            CHECK(p[i].grad[e] == 0.0f);
        }
        CHECK(lo >= -0.25 && hi <= 0.25 && hi - lo > 0.3); // uniform in +-1/sqrt(16)
    }
    dfd_rnn_free(r);
}

// ---- the fast path's activations ----

// rnn_expf, rnn_sigmoidf and rnn_tanhf (polynomials, so the cell loops vectorise) against libm
// in double: relative error over [-100, 100] in steps of 1e-3 and down to 1e-30 near zero;
// NaN propagates and infinities saturate.
static void test_activations_match_libm(void)
{
    double e_exp = 0, e_sig = 0, e_tanh = 0, a_sig = 0;
    for (int i = -100000; i <= 100000; i++) {
        float x = (float)i * 1e-3f;
        double xd = (double)x, t = tanh(xd), s = 1.0 / (1.0 + exp(-xd));
        if (x != 0.0f) {
            e_tanh = fmax(e_tanh, fabs((double)rnn_tanhf(x) - t) / fabs(t));
        }
        if (x > -80.0f) {
            e_sig = fmax(e_sig, fabs((double)rnn_sigmoidf(x) - s) / s);
        } else { // below e^-80 the clamp of rnn_expf shows, in absolute terms only
            a_sig = fmax(a_sig, fabs((double)rnn_sigmoidf(x) - s));
        }
        if (x > -87.0f && x < 88.0f) {
            e_exp = fmax(e_exp, fabs((double)rnn_expf(x) - exp(xd)) / exp(xd));
        }
    }
    for (float x = 1e-30f; x < 1.0f; x *= 1.01f) {
        double t = tanh((double)x);
        e_tanh = fmax(e_tanh, fabs((double)rnn_tanhf(x) - t) / t);
        e_tanh = fmax(e_tanh, fabs((double)rnn_tanhf(-x) + t) / t);
    }
    printf("    relative error: exp %.2e  sigmoid %.2e  tanh %.2e\n", e_exp, e_sig, e_tanh);
    CHECK(e_exp < 2e-7);
    CHECK(e_sig < 2e-7);
    CHECK(e_tanh < 3e-7);
    CHECK(a_sig < 1e-30);
    CHECK(isnan(rnn_expf(NAN)) && isnan(rnn_sigmoidf(NAN)) && isnan(rnn_tanhf(NAN)));
    CHECK(rnn_tanhf(INFINITY) == 1.0f && rnn_tanhf(-INFINITY) == -1.0f);
    CHECK(rnn_sigmoidf(INFINITY) == 1.0f && rnn_sigmoidf(-INFINITY) < 1e-30f);
}

// ---- the reference against finite differences (all in double) ----

// loss = sum(y dy) + sum(h_n dh_n) + sum(c_n dc_n), from a forward of the reference.
static double dprob_loss(dprob *p)
{
    rnn_ref_args a = dprob_args(p, false);
    if (rnn_ref_run(p->r, &a) != DFD_OK) {
        return (double)NAN;
    }
    double s = 0;
    for (size_t i = 0; i < p->n_y; i++) {
        s += p->y[i] * p->dy[i];
    }
    for (size_t i = 0; i < p->n_st; i++) {
        s += p->h_n[i] * p->dh_n[i] + (a.c_n ? p->c_n[i] * p->dc_n[i] : 0.0);
    }
    return s;
}

// Worst |analytic - central difference| over the n values at v, relative to the largest
// analytic gradient of the group (h = 1e-5: truncation ~1e-10, rounding ~1e-11).
static double fd_worst(dprob *p, double *v, const double *grad, size_t n)
{
    double worst = 0, scale = 1e-9;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(grad[i]));
    }
    for (size_t i = 0; i < n; i++) {
        const double h = 1e-5, v0 = v[i];
        v[i] = v0 + h;
        double up = dprob_loss(p);
        v[i] = v0 - h;
        double down = dprob_loss(p);
        v[i] = v0;
        double e = fabs((up - down) / (2 * h) - grad[i]);
        worst = fmax(worst, e != e ? (double)INFINITY : e);
    }
    return worst / scale;
}

static void check_reference_gradients(const cfg *c)
{
    dprob p;
    dfd_status st = dprob_make(&p, c);
    if (st) {
        dprob_free(&p);
        CHECK_OK(st);
    }
    rnn_ref_args a = dprob_args(&p, true);
    CHECK_OK(rnn_ref_run(p.r, &a));
    double e_w = fd_worst(&p, p.w_block, p.dw_block, p.n_w);
    double e_x = fd_worst(&p, p.x, p.dx, p.n_x);
    double e_h = c->h0 ? fd_worst(&p, p.h0, p.dh0, p.n_st) : 0;
    double e_c = c->h0 && c->cell == DFD_RNN_LSTM ? fd_worst(&p, p.c0, p.dc0, p.n_st) : 0;
    printf("    %s L%d D%d: weights %.2e  x %.2e  h0 %.2e  c0 %.2e\n",
           c->cell == DFD_RNN_GRU ? "GRU " : "LSTM", c->L, c->bidir ? 2 : 1, e_w, e_x, e_h, e_c);
    CHECK(e_w < 1e-7);
    CHECK(e_x < 1e-7);
    CHECK(e_h < 1e-7);
    CHECK(e_c < 1e-7);
    // Padded steps: the outputs are exactly 0 and their upstream gradients change nothing.
    for (int n = 0; n < c->N; n++) {
        int len = c->lengths ? c->lengths[n] : c->T;
        for (int t = len; t < c->T; t++) {
            for (int j = 0; j < (c->bidir ? 2 : 1) * c->H; j++) {
                CHECK(p.y[((size_t)n * c->T + (size_t)t) * (c->bidir ? 2 : 1) * c->H + j] == 0.0);
            }
        }
    }
    dprob_free(&p);
}

static void test_reference_gradients_match_finite_differences(void)
{
    static const int len_a[4] = { 5, 0, 3, 1 }, len_b[4] = { 3, 5, 0, 2 };
    test_rng_seed(11);
    const cfg cases[] = {
        // cell I  H  L  N  T  bidir  h0    lengths training dropout
        { GRU, 3, 4, 1, 4, 5, false, true, len_a, false, 0 },
        { LSTM, 3, 4, 1, 4, 5, false, true, len_a, false, 0 },
        { GRU, 3, 4, 2, 4, 5, false, false, len_b, false, 0 },
        { LSTM, 3, 3, 2, 4, 5, false, true, len_b, false, 0 },
        { GRU, 2, 3, 1, 4, 5, true, true, NULL, false, 0 },
        { GRU, 3, 3, 2, 4, 5, true, true, len_a, false, 0 },
        // dropout between the layers (a fixed mask for a fixed seed: differentiable)
        { LSTM, 3, 3, 2, 4, 5, true, true, len_b, true, 0.4f },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_reference_gradients(&cases[i]);
    }
}

// ---- the fast path against the reference ----

// Run c on both backends (same weights, inputs and seed; the fast one on n_threads threads);
// the worst relative error.
static double fast_vs_ref(const cfg *c, int n_threads)
{
    batch bf, br;
    dfd_rnn *rf, *rr = NULL;
    double worst = (double)INFINITY;
    memset(&br, 0, sizeof br);
    if (setup(&rf, &bf, c, DFD_BACKEND_FAST, n_threads) || setup(&rr, &br, c, DFD_BACKEND_REF, 1)) {
        goto done;
    }
    dfd_tensor *src[] = { &bf.x, &bf.h0, &bf.c0, &bf.dy, &bf.dh_n, &bf.dc_n };
    dfd_tensor *dst[] = { &br.x, &br.h0, &br.c0, &br.dy, &br.dh_n, &br.dc_n };
    for (size_t i = 0; i < 6; i++) {
        memcpy(dst[i]->data, src[i]->data, dfd_tensor_numel(src[i]) * sizeof(float));
    }
    if (run_both(rf, &bf, 99) || run_both(rr, &br, 99)) {
        goto done;
    }
    bool lstm = is_lstm(&bf);
    worst = fmax(rel_err_t(&bf.y, &br.y), rel_err_t(&bf.h_n, &br.h_n));
    worst = fmax(worst, rel_err_t(&bf.dx, &br.dx));
    if (lstm) {
        worst = fmax(worst, rel_err_t(&bf.c_n, &br.c_n));
    }
    if (c->h0) {
        worst = fmax(worst, rel_err_t(&bf.dh0, &br.dh0));
        worst = fmax(worst, lstm ? rel_err_t(&bf.dc0, &br.dc0) : 0);
    }
    size_t np;
    dfd_param *pf = dfd_rnn_params(rf, &np), *pr = dfd_rnn_params(rr, &np);
    for (size_t i = 0; i < np; i++) {
        worst = fmax(worst, rel_err(pf[i].grad, pr[i].grad, dfd_param_numel(&pf[i])));
    }
done:
    batch_free(&bf);
    batch_free(&br);
    dfd_rnn_free(rf);
    dfd_rnn_free(rr);
    return worst;
}

static void test_fast_path_matches_reference(void)
{
    test_rng_seed(5);
    for (int trial = 0; trial < 24; trial++) {
        int lengths[8];
        cfg c = { .cell = trial % 2 ? LSTM : GRU,
                  .L = 1 + (trial / 2) % 3,
                  .bidir = (trial / 6) % 2 == 1,
                  .h0 = trial % 3 != 0,
                  .lengths = trial % 5 == 4 ? NULL : lengths,
                  .training = trial % 4 == 3,
                  .dropout = trial % 4 == 3 ? 0.3f : 0.0f };
        c.I = test_rand_int(1, 12); // one statement each: the draws stay in this order
        c.H = test_rand_int(1, 11);
        c.N = test_rand_int(1, 8);
        c.T = test_rand_int(1, 9);
        for (int n = 0; n < c.N; n++) { // include 0 and T
            lengths[n] = n == 0 ? c.T : n == 1 ? 0 : test_rand_int(0, c.T);
        }
        double e = fast_vs_ref(&c, 1);
        if (!(e < 1e-5)) {
            printf("    trial %d: %s I%d H%d L%d D%d N%d T%d: %.2e\n", trial,
                   c.cell ? "LSTM" : "GRU", c.I, c.H, c.L, c.bidir ? 2 : 1, c.N, c.T, e);
        }
        CHECK(e < 1e-5);
    }
    // Larger, on two threads: blocked GEMMs, and (N * H >= 8192 state elements per step) the
    // cell loops split across threads.
    int lengths[33];
    for (int n = 0; n < 33; n++) {
        lengths[n] = 1 + (n * 7) % 10;
    }
    const cfg big[2] = { { GRU, 16, 256, 1, 33, 10, true, true, lengths, false, 0 },
                         { LSTM, 40, 64, 2, 33, 10, true, true, lengths, true, 0.2f } };
    for (int i = 0; i < 2; i++) {
        double e = fast_vs_ref(&big[i], 2);
        printf("    %s %d->%d x%d bidirectional, 33 x 10, two threads: %.2e\n", i ? "LSTM" : "GRU",
               big[i].I, big[i].H, big[i].L, e);
        CHECK(e < 1e-5);
    }
}

// ---- masks ----

static void test_zero_length_sequences_keep_their_initial_state(void)
{
    static const int lengths[3] = { 0, 4, 0 };
    test_rng_seed(3);
    for (int cell = 0; cell < 2; cell++) {
        const cfg c = { (dfd_rnn_cell)cell, 3, 5, 2, 3, 4, true, true, lengths, false, 0 };
        batch b;
        dfd_rnn *r;
        dfd_status st = setup(&r, &b, &c, DFD_BACKEND_FAST, 1);
        st = st ? st : run_both(r, &b, 1);
        if (st) {
            batch_free(&b);
            dfd_rnn_free(r);
            CHECK_OK(st);
        }
        const int H = c.H, DH = 2 * H;
        for (int ld = 0; ld < b.LD; ld++) {
            for (int n = 0; n < 3; n += 2) {
                for (int j = 0; j < H; j++) {
                    size_t k = ((size_t)ld * 3 + (size_t)n) * H + (size_t)j;
                    CHECK(b.h_n.data[k] == b.h0.data[k]);
                    CHECK(b.dh0.data[k] == b.dh_n.data[k]);
                    if (cell == DFD_RNN_LSTM) {
                        CHECK(b.c_n.data[k] == b.c0.data[k]);
                        CHECK(b.dc0.data[k] == b.dc_n.data[k]);
                    }
                }
            }
        }
        for (int n = 0; n < 3; n += 2) {
            for (int e = 0; e < c.T * DH; e++) {
                CHECK(b.y.data[(size_t)n * c.T * DH + (size_t)e] == 0.0f);
            }
            for (int e = 0; e < c.T * c.I; e++) {
                CHECK(b.dx.data[(size_t)n * c.T * c.I + (size_t)e] == 0.0f);
            }
        }
        size_t np;
        dfd_param *p = dfd_rnn_params(r, &np);
        for (size_t i = 0; i < np; i++) {
            for (size_t e = 0; e < dfd_param_numel(&p[i]); e++) {
                CHECK(isfinite(p[i].grad[e]));
            }
        }
        // Every sequence empty: nothing moves, nothing is NaN.
        static const int none[3] = { 0, 0, 0 };
        b.c.lengths = none;
        CHECK_OK(run_both(r, &b, 1));
        CHECK(memcmp(b.h_n.data, b.h0.data, dfd_tensor_numel(&b.h0) * sizeof(float)) == 0);
        CHECK(memcmp(b.dh0.data, b.dh_n.data, dfd_tensor_numel(&b.h0) * sizeof(float)) == 0);
        for (size_t i = 0; i < np; i++) {
            for (size_t e = 0; e < dfd_param_numel(&p[i]); e++) {
                CHECK(p[i].grad[e] == 0.0f);
            }
        }
        batch_free(&b);
        dfd_rnn_free(r);
    }
}

// Values at padded steps of x (finite ones) change nothing, bit for bit.
static void test_padded_steps_are_ignored(void)
{
    static const int lengths[4] = { 2, 6, 0, 5 };
    test_rng_seed(4);
    const cfg c = { LSTM, 6, 7, 2, 4, 6, true, true, lengths, false, 0 };
    batch b;
    dfd_rnn *r;
    float *y0 = NULL, *g0 = NULL;
    size_t np, ny;
    if (setup(&r, &b, &c, DFD_BACKEND_FAST, 1)) {
        goto done;
    }
    dfd_param *p = dfd_rnn_params(r, &np);
    ny = dfd_tensor_numel(&b.y);
    y0 = dfd_malloc(ny * sizeof *y0);
    g0 = dfd_malloc(dfd_param_numel(&p[0]) * sizeof *g0);
    if (!y0 || !g0 || run_both(r, &b, 0)) {
        goto done;
    }
    memcpy(y0, b.y.data, ny * sizeof *y0);
    memcpy(g0, p[0].grad, dfd_param_numel(&p[0]) * sizeof *g0);
    for (int n = 0; n < c.N; n++) {
        for (int t = lengths[n]; t < c.T; t++) {
            for (int i = 0; i < c.I; i++) {
                b.x.data[((size_t)n * c.T + (size_t)t) * c.I + (size_t)i] = 1e3f * (float)(i + 1);
            }
        }
    }
    CHECK_OK(run_both(r, &b, 0));
    CHECK(memcmp(y0, b.y.data, ny * sizeof *y0) == 0);
    CHECK(memcmp(g0, p[0].grad, dfd_param_numel(&p[0]) * sizeof *g0) == 0);
done:
    CHECK(y0 && g0);
    dfd_free(y0);
    dfd_free(g0);
    batch_free(&b);
    dfd_rnn_free(r);
}

// ---- dropout, training mode, determinism ----

// y and every parameter gradient of one training step, as one float array (caller frees).
static float *step_result(const cfg *c, uint64_t seed, bool training, int n_threads, size_t *n)
{
    batch b;
    dfd_rnn *r;
    float *out = NULL;
    test_rng_seed(21);
    cfg k = *c;
    k.training = training;
    if (setup(&r, &b, &k, DFD_BACKEND_FAST, n_threads) || run_both(r, &b, seed)) {
        goto done;
    }
    size_t np, total = dfd_tensor_numel(&b.y) + dfd_tensor_numel(&b.dx);
    dfd_param *p = dfd_rnn_params(r, &np);
    for (size_t i = 0; i < np; i++) {
        total += dfd_param_numel(&p[i]);
    }
    out = dfd_malloc(total * sizeof *out);
    if (out) {
        float *w = out;
        memcpy(w, b.y.data, dfd_tensor_numel(&b.y) * sizeof *w);
        w += dfd_tensor_numel(&b.y);
        memcpy(w, b.dx.data, dfd_tensor_numel(&b.dx) * sizeof *w);
        w += dfd_tensor_numel(&b.dx);
        for (size_t i = 0; i < np; i++) {
            memcpy(w, p[i].grad, dfd_param_numel(&p[i]) * sizeof *w);
            w += dfd_param_numel(&p[i]);
        }
        *n = total;
    }
done:
    batch_free(&b);
    dfd_rnn_free(r);
    return out;
}

static void test_dropout_is_seeded_and_deterministic(void)
{
    static const int lengths[6] = { 12, 3, 12, 0, 7, 9 };
    const cfg c = { GRU, 40, 64, 3, 6, 12, true, true, lengths, false, 0.5f };
    size_t n[6] = { 0 };
    float *a = step_result(&c, 1234, true, 1, &n[0]);
    float *b = step_result(&c, 1234, true, 1, &n[1]);
    float *d = step_result(&c, 1235, true, 1, &n[2]);
    float *e = step_result(&c, 1234, false, 1, &n[3]);
    float *f = step_result(&c, 999, false, 1, &n[4]);
    float *g = step_result(&c, 1234, true, 2, &n[5]);
    REQUIRE(a && b && d && e && f && g);
    CHECK(memcmp(a, b, n[0] * sizeof *a) == 0); // same seed: bit for bit
    CHECK(memcmp(a, d, n[0] * sizeof *a) != 0); // another seed: other masks
    CHECK(memcmp(a, e, n[0] * sizeof *a) != 0); // training differs from inference
    CHECK(memcmp(e, f, n[0] * sizeof *a) == 0); // inference ignores the seed
    // Two threads: the masks are the same; GEMM blocking may round differently.
    printf("    two threads vs one: %s (rel. error %.2e)\n",
           memcmp(a, g, n[0] * sizeof *a) == 0 ? "identical" : "differ", rel_err(g, a, n[0]));
    CHECK(rel_err(g, a, n[0]) < 1e-5);
    dfd_free(a);
    dfd_free(b);
    dfd_free(d);
    dfd_free(e);
    dfd_free(f);
    dfd_free(g);
    // About the requested fraction of the mask is dropped, each kept element scaled by 1/(1-p).
    size_t dropped = 0, total = 100000;
    for (size_t i = 0; i < total; i++) {
        float s = rnn_dropout_scale(77, 1, i, 0.3f);
        dropped += s == 0.0f;
        CHECK(s == 0.0f || s == 1.0f / 0.7f);
    }
    CHECK_NEAR((double)dropped / (double)total, 0.3, 0.01);
}

// ---- gradient bookkeeping ----

static void test_frozen_parameters_are_skipped_and_gradients_accumulate(void)
{
    static const int lengths[3] = { 5, 2, 4 };
    test_rng_seed(8);
    const cfg c = { LSTM, 4, 6, 2, 3, 5, true, true, lengths, false, 0 };
    batch b;
    dfd_rnn *r;
    float *once = NULL;
    if (setup(&r, &b, &c, DFD_BACKEND_FAST, 1) || run_both(r, &b, 0)) {
        goto done;
    }
    size_t np;
    dfd_param *p = dfd_rnn_params(r, &np);
    // One backward's gradients (and dx), then freeze two parameters and run backward twice more.
    size_t nw = (size_t)(p[np - 1].grad + dfd_param_numel(&p[np - 1]) - p[0].grad);
    size_t nx = dfd_tensor_numel(&b.dx);
    once = dfd_malloc((nw + nx) * sizeof *once);
    if (!once) {
        goto done;
    }
    memcpy(once, p[0].grad, nw * sizeof *once);
    memcpy(once + nw, b.dx.data, nx * sizeof *once);
    p[0].frozen = true; // weight_ih_l0
    p[7].frozen = true; // bias_hh_l0_reverse
    for (size_t e = 0; e < dfd_param_numel(&p[0]); e++) {
        p[0].grad[e] = 7.0f;
    }
    for (size_t e = 0; e < dfd_param_numel(&p[7]); e++) {
        p[7].grad[e] = 7.0f;
    }
    for (int k = 0; k < 2; k++) {
        CHECK_OK(dfd_rnn_backward(&b.dx, NULL, NULL, r, &b.dy, &b.dh_n, &b.dc_n, NULL));
    }
    for (size_t i = 0; i < np; i++) {
        size_t off = (size_t)(p[i].grad - p[0].grad);
        for (size_t e = 0; e < dfd_param_numel(&p[i]); e++) {
            float want = p[i].frozen ? 7.0f : 3.0f * once[off + e]; // g + g + g, exactly
            CHECK(p[i].grad[e] == want);
        }
    }
    // dx sums both directions inside the GEMMs: three passes round differently from 3 x one.
    for (size_t e = 0; e < nx; e++) {
        CHECK_NEAR(b.dx.data[e], 3.0f * once[nw + e], 1e-6);
    }
done:
    CHECK(once != NULL);
    dfd_free(once);
    batch_free(&b);
    dfd_rnn_free(r);
}

// ---- a training loop: the layer as a temporal head ----

// Order task: two pulses at random steps within a sequence's length, channel 0 then channel 1
// (class 1) or channel 1 then channel 0 (class 0), over noise; padded steps hold large garbage
// that the masks must hide. x: [N, T, 2]; labels and lengths [N].
static void order_task(float *x, float *label, int *lengths, int N, int T)
{
    for (int n = 0; n < N; n++) {
        int len = test_rand_int(T / 2, T), t1 = test_rand_int(0, len - 2);
        int t2 = test_rand_int(t1 + 1, len - 1);
        label[n] = (float)(n % 2);
        lengths[n] = len;
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < 2; i++) {
                x[((size_t)n * T + (size_t)t) * 2 + (size_t)i] =
                    t < len ? 0.1f * test_rand() : 5.0f * test_rand();
            }
        }
        x[((size_t)n * T + (size_t)t1) * 2 + (n % 2 ? 0 : 1)] += 1.0f;
        x[((size_t)n * T + (size_t)t2) * 2 + (n % 2 ? 1 : 0)] += 1.0f;
    }
}

// One array an optimiser updates, with Adam's moments.
typedef struct trainable {
    float *v, *g, *m, *s;
    size_t n;
} trainable;

// Adam (lr 0.03, betas 0.9 / 0.999, eps 1e-8) at step k >= 1; gradients cleared after.
static void adam_step(trainable *p, size_t n_p, int k)
{
    const double c1 = 1.0 - pow(0.9, k), c2 = 1.0 - pow(0.999, k);
    for (size_t q = 0; q < n_p; q++) {
        for (size_t e = 0; e < p[q].n; e++) {
            float g = p[q].g[e];
            p[q].m[e] = 0.9f * p[q].m[e] + 0.1f * g;
            p[q].s[e] = 0.999f * p[q].s[e] + 0.001f * g * g;
            double mh = (double)p[q].m[e] / c1, sh = (double)p[q].s[e] / c2;
            p[q].v[e] -= (float)(0.03 * mh / (sqrt(sh) + 1e-8));
            p[q].g[e] = 0.0f;
        }
    }
}

// The detector's shape in miniature: per-step features (x scaled by a learnt per-channel gain,
// standing in for the backbone, trained through dx) -> GRU -> final state at each sequence's
// true length -> logit -> binary cross-entropy. Full-batch Adam; then accuracy on new data.
static void test_gru_head_learns_an_order_task_through_the_public_api(void)
{
    enum {
        N = 32,
        T = 12,
        H = 8,
        STEPS = 300
    };
    const cfg c = { GRU, 2, H, 1, N, T, false, false, NULL, false, 0 };
    batch b;
    dfd_rnn *r;
    float label[N], gain[2] = { 0.5f, 0.5f }, w[H], bias = 0;
    float g_gain[2] = { 0 }, g_w[H] = { 0 }, g_bias = 0, raw[N * T * 2];
    float mom[2][2 + H + 1] = { { 0 } };
    int lengths[N];
    test_rng_seed(17);
    REQUIRE(setup(&r, &b, &c, DFD_BACKEND_FAST, 1) == DFD_OK);
    for (int j = 0; j < H; j++) {
        w[j] = 0.3f * test_rand();
    }
    size_t np, total = 0;
    dfd_param *p = dfd_rnn_params(r, &np);
    for (size_t i = 0; i < np; i++) {
        total += dfd_param_numel(&p[i]);
    }
    trainable t[4 + 3];
    float *moments = dfd_calloc(2 * total, sizeof(float));
    size_t off = 0;
    for (size_t i = 0; i < np && moments; i++) {
        size_t n = dfd_param_numel(&p[i]);
        t[i] = (trainable){ p[i].value, p[i].grad, moments + off, moments + off + n, n };
        off += 2 * n;
    }
    t[np] = (trainable){ gain, g_gain, mom[0], mom[1], 2 };
    t[np + 1] = (trainable){ w, g_w, mom[0] + 2, mom[1] + 2, H };
    t[np + 2] = (trainable){ &bias, &g_bias, mom[0] + 2 + H, mom[1] + 2 + H, 1 };
    double first = 0, loss = 0;
    for (int k = 1; moments && k <= STEPS; k++) {
        if (k == 1) {
            order_task(raw, label, lengths, N, T);
        }
        for (size_t e = 0; e < (size_t)N * T * 2; e++) {
            b.x.data[e] = gain[e % 2] * raw[e];
        }
        memset(b.dx.data, 0, sizeof raw);
        CHECK_OK(dfd_rnn_forward(&b.y, &b.h_n, NULL, r, &b.x, lengths, NULL, NULL, 0, NULL));
        loss = 0;
        for (int n = 0; n < N; n++) { // BCE with logits; d logit = sigmoid - label
            const float *h = b.h_n.data + (size_t)n * H;
            double z = (double)bias;
            for (int j = 0; j < H; j++) {
                z += (double)(w[j] * h[j]);
            }
            loss += (fmax(z, 0) - z * (double)label[n] + log1p(exp(-fabs(z)))) / N;
            float dz = (float)((1.0 / (1.0 + exp(-z)) - (double)label[n]) / N);
            g_bias += dz;
            for (int j = 0; j < H; j++) {
                g_w[j] += dz * h[j];
                b.dh_n.data[(size_t)n * H + (size_t)j] = dz * w[j];
            }
        }
        first = k == 1 ? loss : first;
        CHECK_OK(dfd_rnn_backward(&b.dx, NULL, NULL, r, NULL, &b.dh_n, NULL, NULL));
        for (size_t e = 0; e < (size_t)N * T * 2; e++) { // into the "backbone"
            g_gain[e % 2] += b.dx.data[e] * raw[e];
        }
        adam_step(t, np + 3, k);
    }
    // New sequences: the rule must have been learnt, not the training set.
    order_task(raw, label, lengths, N, T);
    int right = 0;
    for (size_t e = 0; e < (size_t)N * T * 2; e++) {
        b.x.data[e] = gain[e % 2] * raw[e];
    }
    CHECK_OK(dfd_rnn_forward(&b.y, &b.h_n, NULL, r, &b.x, lengths, NULL, NULL, 0, NULL));
    for (int n = 0; n < N; n++) {
        double z = (double)bias;
        for (int j = 0; j < H; j++) {
            z += (double)(w[j] * b.h_n.data[(size_t)n * H + (size_t)j]);
        }
        right += (z > 0) == (label[n] > 0.5f);
    }
    printf("    loss %.3f -> %.4f after %d steps, held-out accuracy %d/%d, input gains %.2f %.2f\n",
           first, loss, STEPS, right, N, (double)gain[0], (double)gain[1]);
    CHECK(moments != NULL);
    CHECK(loss < 0.1 * first);
    CHECK(right >= N * 95 / 100);
    CHECK(gain[0] != 0.5f && gain[1] != 0.5f); // the gradient reached the "backbone"
    dfd_free(moments);
    batch_free(&b);
    dfd_rnn_free(r);
}

// ---- errors ----

static void test_invalid_arguments_are_rejected(void)
{
    dfd_rnn_opts o = dfd_rnn_opts_default();
    dfd_rnn *r = NULL;
    dfd_error err;
    o.input_size = 4;
    o.hidden_size = 0;
    CHECK(dfd_rnn_create(&r, &o, &err) == DFD_ERR_INVALID && !r);
    CHECK_STR_CONTAINS(err.msg, "hidden_size");
    o.hidden_size = 3;
    o.dropout = 1.0f;
    CHECK(dfd_rnn_create(&r, &o, &err) == DFD_ERR_INVALID);
    o.dropout = 0.0f;
    o.input_size = 65536;
    o.hidden_size = 8192;
    o.n_layers = 16;
    o.bidirectional = true;
    CHECK(dfd_rnn_create(&r, &o, &err) == DFD_ERR_LIMIT);
    o = dfd_rnn_opts_default();
    o.input_size = 4;
    o.hidden_size = 3;
    CHECK_OK(dfd_rnn_create(&r, &o, &err));
    dfd_tensor x, y, bad, h;
    int xs[3] = { 2, 5, 4 }, ys[3] = { 2, 5, 3 }, bs[3] = { 2, 5, 5 }, hs[3] = { 1, 2, 3 };
    CHECK_OK(dfd_tensor_alloc(&x, 3, xs));
    CHECK_OK(dfd_tensor_alloc(&y, 3, ys));
    CHECK_OK(dfd_tensor_alloc(&bad, 3, bs));
    CHECK_OK(dfd_tensor_alloc(&h, 3, hs));
    CHECK(dfd_rnn_backward(NULL, NULL, NULL, r, &y, NULL, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "without a forward");
    CHECK(dfd_rnn_forward(&y, NULL, NULL, r, &bad, NULL, NULL, NULL, 0, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "x must be");
    CHECK(dfd_rnn_forward(&bad, NULL, NULL, r, &x, NULL, NULL, NULL, 0, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "y must be [2, 5, 3], got [2, 5, 5]");
    CHECK(dfd_rnn_forward(&y, &h, &h, r, &x, NULL, NULL, NULL, 0, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "c_n given to a GRU");
    CHECK(dfd_rnn_forward(&y, &bad, NULL, r, &x, NULL, NULL, NULL, 0, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "h_n must be");
    int lengths[2] = { 5, 6 };
    CHECK(dfd_rnn_forward(&y, NULL, NULL, r, &x, lengths, NULL, NULL, 0, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "lengths[1] = 6");
    CHECK_OK(dfd_rnn_forward(&y, NULL, NULL, r, &x, NULL, &h, NULL, 0, &err));
    CHECK(dfd_rnn_backward(&y, NULL, NULL, r, &y, NULL, NULL, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "dx must be");
    CHECK_OK(dfd_rnn_backward(&x, &h, NULL, r, &y, &h, NULL, &err));
    dfd_tensor_free(&x);
    dfd_tensor_free(&y);
    dfd_tensor_free(&bad);
    dfd_tensor_free(&h);
    dfd_rnn_free(r);
}

// Every allocation of create, forward and backward failing in turn: a clean error, no leak.
static void test_out_of_memory_is_reported_cleanly(void)
{
    static const int lengths[3] = { 3, 1, 0 };
    for (int backend = 0; backend < 2; backend++) {
        const cfg c = { LSTM, 3, 4, 2, 3, 3, true, true, lengths, true, 0.2f };
        batch b;
        test_rng_seed(1);
        if (batch_make(&b, &c)) {
            batch_free(&b);
            CHECK_OK(DFD_ERR_NOMEM);
        }
        size_t before = dfd_alloc_bytes_in_use();
        bool finished = false;
        for (long k = 0; k < 200 && !finished; k++) {
            dfd_rnn *r = NULL;
            dfd_rnn_opts o = opts_of(&c, backend ? DFD_BACKEND_REF : DFD_BACKEND_FAST);
            dfd_alloc_fail_after(k);
            dfd_status st = dfd_rnn_create(&r, &o, NULL);
            if (!st) {
                st = run_both(r, &b, 3);
            }
            dfd_alloc_fail_after(-1);
            CHECK(st == DFD_OK || st == DFD_ERR_NOMEM);
            finished = st == DFD_OK;
            dfd_rnn_free(r);
            CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
        }
        CHECK(finished);
        batch_free(&b);
    }
}

DFD_TEST_MAIN({ "parameters_have_pytorch_names_shapes_and_init",
                test_parameters_have_pytorch_names_shapes_and_init },
              { "activations_match_libm", test_activations_match_libm },
              { "reference_gradients_match_finite_differences",
                test_reference_gradients_match_finite_differences },
              { "fast_path_matches_reference", test_fast_path_matches_reference },
              { "zero_length_sequences_keep_their_initial_state",
                test_zero_length_sequences_keep_their_initial_state },
              { "padded_steps_are_ignored", test_padded_steps_are_ignored },
              { "dropout_is_seeded_and_deterministic", test_dropout_is_seeded_and_deterministic },
              { "frozen_parameters_are_skipped_and_gradients_accumulate",
                test_frozen_parameters_are_skipped_and_gradients_accumulate },
              { "gru_head_learns_an_order_task_through_the_public_api",
                test_gru_head_learns_an_order_task_through_the_public_api },
              { "invalid_arguments_are_rejected", test_invalid_arguments_are_rejected },
              { "out_of_memory_is_reported_cleanly", test_out_of_memory_is_reported_cleanly })
