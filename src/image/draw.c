// Clipped drawing primitives on 8-bit images: rectangles, thick lines, blits and bitmap text.
// Coordinates are widened to long long before any arithmetic, so no int overflow happens for
// shapes far outside the image; everything reduces to filling clipped spans.
#include "dfdetect/image/draw.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "dfdetect/image/convert.h"
#include "image_internal.h"

// ---- pixels ----

// The bytes one pixel of `img` gets for an RGB colour (see draw.h for grey and RGBA).
static void make_px(uint8_t px[4], const dfd_image *img, const uint8_t color[3])
{
    DFD_ASSERT(color != NULL);
    if (img->c == 1) {
        px[0] = dfd_rgb_luma(color[0], color[1], color[2]);
    } else {
        memcpy(px, color, 3);
        px[3] = 255;
    }
}

static bool drawable(const dfd_image *img)
{
    DFD_ASSERT(img != NULL);
    return img->data && img->w > 0 && img->h > 0 && (img->c == 1 || img->c == 3 || img->c == 4);
}

// Fill the half-open box [x0, x1) x [y0, y1), clipped to the image.
static void fill_box(dfd_image *img, long long x0, long long y0, long long x1, long long y1,
                     const uint8_t px[4])
{
    if (x0 < 0) {
        x0 = 0;
    }
    if (y0 < 0) {
        y0 = 0;
    }
    if (x1 > img->w) {
        x1 = img->w;
    }
    if (y1 > img->h) {
        y1 = img->h;
    }
    if (x0 >= x1 || y0 >= y1) {
        return;
    }
    const size_t c = (size_t)img->c, n = (size_t)(x1 - x0);
    for (long long y = y0; y < y1; y++) {
        uint8_t *p = dfd_image_px(img, (int)x0, (int)y);
        if (c == 1) {
            memset(p, px[0], n);
            continue;
        }
        for (size_t i = 0; i < n; i++, p += c) {
            memcpy(p, px, c);
        }
    }
}

// ---- shapes ----

void dfd_draw_fill_rect(dfd_image *img, int x, int y, int w, int h, const uint8_t color[3])
{
    if (!drawable(img) || w < 1 || h < 1) {
        return;
    }
    uint8_t px[4];
    make_px(px, img, color);
    fill_box(img, x, y, (long long)x + w, (long long)y + h, px);
}

void dfd_draw_rect(dfd_image *img, int x, int y, int w, int h, int thickness,
                   const uint8_t color[3])
{
    if (!drawable(img) || w < 1 || h < 1) {
        return;
    }
    uint8_t px[4];
    make_px(px, img, color);
    const long long t = thickness < 1 ? 1 : thickness;
    const long long x0 = x, y0 = y, x1 = x0 + w, y1 = y0 + h;
    if (2 * t >= w || 2 * t >= h) {
        fill_box(img, x0, y0, x1, y1, px);
        return;
    }
    fill_box(img, x0, y0, x1, y0 + t, px);         // top
    fill_box(img, x0, y1 - t, x1, y1, px);         // bottom
    fill_box(img, x0, y0 + t, x0 + t, y1 - t, px); // left
    fill_box(img, x1 - t, y0 + t, x1, y1 - t, px); // right
}

// Liang-Barsky: shrink the parameter range [*t0, *t1] of p + t*d to where `p_i + t*d_i` lies in
// [lo, hi]. False when nothing is left.
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
    if (a > *t0) {
        *t0 = a;
    }
    if (b < *t1) {
        *t1 = b;
    }
    return *t0 <= *t1;
}

void dfd_draw_line(dfd_image *img, int x0, int y0, int x1, int y1, int thickness,
                   const uint8_t color[3])
{
    if (!drawable(img)) {
        return;
    }
    uint8_t px[4];
    make_px(px, img, color);
    const long long t = thickness < 1 ? 1 : thickness;
    const long long lo = -(t - 1) / 2; // brush covers [p + lo, p + lo + t)
    // Points more than t pixels outside the image cannot paint anything: clip the segment to that
    // margin so a line to (INT_MAX, INT_MIN) costs no more than one across the image.
    long long ax = x0, ay = y0, bx = x1, by = y1;
    const double mlo = (double)(-t - 1), mxx = (double)img->w + (double)t,
                 myy = (double)img->h + (double)t;
    bool a_in = ax >= mlo && ax <= mxx && ay >= mlo && ay <= myy;
    bool b_in = bx >= mlo && bx <= mxx && by >= mlo && by <= myy;
    if (!a_in || !b_in) {
        double dx = (double)(bx - ax), dy = (double)(by - ay), t0 = 0.0, t1 = 1.0;
        if (!clip_axis((double)ax, dx, mlo, mxx, &t0, &t1) ||
            !clip_axis((double)ay, dy, mlo, myy, &t0, &t1)) {
            return;
        }
        long long cax = llround((double)ax + t0 * dx), cay = llround((double)ay + t0 * dy);
        long long cbx = llround((double)ax + t1 * dx), cby = llround((double)ay + t1 * dy);
        ax = cax;
        ay = cay;
        bx = cbx;
        by = cby;
    }
    // Bresenham over all octants.
    long long dx = bx > ax ? bx - ax : ax - bx, sx = ax < bx ? 1 : -1;
    long long dy = by > ay ? ay - by : by - ay, sy = ay < by ? 1 : -1; // dy <= 0
    long long e = dx + dy;
    for (;;) {
        fill_box(img, ax + lo, ay + lo, ax + lo + t, ay + lo + t, px);
        if (ax == bx && ay == by) {
            break;
        }
        long long e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            ax += sx;
        }
        if (e2 <= dx) {
            e += dx;
            ay += sy;
        }
    }
}

// ---- blit ----

// Convert one pixel between channel layouts (1, 3, 4), as documented for dfd_image_blit.
static void convert_px(uint8_t *d, int dc, const uint8_t *s, int sc)
{
    uint8_t rgb[3];
    if (sc == 1) {
        rgb[0] = rgb[1] = rgb[2] = s[0];
    } else {
        memcpy(rgb, s, 3);
    }
    if (dc == 1) {
        d[0] = sc == 1 ? s[0] : dfd_rgb_luma(rgb[0], rgb[1], rgb[2]);
    } else {
        memcpy(d, rgb, 3);
        if (dc == 4) {
            d[3] = sc == 4 ? s[3] : 255;
        }
    }
}

void dfd_image_blit(dfd_image *dst, const dfd_image *src, int x, int y)
{
    DFD_ASSERT(src != NULL);
    if (!drawable(dst) || !drawable(src)) {
        return;
    }
    // Destination box, clipped; (sx0, sy0) is the matching source pixel.
    long long dx0 = x, dy0 = y, dx1 = dx0 + src->w, dy1 = dy0 + src->h;
    long long sx0 = 0, sy0 = 0;
    if (dx0 < 0) {
        sx0 = -dx0;
        dx0 = 0;
    }
    if (dy0 < 0) {
        sy0 = -dy0;
        dy0 = 0;
    }
    if (dx1 > dst->w) {
        dx1 = dst->w;
    }
    if (dy1 > dst->h) {
        dy1 = dst->h;
    }
    if (dx0 >= dx1 || dy0 >= dy1) {
        return;
    }
    const int n = (int)(dx1 - dx0);
    for (long long j = 0; j < dy1 - dy0; j++) {
        uint8_t *d = dfd_image_px(dst, (int)dx0, (int)(dy0 + j));
        const uint8_t *s = dfd_image_px(src, (int)sx0, (int)(sy0 + j));
        if (dst->c == src->c) {
            memcpy(d, s, (size_t)n * (size_t)src->c);
            continue;
        }
        for (int i = 0; i < n; i++, d += dst->c, s += src->c) {
            convert_px(d, dst->c, s, src->c);
        }
    }
}

// ---- text ----

static int clamp_scale(int scale)
{
    return scale < 1 ? 1 : scale > 64 ? 64 : scale;
}

// The glyph a byte is drawn as, or -1 for UTF-8 continuation bytes, which take no cell.
static int glyph_of(unsigned char b)
{
    if (b >= 32 && b <= 126) {
        return b;
    }
    if (b >= 0x80 && b <= 0xbf) {
        return -1;
    }
    return '?';
}

static size_t count_glyphs(const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        n += glyph_of(*p) >= 0;
    }
    return n;
}

// Draw at most max_glyphs glyphs of text; returns the number drawn.
static size_t draw_glyphs(dfd_image *img, long long x, long long y, const char *text,
                          size_t max_glyphs, int scale, const uint8_t px[4])
{
    const long long cell_w = (long long)DFD_FONT_CELL_W * scale;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && n < max_glyphs; p++) {
        int ch = glyph_of(*p);
        if (ch < 0) {
            continue;
        }
        n++;
        bool visible = x + cell_w > 0 && x < img->w && y + (long long)DFD_FONT_CELL_H * scale > 0 &&
                       y < img->h;
        for (int r = 0; visible && r < DFD_FONT_GLYPH_H; r++) {
            unsigned mask = dfd_font_row(ch, r);
            for (int k = 0; k < DFD_FONT_GLYPH_W; k++) {
                if (mask & (1u << (DFD_FONT_GLYPH_W - 1 - k))) {
                    long long gx = x + (long long)k * scale, gy = y + (long long)r * scale;
                    fill_box(img, gx, gy, gx + scale, gy + scale, px);
                }
            }
        }
        x += cell_w;
    }
    return n;
}

void dfd_draw_text(dfd_image *img, int x, int y, const char *text, int scale,
                   const uint8_t color[3])
{
    DFD_ASSERT(text != NULL);
    if (!drawable(img)) {
        return;
    }
    uint8_t px[4];
    make_px(px, img, color);
    (void)draw_glyphs(img, x, y, text, (size_t)-1, clamp_scale(scale), px);
}

int dfd_draw_text_width(const char *text, int scale)
{
    if (!text) {
        return 0;
    }
    size_t cell = (size_t)DFD_FONT_CELL_W * (size_t)clamp_scale(scale);
    size_t n = count_glyphs(text);
    return n > (size_t)INT_MAX / cell ? INT_MAX : (int)(n * cell);
}

int dfd_draw_text_fit(dfd_image *img, int x, int y, const char *text, int max_width, int scale,
                      const uint8_t color[3])
{
    DFD_ASSERT(text != NULL);
    if (!drawable(img) || max_width < 1) {
        return 0;
    }
    scale = clamp_scale(scale);
    uint8_t px[4];
    make_px(px, img, color);
    const size_t cell = (size_t)DFD_FONT_CELL_W * (size_t)scale;
    const size_t fit = (size_t)max_width / cell, n = count_glyphs(text);
    if (n <= fit) {
        return (int)(draw_glyphs(img, x, y, text, n, scale, px) * cell);
    }
    if (fit < 3) { // no room for one glyph and ".."
        return (int)(draw_glyphs(img, x, y, text, fit, scale, px) * cell);
    }
    size_t k = draw_glyphs(img, x, y, text, fit - 2, scale, px);
    k += draw_glyphs(img, x + (long long)(k * cell), y, "..", 2, scale, px);
    return (int)(k * cell);
}
