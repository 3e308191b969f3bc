// Scoring many files with a detector, for the commands that do (eval; scan can share it): the
// read-only networks every scanner borrows, and a pool of scanners (one per thread, made on first
// use) with a progress bar.
#ifndef DFD_CLI_SCAN_POOL_H
#define DFD_CLI_SCAN_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "dfdetect/detect/model.h"
#include "dfdetect/detect/scan.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/nn/graph.h"

typedef struct cli_scanning {
    dfd_detector_model *model;
    dfd_face_models *faces;
    dfd_graph *backbone;      // with the model's tuned weights when it has them
    char backbone_path[4096]; // the pretrained faceres file it came from
} cli_scanning;

// Load the face models and the faceres backbone from models_dir (NULL: the default folder) into
// r->faces and r->backbone for r->model (loaded before): the model's fine-tuned weights applied
// when it has them (detect/tuned.h); a warning line when an untuned model's head was trained on
// another faceres file. CLI_OK, or CLI_FAILED after one error line.
int cli_scanning_load_networks(cli_scanning *r, const char *models_dir);

// Free what r holds (the model too) and zero it. Accepts an empty one.
void cli_scanning_free(cli_scanning *r);

// Scan paths[0..n) with `jobs` files at once: res[i] (zeroed before; free each with
// dfd_scan_result_free) and st[i] per file; a file that fails has verdict DFD_SCAN_ERROR and its
// one-line error in res[i].error. The progress bar ("items") is drawn on stderr when `progress`.
// CLI_OK, or CLI_FAILED after one error line when the pool cannot start.
int cli_scan_paths(dfd_scan_result *res, dfd_status *st, const char *const *paths, size_t n,
                   const cli_scanning *r, const dfd_scan_opts *opts, int jobs, bool progress);

// A probability threshold: a number in [0, 1]. false when s is not one.
bool cli_parse_probability(float *out, const char *s);

#endif
