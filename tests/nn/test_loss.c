// Losses (nn/loss.h): hand-computed values, gradients against central finite differences in
// double, extreme logits, masks, and PyTorch parity through tests/nn/fixtures/loss_torch.json.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/nn/loss.h"
#include "test.h"
#include "torch_fixture.h"

#define N_MAX 64

// Deterministic values in [-1, 1).
static float wave(int i, float freq)
{
    return sinf(freq * (float)i + 0.3f);
}

// ---- binary cross-entropy ----

static void test_bce_matches_hand_computed_values(void)
{
    // Mean of: x=0,t=1 -> log 2; x=2,t=0 -> log(1+e^2); x=-1,t=1 (pos weight 3) -> 3 log(1+e)
    const float x[3] = { 0.0f, 2.0f, -1.0f }, t[3] = { 1.0f, 0.0f, 1.0f };
    const float pw[1] = { 3.0f };
    dfd_bce_opts o = { .pos_weight = NULL };
    float g[3];
    float loss = dfd_loss_bce_logits(g, x, t, 3, 1, &o);
    CHECK_NEAR(loss, (log(2.0) + log1p(exp(2.0)) + log1p(exp(1.0))) / 3.0, 1e-6);
    o.pos_weight = pw;
    loss = dfd_loss_bce_logits(g, x, t, 3, 1, &o);
    CHECK_NEAR(loss, (3.0 * log(2.0) + log1p(exp(2.0)) + 3.0 * log1p(exp(1.0))) / 3.0, 1e-6);
    // d/dx: pw t (sigmoid(x) - 1) + (1 - t) sigmoid(x), over N = 3
    CHECK_NEAR(g[0], 3.0 * (0.5 - 1.0) / 3.0, 1e-7);
    CHECK_NEAR(g[1], 1.0 / (1.0 + exp(-2.0)) / 3.0, 1e-7);
    CHECK_NEAR(g[2], 3.0 * (1.0 / (1.0 + exp(1.0)) - 1.0) / 3.0, 1e-7);
    // Label smoothing 0.2: targets 1 -> 0.9, 0 -> 0.1; at x = 0 every term is log 2.
    const float z[2] = { 0.0f, 0.0f }, t2[2] = { 1.0f, 0.0f };
    o = (dfd_bce_opts){ .label_smoothing = 0.2f };
    CHECK_NEAR(dfd_loss_bce_logits(g, z, t2, 1, 2, &o), log(2.0), 1e-7);
    CHECK_NEAR(g[0], (0.5 - 0.9) / 2.0, 1e-7);
    CHECK_NEAR(g[1], (0.5 - 0.1) / 2.0, 1e-7);
}

// Largest |analytic - numeric| over every logit, relative to the largest gradient. The loss
// comes back as a float, so the central differences (h = 1/64, exact in float near these
// logits) are good to about 1e-4 of the gradient; a wrong term shows as 1e-1 or more.
typedef float (*loss_fn)(float *g, const float *x, const void *ctx, size_t n, size_t c);

static double fd_error(loss_fn f, const float *x0, const void *ctx, size_t n, size_t c)
{
    float x[N_MAX], g[N_MAX], scratch[N_MAX];
    memcpy(x, x0, n * c * sizeof *x);
    f(g, x, ctx, n, c);
    double worst = 0, scale = 1e-6;
    for (size_t i = 0; i < n * c; i++) {
        const float h = 1.0f / 64.0f;
        x[i] = x0[i] + h;
        const double up = (double)f(scratch, x, ctx, n, c);
        x[i] = x0[i] - h;
        const double down = (double)f(scratch, x, ctx, n, c);
        x[i] = x0[i];
        const double num = (up - down) / (2.0 * (double)h);
        worst = fmax(worst, fabs(num - (double)g[i]));
        scale = fmax(scale, fabs((double)g[i]));
    }
    printf("    finite differences: worst error %.2g of the largest gradient\n", worst / scale);
    return worst / scale;
}

typedef struct bce_ctx {
    const float *t;
    dfd_bce_opts o;
} bce_ctx;

static float bce_of(float *g, const float *x, const void *ctx, size_t n, size_t c)
{
    const bce_ctx *b = ctx;
    return dfd_loss_bce_logits(g, x, b->t, n, c, &b->o);
}

static void test_bce_gradient_matches_finite_differences(void)
{
    enum {
        N = 6,
        C = 3
    };
    float x[N * C], t[N * C];
    const float pw[C] = { 2.5f, 0.5f, 1.0f }, cw[C] = { 1.0f, 0.3f, 2.0f };
    const float sw[N] = { 1.0f, 0.0f, 0.5f, 2.0f, 1.0f, 0.25f };
    for (int i = 0; i < N * C; i++) {
        x[i] = 3.0f * wave(i, 1.7f);
        t[i] = i % 4 == 3 ? 0.3f : (float)(i % 2);
    }
    bce_ctx plain = { t, { 0 } };
    CHECK(fd_error(bce_of, x, &plain, N, C) < 1e-3);
    bce_ctx all = {
        t, { .pos_weight = pw, .class_weight = cw, .sample_weight = sw, .label_smoothing = 0.15f }
    };
    CHECK(fd_error(bce_of, x, &all, N, C) < 1e-3);
}

static void test_bce_is_finite_at_extreme_logits(void)
{
    const float x[4] = { 1e4f, -1e4f, -1e4f, 1e4f }, t[4] = { 1.0f, 1.0f, 0.0f, 0.0f };
    const float pw[1] = { 2.0f };
    dfd_bce_opts o = { .pos_weight = pw, .label_smoothing = 0.0f };
    float g[4];
    float loss = dfd_loss_bce_logits(g, x, t, 4, 1, &o);
    // Only the confidently wrong ones cost: pw * 1e4 (x=-1e4, t=1) and 1e4 (x=1e4, t=0).
    CHECK(isfinite(loss));
    CHECK_NEAR(loss, (2.0 * 1e4 + 1e4) / 4.0, 1e-2);
    const double expect[4] = { 0.0, -2.0 / 4.0, 0.0, 1.0 / 4.0 };
    for (int i = 0; i < 4; i++) {
        CHECK(isfinite(g[i]));
        CHECK_NEAR(g[i], expect[i], 1e-7);
    }
}

static void test_bce_masked_rows_are_left_out(void)
{
    enum {
        N = 5,
        C = 2
    };
    float x[N * C], t[N * C], g[N * C], gsub[N * C];
    for (int i = 0; i < N * C; i++) {
        x[i] = 2.0f * wave(i, 0.9f);
        t[i] = (float)(i % 3 == 0);
    }
    // Rows 1 and 3 masked: same loss as rows 0, 2, 4 alone, and zero gradient on the masked.
    const float mask[N] = { 1, 0, 1, 0, 1 };
    float xs[3 * C], ts[3 * C];
    for (int r = 0, k = 0; r < N; r += 2, k++) {
        memcpy(xs + k * C, x + r * C, C * sizeof *x);
        memcpy(ts + k * C, t + r * C, C * sizeof *t);
    }
    dfd_bce_opts o = { .sample_weight = mask };
    float loss = dfd_loss_bce_logits(g, x, t, N, C, &o);
    float sub = dfd_loss_bce_logits(gsub, xs, ts, 3, C, NULL);
    CHECK_NEAR(loss, sub, 1e-7);
    for (int j = 0; j < C; j++) {
        CHECK_EQ_INT(g[1 * C + j] == 0.0f, 1);
        CHECK_EQ_INT(g[3 * C + j] == 0.0f, 1);
        CHECK_NEAR(g[2 * C + j], gsub[1 * C + j], 1e-8);
    }
    // Everything masked: loss 0, gradient 0.
    const float none[N] = { 0 };
    o.sample_weight = none;
    CHECK_EQ_INT(dfd_loss_bce_logits(g, x, t, N, C, &o) == 0.0f, 1);
    for (int i = 0; i < N * C; i++) {
        CHECK_EQ_INT(g[i] == 0.0f, 1);
    }
}

// ---- softmax cross-entropy ----

static void test_softmax_ce_matches_hand_computed_values(void)
{
    const float x[6] = { 0, 0, 0, 1, 2, 3 };
    const int y[2] = { 0, 2 };
    float g[6];
    // Row 0: log 3. Row 1: log(e^-2 + e^-1 + 1).
    const double l0 = log(3.0), l1 = log(exp(-2.0) + exp(-1.0) + 1.0);
    CHECK_NEAR(dfd_loss_softmax_ce(g, x, y, 2, 3, NULL), (l0 + l1) / 2.0, 1e-6);
    CHECK_NEAR(g[0], (1.0 / 3.0 - 1.0) / 2.0, 1e-7);
    CHECK_NEAR(g[1], (1.0 / 3.0) / 2.0, 1e-7);
    CHECK_NEAR(g[5], (1.0 / (exp(-2.0) + exp(-1.0) + 1.0) - 1.0) / 2.0, 1e-7);
    // Class weights: torch's weighted mean, sum w[y] l / sum w[y].
    const float w[3] = { 2.0f, 1.0f, 0.5f };
    dfd_ce_opts o = { .class_weight = w };
    CHECK_NEAR(dfd_loss_softmax_ce(g, x, y, 2, 3, &o), (2.0 * l0 + 0.5 * l1) / 2.5, 1e-6);
    // Smoothing 0.3 on row 0 (uniform logits): every -log p is log 3, so the loss stays log 3.
    o = (dfd_ce_opts){ .label_smoothing = 0.3f };
    CHECK_NEAR(dfd_loss_softmax_ce(g, x, y, 1, 3, &o), l0, 1e-6);
    CHECK_NEAR(g[0], 1.0 / 3.0 - (0.7 + 0.1), 1e-7);
    CHECK_NEAR(g[1], 1.0 / 3.0 - 0.1, 1e-7);
}

typedef struct ce_ctx {
    const int *y;
    dfd_ce_opts o;
} ce_ctx;

static float ce_of(float *g, const float *x, const void *ctx, size_t n, size_t c)
{
    const ce_ctx *e = ctx;
    return dfd_loss_softmax_ce(g, x, e->y, n, c, &e->o);
}

static void test_softmax_ce_gradient_matches_finite_differences(void)
{
    enum {
        N = 5,
        C = 4
    };
    float x[N * C];
    const int y[N] = { 0, 3, 1, 1, 2 };
    const float cw[C] = { 1.0f, 2.0f, 0.5f, 3.0f }, sw[N] = { 1.0f, 0.5f, 0.0f, 2.0f, 1.0f };
    for (int i = 0; i < N * C; i++) {
        x[i] = 2.5f * wave(i, 2.3f);
    }
    ce_ctx plain = { y, { 0 } };
    CHECK(fd_error(ce_of, x, &plain, N, C) < 1e-3);
    ce_ctx all = { y, { .class_weight = cw, .sample_weight = sw, .label_smoothing = 0.1f } };
    CHECK(fd_error(ce_of, x, &all, N, C) < 1e-3);
}

static void test_softmax_ce_is_finite_at_extreme_logits(void)
{
    const float x[6] = { 1e4f, -1e4f, 0.0f, 1e4f, 1e4f, 1e4f };
    const int y[2] = { 1, 0 };
    float g[6];
    dfd_ce_opts o = { .label_smoothing = 0.1f };
    float loss = dfd_loss_softmax_ce(g, x, y, 2, 3, &o);
    // Row 0: -log p = 2e4 (label), 0 (x=1e4), 1e4 (x=0); row 1: log 3 everywhere.
    const double r0 = 0.9 * 2e4 + 0.1 / 3.0 * (0.0 + 2e4 + 1e4);
    CHECK(isfinite(loss));
    CHECK_NEAR(loss, (r0 + log(3.0)) / 2.0, 1e-2);
    for (int i = 0; i < 6; i++) {
        CHECK(isfinite(g[i]));
    }
    CHECK_NEAR(g[0], (1.0 - 0.1 / 3.0) / 2.0, 1e-7);
    CHECK_NEAR(g[1], (0.0 - 0.9 - 0.1 / 3.0) / 2.0, 1e-7);
}

// ---- PyTorch parity ----

// |a - b| <= 1e-6 |b| + 1e-12 for every element; the worst ratio goes to *worst.
static bool close_rel(const float *a, const float *b, size_t n, double *worst)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)a[i] - (double)b[i]);
        const double tol = 1e-6 * fabs((double)b[i]) + 1e-12;
        *worst = fmax(*worst, e / (fabs((double)b[i]) + 1e-30));
        ok = ok && e <= tol;
    }
    return ok;
}

static void test_losses_match_pytorch_fixtures(void)
{
    cJSON *doc = torch_fixture_load("loss_torch.json");
    REQUIRE(doc);
    const cJSON *c;
    int n_cases = 0;
    double worst = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases"))
    {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        const size_t n = (size_t)torch_fixture_num(c, "n"), k = (size_t)torch_fixture_num(c, "c");
        const float smoothing = (float)torch_fixture_num(c, "label_smoothing");
        float *x = torch_fixture_floats(c, "logits", n * k);
        float *want = torch_fixture_floats(c, "grad", n * k);
        float *cw = torch_fixture_floats(c, "class_weight", k);
        float *sw = torch_fixture_floats(c, "sample_weight", n);
        float *g = dfd_malloc(n * k * sizeof *g);
        float *t = NULL, *pw = NULL;
        int *y = NULL;
        float loss;
        if (strcmp(cJSON_GetObjectItemCaseSensitive(c, "kind")->valuestring, "bce") == 0) {
            t = torch_fixture_floats(c, "targets", n * k);
            pw = torch_fixture_floats(c, "pos_weight", k);
            dfd_bce_opts o = { pw, cw, sw, smoothing };
            loss = dfd_loss_bce_logits(g, x, t, n, k, &o);
        } else {
            y = dfd_malloc(n * sizeof *y);
            const cJSON *v;
            size_t i = 0;
            cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(c, "labels"))
            {
                y[i++] = v->valueint;
            }
            dfd_ce_opts o = { cw, sw, smoothing };
            loss = dfd_loss_softmax_ce(g, x, y, n, k, &o);
        }
        const float want_loss = (float)torch_fixture_num(c, "loss");
        if (!close_rel(&loss, &want_loss, 1, &worst) || !close_rel(g, want, n * k, &worst)) {
            DFD_TEST_FAIL_("%s: loss %.9g vs torch %.9g, or a gradient differs", name, (double)loss,
                           (double)want_loss);
        }
        n_cases++;
        dfd_free(x), dfd_free(want), dfd_free(cw), dfd_free(sw), dfd_free(g);
        dfd_free(t), dfd_free(pw), dfd_free(y);
    }
    printf("    %d torch cases, worst relative error %.2g\n", n_cases, worst);
    CHECK(n_cases >= 9);
    cJSON_Delete(doc);
}

DFD_TEST_MAIN(
    { "bce_matches_hand_computed_values", test_bce_matches_hand_computed_values },
    { "bce_gradient_matches_finite_differences", test_bce_gradient_matches_finite_differences },
    { "bce_is_finite_at_extreme_logits", test_bce_is_finite_at_extreme_logits },
    { "bce_masked_rows_are_left_out", test_bce_masked_rows_are_left_out },
    { "softmax_ce_matches_hand_computed_values", test_softmax_ce_matches_hand_computed_values },
    { "softmax_ce_gradient_matches_finite_differences",
      test_softmax_ce_gradient_matches_finite_differences },
    { "softmax_ce_is_finite_at_extreme_logits", test_softmax_ce_is_finite_at_extreme_logits },
    { "losses_match_pytorch_fixtures", test_losses_match_pytorch_fixtures })
