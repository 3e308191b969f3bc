// Contact sheets: sheet dimensions for mixed tile sizes, tile placement, labels under tiles,
// truncation, titles, option checks and out-of-memory behaviour.
#include <stdint.h>

#include "dfdetect/image/draw.h"
#include "dfdetect/image/image.h"
#include "dfdetect/report/grid.h"
#include "dfdetect/util/alloc.h"
#include "image/image_test_util.h"
#include "test.h"

#define N_TILES 5

// Five tiles of different shapes, each one solid colour: landscape 16:9, portrait 9:16, square,
// tall 1:4 and wide 3:1.
static const int tile_sizes[N_TILES][2] = {
    { 640, 360 }, { 360, 640 }, { 100, 100 }, { 50, 200 }, { 300, 100 }
};
static const uint8_t tile_colors[N_TILES][4] = { { 200, 0, 0, 255 },
                                                 { 0, 200, 0, 255 },
                                                 { 0, 0, 200, 255 },
                                                 { 200, 200, 0, 255 },
                                                 { 0, 200, 200, 255 } };

static dfd_status make_tiles(dfd_image tiles[N_TILES])
{
    memset(tiles, 0, N_TILES * sizeof tiles[0]);
    for (int i = 0; i < N_TILES; i++) {
        dfd_status st = dfd_image_alloc(&tiles[i], tile_sizes[i][0], tile_sizes[i][1], 3);
        if (st) {
            return st;
        }
        fill_const(&tiles[i], tile_colors[i]);
    }
    return DFD_OK;
}

static void free_tiles(dfd_image tiles[N_TILES])
{
    for (int i = 0; i < N_TILES; i++) {
        dfd_image_free(&tiles[i]);
    }
}

static bool px_is(const dfd_image *img, int x, int y, const uint8_t rgb[3])
{
    return memcmp(dfd_image_px(img, x, y), rgb, 3) == 0;
}

// Pixels of colour rgb inside the box [x0, x1) x [y0, y1).
static int count_color(const dfd_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3])
{
    int n = 0;
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            n += px_is(img, x, y, rgb);
        }
    }
    return n;
}

static dfd_grid_opts test_opts(void)
{
    dfd_grid_opts o = dfd_grid_opts_default();
    o.tile_width = 120;
    o.margin = 6;
    return o;
}

// Scaled heights of the tiles at width 120 (rounded): 68, 213, 120, 480, 40.
static const int scaled_h[N_TILES] = { 68, 213, 120, 480, 40 };

static void test_sheet_dimensions_follow_the_layout_for_mixed_tile_sizes(void)
{
    dfd_image tiles[N_TILES], out;
    CHECK_OK(make_tiles(tiles));
    dfd_grid_opts o = test_opts();
    const int label_h = 3 + DFD_FONT_CELL_H; // gap + one text line at scale 1
    static const char *const labels[N_TILES] = { "#0", "#1", "#2", "#3", "#4" };
    // Automatic columns: 3 (the smallest c with c * c >= 5), so rows 0..2 and 3..4.
    CHECK_OK(dfd_grid_render(&out, tiles, labels, N_TILES, &o));
    CHECK_EQ_INT(out.c, 3);
    CHECK_EQ_INT(out.w, 6 + 3 * (120 + 6));
    CHECK_EQ_INT(out.h, 6 + (213 + label_h + 6) + (480 + label_h + 6));
    dfd_image_free(&out);
    // No labels: no label lines.
    CHECK_OK(dfd_grid_render(&out, tiles, NULL, N_TILES, &o));
    CHECK_EQ_INT(out.h, 6 + (213 + 6) + (480 + 6));
    dfd_image_free(&out);
    // A title adds a line at twice the label scale, then a margin.
    o.title = "clip.mp4";
    CHECK_OK(dfd_grid_render(&out, tiles, NULL, N_TILES, &o));
    CHECK_EQ_INT(out.h, 6 + (2 * DFD_FONT_CELL_H + 6) + (213 + 6) + (480 + 6));
    dfd_image_free(&out);
    o.title = NULL;
    // Two columns: rows {0, 1}, {2, 3}, {4}.
    o.cols = 2;
    CHECK_OK(dfd_grid_render(&out, tiles, NULL, N_TILES, &o));
    CHECK_EQ_INT(out.w, 6 + 2 * 126);
    CHECK_EQ_INT(out.h, 6 + (213 + 6) + (480 + 6) + (40 + 6));
    dfd_image_free(&out);
    // More columns than tiles: one row, as wide as the tiles need.
    o.cols = 9;
    CHECK_OK(dfd_grid_render(&out, tiles, NULL, N_TILES, &o));
    CHECK_EQ_INT(out.w, 6 + 5 * 126);
    CHECK_EQ_INT(out.h, 6 + 480 + 6);
    dfd_image_free(&out);
    // One tile, default options: 256 wide plus 8-pixel margins.
    CHECK_OK(dfd_grid_render(&out, &tiles[2], NULL, 1, NULL));
    CHECK_EQ_INT(out.w, 8 + 256 + 8);
    CHECK_EQ_INT(out.h, 8 + 256 + 8);
    dfd_image_free(&out);
    free_tiles(tiles);
}

static void test_tiles_are_scaled_into_their_cells_on_the_background(void)
{
    dfd_image tiles[N_TILES], out;
    CHECK_OK(make_tiles(tiles));
    dfd_grid_opts o = test_opts();
    o.cols = 3;
    CHECK_OK(dfd_grid_render(&out, tiles, NULL, N_TILES, &o));
    int row_y[2] = { 6, 6 + 213 + 6 };
    for (int i = 0; i < N_TILES; i++) {
        int x = 6 + (i % 3) * 126, y = row_y[i / 3], h = scaled_h[i];
        // Every pixel of the scaled tile has the tile's colour (a constant stays constant).
        CHECK_EQ_INT(count_color(&out, x, y, x + 120, y + h, tile_colors[i]), 120 * h);
        // Just below a tile shorter than its row, and in the margins: background.
        if (h < (i < 3 ? 213 : 480)) {
            CHECK(px_is(&out, x + 60, y + h, o.background));
        }
        CHECK(px_is(&out, x - 1, y + h / 2, o.background));
        CHECK(px_is(&out, x + 60, y - 1, o.background));
    }
    CHECK(px_is(&out, out.w - 1, out.h - 1, o.background));
    dfd_image_free(&out);
    free_tiles(tiles);
}

static void test_labels_appear_below_their_tiles(void)
{
    dfd_image tiles[N_TILES], out;
    CHECK_OK(make_tiles(tiles));
    dfd_grid_opts o = test_opts();
    o.cols = 3;
    static const char *const labels[N_TILES] = { "#0  t=0.00s", "#1  t=1.23s", NULL, "#3", "#4" };
    CHECK_OK(dfd_grid_render(&out, tiles, labels, N_TILES, &o));
    const int label_h = 3 + DFD_FONT_CELL_H;
    int row_y[2] = { 6, 6 + 213 + label_h + 6 };
    for (int i = 0; i < N_TILES; i++) {
        int x = 6 + (i % 3) * 126, y = row_y[i / 3] + scaled_h[i];
        // The text line under the tile: [y + 3, y + 3 + cell height).
        int ink = count_color(&out, x, y + 3, x + 120, y + 3 + DFD_FONT_CELL_H, o.text_color);
        if (labels[i]) {
            CHECK(ink > 10);
            // It starts at the tile's left edge and is no wider than the label.
            int w = dfd_draw_text_width(labels[i], 1);
            CHECK(count_color(&out, x + w, y + 3, x + 120, y + 3 + DFD_FONT_CELL_H, o.text_color) ==
                  0);
            CHECK(count_color(&out, x, y + 3, x + 6, y + 3 + DFD_FONT_CELL_H, o.text_color) > 0);
        } else {
            CHECK_EQ_INT(ink, 0);
        }
        // No text inside the tile itself, nor between tile and label.
        CHECK_EQ_INT(count_color(&out, x, y - scaled_h[i], x + 120, y + 3, o.text_color), 0);
    }
    // The label is exactly the text drawn on its own.
    dfd_image ref;
    CHECK_OK(dfd_image_alloc(&ref, 120, DFD_FONT_CELL_H, 3));
    dfd_draw_fill_rect(&ref, 0, 0, 120, DFD_FONT_CELL_H, o.background);
    dfd_draw_text(&ref, 0, 0, labels[1], 1, o.text_color);
    dfd_image under = dfd_image_view(&out, 6 + 126, 6 + 213 + 3, 120, DFD_FONT_CELL_H);
    CHECK(images_equal(&under, &ref));
    dfd_image_free(&ref);
    dfd_image_free(&out);
    free_tiles(tiles);
}

static void test_long_labels_and_titles_are_cut_to_fit(void)
{
    dfd_image tiles[N_TILES], out;
    CHECK_OK(make_tiles(tiles));
    dfd_grid_opts o = test_opts();
    o.cols = 2;
    o.tile_width = 60;
    o.title = "a very long title that is much wider than the sheet it is drawn on, surely";
    static const char *const labels[2] = {
        "this label is far too long for a sixty pixel tile",
        "so is this one, and it would run into its neighbour",
    };
    CHECK_OK(dfd_grid_render(&out, tiles, labels, 2, &o));
    // Neither the title nor a label reaches into the right margin or the gap between tiles.
    CHECK_EQ_INT(count_color(&out, out.w - 6, 0, out.w, out.h, o.text_color), 0);
    CHECK_EQ_INT(count_color(&out, 6 + 60, 6 + 2 * DFD_FONT_CELL_H, 6 + 66, out.h, o.text_color),
                 0);
    CHECK(count_color(&out, 6, 0, out.w, 6 + 2 * DFD_FONT_CELL_H, o.text_color) > 50);
    dfd_image_free(&out);
    free_tiles(tiles);
}

static void test_grey_and_rgba_tiles_and_views_are_accepted(void)
{
    dfd_image t[3], out;
    CHECK_OK(dfd_image_alloc(&t[0], 40, 30, 1));
    CHECK_OK(dfd_image_alloc(&t[1], 40, 30, 4));
    CHECK_OK(dfd_image_alloc(&t[2], 80, 60, 3));
    static const uint8_t g[4] = { 90, 90, 90, 90 }, a[4] = { 1, 2, 3, 0 }, c[4] = { 7, 8, 9, 9 };
    fill_const(&t[0], g);
    fill_const(&t[1], a);
    fill_const(&t[2], c);
    dfd_image tiles[3] = { t[0], t[1], dfd_image_view(&t[2], 10, 10, 40, 30) };
    dfd_grid_opts o = test_opts();
    o.tile_width = 40; // no scaling
    CHECK_OK(dfd_grid_render(&out, tiles, NULL, 3, &o));
    CHECK_EQ_INT(out.w, 6 + 2 * 46);
    static const uint8_t grey_rgb[3] = { 90, 90, 90 };
    CHECK_EQ_INT(count_color(&out, 6, 6, 46, 36, grey_rgb), 40 * 30);
    CHECK_EQ_INT(count_color(&out, 52, 6, 92, 36, a), 40 * 30);
    CHECK_EQ_INT(count_color(&out, 6, 42, 46, 72, c), 40 * 30);
    dfd_image_free(&out);
    for (int i = 0; i < 3; i++) {
        dfd_image_free(&t[i]);
    }
}

static void test_bad_arguments_are_rejected(void)
{
    dfd_image tiles[N_TILES], out;
    CHECK_OK(make_tiles(tiles));
    dfd_grid_opts o = test_opts();
    CHECK_EQ_INT(dfd_grid_render(&out, tiles, NULL, 0, &o), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_grid_render(&out, NULL, NULL, 3, &o), DFD_ERR_INVALID);
    CHECK(out.data == NULL);
    dfd_image bad[2] = { tiles[0], { 0 } };
    CHECK_EQ_INT(dfd_grid_render(&out, bad, NULL, 2, &o), DFD_ERR_INVALID);
    dfd_grid_opts b = o;
    b.tile_width = 0;
    CHECK_EQ_INT(dfd_grid_render(&out, tiles, NULL, 2, &b), DFD_ERR_INVALID);
    b = o;
    b.cols = -1;
    CHECK_EQ_INT(dfd_grid_render(&out, tiles, NULL, 2, &b), DFD_ERR_INVALID);
    b = o;
    b.margin = -2;
    CHECK_EQ_INT(dfd_grid_render(&out, tiles, NULL, 2, &b), DFD_ERR_INVALID);
    b = o;
    b.label_scale = 0;
    CHECK_EQ_INT(dfd_grid_render(&out, tiles, NULL, 2, &b), DFD_ERR_INVALID);
    // A 1 x 2000 sliver scaled to 4096 wide would be 8 M pixels tall.
    dfd_image sliver;
    CHECK_OK(dfd_image_alloc(&sliver, 1, 2000, 3));
    b = o;
    b.tile_width = 4096;
    CHECK_EQ_INT(dfd_grid_render(&out, &sliver, NULL, 1, &b), DFD_ERR_LIMIT);
    CHECK(out.data == NULL);
    dfd_image_free(&sliver);
    free_tiles(tiles);
}

static void test_rendering_without_memory_fails_cleanly(void)
{
    dfd_image tiles[N_TILES], out;
    CHECK_OK(make_tiles(tiles));
    dfd_grid_opts o = test_opts();
    static const char *const labels[N_TILES] = { "a", "b", "c", "d", "e" };
    const size_t before = dfd_alloc_bytes_in_use();
    bool ok = false;
    int n_nomem = 0;
    for (long k = 0; k < 500 && !ok; k++) {
        dfd_alloc_fail_after(k);
        dfd_status st = dfd_grid_render(&out, tiles, labels, N_TILES, &o);
        dfd_alloc_fail_after(-1);
        CHECK(st == DFD_OK || st == DFD_ERR_NOMEM);
        ok = st == DFD_OK;
        n_nomem += st == DFD_ERR_NOMEM;
        if (ok) {
            dfd_image_free(&out);
        } else {
            CHECK(out.data == NULL);
        }
        CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    }
    CHECK(ok && n_nomem > N_TILES);
    free_tiles(tiles);
}

DFD_TEST_MAIN({ "sheet_dimensions_follow_the_layout_for_mixed_tile_sizes",
                test_sheet_dimensions_follow_the_layout_for_mixed_tile_sizes },
              { "tiles_are_scaled_into_their_cells_on_the_background",
                test_tiles_are_scaled_into_their_cells_on_the_background },
              { "labels_appear_below_their_tiles", test_labels_appear_below_their_tiles },
              { "long_labels_and_titles_are_cut_to_fit",
                test_long_labels_and_titles_are_cut_to_fit },
              { "grey_and_rgba_tiles_and_views_are_accepted",
                test_grey_and_rgba_tiles_and_views_are_accepted },
              { "bad_arguments_are_rejected", test_bad_arguments_are_rejected },
              { "rendering_without_memory_fails_cleanly",
                test_rendering_without_memory_fails_cleanly })
