// AVX-512 FMA throughput loop: 16 independent accumulators of 16 floats.
#include <immintrin.h>

#include "peak.h"

double peak_loop_avx512(long iters)
{
    __m512 acc[16];
    const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
    for (int i = 0; i < 16; i++) {
        acc[i] = _mm512_set1_ps((float)i);
    }
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < 16; i++) {
            acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        }
    }
    __m512 s = acc[0];
    for (int i = 1; i < 16; i++) {
        s = _mm512_add_ps(s, acc[i]);
    }
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return (double)iters * 16 * 16 * 2;
}
