// The backbone a detector model runs on: the pretrained faceres graph, with the model's
// fine-tuned weights applied when the model was trained with a tuned backbone (stage 1,
// train/backbone_train.h). Training and inference then compute the same embeddings.
#ifndef DFD_DETECT_TUNED_H
#define DFD_DETECT_TUNED_H

#include "dfdetect/detect/model.h"
#include "dfdetect/nn/graph.h"
#include "dfdetect/util/status.h"

// Load the faceres graph from faceres_path (the pretrained faceres.json, model/registry.h) for
// model m. A model with backbone_tuned false gets the plain pretrained graph (default fusion).
// A tuned model gets the graph finalized as it was trained (fuse = true, fuse_dwpw = false) with
// every "backbone/<param>" tensor of the model file copied over the pretrained weights; the
// file's sha256 must equal the model's backbone_sha256 (the frozen layers come from it).
// Free *out with dfd_graph_free. Errors, one line: DFD_ERR_FORMAT (sha256 mismatch, naming both
// files; a tuned model without backbone tensors; a tensor of the wrong shape), those of reading
// and loading the file, DFD_ERR_NOMEM.
dfd_status dfd_backbone_load_for_model(dfd_graph **out, const dfd_detector_model *m,
                                       const char *faceres_path, dfd_error *err);

#endif
