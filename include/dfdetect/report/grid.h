// Contact sheets: a grid of frames (or face crops), each scaled to a common width and labelled
// underneath, with an optional title line. Used to show what the detector looked at ("frames
// #3, #17, ... of clip.mp4"), in reports, the CLI's --sheet output and the web UI.
//
// Layout (all in pixels; s = label_scale):
//   margin | tile | margin | tile | ... | margin            (cols tiles per row)
//   margin, [title: one text line at scale 2s, margin], then per row: the tiles, top-aligned,
//   each with its label line (DFD_FONT_CELL_H * s tall) starting 3 pixels under it, then margin.
// Every tile is scaled to tile_width keeping its aspect ratio (area filter when shrinking,
// bilinear when enlarging), so portrait and landscape frames can be mixed; a row is as tall as
// its tallest scaled tile plus one label line.
#ifndef DFD_REPORT_GRID_H
#define DFD_REPORT_GRID_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

typedef struct dfd_grid_opts {
    int cols;              // tiles per row; 0 = automatic: ceil(sqrt(n)), about square
    int tile_width;        // width every tile is scaled to, 1..4096
    int margin;            // space around and between tiles, 0..1024
    int label_scale;       // font scale of labels, 1..16 (the title uses twice this)
    const char *title;     // line of text above the grid; NULL or "" for none
    uint8_t background[3]; // RGB of the sheet
    uint8_t text_color[3]; // RGB of labels and title
} dfd_grid_opts;

// The defaults: automatic columns, 256-pixel tiles, 8-pixel margins, label scale 1, no title,
// light grey text (230, 230, 230) on a dark grey (32, 32, 32) background.
dfd_grid_opts dfd_grid_opts_default(void);

// Allocates *out (RGB) as a contact sheet of the n images in `tiles` (each c = 1, 3 or 4; any
// sizes; borrowed for the call). labels[i] is drawn under tile i, shortened with ".." when wider
// than the tile; `labels` may be NULL (no label lines at all) and any labels[i] may be NULL (no
// label under that tile). opts NULL means dfd_grid_opts_default(). *out is overwritten (free it
// first) and left empty on error.
// Errors: DFD_ERR_INVALID (n == 0, an empty tile, options out of range), DFD_ERR_LIMIT (the sheet,
// or a very tall scaled tile, would exceed DFD_IMAGE_MAX_DIM), DFD_ERR_NOMEM.
// Thread-safe.
dfd_status dfd_grid_render(dfd_image *out, const dfd_image *tiles, const char *const *labels,
                           size_t n, const dfd_grid_opts *opts);

#endif
