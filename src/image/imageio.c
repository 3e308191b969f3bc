// Image file entry points: read a whole file, recognise PNG or JPEG by its magic bytes and hand
// it to the decoder in png.c or jpeg.c.
#include "dfdetect/image/imageio.h"

#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "image_internal.h"

static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

dfd_status dfd_image_check_header_dims(long long w, long long h, const char *name, const char *kind,
                                       dfd_error *err)
{
    if (w < 1 || h < 1) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: %s header gives an empty size %lldx%lld",
                             name, kind, w, h);
    }
    if (w > DFD_IMAGE_MAX_DIM || h > DFD_IMAGE_MAX_DIM || w * h > DFD_IMAGE_MAX_PIXELS) {
        return dfd_error_set(err, DFD_ERR_LIMIT,
                             "%s: %s image of %lldx%lld pixels exceeds the limit (%d per side, "
                             "%lld in total)",
                             name, kind, w, h, DFD_IMAGE_MAX_DIM, DFD_IMAGE_MAX_PIXELS);
    }
    return DFD_OK;
}

dfd_status dfd_image_decode(dfd_image *img, const void *buf, size_t n, const char *name,
                            dfd_error *err)
{
    if (!name) {
        name = "<memory>";
    }
    if (!img) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: no output image", name);
    }
    memset(img, 0, sizeof *img);
    if (!buf && n > 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: no input buffer", name);
    }
    const uint8_t *b = buf;
    if (n == 0) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: empty file, not an image", name);
    }
    if (n >= sizeof png_magic && memcmp(b, png_magic, sizeof png_magic) == 0) {
        return dfd_png_decode_rgb(img, b, n, name, err);
    }
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
        return dfd_jpeg_decode_rgb(img, b, n, name, err);
    }
    // Recognisable formats we do not decode get a clearer message than "not an image".
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: GIF images are not supported", name);
    }
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: WebP images are not supported", name);
    }
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: TIFF images are not supported", name);
    }
    return dfd_error_set(err, DFD_ERR_FORMAT, "%s: not a PNG or JPEG image", name);
}

dfd_status dfd_image_read(dfd_image *img, const char *path, dfd_error *err)
{
    if (!img || !path || !path[0]) {
        if (img) {
            memset(img, 0, sizeof *img);
        }
        return dfd_error_set(err, DFD_ERR_INVALID, "no image path given");
    }
    memset(img, 0, sizeof *img);
    void *buf;
    size_t n;
    dfd_status st = dfd_file_read_all(&buf, &n, path, DFD_IMAGE_MAX_FILE_BYTES, err);
    if (st) {
        return st;
    }
    st = dfd_image_decode(img, buf, n, path, err);
    dfd_free(buf);
    return st;
}
