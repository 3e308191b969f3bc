// Tensor allocation and small helpers.
#include "dfdetect/nn/tensor.h"

#include <stdio.h>
#include <string.h>

#include "dfdetect/util/alloc.h"

size_t dfd_tensor_numel(const dfd_tensor *t)
{
    if (t->rank <= 0) {
        return 0;
    }
    size_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        n *= (size_t)t->shape[i];
    }
    return n;
}

static dfd_status tensor_alloc(dfd_tensor *t, int rank, const int *shape, bool zero)
{
    memset(t, 0, sizeof *t);
    if (rank < 1 || rank > DFD_MAX_RANK) {
        return DFD_ERR_INVALID;
    }
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 1) {
            return DFD_ERR_INVALID;
        }
        n *= (size_t)shape[i];
        if (n > (size_t)DFD_TENSOR_MAX_NUMEL) {
            return DFD_ERR_LIMIT;
        }
    }
    float *data =
        zero ? dfd_aligned_calloc(n * sizeof(float)) : dfd_aligned_alloc(n * sizeof(float));
    if (!data) {
        return DFD_ERR_NOMEM;
    }
    t->rank = rank;
    for (int i = 0; i < DFD_MAX_RANK; i++) {
        t->shape[i] = i < rank ? shape[i] : 1;
    }
    t->data = data;
    return DFD_OK;
}

dfd_status dfd_tensor_alloc(dfd_tensor *t, int rank, const int *shape)
{
    return tensor_alloc(t, rank, shape, true);
}

dfd_status dfd_tensor_alloc_uninit(dfd_tensor *t, int rank, const int *shape)
{
    return tensor_alloc(t, rank, shape, false);
}

void dfd_tensor_free(dfd_tensor *t)
{
    if (!t) {
        return;
    }
    dfd_aligned_free(t->data);
    memset(t, 0, sizeof *t);
}

dfd_status dfd_tensor_copy(dfd_tensor *dst, const dfd_tensor *src)
{
    dfd_status st = dfd_tensor_alloc_uninit(dst, src->rank, src->shape);
    if (st == DFD_OK) {
        memcpy(dst->data, src->data, dfd_tensor_numel(src) * sizeof(float));
    }
    return st;
}

bool dfd_tensor_same_shape(const dfd_tensor *a, const dfd_tensor *b)
{
    if (a->rank != b->rank) {
        return false;
    }
    for (int i = 0; i < a->rank; i++) {
        if (a->shape[i] != b->shape[i]) {
            return false;
        }
    }
    return true;
}

char *dfd_shape_str(char *buf, size_t n, int rank, const int *shape)
{
    size_t k = 0;
    int w = snprintf(buf, n, "[");
    k = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < rank && k < n; i++) {
        w = snprintf(buf + k, n - k, i ? ", %d" : "%d", shape[i]);
        k += w > 0 ? (size_t)w : 0;
    }
    if (k < n) {
        snprintf(buf + k, n - k, "]");
    }
    return buf;
}
