// Scoring many files with a detector, for the commands that do (eval; scan can share it): the
// read-only networks every scanner borrows, and a pool of scanners (one per thread, made on first
// use) with a progress bar.
#ifndef DFD_CLI_SCAN_POOL_H
#define DFD_CLI_SCAN_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "dfdetect/detect/networks.h"
#include "dfdetect/detect/scan.h"

// The networks every scanner borrows (detect/networks.h).
typedef dfd_scan_networks cli_scanning;

// dfd_scan_networks_load for r->model (loaded before) from models_dir (NULL: the default folder),
// with a warning line on stderr when an untuned model's head was trained on another faceres file.
// CLI_OK, or CLI_FAILED after one error line.
int cli_scanning_load_networks(cli_scanning *r, const char *models_dir);

// Load the detector at model_path (NULL: $DFD_DETECTOR or the shipped default, model/registry.h)
// into r->model, then its networks (cli_scanning_load_networks) and, with explain, the graph
// Grad-CAM differentiates (dfd_scan_networks_load_explain). CLI_OK, or CLI_FAILED after one
// error line (what was loaded stays in r: cli_scanning_free it).
int cli_scanning_load(cli_scanning *r, const char *model_path, const char *models_dir,
                      bool explain);

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
