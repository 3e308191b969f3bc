// Conversions between 8-bit and float images and between grey, RGB and RGBA layouts.
#include "dfdetect/image/convert.h"

#include <math.h>
#include <string.h>

static int image_ok(const dfd_image *img)
{
    return img && img->data && img->w > 0 && img->h > 0 &&
           (img->c == 1 || img->c == 3 || img->c == 4);
}

dfd_status dfd_image_to_float(dfd_imagef *dst, const dfd_image *src, const float mean[4],
                              const float scale[4])
{
    memset(dst, 0, sizeof *dst);
    if (!image_ok(src)) {
        return DFD_ERR_INVALID;
    }
    dfd_status st = dfd_imagef_alloc(dst, src->w, src->h, src->c);
    if (st) {
        return st;
    }
    const int c = src->c;
    float m[4] = { 0.0f, 0.0f, 0.0f, 0.0f }, s[4] = { 1.0f, 1.0f, 1.0f, 1.0f };
    for (int ch = 0; ch < c; ch++) {
        m[ch] = mean ? mean[ch] : 0.0f;
        s[ch] = scale ? scale[ch] : 1.0f;
    }
    for (int y = 0; y < src->h; y++) {
        const uint8_t *in = src->data + (size_t)y * src->stride;
        float *out = dst->data + (size_t)y * dst->stride;
        for (int x = 0; x < src->w; x++) {
            for (int ch = 0; ch < c; ch++) {
                out[x * c + ch] = ((float)in[x * c + ch] - m[ch]) * s[ch];
            }
        }
    }
    return DFD_OK;
}

dfd_status dfd_imagef_to_image(dfd_image *dst, const dfd_imagef *src, float scale, float bias)
{
    memset(dst, 0, sizeof *dst);
    if (!src || !src->data || src->w < 1 || src->h < 1) {
        return DFD_ERR_INVALID;
    }
    dfd_status st = dfd_image_alloc(dst, src->w, src->h, src->c);
    if (st) {
        return st;
    }
    const size_t row_n = (size_t)src->w * (size_t)src->c;
    for (int y = 0; y < src->h; y++) {
        const float *in = src->data + (size_t)y * src->stride;
        uint8_t *out = dst->data + (size_t)y * dst->stride;
        for (size_t i = 0; i < row_n; i++) {
            float v = in[i] * scale + bias;
            // !(v > 0) is also true for NaN, which therefore becomes 0.
            if (!(v > 0.0f)) {
                out[i] = 0;
            } else if (v >= 255.0f) {
                out[i] = 255;
            } else {
                out[i] = (uint8_t)floorf(v + 0.5f);
            }
        }
    }
    return DFD_OK;
}

dfd_status dfd_image_to_rgb(dfd_image *dst, const dfd_image *src)
{
    memset(dst, 0, sizeof *dst);
    if (!image_ok(src)) {
        return DFD_ERR_INVALID;
    }
    dfd_status st = dfd_image_alloc(dst, src->w, src->h, 3);
    if (st) {
        return st;
    }
    const int c = src->c;
    for (int y = 0; y < src->h; y++) {
        const uint8_t *in = src->data + (size_t)y * src->stride;
        uint8_t *out = dst->data + (size_t)y * dst->stride;
        for (int x = 0; x < src->w; x++, in += c, out += 3) {
            if (c == 1) {
                out[0] = out[1] = out[2] = in[0];
            } else {
                memcpy(out, in, 3);
            }
        }
    }
    return DFD_OK;
}

dfd_status dfd_image_to_grey(dfd_image *dst, const dfd_image *src)
{
    memset(dst, 0, sizeof *dst);
    if (!image_ok(src)) {
        return DFD_ERR_INVALID;
    }
    dfd_status st = dfd_image_alloc(dst, src->w, src->h, 1);
    if (st) {
        return st;
    }
    const int c = src->c;
    for (int y = 0; y < src->h; y++) {
        const uint8_t *in = src->data + (size_t)y * src->stride;
        uint8_t *out = dst->data + (size_t)y * dst->stride;
        for (int x = 0; x < src->w; x++, in += c) {
            out[x] = c == 1 ? in[0] : dfd_rgb_luma(in[0], in[1], in[2]);
        }
    }
    return DFD_OK;
}
