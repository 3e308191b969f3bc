// detect/head: gradients against central differences (GRU and BiLSTM, padded sequences,
// dropout on), and a head that must learn what only a sequence shows: a flicker that no single
// frame reveals.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/detect/head.h"
#include "dfdetect/nn/loss.h"
#include "dfdetect/nn/optim.h"
#include "test.h"

enum {
    GN = 3,
    GT = 4,
    GIN = 6
};
static const int G_LENGTHS[GN] = { 4, 2, 3 };

// L = sum rf * f (valid steps) + sum rs * s, in double.
static double head_loss(dfd_head *h, const float *x, const float *rf, const float *rs)
{
    float f[GN * GT], s[GN];
    dfd_error err;
    if (dfd_head_forward(h, f, s, x, G_LENGTHS, GN, GT, 99, &err)) {
        return NAN;
    }
    double l = 0;
    for (int i = 0; i < GN * GT; i++) {
        l += (double)rf[i] * (double)f[i];
    }
    for (int i = 0; i < GN; i++) {
        l += (double)rs[i] * (double)s[i];
    }
    return l;
}

static double numeric(float *v, dfd_head *h, const float *x, const float *rf, const float *rs)
{
    const float eps = 2e-3f, keep = *v;
    *v = keep + eps;
    double up = head_loss(h, x, rf, rs);
    *v = keep - eps;
    double down = head_loss(h, x, rf, rs);
    *v = keep;
    return (up - down) / (2 * (double)eps);
}

static void check_gradients(const char *arch, float input_dropout)
{
    dfd_head_opts o = dfd_head_opts_default();
    o.input_dim = GIN;
    o.frame_hidden = 5;
    o.hidden = 3;
    o.dropout = 0.25f;
    o.input_dropout = input_dropout;
    o.n_threads = 1;
    REQUIRE(dfd_head_arch_parse(&o, arch) == DFD_OK);
    dfd_head *h;
    dfd_error err;
    REQUIRE(dfd_head_create(&h, &o, &err) == DFD_OK);
    float mean[GIN], std[GIN];
    for (int i = 0; i < GIN; i++) {
        mean[i] = 0.1f * (float)i;
        std[i] = 0.5f + 0.2f * (float)i;
    }
    dfd_head_set_norm(h, mean, std);
    dfd_head_set_training(h, true); // the masks depend on the seed only: same in every run
    float x[GN * GT * GIN], rf[GN * GT], rs[GN], dx[GN * GT * GIN] = { 0 };
    for (int i = 0; i < GN * GT * GIN; i++) {
        x[i] = (float)sin(0.37 * i + 0.1) + 0.1f * (float)(i % GIN);
    }
    for (int i = 0; i < GN * GT; i++) {
        rf[i] = (float)cos(0.9 * i);
    }
    for (int i = 0; i < GN; i++) {
        rs[i] = 1.f - 0.7f * (float)i;
    }
    float f[GN * GT], s[GN];
    CHECK_OK(dfd_head_forward(h, f, s, x, G_LENGTHS, GN, GT, 99, &err));
    CHECK(f[1 * GT + 3] == 0 && f[2 * GT + 3] == 0); // past the lengths
    CHECK_OK(dfd_head_backward(h, dx, rf, rs, &err));
    size_t np;
    dfd_param *const *ps = dfd_head_params(h, &np);
    double worst = 0;
    size_t checked = 0;
    for (size_t k = 0; k < np; k++) {
        const dfd_param *p = ps[k];
        size_t m = dfd_param_numel(p);
        for (size_t i = 0; i < m; i++) {
            if (p->frozen) {
                CHECK(p->grad[i] == 0);
                continue;
            }
            double num = numeric(&p->value[i], h, x, rf, rs);
            worst = fmax(worst, fabs(num - (double)p->grad[i]) / (1e-2 + fabs(num)));
            checked++;
        }
    }
    for (int i = 0; i < GN * GT * GIN; i++) {
        double num = numeric(&x[i], h, x, rf, rs);
        worst = fmax(worst, fabs(num - (double)dx[i]) / (1e-2 + fabs(num)));
    }
    if (worst >= 2e-2) {
        fprintf(stderr, "    %s: worst relative gradient error %.3g over %zu parameters\n", arch,
                worst, checked);
    }
    CHECK(worst < 2e-2);
    CHECK(checked > 100);
    dfd_head_free(h);
}

static void test_gradients_gru(void)
{
    check_gradients("gru", 0.3f); // input dropout too
}

static void test_gradients_bilstm(void)
{
    check_gradients("bilstm", 0);
}

static void test_invalid(void)
{
    dfd_head_opts o = dfd_head_opts_default();
    dfd_head *h;
    dfd_error err;
    CHECK(dfd_head_arch_parse(&o, "transformer") == DFD_ERR_INVALID);
    o.dropout = 1;
    CHECK(dfd_head_create(&h, &o, &err) == DFD_ERR_INVALID);
    o = dfd_head_opts_default();
    o.input_dropout = -0.1f;
    CHECK(dfd_head_create(&h, &o, &err) == DFD_ERR_INVALID);
    o = dfd_head_opts_default();
    o.input_dim = 4;
    o.frame_hidden = 4;
    o.hidden = 2;
    REQUIRE(dfd_head_create(&h, &o, &err) == DFD_OK);
    float x[8] = { 0 }, s[1];
    const int bad = 3;
    CHECK(dfd_head_forward(h, NULL, s, x, &bad, 1, 2, 0, &err) == DFD_ERR_INVALID);
    CHECK(dfd_head_backward(h, NULL, NULL, s, &err) == DFD_ERR_INVALID);
    CHECK_EQ_INT(strcmp(dfd_head_arch_name(&o), "gru"), 0);
    dfd_head_free(h);
}

// xorshift64* in [0, 1)
static double uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

enum {
    LN = 64,
    LT = 8,
    LIN = 8
};

// Sequences whose every frame has the same distribution in both classes: feature 0 is +1 or -1
// with equal odds. In a real sequence it keeps its sign; in a fake one it flips at every step.
static void make_flicker(float *x, float *y, uint64_t *s)
{
    for (int n = 0; n < LN; n++) {
        bool fake = n % 2;
        float sign = uniform(s) < 0.5 ? -1.f : 1.f;
        y[n] = fake ? 1.f : 0.f;
        for (int t = 0; t < LT; t++) {
            float *v = x + ((size_t)n * LT + (size_t)t) * LIN;
            for (int i = 0; i < LIN; i++) {
                v[i] = (float)(uniform(s) - 0.5) * 0.2f;
            }
            v[0] = fake && t % 2 ? -sign : sign;
        }
    }
}

static double accuracy(const float *logit, const float *y, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        ok += (logit[i] > 0) == (y[i] > 0.5f);
    }
    return (double)ok / n;
}

static void test_learns_flicker(void)
{
    dfd_head_opts o = dfd_head_opts_default();
    o.input_dim = LIN;
    o.frame_hidden = 16;
    o.hidden = 16;
    o.dropout = 0.1f;
    o.n_threads = 1;
    dfd_head *h;
    dfd_error err;
    REQUIRE(dfd_head_create(&h, &o, &err) == DFD_OK);
    size_t np;
    dfd_param *const *ps = dfd_head_params(h, &np);
    dfd_optim_opts oo = dfd_optim_opts_default(DFD_OPTIM_ADAM);
    oo.lr = 1e-2f;
    dfd_optim *opt;
    REQUIRE(dfd_optim_create(&opt, ps, np, &oo, &err) == DFD_OK);
    static float x[LN * LT * LIN], f[LN * LT], df[LN * LT], ft[LN * LT];
    float y[LN], s[LN], ds[LN];
    int len[LN];
    for (int i = 0; i < LN; i++) {
        len[i] = LT - i % 3; // padded sequences too
    }
    uint64_t rng = 7;
    for (int step = 0; step < 150; step++) {
        make_flicker(x, y, &rng);
        dfd_head_set_training(h, true);
        REQUIRE(dfd_head_forward(h, f, s, x, len, LN, LT, (uint64_t)step, &err) == DFD_OK);
        dfd_loss_bce_logits(ds, s, y, LN, 1, NULL);
        dfd_params_zero_grad(ps, np);
        REQUIRE(dfd_head_backward(h, NULL, NULL, ds, &err) == DFD_OK);
        dfd_optim_step(opt, NULL);
    }
    // Held-out sequences: the sequence logit separates them, while the frame logits (trained
    // for a few steps on frame labels) cannot do better than chance on a single frame.
    make_flicker(x, y, &rng);
    dfd_head_set_training(h, false);
    REQUIRE(dfd_head_forward(h, f, s, x, len, LN, LT, 0, &err) == DFD_OK);
    double seq_acc = accuracy(s, y, LN);
    for (int i = 0; i < LN * LT; i++) {
        ft[i] = y[i / LT];
    }
    for (int step = 0; step < 100; step++) {
        dfd_head_set_training(h, true);
        REQUIRE(dfd_head_forward(h, f, s, x, len, LN, LT, (uint64_t)step, &err) == DFD_OK);
        dfd_loss_bce_logits(df, f, ft, LN * LT, 1, NULL);
        dfd_params_zero_grad(ps, np);
        REQUIRE(dfd_head_backward(h, NULL, df, NULL, &err) == DFD_OK);
        dfd_optim_step(opt, NULL);
    }
    make_flicker(x, y, &rng);
    dfd_head_set_training(h, false);
    REQUIRE(dfd_head_forward(h, f, s, x, len, LN, LT, 0, &err) == DFD_OK);
    double frame_acc = accuracy(f, ft, LN * LT);
    CHECK(seq_acc >= 0.95);
    CHECK(frame_acc < 0.65);
    if (seq_acc < 0.95 || frame_acc >= 0.65) {
        fprintf(stderr, "    sequence accuracy %.3f, frame accuracy %.3f\n", seq_acc, frame_acc);
    }
    dfd_optim_destroy(opt);
    dfd_head_free(h);
}

// A sequence's outputs do not depend on the padding around it: run in a batch padded to 4 steps
// or alone at its own length, its sequence logit and frame logits are the same (the trainer
// batches sequences of one length together and relies on it).
static void test_padding_invariant(void)
{
    static const char *const archs[3] = { "gru", "lstm", "bilstm" };
    for (int a = 0; a < 3; a++) {
        dfd_head_opts o = dfd_head_opts_default();
        o.input_dim = 6;
        o.frame_hidden = 5;
        o.hidden = 4;
        o.seed = 11;
        REQUIRE(dfd_head_arch_parse(&o, archs[a]) == DFD_OK);
        dfd_head *h;
        dfd_error err;
        REQUIRE(dfd_head_create(&h, &o, &err) == DFD_OK);
        enum {
            N = 3,
            T = 4,
            D = 6
        };
        const int len[N] = { 1, 4, 2 };
        float x[N * T * D], f[N * T], sq[N];
        uint64_t r = 5;
        for (int i = 0; i < N * T * D; i++) {
            x[i] = (float)(uniform(&r) - 0.5);
        }
        CHECK_OK(dfd_head_forward(h, f, sq, x, len, N, T, 0, &err));
        for (int n = 0; n < N; n++) {
            float f1[T], s1;
            CHECK_OK(
                dfd_head_forward(h, f1, &s1, x + (size_t)n * T * D, &len[n], 1, len[n], 0, &err));
            CHECK_NEAR(s1, sq[n], 1e-5);
            for (int k = 0; k < len[n]; k++) {
                CHECK_NEAR(f1[k], f[n * T + k], 1e-5);
            }
        }
        dfd_head_free(h);
    }
}

DFD_TEST_MAIN({ "gradients_gru", test_gradients_gru },
              { "padding_invariant", test_padding_invariant },
              { "gradients_bilstm", test_gradients_bilstm }, { "invalid", test_invalid },
              { "learns_flicker", test_learns_flicker })
