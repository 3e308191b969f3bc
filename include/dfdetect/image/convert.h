// Pixel-format conversions: 8-bit images to normalised float images for the networks and back
// (for visualising activations and synthetic data), and between channel layouts (grey, RGB,
// RGBA) for tiles and detector inputs.
#ifndef DFD_IMAGE_CONVERT_H
#define DFD_IMAGE_CONVERT_H

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

// Allocates *dst (same w, h, c as src) with dst(x, y, ch) = (src(x, y, ch) - mean[ch]) *
// scale[ch]. mean == NULL means 0 and scale == NULL means 1 for every channel; only the first
// src->c entries are read. Example: ImageNet normalisation is mean = 255 * (0.485, 0.456, 0.406),
// scale = 1 / (255 * (0.229, 0.224, 0.225)). *dst is overwritten (free it first) and left empty on
// error. Errors: DFD_ERR_INVALID (empty src), DFD_ERR_NOMEM.
dfd_status dfd_image_to_float(dfd_imagef *dst, const dfd_image *src, const float mean[4],
                              const float scale[4]);

// Allocates *dst (same w, h, c as src) with dst = round(src * scale + bias) clamped to 0..255
// (NaN becomes 0). Undoes dfd_image_to_float with a single scale per image: for
// out = v / 255 use scale = 255, bias = 0. Errors: DFD_ERR_INVALID (empty src, c not 1/3/4),
// DFD_ERR_NOMEM.
dfd_status dfd_imagef_to_image(dfd_image *dst, const dfd_imagef *src, float scale, float bias);

// Allocates *dst as a 3-channel copy of src: grey is replicated, RGBA drops alpha, RGB is
// copied. Errors: DFD_ERR_INVALID (empty src), DFD_ERR_NOMEM.
dfd_status dfd_image_to_rgb(dfd_image *dst, const dfd_image *src);

// Allocates *dst as a 1-channel luma copy of src: Y = (77 R + 150 G + 29 B + 128) >> 8 (BT.601
// weights in 8-bit fixed point); alpha is ignored and grey is copied.
// Errors: DFD_ERR_INVALID (empty src), DFD_ERR_NOMEM.
dfd_status dfd_image_to_grey(dfd_image *dst, const dfd_image *src);

// BT.601 luma of one RGB pixel, as dfd_image_to_grey computes it.
static inline uint8_t dfd_rgb_luma(uint8_t r, uint8_t g, uint8_t b)
{
    return (uint8_t)((77u * r + 150u * g + 29u * b + 128u) >> 8);
}

#endif
