// Helpers for nn tests: a seeded random generator and one-node graphs built in code.
#ifndef DFD_TESTS_NN_TEST_UTIL_H
#define DFD_TESTS_NN_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dfdetect/nn/graph.h"
#include "dfdetect/nn/session.h"

static uint64_t test_rng_state = 0x9e3779b97f4a7c15ull;

static inline void test_rng_seed(uint64_t s)
{
    test_rng_state = s * 0x9e3779b97f4a7c15ull + 1;
}

// Uniform in [-1, 1).
static inline float test_rand(void)
{
    test_rng_state ^= test_rng_state << 13;
    test_rng_state ^= test_rng_state >> 7;
    test_rng_state ^= test_rng_state << 17;
    return (float)((double)(test_rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline int test_rand_int(int lo, int hi)
{
    return lo + (int)((test_rand() * 0.5f + 0.5f) * (float)(hi - lo + 1)) % (hi - lo + 1);
}

static inline void test_fill(dfd_tensor *t, float scale)
{
    size_t n = dfd_tensor_numel(t);
    for (size_t i = 0; i < n; i++) {
        t->data[i] = test_rand() * scale;
    }
}

// Largest |a - b| relative to the largest |b|.
static inline double test_rel_err(const dfd_tensor *a, const dfd_tensor *b)
{
    size_t n = dfd_tensor_numel(b);
    double scale = 1e-12, worst = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs((double)b->data[i]));
    }
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a->data[i] - (double)b->data[i]);
        worst = fmax(worst, e != e ? (double)INFINITY : e);
    }
    return worst / scale;
}

#endif
