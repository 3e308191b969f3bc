// The read-only networks a scan needs, loaded once and borrowed by every scanner (detect/scan.h)
// and explainer (detect/explain.h): the detector model, the face models (BlazeFace, FaceMesh) and
// the faceres backbone carrying the model's tuned weights (detect/tuned.h), and on request the
// graph Grad-CAM differentiates. The CLI (scan, eval) and the server load them the same way.
#ifndef DFD_DETECT_NETWORKS_H
#define DFD_DETECT_NETWORKS_H

#include <stdbool.h>

#include "dfdetect/detect/model.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/nn/graph.h"
#include "dfdetect/util/status.h"

typedef struct dfd_scan_networks {
    dfd_detector_model *model; // owned; set by the caller (dfd_detector_model_load) before loading
    dfd_face_models *faces;
    dfd_graph *backbone;      // with the model's tuned weights when it has them
    dfd_graph *explain;       // dfd_scan_networks_load_explain: the graph to differentiate (may be
                              // `backbone` itself); else NULL
    char backbone_path[4096]; // the pretrained faceres file it came from
    bool backbone_mismatch;   // the model's head was trained on another faceres file: not an
                              // error, but its scores may be wrong (callers warn)
} dfd_scan_networks;

// Load the face models and the faceres backbone from models_dir (NULL: dfd_models_dir_default())
// into n->faces and n->backbone for n->model (loaded before, must not be NULL), and set
// n->backbone_mismatch (dfd_scan_backbone_matches). Errors, one line: DFD_ERR_INVALID (no model),
// those of dfd_face_models_load, dfd_model_path, dfd_backbone_load_for_model and
// dfd_scan_backbone_matches. On error what was loaded stays in n (dfd_scan_networks_free frees it).
dfd_status dfd_scan_networks_load(dfd_scan_networks *n, const char *models_dir, dfd_error *err);

// Load n->explain for Grad-CAM (after dfd_scan_networks_load): the backbone itself when it has no
// DWPW nodes (which have no backward), else the pretrained file again without DWPW fusion (the
// same weights, the same embeddings up to float rounding). Errors: those of dfd_tfjs_load_opts.
dfd_status dfd_scan_networks_load_explain(dfd_scan_networks *n, dfd_error *err);

// Free what n holds (the model too) and zero it. Accepts NULL and an empty one.
void dfd_scan_networks_free(dfd_scan_networks *n);

#endif
