// Packing of DWPW parameters for the fused AVX-512 kernel. Kept out of kernels_dwpw_avx512.c,
// which is compiled with -mavx512f: this code also runs (to free) on CPUs without AVX-512.
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "nn_internal.h"

static void copy_padded(float *dst, const dfd_tensor *src, size_t rows, size_t cols, size_t padded)
{
    for (size_t r = 0; r < rows; r++) {
        if (src->rank) {
            memcpy(dst + r * padded, src->data + r * cols, cols * sizeof(float));
        }
    }
}

nn_dwpw_packed *nn_dwpw_pack(const dfd_node *n)
{
    nn_dwpw_packed *p = dfd_calloc(1, sizeof *p);
    if (!p) {
        return NULL;
    }
    const int taps = n->weight2.shape[0] * n->weight2.shape[1];
    p->C = n->weight.shape[2];
    p->OC = n->weight.shape[3];
    p->CP = (p->C + 15) / 16 * 16;
    p->OCP = (p->OC + 31) / 32 * 32;
    size_t floats = (size_t)taps * p->CP + p->CP + (size_t)p->C * p->OCP + 2 * (size_t)p->OCP;
    p->block = dfd_aligned_calloc(floats * sizeof(float));
    if (!p->block) {
        dfd_free(p);
        return NULL;
    }
    float *at = p->block;
    p->dw_w = at;
    at += (size_t)taps * p->CP;
    p->dw_b = at;
    at += p->CP;
    p->pw_w = at;
    at += (size_t)p->C * p->OCP;
    p->pw_b = at;
    at += p->OCP;
    copy_padded(p->dw_w, &n->weight2, (size_t)taps, (size_t)p->C, (size_t)p->CP);
    copy_padded(p->dw_b, &n->bias2, 1, (size_t)p->C, (size_t)p->CP);
    copy_padded(p->pw_w, &n->weight, (size_t)p->C, (size_t)p->OC, (size_t)p->OCP);
    copy_padded(p->pw_b, &n->bias, 1, (size_t)p->OC, (size_t)p->OCP);
    if (n->act.kind == DFD_ACT_PRELU) {
        p->slopes = at;
        copy_padded(p->slopes, &n->alpha, 1, (size_t)p->OC, (size_t)p->OCP);
    }
    return p;
}

void nn_dwpw_packed_free(nn_dwpw_packed *p)
{
    if (p) {
        dfd_aligned_free(p->block);
        dfd_free(p);
    }
}
