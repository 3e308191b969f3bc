// PNG and JPEG reading and writing: round trips, every PNG flavour libpng can produce, truncated
// and corrupt files, size limits checked before allocation, atomic writes, out-of-memory behaviour.
// Files are written under a fresh temporary directory that each test removes.
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include "dfdetect/image/image.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "image/image_test_util.h"
#include "test.h"

// ---- helpers ----

static bool write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return false;
    }
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

// A smooth image (gradients only): JPEG reproduces it closely.
static dfd_status make_smooth(dfd_image *img, int w, int h, int c)
{
    dfd_status st = dfd_image_alloc(img, w, h, c);
    for (int y = 0; st == DFD_OK && y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = dfd_image_px(img, x, y);
            for (int ch = 0; ch < c; ch++) {
                p[ch] = (uint8_t)(x * 150 / w + y * 50 / h + ch * 20);
            }
        }
    }
    return st;
}

// Mean absolute difference over all samples of two same-sized images.
static double mean_abs_diff(const dfd_image *a, const dfd_image *b)
{
    double acc = 0.0;
    for (int y = 0; y < a->h; y++) {
        for (int i = 0; i < a->w * a->c; i++) {
            acc += abs((int)dfd_image_px(a, 0, y)[i] - (int)dfd_image_px(b, 0, y)[i]);
        }
    }
    return acc / ((double)a->w * a->h * a->c);
}

// True when rgb (c = 3) holds the first channels of src, or src's grey replicated.
static bool rgb_matches(const dfd_image *rgb, const dfd_image *src)
{
    if (rgb->c != 3 || rgb->w != src->w || rgb->h != src->h) {
        return false;
    }
    for (int y = 0; y < src->h; y++) {
        for (int x = 0; x < src->w; x++) {
            const uint8_t *p = dfd_image_px(rgb, x, y), *s = dfd_image_px(src, x, y);
            for (int ch = 0; ch < 3; ch++) {
                if (p[ch] != s[src->c == 1 ? 0 : ch]) {
                    return false;
                }
            }
        }
    }
    return true;
}

// CRC-32 (ISO 3309, as PNG uses), bit by bit: small and independent of zlib.
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
        }
    }
    return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

// Append one chunk (length, type, data, CRC) at buf + *n.
static void put_chunk(uint8_t *buf, size_t *n, const char *type, const uint8_t *data, uint32_t len)
{
    uint8_t *p = buf + *n;
    put_be32(p, len);
    memcpy(p + 4, type, 4);
    if (len) {
        memcpy(p + 8, data, len);
    }
    put_be32(p + 8 + len, crc32_png(p + 4, 4 + (size_t)len));
    *n += 12 + (size_t)len;
}

// A PNG whose IHDR claims w x h RGB pixels, followed by a small (bogus) IDAT and IEND.
static size_t make_png_header_only(uint8_t *buf, uint32_t w, uint32_t h)
{
    static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    size_t n = 8;
    memcpy(buf, sig, 8);
    uint8_t ihdr[13] = { 0 };
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // colour type RGB
    put_chunk(buf, &n, "IHDR", ihdr, 13);
    static const uint8_t idat[8] = { 0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 0 };
    put_chunk(buf, &n, "IDAT", idat, 8);
    put_chunk(buf, &n, "IEND", NULL, 0);
    return n;
}

// Growing memory sink for the libpng writer below (plain malloc: test-side data).
typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static void membuf_write(png_structp png, png_bytep data, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        size_t cap = (m->n + n) * 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p) {
            png_error(png, "test: out of memory");
        }
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
}

static void membuf_flush(png_structp png)
{
    (void)png;
}

// A PNG in any layout libpng supports, written with libpng directly: `rows` holds h packed rows of
// `row_bytes` bytes in the file's own sample format (16-bit samples big-endian). Returns a malloc'd
// buffer in m (free(m->p)); false on failure.
typedef struct png_spec {
    int w, h, color_type, depth, interlace;
    const uint8_t *rows;
    size_t row_bytes;
    const png_color *palette;
    int n_palette;
} png_spec;

static bool make_png(membuf *m, const png_spec *s)
{
    memset(m, 0, sizeof *m);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return false;
    }
    png_set_write_fn(png, m, membuf_write, membuf_flush);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color_type,
                 s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) {
        png_set_PLTE(png, info, s->palette, s->n_palette);
    }
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++) {
        for (int y = 0; y < s->h; y++) {
            png_write_row(png, s->rows + (size_t)y * s->row_bytes);
        }
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return true;
}

// Encode img (c = 1 or 3) as a JPEG in memory with libjpeg directly; `cmyk` writes c = 4 pixels
// as CMYK (libjpeg then adds an Adobe marker, so readers treat the values as inverted inks).
static bool make_jpeg(unsigned char **out, unsigned long *n, const dfd_image *img, bool cmyk)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr); // errors exit: acceptable for a test fixture writer
    jpeg_create_compress(&ci);
    *out = NULL;
    *n = 0;
    jpeg_mem_dest(&ci, out, n);
    ci.image_width = (JDIMENSION)img->w;
    ci.image_height = (JDIMENSION)img->h;
    ci.input_components = img->c;
    ci.in_color_space = cmyk ? JCS_CMYK : img->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 95, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = dfd_image_px(img, 0, (int)ci.next_scanline);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    return *out != NULL;
}

// ---- PNG ----

static void test_png_round_trip_for_grey_rgb_and_rgba_reads_back_rgb(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "x.png");
    for (int c = 1; c <= 4; c++) {
        if (c == 2) {
            continue;
        }
        dfd_image img, back;
        dfd_error err;
        CHECK_OK(dfd_image_alloc(&img, 37, 21, c));
        fill_pattern(&img, (unsigned)c);
        CHECK_OK(dfd_png_write(path, &img, &err));
        CHECK_OK(dfd_image_read(&back, path, &err));
        CHECK(rgb_matches(&back, &img));
        dfd_image_free(&back);
        // A view (row stride larger than the row) writes the same pixels.
        dfd_image v = dfd_image_view(&img, 5, 3, 20, 10);
        CHECK_OK(dfd_png_write(path, &v, &err));
        CHECK_OK(dfd_image_read(&back, path, &err));
        CHECK(rgb_matches(&back, &v));
        dfd_image_free(&back);
        dfd_image_free(&img);
    }
    CHECK_EQ_INT(tmpdir_count(dir), 1); // only x.png: no temporary files left
    tmpdir_remove(dir);
}

static void test_png_memory_encode_and_decode_round_trip(void)
{
    dfd_image img, back;
    CHECK_OK(dfd_image_alloc(&img, 64, 48, 3));
    fill_pattern(&img, 5);
    void *buf;
    size_t n;
    dfd_error err;
    CHECK_OK(dfd_png_encode(&buf, &n, &img, &err));
    CHECK(n > 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0);
    CHECK_OK(dfd_image_decode(&back, buf, n, "mem.png", &err));
    CHECK(images_equal(&back, &img));
    dfd_image_free(&back);
    dfd_free(buf);
    dfd_image empty = { 0 };
    CHECK_EQ_INT(dfd_png_encode(&buf, &n, &empty, &err), DFD_ERR_INVALID);
    CHECK(buf == NULL && n == 0);
    dfd_image_free(&img);
}

// Size of the PNGs written with libpng directly.
#define PW 13
#define PH 9

static void test_palette_16_bit_grey_alpha_and_interlaced_pngs_decode_to_rgb(void)
{
    dfd_image img;
    dfd_error err;
    membuf m;
    uint8_t rows[PH][PW * 8];

    // 4-bit palette, two pixels per byte (high nibble first).
    static const png_color pal[3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 10, 20, 30 } };
    memset(rows, 0, sizeof rows);
    for (int y = 0; y < PH; y++) {
        for (int x = 0; x < PW; x++) {
            rows[y][x / 2] |= (uint8_t)(((x + y) % 3) << (x % 2 ? 0 : 4));
        }
    }
    png_spec s = {
        PW, PH, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, &rows[0][0], sizeof rows[0], pal, 3
    };
    REQUIRE(make_png(&m, &s));
    CHECK_OK(dfd_image_decode(&img, m.p, m.n, "palette.png", &err));
    CHECK(img.w == PW && img.h == PH && img.c == 3);
    for (int y = 0; y < PH && img.data; y++) {
        for (int x = 0; x < PW; x++) {
            const png_color *e = &pal[(x + y) % 3];
            const uint8_t *p = dfd_image_px(&img, x, y);
            CHECK(p[0] == e->red && p[1] == e->green && p[2] == e->blue);
        }
    }
    dfd_image_free(&img);
    free(m.p);

    // 16-bit RGB: samples v * 257 read back as v.
    for (int y = 0; y < PH; y++) {
        for (int i = 0; i < PW * 3; i++) {
            uint8_t v = (uint8_t)(y * 20 + i * 7);
            rows[y][2 * i] = v; // big-endian v * 257 = (v << 8) | v
            rows[y][2 * i + 1] = v;
        }
    }
    s = (png_spec){
        PW, PH, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, &rows[0][0], sizeof rows[0], NULL, 0
    };
    REQUIRE(make_png(&m, &s));
    CHECK_OK(dfd_image_decode(&img, m.p, m.n, "rgb16.png", &err));
    for (int y = 0; y < PH && img.data; y++) {
        for (int i = 0; i < PW * 3; i++) {
            CHECK_EQ_INT(dfd_image_px(&img, 0, y)[i], (uint8_t)(y * 20 + i * 7));
        }
    }
    dfd_image_free(&img);
    free(m.p);

    // 8-bit grey + alpha, Adam7-interlaced: grey replicated, alpha dropped.
    for (int y = 0; y < PH; y++) {
        for (int x = 0; x < PW; x++) {
            rows[y][2 * x] = (uint8_t)(x * 19 + y);
            rows[y][2 * x + 1] = (uint8_t)(x * 3);
        }
    }
    s = (png_spec){
        PW,   PH, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_ADAM7, &rows[0][0], sizeof rows[0],
        NULL, 0
    };
    REQUIRE(make_png(&m, &s));
    CHECK_OK(dfd_image_decode(&img, m.p, m.n, "ga_interlaced.png", &err));
    for (int y = 0; y < PH && img.data; y++) {
        for (int x = 0; x < PW; x++) {
            const uint8_t *p = dfd_image_px(&img, x, y);
            CHECK(p[0] == x * 19 + y && p[1] == p[0] && p[2] == p[0]);
        }
    }
    dfd_image_free(&img);
    free(m.p);

    // 1-bit grey: 0 and 255.
    memset(rows, 0, sizeof rows);
    for (int y = 0; y < PH; y++) {
        for (int x = 0; x < PW; x++) {
            rows[y][x / 8] |= (uint8_t)(((x ^ y) & 1) << (7 - x % 8));
        }
    }
    s = (png_spec){
        PW, PH, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, &rows[0][0], sizeof rows[0], NULL, 0
    };
    REQUIRE(make_png(&m, &s));
    CHECK_OK(dfd_image_decode(&img, m.p, m.n, "bits.png", &err));
    for (int y = 0; y < PH && img.data; y++) {
        for (int x = 0; x < PW; x++) {
            CHECK_EQ_INT(dfd_image_px(&img, x, y)[1], ((x ^ y) & 1) ? 255 : 0);
        }
    }
    dfd_image_free(&img);
    free(m.p);
}

// ---- JPEG ----

static void test_jpeg_round_trip_is_within_tolerance(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "x.jpg");
    for (int c = 1; c <= 4; c++) {
        if (c == 2) {
            continue;
        }
        dfd_image img, back, want;
        dfd_error err;
        CHECK_OK(make_smooth(&img, 96, 64, c));
        CHECK_OK(dfd_jpeg_write(path, &img, 95, &err));
        CHECK_OK(dfd_image_read(&back, path, &err));
        CHECK(back.w == 96 && back.h == 64 && back.c == 3);
        // Compare against the RGB the file should hold (grey replicated, alpha dropped).
        CHECK_OK(dfd_image_alloc(&want, 96, 64, 3));
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 96; x++) {
                for (int ch = 0; ch < 3; ch++) {
                    dfd_image_px(&want, x, y)[ch] = dfd_image_px(&img, x, y)[c == 1 ? 0 : ch];
                }
            }
        }
        CHECK(mean_abs_diff(&back, &want) < 2.0);
        CHECK(images_max_diff(&back, &want) <= 16);
        if (c == 1) { // a grey JPEG decodes to equal channels
            const uint8_t *p = dfd_image_px(&back, 10, 10);
            CHECK(p[0] == p[1] && p[1] == p[2]);
        }
        dfd_image_free(&want);
        dfd_image_free(&back);
        dfd_image_free(&img);
    }
    tmpdir_remove(dir);
}

static void test_cmyk_jpeg_is_converted_to_rgb(void)
{
    dfd_image cmyk, img;
    CHECK_OK(dfd_image_alloc(&cmyk, 16, 16, 4));
    // Adobe CMYK stores inverted inks: (255, 0, 0, 255) is no cyan, full magenta and yellow, no
    // black: red. The right half is (255, 255, 255, 255): no ink, white.
    for (int y = 0; y < 16; y++) {
        for (int x = 0; x < 16; x++) {
            uint8_t *p = dfd_image_px(&cmyk, x, y);
            p[0] = 255;
            p[1] = p[2] = x < 8 ? 0 : 255;
            p[3] = 255;
        }
    }
    unsigned char *buf;
    unsigned long n;
    REQUIRE(make_jpeg(&buf, &n, &cmyk, true));
    dfd_error err;
    CHECK_OK(dfd_image_decode(&img, buf, n, "cmyk.jpg", &err));
    CHECK(img.c == 3 && img.w == 16);
    const uint8_t *red = dfd_image_px(&img, 2, 8), *white = dfd_image_px(&img, 13, 8);
    CHECK(red[0] > 240 && red[1] < 15 && red[2] < 15);
    CHECK(white[0] > 240 && white[1] > 240 && white[2] > 240);
    dfd_image_free(&img);
    free(buf);
    dfd_image_free(&cmyk);
}

static void test_jpeg_write_rejects_bad_quality_and_images(void)
{
    dfd_image img, bad = { 0 };
    dfd_error err;
    CHECK_OK(dfd_image_alloc(&img, 4, 4, 3));
    CHECK_EQ_INT(dfd_jpeg_write("/tmp/never.jpg", &img, 0, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_jpeg_write("/tmp/never.jpg", &img, 101, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "quality");
    CHECK_EQ_INT(dfd_jpeg_write("/tmp/never.jpg", &bad, 90, &err), DFD_ERR_INVALID);
    bad = img;
    bad.c = 2;
    CHECK_EQ_INT(dfd_png_write("/tmp/never.png", &bad, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_png_write("", &img, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_jpeg_write(NULL, &img, 90, &err), DFD_ERR_INVALID);
    struct stat sb;
    CHECK(stat("/tmp/never.jpg", &sb) != 0 && stat("/tmp/never.png", &sb) != 0);
    dfd_image_free(&img);
}

// ---- damaged and hostile files ----

// Encode a noisy 24x20 image (so the compressed data is not tiny) as PNG or JPEG in memory.
static bool encode_noise(void **buf, size_t *n, bool jpeg, const char *dir)
{
    dfd_image img;
    if (dfd_image_alloc(&img, 24, 20, 3)) {
        return false;
    }
    fill_pattern(&img, 42);
    bool ok;
    if (jpeg) {
        char path[512];
        tmpdir_path(path, sizeof path, dir, "noise.jpg");
        ok = dfd_jpeg_write(path, &img, 90, NULL) == DFD_OK &&
             dfd_file_read_all(buf, n, path, 1 << 20, NULL) == DFD_OK;
        unlink(path);
    } else {
        ok = dfd_png_encode(buf, n, &img, NULL) == DFD_OK;
    }
    dfd_image_free(&img);
    return ok;
}

static void test_truncated_png_and_jpeg_are_format_errors_naming_the_file(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    for (int jpeg = 0; jpeg <= 1; jpeg++) {
        void *buf;
        size_t n;
        REQUIRE(encode_noise(&buf, &n, jpeg, dir));
        // Half a file on disk: FORMAT, one line naming the path and the problem.
        tmpdir_path(path, sizeof path, dir, jpeg ? "half.jpg" : "half.png");
        REQUIRE(write_bytes(path, buf, n / 2));
        dfd_image img;
        dfd_error err;
        dfd_error_clear(&err);
        CHECK_EQ_INT(dfd_image_read(&img, path, &err), DFD_ERR_FORMAT);
        CHECK_EQ_INT(err.code, DFD_ERR_FORMAT);
        CHECK_STR_CONTAINS(err.msg, path);
        CHECK_STR_CONTAINS(err.msg,
                           jpeg ? "truncated or corrupt JPEG" : "truncated or corrupt PNG");
        CHECK(strchr(err.msg, '\n') == NULL);
        CHECK(img.data == NULL);
        // Every shorter prefix in memory fails the same way (and never crashes or leaks), except
        // that a PNG missing only its 12-byte IEND chunk still holds the whole image. (libjpeg
        // reads ahead past the last scan, so a JPEG missing its EOI marker counts as truncated.)
        size_t before = dfd_alloc_bytes_in_use();
        size_t whole = jpeg ? n : n - 12;
        int wrong = 0;
        for (size_t k = 0; k < whole; k++) {
            dfd_status st = dfd_image_decode(&img, buf, k, "prefix", &err);
            wrong += st != DFD_ERR_FORMAT;
            if (st == DFD_OK) {
                dfd_image_free(&img);
            }
        }
        CHECK_EQ_INT(wrong, 0);
        CHECK_OK(dfd_image_decode(&img, buf, whole, "whole", &err));
        dfd_image_free(&img);
        CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
        dfd_free(buf);
    }
    tmpdir_remove(dir);
}

static void test_corrupt_png_data_is_a_format_error(void)
{
    void *buf;
    size_t n;
    REQUIRE(encode_noise(&buf, &n, false, NULL));
    uint8_t *b = buf;
    b[n / 2] ^= 0x55; // inside IDAT: its CRC no longer matches
    dfd_image img;
    dfd_error err;
    CHECK_EQ_INT(dfd_image_decode(&img, buf, n, "flipped.png", &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "flipped.png: truncated or corrupt PNG (libpng: ");
    b[n / 2] ^= 0x55;
    b[16] ^= 0x01; // IHDR width: CRC error in a critical chunk
    CHECK_EQ_INT(dfd_image_decode(&img, buf, n, "ihdr.png", &err), DFD_ERR_FORMAT);
    dfd_free(buf);
}

static void test_text_and_other_formats_are_rejected_by_content(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    dfd_image img;
    dfd_error err;
    // A text file named .png is judged by its bytes.
    tmpdir_path(path, sizeof path, dir, "notes.png");
    REQUIRE(write_bytes(path, "hello, world\nthis is not an image\n", 34));
    CHECK_EQ_INT(dfd_image_read(&img, path, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "notes.png: not a PNG or JPEG image");
    // Empty file.
    tmpdir_path(path, sizeof path, dir, "empty.jpg");
    REQUIRE(write_bytes(path, "", 0));
    CHECK_EQ_INT(dfd_image_read(&img, path, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "empty.jpg");
    // Formats we recognise but do not decode.
    CHECK_EQ_INT(dfd_image_decode(&img, "GIF89a\x01\x00\x01\x00", 10, "a.gif", &err),
                 DFD_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(err.msg, "a.gif: GIF");
    CHECK_EQ_INT(dfd_image_decode(&img, "RIFF\x10\0\0\0WEBPVP8 ", 16, NULL, &err),
                 DFD_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(err.msg, "<memory>: WebP");
    // A directory is not a file.
    CHECK_EQ_INT(dfd_image_read(&img, dir, &err), DFD_ERR_INVALID);
    CHECK(img.data == NULL);
    tmpdir_remove(dir);
}

static void test_png_header_claiming_a_huge_size_is_rejected_before_allocating(void)
{
    uint8_t buf[128];
    dfd_image img;
    dfd_error err;
    size_t before = dfd_alloc_bytes_in_use();
    // 100000 x 100000: over the per-side limit.
    size_t n = make_png_header_only(buf, 100000, 100000);
    CHECK_EQ_INT(dfd_image_decode(&img, buf, n, "huge.png", &err), DFD_ERR_LIMIT);
    CHECK_STR_CONTAINS(err.msg, "huge.png: PNG image of 100000x100000 pixels exceeds the limit");
    // 20000 x 20000: each side allowed, 400 M pixels are not. Had the check come after the
    // allocation, the 1.2 GB image would have been allocated and the missing data reported as
    // FORMAT instead.
    n = make_png_header_only(buf, 20000, 20000);
    CHECK_EQ_INT(dfd_image_decode(&img, buf, n, "big.png", &err), DFD_ERR_LIMIT);
    CHECK(img.data == NULL);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    // A sane size with the same bogus IDAT is a FORMAT error, which shows the header is valid.
    n = make_png_header_only(buf, 100, 100);
    CHECK_EQ_INT(dfd_image_decode(&img, buf, n, "small.png", &err), DFD_ERR_FORMAT);
    // Zero width is invalid PNG: libpng rejects the IHDR.
    n = make_png_header_only(buf, 0, 10);
    CHECK_EQ_INT(dfd_image_decode(&img, buf, n, "zero.png", &err), DFD_ERR_FORMAT);
}

static void test_jpeg_header_claiming_a_huge_size_is_rejected_before_allocating(void)
{
    void *buf;
    size_t n;
    char dir[256];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    REQUIRE(encode_noise(&buf, &n, true, dir));
    tmpdir_remove(dir);
    // Patch the baseline SOF0 segment (FF C0, u16 length, u8 precision, u16 height, u16 width).
    uint8_t *b = buf;
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n && !sof; i++) {
        if (b[i] == 0xff && b[i + 1] == 0xc0) {
            sof = i;
        }
    }
    REQUIRE(sof != 0);
    b[sof + 5] = 20000 >> 8;
    b[sof + 6] = 20000 & 0xff;
    b[sof + 7] = 20000 >> 8;
    b[sof + 8] = 20000 & 0xff;
    dfd_image img;
    dfd_error err;
    CHECK_EQ_INT(dfd_image_decode(&img, buf, n, "big.jpg", &err), DFD_ERR_LIMIT);
    CHECK_STR_CONTAINS(err.msg, "big.jpg: JPEG image of 20000x20000 pixels exceeds the limit");
    dfd_free(buf);
}

static void test_missing_file_is_not_found(void)
{
    dfd_image img;
    dfd_error err;
    CHECK_EQ_INT(dfd_image_read(&img, "/nonexistent-dir/x.png", &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "/nonexistent-dir/x.png: no such file");
    CHECK_EQ_INT(dfd_image_read(&img, "", &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_read(&img, NULL, NULL), DFD_ERR_INVALID);
}

// ---- atomic writes ----

static void test_write_into_a_missing_directory_is_an_io_error_and_leaves_nothing(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    dfd_image img;
    CHECK_OK(dfd_image_alloc(&img, 8, 8, 3));
    dfd_error err;
    tmpdir_path(path, sizeof path, dir, "missing/x.png");
    CHECK_EQ_INT(dfd_png_write(path, &img, &err), DFD_ERR_IO);
    CHECK_STR_CONTAINS(err.msg, path);
    tmpdir_path(path, sizeof path, dir, "missing/x.jpg");
    CHECK_EQ_INT(dfd_jpeg_write(path, &img, 90, &err), DFD_ERR_IO);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_EQ_INT(tmpdir_count(dir), 0);
    dfd_image_free(&img);
    tmpdir_remove(dir);
}

static void test_failed_writes_leave_no_file_and_keep_the_old_one(void)
{
    char dir[256], png[512], jpg[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(png, sizeof png, dir, "a.png");
    tmpdir_path(jpg, sizeof jpg, dir, "a.jpg");
    dfd_image img, old, back;
    CHECK_OK(dfd_image_alloc(&img, 40, 30, 3));
    fill_pattern(&img, 6);
    CHECK_OK(dfd_image_alloc(&old, 5, 5, 3));
    size_t before = dfd_alloc_bytes_in_use();
    // Every allocation in turn fails: each write either succeeds or fails with NOMEM, and a
    // failed one leaves the directory as it was.
    for (int jpeg = 0; jpeg <= 1; jpeg++) {
        const char *path = jpeg ? jpg : png;
        bool ok = false;
        int n_nomem = 0;
        for (long k = 0; k < 200 && !ok; k++) {
            dfd_alloc_fail_after(k);
            dfd_status st =
                jpeg ? dfd_jpeg_write(path, &img, 90, NULL) : dfd_png_write(path, &img, NULL);
            dfd_alloc_fail_after(-1);
            CHECK(st == DFD_OK || st == DFD_ERR_NOMEM);
            CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
            ok = st == DFD_OK;
            n_nomem += st == DFD_ERR_NOMEM;
            if (!ok) {
                CHECK_EQ_INT(tmpdir_count(dir), jpeg); // a.png exists once the PNG pass is done
            }
        }
        CHECK(ok && n_nomem > 0);
    }
    CHECK_EQ_INT(tmpdir_count(dir), 2);
    // A failing write over an existing file leaves it intact.
    CHECK_OK(dfd_png_write(png, &old, NULL));
    dfd_alloc_fail_after(4);
    dfd_status st = dfd_png_write(png, &img, NULL);
    dfd_alloc_fail_after(-1);
    CHECK_EQ_INT(st, DFD_ERR_NOMEM);
    CHECK_OK(dfd_image_read(&back, png, NULL));
    CHECK(images_equal(&back, &old));
    CHECK_EQ_INT(tmpdir_count(dir), 2);
    dfd_image_free(&back);
    dfd_image_free(&old);
    dfd_image_free(&img);
    tmpdir_remove(dir);
}

// ---- out of memory ----

static void test_reading_without_memory_fails_cleanly_at_every_allocation(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    dfd_image img, back;
    CHECK_OK(dfd_image_alloc(&img, 33, 17, 3));
    fill_pattern(&img, 8);
    for (int jpeg = 0; jpeg <= 1; jpeg++) {
        tmpdir_path(path, sizeof path, dir, jpeg ? "r.jpg" : "r.png");
        CHECK_OK(jpeg ? dfd_jpeg_write(path, &img, 90, NULL) : dfd_png_write(path, &img, NULL));
        size_t before = dfd_alloc_bytes_in_use();
        bool ok = false;
        int n_nomem = 0;
        for (long k = 0; k < 200 && !ok; k++) {
            dfd_error err;
            dfd_alloc_fail_after(k);
            dfd_status st = dfd_image_read(&back, path, &err);
            dfd_alloc_fail_after(-1);
            CHECK(st == DFD_OK || st == DFD_ERR_NOMEM);
            if (st == DFD_ERR_NOMEM) {
                CHECK(back.data == NULL);
                CHECK_STR_CONTAINS(err.msg, path);
                n_nomem++;
            }
            ok = st == DFD_OK;
            if (ok) {
                CHECK(jpeg || images_equal(&back, &img));
                dfd_image_free(&back);
            }
            CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
        }
        CHECK(ok);
        CHECK(n_nomem >= (jpeg ? 2 : 4)); // file buffer, image (+ libpng's own allocations)
    }
    dfd_image_free(&img);
    tmpdir_remove(dir);
}

// ---- a real photograph ----

static void test_astronaut_photo_reads_as_512x512_rgb(void)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/assets/astronaut.png", src ? src : ".");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        TEST_SKIP("%s not present (fetched by the set-up script)", path);
    }
    dfd_image img;
    dfd_error err;
    CHECK_OK(dfd_image_read(&img, path, &err));
    CHECK_EQ_INT(img.w, 512);
    CHECK_EQ_INT(img.h, 512);
    CHECK_EQ_INT(img.c, 3);
    // A photograph, not a blank: the channels vary.
    int lo = 255, hi = 0;
    for (int y = 0; y < img.h; y += 7) {
        for (int x = 0; x < img.w; x += 7) {
            int v = dfd_image_px(&img, x, y)[1];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    CHECK(hi - lo > 100);
    dfd_image_free(&img);
}

DFD_TEST_MAIN({ "png_round_trip_for_grey_rgb_and_rgba_reads_back_rgb",
                test_png_round_trip_for_grey_rgb_and_rgba_reads_back_rgb },
              { "png_memory_encode_and_decode_round_trip",
                test_png_memory_encode_and_decode_round_trip },
              { "palette_16_bit_grey_alpha_and_interlaced_pngs_decode_to_rgb",
                test_palette_16_bit_grey_alpha_and_interlaced_pngs_decode_to_rgb },
              { "jpeg_round_trip_is_within_tolerance", test_jpeg_round_trip_is_within_tolerance },
              { "cmyk_jpeg_is_converted_to_rgb", test_cmyk_jpeg_is_converted_to_rgb },
              { "jpeg_write_rejects_bad_quality_and_images",
                test_jpeg_write_rejects_bad_quality_and_images },
              { "truncated_png_and_jpeg_are_format_errors_naming_the_file",
                test_truncated_png_and_jpeg_are_format_errors_naming_the_file },
              { "corrupt_png_data_is_a_format_error", test_corrupt_png_data_is_a_format_error },
              { "text_and_other_formats_are_rejected_by_content",
                test_text_and_other_formats_are_rejected_by_content },
              { "png_header_claiming_a_huge_size_is_rejected_before_allocating",
                test_png_header_claiming_a_huge_size_is_rejected_before_allocating },
              { "jpeg_header_claiming_a_huge_size_is_rejected_before_allocating",
                test_jpeg_header_claiming_a_huge_size_is_rejected_before_allocating },
              { "missing_file_is_not_found", test_missing_file_is_not_found },
              { "write_into_a_missing_directory_is_an_io_error_and_leaves_nothing",
                test_write_into_a_missing_directory_is_an_io_error_and_leaves_nothing },
              { "failed_writes_leave_no_file_and_keep_the_old_one",
                test_failed_writes_leave_no_file_and_keep_the_old_one },
              { "reading_without_memory_fails_cleanly_at_every_allocation",
                test_reading_without_memory_fails_cleanly_at_every_allocation },
              { "astronaut_photo_reads_as_512x512_rgb", test_astronaut_photo_reads_as_512x512_rgb })
