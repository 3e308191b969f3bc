// Image allocation, views, copies and right-angle rotation.
#include "dfdetect/image/image.h"

#include <stdbool.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/size.h"

// Validate dimensions and compute a row stride rounded up to DFD_ALIGN elements' bytes.
static dfd_status check_dims(int w, int h, int c, size_t elem, size_t *stride, size_t *bytes)
{
    if (w < 1 || h < 1 || (c != 1 && c != 3 && c != 4)) {
        return DFD_ERR_INVALID;
    }
    if (w > DFD_IMAGE_MAX_DIM || h > DFD_IMAGE_MAX_DIM) {
        return DFD_ERR_LIMIT;
    }
    size_t row;
    if (!dfd_size_mul3(&row, (size_t)w, (size_t)c, elem)) {
        return DFD_ERR_LIMIT;
    }
    size_t row_aligned = (row + DFD_ALIGN - 1) / DFD_ALIGN * DFD_ALIGN;
    if (!dfd_size_mul(bytes, row_aligned, (size_t)h)) {
        return DFD_ERR_LIMIT;
    }
    *stride = row_aligned / elem;
    return DFD_OK;
}

// Zeroed, aligned pixels for w x h x c elements of `elem` bytes; *stride in elements.
static dfd_status alloc_pixels(void **data, size_t *stride, int w, int h, int c, size_t elem)
{
    size_t bytes;
    dfd_status st = check_dims(w, h, c, elem, stride, &bytes);
    if (st) {
        return st;
    }
    *data = dfd_aligned_calloc(bytes);
    return *data ? DFD_OK : DFD_ERR_NOMEM;
}

dfd_status dfd_image_alloc(dfd_image *img, int w, int h, int c)
{
    memset(img, 0, sizeof *img);
    void *data;
    size_t stride;
    dfd_status st = alloc_pixels(&data, &stride, w, h, c, 1);
    if (st) {
        return st;
    }
    *img = (dfd_image){ .w = w, .h = h, .c = c, .stride = stride, .data = data };
    return DFD_OK;
}

void dfd_image_free(dfd_image *img)
{
    if (!img) {
        return;
    }
    dfd_aligned_free(img->data);
    memset(img, 0, sizeof *img);
}

dfd_image dfd_image_view(const dfd_image *src, int x, int y, int w, int h)
{
    // Written as subtractions so that no sum can overflow int.
    DFD_ASSERT(x >= 0 && y >= 0 && w >= 0 && h >= 0 && x <= src->w - w && y <= src->h - h);
    dfd_image v = *src;
    v.w = w;
    v.h = h;
    v.data = (w > 0 && h > 0) ? dfd_image_px(src, x, y) : NULL;
    return v;
}

dfd_status dfd_image_copy(dfd_image *dst, const dfd_image *src)
{
    if (!src->data) {
        memset(dst, 0, sizeof *dst);
        return DFD_ERR_INVALID;
    }
    dfd_status st = dfd_image_alloc(dst, src->w, src->h, src->c);
    if (st) {
        return st;
    }
    size_t row = (size_t)src->w * (size_t)src->c;
    for (int y = 0; y < src->h; y++) {
        memcpy(dst->data + (size_t)y * dst->stride, src->data + (size_t)y * src->stride, row);
    }
    return DFD_OK;
}

void dfd_image_mirror(dfd_image *img)
{
    const int c = img->c;
    for (int y = 0; y < img->h; y++) {
        uint8_t *row = dfd_image_px(img, 0, y);
        for (int a = 0, b = img->w - 1; a < b; a++, b--) {
            for (int k = 0; k < c; k++) {
                const uint8_t t = row[a * c + k];
                row[a * c + k] = row[b * c + k];
                row[b * c + k] = t;
            }
        }
    }
}

dfd_status dfd_image_rotate(dfd_image *dst, const dfd_image *src, int degrees_cw)
{
    memset(dst, 0, sizeof *dst);
    int d = degrees_cw;
    if (d != 0 && d != 90 && d != 180 && d != 270) {
        return DFD_ERR_INVALID;
    }
    if (d == 0) {
        return dfd_image_copy(dst, src);
    }
    bool swap = (d == 90 || d == 270);
    dfd_status st = dfd_image_alloc(dst, swap ? src->h : src->w, swap ? src->w : src->h, src->c);
    if (st) {
        return st;
    }
    const int c = src->c, W = src->w, H = src->h;
    // Walk destination pixels row by row; each reads one source pixel.
    //   90 cw : dst(x, y) = src(y, H-1-x)
    //   180   : dst(x, y) = src(W-1-x, H-1-y)
    //   270 cw: dst(x, y) = src(W-1-y, x)
    for (int y = 0; y < dst->h; y++) {
        uint8_t *o = dst->data + (size_t)y * dst->stride;
        for (int x = 0; x < dst->w; x++, o += c) {
            const uint8_t *s;
            if (d == 90) {
                s = dfd_image_px(src, y, H - 1 - x);
            } else if (d == 180) {
                s = dfd_image_px(src, W - 1 - x, H - 1 - y);
            } else {
                s = dfd_image_px(src, W - 1 - y, x);
            }
            memcpy(o, s, (size_t)c);
        }
    }
    return DFD_OK;
}

dfd_status dfd_imagef_alloc(dfd_imagef *img, int w, int h, int c)
{
    memset(img, 0, sizeof *img);
    void *data;
    size_t stride;
    dfd_status st = alloc_pixels(&data, &stride, w, h, c, sizeof(float));
    if (st) {
        return st;
    }
    *img = (dfd_imagef){ .w = w, .h = h, .c = c, .stride = stride, .data = data };
    return DFD_OK;
}

void dfd_imagef_free(dfd_imagef *img)
{
    if (!img) {
        return;
    }
    dfd_aligned_free(img->data);
    memset(img, 0, sizeof *img);
}
