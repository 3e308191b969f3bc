// Drawing on 8-bit images: filled and outlined rectangles, thick lines, copying one image onto
// another, and text in a built-in bitmap font. Used for face boxes on frames, contact sheets and
// report figures.
//
// Every function clips to the image: shapes may lie partly or wholly outside it (any int
// coordinates, negative or huge), and nothing outside the image's w x h pixels is ever written,
// so drawing on a dfd_image_view leaves the rest of the parent untouched. They never fail and
// never allocate. Colours are RGB: on c = 3 images they are written as is, on c = 4 images with
// alpha 255, and on c = 1 images as their luma (dfd_rgb_luma). Drawing on an empty image does
// nothing; NULL image or colour pointers are bugs (DFD_ASSERT). Thread-safe for distinct images.
#ifndef DFD_IMAGE_DRAW_H
#define DFD_IMAGE_DRAW_H

#include <stdint.h>

#include "dfdetect/image/image.h"

// ---- shapes ----

// Fill the w x h rectangle whose top-left pixel is (x, y). w or h < 1 draws nothing.
void dfd_draw_fill_rect(dfd_image *img, int x, int y, int w, int h, const uint8_t color[3]);

// Outline of the same rectangle, `thickness` pixels wide, drawn inside it (the outline never
// extends past x + w - 1, y + h - 1). thickness < 1 counts as 1; a thickness of half the smaller
// side or more fills the rectangle.
void dfd_draw_rect(dfd_image *img, int x, int y, int w, int h, int thickness,
                   const uint8_t color[3]);

// Line from (x0, y0) to (x1, y1), both ends included (Bresenham), stamped with a square brush of
// `thickness` pixels (< 1 counts as 1) centred on each point. Lines reaching far outside the image
// are first clipped geometrically, which can move their visible part by at most a pixel.
void dfd_draw_line(dfd_image *img, int x0, int y0, int x1, int y1, int thickness,
                   const uint8_t color[3]);

// Copy `src` onto `dst` with src's top-left pixel at (x, y), clipped to dst. Channel counts may
// differ: grey is replicated to RGB, RGB gets alpha 255, alpha is dropped (not blended), RGB
// becomes luma for c = 1 destinations. src and dst must not overlap.
void dfd_image_blit(dfd_image *dst, const dfd_image *src, int x, int y);

// ---- text ----

// The built-in font: printable ASCII (32..126) as 5 x 9 pixel glyphs: capitals and digits use
// rows 0..6 (the baseline is under row 6), lower case has an x-height of 5 rows and descenders in
// rows 7..8. Each glyph advances DFD_FONT_CELL_W pixels, so consecutive glyphs are separated by
// one blank column; lines of text are DFD_FONT_CELL_H pixels apart (one blank row between). All
// sizes are multiplied by the text scale.
#define DFD_FONT_GLYPH_W 5
#define DFD_FONT_GLYPH_H 9
#define DFD_FONT_CELL_W  6
#define DFD_FONT_CELL_H  10

// Draw `text` with the top-left corner of its first cell at (x, y), each font pixel a
// scale x scale square (scale < 1 counts as 1, > 64 as 64); only the glyph pixels are painted
// (the background shows through). Bytes outside 32..126 are drawn as '?', except that UTF-8
// continuation bytes (0x80..0xBF) are skipped, so each non-ASCII character shows as one '?'.
// There is no line breaking: '\n' is drawn as '?'.
void dfd_draw_text(dfd_image *img, int x, int y, const char *text, int scale,
                   const uint8_t color[3]);

// Width in pixels that dfd_draw_text advances for `text`: number_of_glyphs * DFD_FONT_CELL_W *
// scale, counting glyphs as dfd_draw_text does (including the blank column after the last one).
// The height is DFD_FONT_CELL_H * scale. Saturates at INT_MAX. NULL text has width 0.
int dfd_draw_text_width(const char *text, int scale);

// As dfd_draw_text, but text wider than max_width pixels is shortened: as many glyphs as fit
// followed by "..". If not even one glyph and ".." fit, as many glyphs as fit are drawn without
// them. Returns the width drawn (<= max_width, 0 when max_width is smaller than one cell).
int dfd_draw_text_fit(dfd_image *img, int x, int y, const char *text, int max_width, int scale,
                      const uint8_t color[3]);

#endif
