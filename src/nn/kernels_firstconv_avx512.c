// Convolutions of few input channels with large kernels (BlazeFace's first layer: 5x5 stride 2,
// RGB -> 24), AVX-512 (this file only is compiled with -mavx512f -mfma; nn_dwpw_fast_available
// checks the CPU). Why: in NHWC the outputs are the only dimension oneDNN vectorises over, and
// 24 of them leave a quarter of its 32 lanes empty. Here pixels run along the vector instead:
// each input row is split once into planar lines, one per input channel and stride phase
// (line[c][ph][i] = x[iy][i * SW + ph - pad][c], zero outside the image), so one tap of 16
// neighbouring output pixels is 16 contiguous floats of one line. A register block is 48 pixels
// x 8 outputs (24 accumulators; per tap 3 loads and 8 broadcasts for 24 FMAs) and takes the
// bias, and the activation when there is no residual; blocks go through an L1 tile of 96 pixels
// that is transposed back to NHWC 16 x 16 at a time (a last 8 outputs: two pixel groups per
// transpose), adding the residual and its activation there. With 3x3 kernels the split and the
// transposes cost more than the full vectors save (nn_firstconv_suits has the figures).
//
// x: (N, H, W, IC)  weight: (KH, KW, IC, OC)  y: (N, OH, OW, OC); the limits are in
// nn_firstconv_suits. Parameters packed by nn_firstconv_pack.
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels_pw_avx512.h"
#include "nn_internal.h"

#define CB       8             // outputs per register block
#define GROUPS   3             // 16-pixel vectors per register block
#define CHUNK    (16 * GROUPS) // pixels per register block
#define TILE     (2 * CHUNK)   // pixels per transposed tile
#define MAX_LINE (NN_FIRSTCONV_MAX_OW + 16 + 16)

// Split a zero-padded input row (prow: SW * LL pixels of IC floats, padded column j = input
// column j - pad) into IC * SW planar lines of LL floats: line (c, ph) element i is padded column
// i * SW + ph, channel c. Sixteen elements of every line come from the same SW * IC vectors of
// prow, picked by two-source permutes.
static inline __attribute__((always_inline)) void split_row_impl(float *dst, const float *prow,
                                                                 const int IC, const int SW, int LL)
{
    const int V = SW * IC; // vectors of prow per 16 line elements
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32(V));
    for (int ph = 0; ph < SW; ph++) {
        for (int c = 0; c < IC; c++) {
            // Element i of the line sits at float V * i + ph * IC + c of its window of V vectors;
            // the window's vector pair p supplies the lanes with (offset >> 5) == p.
            const __m512i off = _mm512_add_epi32(step, _mm512_set1_epi32(ph * IC + c));
            const __m512i pair = _mm512_srli_epi32(off, 5);
            __mmask16 m[NN_FIRSTCONV_MAX_IC * NN_FIRSTCONV_MAX_STRIDE / 2 + 1];
            for (int p = 0; 2 * p < V; p++) {
                m[p] = _mm512_cmpeq_epi32_mask(pair, _mm512_set1_epi32(p));
            }
            float *line = dst + ((size_t)c * SW + ph) * LL;
            const float *src = prow;
            for (int i0 = 0; i0 < LL; i0 += 16, src += 16 * V) {
                __m512 r =
                    _mm512_permutex2var_ps(_mm512_loadu_ps(src), off, _mm512_loadu_ps(src + 16));
                for (int p = 1; 2 * p < V; p++) {
                    r = _mm512_mask_mov_ps(
                        r, m[p],
                        _mm512_permutex2var_ps(_mm512_loadu_ps(src + 32 * p), off,
                                               _mm512_loadu_ps(src + 32 * p + 16)));
                }
                _mm512_store_ps(line + i0, r);
            }
        }
    }
}

// RGB at stride 2 (the face models' first layers) with the counts known to the compiler.
static void split_row(float *dst, const float *prow, int IC, int SW, int LL)
{
    if (IC == 3 && SW == 2) {
        split_row_impl(dst, prow, 3, 2, LL);
    } else {
        split_row_impl(dst, prow, IC, SW, LL);
    }
}

// Lanes are 16 pixels of output o.
static inline __m512 act_planar(__m512 v, const act_params *a, int o)
{
    return act_with(v, a, a->kind == DFD_ACT_PRELU ? _mm512_set1_ps(a->slopes[o]) : v);
}

// One register block: G vectors of 16 pixels from column p0, all OCP8 outputs, into the tile
// T[o][CHUNK] (bias included, and the activation where act is not NULL). lines[ky]: the planar
// lines of kernel row ky, or NULL (zero).
static inline __attribute__((always_inline)) void block(float *T, const float *const *lines, int p0,
                                                        const float *w, const float *bias, int OCP8,
                                                        int KH, int KW, int IC, int SW, int LL,
                                                        const act_params *act, const int G)
{
    const int taps = KH * KW * IC;
    for (int cb = 0; cb < OCP8; cb += CB) {
        __m512 acc[GROUPS][CB];
#pragma GCC unroll 8
        for (int k = 0; k < CB; k++) {
            const __m512 b = _mm512_set1_ps(bias[cb + k]);
#pragma GCC unroll 3
            for (int g = 0; g < G; g++) {
                acc[g][k] = b;
            }
        }
        const float *wb = w + (size_t)cb * taps;
        for (int ky = 0; ky < KH; ky++) {
            if (!lines[ky]) {
                continue;
            }
            for (int kx = 0; kx < KW; kx++) {
                const float *src = lines[ky] + (size_t)(kx % SW) * LL + p0 + kx / SW;
                const float *wt = wb + (size_t)((ky * KW + kx) * IC) * CB;
                for (int c = 0; c < IC; c++, src += (size_t)SW * LL, wt += CB) {
                    __m512 v[GROUPS];
#pragma GCC unroll 3
                    for (int g = 0; g < G; g++) {
                        v[g] = _mm512_loadu_ps(src + 16 * g);
                    }
#pragma GCC unroll 8
                    for (int k = 0; k < CB; k++) {
                        const __m512 wk = _mm512_set1_ps(wt[k]);
#pragma GCC unroll 3
                        for (int g = 0; g < G; g++) {
                            acc[g][k] = _mm512_fmadd_ps(v[g], wk, acc[g][k]);
                        }
                    }
                }
            }
        }
#pragma GCC unroll 8
        for (int k = 0; k < CB; k++) {
#pragma GCC unroll 3
            for (int g = 0; g < G; g++) {
                _mm512_store_ps(T + (size_t)(cb + k) * TILE + 16 * g,
                                act ? act_planar(acc[g][k], act, cb + k) : acc[g][k]);
            }
        }
    }
}

// r[i] holds row i of a 16 x 16 block; afterwards r[j] holds its column j.
static inline __attribute__((always_inline)) void transpose16(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // Within each 128-bit lane L of r[4i + j]: rows 4i..4i+3 of column 4L + j.
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    // Column 4L + j gathers lane L of r[j], r[4 + j], r[8 + j], r[12 + j].
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44);
        const __m512 u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xee);
        const __m512 u2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44);
        const __m512 u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xee);
        t[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[4 + j] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
        t[8 + j] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) {
        r[i] = t[i];
    }
}

// The tile's np pixels to NHWC rows of OC floats at out. Without a residual the tile already
// holds the activations; with one, it is added and the activation taken here.
static __attribute__((noinline)) void store_tile(float *out, const float *res, const float *T,
                                                 int np, int OC, const act_params *act)
{
    for (int o0 = 0; o0 < OC; o0 += 16) {
        const __mmask16 m = tail_mask(OC - o0);
        int g0 = 0;
        if (!res && OC - o0 <= 8) {
            // At most 8 outputs left: two groups of 16 pixels share one transpose (rows 8-15
            // are the second group's), each column's halves going to two pixels.
            const __mmask16 lo = tail_mask(OC - o0);
            for (; g0 + 32 <= np; g0 += 32) {
                __m512 r[16];
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) {
                    r[i] = _mm512_load_ps(T + (size_t)(o0 + i) * TILE + g0);
                    r[8 + i] = _mm512_load_ps(T + (size_t)(o0 + i) * TILE + g0 + 16);
                }
                transpose16(r);
                float *o = out + (size_t)g0 * OC + o0;
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) {
                    _mm512_mask_storeu_ps(o + (size_t)j * OC, lo, r[j]);
                    _mm512_mask_storeu_ps(o + (size_t)(j + 16) * OC - 8, (__mmask16)(lo << 8),
                                          r[j]);
                }
            }
        }
        for (; g0 < np; g0 += 16) {
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) {
                r[i] = _mm512_load_ps(T + (size_t)(o0 + i) * TILE + g0);
            }
            transpose16(r);
            float *o = out + (size_t)g0 * OC + o0;
            if (!res && np - g0 >= 16) {
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) {
                    _mm512_mask_storeu_ps(o + (size_t)j * OC, m, r[j]);
                }
                continue;
            }
            // A partial group or a residual: through memory, pixel by pixel.
            float cols[16 * 16] __attribute__((aligned(64)));
#pragma GCC unroll 16
            for (int j = 0; j < 16; j++) {
                _mm512_store_ps(cols + 16 * j, r[j]);
            }
            const int n = np - g0 < 16 ? np - g0 : 16;
            for (int j = 0; j < n; j++) {
                __m512 v = _mm512_load_ps(cols + 16 * j);
                if (res) {
                    const float *rj = res + (size_t)(g0 + j) * OC + o0;
                    v = act_vec(_mm512_add_ps(v, _mm512_maskz_loadu_ps(m, rj)), act, o0);
                }
                _mm512_mask_storeu_ps(o + (size_t)j * OC, m, v);
            }
        }
    }
}

// Output rows [r0, r1) of the batch (row r = image r / OH, row r % OH).
static void firstconv_rows(const nn_args *a, const nn_dwpw_packed *pk, long r0, long r1)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0];
    dfd_tensor *y = a->out;
    const dfd_window *win = &n->a.conv.win;
    const int H = x->shape[1], W = x->shape[2], IC = x->shape[3];
    const int KH = n->weight.shape[0], KW = n->weight.shape[1], SW = win->sw;
    const int OH = y->shape[1], OW = y->shape[2], OC = y->shape[3];
    const int OCP8 = (OC + CB - 1) / CB * CB;
    // Line length: every vector a block reads, rounded to whole vectors.
    const int LL = ((OW + 15) / 16 * 16 + (KW - 1) / SW + 15) / 16 * 16;
    const act_params act = act_params_of(n, pk->slopes);
    const bool act_after = act_is_after(&act);
    // Ring of split rows: input row iy lives in slot iy % KH (any KH consecutive rows differ).
    float ring[NN_FIRSTCONV_MAX_K * NN_FIRSTCONV_MAX_IC * NN_FIRSTCONV_MAX_STRIDE * MAX_LINE]
        __attribute__((aligned(64)));
    float T[(NN_FIRSTCONV_MAX_OC + 15) / 16 * 16 * TILE] __attribute__((aligned(64)));
    // One input row with its zero padding: columns [pad, pad + copy) are copied from the input
    // (16 floats more: split_row's last vector pair may read past an odd number of vectors).
    float prow[NN_FIRSTCONV_MAX_STRIDE * MAX_LINE * NN_FIRSTCONV_MAX_IC + 16]
        __attribute__((aligned(64)));
    const int pad = win->pads[2], wide = SW * LL;
    const int copy = pad >= wide ? 0 : W < wide - pad ? W : wide - pad;
    memset(prow, 0, ((size_t)wide * IC + 16) * sizeof(float));
    long held[NN_FIRSTCONV_MAX_K]; // (image, row) in each slot, or -1
    for (int s = 0; s < KH; s++) {
        held[s] = -1;
    }
    const float *lines[NN_FIRSTCONV_MAX_K];
    for (long r = r0; r < r1; r++) {
        const int b = (int)(r / OH), oy = (int)(r % OH);
        const float *xb = x->data + (size_t)b * H * W * IC;
        const size_t at = ((size_t)b * OH + oy) * OW * OC;
        float *out = y->data + at;
        const float *res = a->residual ? a->residual->data + at : NULL;
        for (int ky = 0; ky < KH; ky++) {
            const int iy = oy * win->sh - win->pads[0] + ky;
            if (iy < 0 || iy >= H) {
                lines[ky] = NULL;
                continue;
            }
            const int s = iy % KH;
            float *slot = ring + (size_t)s * IC * SW * LL;
            const long key = (long)b * H + iy;
            if (held[s] != key) {
                memcpy(prow + (size_t)pad * IC, xb + (size_t)iy * W * IC,
                       (size_t)copy * IC * sizeof(float));
                split_row(slot, prow, IC, SW, LL);
                held[s] = key;
            }
            lines[ky] = slot;
        }
        for (int t0 = 0; t0 < OW; t0 += TILE) {
            const int nt = OW - t0 < TILE ? OW - t0 : TILE;
            for (int p0 = t0; p0 < t0 + nt; p0 += CHUNK) {
                const int np = t0 + nt - p0 < CHUNK ? t0 + nt - p0 : CHUNK;
                float *Tp = T + (p0 - t0);
                const float *w = pk->pw_w, *bias = pk->pw_b;
                const act_params *ap = res ? NULL : &act;
                if (np > 32) {
                    block(Tp, lines, p0, w, bias, OCP8, KH, KW, IC, SW, LL, ap, 3);
                } else if (np > 16) {
                    block(Tp, lines, p0, w, bias, OCP8, KH, KW, IC, SW, LL, ap, 2);
                } else {
                    block(Tp, lines, p0, w, bias, OCP8, KH, KW, IC, SW, LL, ap, 1);
                }
            }
            store_tile(out + (size_t)t0 * OC, res ? res + (size_t)t0 * OC : NULL, T, nt, OC, &act);
        }
        if (act_after) {
            nn_act_apply(out, (size_t)OW * OC, OC, &n->act, n->alpha.data);
        }
    }
}

void nn_firstconv_avx512(const nn_args *a, const nn_dwpw_packed *pk)
{
    pw_rows_parallel(a, pk, firstconv_rows);
}
