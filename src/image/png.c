// PNG decoding (to RGB) and encoding (grey, RGB, RGBA) with libpng 1.6, from and to memory or an
// atomically replaced file. libpng allocates through dfd_malloc (so out-of-memory tests reach it)
// and reports errors through callbacks that longjmp back to the function that set them up.
//
// PNG layout (what libpng checks for us): an 8-byte signature, then chunks of
// { u32 big-endian length, 4-byte type, data, u32 CRC-32 of type+data }: IHDR first (u32 width,
// u32 height, bit depth, colour type, compression, filter, interlace), optional PLTE/tRNS and
// ancillary chunks, one or more IDAT chunks holding one zlib stream of filtered rows, IEND.
#include "dfdetect/image/imageio.h"
// The C library's and libpng's headers; png.h declares the callback types used below.
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/log.h"
#include "dfdetect/util/size.h"
#include "image_internal.h"

// State shared with libpng's callbacks, for one decode or encode. It lives in the frame of the
// public function and is passed down by pointer to the function that calls setjmp, so whatever
// changes between setjmp and longjmp is an object outside that function: none of it becomes
// indeterminate (C11 7.13.2.1 concerns only the setjmp caller's own non-volatile locals), and no
// `volatile` is needed.
typedef struct png_ctx {
    jmp_buf jmp;
    const char *name; // file name or "<memory>", for messages
    bool oom;         // a dfd_malloc made on libpng's behalf failed
    char msg[192];    // libpng's last error message
    png_structp png;
    png_infop info;
    // decoding
    const uint8_t *in;
    size_t in_n, in_pos;
    dfd_image img;
    png_bytep *rows;
    // encoding: to `fp` when set, else to the growing buffer `out`
    FILE *fp;
    bool io_failed;
    int io_errno;
    uint8_t *out;
    size_t out_n, out_cap;
} png_ctx;

// ---- libpng callbacks ----

static png_voidp on_malloc(png_structp png, png_alloc_size_t n)
{
    png_ctx *c = png_get_mem_ptr(png);
    void *p = dfd_malloc(n);
    if (!p) {
        c->oom = true;
    }
    return p;
}

static void on_free(png_structp png, png_voidp p)
{
    (void)png;
    dfd_free(p);
}

// Must not return (libpng's contract): record the message and jump back to png_decode/encode.
static void on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown error");
    longjmp(c->jmp, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    dfd_log(DFD_LOG_DEBUG, "%s: libpng: %s", c->name, msg ? msg : "");
}

static void on_read(png_structp png, png_bytep out, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->in_n - c->in_pos) {
        png_error(png, "unexpected end of file");
    }
    memcpy(out, c->in + c->in_pos, n);
    c->in_pos += n;
}

static void on_write(png_structp png, png_bytep data, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (c->fp) {
        if (fwrite(data, 1, n, c->fp) != n) {
            c->io_failed = true;
            c->io_errno = errno ? errno : EIO;
            png_error(png, "write failed");
        }
        return;
    }
    if (n > c->out_cap - c->out_n) {
        size_t need, cap = c->out_cap ? c->out_cap : 4096;
        if (!dfd_size_add(&need, c->out_n, n)) {
            c->oom = true;
            png_error(png, "output too large");
        }
        while (cap < need) {
            if (!dfd_size_mul(&cap, cap, 2)) {
                cap = need;
            }
        }
        uint8_t *p = dfd_realloc(c->out, cap);
        if (!p) {
            c->oom = true;
            png_error(png, "out of memory");
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_n, data, n);
    c->out_n += n;
}

static void on_flush(png_structp png)
{
    (void)png; // the atomic file flushes and syncs on commit
}

// ---- decoding ----

static dfd_status png_decode(png_ctx *c, dfd_error *err)
{
    // Set before libpng exists: even png_create_read_struct_2 may call on_error.
    if (setjmp(c->jmp)) {
        if (c->oom) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory decoding PNG", c->name);
        }
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: truncated or corrupt PNG (libpng: %s)",
                             c->name, c->msg);
    }
    c->png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, c, on_error, on_warning, c, on_malloc,
                                      on_free);
    if (c->png) {
        c->info = png_create_info_struct(c->png);
    }
    if (!c->info) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory decoding PNG", c->name);
    }
    png_set_read_fn(c->png, c, on_read);
    // libpng's own size limit would report oversized images as corrupt; we check them below.
    png_set_user_limits(c->png, 0x7fffffff, 0x7fffffff);
    png_read_info(c->png, c->info); // reads up to the first IDAT chunk header

    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(c->png, c->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    dfd_status st = dfd_image_check_header_dims(w, h, c->name, "PNG", err);
    if (st) {
        return st;
    }
    // Ask libpng for 8-bit RGB whatever the file holds.
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(c->png); // tRNS is not expanded: alpha would be dropped anyway
    }
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) {
        png_set_expand_gray_1_2_4_to_8(c->png);
    }
    if (depth == 16) {
        png_set_scale_16(c->png); // rounds, where strip_16 would truncate
    }
    if (color & PNG_COLOR_MASK_ALPHA) {
        png_set_strip_alpha(c->png);
    }
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_gray_to_rgb(c->png);
    }
    (void)png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    if (png_get_channels(c->png, c->info) != 3 || png_get_bit_depth(c->png, c->info) != 8 ||
        png_get_rowbytes(c->png, c->info) != (size_t)w * 3) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: PNG cannot be converted to 8-bit RGB",
                             c->name);
    }
    st = dfd_image_alloc(&c->img, (int)w, (int)h, 3);
    if (st == DFD_OK) {
        c->rows = dfd_malloc((size_t)h * sizeof *c->rows);
    }
    if (!c->rows) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory for %ux%u PNG", c->name,
                             (unsigned)w, (unsigned)h);
    }
    for (png_uint_32 y = 0; y < h; y++) {
        c->rows[y] = dfd_image_px(&c->img, 0, (int)y);
    }
    png_read_image(c->png, c->rows);
    // png_read_end is skipped on purpose: chunks after the pixels (text, IEND) do not matter, and
    // a file missing only its IEND still gives a complete image.
    return DFD_OK;
}

dfd_status dfd_png_decode_rgb(dfd_image *img, const uint8_t *buf, size_t n, const char *name,
                              dfd_error *err)
{
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.in = buf;
    c.in_n = n;
    memset(img, 0, sizeof *img);
    dfd_status st = png_decode(&c, err);
    png_destroy_read_struct(&c.png, &c.info, NULL); // accepts NULLs
    dfd_free(c.rows);
    if (st) {
        dfd_image_free(&c.img);
        return st;
    }
    *img = c.img;
    return DFD_OK;
}

// ---- encoding ----

static dfd_status png_encode(png_ctx *c, const dfd_image *img, dfd_error *err)
{
    if (setjmp(c->jmp)) {
        if (c->oom) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory encoding PNG", c->name);
        }
        if (c->io_failed) {
            return dfd_error_set_errno(err, DFD_ERR_IO, c->io_errno, "%s: cannot write", c->name);
        }
        return dfd_error_set(err, DFD_ERR_IO, "%s: PNG encoding failed (libpng: %s)", c->name,
                             c->msg);
    }
    c->png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, c, on_error, on_warning, c, on_malloc,
                                       on_free);
    if (c->png) {
        c->info = png_create_info_struct(c->png);
    }
    if (!c->info) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory encoding PNG", c->name);
    }
    png_set_write_fn(c->png, c, on_write, on_flush);
    int type = img->c == 1   ? PNG_COLOR_TYPE_GRAY
               : img->c == 3 ? PNG_COLOR_TYPE_RGB
                             : PNG_COLOR_TYPE_RGB_ALPHA;
    png_set_IHDR(c->png, c->info, (png_uint_32)img->w, (png_uint_32)img->h, 8, type,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(c->png, 6);
    png_write_info(c->png, c->info);
    for (int y = 0; y < img->h; y++) {
        png_write_row(c->png, dfd_image_px(img, 0, y));
    }
    png_write_end(c->png, c->info);
    return DFD_OK;
}

dfd_status dfd_png_write(const char *path, const dfd_image *img, dfd_error *err)
{
    if (!path || !path[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "PNG output path is empty");
    }
    if (!dfd_image_is_writable(img)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: cannot write an empty image as PNG", path);
    }
    dfd_atomic_file *f;
    dfd_status st = dfd_atomic_file_open(&f, path, err);
    if (st) {
        return st;
    }
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.name = path;
    c.fp = dfd_atomic_file_stream(f);
    st = png_encode(&c, img, err);
    png_destroy_write_struct(&c.png, &c.info);
    if (st) {
        dfd_atomic_file_abort(f);
        return st;
    }
    return dfd_atomic_file_commit(f, err);
}

dfd_status dfd_png_encode(void **buf, size_t *n, const dfd_image *img, dfd_error *err)
{
    *buf = NULL;
    *n = 0;
    if (!dfd_image_is_writable(img)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "cannot encode an empty image as PNG");
    }
    png_ctx c;
    memset(&c, 0, sizeof c);
    c.name = "<memory>";
    dfd_status st = png_encode(&c, img, err);
    png_destroy_write_struct(&c.png, &c.info);
    if (st) {
        dfd_free(c.out);
        return st;
    }
    *buf = c.out;
    *n = c.out_n;
    return DFD_OK;
}
