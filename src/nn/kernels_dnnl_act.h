// Activations as oneDNN eltwise post-ops, shared by the inference (kernels_dnnl.c) and training
// (kernels_dnnl_backward.c) kernels.
#ifndef DFD_NN_KERNELS_DNNL_ACT_H
#define DFD_NN_KERNELS_DNNL_ACT_H

#include <dnnl.h>

#include "dfdetect/nn/graph.h"

// Append the activation `a` as an eltwise post-op: nothing for DFD_ACT_NONE,
// dnnl_unimplemented for PReLU (not an eltwise op: callers append it themselves).
dnnl_status_t nn_dnnl_append_eltwise(dnnl_post_ops_t po, const dfd_act *a);

#endif
