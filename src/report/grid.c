// Contact-sheet renderer: lays out n frames in a labelled grid (layout described in grid.h).
// Two passes over the tiles: the first sizes the sheet, the second scales, copies and labels.
#include "dfdetect/report/grid.h"

#include <stdbool.h>
#include <string.h>

#include "dfdetect/image/draw.h"
#include "dfdetect/image/resize.h"

// Pixels between the bottom of a tile and the top of its label's text cell.
#define LABEL_GAP 3

dfd_grid_opts dfd_grid_opts_default(void)
{
    dfd_grid_opts o;
    memset(&o, 0, sizeof o);
    o.cols = 0;
    o.tile_width = 256;
    o.margin = 8;
    o.label_scale = 1;
    o.title = NULL;
    memset(o.background, 32, sizeof o.background);
    memset(o.text_color, 230, sizeof o.text_color);
    return o;
}

// Height of tile t scaled to width tw, keeping its aspect ratio (rounded, at least 1).
static long long scaled_height(const dfd_image *t, int tw)
{
    long long h = ((long long)t->h * tw * 2 + t->w) / (2LL * t->w);
    return h < 1 ? 1 : h;
}

static int tile_ok(const dfd_image *t)
{
    return t->data && t->w > 0 && t->h > 0 && (t->c == 1 || t->c == 3 || t->c == 4);
}

// Scale one tile to tw x th and copy it onto the sheet at (x, y).
static dfd_status place_tile(dfd_image *sheet, const dfd_image *tile, int x, int y, int tw, int th)
{
    if (tile->w == tw && tile->h == th) {
        dfd_image_blit(sheet, tile, x, y);
        return DFD_OK;
    }
    dfd_image scaled;
    dfd_status st = dfd_image_alloc(&scaled, tw, th, tile->c);
    if (st) {
        return st;
    }
    st = dfd_image_resize(&scaled, tile, tw < tile->w ? DFD_RESIZE_AREA : DFD_RESIZE_BILINEAR);
    if (st == DFD_OK) {
        dfd_image_blit(sheet, &scaled, x, y);
    }
    dfd_image_free(&scaled);
    return st;
}

dfd_status dfd_grid_render(dfd_image *out, const dfd_image *tiles, const char *const *labels,
                           size_t n, const dfd_grid_opts *opts)
{
    memset(out, 0, sizeof *out);
    const dfd_grid_opts o = opts ? *opts : dfd_grid_opts_default();
    if (n == 0 || !tiles || o.cols < 0 || o.tile_width < 1 || o.tile_width > 4096 || o.margin < 0 ||
        o.margin > 1024 || o.label_scale < 1 || o.label_scale > 16) {
        return DFD_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        if (!tile_ok(&tiles[i])) {
            return DFD_ERR_INVALID;
        }
    }
    if (n > DFD_IMAGE_MAX_DIM) {
        return DFD_ERR_LIMIT; // more tiles than could fit in a row or a column of a sheet
    }
    const int tw = o.tile_width, m = o.margin, s = o.label_scale;
    size_t cols = o.cols > 0 ? (size_t)o.cols : 1;
    if (o.cols == 0) {
        while (cols * cols < n) {
            cols++;
        }
    }
    if (cols > n) {
        cols = n;
    }
    const size_t rows = (n + cols - 1) / cols;
    const bool has_title = o.title && o.title[0];
    const long long label_h = labels ? LABEL_GAP + (long long)DFD_FONT_CELL_H * s : 0;
    const long long title_h = has_title ? (long long)DFD_FONT_CELL_H * 2 * s + m : 0;

    // ---- pass 1: size the sheet ----
    long long width = m + (long long)cols * (tw + m);
    long long height = m + title_h;
    for (size_t r = 0; r < rows; r++) {
        long long row_h = 0;
        for (size_t i = r * cols; i < n && i < (r + 1) * cols; i++) {
            long long th = scaled_height(&tiles[i], tw);
            if (th > DFD_IMAGE_MAX_DIM) {
                return DFD_ERR_LIMIT;
            }
            row_h = th > row_h ? th : row_h;
        }
        height += row_h + label_h + m;
        if (height > DFD_IMAGE_MAX_DIM) {
            return DFD_ERR_LIMIT;
        }
    }
    if (width > DFD_IMAGE_MAX_DIM) {
        return DFD_ERR_LIMIT;
    }
    dfd_status st = dfd_image_alloc(out, (int)width, (int)height, 3);
    if (st) {
        return st;
    }
    dfd_draw_fill_rect(out, 0, 0, out->w, out->h, o.background);

    // ---- pass 2: draw ----
    if (has_title) {
        (void)dfd_draw_text_fit(out, m, m, o.title, out->w - 2 * m, 2 * s, o.text_color);
    }
    long long y = m + title_h;
    for (size_t r = 0; r < rows; r++) {
        long long row_h = 0;
        for (size_t i = r * cols; i < n && i < (r + 1) * cols; i++) {
            int x = m + (int)(i - r * cols) * (tw + m);
            int th = (int)scaled_height(&tiles[i], tw);
            row_h = th > row_h ? th : row_h;
            st = place_tile(out, &tiles[i], x, (int)y, tw, th);
            if (st) {
                dfd_image_free(out);
                return st;
            }
            if (labels && labels[i]) {
                (void)dfd_draw_text_fit(out, x, (int)y + th + LABEL_GAP, labels[i], tw, s,
                                        o.text_color);
            }
        }
        y += row_h + label_h + m;
    }
    return DFD_OK;
}
