// JPEG decoding (to RGB) and encoding with libjpeg-turbo. libjpeg reports fatal errors through
// error_exit, which we replace with a longjmp back to the function that set it up, and corrupt
// data mostly through warnings, which we turn into DFD_ERR_FORMAT (see warning_is_fatal).
// libjpeg allocates with its own malloc, so only our buffers go through dfd_malloc.
//
// JPEG layout (parsed by libjpeg): markers 0xFF 0xXX, starting with SOI (FFD8); segments carry a
// u16 big-endian length. SOFn gives precision, u16 height, u16 width and the components; DHT/DQT
// hold tables, SOS starts entropy-coded data that runs to the next marker; EOI (FFD9) ends it.
#include "dfdetect/image/imageio.h"
// jpeglib.h uses FILE and size_t without including their headers, so stdio.h comes first.
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/log.h"
#include "image_internal.h"

// (kept in their own block so that formatting never sorts them above stdio.h)
#include <jerror.h>
#include <jpeglib.h>

// State for one decode or encode. It lives in the frame of the public function and is passed by
// pointer to the function that calls setjmp, so nothing it holds becomes indeterminate after a
// longjmp (C11 7.13.2.1 concerns only the setjmp caller's own non-volatile locals).
typedef struct jpeg_ctx {
    jmp_buf jmp;
    const char *name;
    bool writing;
    dfd_status code; // what a longjmp reports
    char msg[JMSG_LENGTH_MAX];
    struct jpeg_error_mgr jerr;
    struct jpeg_decompress_struct dinfo;
    struct jpeg_compress_struct cinfo;
    dfd_image img;
    uint8_t *row; // scratch row: CMYK pixels when decoding, a non-const copy when encoding
} jpeg_ctx;

// ---- error handling ----

// Warnings that mean the pixel data is damaged; the others (extraneous bytes between markers,
// unknown JFIF revision or Adobe transform, odd progression) leave a usable image and are logged.
static bool warning_is_fatal(int code)
{
    // (JWRN_ARITH_BAD_CODE belongs here too, but jerror.h defines it only in some builds;
    // arithmetic-coded JPEGs are rare, and a truncated one still ends with JWRN_JPEG_EOF.)
    return code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
           code == JWRN_MUST_RESYNC || code == JWRN_NOT_SEQUENTIAL;
}

static void on_error_exit(j_common_ptr info)
{
    jpeg_ctx *c = info->client_data;
    (*info->err->format_message)(info, c->msg);
    int code = info->err->msg_code;
    if (code == JERR_OUT_OF_MEMORY) {
        c->code = DFD_ERR_NOMEM;
    } else if (code == JERR_IMAGE_TOO_BIG) {
        c->code = DFD_ERR_LIMIT;
    } else {
        c->code = c->writing ? DFD_ERR_IO : DFD_ERR_FORMAT;
    }
    longjmp(c->jmp, 1);
}

static void on_emit_message(j_common_ptr info, int level)
{
    if (level >= 0) {
        return; // trace messages
    }
    jpeg_ctx *c = info->client_data;
    char buf[JMSG_LENGTH_MAX];
    (*info->err->format_message)(info, buf);
    if (!c->writing && warning_is_fatal(info->err->msg_code)) {
        memcpy(c->msg, buf, sizeof c->msg);
        c->code = DFD_ERR_FORMAT;
        longjmp(c->jmp, 1);
    }
    info->err->num_warnings++;
    dfd_log(DFD_LOG_DEBUG, "%s: libjpeg: %s", c->name, buf);
}

static void on_output_message(j_common_ptr info)
{
    (void)info; // libjpeg's default prints to stderr; library code never prints
}

static struct jpeg_error_mgr *error_mgr(jpeg_ctx *c)
{
    struct jpeg_error_mgr *e = jpeg_std_error(&c->jerr);
    e->error_exit = on_error_exit;
    e->emit_message = on_emit_message;
    e->output_message = on_output_message;
    return e;
}

// ---- decoding ----

// a * b / 255 rounded, for 8-bit a and b.
static uint8_t mul255(unsigned a, unsigned b)
{
    unsigned t = a * b + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

// CMYK row to RGB. Adobe files (the only common source of CMYK JPEGs) store inverted inks, so
// a stored value is already "255 - ink".
static void cmyk_to_rgb(uint8_t *rgb, const uint8_t *cmyk, int w, bool inverted)
{
    for (int x = 0; x < w; x++, cmyk += 4, rgb += 3) {
        unsigned k = inverted ? cmyk[3] : 255u - cmyk[3];
        for (int i = 0; i < 3; i++) {
            rgb[i] = mul255(inverted ? cmyk[i] : 255u - cmyk[i], k);
        }
    }
}

static dfd_status jpeg_decode(jpeg_ctx *c, const uint8_t *buf, size_t n, dfd_error *err)
{
    struct jpeg_decompress_struct *d = &c->dinfo;
    d->err = error_mgr(c);
    d->client_data = c; // jpeg_create_decompress keeps err and client_data
    if (setjmp(c->jmp)) {
        if (c->code == DFD_ERR_NOMEM) {
            return dfd_error_set(err, c->code, "%s: out of memory decoding JPEG (libjpeg: %s)",
                                 c->name, c->msg);
        }
        if (c->code == DFD_ERR_LIMIT) {
            return dfd_error_set(err, c->code, "%s: JPEG too large (libjpeg: %s)", c->name, c->msg);
        }
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: truncated or corrupt JPEG (libjpeg: %s)",
                             c->name, c->msg);
    }
    jpeg_create_decompress(d);
    if (n > (unsigned long)-1) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: JPEG data too large", c->name);
    }
    jpeg_mem_src(d, buf, (unsigned long)n);
    (void)jpeg_read_header(d, TRUE); // TRUE: a tables-only stream is an error
    dfd_status st =
        dfd_image_check_header_dims(d->image_width, d->image_height, c->name, "JPEG", err);
    if (st) {
        return st;
    }
    bool cmyk = d->jpeg_color_space == JCS_CMYK || d->jpeg_color_space == JCS_YCCK;
    d->out_color_space = cmyk ? JCS_CMYK : JCS_RGB; // libjpeg converts grey and YCbCr to RGB
    (void)jpeg_start_decompress(d);
    if (d->output_components != (cmyk ? 4 : 3) || d->output_width != d->image_width ||
        d->output_height != d->image_height) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: JPEG cannot be converted to RGB", c->name);
    }
    int w = (int)d->output_width, h = (int)d->output_height;
    st = dfd_image_alloc(&c->img, w, h, 3);
    if (st == DFD_OK && cmyk) {
        c->row = dfd_malloc((size_t)w * 4);
        st = c->row ? DFD_OK : DFD_ERR_NOMEM;
    }
    if (st) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory for %dx%d JPEG", c->name, w, h);
    }
    while (d->output_scanline < d->output_height) {
        int y = (int)d->output_scanline;
        JSAMPROW row = cmyk ? c->row : dfd_image_px(&c->img, 0, y);
        if (jpeg_read_scanlines(d, &row, 1) != 1) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "%s: JPEG ended at row %d of %d", c->name, y,
                                 h);
        }
        if (cmyk) {
            cmyk_to_rgb(dfd_image_px(&c->img, 0, y), c->row, w, d->saw_Adobe_marker);
        }
    }
    // jpeg_finish_decompress is not needed: it would only read on to EOI (data after the last
    // scan does not change the pixels); jpeg_destroy_decompress releases everything.
    return DFD_OK;
}

dfd_status dfd_jpeg_decode_rgb(dfd_image *img, const uint8_t *buf, size_t n, const char *name,
                               dfd_error *err)
{
    jpeg_ctx c;
    memset(&c, 0, sizeof c); // a zeroed struct is safe to destroy even if create never ran
    c.name = name;
    memset(img, 0, sizeof *img);
    dfd_status st = jpeg_decode(&c, buf, n, err);
    jpeg_destroy_decompress(&c.dinfo);
    dfd_free(c.row);
    if (st) {
        dfd_image_free(&c.img);
        return st;
    }
    *img = c.img;
    return DFD_OK;
}

// ---- encoding ----

static dfd_status jpeg_encode(jpeg_ctx *c, FILE *fp, const dfd_image *img, int quality,
                              dfd_error *err)
{
    struct jpeg_compress_struct *e = &c->cinfo;
    e->err = error_mgr(c);
    e->client_data = c;
    c->writing = true;
    if (setjmp(c->jmp)) {
        if (c->code == DFD_ERR_NOMEM) {
            return dfd_error_set(err, c->code, "%s: out of memory encoding JPEG", c->name);
        }
        return dfd_error_set(err, DFD_ERR_IO, "%s: cannot write JPEG (libjpeg: %s)", c->name,
                             c->msg);
    }
    jpeg_create_compress(e);
    jpeg_stdio_dest(e, fp);
    e->image_width = (JDIMENSION)img->w;
    e->image_height = (JDIMENSION)img->h;
    e->input_components = img->c;
    e->in_color_space = img->c == 1 ? JCS_GRAYSCALE : img->c == 3 ? JCS_RGB : JCS_EXT_RGBX;
    jpeg_set_defaults(e); // picks YCbCr 4:2:0 for colour input, grey for grey
    jpeg_set_quality(e, quality, TRUE);
    const size_t row_bytes = (size_t)img->w * (size_t)img->c;
    c->row = dfd_malloc(row_bytes); // jpeg_write_scanlines takes non-const rows
    if (!c->row) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory encoding JPEG", c->name);
    }
    jpeg_start_compress(e, TRUE);
    while (e->next_scanline < e->image_height) {
        memcpy(c->row, dfd_image_px(img, 0, (int)e->next_scanline), row_bytes);
        JSAMPROW row = c->row;
        (void)jpeg_write_scanlines(e, &row, 1);
    }
    jpeg_finish_compress(e);
    return DFD_OK;
}

dfd_status dfd_jpeg_write(const char *path, const dfd_image *img, int quality, dfd_error *err)
{
    if (!path || !path[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "JPEG output path is empty");
    }
    if (!dfd_image_is_writable(img)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: cannot write an empty image as JPEG", path);
    }
    if (quality < 1 || quality > 100) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: JPEG quality %d is not in 1..100", path,
                             quality);
    }
    dfd_atomic_file *f;
    dfd_status st = dfd_atomic_file_open(&f, path, err);
    if (st) {
        return st;
    }
    jpeg_ctx c;
    memset(&c, 0, sizeof c);
    c.name = path;
    st = jpeg_encode(&c, dfd_atomic_file_stream(f), img, quality, err);
    jpeg_destroy_compress(&c.cinfo);
    dfd_free(c.row);
    if (st) {
        dfd_atomic_file_abort(f);
        return st;
    }
    return dfd_atomic_file_commit(f, err);
}

dfd_status dfd_jpeg_encode(void **buf, size_t *n, const dfd_image *img, int quality, dfd_error *err)
{
    *buf = NULL;
    *n = 0;
    if (!dfd_image_is_writable(img)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "cannot encode an empty image as JPEG");
    }
    if (quality < 1 || quality > 100) {
        return dfd_error_set(err, DFD_ERR_INVALID, "JPEG quality %d is not in 1..100", quality);
    }
    // libjpeg writes to a FILE: an in-memory stream, copied into a dfd_malloc buffer at the end.
    char *mem = NULL;
    size_t mem_n = 0;
    FILE *fp = open_memstream(&mem, &mem_n);
    if (!fp) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "out of memory encoding JPEG");
    }
    jpeg_ctx c;
    memset(&c, 0, sizeof c);
    c.name = "<memory>";
    dfd_status st = jpeg_encode(&c, fp, img, quality, err);
    jpeg_destroy_compress(&c.cinfo);
    dfd_free(c.row);
    if (fclose(fp) != 0 && !st) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "out of memory encoding JPEG");
    }
    if (!st) {
        *buf = dfd_malloc(mem_n);
        if (!*buf) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "out of memory encoding JPEG");
        } else {
            memcpy(*buf, mem, mem_n);
            *n = mem_n;
        }
    }
    free(mem); // open_memstream allocates with malloc
    return st;
}
