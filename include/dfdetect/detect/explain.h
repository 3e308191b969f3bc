// Explaining a scan: Grad-CAM heatmaps of the face crops and a per-frame score timeline.
//   crop -> backbone (autograd, inference semantics) -> embedding e -> head's frame logit f(e)
//   df/de (the head's backward) fed into the backbone's autograd at its embedding; the embedding is
//   the global mean of the last feature map A (7 x 7 x 1024 for faceres at 224), so
//   CAM = ReLU(sum_c mean_grad_c * A_c), mean_grad_c the mean over the grid of df/dA_c:
//   where on the face the evidence for FAKE lies (Selvaraju et al., Grad-CAM, 2017).
// The CAM is upsampled to the crop, coloured (blue = none .. red = the most) and blended over it.
// `dfdetect scan --explain DIR` writes a folder per file with these (dfd_explain_write); the
// server serves the same images.
#ifndef DFD_DETECT_EXPLAIN_H
#define DFD_DETECT_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "dfdetect/detect/model.h"
#include "dfdetect/detect/scan.h"
#include "dfdetect/image/image.h"
#include "dfdetect/nn/graph.h"
#include "dfdetect/util/status.h"

// ---- Grad-CAM on any graph whose embedding is a global mean ----

typedef struct dfd_cam dfd_cam;

// Grad-CAM on `g` (finalized with fuse = true, fuse_dwpw = false; borrowed, must outlive it; its
// weights are only read) for the value `embedding`, which must be a MEAN over H and W of a
// feature map [N, GH, GW, C]: that map is the one explained. Up to `batch` items (1..256) per
// pass, n_threads threads in the kernels (0: one per CPU). Errors: DFD_ERR_INVALID (batch),
// DFD_ERR_NOT_FOUND (no such value), DFD_ERR_FORMAT (`embedding` is not a global mean, the graph
// has not exactly one input), and those of dfd_autograd_create (DFD_ERR_UNSUPPORTED for a graph
// with DWPW nodes). One thread at a time per dfd_cam.
dfd_status dfd_cam_create(dfd_cam **out, dfd_graph *g, const char *embedding, int batch,
                          int n_threads, dfd_error *err);
void dfd_cam_free(dfd_cam *c); // accepts NULL

// The graph input's shape without the batch ([H, W, C] for images) into shape, its rank - 1 as
// the result; the batch; and the explained grid's size and channels.
int dfd_cam_input_shape(const dfd_cam *c, int shape[4]);
int dfd_cam_batch(const dfd_cam *c);
void dfd_cam_grid(const dfd_cam *c, int *gh, int *gw, int *channels);

// Run the graph on n items (1..batch; `input`: n items of the input's shape, copied).
// *embedding gets their embeddings ([n][channels] floats), valid until the next forward.
// Errors: DFD_ERR_INVALID (n), those of dfd_autograd_forward.
dfd_status dfd_cam_forward(dfd_cam *c, const float **embedding, const float *input, int n,
                           dfd_error *err);

// Grad-CAM of the last forward's n items for the target whose gradient with respect to the
// embedding is d_embedding ([n][channels] floats): cam[n][gh * gw] (row-major over the grid),
// >= 0, not normalised. Errors: DFD_ERR_INVALID (no forward yet), those of
// dfd_autograd_backward.
dfd_status dfd_cam_backward(float *cam, dfd_cam *c, const float *d_embedding, dfd_error *err);

// ---- rendering ----

// The colour map: v in [0, 1] (clamped) to RGB, a jet-like ramp from dark blue (0) through cyan,
// green and yellow to dark red (1).
void dfd_cam_color(uint8_t rgb[3], float v);

// Allocates *out (RGB, the crop's size): `cam` (gh x gw, >= 0) divided by its largest value
// (a CAM with no positive value shows as 0 everywhere), upsampled bilinearly to the crop
// (grid cell centres at their pixel centres, edges clamped), coloured with dfd_cam_color and
// blended over the crop: out = (1 - alpha) * crop + alpha * colour, rounded. alpha in [0, 1].
// *out is overwritten. Errors: DFD_ERR_INVALID (crop not RGB or empty, gh or gw < 1, alpha out
// of range), DFD_ERR_NOMEM.
dfd_status dfd_cam_overlay(dfd_image *out, const dfd_image *crop, const float *cam, int gh, int gw,
                           float alpha);

// ---- the detector's explanations ----

typedef struct dfd_explainer dfd_explainer;

// An explainer for `model` (borrowed; its head is copied) on `backbone`, the graph the scanner
// embeds with (borrowed, must outlive it; finalized with fuse = true, fuse_dwpw = false), whose
// embedding is DFD_BACKBONE_OUT. One per thread. Errors: those of dfd_cam_create and
// dfd_head_create, DFD_ERR_FORMAT (the graph's input is not 224 x 224 x 3 or its embedding not
// the head's input size).
dfd_status dfd_explainer_create(dfd_explainer **out, const dfd_detector_model *model,
                                dfd_graph *backbone, int n_threads, dfd_error *err);
void dfd_explainer_free(dfd_explainer *x); // accepts NULL

// The Grad-CAM of n face crops (RGB, any size), each for its own FAKE frame logit, in batches of
// 8: cams gets n x gh x gw values (dfd_explainer_grid), logits the head's frame logit of each crop
// (as the scan computed it, up to float rounding); both may be NULL. Errors: DFD_ERR_INVALID (a
// crop not RGB), those of the head and dfd_cam_forward / dfd_cam_backward.
dfd_status dfd_explain_faces(float *cams, float *logits, dfd_explainer *x, const dfd_image *crops,
                             size_t n, dfd_error *err);
void dfd_explainer_grid(const dfd_explainer *x, int *gh, int *gw);

// Allocates out[0..n): the heatmaps of n crops (dfd_explain_faces then dfd_cam_overlay, alpha
// 0.45); out must not alias crops. All left empty on error.
dfd_status dfd_explain_heatmaps(dfd_image *out, dfd_explainer *x, const dfd_image *crops, size_t n,
                                dfd_error *err);

// Allocates *out: the timeline of a scan result: the per-frame FAKE probability of each identity
// against time in seconds (y fixed to [0, 1]; identities "face 1", "face 2", ... in result
// order), the threshold as a dashed line, `title` above it (may be NULL). Errors: DFD_ERR_INVALID
// (no identity), those of dfd_chart_line.
dfd_status dfd_explain_timeline(dfd_image *out, const dfd_scan_result *r, const char *title,
                                dfd_error *err);

// What dfd_explain_write wrote, names relative to its folder (owned; dfd_explain_files_free).
typedef struct dfd_explain_files {
    char *timeline;  // "timeline.png"
    char *sheet;     // "sheet.png": every heatmap with its label
    char ***heatmap; // heatmap[i][k]: identity i's face k, "id<i>_f<frame>_p<probability>.png"
    size_t n_ids;
} dfd_explain_files;

void dfd_explain_files_free(dfd_explain_files *f); // accepts NULL and empty ones

// Write the explanation of `r` (a REAL or FAKE result of a scanner with keep_crops) into the
// folder `dir`, published whole (util/dirs.h: built in a temporary folder beside it, which must
// exist; a folder already there is replaced): a heatmap PNG per face, the contact sheet of them
// and the timeline (title: `title`, may be NULL). files (may be NULL) gets the names.
// Errors: DFD_ERR_INVALID (a result without faces or crops), those of dfd_explain_heatmap,
// dfd_grid_render, the chart, PNG writing and dfd_dir_publish (naming the folder).
dfd_status dfd_explain_write(dfd_explain_files *files, dfd_explainer *x, const dfd_scan_result *r,
                             const char *dir, const char *title, dfd_error *err);

#endif
