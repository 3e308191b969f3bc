// Affine warp: exact cases (identity, integer shifts, quarter turns, plain crops), the constant
// border, agreement with a double-precision reference written from the definition in warp.h,
// the crop matrix's angle sign, and the matrix helpers.
#include <math.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/image/warp.h"
#include "dfdetect/util/alloc.h"
#include "image/image_test_util.h"
#include "test.h"

static const double identity[6] = { 1, 0, 0, 0, 1, 0 };

// ---- reference (direct from warp.h, in double) ----

// Source sample k of pixel (i, j), or fill outside.
static double ref_px(const dfd_image *s, int i, int j, int k, const uint8_t *fill)
{
    if (i < 0 || j < 0 || i >= s->w || j >= s->h) {
        return fill[k];
    }
    return dfd_image_px(s, i, j)[k];
}

// Destination pixel (x, y), channel k: bilinear at m(x + .5, y + .5) with pixel centres at +.5.
static double ref_warp(const dfd_image *s, const double m[6], int x, int y, int k,
                       const uint8_t *fill)
{
    double sx = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2] - 0.5;
    double sy = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5] - 0.5;
    int x0 = (int)floor(sx), y0 = (int)floor(sy);
    double fx = sx - x0, fy = sy - y0;
    return (1 - fy) *
               ((1 - fx) * ref_px(s, x0, y0, k, fill) + fx * ref_px(s, x0 + 1, y0, k, fill)) +
           fy * ((1 - fx) * ref_px(s, x0, y0 + 1, k, fill) +
                 fx * ref_px(s, x0 + 1, y0 + 1, k, fill));
}

// ---- exact cases ----

static void test_identity_reproduces_the_image_exactly(void)
{
    static const int channels[3] = { 1, 3, 4 };
    for (int t = 0; t < 3; t++) {
        dfd_image src, dst;
        CHECK_OK(dfd_image_alloc(&src, 37, 23, channels[t]));
        fill_pattern(&src, 7u + (unsigned)t);
        CHECK_OK(dfd_image_alloc(&dst, 37, 23, channels[t]));
        CHECK_OK(dfd_image_warp_affine(&dst, &src, identity, NULL));
        CHECK(images_equal(&dst, &src));
        dfd_image_free(&src);
        dfd_image_free(&dst);
    }
}

static void test_integer_translation_shifts_pixels_exactly(void)
{
    dfd_image src, dst;
    CHECK_OK(dfd_image_alloc(&src, 20, 15, 3));
    fill_pattern(&src, 3);
    CHECK_OK(dfd_image_alloc(&dst, 20, 15, 3));
    const uint8_t fill[4] = { 9, 99, 199, 0 };
    // dst(x, y) = src(x + 3, y - 2)
    const double m[6] = { 1, 0, 3, 0, 1, -2 };
    CHECK_OK(dfd_image_warp_affine(&dst, &src, m, fill));
    int bad = 0;
    for (int y = 0; y < 15; y++) {
        for (int x = 0; x < 20; x++) {
            int sx = x + 3, sy = y - 2;
            const uint8_t *want =
                sx < 20 && sy >= 0 ? dfd_image_px(&src, sx, sy) : (const uint8_t *)fill;
            bad += memcmp(dfd_image_px(&dst, x, y), want, 3) != 0;
        }
    }
    CHECK_EQ_INT(bad, 0);
    dfd_image_free(&src);
    dfd_image_free(&dst);
}

static void test_quarter_turns_match_dfd_image_rotate(void)
{
    // An asymmetric 7x5 image; each turn's matrix maps destination centres to source centres:
    //   90 cw : dst(X, Y) <- src(Y, H - X)      180: src(W - X, H - Y)      270 cw: src(W - Y, X)
    dfd_image src;
    CHECK_OK(dfd_image_alloc(&src, 7, 5, 3));
    fill_pattern(&src, 11);
    const double W = 7, H = 5;
    const struct {
        int deg;
        double m[6];
    } turns[3] = {
        { 90, { 0, 1, 0, -1, 0, H } },
        { 180, { -1, 0, W, 0, -1, H } },
        { 270, { 0, -1, W, 1, 0, 0 } },
    };
    for (int t = 0; t < 3; t++) {
        dfd_image want, got;
        CHECK_OK(dfd_image_rotate(&want, &src, turns[t].deg));
        CHECK_OK(dfd_image_alloc(&got, want.w, want.h, 3));
        CHECK_OK(dfd_image_warp_affine(&got, &src, turns[t].m, NULL));
        CHECK(images_equal(&got, &want));
        dfd_image_free(&want);
        dfd_image_free(&got);
    }
    dfd_image_free(&src);
}

static void test_crop_matrix_at_angle_zero_equals_a_plain_crop(void)
{
    dfd_image src;
    CHECK_OK(dfd_image_alloc(&src, 64, 48, 3));
    fill_pattern(&src, 5);
    const uint8_t fill[4] = { 10, 20, 30, 0 };
    // Inside, and reaching past the top-left and the bottom-right corners.
    const int boxes[3][3] = { { 10, 7, 24 }, { -5, -9, 20 }, { 50, 30, 25 } };
    for (int b = 0; b < 3; b++) {
        int x = boxes[b][0], y = boxes[b][1], s = boxes[b][2];
        dfd_image want, got;
        CHECK_OK(dfd_image_crop(&want, &src, x, y, s, s, fill));
        CHECK_OK(dfd_image_alloc(&got, s, s, 3));
        double m[6];
        dfd_affine_crop(m, x + s / 2.0, y + s / 2.0, s, 0.0, s, s);
        CHECK_OK(dfd_image_warp_affine(&got, &src, m, fill));
        CHECK(images_equal(&got, &want));
        dfd_image_free(&want);
        dfd_image_free(&got);
    }
    dfd_image_free(&src);
}

static void test_scaling_a_constant_image_keeps_it_constant(void)
{
    const uint8_t v[4] = { 17, 128, 250, 77 };
    dfd_image src, dst;
    CHECK_OK(dfd_image_alloc(&src, 31, 19, 4));
    fill_const(&src, v);
    // Up, down and anisotropic scales about the centre, with a rotation; fill = the constant.
    const double scales[4][2] = { { 0.37, 0.37 }, { 3.1, 3.1 }, { 0.5, 2.0 }, { 1.7, 0.9 } };
    for (int t = 0; t < 4; t++) {
        CHECK_OK(dfd_image_alloc(&dst, 29, 41, 4));
        double m[6];
        dfd_affine_crop(m, 15.5, 9.5, 20.0 * scales[t][0], 0.3 * t, 29, 41);
        m[1] *= scales[t][1] / scales[t][0];
        m[4] *= scales[t][1] / scales[t][0];
        CHECK_OK(dfd_image_warp_affine(&dst, &src, m, v));
        dfd_image want;
        CHECK_OK(dfd_image_alloc(&want, 29, 41, 4));
        fill_const(&want, v);
        CHECK(images_equal(&dst, &want));
        dfd_image_free(&want);
        dfd_image_free(&dst);
    }
    // Without fill, a map that stays inside the centres still gives the constant.
    CHECK_OK(dfd_image_alloc(&dst, 100, 60, 4));
    double m[6];
    dfd_affine_crop(m, 15.5, 9.5, 18.0, 0.0, 100, 60); // covers [6.5, 24.5] x [0.5, 18.5]
    CHECK_OK(dfd_image_warp_affine(&dst, &src, m, NULL));
    dfd_image want;
    CHECK_OK(dfd_image_alloc(&want, 100, 60, 4));
    fill_const(&want, v);
    CHECK(images_equal(&dst, &want));
    dfd_image_free(&want);
    dfd_image_free(&dst);
    dfd_image_free(&src);
}

// ---- border and interpolation ----

static void test_samples_past_the_edge_blend_with_the_fill(void)
{
    // A 4x3 grey image of 200 shifted half a pixel right into a 5-pixel-wide output: the first
    // and last columns sample half a pixel past the edge (even blend with fill 0 -> 100); the
    // row below the image samples a whole pixel past it (exactly fill).
    dfd_image src, dst;
    CHECK_OK(dfd_image_alloc(&src, 4, 3, 1));
    const uint8_t g[4] = { 200, 0, 0, 0 };
    fill_const(&src, g);
    CHECK_OK(dfd_image_alloc(&dst, 5, 4, 1));
    const double m[6] = { 1, 0, -0.5, 0, 1, 0 };
    CHECK_OK(dfd_image_warp_affine(&dst, &src, m, NULL));
    static const int want_row[5] = { 100, 200, 200, 200, 100 };
    for (int x = 0; x < 5; x++) {
        for (int y = 0; y < 3; y++) {
            CHECK_EQ_INT(dfd_image_px(&dst, x, y)[0], want_row[x]);
        }
        CHECK_EQ_INT(dfd_image_px(&dst, x, 3)[0], 0);
    }
    // The same with fill 100: the blends become 150, the row below 100.
    const uint8_t f[4] = { 100, 0, 0, 0 };
    CHECK_OK(dfd_image_warp_affine(&dst, &src, m, f));
    CHECK_EQ_INT(dfd_image_px(&dst, 0, 1)[0], 150);
    CHECK_EQ_INT(dfd_image_px(&dst, 4, 1)[0], 150);
    CHECK_EQ_INT(dfd_image_px(&dst, 2, 3)[0], 100);
    // A quarter pixel past a corner: weight (3/4)^2 on the corner pixel -> 112.5 -> 113 (fill 0).
    const double q[6] = { 1, 0, -0.25, 0, 1, -0.25 };
    CHECK_OK(dfd_image_warp_affine(&dst, &src, q, NULL));
    CHECK_EQ_INT(dfd_image_px(&dst, 0, 0)[0], 113);
    dfd_image_free(&src);
    dfd_image_free(&dst);
}

static void test_random_maps_match_the_double_reference(void)
{
    // Rotations, scales and shears, partly outside the source, on all channel counts: the fixed
    // point path stays within one level of the exact bilinear value.
    static const int channels[3] = { 1, 3, 4 };
    const uint8_t fill[4] = { 30, 140, 250, 60 };
    unsigned rng = 12345u;
    int worst = 0;
    for (int t = 0; t < 24; t++) {
        const int c = channels[t % 3];
        dfd_image src, dst;
        CHECK_OK(dfd_image_alloc(&src, 23 + t, 17 + 2 * t, c));
        fill_pattern(&src, (unsigned)t);
        CHECK_OK(dfd_image_alloc(&dst, 19 + 3 * t, 13 + t, c));
        double m[6];
        for (int k = 0; k < 6; k++) {
            rng = rng * 1664525u + 1013904223u;
            double r = (double)(rng >> 8) / (double)(1u << 24) - 0.5; // [-0.5, 0.5)
            m[k] = k == 2 || k == 5 ? 20.0 * r + 8.0 : (k == 0 || k == 4 ? 1.0 : 0.0) + 1.5 * r;
        }
        CHECK_OK(dfd_image_warp_affine(&dst, &src, m, fill));
        for (int y = 0; y < dst.h; y++) {
            for (int x = 0; x < dst.w; x++) {
                for (int k = 0; k < c; k++) {
                    double want = ref_warp(&src, m, x, y, k, fill);
                    int d = abs((int)dfd_image_px(&dst, x, y)[k] - (int)lround(want));
                    worst = d > worst ? d : worst;
                }
            }
        }
        dfd_image_free(&src);
        dfd_image_free(&dst);
    }
    CHECK(worst <= 1);
}

// ---- crop matrix and helpers ----

static void test_positive_angle_makes_a_rising_line_horizontal(void)
{
    // A 3-pixel-wide bright line through (100, 80) rising to the right at 30 degrees on screen
    // (direction (cos a, -sin a), y down). Cropped with angle a, it must run along the middle
    // row of the output; cropped with -a it would be steep (60 degrees).
    const double a = 30.0 * 3.14159265358979323846 / 180.0, cx = 100.0, cy = 80.0;
    dfd_image src, dst;
    CHECK_OK(dfd_image_alloc(&src, 200, 160, 1));
    for (int y = 0; y < 160; y++) {
        for (int x = 0; x < 200; x++) {
            // Distance of the pixel centre from the line: |cross(p - c, dir)|.
            double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
            double dist = fabs(dx * -sin(a) - dy * cos(a));
            dfd_image_px(&src, x, y)[0] = dist <= 1.5 ? 255 : 0;
        }
    }
    CHECK_OK(dfd_image_alloc(&dst, 81, 81, 1));
    double m[6];
    dfd_affine_crop(m, cx, cy, 81.0, a, 81, 81);
    CHECK_OK(dfd_image_warp_affine(&dst, &src, m, NULL));
    // Output row 40 holds the line's centre (its centre y = 40.5 = 81 / 2).
    int on_line = 0, off_line = 0;
    for (int x = 0; x < 81; x++) {
        on_line += dfd_image_px(&dst, x, 40)[0] > 200;
        for (int y = 0; y < 81; y++) {
            off_line += abs(y - 40) >= 3 && dfd_image_px(&dst, x, y)[0] > 0;
        }
    }
    CHECK_EQ_INT(on_line, 81);
    CHECK_EQ_INT(off_line, 0);
    // The opposite sign does not level it.
    dfd_affine_crop(m, cx, cy, 81.0, -a, 81, 81);
    CHECK_OK(dfd_image_warp_affine(&dst, &src, m, NULL));
    on_line = 0;
    for (int x = 0; x < 81; x++) {
        on_line += dfd_image_px(&dst, x, 40)[0] > 200;
    }
    CHECK(on_line < 10);
    // Eye landmarks on that line come out level.
    double lx = cx - 30 * cos(a), ly = cy + 30 * sin(a), rx = cx + 30 * cos(a),
           ry = cy - 30 * sin(a);
    double ang = atan2(ly - ry, rx - lx), inv[6], olx, oly, orx, ory;
    CHECK_NEAR(ang, a, 1e-12);
    dfd_affine_crop(m, cx, cy, 81.0, ang, 81, 81);
    REQUIRE(dfd_affine_invert(inv, m));
    dfd_affine_apply(inv, lx, ly, &olx, &oly);
    dfd_affine_apply(inv, rx, ry, &orx, &ory);
    CHECK_NEAR(oly, 40.5, 1e-9);
    CHECK_NEAR(ory, 40.5, 1e-9);
    CHECK(olx < orx);
    dfd_image_free(&src);
    dfd_image_free(&dst);
}

static void test_crop_matrix_maps_centre_and_scale(void)
{
    double m[6], x, y;
    dfd_affine_crop(m, 300.25, 170.5, 150.0, 0.7, 224, 112);
    dfd_affine_apply(m, 112.0, 56.0, &x, &y); // output centre -> crop centre
    CHECK_NEAR(x, 300.25, 1e-9);
    CHECK_NEAR(y, 170.5, 1e-9);
    // The output's full width and height each span `size` source pixels.
    double x0, y0, x1, y1;
    dfd_affine_apply(m, 0.0, 0.0, &x0, &y0);
    dfd_affine_apply(m, 224.0, 0.0, &x1, &y1);
    CHECK_NEAR(hypot(x1 - x0, y1 - y0), 150.0, 1e-9);
    dfd_affine_apply(m, 0.0, 112.0, &x1, &y1);
    CHECK_NEAR(hypot(x1 - x0, y1 - y0), 150.0, 1e-9);
}

static void test_apply_then_inverse_returns_every_point(void)
{
    double m[6], inv[6];
    dfd_affine_crop(m, 960.3, 540.7, 333.3, -1.1, 224, 224);
    m[1] += 0.2; // a shear too
    REQUIRE(dfd_affine_invert(inv, m));
    const double pts[4][2] = { { 0, 0 }, { 1919.5, 1079.5 }, { -40.25, 7.125 }, { 112, 3e3 } };
    for (int i = 0; i < 4; i++) {
        double x, y, bx, by;
        dfd_affine_apply(m, pts[i][0], pts[i][1], &x, &y);
        dfd_affine_apply(inv, x, y, &bx, &by);
        CHECK_NEAR(bx, pts[i][0], 1e-9);
        CHECK_NEAR(by, pts[i][1], 1e-9);
        dfd_affine_apply(inv, pts[i][0], pts[i][1], &x, &y);
        dfd_affine_apply(m, x, y, &bx, &by);
        CHECK_NEAR(bx, pts[i][0], 1e-9);
        CHECK_NEAR(by, pts[i][1], 1e-9);
    }
    // In place.
    double a[6];
    memcpy(a, m, sizeof a);
    REQUIRE(dfd_affine_invert(a, a));
    for (int k = 0; k < 6; k++) {
        CHECK_NEAR(a[k], inv[k], 1e-15 * (1.0 + fabs(inv[k])));
    }
    // Singular maps are refused and leave inv alone.
    const double flat[6] = { 1, 2, 5, 0.5, 1, 7 }, zero[6] = { 0 };
    const double nan_m[6] = { NAN, 0, 0, 0, 1, 0 };
    CHECK(!dfd_affine_invert(a, flat));
    CHECK(!dfd_affine_invert(a, zero));
    CHECK(!dfd_affine_invert(a, nan_m));
    CHECK_NEAR(a[0], inv[0], 1e-15 * (1.0 + fabs(inv[0])));
}

// ---- arguments and views ----

static void test_warp_rejects_mismatched_images_and_bad_matrices(void)
{
    dfd_image src, dst3, dst1;
    CHECK_OK(dfd_image_alloc(&src, 8, 8, 3));
    CHECK_OK(dfd_image_alloc(&dst3, 4, 4, 3));
    CHECK_OK(dfd_image_alloc(&dst1, 4, 4, 1));
    CHECK_EQ_INT(dfd_image_warp_affine(&dst1, &src, identity, NULL), DFD_ERR_INVALID);
    dfd_image empty = { 0 };
    CHECK_EQ_INT(dfd_image_warp_affine(&empty, &src, identity, NULL), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_warp_affine(&dst3, &empty, identity, NULL), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_image_warp_affine(&dst3, &src, NULL, NULL), DFD_ERR_INVALID);
    const double inf_m[6] = { 1, 0, INFINITY, 0, 1, 0 };
    CHECK_EQ_INT(dfd_image_warp_affine(&dst3, &src, inf_m, NULL), DFD_ERR_INVALID);
    // Finite but absurd maps are fine: everything lands in fill.
    const double huge[6] = { 1e308, 1e308, 1e308, -1e308, 0, 0 };
    const uint8_t f[4] = { 1, 2, 3, 4 };
    CHECK_OK(dfd_image_warp_affine(&dst3, &src, huge, f));
    CHECK_EQ_INT(dfd_image_px(&dst3, 3, 3)[2], 3);
    dfd_image_free(&src);
    dfd_image_free(&dst3);
    dfd_image_free(&dst1);
}

static void test_warp_reads_and_writes_views(void)
{
    dfd_image big, out, want;
    CHECK_OK(dfd_image_alloc(&big, 50, 40, 3));
    fill_pattern(&big, 21);
    CHECK_OK(dfd_image_alloc(&out, 30, 30, 3));
    const uint8_t bg[4] = { 1, 2, 3, 0 };
    fill_const(&out, bg);
    // Source: the 20x16 window at (12, 9); destination: the 10x8 window at (5, 6) of `out`.
    dfd_image sv = dfd_image_view(&big, 12, 9, 20, 16);
    dfd_image dv = dfd_image_view(&out, 5, 6, 10, 8);
    const double m[6] = { 1, 0, 3, 0, 1, 4 }; // dst (x, y) <- view (x + 3, y + 4)
    CHECK_OK(dfd_image_warp_affine(&dv, &sv, m, NULL));
    CHECK_OK(dfd_image_crop(&want, &big, 15, 13, 10, 8, NULL));
    dfd_image got = dfd_image_view(&out, 5, 6, 10, 8);
    CHECK(images_equal(&got, &want));
    // Pixels of `out` around the window are untouched.
    int touched = 0;
    for (int y = 0; y < 30; y++) {
        for (int x = 0; x < 30; x++) {
            bool inside = x >= 5 && x < 15 && y >= 6 && y < 14;
            touched += !inside && memcmp(dfd_image_px(&out, x, y), bg, 3) != 0;
        }
    }
    CHECK_EQ_INT(touched, 0);
    // A view samples fill beyond its own edge, not its parent's neighbouring pixels.
    const double past[6] = { 1, 0, 15, 0, 1, 0 }; // columns 15.. of a 20-wide view: 5 inside
    CHECK_OK(dfd_image_warp_affine(&dv, &sv, past, bg));
    CHECK(memcmp(dfd_image_px(&dv, 4, 0), dfd_image_px(&big, 12 + 19, 9), 3) == 0);
    CHECK(memcmp(dfd_image_px(&dv, 5, 0), bg, 3) == 0);
    dfd_image_free(&big);
    dfd_image_free(&out);
    dfd_image_free(&want);
}

DFD_TEST_MAIN(
    { "identity_reproduces_the_image_exactly", test_identity_reproduces_the_image_exactly },
    { "integer_translation_shifts_pixels_exactly", test_integer_translation_shifts_pixels_exactly },
    { "quarter_turns_match_dfd_image_rotate", test_quarter_turns_match_dfd_image_rotate },
    { "crop_matrix_at_angle_zero_equals_a_plain_crop",
      test_crop_matrix_at_angle_zero_equals_a_plain_crop },
    { "scaling_a_constant_image_keeps_it_constant",
      test_scaling_a_constant_image_keeps_it_constant },
    { "samples_past_the_edge_blend_with_the_fill", test_samples_past_the_edge_blend_with_the_fill },
    { "random_maps_match_the_double_reference", test_random_maps_match_the_double_reference },
    { "positive_angle_makes_a_rising_line_horizontal",
      test_positive_angle_makes_a_rising_line_horizontal },
    { "crop_matrix_maps_centre_and_scale", test_crop_matrix_maps_centre_and_scale },
    { "apply_then_inverse_returns_every_point", test_apply_then_inverse_returns_every_point },
    { "warp_rejects_mismatched_images_and_bad_matrices",
      test_warp_rejects_mismatched_images_and_bad_matrices },
    { "warp_reads_and_writes_views", test_warp_reads_and_writes_views })
