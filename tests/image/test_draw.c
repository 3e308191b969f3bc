// Drawing: exact pixels of rectangles, outlines and lines, clipping at every edge (checked with a
// canary border around a view), channel handling, blits, and the bitmap font.
#include <limits.h>
#include <stdint.h>

#include "dfdetect/image/draw.h"
#include "dfdetect/image/image.h"
#include "image/image_test_util.h"
#include "test.h"

// Printable ASCII 32..126.
#define N_GLYPHS 95

static const uint8_t white[3] = { 255, 255, 255 };
static const uint8_t red[3] = { 255, 0, 0 };

// Number of pixels whose first channel is non-zero.
static int count_set(const dfd_image *img)
{
    int n = 0;
    for (int y = 0; y < img->h; y++) {
        for (int x = 0; x < img->w; x++) {
            n += dfd_image_px(img, x, y)[0] != 0;
        }
    }
    return n;
}

static bool is_set(const dfd_image *img, int x, int y)
{
    return dfd_image_px(img, x, y)[0] != 0;
}

static void clear(dfd_image *img)
{
    static const uint8_t zero[4] = { 0, 0, 0, 0 };
    fill_const(img, zero);
}

// ---- shapes ----

static void test_fill_rect_paints_exactly_the_rectangle(void)
{
    dfd_image img;
    CHECK_OK(dfd_image_alloc(&img, 10, 8, 3));
    dfd_draw_fill_rect(&img, 2, 3, 4, 2, red);
    for (int y = 0; y < 8; y++) {
        for (int x = 0; x < 10; x++) {
            bool in = x >= 2 && x < 6 && y >= 3 && y < 5;
            const uint8_t *p = dfd_image_px(&img, x, y);
            CHECK(in ? (p[0] == 255 && p[1] == 0 && p[2] == 0) : (p[0] == 0));
        }
    }
    clear(&img);
    dfd_draw_fill_rect(&img, 2, 3, 0, 5, red); // empty
    dfd_draw_fill_rect(&img, 2, 3, 5, -1, red);
    CHECK_EQ_INT(count_set(&img), 0);
    dfd_draw_fill_rect(&img, -5, -5, 100, 100, red); // covers everything
    CHECK_EQ_INT(count_set(&img), 80);
    dfd_image_free(&img);
}

static void test_rect_outline_is_drawn_inside_with_the_given_thickness(void)
{
    dfd_image img;
    CHECK_OK(dfd_image_alloc(&img, 12, 12, 1));
    dfd_draw_rect(&img, 1, 1, 10, 10, 2, white); // covers 1..10, band 2 thick
    for (int y = 0; y < 12; y++) {
        for (int x = 0; x < 12; x++) {
            bool in_box = x >= 1 && x <= 10 && y >= 1 && y <= 10;
            bool in_hole = x >= 3 && x <= 8 && y >= 3 && y <= 8;
            CHECK_EQ_INT(is_set(&img, x, y), in_box && !in_hole);
        }
    }
    clear(&img);
    dfd_draw_rect(&img, 0, 0, 6, 6, 0, white); // thickness < 1 counts as 1
    CHECK_EQ_INT(count_set(&img), 20);
    clear(&img);
    dfd_draw_rect(&img, 0, 0, 6, 4, 2, white); // 2 * thickness >= h: filled
    CHECK_EQ_INT(count_set(&img), 24);
    dfd_image_free(&img);
}

static void test_lines_hit_their_end_points_and_respect_thickness(void)
{
    dfd_image img;
    CHECK_OK(dfd_image_alloc(&img, 20, 10, 1));
    dfd_draw_line(&img, 0, 0, 7, 7, 1, white);
    CHECK_EQ_INT(count_set(&img), 8);
    for (int i = 0; i < 8; i++) {
        CHECK(is_set(&img, i, i));
    }
    clear(&img);
    dfd_draw_line(&img, 9, 3, 2, 5, 1, white); // right to left, shallow: 8 pixels, ends included
    CHECK_EQ_INT(count_set(&img), 8);
    CHECK(is_set(&img, 9, 3) && is_set(&img, 2, 5));
    clear(&img);
    dfd_draw_line(&img, 3, 5, 12, 5, 3, white); // horizontal, 3 thick: rows 4..6, cols 2..13
    CHECK_EQ_INT(count_set(&img), 3 * 12);
    CHECK(is_set(&img, 2, 4) && is_set(&img, 13, 6) && !is_set(&img, 14, 5) && !is_set(&img, 5, 7));
    clear(&img);
    dfd_draw_line(&img, 4, 4, 4, 4, 1, white); // a point
    CHECK_EQ_INT(count_set(&img), 1);
    clear(&img);
    // Far-away end points are clipped, not walked: the visible part is still exact.
    dfd_draw_line(&img, -1000000, 5, 1000000, 5, 1, white);
    CHECK_EQ_INT(count_set(&img), 20);
    for (int x = 0; x < 20; x++) {
        CHECK(is_set(&img, x, 5));
    }
    clear(&img);
    dfd_draw_line(&img, 3, INT_MIN, 3, INT_MAX, 1, white);
    CHECK_EQ_INT(count_set(&img), 10);
    CHECK(is_set(&img, 3, 0) && is_set(&img, 3, 9));
    clear(&img);
    dfd_draw_line(&img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, 1, white); // the main diagonal
    for (int i = 0; i < 10; i++) {
        CHECK(is_set(&img, i, i));
    }
    CHECK(count_set(&img) >= 10 && count_set(&img) <= 12);
    dfd_image_free(&img);
}

static void test_drawing_clips_at_every_edge_without_touching_memory_outside(void)
{
    static const int channels[3] = { 1, 3, 4 };
    for (int k = 0; k < 3; k++) {
        const int c = channels[k];
        dfd_image parent, big;
        CHECK_OK(dfd_image_alloc(&parent, 40, 40, c));
        static const uint8_t canary[4] = { 0xab, 0xab, 0xab, 0xab };
        fill_const(&parent, canary);
        dfd_image v = dfd_image_view(&parent, 10, 10, 20, 20);
        clear(&v);
        CHECK_OK(dfd_image_alloc(&big, 50, 50, 3));
        fill_pattern(&big, 1);
        // Shapes crossing each edge, covering everything, or far away.
        dfd_draw_fill_rect(&v, -5, -5, 10, 10, red);
        dfd_draw_fill_rect(&v, 15, 15, 10, 10, red);
        dfd_draw_fill_rect(&v, -10, 5, 100, 2, red);
        dfd_draw_fill_rect(&v, INT_MAX - 1, INT_MAX - 1, INT_MAX, INT_MAX, red);
        dfd_draw_fill_rect(&v, INT_MIN, INT_MIN, INT_MAX, INT_MAX, red);
        dfd_draw_rect(&v, -3, -3, 26, 26, 4, white);
        dfd_draw_rect(&v, INT_MIN, INT_MIN, INT_MAX, INT_MAX, 7, white);
        dfd_draw_line(&v, -100, -50, 200, 300, 5, white);
        dfd_draw_line(&v, 25, -3, -3, 25, 9, white);
        dfd_draw_line(&v, INT_MIN, INT_MAX, INT_MAX, INT_MIN, 3, white);
        dfd_draw_line(&v, 19, 0, 19, 19, INT_MAX, white);
        dfd_draw_text(&v, -7, -4, "Clip me! gjpqy", 2, white);
        dfd_draw_text(&v, 15, 14, "edge", 3, white);
        dfd_draw_text(&v, INT_MAX - 10, INT_MIN, "far", 64, white);
        (void)dfd_draw_text_fit(&v, -3, 12, "a long label here", 30, 1, white);
        dfd_image_blit(&v, &big, -20, -20);
        dfd_image_blit(&v, &big, 10, 10);
        dfd_image_blit(&v, &big, INT_MIN, INT_MAX);
        // Nothing outside the view changed.
        int touched = 0;
        for (int y = 0; y < 40; y++) {
            for (int x = 0; x < 40; x++) {
                bool inside = x >= 10 && x < 30 && y >= 10 && y < 30;
                if (!inside) {
                    touched += memcmp(dfd_image_px(&parent, x, y), canary, (size_t)c) != 0;
                }
            }
        }
        CHECK_EQ_INT(touched, 0);
        CHECK(count_set(&v) > 0);
        // Drawing on an empty image is a no-op.
        dfd_image empty = { 0 };
        dfd_draw_fill_rect(&empty, 0, 0, 5, 5, red);
        dfd_draw_text(&empty, 0, 0, "x", 1, red);
        dfd_image_blit(&empty, &big, 0, 0);
        dfd_image_free(&big);
        dfd_image_free(&parent);
    }
}

static void test_grey_and_rgba_images_get_luma_and_opaque_alpha(void)
{
    dfd_image g, a;
    CHECK_OK(dfd_image_alloc(&g, 2, 2, 1));
    CHECK_OK(dfd_image_alloc(&a, 2, 2, 4));
    dfd_draw_fill_rect(&g, 0, 0, 2, 2, red);
    dfd_draw_fill_rect(&a, 0, 0, 2, 2, red);
    CHECK_EQ_INT(dfd_image_px(&g, 1, 1)[0], (77 * 255 + 128) >> 8);
    const uint8_t *p = dfd_image_px(&a, 1, 0);
    CHECK(p[0] == 255 && p[1] == 0 && p[2] == 0 && p[3] == 255);
    dfd_image_free(&a);
    dfd_image_free(&g);
}

static void test_blit_copies_clips_and_converts_channels(void)
{
    dfd_image dst, src, grey;
    CHECK_OK(dfd_image_alloc(&dst, 6, 5, 3));
    CHECK_OK(dfd_image_alloc(&src, 3, 3, 3));
    fill_pattern(&src, 2);
    dfd_image_blit(&dst, &src, 4, -1); // only src columns 0..1, rows 1..2 land
    for (int y = 0; y < 5; y++) {
        for (int x = 0; x < 6; x++) {
            bool in = x >= 4 && y <= 1;
            const uint8_t *d = dfd_image_px(&dst, x, y);
            if (in) {
                CHECK(memcmp(d, dfd_image_px(&src, x - 4, y + 1), 3) == 0);
            } else {
                CHECK(d[0] == 0 && d[1] == 0 && d[2] == 0);
            }
        }
    }
    CHECK_OK(dfd_image_alloc(&grey, 2, 1, 1));
    grey.data[0] = 17;
    grey.data[1] = 99;
    dfd_image_blit(&dst, &grey, 0, 4);
    const uint8_t *p = dfd_image_px(&dst, 1, 4);
    CHECK(p[0] == 99 && p[1] == 99 && p[2] == 99);
    dfd_image rgba;
    CHECK_OK(dfd_image_alloc(&rgba, 1, 1, 4));
    dfd_image_blit(&rgba, &src, 0, 0); // RGB onto RGBA: opaque
    CHECK(memcmp(rgba.data, src.data, 3) == 0 && rgba.data[3] == 255);
    dfd_image_blit(&grey, &src, 0, 0); // RGB onto grey: luma
    CHECK_EQ_INT(grey.data[0],
                 (77 * src.data[0] + 150 * src.data[1] + 29 * src.data[2] + 128) >> 8);
    dfd_image_free(&rgba);
    dfd_image_free(&grey);
    dfd_image_free(&src);
    dfd_image_free(&dst);
}

// ---- text ----

static void test_every_printable_glyph_is_non_blank_except_space_and_all_differ(void)
{
    static uint8_t bits[N_GLYPHS][DFD_FONT_CELL_H * DFD_FONT_CELL_W];
    dfd_image cell;
    CHECK_OK(dfd_image_alloc(&cell, DFD_FONT_CELL_W, DFD_FONT_CELL_H, 1));
    for (int ch = 32; ch < 127; ch++) {
        clear(&cell);
        char s[2] = { (char)ch, 0 };
        dfd_draw_text(&cell, 0, 0, s, 1, white);
        int n = count_set(&cell);
        if (ch == ' ') {
            CHECK_EQ_INT(n, 0);
        } else if (n == 0) {
            fprintf(stderr, "    glyph '%c' is blank\n", ch);
            CHECK(n > 0);
        }
        // Ink stays inside the 5 x 9 glyph box: the spacing column and row are blank.
        for (int y = 0; y < DFD_FONT_CELL_H; y++) {
            for (int x = 0; x < DFD_FONT_CELL_W; x++) {
                bool set = is_set(&cell, x, y);
                if (x >= DFD_FONT_GLYPH_W || y >= DFD_FONT_GLYPH_H) {
                    CHECK(!set);
                }
                bits[ch - 32][y * DFD_FONT_CELL_W + x] = set;
            }
        }
    }
    // No two glyphs are the same bitmap (catches copy-paste slips in the font table).
    for (int i = 0; i < N_GLYPHS; i++) {
        for (int j = i + 1; j < N_GLYPHS; j++) {
            if (memcmp(bits[i], bits[j], sizeof bits[i]) == 0) {
                fprintf(stderr, "    glyphs '%c' and '%c' are identical\n", i + 32, j + 32);
                CHECK(false);
            }
        }
    }
    dfd_image_free(&cell);
}

static void test_bytes_outside_printable_ascii_render_as_question_marks(void)
{
    dfd_image a, b;
    CHECK_OK(dfd_image_alloc(&a, 30, 10, 3));
    CHECK_OK(dfd_image_alloc(&b, 30, 10, 3));
    dfd_draw_text(&a, 0, 0, "x?y?", 1, white);
    dfd_draw_text(&b, 0, 0, "x\ty\x7f", 1, white);
    CHECK(images_equal(&a, &b));
    clear(&b);
    dfd_draw_text(&b, 0, 0, "x\xc3\xa9y\xe2\x82\xac", 1, white); // "xéy€": one '?' each
    CHECK(images_equal(&a, &b));
    dfd_image_free(&b);
    dfd_image_free(&a);
}

static void test_text_width_is_glyph_count_times_cell_width(void)
{
    CHECK_EQ_INT(dfd_draw_text_width("abc", 1), 3 * DFD_FONT_CELL_W);
    CHECK_EQ_INT(dfd_draw_text_width("abc", 2), 3 * DFD_FONT_CELL_W * 2);
    CHECK_EQ_INT(dfd_draw_text_width("#3  t=1.23s", 1), 11 * 6);
    CHECK_EQ_INT(dfd_draw_text_width("", 3), 0);
    CHECK_EQ_INT(dfd_draw_text_width(NULL, 3), 0);
    CHECK_EQ_INT(dfd_draw_text_width("\xc3\xa9", 1), DFD_FONT_CELL_W); // one character
    CHECK_EQ_INT(dfd_draw_text_width("ab", 0), 2 * DFD_FONT_CELL_W);   // scale < 1 is 1
    // The ink of a drawn string ends within the computed width.
    dfd_image img;
    CHECK_OK(dfd_image_alloc(&img, 200, 40, 1));
    dfd_draw_text(&img, 0, 0, "Wide text", 3, white);
    int w = dfd_draw_text_width("Wide text", 3), right = -1, bottom = -1;
    for (int y = 0; y < 40; y++) {
        for (int x = 0; x < 200; x++) {
            if (is_set(&img, x, y)) {
                right = x > right ? x : right;
                bottom = y > bottom ? y : bottom;
            }
        }
    }
    CHECK(right < w && right >= w - 3 * DFD_FONT_CELL_W);
    CHECK(bottom < DFD_FONT_GLYPH_H * 3);
    dfd_image_free(&img);
}

static void test_text_scale_magnifies_each_font_pixel(void)
{
    dfd_image one, three;
    CHECK_OK(dfd_image_alloc(&one, 12, 10, 1));
    CHECK_OK(dfd_image_alloc(&three, 36, 30, 1));
    dfd_draw_text(&one, 0, 0, "Ag", 1, white);
    dfd_draw_text(&three, 0, 0, "Ag", 3, white);
    int mismatches = 0;
    for (int y = 0; y < 30; y++) {
        for (int x = 0; x < 36; x++) {
            mismatches += is_set(&three, x, y) != is_set(&one, x / 3, y / 3);
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    dfd_image_free(&three);
    dfd_image_free(&one);
}

static void test_text_fit_shortens_long_text_with_two_dots(void)
{
    dfd_image a, b;
    CHECK_OK(dfd_image_alloc(&a, 80, 10, 3));
    CHECK_OK(dfd_image_alloc(&b, 80, 10, 3));
    const int cell = DFD_FONT_CELL_W;
    // Fits: drawn as is.
    CHECK_EQ_INT(dfd_draw_text_fit(&a, 0, 0, "abc", 3 * cell, 1, white), 3 * cell);
    dfd_draw_text(&b, 0, 0, "abc", 1, white);
    CHECK(images_equal(&a, &b));
    // Too long for 5 cells (plus a few spare pixels): 3 glyphs and "..".
    clear(&a);
    clear(&b);
    CHECK_EQ_INT(dfd_draw_text_fit(&a, 0, 0, "abcdefghij", 5 * cell + 4, 1, white), 5 * cell);
    dfd_draw_text(&b, 0, 0, "abc..", 1, white);
    CHECK(images_equal(&a, &b));
    // Room for two cells only: no dots, just what fits.
    clear(&a);
    clear(&b);
    CHECK_EQ_INT(dfd_draw_text_fit(&a, 0, 0, "abcdefghij", 2 * cell, 1, white), 2 * cell);
    dfd_draw_text(&b, 0, 0, "ab", 1, white);
    CHECK(images_equal(&a, &b));
    CHECK_EQ_INT(dfd_draw_text_fit(&a, 0, 0, "abc", cell - 1, 1, white), 0);
    dfd_image_free(&b);
    dfd_image_free(&a);
}

DFD_TEST_MAIN(
    { "fill_rect_paints_exactly_the_rectangle", test_fill_rect_paints_exactly_the_rectangle },
    { "rect_outline_is_drawn_inside_with_the_given_thickness",
      test_rect_outline_is_drawn_inside_with_the_given_thickness },
    { "lines_hit_their_end_points_and_respect_thickness",
      test_lines_hit_their_end_points_and_respect_thickness },
    { "drawing_clips_at_every_edge_without_touching_memory_outside",
      test_drawing_clips_at_every_edge_without_touching_memory_outside },
    { "grey_and_rgba_images_get_luma_and_opaque_alpha",
      test_grey_and_rgba_images_get_luma_and_opaque_alpha },
    { "blit_copies_clips_and_converts_channels", test_blit_copies_clips_and_converts_channels },
    { "every_printable_glyph_is_non_blank_except_space_and_all_differ",
      test_every_printable_glyph_is_non_blank_except_space_and_all_differ },
    { "bytes_outside_printable_ascii_render_as_question_marks",
      test_bytes_outside_printable_ascii_render_as_question_marks },
    { "text_width_is_glyph_count_times_cell_width",
      test_text_width_is_glyph_count_times_cell_width },
    { "text_scale_magnifies_each_font_pixel", test_text_scale_magnifies_each_font_pixel },
    { "text_fit_shortens_long_text_with_two_dots", test_text_fit_shortens_long_text_with_two_dots })
