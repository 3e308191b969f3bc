// Anti-aliased masks, blending and vertical text (image/paint.h): coverage values at pixel
// centres, areas against geometry, compositing arithmetic, text turned 90 degrees against a
// rotated copy of upright text, and clipping of shapes far outside the image.
#include <math.h>
#include <stdint.h>

#include "dfdetect/image/draw.h"
#include "dfdetect/image/image.h"
#include "dfdetect/image/paint.h"
#include "image/image_test_util.h"
#include "test.h"

#define PI 3.14159265358979323846

static long mask_sum(const dfd_image *m)
{
    long s = 0;
    for (int y = 0; y < m->h; y++) {
        for (int x = 0; x < m->w; x++) {
            s += *dfd_image_px(m, x, y);
        }
    }
    return s;
}

static void test_segment_covers_the_pixel_centres_it_passes(void)
{
    dfd_image m;
    CHECK_OK(dfd_image_alloc(&m, 40, 20, 1));
    // Horizontal, width 1: row 5 from x = 3 to 30 full; rows 4 and 6 empty (distance 1 > 1).
    dfd_mask_segment(&m, 3, 5, 30, 5, 1.0);
    for (int x = 3; x <= 30; x++) {
        CHECK_EQ_INT(*dfd_image_px(&m, x, 5), 255);
        CHECK_EQ_INT(*dfd_image_px(&m, x, 4), 0);
        CHECK_EQ_INT(*dfd_image_px(&m, x, 6), 0);
    }
    // Round caps: half a pixel past the ends, coverage 0 at distance 1.
    CHECK_EQ_INT(*dfd_image_px(&m, 2, 5), 0);
    CHECK_EQ_INT(*dfd_image_px(&m, 31, 5), 0);
    // Width 2: the neighbouring rows are at distance 1, coverage 2/2 + 0.5 - 1 = 0.5.
    dfd_mask_segment(&m, 3, 12, 30, 12, 2.0);
    CHECK_EQ_INT(*dfd_image_px(&m, 10, 12), 255);
    CHECK_EQ_INT(*dfd_image_px(&m, 10, 11), 128);
    CHECK_EQ_INT(*dfd_image_px(&m, 10, 13), 128);
    // The diagonal of a square passes through the centres of its corner pixels.
    dfd_image d;
    CHECK_OK(dfd_image_alloc(&d, 20, 20, 1));
    dfd_mask_segment(&d, 0, 19, 19, 0, 1.5);
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_INT(*dfd_image_px(&d, i, 19 - i), 255);
    }
    dfd_image_free(&d);
    dfd_image_free(&m);
}

static void test_coverage_keeps_the_maximum_not_the_sum(void)
{
    dfd_image m;
    CHECK_OK(dfd_image_alloc(&m, 30, 30, 1));
    dfd_mask_segment(&m, 5, 15, 15, 15, 2.0);
    long once = mask_sum(&m);
    dfd_mask_segment(&m, 5, 15, 15, 15, 2.0); // the same again: nothing changes
    CHECK_EQ_INT(mask_sum(&m), once);
    dfd_image_free(&m);
}

static void test_disc_and_polygon_areas_match_geometry(void)
{
    dfd_image m;
    CHECK_OK(dfd_image_alloc(&m, 64, 64, 1));
    dfd_mask_disc(&m, 31.3, 30.8, 10.0);
    double area = mask_sum(&m) / 255.0;
    CHECK_NEAR(area, PI * 10.0 * 10.0, 0.01 * PI * 100.0);
    CHECK_EQ_INT(*dfd_image_px(&m, 31, 31), 255);
    CHECK_EQ_INT(*dfd_image_px(&m, 31, 45), 0);
    memset(m.data, 0, m.stride * (size_t)m.h);
    // A right triangle with legs 20 and 30 (pixel-centre coordinates): area 300.
    double xs[3] = { 10.5, 30.5, 10.5 }, ys[3] = { 10.5, 10.5, 40.5 };
    dfd_mask_polygon(&m, xs, ys, 3);
    CHECK_NEAR(mask_sum(&m) / 255.0, 300.0, 6.0);
    CHECK_EQ_INT(*dfd_image_px(&m, 13, 13), 255);
    CHECK_EQ_INT(*dfd_image_px(&m, 29, 38), 0);
    dfd_image_free(&m);
}

static void test_composite_blends_by_coverage_and_clears_the_mask(void)
{
    dfd_image img, m;
    CHECK_OK(dfd_image_alloc(&img, 4, 1, 3));
    CHECK_OK(dfd_image_alloc(&m, 4, 1, 1));
    const uint8_t white[4] = { 255, 255, 255, 255 }, red[3] = { 200, 0, 0 };
    fill_const(&img, white);
    m.data[0] = 255;
    m.data[1] = 128;
    m.data[2] = 0;
    m.data[3] = 51;
    dfd_mask_composite(&img, &m, red, 0.5);
    // 255 + (200 - 255) * 0.5 * cov: cov 1 -> 227.5 -> 228; green 255 - 255 * 0.5 * cov.
    CHECK_EQ_INT(dfd_image_px(&img, 0, 0)[0], 228);
    CHECK_EQ_INT(dfd_image_px(&img, 0, 0)[1], 128);
    CHECK_EQ_INT(dfd_image_px(&img, 1, 0)[1], (int)lround(255.0 - 255.0 * 0.5 * 128.0 / 255.0));
    CHECK_EQ_INT(dfd_image_px(&img, 2, 0)[1], 255);
    CHECK_EQ_INT(dfd_image_px(&img, 3, 0)[1], (int)lround(255.0 - 255.0 * 0.5 * 0.2));
    CHECK_EQ_INT(mask_sum(&m), 0);
    // blend_rect: same arithmetic without a mask, clipped.
    fill_const(&img, white);
    dfd_draw_blend_rect(&img, -5, 0, 7, 9, red, 0.5);
    CHECK_EQ_INT(dfd_image_px(&img, 1, 0)[1], 128);
    CHECK_EQ_INT(dfd_image_px(&img, 2, 0)[1], 255);
    dfd_image_free(&img);
    dfd_image_free(&m);
}

static void test_text_up_is_upright_text_turned_counter_clockwise(void)
{
    const char *text = "Loss (BCE) gy";
    const uint8_t black[4] = { 0, 0, 0, 255 }, white[4] = { 255, 255, 255, 255 };
    const int s = 2, tw = dfd_draw_text_width(text, s), th = DFD_FONT_CELL_H * s;
    dfd_image up, turned, want;
    CHECK_OK(dfd_image_alloc(&up, tw, th, 3));
    fill_const(&up, white);
    dfd_draw_text(&up, 0, 0, text, s, black);
    CHECK_OK(dfd_image_rotate(&want, &up, 270)); // 270 clockwise = 90 counter-clockwise
    CHECK_OK(dfd_image_alloc(&turned, th, tw, 3));
    fill_const(&turned, white);
    dfd_draw_text_up(&turned, 0, tw - 1, text, s, black);
    CHECK(images_equal(&turned, &want));
    dfd_image_free(&up);
    dfd_image_free(&turned);
    dfd_image_free(&want);
}

static void test_shapes_far_outside_draw_nothing_outside_the_view(void)
{
    // Draw into a view in the middle of a parent; the parent's border must stay untouched.
    dfd_image parent;
    CHECK_OK(dfd_image_alloc(&parent, 50, 50, 1));
    dfd_image v = dfd_image_view(&parent, 10, 10, 30, 30);
    dfd_mask_segment(&v, -1e300, -1e300, 1e300, 1e300, 3.0); // the diagonal, clipped
    dfd_mask_segment(&v, -1e9, 5, -1e8, 5, 2.0);             // wholly outside
    dfd_mask_segment(&v, (double)NAN, 5, 10, 5, 2.0);        // not finite: nothing
    dfd_mask_disc(&v, 1e200, 0, 1e199);
    double xs[3] = { -1e12, 1e12, 0 }, ys[3] = { -1e12, -1e12, 1e12 };
    dfd_mask_polygon(&v, xs, ys, 3); // covers the whole view
    const uint8_t white[3] = { 255, 255, 255 };
    dfd_draw_text_up(&v, -5, 40, "clipped text", 3, white);
    dfd_draw_text_up(&v, 0, 1000000, "far below", 1, white);
    dfd_draw_text_up(&v, 2147483000, 20, "far right", 2, white);
    dfd_draw_blend_rect(&v, -1000, -1000, 3000, 3000, white, 1.0);
    for (int y = 0; y < 50; y++) {
        for (int x = 0; x < 50; x++) {
            bool inside = x >= 10 && x < 40 && y >= 10 && y < 40;
            if (!inside) {
                CHECK(*dfd_image_px(&parent, x, y) == 0);
            }
        }
    }
    CHECK(*dfd_image_px(&parent, 25, 25) != 0);
    dfd_image_free(&parent);
}

DFD_TEST_MAIN({ "segment_covers_the_pixel_centres_it_passes",
                test_segment_covers_the_pixel_centres_it_passes },
              { "coverage_keeps_the_maximum_not_the_sum",
                test_coverage_keeps_the_maximum_not_the_sum },
              { "disc_and_polygon_areas_match_geometry",
                test_disc_and_polygon_areas_match_geometry },
              { "composite_blends_by_coverage_and_clears_the_mask",
                test_composite_blends_by_coverage_and_clears_the_mask },
              { "text_up_is_upright_text_turned_counter_clockwise",
                test_text_up_is_upright_text_turned_counter_clockwise },
              { "shapes_far_outside_draw_nothing_outside_the_view",
                test_shapes_far_outside_draw_nothing_outside_the_view })
