// Packing of DWPW, im2col and firstconv parameters for the AVX-512 kernels. Kept out of the
// *_avx512.c files, which are compiled with -mavx512f: this code also runs (to free) on CPUs
// without it.
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

// Few input channels (the first layer on RGB) and at most 16 outputs, dilation 1, one group
// (kernels of 5x5 and more with at most 24 outputs go to the firstconv kernel first): there
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

// Measured against oneDNN and the im2col kernel (one thread, 5x5 stride 2 on 256x256 unless
// said): 24 outputs 0.37 against 0.43 ms, 16 outputs 0.25 against 0.32, 8 outputs 0.09 against
// 0.20 (192x192), 7x7 with 24 outputs 0.50 against 0.63 (224x224); it loses with 32 or 64
// outputs (whole vectors for oneDNN) and ties or loses with 3x3 kernels (too few taps to pay
// for the split and the transposes).
bool nn_firstconv_suits(const dfd_node *n, const dfd_tensor *x, const dfd_tensor *y)
{
    const dfd_window *w = &n->a.conv.win;
    return n->op == DFD_OP_CONV2D && n->a.conv.groups == 1 && x->rank == 4 && y->rank == 4 &&
           x->shape[3] <= NN_FIRSTCONV_MAX_IC && n->weight.rank == 4 &&
           n->weight.shape[0] * n->weight.shape[1] >= 25 &&
           n->weight.shape[0] <= NN_FIRSTCONV_MAX_K && n->weight.shape[1] <= NN_FIRSTCONV_MAX_K &&
           y->shape[2] <= NN_FIRSTCONV_MAX_OW && y->shape[3] <= NN_FIRSTCONV_MAX_OC &&
           w->sw <= NN_FIRSTCONV_MAX_STRIDE && w->dh == 1 && w->dw == 1;
}

nn_dwpw_packed *nn_firstconv_pack(const dfd_node *n)
{
    nn_dwpw_packed *p = dfd_calloc(1, sizeof *p);
    if (!p) {
        return NULL;
    }
    const int taps = n->weight.shape[0] * n->weight.shape[1] * n->weight.shape[2];
    p->C = taps;
    p->OC = n->weight.shape[3];
    p->CP = taps;
    p->OCP = (p->OC + 15) / 16 * 16;
    const int OCP8 = (p->OC + 7) / 8 * 8;
    p->block = dfd_aligned_calloc(((size_t)taps * OCP8 + 2 * (size_t)p->OCP) * sizeof(float));
    if (!p->block) {
        dfd_free(p);
        return NULL;
    }
    p->pw_b = p->block;
    p->slopes = n->act.kind == DFD_ACT_PRELU ? p->pw_b + p->OCP : NULL;
    p->pw_w = p->pw_b + 2 * (size_t)p->OCP;
    for (int t = 0; t < taps; t++) {
        for (int o = 0; o < p->OC; o++) {
            p->pw_w[((size_t)(o / 8) * taps + t) * 8 + o % 8] =
                n->weight.data[(size_t)t * p->OC + o];
        }
    }
    copy_padded(p->pw_b, &n->bias, 1, (size_t)p->OC, (size_t)p->OCP);
    if (p->slopes) {
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
