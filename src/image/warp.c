// Affine warp with bilinear sampling and a constant border, plus the small 2x3 matrix helpers the
// face crop-and-align step uses to build the map and to move landmarks between frame and crop.
// Coordinates and conventions are specified in include/dfdetect/image/warp.h.
#include "dfdetect/image/warp.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

// Sample positions are rounded to 11 fractional bits (1/2048 pixel). Interpolating along x
// gives values below 255 * 2^11, along y below 255 * 2^22, and every intermediate (including the
// signed differences times a fraction) stays within 32-bit signed integers.
#define FRAC_BITS 11
#define FRAC_ONE  (1 << FRAC_BITS)
#define BLEND_RND (1 << (2 * FRAC_BITS - 1))
// Interior positions are stepped along a row in 32.32 fixed point (exact integer steps, so a
// position is the same whether reached by stepping or computed directly).
#define POS_BITS 32
#define POS_ONE  ((int64_t)1 << POS_BITS)
// Rows whose start or step exceeds these go through the general path only (keeps every 32.32
// value below 2^63: |start| < 2^20 pixels, |step| <= 2^15 pixels, at most 2^15 columns).
#define POS_MAX_START 1048576.0
#define POS_MAX_STEP  32768.0

// ---- warp ----

// Channel k of the bilinear blend, written as a + (b - a) * f on each axis: the same value as
// a * (1 - f) + b * f, with three multiplications instead of six.
static inline __attribute__((always_inline)) int blend1(const uint8_t *p00, const uint8_t *p01,
                                                        const uint8_t *p10, const uint8_t *p11,
                                                        int fx, int fy, int k)
{
    const int t0 = (p00[k] << FRAC_BITS) + (p01[k] - p00[k]) * fx;
    const int t1 = (p10[k] << FRAC_BITS) + (p11[k] - p10[k]) * fx;
    return ((t0 << FRAC_BITS) + (t1 - t0) * fy + BLEND_RND) >> (2 * FRAC_BITS);
}

// Bilinear blend of the four neighbours with position fractions fx, fy in [0, 2^11). Unrolled by
// hand (`c` is a literal at every call site, so the dead branches vanish), and every channel is
// read before any is stored: a store through uint8_t * may alias anything, and would otherwise
// force the compiler to reload the sources after each one.
static inline __attribute__((always_inline)) void blend(uint8_t *o, const uint8_t *p00,
                                                        const uint8_t *p01, const uint8_t *p10,
                                                        const uint8_t *p11, int fx, int fy,
                                                        const int c)
{
    const int r0 = blend1(p00, p01, p10, p11, fx, fy, 0);
    const int r1 = c > 1 ? blend1(p00, p01, p10, p11, fx, fy, 1) : 0;
    const int r2 = c > 2 ? blend1(p00, p01, p10, p11, fx, fy, 2) : 0;
    const int r3 = c > 3 ? blend1(p00, p01, p10, p11, fx, fy, 3) : 0;
    o[0] = (uint8_t)r0;
    if (c > 1) {
        o[1] = (uint8_t)r1;
    }
    if (c > 2) {
        o[2] = (uint8_t)r2;
    }
    if (c > 3) {
        o[3] = (uint8_t)r3;
    }
}

// The general path, for any position (px, py) in pixel-index space (centres at integers):
// neighbours outside src read `fill`, NaN and far-away positions give fill.
static inline __attribute__((always_inline)) void
sample_any(uint8_t *o, const dfd_image *src, double px, double py, const uint8_t *fill, const int c)
{
    const int sw = src->w, sh = src->h;
    // Every sample with a neighbour inside src has px in (-1, w) and py in (-1, h); the test is
    // written so that NaN (from an overflowing matrix) also lands in fill.
    if (!(px > -1.0 && px < (double)sw && py > -1.0 && py < (double)sh)) {
        for (int k = 0; k < c; k++) {
            o[k] = fill[k];
        }
        return;
    }
    // Offset by one pixel so the value is positive and truncation rounds down; + 0.5 rounds the
    // position to the nearest 1/2048. Bounded by (w + 1) * 2048 < 2^27.
    const int ux = (int)(px * FRAC_ONE + (FRAC_ONE + 0.5));
    const int uy = (int)(py * FRAC_ONE + (FRAC_ONE + 0.5));
    const int x0 = (ux >> FRAC_BITS) - 1, y0 = (uy >> FRAC_BITS) - 1;
    const bool in_x0 = x0 >= 0 && x0 < sw, in_x1 = x0 + 1 >= 0 && x0 + 1 < sw;
    const bool in_y0 = y0 >= 0 && y0 < sh, in_y1 = y0 + 1 >= 0 && y0 + 1 < sh;
    const uint8_t *r0 = src->data + (size_t)(in_y0 ? y0 : 0) * src->stride;
    const uint8_t *r1 = src->data + (size_t)(in_y1 ? y0 + 1 : 0) * src->stride;
    const size_t c0 = (size_t)(in_x0 ? x0 : 0) * (size_t)c;
    const size_t c1 = (size_t)(in_x1 ? x0 + 1 : 0) * (size_t)c;
    blend(o, in_y0 && in_x0 ? r0 + c0 : fill, in_y0 && in_x1 ? r0 + c1 : fill,
          in_y1 && in_x0 ? r1 + c0 : fill, in_y1 && in_x1 ? r1 + c1 : fill, ux & (FRAC_ONE - 1),
          uy & (FRAC_ONE - 1), c);
}

// Columns i in [0, n) with 0 <= u0 + i * du < hi, as [*lo, *hi_out) (possibly empty). Exact
// integer arithmetic: |u0| < 2^53, 0 < hi < 2^48, |du| <= 2^47.
static void span_1d(int *lo, int *hi_out, int64_t u0, int64_t du, int64_t hi, int n)
{
    int64_t a = 0, b = n; // [a, b)
    if (du == 0) {
        if (u0 < 0 || u0 >= hi) {
            b = 0;
        }
    } else if (du > 0) {
        // u0 + i du >= 0  <=>  i >= ceil(-u0 / du);   u0 + i du < hi  <=>  i <= (hi-1-u0) / du.
        if (u0 < 0) {
            a = (-u0 + du - 1) / du;
        }
        b = hi - 1 - u0 < 0 ? 0 : (hi - 1 - u0) / du + 1;
    } else {
        const int64_t d = -du;
        // u0 - i d >= 0  <=>  i <= u0 / d;   u0 - i d < hi  <=>  i >= (u0 - hi) / d + 1.
        b = u0 < 0 ? 0 : u0 / d + 1;
        if (u0 - hi >= 0) {
            a = (u0 - hi) / d + 1;
        }
    }
    a = a < 0 ? 0 : a > n ? n : a;
    b = b < a ? a : b > n ? n : b;
    *lo = (int)a;
    *hi_out = (int)b;
}

// Warp every row. `c` is a literal at each call site, so the compiler unrolls the channel loops.
static inline __attribute__((always_inline)) void
warp_rows(dfd_image *dst, const dfd_image *src, const double m[6], const uint8_t *fill, const int c)
{
    // Locals, not src->..., inside the loops: stores through uint8_t * may alias the structs.
    const size_t stride = src->stride;
    const uint8_t *const sdata = src->data;
    const int dw = dst->w, dh = dst->h;
    const size_t dstride = dst->stride;
    uint8_t *const ddata = dst->data;
    const int64_t rnd = (int64_t)1 << (POS_BITS - FRAC_BITS - 1); // rounds to 1/2048
    const bool small_step = fabs(m[0]) <= POS_MAX_STEP && fabs(m[3]) <= POS_MAX_STEP;
    const int64_t du = small_step ? (int64_t)llround(m[0] * (double)POS_ONE) : 0;
    const int64_t dv = small_step ? (int64_t)llround(m[3] * (double)POS_ONE) : 0;
    for (int j = 0; j < dh; j++) {
        // Source position of column 0's centre, shifted by -0.5 into pixel-index space, where
        // the integer part indexes the pixel whose centre is at or before it.
        const double y = j + 0.5;
        const double bx = m[0] * 0.5 + m[1] * y + m[2] - 0.5;
        const double by = m[3] * 0.5 + m[4] * y + m[5] - 0.5;
        uint8_t *o = ddata + (size_t)j * dstride;
        // The interior span: columns whose four neighbours all lie inside src (x0 in [0, w-2],
        // y0 in [0, h-2]). Positions are affine in the column, so it is one interval.
        int a = 0, b = 0;
        int64_t u0 = 0, v0 = 0;
        if (small_step && fabs(bx) < POS_MAX_START && fabs(by) < POS_MAX_START && src->w > 1 &&
            src->h > 1) {
            u0 = (int64_t)llround(bx * (double)POS_ONE) + rnd;
            v0 = (int64_t)llround(by * (double)POS_ONE) + rnd;
            int a2, b2;
            span_1d(&a, &b, u0, du, (int64_t)(src->w - 1) << POS_BITS, dw);
            span_1d(&a2, &b2, v0, dv, (int64_t)(src->h - 1) << POS_BITS, dw);
            a = a2 > a ? a2 : a;
            b = b2 < b ? b2 : b;
            b = b < a ? a : b;
        }
        for (int i = 0; i < a; i++) {
            sample_any(o + (size_t)i * (size_t)c, src, bx + m[0] * i, by + m[3] * i, fill, c);
        }
        int64_t ux = u0 + a * du, uy = v0 + a * dv;
        for (int i = a; i < b; i++, ux += du, uy += dv) {
            const int x0 = (int)(ux >> POS_BITS), y0 = (int)(uy >> POS_BITS);
            const int fx = (int)(ux >> (POS_BITS - FRAC_BITS)) & (FRAC_ONE - 1);
            const int fy = (int)(uy >> (POS_BITS - FRAC_BITS)) & (FRAC_ONE - 1);
            const uint8_t *p = sdata + (size_t)y0 * stride + (size_t)x0 * (size_t)c;
            blend(o + (size_t)i * (size_t)c, p, p + c, p + stride, p + stride + c, fx, fy, c);
        }
        for (int i = b; i < dw; i++) {
            sample_any(o + (size_t)i * (size_t)c, src, bx + m[0] * i, by + m[3] * i, fill, c);
        }
    }
}

dfd_status dfd_image_warp_affine(dfd_image *dst, const dfd_image *src, const double m[6],
                                 const uint8_t fill[4])
{
    if (!dst || !src || !m || !dst->data || !src->data || dst->w < 1 || dst->h < 1 || src->w < 1 ||
        src->h < 1 || src->c != dst->c || src->c < 1 || src->c > 4) {
        return DFD_ERR_INVALID;
    }
    for (int k = 0; k < 6; k++) {
        if (!isfinite(m[k])) {
            return DFD_ERR_INVALID;
        }
    }
    static const uint8_t zeros[4] = { 0, 0, 0, 0 };
    const uint8_t *f = fill ? fill : zeros;
    switch (src->c) {
    case 1:
        warp_rows(dst, src, m, f, 1);
        break;
    case 2:
        warp_rows(dst, src, m, f, 2);
        break;
    case 3:
        warp_rows(dst, src, m, f, 3);
        break;
    default:
        warp_rows(dst, src, m, f, 4);
        break;
    }
    return DFD_OK;
}

// ---- matrices ----

void dfd_affine_crop(double m[6], double cx, double cy, double size, double angle_rad, int out_w,
                     int out_h)
{
    // Output offset (u, v) from its centre, in source pixels: u = (x - out_w/2) * size / out_w,
    // v likewise. The output's x axis runs along (cos a, -sin a) on screen (counter-clockwise
    // with y down) and its y axis along (sin a, cos a), a rotation with no mirroring:
    //   sx = cx + cos a * u + sin a * v,   sy = cy - sin a * u + cos a * v.
    const double c = cos(angle_rad), s = sin(angle_rad);
    const double kx = out_w > 0 ? size / out_w : 0.0, ky = out_h > 0 ? size / out_h : 0.0;
    m[0] = c * kx;
    m[1] = s * ky;
    m[3] = -s * kx;
    m[4] = c * ky;
    m[2] = cx - m[0] * (out_w * 0.5) - m[1] * (out_h * 0.5);
    m[5] = cy - m[3] * (out_w * 0.5) - m[4] * (out_h * 0.5);
}

bool dfd_affine_invert(double inv[6], const double m[6])
{
    const double det = m[0] * m[4] - m[1] * m[3];
    const double scale = fmax(fabs(m[0] * m[4]), fabs(m[1] * m[3]));
    // Relative test: a determinant lost in the rounding of its own terms is zero.
    if (!isfinite(det) || !(fabs(det) > 1e-14 * scale) || det == 0.0) {
        return false;
    }
    const double a = m[4] / det, b = -m[1] / det, d = -m[3] / det, e = m[0] / det;
    const double c = -(a * m[2] + b * m[5]), f = -(d * m[2] + e * m[5]);
    if (!isfinite(a) || !isfinite(b) || !isfinite(c) || !isfinite(d) || !isfinite(e) ||
        !isfinite(f)) {
        return false;
    }
    inv[0] = a;
    inv[1] = b;
    inv[2] = c;
    inv[3] = d;
    inv[4] = e;
    inv[5] = f;
    return true;
}

void dfd_affine_apply(const double m[6], double x, double y, double *ox, double *oy)
{
    const double rx = m[0] * x + m[1] * y + m[2];
    const double ry = m[3] * x + m[4] * y + m[5];
    *ox = rx;
    *oy = ry;
}
