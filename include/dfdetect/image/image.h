// Images: 8-bit interleaved pixels (RGB for frames and crops) and float images for networks.
// Both are transparent structs that kernels read directly; whether one owns its pixels is written
// where it is made: dfd_image_alloc and the functions that say "allocates" give owning images
// (free with dfd_image_free); dfd_image_view gives a borrowed window into another image.
#ifndef DFD_IMAGE_IMAGE_H
#define DFD_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/util/status.h"

// Largest width or height any image may have; keeps w*h*c far from overflow and bounds memory
// (32768 x 32768 x 3 = 3 GiB). Sizes from files are checked against it before allocating.
#define DFD_IMAGE_MAX_DIM 32768

// 8-bit image, rows top to bottom, pixels left to right, `c` interleaved channels
// (1 = grey, 3 = RGB, 4 = RGBA). Row y starts at data + y * stride.
typedef struct dfd_image {
    int w, h, c;
    size_t stride; // bytes between row starts, >= w * c
    uint8_t *data; // NULL for an empty image
} dfd_image;

// Float image, same layout (HWC); `stride` counts floats, not bytes.
typedef struct dfd_imagef {
    int w, h, c;
    size_t stride;
    float *data;
} dfd_imagef;

// Allocate w x h x c pixels (rows 64-byte aligned, contents zeroed). *img is overwritten: free
// its previous pixels first. Errors: DFD_ERR_INVALID (w or h < 1, c not 1/3/4),
// DFD_ERR_LIMIT (w or h > DFD_IMAGE_MAX_DIM), DFD_ERR_NOMEM.
dfd_status dfd_image_alloc(dfd_image *img, int w, int h, int c);

// Free the pixels of an owning image and reset it to empty. Accepts NULL and empty images.
// Never call it on a view.
void dfd_image_free(dfd_image *img);

// A borrowed w x h window at (x, y) of `src`: no pixels are copied, and the view is valid while
// src's pixels live. The window must lie inside src (checked: DFD_ASSERT).
dfd_image dfd_image_view(const dfd_image *src, int x, int y, int w, int h);

// Pointer to pixel (x, y) (no bounds check).
static inline uint8_t *dfd_image_px(const dfd_image *img, int x, int y)
{
    return img->data + (size_t)y * img->stride + (size_t)x * (size_t)img->c;
}

// Allocates *dst as a packed copy of src (dst must be empty or freed).
// Errors: DFD_ERR_INVALID (src is empty), DFD_ERR_NOMEM.
dfd_status dfd_image_copy(dfd_image *dst, const dfd_image *src);

// Mirrors img left to right in place (an empty image is left as it is).
void dfd_image_mirror(dfd_image *img);

// Allocates *dst rotated clockwise by `degrees_cw` (0, 90, 180 or 270; anything else is
// DFD_ERR_INVALID). 90 and 270 swap width and height. Errors: DFD_ERR_INVALID, DFD_ERR_NOMEM.
dfd_status dfd_image_rotate(dfd_image *dst, const dfd_image *src, int degrees_cw);

// As dfd_image_alloc for float images (zeroed, 64-byte aligned rows).
dfd_status dfd_imagef_alloc(dfd_imagef *img, int w, int h, int c);

// Free an owning float image and reset it. Accepts NULL and empty images.
void dfd_imagef_free(dfd_imagef *img);

#endif
