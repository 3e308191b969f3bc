// Resampling: bilinear and area resize of 8-bit and float images against hand-computed values and
// against slow per-pixel reference implementations written directly from the definitions.
#include <math.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/util/alloc.h"
#include "image/image_test_util.h"
#include "test.h"

// ---- references (direct from the definitions in resize.h, in double) ----

// Bilinear sample of channel ch at output (x, y): half-pixel centres, clamped at the edges.
static double ref_bilinear(const dfd_image *s, int dw, int dh, int x, int y, int ch)
{
    double sx = (x + 0.5) * s->w / dw - 0.5, sy = (y + 0.5) * s->h / dh - 0.5;
    sx = sx < 0 ? 0 : sx > s->w - 1 ? s->w - 1 : sx;
    sy = sy < 0 ? 0 : sy > s->h - 1 ? s->h - 1 : sy;
    int x0 = (int)floor(sx), y0 = (int)floor(sy);
    int x1 = x0 + 1 < s->w ? x0 + 1 : x0, y1 = y0 + 1 < s->h ? y0 + 1 : y0;
    double fx = sx - x0, fy = sy - y0;
    double a = dfd_image_px(s, x0, y0)[ch], b = dfd_image_px(s, x1, y0)[ch];
    double c = dfd_image_px(s, x0, y1)[ch], d = dfd_image_px(s, x1, y1)[ch];
    return (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * c + fx * d);
}

// Overlap of [a0, a1) and [b0, b1).
static double overlap(double a0, double a1, double b0, double b1)
{
    double lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0.0;
}

// Box-filter mean of channel ch over the source area output (x, y) covers (downscaling only).
static double ref_area(const dfd_image *s, int dw, int dh, int x, int y, int ch)
{
    double fx = (double)s->w / dw, fy = (double)s->h / dh;
    double x0 = x * fx, x1 = (x + 1) * fx, y0 = y * fy, y1 = (y + 1) * fy;
    double acc = 0.0;
    for (int j = (int)y0; j < s->h && j < y1; j++) {
        for (int i = (int)x0; i < s->w && i < x1; i++) {
            acc +=
                overlap(x0, x1, i, i + 1) * overlap(y0, y1, j, j + 1) * dfd_image_px(s, i, j)[ch];
        }
    }
    return acc / (fx * fy);
}

// ---- bilinear ----

static void test_bilinear_upscale_matches_hand_computed_values(void)
{
    // 2x2 -> 4x4: output columns sample x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped
    // to 1), i.e. weights (1, 0), (.75, .25), (.25, .75), (0, 1); the same vertically.
    //   src: 0 100      rows first: 0   25    75  100
    //        200 40                200  160   80   40
    static const int want[16] = {
        0,   25,  75, 100, // row 0
        50,  59,  76, 85,  // .75 * row0 + .25 * row1: 50, 58.75, 76.25, 85
        150, 126, 79, 55,  // .25 * row0 + .75 * row1: 150, 126.25, 78.75, 55
        200, 160, 80, 40,  // row 1
    };
    dfd_image src, dst;
    CHECK_OK(dfd_image_alloc(&src, 2, 2, 1));
    src.data[0] = 0;
    src.data[1] = 100;
    src.data[src.stride] = 200;
    src.data[src.stride + 1] = 40;
    CHECK_OK(dfd_image_alloc(&dst, 4, 4, 1));
    CHECK_OK(dfd_image_resize(&dst, &src, DFD_RESIZE_BILINEAR));
    for (int y = 0; y < 4; y++) {
        for (int x = 0; x < 4; x++) {
            CHECK_EQ_INT(dfd_image_px(&dst, x, y)[0], want[y * 4 + x]);
        }
    }
    // AREA enlarges with the same weights.
    CHECK_OK(dfd_image_resize(&dst, &src, DFD_RESIZE_AREA));
    for (int i = 0; i < 16; i++) {
        CHECK_EQ_INT(dfd_image_px(&dst, i % 4, i / 4)[0], want[i]);
    }
    dfd_image_free(&dst);
    dfd_image_free(&src);
}

static void test_bilinear_downscale_samples_between_pixels(void)
{
    dfd_imagef src, dst;
    CHECK_OK(dfd_imagef_alloc(&src, 3, 1, 1));
    src.data[0] = 0.0f;
    src.data[1] = 100.0f;
    src.data[2] = 200.0f;
    // 3 -> 2: samples at 0.25 and 1.75.
    CHECK_OK(dfd_imagef_alloc(&dst, 2, 1, 1));
    CHECK_OK(dfd_imagef_resize(&dst, &src, DFD_RESIZE_BILINEAR));
    CHECK_NEAR(dst.data[0], 25.0, 1e-4);
    CHECK_NEAR(dst.data[1], 175.0, 1e-4);
    dfd_imagef_free(&dst);
    // 3 -> 1: the centre pixel.
    CHECK_OK(dfd_imagef_alloc(&dst, 1, 1, 1));
    CHECK_OK(dfd_imagef_resize(&dst, &src, DFD_RESIZE_BILINEAR));
    CHECK_NEAR(dst.data[0], 100.0, 1e-4);
    dfd_imagef_free(&dst);
    dfd_imagef_free(&src);
}

static void test_bilinear_matches_reference_for_many_sizes(void)
{
    static const int sizes[][4] = { { 13, 7, 5, 3 },    { 5, 3, 13, 7 }, { 16, 16, 9, 31 },
                                    { 1, 1, 4, 5 },     { 40, 2, 7, 1 }, { 64, 48, 64, 48 },
                                    { 100, 60, 33, 17 } };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        dfd_image src, dst;
        CHECK_OK(dfd_image_alloc(&src, sizes[k][0], sizes[k][1], 3));
        fill_pattern(&src, (unsigned)k);
        CHECK_OK(dfd_image_alloc(&dst, sizes[k][2], sizes[k][3], 3));
        CHECK_OK(dfd_image_resize(&dst, &src, DFD_RESIZE_BILINEAR));
        int worst = 0;
        for (int y = 0; y < dst.h; y++) {
            for (int x = 0; x < dst.w; x++) {
                for (int ch = 0; ch < 3; ch++) {
                    double r = ref_bilinear(&src, dst.w, dst.h, x, y, ch);
                    int d = abs((int)dfd_image_px(&dst, x, y)[ch] - (int)lround(r));
                    worst = d > worst ? d : worst;
                }
            }
        }
        // Exact but for a value within float error of .5 landing on the other side.
        CHECK(worst <= 1);
        dfd_image_free(&dst);
        dfd_image_free(&src);
    }
}

// ---- area ----

static void test_area_downsample_by_two_equals_the_2x2_means(void)
{
    dfd_image src, dst;
    CHECK_OK(dfd_image_alloc(&src, 10, 6, 3));
    fill_pattern(&src, 7);
    CHECK_OK(dfd_image_alloc(&dst, 5, 3, 3));
    CHECK_OK(dfd_image_resize(&dst, &src, DFD_RESIZE_AREA));
    for (int y = 0; y < 3; y++) {
        for (int x = 0; x < 5; x++) {
            for (int ch = 0; ch < 3; ch++) {
                int sum = dfd_image_px(&src, 2 * x, 2 * y)[ch] +
                          dfd_image_px(&src, 2 * x + 1, 2 * y)[ch] +
                          dfd_image_px(&src, 2 * x, 2 * y + 1)[ch] +
                          dfd_image_px(&src, 2 * x + 1, 2 * y + 1)[ch];
                CHECK_EQ_INT(dfd_image_px(&dst, x, y)[ch], (sum + 2) / 4); // round half up
            }
        }
    }
    dfd_image_free(&dst);
    dfd_image_free(&src);
}

static void test_area_five_to_three_weights_fractional_coverage(void)
{
    // Output i covers source [5i/3, 5(i+1)/3): weights (.6 .4), (.2 .6 .2), (.4 .6).
    dfd_imagef src, dst;
    CHECK_OK(dfd_imagef_alloc(&src, 5, 1, 1));
    static const float row[5] = { 10, 20, 30, 40, 100 };
    memcpy(src.data, row, sizeof row);
    CHECK_OK(dfd_imagef_alloc(&dst, 3, 1, 1));
    CHECK_OK(dfd_imagef_resize(&dst, &src, DFD_RESIZE_AREA));
    CHECK_NEAR(dst.data[0], 0.6 * 10 + 0.4 * 20, 1e-4);
    CHECK_NEAR(dst.data[1], 0.2 * 20 + 0.6 * 30 + 0.2 * 40, 1e-4);
    CHECK_NEAR(dst.data[2], 0.4 * 40 + 0.6 * 100, 1e-4);
    dfd_imagef_free(&dst);
    dfd_imagef_free(&src);
}

static void test_area_preserves_total_mass_for_fractional_factors(void)
{
    static const int sizes[][4] = { { 5, 5, 3, 3 },   { 7, 13, 3, 4 },     { 100, 37, 9, 10 },
                                    { 31, 31, 1, 1 }, { 1920, 8, 256, 3 }, { 9, 9, 9, 2 } };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        dfd_image src8;
        dfd_imagef src, dst;
        CHECK_OK(dfd_image_alloc(&src8, sizes[k][0], sizes[k][1], 1));
        fill_pattern(&src8, (unsigned)k);
        CHECK_OK(dfd_imagef_alloc(&src, src8.w, src8.h, 1));
        double mass_src = 0.0;
        for (int y = 0; y < src.h; y++) {
            for (int x = 0; x < src.w; x++) {
                float v = (float)dfd_image_px(&src8, x, y)[0];
                src.data[(size_t)y * src.stride + (size_t)x] = v;
                mass_src += (double)v;
            }
        }
        CHECK_OK(dfd_imagef_alloc(&dst, sizes[k][2], sizes[k][3], 1));
        CHECK_OK(dfd_imagef_resize(&dst, &src, DFD_RESIZE_AREA));
        double mass_dst = 0.0;
        for (int y = 0; y < dst.h; y++) {
            for (int x = 0; x < dst.w; x++) {
                mass_dst += (double)dst.data[(size_t)y * dst.stride + (size_t)x];
            }
        }
        double ratio = (double)src.w * src.h / ((double)dst.w * dst.h);
        CHECK_NEAR(mass_dst * ratio, mass_src, 1e-5 * mass_src);
        // And the 8-bit path agrees with the reference mean of every output pixel.
        dfd_image dst8;
        CHECK_OK(dfd_image_alloc(&dst8, dst.w, dst.h, 1));
        CHECK_OK(dfd_image_resize(&dst8, &src8, DFD_RESIZE_AREA));
        int worst = 0;
        for (int y = 0; y < dst8.h; y++) {
            for (int x = 0; x < dst8.w; x++) {
                double r = ref_area(&src8, dst8.w, dst8.h, x, y, 0);
                int d = abs((int)dfd_image_px(&dst8, x, y)[0] - (int)lround(r));
                worst = d > worst ? d : worst;
            }
        }
        CHECK(worst <= 1);
        dfd_image_free(&dst8);
        dfd_imagef_free(&dst);
        dfd_imagef_free(&src);
        dfd_image_free(&src8);
    }
}

// The letterbox of a 1080p frame (the detector's first pass on every sampled frame) takes the
// columns-first path: it must still be the exact area mean, in every channel.
static void test_area_letterbox_of_a_1080p_frame_matches_the_reference(void)
{
    dfd_image src, dst;
    CHECK_OK(dfd_image_alloc(&src, 1920, 1080, 3));
    fill_pattern(&src, 5);
    CHECK_OK(dfd_image_alloc(&dst, 256, 144, 3));
    CHECK_OK(dfd_image_resize(&dst, &src, DFD_RESIZE_AREA));
    int worst = 0;
    for (int y = 0; y < dst.h; y += 3) {
        for (int x = 0; x < dst.w; x++) {
            for (int ch = 0; ch < 3; ch++) {
                double r = ref_area(&src, dst.w, dst.h, x, y, ch);
                int d = abs((int)dfd_image_px(&dst, x, y)[ch] - (int)lround(r));
                worst = d > worst ? d : worst;
            }
        }
    }
    CHECK(worst <= 1);
    dfd_image_free(&dst);
    dfd_image_free(&src);
}

// ---- both modes ----

static void test_constant_images_stay_constant_under_both_modes(void)
{
    static const int sizes[][4] = {
        { 8, 8, 3, 5 }, { 3, 5, 8, 8 }, { 17, 3, 4, 11 }, { 1, 1, 7, 2 }, { 640, 360, 224, 224 }
    };
    static const uint8_t v[4] = { 0, 255, 77, 128 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int mode = 0; mode < DFD_RESIZE_MODE_COUNT; mode++) {
            for (int c = 1; c <= 4; c += (c == 1 ? 2 : 1)) {
                dfd_image src, dst;
                CHECK_OK(dfd_image_alloc(&src, sizes[k][0], sizes[k][1], c));
                fill_const(&src, v);
                CHECK_OK(dfd_image_alloc(&dst, sizes[k][2], sizes[k][3], c));
                CHECK_OK(dfd_image_resize(&dst, &src, (dfd_resize_mode)mode));
                dfd_image want;
                CHECK_OK(dfd_image_alloc(&want, dst.w, dst.h, c));
                fill_const(&want, v);
                CHECK(images_equal(&dst, &want));
                dfd_image_free(&want);
                dfd_image_free(&dst);
                dfd_image_free(&src);
            }
        }
    }
    // Float: within rounding of the weights.
    dfd_imagef fs, fd;
    CHECK_OK(dfd_imagef_alloc(&fs, 13, 7, 3));
    for (int y = 0; y < 7; y++) {
        for (int i = 0; i < 39; i++) {
            fs.data[(size_t)y * fs.stride + (size_t)i] = -3.25f;
        }
    }
    for (int mode = 0; mode < DFD_RESIZE_MODE_COUNT; mode++) {
        CHECK_OK(dfd_imagef_alloc(&fd, 5, 11, 3));
        CHECK_OK(dfd_imagef_resize(&fd, &fs, (dfd_resize_mode)mode));
        for (int y = 0; y < 11; y++) {
            for (int i = 0; i < 15; i++) {
                CHECK_NEAR(fd.data[(size_t)y * fd.stride + (size_t)i], -3.25, 1e-5);
            }
        }
        dfd_imagef_free(&fd);
    }
    dfd_imagef_free(&fs);
}

static void test_same_size_resize_is_an_exact_copy(void)
{
    dfd_image src, dst;
    CHECK_OK(dfd_image_alloc(&src, 23, 11, 4));
    fill_pattern(&src, 9);
    CHECK_OK(dfd_image_alloc(&dst, 23, 11, 4));
    for (int mode = 0; mode < DFD_RESIZE_MODE_COUNT; mode++) {
        CHECK_OK(dfd_image_resize(&dst, &src, (dfd_resize_mode)mode));
        CHECK(images_equal(&dst, &src));
    }
    // A view (stride wider than the row) as the source.
    dfd_image v = dfd_image_view(&src, 3, 2, 10, 5), vd;
    CHECK_OK(dfd_image_alloc(&vd, 10, 5, 4));
    CHECK_OK(dfd_image_resize(&vd, &v, DFD_RESIZE_AREA));
    CHECK(images_equal(&vd, &v));
    dfd_image_free(&vd);
    dfd_image_free(&dst);
    dfd_image_free(&src);
}

static void test_resize_rejects_mismatched_images(void)
{
    dfd_image a, b, empty = { 0 };
    CHECK_OK(dfd_image_alloc(&a, 4, 4, 3));
    CHECK_OK(dfd_image_alloc(&b, 2, 2, 1));
    CHECK_EQ_INT(dfd_image_resize(&b, &a, DFD_RESIZE_BILINEAR), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_resize(&a, &empty, DFD_RESIZE_AREA), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_resize(&empty, &a, DFD_RESIZE_AREA), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_resize(&a, &a, DFD_RESIZE_MODE_COUNT), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_resize(NULL, &a, DFD_RESIZE_AREA), DFD_ERR_INVALID);
    dfd_image_free(&b);
    dfd_image_free(&a);
}

static void test_resize_out_of_memory_fails_cleanly_at_every_allocation(void)
{
    dfd_image src, dst, want;
    CHECK_OK(dfd_image_alloc(&src, 50, 40, 3));
    fill_pattern(&src, 11);
    CHECK_OK(dfd_image_alloc(&dst, 17, 9, 3));
    CHECK_OK(dfd_image_alloc(&want, 17, 9, 3));
    CHECK_OK(dfd_image_resize(&want, &src, DFD_RESIZE_AREA));
    const size_t before = dfd_alloc_bytes_in_use();
    int n_nomem = 0;
    bool ok = false;
    for (long k = 0; k < 100 && !ok; k++) {
        dfd_alloc_fail_after(k);
        dfd_status st = dfd_image_resize(&dst, &src, DFD_RESIZE_AREA);
        dfd_alloc_fail_after(-1);
        CHECK(st == DFD_OK || st == DFD_ERR_NOMEM);
        CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
        n_nomem += st == DFD_ERR_NOMEM;
        ok = st == DFD_OK;
    }
    CHECK(ok);
    CHECK(n_nomem >= 5); // two tables of three arrays each, plus scratch rows
    CHECK(images_equal(&dst, &want));
    dfd_image_free(&want);
    dfd_image_free(&dst);
    dfd_image_free(&src);
}

DFD_TEST_MAIN({ "bilinear_upscale_matches_hand_computed_values",
                test_bilinear_upscale_matches_hand_computed_values },
              { "bilinear_downscale_samples_between_pixels",
                test_bilinear_downscale_samples_between_pixels },
              { "bilinear_matches_reference_for_many_sizes",
                test_bilinear_matches_reference_for_many_sizes },
              { "area_downsample_by_two_equals_the_2x2_means",
                test_area_downsample_by_two_equals_the_2x2_means },
              { "area_five_to_three_weights_fractional_coverage",
                test_area_five_to_three_weights_fractional_coverage },
              { "area_preserves_total_mass_for_fractional_factors",
                test_area_preserves_total_mass_for_fractional_factors },
              { "area_letterbox_of_a_1080p_frame_matches_the_reference",
                test_area_letterbox_of_a_1080p_frame_matches_the_reference },
              { "constant_images_stay_constant_under_both_modes",
                test_constant_images_stay_constant_under_both_modes },
              { "same_size_resize_is_an_exact_copy", test_same_size_resize_is_an_exact_copy },
              { "resize_rejects_mismatched_images", test_resize_rejects_mismatched_images },
              { "resize_out_of_memory_fails_cleanly_at_every_allocation",
                test_resize_out_of_memory_fails_cleanly_at_every_allocation })
