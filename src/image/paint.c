// Anti-aliased coverage masks, translucent fills and vertical text for the chart renderers
// (report/chart.h). Shapes are clipped geometrically before rasterising, so the cost of a shape
// is bounded by the part of it near the image, whatever its coordinates.
#include "dfdetect/image/paint.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "dfdetect/image/convert.h"
#include "dfdetect/image/draw.h"
#include "image_internal.h"

// ---- helpers ----

static bool paintable(const dfd_image *img)
{
    DFD_ASSERT(img != NULL);
    return img->data && img->w > 0 && img->h > 0;
}

static bool is_mask(const dfd_image *mask)
{
    if (!paintable(mask)) {
        return false;
    }
    DFD_ASSERT(mask->c == 1);
    return true;
}

static double clamp01(double v)
{
    return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

// Integer pixel range [*i0, *i1] covering the continuous span [lo, hi] within 0..n-1; false when
// empty. lo and hi are finite.
static bool pixel_span(int *i0, int *i1, double lo, double hi, int n)
{
    lo = ceil(lo);
    hi = floor(hi);
    if (lo < 0.0) {
        lo = 0.0;
    }
    if (hi > (double)(n - 1)) {
        hi = (double)(n - 1);
    }
    if (lo > hi) {
        return false;
    }
    *i0 = (int)lo;
    *i1 = (int)hi;
    return true;
}

// Raise the coverage of mask pixel (x, y) to cov (0..1).
static void cover(dfd_image *mask, int x, int y, double cov)
{
    uint8_t *p = dfd_image_px(mask, x, y);
    int v = (int)lround(cov * 255.0);
    if (v > *p) {
        *p = (uint8_t)v;
    }
}

// Liang-Barsky along one axis: narrow [*t0, *t1] to where p + t d lies in [lo, hi].
static bool clip_axis(double p, double d, double lo, double hi, double *t0, double *t1)
{
    if (d == 0.0) {
        return p >= lo && p <= hi;
    }
    double a = (lo - p) / d, b = (hi - p) / d;
    if (a > b) {
        double tmp = a;
        a = b;
        b = tmp;
    }
    *t0 = a > *t0 ? a : *t0;
    *t1 = b < *t1 ? b : *t1;
    return *t0 <= *t1;
}

// ---- coverage masks ----

void dfd_mask_segment(dfd_image *mask, double x0, double y0, double x1, double y1, double width)
{
    if (!is_mask(mask) || !isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1) ||
        !(width > 0.0) || !isfinite(width)) {
        return;
    }
    const double r = width / 2.0 + 0.5;
    // Clip to the image grown by r: points beyond cannot cover anything.
    double dx = x1 - x0, dy = y1 - y0, t0 = 0.0, t1 = 1.0;
    if (!isfinite(dx) || !isfinite(dy) ||
        !clip_axis(x0, dx, -r - 1.0, (double)mask->w + r, &t0, &t1) ||
        !clip_axis(y0, dy, -r - 1.0, (double)mask->h + r, &t0, &t1)) {
        return;
    }
    const double ax = x0 + t0 * dx, ay = y0 + t0 * dy;
    const double bx = x0 + t1 * dx, by = y0 + t1 * dy;
    dx = bx - ax;
    dy = by - ay;
    const double len2 = dx * dx + dy * dy;
    int i0, i1, j0, j1;
    if (!pixel_span(&i0, &i1, fmin(ax, bx) - r, fmax(ax, bx) + r, mask->w) ||
        !pixel_span(&j0, &j1, fmin(ay, by) - r, fmax(ay, by) + r, mask->h)) {
        return;
    }
    for (int j = j0; j <= j1; j++) {
        for (int i = i0; i <= i1; i++) {
            double px = (double)i - ax, py = (double)j - ay;
            double t = len2 > 0.0 ? clamp01((px * dx + py * dy) / len2) : 0.0;
            double ex = px - t * dx, ey = py - t * dy;
            double cov = r - sqrt(ex * ex + ey * ey);
            if (cov > 0.0) {
                cover(mask, i, j, clamp01(cov));
            }
        }
    }
}

void dfd_mask_disc(dfd_image *mask, double cx, double cy, double radius)
{
    if (!is_mask(mask) || !isfinite(cx) || !isfinite(cy) || !(radius > 0.0) || !isfinite(radius)) {
        return;
    }
    const double r = radius + 0.5;
    int i0, i1, j0, j1;
    if (!pixel_span(&i0, &i1, cx - r, cx + r, mask->w) ||
        !pixel_span(&j0, &j1, cy - r, cy + r, mask->h)) {
        return;
    }
    for (int j = j0; j <= j1; j++) {
        for (int i = i0; i <= i1; i++) {
            double ex = (double)i - cx, ey = (double)j - cy;
            double cov = r - sqrt(ex * ex + ey * ey);
            if (cov > 0.0) {
                cover(mask, i, j, clamp01(cov));
            }
        }
    }
}

// Even-odd point-in-polygon test.
static bool inside(const double *xs, const double *ys, size_t n, double x, double y)
{
    bool in = false;
    for (size_t i = 0, k = n - 1; i < n; k = i++) {
        if ((ys[i] > y) != (ys[k] > y) &&
            x < (xs[k] - xs[i]) * (y - ys[i]) / (ys[k] - ys[i]) + xs[i]) {
            in = !in;
        }
    }
    return in;
}

void dfd_mask_polygon(dfd_image *mask, const double *xs, const double *ys, size_t n)
{
    if (!is_mask(mask) || n < 3) {
        return;
    }
    DFD_ASSERT(xs != NULL && ys != NULL);
    double lx = xs[0], hx = xs[0], ly = ys[0], hy = ys[0];
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(xs[i]) || !isfinite(ys[i])) {
            return;
        }
        lx = fmin(lx, xs[i]);
        hx = fmax(hx, xs[i]);
        ly = fmin(ly, ys[i]);
        hy = fmax(hy, ys[i]);
    }
    int i0, i1, j0, j1;
    if (!pixel_span(&i0, &i1, lx - 0.5, hx + 0.5, mask->w) ||
        !pixel_span(&j0, &j1, ly - 0.5, hy + 0.5, mask->h)) {
        return;
    }
    for (int j = j0; j <= j1; j++) {
        for (int i = i0; i <= i1; i++) {
            int hits = 0;
            for (int sy = 0; sy < 4; sy++) {
                for (int sx = 0; sx < 4; sx++) {
                    hits += inside(xs, ys, n, (double)i + (sx + 0.5) / 4.0 - 0.5,
                                   (double)j + (sy + 0.5) / 4.0 - 0.5);
                }
            }
            if (hits) {
                cover(mask, i, j, hits / 16.0);
            }
        }
    }
}

// Blend one channel value towards `to` by a (0..1).
static uint8_t mix(uint8_t from, uint8_t to, double a)
{
    return (uint8_t)lround((double)from + ((double)to - (double)from) * a);
}

// Blend pixel p of an image with c channels towards color by a.
static void blend_px(uint8_t *p, int c, const uint8_t color[3], double a)
{
    if (c == 1) {
        p[0] = mix(p[0], dfd_rgb_luma(color[0], color[1], color[2]), a);
        return;
    }
    for (int k = 0; k < 3; k++) {
        p[k] = mix(p[k], color[k], a);
    }
    if (c == 4) {
        p[3] = 255;
    }
}

void dfd_mask_composite(dfd_image *img, dfd_image *mask, const uint8_t color[3], double opacity)
{
    DFD_ASSERT(color != NULL);
    if (!paintable(img) || !is_mask(mask)) {
        return;
    }
    DFD_ASSERT(img->w == mask->w && img->h == mask->h);
    opacity = isfinite(opacity) ? clamp01(opacity) : 0.0;
    for (int y = 0; y < img->h; y++) {
        uint8_t *m = dfd_image_px(mask, 0, y);
        for (int x = 0; x < img->w; x++) {
            if (m[x]) {
                blend_px(dfd_image_px(img, x, y), img->c, color, opacity * m[x] / 255.0);
                m[x] = 0;
            }
        }
    }
}

// ---- translucent and rotated ----

void dfd_draw_blend_rect(dfd_image *img, int x, int y, int w, int h, const uint8_t color[3],
                         double opacity)
{
    DFD_ASSERT(color != NULL);
    if (!paintable(img) || w < 1 || h < 1) {
        return;
    }
    opacity = isfinite(opacity) ? clamp01(opacity) : 0.0;
    long long x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    long long x1 = (long long)x + w, y1 = (long long)y + h;
    x1 = x1 > img->w ? img->w : x1;
    y1 = y1 > img->h ? img->h : y1;
    for (long long j = y0; j < y1; j++) {
        for (long long i = x0; i < x1; i++) {
            blend_px(dfd_image_px(img, (int)i, (int)j), img->c, color, opacity);
        }
    }
}

void dfd_draw_text_up(dfd_image *img, int x, int y, const char *text, int scale,
                      const uint8_t color[3])
{
    DFD_ASSERT(text != NULL && color != NULL);
    if (!paintable(img)) {
        return;
    }
    const int s = scale < 1 ? 1 : scale > 64 ? 64 : scale;
    // Upright font pixel (u, v) (u along the text, v down) lands at (x + v, y - u).
    long long u0 = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        int ch = *p;
        if (ch >= 0x80 && ch <= 0xbf) { // UTF-8 continuation: no cell (as dfd_draw_text)
            continue;
        }
        if (ch < 32 || ch > 126) {
            ch = '?';
        }
        if ((long long)y - u0 < -(long long)DFD_FONT_CELL_W * s) {
            break; // the rest is above the image
        }
        for (int r = 0; r < DFD_FONT_GLYPH_H; r++) {
            long long px = (long long)x + (long long)r * s;
            if (px < -s || px > img->w) {
                continue;
            }
            unsigned bits = dfd_font_row(ch, r);
            for (int k = 0; k < DFD_FONT_GLYPH_W; k++) {
                if (bits & (1u << (DFD_FONT_GLYPH_W - 1 - k))) {
                    long long py = (long long)y - u0 - (long long)(k + 1) * s + 1;
                    if (py >= -s && py <= img->h) {
                        dfd_draw_fill_rect(img, (int)px, (int)py, s, s, color);
                    }
                }
            }
        }
        u0 += (long long)DFD_FONT_CELL_W * s;
    }
}
