// Helpers shared between the files of the image module; no other module includes this header.
#ifndef DFD_IMAGE_IMAGE_INTERNAL_H
#define DFD_IMAGE_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

// ---- decoders (imageio.c dispatches on the magic bytes) ----

// Decode a whole PNG / JPEG held in memory into a new RGB image (contract of dfd_image_decode;
// `name` is never NULL here). *img is zeroed on entry and left empty on error.
dfd_status dfd_png_decode_rgb(dfd_image *img, const uint8_t *buf, size_t n, const char *name,
                              dfd_error *err);
dfd_status dfd_jpeg_decode_rgb(dfd_image *img, const uint8_t *buf, size_t n, const char *name,
                               dfd_error *err);

// Check the dimensions a file header claims before anything is allocated for them:
// DFD_ERR_FORMAT for 0, DFD_ERR_LIMIT above DFD_IMAGE_MAX_DIM per side or DFD_IMAGE_MAX_PIXELS
// in total, with a message naming `name` and `kind` ("PNG", "JPEG").
dfd_status dfd_image_check_header_dims(long long w, long long h, const char *name, const char *kind,
                                       dfd_error *err);

// True when img can be written by the encoders: pixels present, w, h >= 1, c in {1, 3, 4}.
static inline int dfd_image_is_writable(const dfd_image *img)
{
    return img && img->data && img->w > 0 && img->h > 0 &&
           (img->c == 1 || img->c == 3 || img->c == 4);
}

// ---- font (font.c) ----

// Row `row` (0 .. DFD_FONT_GLYPH_H - 1) of the glyph for `ch` (32..126; the caller maps anything
// else to '?') as a DFD_FONT_GLYPH_W-bit mask whose most significant bit is the leftmost column.
unsigned dfd_font_row(int ch, int row);

#endif
