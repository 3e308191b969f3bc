// The pointwise stage shared by the AVX-512 kernels that reduce a per-pixel vector to OC outputs
// (kernels_dwpw_avx512.c: the depthwise output; kernels_im2col_avx512.c: a pixel's receptive
// field): d[p * ST + c] for np pixels times the packed [C][OCP] weights, plus bias, residual and
// activation, stored as NHWC rows of OC floats. Include only from files compiled with -mavx512f.
#ifndef DFD_NN_KERNELS_PW_AVX512_H
#define DFD_NN_KERNELS_PW_AVX512_H

#include <immintrin.h>
#include <stdbool.h>
#ifdef _OPENMP
#    include <omp.h>
#endif

#include "nn_internal.h"

static inline __mmask16 tail_mask(int n)
{
    if (n <= 0) {
        return 0;
    }
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

// ---- pointwise stage ----

// The activation of the node, hoisted out of the loops.
typedef struct act_params {
    dfd_act_kind kind;
    __m512 lo, hi, alpha;
    const float *slopes;
} act_params;

// The node's activation and the slopes of its PReLU (packed, [OCP]), hoisted out of the loops.
static inline act_params act_params_of(const dfd_node *n, const float *slopes)
{
    const act_params a = { n->act.kind, _mm512_set1_ps(n->act.lo), _mm512_set1_ps(n->act.hi),
                           _mm512_set1_ps(n->act.alpha), slopes };
    return a;
}

// Activations the kernels leave to nn_act_apply over their output rows.
static inline bool act_is_after(const act_params *a)
{
    return a->kind == DFD_ACT_SIGMOID || a->kind == DFD_ACT_TANH || a->kind == DFD_ACT_ELU;
}

// The activation of v, with slope the PReLU slopes of its lanes (read only for PReLU).
static inline __m512 act_with(__m512 v, const act_params *a, __m512 slope)
{
    switch (a->kind) {
    case DFD_ACT_RELU:
        return _mm512_max_ps(v, _mm512_setzero_ps());
    case DFD_ACT_CLIP:
        return _mm512_min_ps(_mm512_max_ps(v, a->lo), a->hi);
    case DFD_ACT_LEAKY_RELU:
        return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v,
                                  a->alpha);
    case DFD_ACT_PRELU:
        return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v,
                                  slope);
    default:
        return v; // none, or applied after the store (sigmoid, tanh, elu)
    }
}

// Lanes are the outputs o .. o + 15 of one pixel.
static inline __m512 act_vec(__m512 v, const act_params *a, int o)
{
    return act_with(v, a, a->kind == DFD_ACT_PRELU ? _mm512_load_ps(a->slopes + o) : v);
}

// 8 pixels x 32 outputs: 16 accumulators initialised with bias + residual (the residual is read
// before y is written, so the two may share memory).
#define PW_INIT(P)                                                                        \
    __m512 lo##P = bl, hi##P = bh;                                                        \
    if (r) {                                                                              \
        lo##P = _mm512_add_ps(lo##P, _mm512_maskz_loadu_ps(ml, r + (size_t)(P)*OC));      \
        hi##P = _mm512_add_ps(hi##P, _mm512_maskz_loadu_ps(mh, r + (size_t)(P)*OC + 16)); \
    }
#define PW_FMA(P)                                     \
    do {                                              \
        const __m512 dv = _mm512_set1_ps(dc[(P)*ST]); \
        lo##P = _mm512_fmadd_ps(dv, wl, lo##P);       \
        hi##P = _mm512_fmadd_ps(dv, wh, hi##P);       \
    } while (0)
#define PW_STORE(P)                                                                        \
    do {                                                                                   \
        _mm512_mask_storeu_ps(o + (size_t)(P)*OC, ml, act_vec(lo##P, &act, o0));           \
        _mm512_mask_storeu_ps(o + (size_t)(P)*OC + 16, mh, act_vec(hi##P, &act, o0 + 16)); \
    } while (0)

static inline __attribute__((always_inline)) void
pw_segment(float *out, const float *res, const float *d, int np, const nn_dwpw_packed *pk,
           const act_params act, const int CK, const int ST)
{
    const int C = CK ? CK : pk->C, OC = pk->OC, OCP = pk->OCP;
    for (int o0 = 0; o0 < OC; o0 += 32) {
        const __mmask16 ml = tail_mask(OC - o0), mh = tail_mask(OC - o0 - 16);
        const __m512 bl = _mm512_load_ps(pk->pw_b + o0), bh = _mm512_load_ps(pk->pw_b + o0 + 16);
        const float *w = pk->pw_w + o0;
        int p = 0;
        for (; p + 8 <= np; p += 8) {
            const float *r = res ? res + (size_t)p * OC + o0 : NULL;
            const float *d0 = d + (size_t)p * ST;
            float *o = out + (size_t)p * OC + o0;
            PW_INIT(0)
            PW_INIT(1)
            PW_INIT(2)
            PW_INIT(3) PW_INIT(4) PW_INIT(5) PW_INIT(6) PW_INIT(7) for (int c = 0; c < C; c++)
            {
                const __m512 wl = _mm512_load_ps(w + (size_t)c * OCP);
                const __m512 wh = _mm512_load_ps(w + (size_t)c * OCP + 16);
                const float *dc = d0 + c;
                PW_FMA(0);
                PW_FMA(1);
                PW_FMA(2);
                PW_FMA(3);
                PW_FMA(4);
                PW_FMA(5);
                PW_FMA(6);
                PW_FMA(7);
            }
            PW_STORE(0);
            PW_STORE(1);
            PW_STORE(2);
            PW_STORE(3);
            PW_STORE(4);
            PW_STORE(5);
            PW_STORE(6);
            PW_STORE(7);
        }
        for (; p < np; p++) {
            const float *r = res ? res + (size_t)p * OC + o0 : NULL;
            const float *dc = d + (size_t)p * ST;
            __m512 a = bl, b = bh;
            if (r) {
                a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(ml, r));
                b = _mm512_add_ps(b, _mm512_maskz_loadu_ps(mh, r + 16));
            }
            for (int c = 0; c < C; c++) {
                const __m512 dv = _mm512_set1_ps(dc[c]);
                a = _mm512_fmadd_ps(dv, _mm512_load_ps(w + (size_t)c * OCP), a);
                b = _mm512_fmadd_ps(dv, _mm512_load_ps(w + (size_t)c * OCP + 16), b);
            }
            float *o = out + (size_t)p * OC + o0;
            _mm512_mask_storeu_ps(o, ml, act_vec(a, &act, o0));
            _mm512_mask_storeu_ps(o + 16, mh, act_vec(b, &act, o0 + 16));
        }
    }
}

// Output rows [0, N * OH) of a->out through rows(a, pk, r0, r1), split evenly over a->n_threads.
typedef void (*pw_rows_fn)(const nn_args *a, const nn_dwpw_packed *pk, long r0, long r1);
static inline void pw_rows_parallel(const nn_args *a, const nn_dwpw_packed *pk, pw_rows_fn rows)
{
    const long n = (long)a->out->shape[0] * a->out->shape[1];
#ifdef _OPENMP
    if (a->n_threads > 1) {
#    pragma omp parallel num_threads(a->n_threads)
        {
            const long t = omp_get_thread_num(), nt = omp_get_num_threads();
            rows(a, pk, n * t / nt, n * (t + 1) / nt);
        }
        return;
    }
#endif
    rows(a, pk, 0, n);
}

#endif
