// A fully connected layer for the small heads that sit outside a graph (the detector's frame and
// sequence heads): y = x W^T + b over a batch of rows, with the weight laid out as PyTorch's
// nn.Linear ([out, in]) so checkpoints map 1:1. Backward ADDS into the parameters' gradients
// (unless frozen) and into the input gradient, like every backward in nn/.
#ifndef DFD_NN_LINEAR_H
#define DFD_NN_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/nn/param.h"
#include "dfdetect/util/status.h"

typedef struct dfd_linear {
    int in, out;
    dfd_param weight; // "<prefix>/weight" [out, in]
    dfd_param bias;   // "<prefix>/bias" [out]
    char *names;      // storage of the two names
} dfd_linear;

// Allocate a layer named `prefix` with PyTorch's default initialisation (weight and bias uniform
// in [-1/sqrt(in), 1/sqrt(in)], from our own generator: a function of `seed` only) and zero
// gradients. Errors: DFD_ERR_INVALID (a size outside 1..1<<20), DFD_ERR_NOMEM.
dfd_status dfd_linear_init(dfd_linear *l, const char *prefix, int in, int out, uint64_t seed,
                           dfd_error *err);
void dfd_linear_free(dfd_linear *l); // accepts a zeroed or freed layer

// y[n][out] = x[n][in] W^T + b.
void dfd_linear_forward(float *y, const dfd_linear *l, const float *x, size_t n);

// Given dy[n][out] for the forward on x[n][in]: adds dW and db (when not frozen) and, when dx is
// not NULL, dx[n][in] += dy W.
void dfd_linear_backward(float *dx, dfd_linear *l, const float *x, const float *dy, size_t n);

#endif
