// Import of TF.js graph models ("format": "graph-model": model.json with the topology and a
// weights manifest, plus .bin shard files beside it) into an nn graph, finalized and fused.
// ../shared/MODELS.md documents the files and their traps (fp16 stored under dtype float32,
// uint8 affine quantization, base64 string attributes, fused ops, asymmetric SAME padding).
#ifndef DFD_MODEL_TFJS_H
#define DFD_MODEL_TFJS_H

#include <stddef.h>

#include "dfdetect/nn/graph.h"
#include "dfdetect/util/status.h"

// Load `path` (the model.json) and its weight files. On success *out is a finalized graph the
// caller frees with dfd_graph_free. The first dimension of every input is the batch, whatever
// the file says. Errors, one line naming the file (and node):
//   DFD_ERR_NOT_FOUND   model.json or a weights file is missing
//   DFD_ERR_FORMAT      not JSON, truncated weights, inconsistent shapes, a cycle
//   DFD_ERR_UNSUPPORTED an op, attribute or dtype this engine does not run
//   DFD_ERR_LIMIT       a file or tensor beyond the limits (64 MB JSON, 1 GiB weights)
//   DFD_ERR_NOMEM, DFD_ERR_IO
dfd_status dfd_tfjs_load(dfd_graph **out, const char *path, dfd_error *err);

// As dfd_tfjs_load with explicit fusion options (NULL: dfd_finalize_opts_default()).
dfd_status dfd_tfjs_load_opts(dfd_graph **out, const char *path, const dfd_finalize_opts *opts,
                              dfd_error *err);

// As dfd_tfjs_load_opts, with the values named in extra_outputs[0..n_extra) (TF node names, ":0"
// optional) declared as outputs after the file's own, so that sessions keep them and
// dfd_session_output_by_name finds them (probes of intermediate features, debugging).
// DFD_ERR_NOT_FOUND names a value the file does not compute.
dfd_status dfd_tfjs_load_outputs(dfd_graph **out, const char *path, const dfd_finalize_opts *opts,
                                 const char *const *extra_outputs, size_t n_extra, dfd_error *err);

#endif
