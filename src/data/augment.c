// Augmentation of face-crop sequences for training (flip, rotation/scale/shift, brightness,
// contrast, blur, noise, JPEG, H.264). Parameters are drawn once per sequence from a seed;
// applying them is deterministic. Contract in data/augment.h.
#include "dfdetect/data/augment.h"

#include <math.h>
#include <string.h>

#include "data_internal.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/warp.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/video/reencode.h"

#define PI 3.14159265358979323846

dfd_augment_opts dfd_augment_opts_default(void)
{
    dfd_augment_opts o = {
        .p_flip = 0.5f,
        .max_rotate_deg = 8,
        .max_scale = 0.08f,
        .max_shift = 0.04f,
        .max_brightness = 20,
        .max_contrast = 0.2f,
        .p_blur = 0.2f,
        .max_blur_sigma = 1.2f,
        .p_noise = 0.3f,
        .max_noise_sigma = 6,
        .p_jpeg = 0.3f,
        .jpeg_quality_min = 40,
        .jpeg_quality_max = 95,
        .p_h264 = 0.3f,
        .h264_crf_min = 18,
        .h264_crf_max = 38,
    };
    return o;
}

dfd_augment_opts dfd_augment_opts_none(void)
{
    dfd_augment_opts o;
    memset(&o, 0, sizeof o);
    o.jpeg_quality_min = o.jpeg_quality_max = 90;
    o.h264_crf_min = o.h264_crf_max = 23;
    return o;
}

dfd_augment_params dfd_augment_params_identity(void)
{
    dfd_augment_params p;
    memset(&p, 0, sizeof p);
    p.scale = 1;
    p.contrast = 1;
    p.h264_crf = -1;
    return p;
}

static float uniform(data_rng *r, float lo, float hi)
{
    return (float)data_rng_range(r, (double)lo, (double)hi);
}

static int uniform_int(data_rng *r, int lo, int hi)
{
    if (hi <= lo) {
        return lo;
    }
    return lo + (int)data_rng_below(r, (uint64_t)(hi - lo + 1));
}

static bool chance(data_rng *r, float p)
{
    // Every draw happens whatever p is, so the stream (and the other parameters) do not depend
    // on which ops are enabled.
    return data_rng_unit(r) < (double)p;
}

void dfd_augment_sample(dfd_augment_params *p, const dfd_augment_opts *o, uint64_t seed)
{
    data_rng r = data_rng_seed(seed);
    *p = dfd_augment_params_identity();
    p->flip = chance(&r, o->p_flip);
    p->angle_deg = uniform(&r, -o->max_rotate_deg, o->max_rotate_deg);
    p->scale = uniform(&r, 1 - o->max_scale, 1 + o->max_scale);
    p->shift_x = uniform(&r, -o->max_shift, o->max_shift);
    p->shift_y = uniform(&r, -o->max_shift, o->max_shift);
    p->brightness = uniform(&r, -o->max_brightness, o->max_brightness);
    p->contrast = uniform(&r, 1 - o->max_contrast, 1 + o->max_contrast);
    bool blur = chance(&r, o->p_blur);
    float blur_sigma = uniform(&r, 0.3f, o->max_blur_sigma > 0.3f ? o->max_blur_sigma : 0.3f);
    p->blur_sigma = blur && o->max_blur_sigma > 0 ? blur_sigma : 0;
    bool noise = chance(&r, o->p_noise);
    float noise_sigma = uniform(&r, 1, o->max_noise_sigma > 1 ? o->max_noise_sigma : 1);
    p->noise_sigma = noise && o->max_noise_sigma > 0 ? noise_sigma : 0;
    p->noise_seed = data_rng_u64(&r);
    bool jpeg = chance(&r, o->p_jpeg);
    int q = uniform_int(&r, o->jpeg_quality_min, o->jpeg_quality_max);
    p->jpeg_quality = jpeg ? (q < 1 ? 1 : q > 100 ? 100 : q) : 0;
    bool h264 = chance(&r, o->p_h264);
    int crf = uniform_int(&r, o->h264_crf_min, o->h264_crf_max);
    p->h264_crf = h264 ? (crf < 0 ? 0 : crf > 51 ? 51 : crf) : -1;
}

// ---- single ops ----

static inline uint8_t clamp_level(double v)
{
    // Round to nearest and clamp; NaN becomes 0.
    return v >= 254.5 ? 255 : v > 0 ? (uint8_t)(v + 0.5) : 0;
}

void dfd_augment_flip(dfd_image *img)
{
    dfd_image_mirror(img);
}

dfd_status dfd_augment_geometry(dfd_image *dst, const dfd_image *src, float angle_deg, float scale,
                                float shift_x, float shift_y)
{
    if (!dst->data || !src->data || dst->w != src->w || dst->h != src->h || dst->c != src->c ||
        !(scale > 0) || !isfinite(scale) || !isfinite(angle_deg) || !isfinite(shift_x) ||
        !isfinite(shift_y)) {
        return DFD_ERR_INVALID;
    }
    // Forward map (source -> output) about the centre C: out = C + d + scale * R(a) (in - C),
    // with R(a) turning counter-clockwise on screen (y points down). The warp wants the inverse:
    // in = C + R(-a) (out - C - d) / scale.
    const double a = (double)angle_deg * PI / 180, s = (double)scale;
    const double co = cos(a) / s, sn = sin(a) / s;
    const double cx = src->w / 2.0, cy = src->h / 2.0;
    const double ox = cx + (double)shift_x * src->w, oy = cy + (double)shift_y * src->h;
    const double m[6] = { co, -sn, cx - co * ox + sn * oy, sn, co, cy - sn * ox - co * oy };
    return dfd_image_warp_affine(dst, src, m, NULL);
}

void dfd_augment_brightness(dfd_image *img, float delta)
{
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) {
        lut[v] = clamp_level(v + (double)delta);
    }
    for (int y = 0; y < img->h; y++) {
        uint8_t *row = dfd_image_px(img, 0, y);
        for (size_t i = 0; i < (size_t)img->w * (size_t)img->c; i++) {
            row[i] = lut[row[i]];
        }
    }
}

void dfd_augment_contrast(dfd_image *img, float factor)
{
    double sum = 0;
    const size_t row_n = (size_t)img->w * (size_t)img->c;
    for (int y = 0; y < img->h; y++) {
        const uint8_t *row = dfd_image_px(img, 0, y);
        for (size_t i = 0; i < row_n; i++) {
            sum += row[i];
        }
    }
    const double mean = row_n && img->h ? sum / ((double)row_n * img->h) : 0;
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) {
        lut[v] = clamp_level((v - mean) * (double)factor + mean);
    }
    for (int y = 0; y < img->h; y++) {
        uint8_t *row = dfd_image_px(img, 0, y);
        for (size_t i = 0; i < row_n; i++) {
            row[i] = lut[row[i]];
        }
    }
}

void dfd_augment_noise(dfd_image *img, float sigma, uint64_t seed)
{
    data_rng r = data_rng_seed(seed);
    const size_t row_n = (size_t)img->w * (size_t)img->c;
    for (int y = 0; y < img->h; y++) {
        uint8_t *row = dfd_image_px(img, 0, y);
        for (size_t i = 0; i < row_n; i++) {
            row[i] = clamp_level(row[i] + (double)sigma * data_rng_normal(&r));
        }
    }
}

dfd_status dfd_augment_blur(dfd_image *img, float sigma)
{
    if (!(sigma > 0)) {
        return DFD_OK;
    }
    if (sigma > 50) {
        return DFD_ERR_INVALID;
    }
    const int radius = (int)ceilf(3 * sigma);
    const int taps = 2 * radius + 1, w = img->w, h = img->h, c = img->c;
    float *k = dfd_malloc((size_t)taps * sizeof *k);
    // One float plane of the image for the horizontal pass, and one row of the output.
    float *tmp = dfd_malloc((size_t)w * (size_t)h * (size_t)c * sizeof *tmp);
    if (!k || !tmp) {
        dfd_free(k);
        dfd_free(tmp);
        return DFD_ERR_NOMEM;
    }
    double total = 0;
    for (int i = -radius; i <= radius; i++) {
        total += exp(-(double)i * i / (2.0 * (double)sigma * (double)sigma));
    }
    for (int i = -radius; i <= radius; i++) {
        k[i + radius] =
            (float)(exp(-(double)i * i / (2.0 * (double)sigma * (double)sigma)) / total);
    }
    // Horizontal: tmp = img * k along x (edges repeated).
    for (int y = 0; y < h; y++) {
        const uint8_t *row = dfd_image_px(img, 0, y);
        float *t = tmp + (size_t)y * (size_t)w * (size_t)c;
        for (int x = 0; x < w; x++) {
            for (int ch = 0; ch < c; ch++) {
                float acc = 0;
                for (int i = -radius; i <= radius; i++) {
                    int xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
                    acc += k[i + radius] * row[xx * c + ch];
                }
                t[x * c + ch] = acc;
            }
        }
    }
    // Vertical: img = tmp * k along y.
    for (int y = 0; y < h; y++) {
        uint8_t *row = dfd_image_px(img, 0, y);
        for (int x = 0; x < w * c; x++) {
            float acc = 0;
            for (int i = -radius; i <= radius; i++) {
                int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
                acc += k[i + radius] * tmp[(size_t)yy * (size_t)w * (size_t)c + (size_t)x];
            }
            row[x] = clamp_level((double)acc);
        }
    }
    dfd_free(k);
    dfd_free(tmp);
    return DFD_OK;
}

dfd_status dfd_augment_jpeg(dfd_image *img, int quality, dfd_error *err)
{
    void *buf;
    size_t n;
    dfd_status st = dfd_jpeg_encode(&buf, &n, img, quality, err);
    if (st) {
        return st;
    }
    dfd_image back;
    st = dfd_image_decode(&back, buf, n, "augmentation JPEG", err);
    dfd_free(buf);
    if (st) {
        return st;
    }
    if (back.w != img->w || back.h != img->h || back.c != img->c) {
        dfd_image_free(&back);
        return dfd_error_set(err, DFD_ERR_FORMAT, "augmentation JPEG: size changed");
    }
    for (int y = 0; y < img->h; y++) {
        memcpy(dfd_image_px(img, 0, y), dfd_image_px(&back, 0, y), (size_t)img->w * 3);
    }
    dfd_image_free(&back);
    return DFD_OK;
}

// ---- the sequence ----

static bool params_valid(const dfd_augment_params *p)
{
    return p->scale > 0 && isfinite(p->scale) && isfinite(p->angle_deg) && isfinite(p->shift_x) &&
           isfinite(p->shift_y) && isfinite(p->brightness) && p->contrast >= 0 &&
           isfinite(p->contrast) && p->blur_sigma >= 0 && p->blur_sigma <= 50 &&
           p->noise_sigma >= 0 && isfinite(p->noise_sigma) && p->jpeg_quality >= 0 &&
           p->jpeg_quality <= 100 && p->h264_crf >= -1 && p->h264_crf <= 51;
}

// Frame i alone: everything but H.264.
static dfd_status apply_one(dfd_image *out, const dfd_image *in, size_t i,
                            const dfd_augment_params *p, dfd_error *err)
{
    dfd_status st = dfd_image_alloc(out, in->w, in->h, 3);
    if (st) {
        return dfd_error_set(err, st, "augmentation: out of memory");
    }
    bool moves = p->angle_deg != 0 || p->scale != 1 || p->shift_x != 0 || p->shift_y != 0;
    if (moves) {
        // The flip is folded in by flipping a copy of the source first.
        dfd_image src = *in, flipped = { 0 };
        if (p->flip) {
            if (dfd_image_copy(&flipped, in)) {
                return dfd_error_set(err, DFD_ERR_NOMEM, "augmentation: out of memory");
            }
            dfd_augment_flip(&flipped);
            src = flipped;
        }
        st = dfd_augment_geometry(out, &src, p->angle_deg, p->scale, p->shift_x, p->shift_y);
        dfd_image_free(&flipped);
        if (st) {
            return dfd_error_set(err, st, "augmentation: invalid geometry");
        }
    } else {
        for (int y = 0; y < in->h; y++) {
            memcpy(dfd_image_px(out, 0, y), dfd_image_px(in, 0, y), (size_t)in->w * 3);
        }
        if (p->flip) {
            dfd_augment_flip(out);
        }
    }
    if (p->brightness != 0) {
        dfd_augment_brightness(out, p->brightness);
    }
    if (p->contrast != 1) {
        dfd_augment_contrast(out, p->contrast);
    }
    if (p->blur_sigma > 0 && dfd_augment_blur(out, p->blur_sigma) != DFD_OK) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "augmentation: out of memory");
    }
    if (p->noise_sigma > 0) {
        dfd_augment_noise(out, p->noise_sigma, data_mix64(p->noise_seed + i));
    }
    if (p->jpeg_quality > 0) {
        return dfd_augment_jpeg(out, p->jpeg_quality, err);
    }
    return DFD_OK;
}

dfd_status dfd_augment_apply(dfd_image *out, const dfd_image *in, size_t n,
                             const dfd_augment_params *p, dfd_error *err)
{
    if (n == 0 || !in || !out || !p) {
        return dfd_error_set(err, DFD_ERR_INVALID, "augmentation: no frames");
    }
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
    }
    if (!params_valid(p)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "augmentation: parameters out of range");
    }
    for (size_t i = 0; i < n; i++) {
        if (!in[i].data || in[i].c != 3 || in[i].w != in[0].w || in[i].h != in[0].h) {
            return dfd_error_set(err, DFD_ERR_INVALID,
                                 "augmentation: frame %zu is not an RGB image of the first's size",
                                 i);
        }
    }
    dfd_status st = DFD_OK;
    for (size_t i = 0; i < n && !st; i++) {
        st = apply_one(&out[i], &in[i], i, p, err);
    }
    if (!st && p->h264_crf >= 0) {
        dfd_image *coded = dfd_calloc(n, sizeof *coded);
        st = coded ? dfd_video_reencode(coded, out, n, p->h264_crf, err)
                   : dfd_error_set(err, DFD_ERR_NOMEM, "augmentation: out of memory");
        for (size_t i = 0; !st && i < n; i++) {
            dfd_image_free(&out[i]);
            out[i] = coded[i];
        }
        dfd_free(coded);
    }
    if (st) {
        for (size_t i = 0; i < n; i++) {
            dfd_image_free(&out[i]);
        }
    }
    return st;
}
