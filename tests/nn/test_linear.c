// nn/linear: forward against a hand-computed case, backward against central differences,
// accumulation, frozen parameters and the initialisation's range and determinism.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/nn/linear.h"
#include "test.h"

enum {
    N = 3,
    IN = 5,
    OUT = 4
};

static void test_forward_by_hand(void)
{
    dfd_linear l;
    dfd_error err;
    CHECK_OK(dfd_linear_init(&l, "head/fc", 2, 1, 7, &err));
    CHECK(strcmp(l.weight.name, "head/fc/weight") == 0 && strcmp(l.bias.name, "head/fc/bias") == 0);
    CHECK(l.weight.rank == 2 && l.weight.shape[0] == 1 && l.weight.shape[1] == 2);
    l.weight.value[0] = 2;
    l.weight.value[1] = -1;
    l.bias.value[0] = 0.5f;
    const float x[4] = { 1, 3, -2, 0.25f };
    float y[2];
    dfd_linear_forward(y, &l, x, 2);
    CHECK_NEAR(y[0], 2 - 3 + 0.5, 1e-6);
    CHECK_NEAR(y[1], -4 - 0.25 + 0.5, 1e-6);
    dfd_linear_free(&l);
}

// L = sum r * y
static double loss(const dfd_linear *l, const float *x, const float *r)
{
    float y[N * OUT];
    dfd_linear_forward(y, l, x, N);
    double s = 0;
    for (int i = 0; i < N * OUT; i++) {
        s += (double)r[i] * (double)y[i];
    }
    return s;
}

static double numeric(float *v, const dfd_linear *l, const float *x, const float *r)
{
    const float eps = 1e-2f, keep = *v;
    *v = keep + eps;
    double up = loss(l, x, r);
    *v = keep - eps;
    double down = loss(l, x, r);
    *v = keep;
    return (up - down) / (2 * (double)eps);
}

static void test_backward_finite_differences(void)
{
    dfd_linear l;
    dfd_error err;
    CHECK_OK(dfd_linear_init(&l, "fc", IN, OUT, 3, &err));
    float x[N * IN], r[N * OUT], dx[N * IN] = { 0 };
    for (int i = 0; i < N * IN; i++) {
        x[i] = (float)sin(0.7 * i + 0.3);
    }
    for (int i = 0; i < N * OUT; i++) {
        r[i] = (float)cos(1.3 * i);
    }
    dfd_linear_backward(dx, &l, x, r, N);
    double worst = 0;
    for (int i = 0; i < OUT * IN; i++) {
        worst = fmax(worst, fabs(numeric(&l.weight.value[i], &l, x, r) - (double)l.weight.grad[i]));
    }
    for (int o = 0; o < OUT; o++) {
        worst = fmax(worst, fabs(numeric(&l.bias.value[o], &l, x, r) - (double)l.bias.grad[o]));
    }
    for (int i = 0; i < N * IN; i++) {
        worst = fmax(worst, fabs(numeric(&x[i], &l, x, r) - (double)dx[i]));
    }
    CHECK(worst < 1e-4);
    // A second backward adds the same again; frozen parameters get nothing.
    float g0 = l.weight.grad[5], b0 = l.bias.grad[1];
    l.bias.frozen = true;
    dfd_linear_backward(NULL, &l, x, r, N);
    CHECK_NEAR(l.weight.grad[5], 2 * g0, 1e-5);
    CHECK_NEAR(l.bias.grad[1], b0, 0);
    dfd_linear_free(&l);
}

static void test_init_range_and_seed(void)
{
    dfd_linear a, b, c;
    dfd_error err;
    CHECK_OK(dfd_linear_init(&a, "a", 64, 8, 11, &err));
    CHECK_OK(dfd_linear_init(&b, "b", 64, 8, 11, &err));
    CHECK_OK(dfd_linear_init(&c, "c", 64, 8, 12, &err));
    CHECK(memcmp(a.weight.value, b.weight.value, 64 * 8 * sizeof(float)) == 0);
    CHECK(memcmp(a.weight.value, c.weight.value, 64 * 8 * sizeof(float)) != 0);
    float lo = 1, hi = -1;
    for (int i = 0; i < 64 * 8; i++) {
        lo = fminf(lo, a.weight.value[i]);
        hi = fmaxf(hi, a.weight.value[i]);
        CHECK(a.weight.grad[i] == 0);
    }
    CHECK(lo >= -0.125f && hi <= 0.125f && lo < -0.1f && hi > 0.1f); // 1/sqrt(64), spread
    dfd_linear_free(&c);
    CHECK(dfd_linear_init(&c, "bad", 0, 8, 1, &err) == DFD_ERR_INVALID);
    dfd_linear_free(&a);
    dfd_linear_free(&b);
}

DFD_TEST_MAIN({ "forward_by_hand", test_forward_by_hand },
              { "backward_finite_differences", test_backward_finite_differences },
              { "init_range_and_seed", test_init_range_and_seed })
