// Training augmentation of face crops: geometry (horizontal flip, small rotation, scale and shift
// of the crop), photometry (brightness, contrast), degradations (Gaussian blur, Gaussian noise,
// JPEG re-compression, H.264 re-encoding at a random CRF). It works on a sequence of crops (one
// identity's frames over time): geometry, photometry, blur and compression settings are drawn
// once and applied to every frame, so a temporal model sees a consistent clip, while the noise
// differs from frame to frame as sensor noise does; H.264 codes the frames as one clip.
//
// Reproducible: the parameters come from dfd_augment_sample(seed), and dfd_augment_apply is a
// pure function of the parameters and the input, so a seed gives identical output on every run.
//
// Pixel values are 8-bit levels (0..255); every op rounds to nearest and clamps. Images are RGB
// (c = 3) crops, usually square; the output always has the input's size.
#ifndef DFD_DATA_AUGMENT_H
#define DFD_DATA_AUGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

// Ranges and probabilities the parameters are drawn from. A range of 0 or a probability of 0
// turns an op off.
typedef struct dfd_augment_opts {
    float p_flip;          // horizontal flip (default 0.5)
    float max_rotate_deg;  // rotation uniform in [-max, max] degrees (default 8)
    float max_scale;       // zoom uniform in [1 - max, 1 + max] (default 0.08)
    float max_shift;       // shift uniform in [-max, max] of the side, per axis (default 0.04)
    float max_brightness;  // added level uniform in [-max, max] (default 20)
    float max_contrast;    // factor uniform in [1 - max, 1 + max] (default 0.2)
    float p_blur;          // Gaussian blur (default 0.2) ...
    float max_blur_sigma;  // ... sigma uniform in [0.3, max] pixels (default 1.2)
    float p_noise;         // Gaussian noise (default 0.3) ...
    float max_noise_sigma; // ... sigma uniform in [1, max] levels (default 6)
    float p_jpeg;          // JPEG re-compression (default 0.3) ...
    int jpeg_quality_min;  // ... quality uniform in [min, max] (default 40..95)
    int jpeg_quality_max;
    float p_h264;     // H.264 re-encoding (default 0.3) ...
    int h264_crf_min; // ... CRF uniform in [min, max] (default 18..38)
    int h264_crf_max;
} dfd_augment_opts;

dfd_augment_opts dfd_augment_opts_default(void);

// Every op off (identity): start from this to enable a single op.
dfd_augment_opts dfd_augment_opts_none(void);

// One draw of the parameters. Neutral values mean "off": flip false, angle 0, scale 1, shift 0,
// brightness 0, contrast 1, blur_sigma 0, noise_sigma 0, jpeg_quality 0, h264_crf -1.
typedef struct dfd_augment_params {
    bool flip;
    float angle_deg;        // rotation of the content, counter-clockwise as seen
    float scale;            // > 1 zooms in (the face grows), < 1 zooms out
    float shift_x, shift_y; // content moves right / down by this fraction of the width/height
    float brightness;       // levels added
    float contrast;         // factor about the image's mean level
    float blur_sigma;       // pixels
    float noise_sigma;      // levels
    uint64_t noise_seed;    // seeds the noise of frame i with (noise_seed, i)
    int jpeg_quality;       // 1..100, 0 = none
    int h264_crf;           // 0..51, -1 = none
} dfd_augment_params;

// The neutral parameters (no change).
dfd_augment_params dfd_augment_params_identity(void);

// Draw parameters from `o` with `seed` (the same seed and options give the same parameters).
void dfd_augment_sample(dfd_augment_params *p, const dfd_augment_opts *o, uint64_t seed);

// Apply `p` to the n frames `in` (RGB, all the same size; borrowed) in this order: flip,
// rotation/scale/shift (one bilinear warp, black outside the source), brightness, contrast,
// blur, noise, JPEG, H.264. Allocates out[0..n-1] with the input's size (free each with
// dfd_image_free). Errors: DFD_ERR_INVALID (n == 0, frames not RGB or of different sizes,
// parameters out of range), DFD_ERR_NOMEM, and dfd_video_reencode's; on error every out[i] is
// empty. Thread-safe.
dfd_status dfd_augment_apply(dfd_image *out, const dfd_image *in, size_t n,
                             const dfd_augment_params *p, dfd_error *err);

// ---- the single ops (in place unless said otherwise; exposed for tests and custom pipelines)

// Mirror left-right.
void dfd_augment_flip(dfd_image *img);

// dst (allocated by the caller, same size and channels as src, not sharing its pixels) =
// src rotated by angle_deg counter-clockwise about the centre, zoomed by `scale` and moved by
// (shift_x * w, shift_y * h) pixels; outside the source is black. The identity (0, 1, 0, 0) and
// integer shifts copy pixels exactly. Errors: DFD_ERR_INVALID (sizes, scale <= 0, non-finite).
dfd_status dfd_augment_geometry(dfd_image *dst, const dfd_image *src, float angle_deg, float scale,
                                float shift_x, float shift_y);

// v + delta.
void dfd_augment_brightness(dfd_image *img, float delta);

// (v - m) * factor + m, m the mean of all the image's levels.
void dfd_augment_contrast(dfd_image *img, float factor);

// Separable Gaussian blur of standard deviation sigma pixels (kernel radius ceil(3 sigma),
// weights summing to 1, edges repeated). sigma <= 0 does nothing. Errors: DFD_ERR_NOMEM,
// DFD_ERR_INVALID (sigma > 50).
dfd_status dfd_augment_blur(dfd_image *img, float sigma);

// v + sigma * N(0, 1), independently per pixel and channel, from `seed`.
void dfd_augment_noise(dfd_image *img, float sigma, uint64_t seed);

// Encode as JPEG at `quality` (1..100) and decode back (image/ and libjpeg-turbo, in memory).
// Errors: DFD_ERR_INVALID, DFD_ERR_NOMEM, DFD_ERR_FORMAT.
dfd_status dfd_augment_jpeg(dfd_image *img, int quality, dfd_error *err);

#endif
