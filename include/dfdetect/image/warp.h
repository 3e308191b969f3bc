// Affine warps of 8-bit images: the face crop-and-align step (face -> nn) resamples a rotated,
// scaled square of the frame into the network's input size in one pass, and maps landmarks
// between the frame and the crop with the same matrices.
//
// Coordinates. Both images use continuous pixel coordinates in which pixel (i, j) (column i,
// row j) covers the unit square [i, i + 1) x [j, j + 1) and has its centre at (i + 0.5, j + 0.5).
// The image spans [0, w] x [0, h]; its centre is (w / 2, h / 2). A 2x3 matrix m maps a point
// (x, y) to
//     x' = m[0] * x + m[1] * y + m[2]
//     y' = m[3] * x + m[4] * y + m[5]
// and the identity {1, 0, 0, 0, 1, 0} maps every pixel centre onto itself. Landmarks from a
// detector that puts pixel centres at integers (OpenCV, most landmark models) need + 0.5 on both
// axes before mapping, and - 0.5 after.
//
// OpenCV. cv::warpAffine's matrix M (with WARP_INVERSE_MAP, integer pixel centres) relates to
// ours by M[2] = m[0] * 0.5 + m[1] * 0.5 + m[2] - 0.5 and M[5] = m[3] * 0.5 + m[4] * 0.5 +
// m[5] - 0.5 (the linear part is the same).
#ifndef DFD_IMAGE_WARP_H
#define DFD_IMAGE_WARP_H

#include <stdbool.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

// Fill every pixel of `dst` by sampling `src` where `m` sends the pixel's centre: destination
// pixel (i, j) takes the bilinear interpolation of src at (sx, sy) = m applied to (i + 0.5,
// j + 0.5), i.e. of the four source pixels whose centres surround that point. m maps DESTINATION
// coordinates to SOURCE coordinates (an "inverse map"); build it with dfd_affine_crop, or invert
// a forward map with dfd_affine_invert.
//
// Border: every source pixel outside src counts as the colour `fill` (its first c bytes; NULL
// means zeros), so a sample half a pixel past the edge is an even blend of the edge and fill, and
// one wholly outside is exactly fill (OpenCV's BORDER_CONSTANT).
//
// Precision: sample positions are rounded to 1/2048 pixel and interpolation runs in integer
// arithmetic, rounded to nearest; when the position falls exactly on a pixel centre the result
// is that pixel exactly (identity, integer translations, 90-degree turns, constant images).
//
// dst is allocated by the caller (its size is the output size) with the same channel count as
// src (1 to 4); dst may be a view. dst and src must not share pixels. Sample positions are taken
// one row at a time from the matrix increments, so the cost is about that of a plain copy of dst
// plus four reads per output pixel (a 224x224 RGB crop is well under a millisecond).
// Errors: DFD_ERR_INVALID (NULL or empty image, channel counts differ or are not 1..4, m not
// finite); dst is untouched then. Thread-safe for distinct dst.
dfd_status dfd_image_warp_affine(dfd_image *dst, const dfd_image *src, const double m[6],
                                 const uint8_t fill[4]);

// Build the destination-to-source matrix that cuts a rotated square out of a frame and fills an
// out_w x out_h output with it: the square of side `size` source pixels centred at (cx, cy)
// (continuous coordinates, see above) and turned by `angle_rad`. Output centre (out_w / 2,
// out_h / 2) maps to (cx, cy); the output's width spans `size` source pixels, and so does its
// height (so a non-square output stretches the square).
//
// Angle sign: angles are measured as seen on screen, counter-clockwise positive (even though y
// points down). A positive angle turns the crop counter-clockwise on the source, so the output's
// x axis runs along the source direction (cos a, -sin a): a line rising to the right at angle a
// in the source comes out horizontal, and the content appears turned clockwise by a. For eyes at
// (lx, ly) (left in the image) and (rx, ry), the angle that levels them is
// atan2(ly - ry, rx - lx). Angle 0 with size == out_w == out_h is a plain crop whose top-left
// corner is (cx - size / 2, cy - size / 2). Never fails (size <= 0 gives a degenerate matrix).
void dfd_affine_crop(double m[6], double cx, double cy, double size, double angle_rad, int out_w,
                     int out_h);

// inv = the inverse map of m, so that applying m then inv returns every point to itself. Returns
// false (inv untouched) when m is singular (determinant 0 or negligible against the matrix's
// scale, or not finite). inv may alias m.
bool dfd_affine_invert(double inv[6], const double m[6]);

// (*ox, *oy) = m applied to (x, y). Use the crop matrix to take a crop point to the frame, and
// its inverse to take a frame point (a landmark) into the crop.
void dfd_affine_apply(const double m[6], double x, double y, double *ox, double *oy);

#endif
