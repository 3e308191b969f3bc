// Trainable parameters as the optimisers and checkpoints see them: a named float array, its
// gradient beside it, a group (for per-group learning rates) and a frozen flag. Whoever owns the
// weights (a graph being trained, a recurrent layer, a head) hands out dfd_param views of them;
// optimisers update value from grad, checkpoints save and load value by name.
#ifndef DFD_NN_PARAM_H
#define DFD_NN_PARAM_H

#include <stdbool.h>
#include <stddef.h>

#include "dfdetect/nn/tensor.h"

typedef struct dfd_param {
    const char *name; // unique within a model and stable across runs: the checkpoint key
                      // ("backbone/conv1/weight", "head/gru/weight_ih_l0"); owned by the owner
    float *value;     // numel floats, owned by the owner of the weights
    float *grad;      // numel floats: backward passes ADD into it; zeroed by dfd_params_zero_grad
    int rank;         // shape of the value (as a tensor of that shape), for checkpoints
    int shape[DFD_MAX_RANK];
    int group;   // parameter group: optimisers may give each group its own learning rate
    bool frozen; // not updated by optimisers; backward passes may skip its gradient
} dfd_param;

// Elements of a parameter (product of its shape).
size_t dfd_param_numel(const dfd_param *p);

// Set every gradient of the n parameters to zero.
void dfd_params_zero_grad(dfd_param *const *params, size_t n);

#endif
