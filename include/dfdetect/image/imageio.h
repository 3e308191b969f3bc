// Reading and writing PNG and JPEG files (libpng, libjpeg-turbo): test images, face crops and
// contact sheets on disk, and in memory for the HTTP server. Readers always return RGB; writers
// replace their destination atomically (util/fileio.h), so a failed or interrupted write leaves
// neither a partial file nor a temporary one behind.
//
// Every function is thread-safe: no global state is installed in either library. Error messages
// are one line naming the file (or the `name` given for a buffer) and the problem, e.g.
// "x.png: truncated or corrupt PNG (libpng: Read Error)". Library warnings go to dfd_log at
// DFD_LOG_DEBUG level.
#ifndef DFD_IMAGE_IMAGEIO_H
#define DFD_IMAGE_IMAGEIO_H

#include <stddef.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

// Largest number of pixels (width * height) a decoded image may have; checked against the file
// header before any pixel memory is allocated. 100 M pixels of RGB is 300 MB.
#define DFD_IMAGE_MAX_PIXELS 100000000LL

// Largest image file dfd_image_read loads (it reads the whole file into memory first).
#define DFD_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

// Decode the PNG or JPEG file at `path` (recognised by its first bytes, not its name) into a
// newly allocated *img, always 3-channel RGB with 8 bits per channel: grey is replicated, palettes
// expanded, 16-bit samples rounded to 8 bits, alpha dropped (not composited), CMYK JPEGs
// converted, interlaced/progressive files handled. EXIF orientation is not applied.
// *img is overwritten (free it first) and left empty on error.
// Errors: DFD_ERR_NOT_FOUND (no such file), DFD_ERR_IO (unreadable), DFD_ERR_FORMAT (not a PNG or
// JPEG, truncated or corrupt data, empty file), DFD_ERR_UNSUPPORTED (a GIF, WebP or TIFF file),
// DFD_ERR_LIMIT (width or height > DFD_IMAGE_MAX_DIM, more than DFD_IMAGE_MAX_PIXELS pixels, or a
// file larger than DFD_IMAGE_MAX_FILE_BYTES), DFD_ERR_NOMEM, DFD_ERR_INVALID (NULL arguments, or
// the path is a directory).
dfd_status dfd_image_read(dfd_image *img, const char *path, dfd_error *err);

// As dfd_image_read for the n bytes at `buf` (borrowed, only read during the call). `name` (may be
// NULL: "<memory>") stands for the source in messages.
dfd_status dfd_image_decode(dfd_image *img, const void *buf, size_t n, const char *name,
                            dfd_error *err);

// Write `img` (c = 1 grey, 3 RGB or 4 RGBA; 8-bit, zlib level 6) as a PNG file at `path`,
// atomically. Errors: DFD_ERR_INVALID (NULL/empty image, bad channel count, empty path),
// DFD_ERR_IO (directory missing, no permission, disk full), DFD_ERR_NOMEM.
dfd_status dfd_png_write(const char *path, const dfd_image *img, dfd_error *err);

// Encode `img` as PNG into a new buffer: *buf (free with dfd_free) holds *n bytes. On error *buf
// is NULL and *n is 0. Errors: DFD_ERR_INVALID, DFD_ERR_NOMEM.
dfd_status dfd_png_encode(void **buf, size_t *n, const dfd_image *img, dfd_error *err);

// Write `img` as a baseline JPEG (4:2:0 for colour) of the given quality (1..100; 90 is a good
// default) at `path`, atomically. c = 1 gives a greyscale JPEG, c = 3 RGB; c = 4 drops alpha.
// Errors: DFD_ERR_INVALID (NULL/empty image, bad channel count, quality out of range, empty path),
// DFD_ERR_IO, DFD_ERR_NOMEM.
dfd_status dfd_jpeg_write(const char *path, const dfd_image *img, int quality, dfd_error *err);

// Encode `img` as dfd_jpeg_write does into a new buffer: *buf (free with dfd_free) holds *n
// bytes (augmentation re-compresses face crops in memory). On error *buf is NULL and *n is 0.
// Errors: DFD_ERR_INVALID (empty image, bad channel count, quality out of range), DFD_ERR_NOMEM.
dfd_status dfd_jpeg_encode(void **buf, size_t *n, const dfd_image *img, int quality,
                           dfd_error *err);

#endif
