// Painting beyond draw.h, for charts: anti-aliased shapes through coverage masks, translucent
// fills, and text turned 90 degrees (vertical axis labels).
//
// Anti-aliasing works in two steps. Shapes are first rasterised as coverage (0..255) into a mask,
// a 1-channel dfd_image the size of the target (or a view of one): each dfd_mask_* call keeps the
// larger of the old and new coverage per pixel, so the joints of a polyline are not painted twice.
// dfd_mask_composite then blends one colour through the mask onto an image and clears the mask
// for the next shape. Coordinates are doubles in pixel units with integer values at pixel centres:
// a segment from (0, 0) to (9, 0) covers the centres of pixels 0..9 of row 0 fully.
//
// Like draw.h: every function clips to its image (any finite coordinates, however far outside),
// never writes outside w x h, never fails and never allocates. Non-finite coordinates draw
// nothing. Masks must have c = 1; colours are RGB as in draw.h. NULL images or colours are bugs
// (DFD_ASSERT); empty images draw nothing. Thread-safe for distinct images.
#ifndef DFD_IMAGE_PAINT_H
#define DFD_IMAGE_PAINT_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/image/image.h"

// ---- coverage masks ----

// A segment of the given width (> 0) with round caps: a pixel's coverage is
// clamp(width / 2 + 0.5 - d, 0, 1), d being the distance from its centre to the segment.
void dfd_mask_segment(dfd_image *mask, double x0, double y0, double x1, double y1, double width);

// A filled disc (radius > 0): coverage clamp(radius + 0.5 - d, 0, 1), d the distance to the centre.
void dfd_mask_disc(dfd_image *mask, double cx, double cy, double radius);

// A filled polygon of n >= 3 vertices (even-odd rule, any shape), coverage estimated from 4 x 4
// samples per pixel. Meant for small shapes (markers, arrow heads): the cost is its bounding
// box's area.
void dfd_mask_polygon(dfd_image *mask, const double *xs, const double *ys, size_t n);

// Blend `color` onto img through mask (same w and h, c = 1; checked: DFD_ASSERT): every pixel
// becomes old + (color - old) * opacity * coverage / 255, rounded; opacity in [0, 1] (clamped).
// Then the mask is cleared to 0.
void dfd_mask_composite(dfd_image *img, dfd_image *mask, const uint8_t color[3], double opacity);

// ---- translucent and rotated ----

// As dfd_draw_fill_rect, blending: old + (color - old) * opacity (clamped to [0, 1]), rounded.
void dfd_draw_blend_rect(dfd_image *img, int x, int y, int w, int h, const uint8_t color[3],
                         double opacity);

// `text` in the built-in font (draw.h) turned 90 degrees counter-clockwise, reading bottom to
// top, as a vertical axis label: the text's baseline is towards the right. (x, y) is the
// bottom-left corner of the first glyph's cell after turning; the text occupies columns
// x .. x + DFD_FONT_CELL_H * scale - 1 and rows y - dfd_draw_text_width(text, scale) + 1 .. y.
void dfd_draw_text_up(dfd_image *img, int x, int y, const char *text, int scale,
                      const uint8_t color[3]);

#endif
