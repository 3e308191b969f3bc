// The fused depthwise -> pointwise kernel of DWPW nodes, AVX-512 (this file only is compiled with
// -mavx512f -mfma; nn_dwpw_fast_available checks the CPU before anything here runs).
// Why: in BlazeFace and FaceMesh most time goes to pairs of a depthwise 3x3 and a small 1x1
// conv on large maps (128x128x24); both are memory-bound and the depthwise output makes a round
// trip through memory between them. Here each row segment's depthwise output stays in an L1
// buffer and the pointwise result gets bias, residual and activation in registers.
//
// x: (N, H, W, C)  weight2: (KH, KW, 1, C)  bias2: (C)  weight: (1, 1, C, OC)  y: (N, OH, OW, OC)
// C and OC at most 128. Parameters are packed once per session (kernels_dwpw.c) into
// zero-padded rows, so the inner loops need no lane masks: only the final stores are masked.
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels_pw_avx512.h"
#include "nn_internal.h"

#define SEG 64 // output pixels per segment
#define STRIDE_ANY \
    144             // floats between pixels in the depthwise buffer of the generic instance:
                    // room for 128 channels, and not a power of two (a 512-byte stride put
                    // every pixel row in the same few L1 sets)
#define MAX_TAPS 49 // kernels up to 7x7

// ---- depthwise stage: d[p * ST + c] for the pixels of a row segment ----

// One output pixel, 16 channels from c0, with bounds checks (image borders).
static void dw_pixel_checked(float *d, const float *xb, const float *wk, const float *bias, int c0,
                             int C, int CP, int H, int W, int iy0, int ix0, int KH, int KW)
{
    const __mmask16 m = tail_mask(C - c0);
    __m512 acc = _mm512_load_ps(bias + c0);
    for (int ky = 0; ky < KH; ky++) {
        int iy = iy0 + ky;
        if (iy < 0 || iy >= H) {
            continue;
        }
        for (int kx = 0; kx < KW; kx++) {
            int ix = ix0 + kx;
            if (ix < 0 || ix >= W) {
                continue;
            }
            const float *xp = xb + ((size_t)iy * W + ix) * C + c0;
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xp),
                                  _mm512_load_ps(wk + (size_t)(ky * KW + kx) * CP + c0), acc);
        }
    }
    _mm512_store_ps(d + c0, acc);
}

// Four neighbouring output pixels of a 3x3 depthwise, 16 channels from c0, all taps inside the
// image: x points at the first pixel's top-left tap; row, col and step are the strides (floats)
// between input rows, input pixels and the first taps of neighbouring outputs. The taps walk
// four row pointers so that every load is base + col * {0, 1, 2}: with the strides known only
// at run time, precomputed offsets for all 36 loads would spill to the stack.
static inline __attribute__((always_inline)) void
dw_group4_3x3(float *d, const float *x, size_t row, size_t col, size_t step, const float *wk,
              int CP, __m512 bias, __mmask16 m, const int ST)
{
    __m512 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    const float *p0 = x, *p1 = x + step, *p2 = x + 2 * step, *p3 = x + 3 * step;
    for (int ky = 0; ky < 3; ky++) {
        for (int kx = 0; kx < 3; kx++) {
            const __m512 w = _mm512_load_ps(wk);
            const size_t off = (size_t)kx * col;
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p0 + off), w, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p1 + off), w, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p2 + off), w, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p3 + off), w, a3);
            wk += CP;
        }
        p0 += row;
        p1 += row;
        p2 += row;
        p3 += row;
    }
    _mm512_store_ps(d, a0);
    _mm512_store_ps(d + ST, a1);
    _mm512_store_ps(d + 2 * ST, a2);
    _mm512_store_ps(d + 3 * ST, a3);
}

// Eight independent FMA chains keep both FMA pipes busy (4-cycle latency): for 17 to 32
// channels, four pixels x both channel vectors; for up to 16 channels, eight pixels x one.
static inline __attribute__((always_inline)) void
dw_group4_3x3_c2(float *d, const float *x, size_t row, size_t col, size_t step, const float *wk,
                 int CP, __m512 b0, __m512 b1, __mmask16 m1, const int ST)
{
    __m512 a0 = b0, a1 = b0, a2 = b0, a3 = b0, e0 = b1, e1 = b1, e2 = b1, e3 = b1;
    const float *p0 = x, *p1 = x + step, *p2 = x + 2 * step, *p3 = x + 3 * step;
    for (int ky = 0; ky < 3; ky++) {
        for (int kx = 0; kx < 3; kx++) {
            const __m512 w = _mm512_load_ps(wk), v = _mm512_load_ps(wk + 16);
            const size_t off = (size_t)kx * col;
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(p0 + off), w, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(p1 + off), w, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(p2 + off), w, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(p3 + off), w, a3);
            e0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, p0 + off + 16), v, e0);
            e1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, p1 + off + 16), v, e1);
            e2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, p2 + off + 16), v, e2);
            e3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, p3 + off + 16), v, e3);
            wk += CP;
        }
        p0 += row;
        p1 += row;
        p2 += row;
        p3 += row;
    }
    _mm512_store_ps(d, a0);
    _mm512_store_ps(d + 16, e0);
    _mm512_store_ps(d + ST, a1);
    _mm512_store_ps(d + ST + 16, e1);
    _mm512_store_ps(d + 2 * ST, a2);
    _mm512_store_ps(d + 2 * ST + 16, e2);
    _mm512_store_ps(d + 3 * ST, a3);
    _mm512_store_ps(d + 3 * ST + 16, e3);
}

// Eight pixels' vectors to the depthwise buffer (pixels ST floats apart).
static inline __attribute__((always_inline)) void store8(float *d, int ST, __m512 a0, __m512 a1,
                                                         __m512 a2, __m512 a3, __m512 a4, __m512 a5,
                                                         __m512 a6, __m512 a7)
{
    _mm512_store_ps(d, a0);
    _mm512_store_ps(d + ST, a1);
    _mm512_store_ps(d + 2 * ST, a2);
    _mm512_store_ps(d + 3 * ST, a3);
    _mm512_store_ps(d + 4 * ST, a4);
    _mm512_store_ps(d + 5 * ST, a5);
    _mm512_store_ps(d + 6 * ST, a6);
    _mm512_store_ps(d + 7 * ST, a7);
}

static inline __attribute__((always_inline)) void
dw_group8_3x3_c1(float *d, const float *x, size_t row, size_t col, size_t step, const float *wk,
                 int CP, __m512 b, __mmask16 m, const int ST)
{
    __m512 a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b;
    const float *p = x;
    for (int ky = 0; ky < 3; ky++) {
        for (int kx = 0; kx < 3; kx++) {
            const __m512 w = _mm512_load_ps(wk);
            const float *q = p + (size_t)kx * col;
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q), w, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + step), w, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + 2 * step), w, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + 3 * step), w, a3);
            a4 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + 4 * step), w, a4);
            a5 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + 5 * step), w, a5);
            a6 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + 6 * step), w, a6);
            a7 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + 7 * step), w, a7);
            wk += CP;
        }
        p += row;
    }
    store8(d, ST, a0, a1, a2, a3, a4, a5, a6, a7);
}

// Eight neighbouring output pixels of a stride-1 3x3 depthwise, all taps inside the image, C a
// compile-time constant: x points at the first pixel's top-left tap, row is the stride between
// input rows. Each input vector is loaded once per row and serves the three taps that read it
// (10 loads for 24 FMAs per row and channel vector, where one load per tap was 1.25 per FMA):
// loads, not FMAs, bound the depthwise stage on this CPU.
static inline __attribute__((always_inline)) void dw_run8_3x3_s1(float *d, const float *x,
                                                                 size_t row, const float *wk,
                                                                 int CP, const float *bias,
                                                                 const int C, const int ST)
{
#pragma GCC unroll 2
    for (int c0 = 0; c0 < C; c0 += 16) {
        const __mmask16 m = tail_mask(C - c0);
        const __m512 b = _mm512_load_ps(bias + c0);
        __m512 a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b;
#pragma GCC unroll 3
        for (int ky = 0; ky < 3; ky++) {
            const float *xr = x + (size_t)ky * row + c0;
            const __m512 i0 = _mm512_maskz_loadu_ps(m, xr), i1 = _mm512_maskz_loadu_ps(m, xr + C),
                         i2 = _mm512_maskz_loadu_ps(m, xr + 2 * C),
                         i3 = _mm512_maskz_loadu_ps(m, xr + 3 * C),
                         i4 = _mm512_maskz_loadu_ps(m, xr + 4 * C),
                         i5 = _mm512_maskz_loadu_ps(m, xr + 5 * C),
                         i6 = _mm512_maskz_loadu_ps(m, xr + 6 * C),
                         i7 = _mm512_maskz_loadu_ps(m, xr + 7 * C),
                         i8 = _mm512_maskz_loadu_ps(m, xr + 8 * C),
                         i9 = _mm512_maskz_loadu_ps(m, xr + 9 * C);
            const float *w = wk + (size_t)ky * 3 * CP + c0;
            const __m512 w0 = _mm512_load_ps(w), w1 = _mm512_load_ps(w + CP),
                         w2 = _mm512_load_ps(w + 2 * CP);
            a0 = _mm512_fmadd_ps(i0, w0, a0);
            a1 = _mm512_fmadd_ps(i1, w0, a1);
            a2 = _mm512_fmadd_ps(i2, w0, a2);
            a3 = _mm512_fmadd_ps(i3, w0, a3);
            a4 = _mm512_fmadd_ps(i4, w0, a4);
            a5 = _mm512_fmadd_ps(i5, w0, a5);
            a6 = _mm512_fmadd_ps(i6, w0, a6);
            a7 = _mm512_fmadd_ps(i7, w0, a7);
            a0 = _mm512_fmadd_ps(i1, w1, a0);
            a1 = _mm512_fmadd_ps(i2, w1, a1);
            a2 = _mm512_fmadd_ps(i3, w1, a2);
            a3 = _mm512_fmadd_ps(i4, w1, a3);
            a4 = _mm512_fmadd_ps(i5, w1, a4);
            a5 = _mm512_fmadd_ps(i6, w1, a5);
            a6 = _mm512_fmadd_ps(i7, w1, a6);
            a7 = _mm512_fmadd_ps(i8, w1, a7);
            a0 = _mm512_fmadd_ps(i2, w2, a0);
            a1 = _mm512_fmadd_ps(i3, w2, a1);
            a2 = _mm512_fmadd_ps(i4, w2, a2);
            a3 = _mm512_fmadd_ps(i5, w2, a3);
            a4 = _mm512_fmadd_ps(i6, w2, a4);
            a5 = _mm512_fmadd_ps(i7, w2, a5);
            a6 = _mm512_fmadd_ps(i8, w2, a6);
            a7 = _mm512_fmadd_ps(i9, w2, a7);
        }
        store8(d + c0, ST, a0, a1, a2, a3, a4, a5, a6, a7);
    }
}

// The stride-1 3x3 row segment of a constant channel count: the pixels whose taps are all inside
// the image run eight at a time (the last run overlaps the one before instead of leaving single
// pixels: recomputing a pixel writes the same values), the border pixels one at a time. False
// (nothing written) when the segment has no run of eight inside pixels.
static inline __attribute__((always_inline)) bool
dw_segment_s1_3x3(float *d, const float *xb, const dfd_tensor *x, const nn_dwpw_packed *pk, int iy0,
                  int ox0, int np, int pad_left, const int C, const int ST)
{
    const int H = x->shape[1], W = x->shape[2];
    // Output p reads input columns ox0 + p - pad_left .. + 2.
    const int pa = pad_left - ox0 > 0 ? pad_left - ox0 : 0;
    const int pb = W - 3 + pad_left - ox0 + 1 < np ? W - 3 + pad_left - ox0 + 1 : np;
    if (iy0 < 0 || iy0 + 3 > H || pb - pa < 8) {
        return false;
    }
    const size_t row = (size_t)W * C;
    for (int p = 0; p < pa; p++) {
        for (int c0 = 0; c0 < C; c0 += 16) {
            dw_pixel_checked(d + (size_t)p * ST, xb, pk->dw_w, pk->dw_b, c0, C, pk->CP, H, W, iy0,
                             ox0 + p - pad_left, 3, 3);
        }
    }
    for (int q = pa; q < pb; q += 8) {
        const int p = q + 8 <= pb ? q : pb - 8;
        dw_run8_3x3_s1(d + (size_t)p * ST, xb + ((size_t)iy0 * W + ox0 + p - pad_left) * C, row,
                       pk->dw_w, pk->CP, pk->dw_b, C, ST);
    }
    for (int p = pb; p < np; p++) {
        for (int c0 = 0; c0 < C; c0 += 16) {
            dw_pixel_checked(d + (size_t)p * ST, xb, pk->dw_w, pk->dw_b, c0, C, pk->CP, H, W, iy0,
                             ox0 + p - pad_left, 3, 3);
        }
    }
    return true;
}

// CK: the channel count as a compile-time constant in the specialised instances (0: runtime).
static inline __attribute__((always_inline)) void
dw_segment(float *d, const float *xb, const dfd_tensor *x, const dfd_node *n,
           const nn_dwpw_packed *pk, int oy, int ox0, int np, const int CK, const int ST)
{
    const int H = x->shape[1], W = x->shape[2], C = CK ? CK : x->shape[3];
    const dfd_window *win = &n->a.conv.win;
    const int KH = win->kh, KW = win->kw, sw = win->sw, iy0 = oy * win->sh - win->pads[0];
    const bool rows_in = iy0 >= 0 && iy0 + KH <= H;
    const bool k3 = KH == 3 && KW == 3;
    if (CK && k3 && sw == 1 &&
        dw_segment_s1_3x3(d, xb, x, pk, iy0, ox0, np, win->pads[2], CK, ST)) {
        return;
    }
    int p = 0;
    while (p < np) {
        const int ix0 = (ox0 + p) * sw - win->pads[2];
        const bool pixel_in = rows_in && ix0 >= 0 && ix0 + KW <= W;
        float *dp = d + (size_t)p * ST;
        if (k3 && pixel_in && C <= 16 && p + 8 <= np && ix0 + 7 * sw + 3 <= W) {
            dw_group8_3x3_c1(dp, xb + ((size_t)iy0 * W + ix0) * C, (size_t)W * C, (size_t)C,
                             (size_t)sw * C, pk->dw_w, pk->CP, _mm512_load_ps(pk->dw_b),
                             tail_mask(C), ST);
            p += 8;
            continue;
        }
        if (k3 && pixel_in && C > 16 && C <= 32 && p + 4 <= np && ix0 + 3 * sw + 3 <= W) {
            dw_group4_3x3_c2(dp, xb + ((size_t)iy0 * W + ix0) * C, (size_t)W * C, (size_t)C,
                             (size_t)sw * C, pk->dw_w, pk->CP, _mm512_load_ps(pk->dw_b),
                             _mm512_load_ps(pk->dw_b + 16), tail_mask(C - 16), ST);
            p += 4;
            continue;
        }
        if (k3 && pixel_in && p + 4 <= np && ix0 + 3 * sw + 3 <= W) {
            const float *x0 = xb + ((size_t)iy0 * W + ix0) * C;
            for (int c0 = 0; c0 < C; c0 += 16) {
                dw_group4_3x3(dp + c0, x0 + c0, (size_t)W * C, (size_t)C, (size_t)sw * C,
                              pk->dw_w + c0, pk->CP, _mm512_load_ps(pk->dw_b + c0),
                              tail_mask(C - c0), ST);
            }
            p += 4;
            continue;
        }
        if (pixel_in) {
            // Inside the image but not in a group of four (segment remainders): no checks.
            const float *x0 = xb + ((size_t)iy0 * W + ix0) * C;
            for (int c0 = 0; c0 < C; c0 += 16) {
                const __mmask16 m = tail_mask(C - c0);
                __m512 acc = _mm512_load_ps(pk->dw_b + c0);
                const float *wk = pk->dw_w + c0;
                for (int ky = 0; ky < KH; ky++) {
                    const float *xr = x0 + (size_t)ky * W * C + c0;
                    for (int kx = 0; kx < KW; kx++, wk += pk->CP) {
                        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xr + (size_t)kx * C),
                                              _mm512_load_ps(wk), acc);
                    }
                }
                _mm512_store_ps(dp + c0, acc);
            }
        } else {
            for (int c0 = 0; c0 < C; c0 += 16) {
                dw_pixel_checked(dp, xb, pk->dw_w, pk->dw_b, c0, C, pk->CP, H, W, iy0, ix0, KH, KW);
            }
        }
        p++;
    }
}

// Output rows [r0, r1) of the batch (row r = image r / OH, row r % OH). A plain function taking
// everything by value: inside an OpenMP region's outlined body the compiler treats captured
// variables as memory, which cost 20% here.
static inline __attribute__((always_inline)) void
dwpw_rows_impl(const nn_args *a, const nn_dwpw_packed *pk, long r0, long r1, const int CK)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0];
    dfd_tensor *y = a->out;
    const int C = CK ? CK : x->shape[3], OH = y->shape[1], OW = y->shape[2], OC = y->shape[3];
    const act_params act = act_params_of(n, pk->slopes);
    const bool act_after = act_is_after(&act);
    const int ST = CK ? (CK + 15) / 16 * 16 : STRIDE_ANY;
    float d[SEG * STRIDE_ANY] __attribute__((aligned(64)));
    for (long r = r0; r < r1; r++) {
        const int b = (int)(r / OH), oy = (int)(r % OH);
        const float *xb = x->data + (size_t)b * x->shape[1] * x->shape[2] * C;
        for (int ox0 = 0; ox0 < OW; ox0 += SEG) {
            const int np = OW - ox0 < SEG ? OW - ox0 : SEG;
            dw_segment(d, xb, x, n, pk, oy, ox0, np, CK, ST);
            const size_t at = (((size_t)b * OH + oy) * OW + ox0) * OC;
            float *out = y->data + at;
            pw_segment(out, a->residual ? a->residual->data + at : NULL, d, np, pk, act, CK, ST);
            if (act_after) {
                nn_act_apply(out, (size_t)np * OC, OC, &n->act, n->alpha.data);
            }
        }
    }
}

// Instances for the channel counts of BlazeFace and FaceMesh, where a constant C turns the tap
// offsets into immediates and unrolls the pointwise loop; any other count runs the generic one.
static void dwpw_rows_c16(const nn_args *a, const nn_dwpw_packed *pk, long r0, long r1)
{
    dwpw_rows_impl(a, pk, r0, r1, 16);
}

static void dwpw_rows_c24(const nn_args *a, const nn_dwpw_packed *pk, long r0, long r1)
{
    dwpw_rows_impl(a, pk, r0, r1, 24);
}

static void dwpw_rows_c32(const nn_args *a, const nn_dwpw_packed *pk, long r0, long r1)
{
    dwpw_rows_impl(a, pk, r0, r1, 32);
}

static void dwpw_rows_any(const nn_args *a, const nn_dwpw_packed *pk, long r0, long r1)
{
    dwpw_rows_impl(a, pk, r0, r1, 0);
}

static void dwpw_rows(const nn_args *a, const nn_dwpw_packed *pk, long r0, long r1)
{
    switch (pk->C) {
    case 16:
        dwpw_rows_c16(a, pk, r0, r1);
        break;
    case 24:
        dwpw_rows_c24(a, pk, r0, r1);
        break;
    case 32:
        dwpw_rows_c32(a, pk, r0, r1);
        break;
    default:
        dwpw_rows_any(a, pk, r0, r1);
        break;
    }
}

void nn_dwpw_avx512(const nn_args *a, const nn_dwpw_packed *pk)
{
    pw_rows_parallel(a, pk, dwpw_rows);
}
