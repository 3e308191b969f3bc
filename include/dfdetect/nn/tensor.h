// Tensors: dense float32 arrays of rank 1..4, row-major, images in NHWC. The transparent struct
// is what kernels read; whether it owns its data is said where it is made (dfd_tensor_alloc owns,
// a struct pointing into an arena or another tensor does not).
//
// Shape letters used across nn/ (STYLE.md §5): N batch, H height, W width, C channels,
// T time, K kernel size, OC output channels, IC input channels, G groups.
#ifndef DFD_NN_TENSOR_H
#define DFD_NN_TENSOR_H

#include <stdbool.h>
#include <stddef.h>

#include "dfdetect/util/status.h"

#define DFD_MAX_RANK 4

// Largest element count of one tensor: 2^31 - 1, so indices fit in int and bytes in size_t.
#define DFD_TENSOR_MAX_NUMEL 2147483647L

typedef struct dfd_tensor {
    int rank;                // 0 means empty (no data)
    int shape[DFD_MAX_RANK]; // shape[0..rank); unused entries are 1
    float *data;             // rank > 0: numel floats, 64-byte aligned when allocated here
} dfd_tensor;

// Number of elements (product of the shape; 0 for an empty tensor).
size_t dfd_tensor_numel(const dfd_tensor *t);

// Allocate (zeroed, 64-byte aligned). *t is overwritten. Errors: DFD_ERR_INVALID (rank outside
// 1..4, a dimension < 1), DFD_ERR_LIMIT (more than DFD_TENSOR_MAX_NUMEL elements), DFD_ERR_NOMEM.
dfd_status dfd_tensor_alloc(dfd_tensor *t, int rank, const int *shape);
// As dfd_tensor_alloc, with the contents left unspecified: for a tensor about to be written
// whole (a model's weights as they are read), where zeroing first costs a pass over it.
dfd_status dfd_tensor_alloc_uninit(dfd_tensor *t, int rank, const int *shape);

// Free an owning tensor and reset it to empty. Accepts NULL and empty tensors.
void dfd_tensor_free(dfd_tensor *t);

// Allocates *dst as a copy of src. Errors as dfd_tensor_alloc.
dfd_status dfd_tensor_copy(dfd_tensor *dst, const dfd_tensor *src);

// Same rank and dimensions.
bool dfd_tensor_same_shape(const dfd_tensor *a, const dfd_tensor *b);

// Format a shape as "[1, 224, 224, 3]" into buf (always NUL-terminated); returns buf.
char *dfd_shape_str(char *buf, size_t n, int rank, const int *shape);

#endif
