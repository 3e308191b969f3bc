// Separable resampling (bilinear, area) of 8-bit and float images, and cropping with fill.
// Each axis gets a table of taps (first source index, count, weights) built once per call; rows
// are filtered horizontally into a small ring of float rows, which are then combined vertically.
#include "dfdetect/image/resize.h"

#include <stdbool.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/size.h"

// ---- weight tables ----

// One axis of the filter: output i reads n[i] consecutive source samples starting at start[i],
// with weights w[i * k + t]. k is the largest tap count. Starts never decrease with i.
typedef struct axis {
    int *start;
    int *n;
    float *w;
    int k;
} axis;

static void axis_free(axis *a)
{
    dfd_free(a->start);
    dfd_free(a->n);
    dfd_free(a->w);
    memset(a, 0, sizeof *a);
}

// Bilinear taps with half-pixel centres: output i samples source position
// s = (i + 0.5) * src / dst - 0.5, clamped to [0, src - 1] (edge replication).
static void bilinear_taps(axis *a, int src, int dst)
{
    const double scale = (double)src / (double)dst;
    for (int i = 0; i < dst; i++) {
        double s = ((double)i + 0.5) * scale - 0.5;
        float *w = a->w + (size_t)i * (size_t)a->k;
        int x0 = s <= 0.0 ? 0 : (int)s; // s > 0: truncation is floor
        double f = s <= 0.0 ? 0.0 : s - (double)x0;
        if (x0 >= src - 1) {
            x0 = src - 1;
            f = 0.0;
        }
        a->start[i] = x0;
        if (f == 0.0) {
            a->n[i] = 1;
            w[0] = 1.0f;
        } else {
            a->n[i] = 2;
            w[0] = (float)(1.0 - f);
            w[1] = (float)f;
        }
    }
}

// Area (box) taps for dst < src. Measured in units of 1/dst source pixels, output i spans
// [i*src, (i+1)*src) and source pixel j spans [j*dst, (j+1)*dst). The weight of j is their
// integer overlap divided by src, so fractional coverage is exact and the weights sum to 1.
static void area_taps(axis *a, int src, int dst)
{
    for (int i = 0; i < dst; i++) {
        long long lo = (long long)i * src, hi = (long long)(i + 1) * src;
        int j0 = (int)(lo / dst); // the pixel containing lo, so every overlap below is > 0
        float *w = a->w + (size_t)i * (size_t)a->k;
        int n = 0;
        for (int j = j0; j < src && (long long)j * dst < hi; j++) {
            long long plo = (long long)j * dst, phi = plo + dst;
            long long ov = (phi < hi ? phi : hi) - (plo > lo ? plo : lo);
            DFD_ASSERT(ov > 0 && n < a->k);
            w[n++] = (float)((double)ov / (double)src);
        }
        a->start[i] = j0;
        a->n[i] = n;
    }
}

static dfd_status axis_build(axis *a, int src, int dst, dfd_resize_mode mode)
{
    memset(a, 0, sizeof *a);
    bool area = (mode == DFD_RESIZE_AREA && dst < src);
    // An output interval of src/dst pixels touches at most floor(src/dst) + 2 source pixels.
    a->k = area ? src / dst + 2 : 2;
    size_t nw;
    if (!dfd_size_mul(&nw, (size_t)dst, (size_t)a->k)) {
        return DFD_ERR_NOMEM;
    }
    a->start = dfd_malloc((size_t)dst * sizeof *a->start);
    a->n = dfd_malloc((size_t)dst * sizeof *a->n);
    a->w = dfd_calloc(nw, sizeof *a->w);
    if (!a->start || !a->n || !a->w) {
        axis_free(a);
        return DFD_ERR_NOMEM;
    }
    if (area) {
        area_taps(a, src, dst);
    } else {
        bilinear_taps(a, src, dst);
    }
    return DFD_OK;
}

// ---- filtering ----

// A 2-D plane of either bytes or floats; stride counts elements.
typedef struct plane {
    int w, h, c;
    size_t stride;
    bool is_u8;
    const void *src; // for the source
    void *dst;       // for the destination
} plane;

// Horizontal pass of one row (u8 or float samples, c interleaved channels) into out (dw * c
// floats). Three channels get their own loop: one pass over the taps with three sums instead of
// three passes (the letterbox of every sampled frame runs through here).
#define FILTER_ROW(T)                                            \
    do {                                                         \
        const T *row = (const T *)row_v;                         \
        for (int x = 0; x < dw; x++) {                           \
            const float *w = ax->w + (size_t)x * (size_t)ax->k;  \
            const T *p = row + (size_t)ax->start[x] * (size_t)c; \
            const int n = ax->n[x];                              \
            if (c == 3) {                                        \
                float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f;           \
                for (int t = 0; t < n; t++, p += 3) {            \
                    a0 += w[t] * (float)p[0];                    \
                    a1 += w[t] * (float)p[1];                    \
                    a2 += w[t] * (float)p[2];                    \
                }                                                \
                out[3 * x] = a0;                                 \
                out[3 * x + 1] = a1;                             \
                out[3 * x + 2] = a2;                             \
                continue;                                        \
            }                                                    \
            for (int ch = 0; ch < c; ch++) {                     \
                float acc = 0.0f;                                \
                for (int t = 0; t < n; t++) {                    \
                    acc += w[t] * (float)p[t * c + ch];          \
                }                                                \
                out[x * c + ch] = acc;                           \
            }                                                    \
        }                                                        \
    } while (0)

static void filter_span(float *out, const void *row_v, bool is_u8, int c, const axis *ax, int dw)
{
    if (is_u8) {
        FILTER_ROW(uint8_t);
    } else {
        FILTER_ROW(float);
    }
}

static void filter_row(float *out, const plane *s, int y, const axis *ax, int dw)
{
    const size_t esize = s->is_u8 ? 1 : sizeof(float);
    filter_span(out, (const char *)s->src + (size_t)y * s->stride * esize, s->is_u8, s->c, ax, dw);
}

// y += a * x over n samples, in blocks of a fixed 16 (-O2 vectorises only loops of a known trip
// count, and only without possible aliasing).
static void axpy_u8(float *restrict y, const uint8_t *restrict x, float a, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (size_t k = 0; k < 16; k++) {
            y[i + k] += a * (float)x[i + k];
        }
    }
    for (; i < n; i++) {
        y[i] += a * (float)x[i];
    }
}

static void axpy_f32(float *restrict y, const float *restrict x, float a, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (size_t k = 0; k < 16; k++) {
            y[i + k] += a * x[i + k];
        }
    }
    for (; i < n; i++) {
        y[i] += a * x[i];
    }
}

// Vertical pass of output row y over the whole source width: the weighted sum of the source rows
// it reads, into vrow (s->w * c floats).
static void filter_column(float *vrow, const plane *s, int y, const axis *ay)
{
    const size_t n = (size_t)s->w * (size_t)s->c;
    const float *wy = ay->w + (size_t)y * (size_t)ay->k;
    memset(vrow, 0, n * sizeof *vrow);
    for (int t = 0; t < ay->n[y]; t++) {
        const size_t r = (size_t)(ay->start[y] + t);
        const float wt = wy[t];
        if (s->is_u8) {
            axpy_u8(vrow, (const uint8_t *)s->src + r * s->stride, wt, n);
        } else {
            axpy_f32(vrow, (const float *)s->src + r * s->stride, wt, n);
        }
    }
}

// Store one finished output row.
static void store_row(const plane *d, int y, const float *acc, size_t row_n)
{
    if (d->is_u8) {
        uint8_t *o = (uint8_t *)d->dst + (size_t)y * d->stride;
        for (size_t i = 0; i < row_n; i++) {
            float v = acc[i] + 0.5f;
            o[i] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
        }
    } else {
        memcpy((float *)d->dst + (size_t)y * d->stride, acc, row_n * sizeof *acc);
    }
}

// Vertical pass first, then one horizontal pass per output row: cheaper than filtering every
// source row horizontally when the image shrinks a lot vertically (a 1080p frame letterboxed
// to 256: 144 horizontal passes instead of 1080).
static dfd_status resize_columns_first(const plane *d, const plane *s, const axis *ax,
                                       const axis *ay)
{
    const size_t row_n = (size_t)d->w * (size_t)d->c;
    float *vrow = dfd_malloc((size_t)s->w * (size_t)s->c * sizeof *vrow);
    float *acc = dfd_malloc(row_n * sizeof *acc);
    if (!vrow || !acc) {
        dfd_free(vrow);
        dfd_free(acc);
        return DFD_ERR_NOMEM;
    }
    for (int y = 0; y < d->h; y++) {
        filter_column(vrow, s, y, ay);
        filter_span(acc, vrow, false, s->c, ax, d->w);
        store_row(d, y, acc, row_n);
    }
    dfd_free(vrow);
    dfd_free(acc);
    return DFD_OK;
}

// Cost of the two orders in multiply-adds: rows first filters every source row horizontally,
// columns first filters every output row vertically across the whole source width. The
// vertical pass runs over contiguous samples and vectorises; the horizontal one gathers taps
// per output sample and does not, so its multiply-adds count four times (measured: a 1080p
// letterbox to 256 took 4 ms rows first, where both orders have the same multiply-adds).
static bool columns_first_is_cheaper(const plane *d, const plane *s, const axis *ax, const axis *ay)
{
    const double h_cost = 4.0;
    const double rows_first = h_cost * s->h * d->w * ax->k + (double)d->h * d->w * ay->k;
    const double columns_first = (double)d->h * s->w * ay->k + h_cost * d->h * d->w * ax->k;
    return columns_first < rows_first;
}

static dfd_status resize_planes(plane *d, const plane *s, dfd_resize_mode mode)
{
    if ((unsigned)mode >= DFD_RESIZE_MODE_COUNT || d->c != s->c || d->c < 1 || d->w < 1 ||
        d->h < 1 || s->w < 1 || s->h < 1 || !d->dst || !s->src) {
        return DFD_ERR_INVALID;
    }
    axis ax, ay;
    dfd_status st = axis_build(&ax, s->w, d->w, mode);
    if (st) {
        return st;
    }
    st = axis_build(&ay, s->h, d->h, mode);
    if (st) {
        axis_free(&ax);
        return st;
    }
    if (columns_first_is_cheaper(d, s, &ax, &ay)) {
        st = resize_columns_first(d, s, &ax, &ay);
        axis_free(&ax);
        axis_free(&ay);
        return st;
    }
    // Ring of ay.k horizontally filtered rows: source row r lives in slot r % ay.k. The rows one
    // output row needs are consecutive and at most ay.k, so they never collide; starts only grow,
    // so each source row is filtered about once.
    const size_t row_n = (size_t)d->w * (size_t)d->c;
    size_t ring_n;
    float *ring = NULL, *acc = NULL;
    int *slot_row = NULL;
    if (dfd_size_mul(&ring_n, row_n, (size_t)ay.k)) {
        ring = dfd_malloc(ring_n * sizeof *ring);
    }
    acc = dfd_malloc(row_n * sizeof *acc);
    slot_row = dfd_malloc((size_t)ay.k * sizeof *slot_row);
    if (!ring || !acc || !slot_row) {
        st = DFD_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < ay.k; i++) {
        slot_row[i] = -1;
    }
    for (int y = 0; y < d->h; y++) {
        const float *wy = ay.w + (size_t)y * (size_t)ay.k;
        memset(acc, 0, row_n * sizeof *acc);
        for (int t = 0; t < ay.n[y]; t++) {
            int r = ay.start[y] + t, slot = r % ay.k;
            float *hrow = ring + (size_t)slot * row_n;
            if (slot_row[slot] != r) {
                filter_row(hrow, s, r, &ax, d->w);
                slot_row[slot] = r;
            }
            axpy_f32(acc, hrow, wy[t], row_n);
        }
        store_row(d, y, acc, row_n);
    }
done:
    dfd_free(ring);
    dfd_free(acc);
    dfd_free(slot_row);
    axis_free(&ax);
    axis_free(&ay);
    return st;
}

dfd_status dfd_image_resize(dfd_image *dst, const dfd_image *src, dfd_resize_mode mode)
{
    if (!dst || !src) {
        return DFD_ERR_INVALID;
    }
    plane d = { dst->w, dst->h, dst->c, dst->stride, true, NULL, dst->data };
    plane s = { src->w, src->h, src->c, src->stride, true, src->data, NULL };
    return resize_planes(&d, &s, mode);
}

dfd_status dfd_imagef_resize(dfd_imagef *dst, const dfd_imagef *src, dfd_resize_mode mode)
{
    if (!dst || !src) {
        return DFD_ERR_INVALID;
    }
    plane d = { dst->w, dst->h, dst->c, dst->stride, false, NULL, dst->data };
    plane s = { src->w, src->h, src->c, src->stride, false, src->data, NULL };
    return resize_planes(&d, &s, mode);
}

// ---- crop ----

dfd_status dfd_image_crop(dfd_image *dst, const dfd_image *src, int x, int y, int w, int h,
                          const uint8_t fill[4])
{
    memset(dst, 0, sizeof *dst);
    if (!src || !src->data || src->w < 1 || src->h < 1) {
        return DFD_ERR_INVALID;
    }
    dfd_status st = dfd_image_alloc(dst, w, h, src->c);
    if (st) {
        return st;
    }
    const size_t c = (size_t)src->c;
    if (fill) {
        uint8_t *row0 = dst->data;
        for (int i = 0; i < w; i++) {
            memcpy(row0 + (size_t)i * c, fill, c);
        }
        for (int j = 1; j < h; j++) {
            memcpy(dst->data + (size_t)j * dst->stride, row0, (size_t)w * c);
        }
    }
    // The part of the window inside src, in source coordinates (64-bit: x + w may overflow int).
    long long x0 = x > 0 ? x : 0, y0 = y > 0 ? y : 0;
    long long x1 = (long long)x + w, y1 = (long long)y + h;
    if (x1 > src->w) {
        x1 = src->w;
    }
    if (y1 > src->h) {
        y1 = src->h;
    }
    for (long long sy = y0; sy < y1 && x0 < x1; sy++) {
        memcpy(dfd_image_px(dst, (int)(x0 - x), (int)(sy - y)), dfd_image_px(src, (int)x0, (int)sy),
               (size_t)(x1 - x0) * c);
    }
    return DFD_OK;
}
