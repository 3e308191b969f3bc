// Image basics: allocation limits, views, copies, rotation, cropping with fill, and conversions
// between 8-bit and float images and between channel layouts.
#include <limits.h>
#include <math.h>
#include <stdint.h>

#include "dfdetect/image/convert.h"
#include "dfdetect/image/image.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/util/alloc.h"
#include "image/image_test_util.h"
#include "test.h"

// ---- allocation ----

static void test_alloc_rejects_bad_and_huge_dimensions(void)
{
    size_t before = dfd_alloc_bytes_in_use();
    dfd_image img;
    CHECK_EQ_INT(dfd_image_alloc(&img, 0, 4, 3), DFD_ERR_INVALID);
    CHECK(img.data == NULL && img.w == 0);
    CHECK_EQ_INT(dfd_image_alloc(&img, 4, -1, 3), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_alloc(&img, 4, 4, 2), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_alloc(&img, 4, 4, 0), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_alloc(&img, 4, 4, 5), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_alloc(&img, DFD_IMAGE_MAX_DIM + 1, 1, 1), DFD_ERR_LIMIT);
    CHECK_EQ_INT(dfd_image_alloc(&img, 1, INT_MAX, 1), DFD_ERR_LIMIT);
    CHECK(img.data == NULL);
    dfd_imagef f;
    CHECK_EQ_INT(dfd_imagef_alloc(&f, 0, 1, 1), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_imagef_alloc(&f, 1, DFD_IMAGE_MAX_DIM + 1, 1), DFD_ERR_LIMIT);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    // The largest allowed side is fine.
    CHECK_OK(dfd_image_alloc(&img, DFD_IMAGE_MAX_DIM, 1, 4));
    dfd_image_free(&img);
    dfd_image_free(&img); // freeing an empty image is a no-op
    dfd_image_free(NULL);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
}

static void test_alloc_zeroes_pixels_and_aligns_rows(void)
{
    dfd_image img;
    CHECK_OK(dfd_image_alloc(&img, 5, 3, 3));
    CHECK_EQ_INT(img.w, 5);
    CHECK_EQ_INT(img.h, 3);
    CHECK_EQ_INT(img.c, 3);
    CHECK(img.stride >= 15 && img.stride % 64 == 0);
    CHECK((uintptr_t)img.data % 64 == 0);
    int nonzero = 0;
    for (int y = 0; y < 3; y++) {
        for (int i = 0; i < 15; i++) {
            nonzero += dfd_image_px(&img, 0, y)[i] != 0;
        }
    }
    CHECK_EQ_INT(nonzero, 0);
    dfd_image_free(&img);
    dfd_imagef f;
    CHECK_OK(dfd_imagef_alloc(&f, 7, 2, 4));
    CHECK(f.stride >= 28 && (f.stride * sizeof(float)) % 64 == 0);
    dfd_imagef_free(&f);
}

// ---- views and copies ----

static void test_view_shares_pixels_and_copy_is_independent(void)
{
    dfd_image img, cp;
    CHECK_OK(dfd_image_alloc(&img, 6, 4, 3));
    fill_pattern(&img, 1);
    dfd_image v = dfd_image_view(&img, 2, 1, 3, 2);
    CHECK_EQ_INT(v.w, 3);
    CHECK_EQ_INT(v.h, 2);
    CHECK(v.stride == img.stride);
    CHECK(dfd_image_px(&v, 0, 0) == dfd_image_px(&img, 2, 1));
    dfd_image_px(&v, 2, 1)[1] = 77; // writes through to the parent
    CHECK_EQ_INT(dfd_image_px(&img, 4, 2)[1], 77);
    CHECK_OK(dfd_image_copy(&cp, &v));
    CHECK(images_equal(&cp, &v));
    dfd_image_px(&cp, 0, 0)[0] ^= 0xff;
    CHECK(!images_equal(&cp, &v));
    dfd_image empty = dfd_image_view(&img, 6, 4, 0, 0);
    CHECK(empty.data == NULL && empty.w == 0);
    dfd_image_free(&cp);
    dfd_image_free(&img);
}

// ---- rotation ----

// A 3x2 image whose pixel (x, y) holds v, v + 10, v + 20 with v = 1 + x + 3y.
static dfd_status make_3x2(dfd_image *img)
{
    dfd_status st = dfd_image_alloc(img, 3, 2, 3);
    for (int y = 0; st == DFD_OK && y < 2; y++) {
        for (int x = 0; x < 3; x++) {
            uint8_t *p = dfd_image_px(img, x, y);
            p[0] = (uint8_t)(1 + x + 3 * y);
            p[1] = (uint8_t)(p[0] + 10);
            p[2] = (uint8_t)(p[0] + 20);
        }
    }
    return st;
}

// Check img's first channel against a row-major table.
static int first_channel_is(const dfd_image *img, int w, int h, const int *want)
{
    if (img->w != w || img->h != h) {
        return 0;
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const uint8_t *p = dfd_image_px(img, x, y);
            if (p[0] != want[y * w + x] || p[1] != p[0] + 10 || p[2] != p[0] + 20) {
                return 0;
            }
        }
    }
    return 1;
}

static void test_rotate_90_180_270_match_hand_built_images(void)
{
    // 1 2 3      90 cw: 4 1     180: 6 5 4     270 cw: 3 6
    // 4 5 6             5 2          3 2 1             2 5
    //                   6 3                            1 4
    static const int r90[] = { 4, 1, 5, 2, 6, 3 };
    static const int r180[] = { 6, 5, 4, 3, 2, 1 };
    static const int r270[] = { 3, 6, 2, 5, 1, 4 };
    static const int r0[] = { 1, 2, 3, 4, 5, 6 };
    dfd_image src, dst;
    CHECK_OK(make_3x2(&src));
    CHECK_OK(dfd_image_rotate(&dst, &src, 90));
    CHECK(first_channel_is(&dst, 2, 3, r90));
    dfd_image_free(&dst);
    CHECK_OK(dfd_image_rotate(&dst, &src, 180));
    CHECK(first_channel_is(&dst, 3, 2, r180));
    dfd_image_free(&dst);
    CHECK_OK(dfd_image_rotate(&dst, &src, 270));
    CHECK(first_channel_is(&dst, 2, 3, r270));
    dfd_image_free(&dst);
    CHECK_OK(dfd_image_rotate(&dst, &src, 0));
    CHECK(first_channel_is(&dst, 3, 2, r0));
    dfd_image_free(&dst);
    CHECK_EQ_INT(dfd_image_rotate(&dst, &src, 45), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_rotate(&dst, &src, -90), DFD_ERR_INVALID);
    CHECK(dst.data == NULL);
    dfd_image_free(&src);
}

static void test_four_quarter_turns_are_the_identity(void)
{
    dfd_image a, b;
    CHECK_OK(dfd_image_alloc(&a, 7, 5, 4));
    fill_pattern(&a, 2);
    dfd_image cur;
    CHECK_OK(dfd_image_copy(&cur, &a));
    for (int i = 0; i < 4; i++) {
        CHECK_OK(dfd_image_rotate(&b, &cur, 90));
        dfd_image_free(&cur);
        cur = b;
    }
    CHECK(images_equal(&cur, &a));
    // 90 then 270 is also the identity, and two 180s.
    dfd_image c;
    CHECK_OK(dfd_image_rotate(&b, &a, 90));
    CHECK_OK(dfd_image_rotate(&c, &b, 270));
    CHECK(images_equal(&c, &a));
    dfd_image_free(&b);
    dfd_image_free(&c);
    CHECK_OK(dfd_image_rotate(&b, &a, 180));
    CHECK_OK(dfd_image_rotate(&c, &b, 180));
    CHECK(images_equal(&c, &a));
    dfd_image_free(&b);
    dfd_image_free(&c);
    dfd_image_free(&cur);
    dfd_image_free(&a);
}

// ---- crop ----

static void test_crop_inside_copies_the_window(void)
{
    dfd_image src, dst;
    CHECK_OK(dfd_image_alloc(&src, 8, 6, 3));
    fill_pattern(&src, 3);
    CHECK_OK(dfd_image_crop(&dst, &src, 2, 1, 4, 3, NULL));
    dfd_image v = dfd_image_view(&src, 2, 1, 4, 3);
    CHECK(images_equal(&dst, &v));
    dfd_image_free(&dst);
    CHECK_OK(dfd_image_crop(&dst, &src, 0, 0, 8, 6, NULL)); // the whole image
    CHECK(images_equal(&dst, &src));
    dfd_image_free(&dst);
    dfd_image_free(&src);
}

static void test_crop_outside_the_image_takes_the_fill_colour(void)
{
    dfd_image src, dst;
    CHECK_OK(make_3x2(&src));
    static const uint8_t fill[4] = { 200, 201, 202, 203 };
    // Window (-2, -1) .. (2, 2): source pixels land at dst (2..4, 1..2), the rest is fill.
    CHECK_OK(dfd_image_crop(&dst, &src, -2, -1, 5, 4, fill));
    CHECK_EQ_INT(dst.w, 5);
    CHECK_EQ_INT(dst.h, 4);
    for (int y = 0; y < 4; y++) {
        for (int x = 0; x < 5; x++) {
            const uint8_t *p = dfd_image_px(&dst, x, y);
            int sx = x - 2, sy = y - 1;
            if (sx >= 0 && sx < 3 && sy >= 0 && sy < 2) {
                CHECK_EQ_INT(p[0], 1 + sx + 3 * sy);
                CHECK_EQ_INT(p[2], 21 + sx + 3 * sy);
            } else {
                CHECK(p[0] == 200 && p[1] == 201 && p[2] == 202);
            }
        }
    }
    dfd_image_free(&dst);
    // NULL fill is zeros; a window that misses the image is all fill.
    CHECK_OK(dfd_image_crop(&dst, &src, 10, -20, 2, 2, NULL));
    CHECK(dfd_image_px(&dst, 1, 1)[2] == 0 && dfd_image_px(&dst, 0, 0)[0] == 0);
    dfd_image_free(&dst);
    // Extreme coordinates: no overflow, all fill.
    CHECK_OK(dfd_image_crop(&dst, &src, INT_MAX - 1, INT_MIN, 3, 3, fill));
    CHECK_EQ_INT(dfd_image_px(&dst, 2, 2)[1], 201);
    dfd_image_free(&dst);
    // A window larger than the image on every side.
    CHECK_OK(dfd_image_crop(&dst, &src, -1, -1, 5, 4, fill));
    CHECK_EQ_INT(dfd_image_px(&dst, 1, 1)[0], 1);
    CHECK_EQ_INT(dfd_image_px(&dst, 3, 2)[0], 6);
    CHECK_EQ_INT(dfd_image_px(&dst, 4, 3)[0], 200);
    dfd_image_free(&dst);
    dfd_image_free(&src);
}

static void test_crop_rejects_bad_sizes(void)
{
    dfd_image src, dst;
    CHECK_OK(make_3x2(&src));
    CHECK_EQ_INT(dfd_image_crop(&dst, &src, 0, 0, 0, 2, NULL), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_crop(&dst, &src, 0, 0, 2, -3, NULL), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_crop(&dst, &src, 0, 0, DFD_IMAGE_MAX_DIM + 1, 1, NULL), DFD_ERR_LIMIT);
    dfd_image empty = { 0 };
    CHECK_EQ_INT(dfd_image_crop(&dst, &empty, 0, 0, 1, 1, NULL), DFD_ERR_INVALID);
    CHECK(dst.data == NULL);
    dfd_image_free(&src);
}

// ---- conversions ----

static void test_float_conversion_applies_mean_and_scale_per_channel(void)
{
    dfd_image src;
    dfd_imagef f;
    CHECK_OK(make_3x2(&src));
    static const float mean[4] = { 1.0f, 2.0f, 3.0f, 0.0f };
    static const float scale[4] = { 0.5f, 2.0f, -1.0f, 1.0f };
    CHECK_OK(dfd_image_to_float(&f, &src, mean, scale));
    CHECK_EQ_INT(f.w, 3);
    CHECK_EQ_INT(f.c, 3);
    const float *p = f.data + f.stride + 2 * 3; // pixel (2, 1): 6, 16, 26
    CHECK_NEAR(p[0], (6 - 1) * 0.5, 1e-6);
    CHECK_NEAR(p[1], (16 - 2) * 2.0, 1e-6);
    CHECK_NEAR(p[2], -(26 - 3), 1e-6);
    dfd_imagef_free(&f);
    CHECK_OK(dfd_image_to_float(&f, &src, NULL, NULL)); // identity
    CHECK_NEAR(f.data[1], 11.0, 0.0);
    dfd_imagef_free(&f);
    dfd_image_free(&src);
}

static void test_float_conversion_round_trips_exactly(void)
{
    for (int c = 1; c <= 4; c++) {
        if (c == 2) {
            continue;
        }
        dfd_image src, back;
        dfd_imagef f;
        CHECK_OK(dfd_image_alloc(&src, 17, 9, c));
        fill_pattern(&src, (unsigned)c);
        // [-1, 1] normalisation and its inverse.
        const float m[4] = { 127.5f, 127.5f, 127.5f, 127.5f };
        const float s[4] = { 1.0f / 127.5f, 1.0f / 127.5f, 1.0f / 127.5f, 1.0f / 127.5f };
        CHECK_OK(dfd_image_to_float(&f, &src, m, s));
        CHECK_OK(dfd_imagef_to_image(&back, &f, 127.5f, 127.5f));
        CHECK(images_equal(&back, &src));
        dfd_image_free(&back);
        dfd_imagef_free(&f);
        dfd_image_free(&src);
    }
}

static void test_float_to_image_rounds_and_clamps(void)
{
    dfd_imagef f;
    dfd_image img;
    CHECK_OK(dfd_imagef_alloc(&f, 8, 1, 1));
    const float v[8] = { -5.0f, 0.49f, 0.5f, 1.5f, 254.5f, 300.0f, NAN, INFINITY };
    const int want[8] = { 0, 0, 1, 2, 255, 255, 0, 255 };
    memcpy(f.data, v, sizeof v);
    CHECK_OK(dfd_imagef_to_image(&img, &f, 1.0f, 0.0f));
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT(img.data[i], want[i]);
    }
    dfd_image_free(&img);
    dfd_imagef_free(&f);
}

static void test_channel_conversions_replicate_grey_and_compute_luma(void)
{
    dfd_image grey, rgb, rgba, out;
    CHECK_OK(dfd_image_alloc(&grey, 2, 1, 1));
    grey.data[0] = 10;
    grey.data[1] = 250;
    CHECK_OK(dfd_image_to_rgb(&rgb, &grey));
    CHECK(rgb.c == 3 && rgb.data[3] == 250 && rgb.data[4] == 250 && rgb.data[5] == 250);
    CHECK_OK(dfd_image_alloc(&rgba, 2, 1, 4));
    static const uint8_t px[8] = { 255, 255, 255, 0, 255, 0, 0, 128 };
    memcpy(rgba.data, px, sizeof px);
    CHECK_OK(dfd_image_to_rgb(&out, &rgba));
    CHECK(out.data[0] == 255 && out.data[3] == 255 && out.data[4] == 0 && out.data[5] == 0);
    dfd_image_free(&out);
    CHECK_OK(dfd_image_to_grey(&out, &rgba));
    CHECK_EQ_INT(out.data[0], 255); // white stays white
    CHECK_EQ_INT(out.data[1], (77 * 255 + 128) >> 8);
    dfd_image_free(&out);
    CHECK_OK(dfd_image_to_grey(&out, &grey));
    CHECK(images_equal(&out, &grey));
    dfd_image_free(&out);
    dfd_image empty = { 0 };
    CHECK_EQ_INT(dfd_image_to_rgb(&out, &empty), DFD_ERR_INVALID);
    dfd_image_free(&rgba);
    dfd_image_free(&rgb);
    dfd_image_free(&grey);
}

// ---- out of memory ----

static void test_copy_rotate_crop_and_convert_fail_cleanly_without_memory(void)
{
    dfd_image src;
    CHECK_OK(dfd_image_alloc(&src, 9, 4, 3));
    fill_pattern(&src, 4);
    size_t before = dfd_alloc_bytes_in_use();
    dfd_image out;
    dfd_imagef f;
    dfd_alloc_fail_after(0);
    dfd_status st[5] = {
        dfd_image_copy(&out, &src),
        dfd_image_rotate(&out, &src, 90),
        dfd_image_crop(&out, &src, -1, -1, 3, 3, NULL),
        dfd_image_to_float(&f, &src, NULL, NULL),
        dfd_image_to_grey(&out, &src),
    };
    dfd_alloc_fail_after(-1);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(st[i], DFD_ERR_NOMEM);
    }
    CHECK(out.data == NULL && f.data == NULL);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    dfd_image_free(&src);
}

DFD_TEST_MAIN({ "alloc_rejects_bad_and_huge_dimensions",
                test_alloc_rejects_bad_and_huge_dimensions },
              { "alloc_zeroes_pixels_and_aligns_rows", test_alloc_zeroes_pixels_and_aligns_rows },
              { "view_shares_pixels_and_copy_is_independent",
                test_view_shares_pixels_and_copy_is_independent },
              { "rotate_90_180_270_match_hand_built_images",
                test_rotate_90_180_270_match_hand_built_images },
              { "four_quarter_turns_are_the_identity", test_four_quarter_turns_are_the_identity },
              { "crop_inside_copies_the_window", test_crop_inside_copies_the_window },
              { "crop_outside_the_image_takes_the_fill_colour",
                test_crop_outside_the_image_takes_the_fill_colour },
              { "crop_rejects_bad_sizes", test_crop_rejects_bad_sizes },
              { "float_conversion_applies_mean_and_scale_per_channel",
                test_float_conversion_applies_mean_and_scale_per_channel },
              { "float_conversion_round_trips_exactly", test_float_conversion_round_trips_exactly },
              { "float_to_image_rounds_and_clamps", test_float_to_image_rounds_and_clamps },
              { "channel_conversions_replicate_grey_and_compute_luma",
                test_channel_conversions_replicate_grey_and_compute_luma },
              { "copy_rotate_crop_and_convert_fail_cleanly_without_memory",
                test_copy_rotate_crop_and_convert_fail_cleanly_without_memory })
