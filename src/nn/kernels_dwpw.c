// Packing of DWPW and im2col parameters for the AVX-512 kernels. Kept out of the *_avx512.c
// files, which are compiled with -mavx512f: this code also runs (to free) on CPUs without it.
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

// Few input channels (the first layer on RGB) and at most 16 outputs, dilation 1, one group: there
// oneDNN ran FaceMesh's 3 -> 16 first layer 3.5x slower; with 24 or 32 outputs (BlazeFace,
// faceres) it was as fast or faster, and with more input channels its kernels are near peak.
bool nn_im2col_suits(const dfd_node *n, const dfd_tensor *x)
{
    const dfd_window *w = &n->a.conv.win;
    return n->op == DFD_OP_CONV2D && n->a.conv.groups == 1 && x->rank == 4 && x->shape[3] <= 4 &&
           n->weight.rank == 4 && n->weight.shape[3] <= 16 && w->dh == 1 && w->dw == 1 &&
           (n->weight.shape[0] * n->weight.shape[1] * n->weight.shape[2] + 15) / 16 * 16 <=
               NN_IM2COL_MAX_TAPS;
}

nn_dwpw_packed *nn_im2col_pack(const dfd_node *n)
{
    nn_dwpw_packed *p = dfd_calloc(1, sizeof *p);
    if (!p) {
        return NULL;
    }
    p->C = n->weight.shape[0] * n->weight.shape[1] * n->weight.shape[2];
    p->OC = n->weight.shape[3];
    p->CP = (p->C + 15) / 16 * 16;
    p->OCP = (p->OC + 31) / 32 * 32;
    p->block = dfd_aligned_calloc(((size_t)p->C + 2) * (size_t)p->OCP * sizeof(float));
    if (!p->block) {
        dfd_free(p);
        return NULL;
    }
    p->pw_w = p->block;
    p->pw_b = p->pw_w + (size_t)p->C * p->OCP;
    copy_padded(p->pw_w, &n->weight, (size_t)p->C, (size_t)p->OC, (size_t)p->OCP);
    copy_padded(p->pw_b, &n->bias, 1, (size_t)p->OC, (size_t)p->OCP);
    if (n->act.kind == DFD_ACT_PRELU) {
        p->slopes = p->pw_b + p->OCP;
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
