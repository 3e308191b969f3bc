// Resampling and cropping: frames are resized to the network's input size, face boxes (with
// margins that may reach past the frame) are cropped. Both 8-bit and float images are handled.
//
// Geometry: pixel centres sit at half-integer positions ("half-pixel centres"), so destination
// pixel i samples the source at (i + 0.5) * src_size / dst_size - 0.5, like OpenCV's resize and
// TensorFlow's resize with half_pixel_centers=True. The weights of each output column and row
// are computed once per call into small tables, then the image is filtered horizontally and
// vertically (separable), accumulating in float.
#ifndef DFD_IMAGE_RESIZE_H
#define DFD_IMAGE_RESIZE_H

#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

typedef enum dfd_resize_mode {
    // Bilinear interpolation of the two nearest source pixels along each axis; samples outside
    // the image are clamped to the edge (OpenCV INTER_LINEAR, TF half_pixel_centers=True).
    // Cheap, but downscaling by more than 2x aliases: use AREA for that.
    DFD_RESIZE_BILINEAR = 0,
    // Box filter: each destination pixel is the average of the source area it covers, with
    // fractional coverage of the pixels on its border weighted exactly (OpenCV INTER_AREA when
    // downscaling). The total mass is preserved: sum(dst) * (sw*sh)/(dw*dh) == sum(src), up to
    // rounding. An axis that is enlarged (dst larger than src along it) uses bilinear weights
    // instead, so upscaling with AREA equals BILINEAR (OpenCV's INTER_AREA upscaling differs).
    DFD_RESIZE_AREA,
    DFD_RESIZE_MODE_COUNT
} dfd_resize_mode;

// Resample `src` into `dst`, which the caller has already allocated at the target size with the
// same channel count (any sizes >= 1, independently per axis). 8-bit results are rounded to
// nearest. dst and src must not share pixels.
// Errors: DFD_ERR_INVALID (empty image, channel counts differ, unknown mode), DFD_ERR_NOMEM
// (the weight tables and a few rows of float scratch). On error dst's pixels are unspecified.
// Thread-safe for distinct dst.
dfd_status dfd_image_resize(dfd_image *dst, const dfd_image *src, dfd_resize_mode mode);

// As dfd_image_resize for float images (no rounding or clamping).
dfd_status dfd_imagef_resize(dfd_imagef *dst, const dfd_imagef *src, dfd_resize_mode mode);

// Allocates *dst as a w x h copy of the window of `src` whose top-left corner is (x, y). The
// window may extend past src on any side, or miss it entirely: pixels outside src take `fill`
// (its first src->c bytes; NULL means zeros). *dst is overwritten (free it first) and left empty
// on error. Errors: DFD_ERR_INVALID (w or h < 1, empty src), DFD_ERR_LIMIT (w or h >
// DFD_IMAGE_MAX_DIM), DFD_ERR_NOMEM.
dfd_status dfd_image_crop(dfd_image *dst, const dfd_image *src, int x, int y, int w, int h,
                          const uint8_t fill[4]);

#endif
