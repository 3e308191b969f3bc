// AVX2 FMA throughput loop: 12 independent accumulators of 8 floats.
#include <immintrin.h>

#include "peak.h"

double peak_loop_avx2(long iters)
{
    __m256 acc[12];
    const __m256 a = _mm256_set1_ps(1.0000001f), b = _mm256_set1_ps(0.9999999f);
    for (int i = 0; i < 12; i++) {
        acc[i] = _mm256_set1_ps((float)i);
    }
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < 12; i++) {
            acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        }
    }
    __m256 s = acc[0];
    for (int i = 1; i < 12; i++) {
        s = _mm256_add_ps(s, acc[i]);
    }
    float out[8];
    _mm256_storeu_ps(out, s);
    volatile float sink = out[0];
    (void)sink;
    return (double)iters * 12 * 8 * 2;
}
