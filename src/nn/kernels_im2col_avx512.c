// Convolutions with few input channels and at most 16 outputs (FaceMesh's first layer: 3x3
// stride 2, RGB -> 16), AVX-512 (this file only is compiled with -mavx512f -mfma;
// nn_dwpw_fast_available checks the CPU). Why: oneDNN ran that layer at a third of FaceMesh's
// time, as three input channels and 16 outputs give its kernels little to vectorise over.
// Sixteen output pixels at a time read their receptive fields straight from the input rows
// (in NHWC a kernel row's KW x IC taps are contiguous, and neighbouring pixels are stride x IC
// floats apart), with the 16 outputs in one vector; pixels near the left and right borders are
// copied into an L1 buffer with zero padding and reduced by the DWPW kernel's pointwise stage
// (kernels_pw_avx512.h), which also supplies the bias, residual and activation epilogue.
//
// x: (N, H, W, IC)  weight: (KH, KW, IC, OC)  y: (N, OH, OW, OC); IC * KH * KW at most
// NN_IM2COL_MAX_TAPS, dilation 1, one group. Parameters packed by nn_im2col_pack.
#include <immintrin.h>
#include <stdbool.h>

#include "kernels_pw_avx512.h"
#include "nn_internal.h"

#define SEG 64 // output pixels per segment

// Copy n floats (masked 16-float chunks).
static inline void copy_floats(float *dst, const float *src, int n)
{
    for (int c = 0; c < n; c += 16) {
        const __mmask16 m = tail_mask(n - c);
        _mm512_mask_storeu_ps(dst + c, m, _mm512_maskz_loadu_ps(m, src + c));
    }
}

static inline void zero_floats(float *dst, int n)
{
    for (int c = 0; c < n; c += 16) {
        _mm512_mask_storeu_ps(dst + c, tail_mask(n - c), _mm512_setzero_ps());
    }
}

// d[p * ST + (ky * KW + kx) * IC + c] = x[iy, ix, c] for the np pixels of output row oy from
// column ox0 (zero outside the image: TensorFlow's padding).
static void gather_segment(float *d, int ST, const float *xb, const dfd_tensor *x,
                           const dfd_window *win, int KH, int KW, int oy, int ox0, int np)
{
    const int H = x->shape[1], W = x->shape[2], IC = x->shape[3], row = KW * IC;
    const int iy0 = oy * win->sh - win->pads[0];
    for (int p = 0; p < np; p++) {
        const int ix0 = (ox0 + p) * win->sw - win->pads[2];
        float *dp = d + (size_t)p * ST;
        const bool inside = ix0 >= 0 && ix0 + KW <= W;
        for (int ky = 0; ky < KH; ky++) {
            const int iy = iy0 + ky;
            float *dr = dp + ky * row;
            if (iy < 0 || iy >= H) {
                zero_floats(dr, row);
            } else if (inside) {
                copy_floats(dr, xb + ((size_t)iy * W + ix0) * IC, row);
            } else {
                for (int kx = 0; kx < KW; kx++) {
                    const int ix = ix0 + kx;
                    if (ix < 0 || ix >= W) {
                        zero_floats(dr + kx * IC, IC);
                    } else {
                        copy_floats(dr + kx * IC, xb + ((size_t)iy * W + ix) * IC, IC);
                    }
                }
            }
        }
    }
}

// Sixteen output pixels (at most 16 outputs: one vector) whose receptive fields lie inside the
// image columns, read straight from the input: kernel row ky of pixel p starts at rows[ky] +
// p * ST (ST = stride x IC floats), and its KW x IC taps are contiguous. Rows above or below the
// image are NULL and skipped (zero padding).
#define G16_FMA(P)                                                            \
    do {                                                                      \
        a##P = _mm512_fmadd_ps(_mm512_set1_ps(dc[(P)*ST]), wl, a##P);         \
        b##P = _mm512_fmadd_ps(_mm512_set1_ps(dc[((P) + 8) * ST]), wl, b##P); \
    } while (0)
#define G16_INIT(P)                                                                          \
    __m512 a##P = bl, b##P = bl;                                                             \
    if (res) {                                                                               \
        a##P = _mm512_add_ps(a##P, _mm512_maskz_loadu_ps(ml, res + (size_t)(P)*OC));         \
        b##P = _mm512_add_ps(b##P, _mm512_maskz_loadu_ps(ml, res + (size_t)((P) + 8) * OC)); \
    }
#define G16_STORE(P)                                                                     \
    do {                                                                                 \
        _mm512_mask_storeu_ps(out + (size_t)(P)*OC, ml, act_vec(a##P, &act, 0));         \
        _mm512_mask_storeu_ps(out + (size_t)((P) + 8) * OC, ml, act_vec(b##P, &act, 0)); \
    } while (0)

static inline __attribute__((always_inline)) void
direct_group16(float *out, const float *res, const float *const *rows, int KH, int row,
               const int ST, const nn_dwpw_packed *pk, const act_params act)
{
    const int OC = pk->OC, OCP = pk->OCP;
    const __mmask16 ml = tail_mask(OC);
    const __m512 bl = _mm512_load_ps(pk->pw_b);
    G16_INIT(0)
    G16_INIT(1)
    G16_INIT(2)
    G16_INIT(3)
    G16_INIT(4)
    G16_INIT(5)
    G16_INIT(6)
    G16_INIT(7)
    for (int ky = 0; ky < KH; ky++) {
        if (!rows[ky]) {
            continue;
        }
        const float *w = pk->pw_w + (size_t)ky * row * OCP;
        for (int c = 0; c < row; c++) {
            const __m512 wl = _mm512_load_ps(w + (size_t)c * OCP);
            const float *dc = rows[ky] + c;
            G16_FMA(0);
            G16_FMA(1);
            G16_FMA(2);
            G16_FMA(3);
            G16_FMA(4);
            G16_FMA(5);
            G16_FMA(6);
            G16_FMA(7);
        }
    }
    G16_STORE(0);
    G16_STORE(1);
    G16_STORE(2);
    G16_STORE(3);
    G16_STORE(4);
    G16_STORE(5);
    G16_STORE(6);
    G16_STORE(7);
}

// Output pixels [ox0, ox1) of row oy through the L1 buffer d (image borders).
static void gathered(float *out, const float *res, float *d, const float *xb, const dfd_tensor *x,
                     const dfd_node *n, const nn_dwpw_packed *pk, const act_params act, int oy,
                     int ox0, int ox1)
{
    const int OC = n->weight.shape[3];
    for (int p0 = ox0; p0 < ox1; p0 += SEG) {
        const int np = ox1 - p0 < SEG ? ox1 - p0 : SEG;
        const size_t at = (size_t)(p0 - ox0) * OC;
        gather_segment(d, pk->CP, xb, x, &n->a.conv.win, n->weight.shape[0], n->weight.shape[1], oy,
                       p0, np);
        pw_segment(out + at, res ? res + at : NULL, d, np, pk, act, 0, pk->CP);
    }
}

// Output rows [r0, r1) of the batch (row r = image r / OH, row r % OH).
static void im2col_rows(const nn_args *a, const nn_dwpw_packed *pk, long r0, long r1)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0];
    dfd_tensor *y = a->out;
    const dfd_window *win = &n->a.conv.win;
    const int H = x->shape[1], W = x->shape[2], IC = x->shape[3];
    const int KH = n->weight.shape[0], KW = n->weight.shape[1], row = KW * IC;
    const int OH = y->shape[1], OW = y->shape[2], OC = y->shape[3], ST = win->sw * IC;
    const act_params act = act_params_of(n, pk->slopes);
    const bool act_after = act_is_after(&act);
    // Output columns [pa, pb) read only columns inside the image.
    const int last = W - KW + win->pads[2]; // the last inside column's first tap, times sw
    int pa = (win->pads[2] + win->sw - 1) / win->sw, pb = last < 0 ? 0 : last / win->sw + 1;
    pa = pa < OW ? pa : OW;
    pb = pb < pa ? pa : pb > OW ? OW : pb;
    float d[SEG * NN_IM2COL_MAX_TAPS] __attribute__((aligned(64)));
    const float *rows[NN_IM2COL_MAX_TAPS];
    for (long r = r0; r < r1; r++) {
        const int b = (int)(r / OH), oy = (int)(r % OH);
        const float *xb = x->data + (size_t)b * H * W * IC;
        const size_t at = ((size_t)b * OH + oy) * OW * OC;
        float *out = y->data + at;
        const float *res = a->residual ? a->residual->data + at : NULL;
        const int iy0 = oy * win->sh - win->pads[0];
        for (int ky = 0; ky < KH; ky++) {
            const int iy = iy0 + ky;
            rows[ky] = iy < 0 || iy >= H
                           ? NULL
                           : xb + ((size_t)iy * W + (size_t)(pa * win->sw - win->pads[2])) * IC;
        }
        gathered(out, res, d, xb, x, n, pk, act, oy, 0, pa);
        int p = pa;
        for (; p + 16 <= pb; p += 16) {
            const size_t o = (size_t)p * OC;
            direct_group16(out + o, res ? res + o : NULL, rows, KH, row, ST, pk, act);
            for (int ky = 0; ky < KH; ky++) {
                rows[ky] = rows[ky] ? rows[ky] + 16 * ST : NULL;
            }
        }
        gathered(out + (size_t)p * OC, res ? res + (size_t)p * OC : NULL, d, xb, x, n, pk, act, oy,
                 p, OW);
        if (act_after) {
            nn_act_apply(out, (size_t)OW * OC, OC, &n->act, n->alpha.data);
        }
    }
}

void nn_im2col_avx512(const nn_args *a, const nn_dwpw_packed *pk)
{
    pw_rows_parallel(a, pk, im2col_rows);
}
