// Reference backward kernels: the gradient of every trainable op, in plain C, written to be
// obviously right. Autograd (autograd.c) runs them in reverse topological order; the fast
// oneDNN backward (kernels_dnnl_backward.c) is tested against them, and they are tested against
// finite differences (tests/nn/test_autograd.c).
//
// Conventions (nn_internal.h): a->dout is the gradient of the node's output; din[k] receives the
// gradient of input k (added when din_acc[k], else overwritten), written in input order, then
// dresidual; parameter gradients are always added. Every reduction over the batch runs in a
// fixed order (threads own disjoint outputs), so results do not depend on the thread count.
#include <float.h>
#include <math.h>
#include <string.h>

#include "nn_internal.h"

#define BLOCK 256

// Prepare a gradient that is about to be accumulated into: zero it unless adding was asked for.
static float *grad_begin(dfd_tensor *d, bool acc)
{
    if (d && !acc) {
        memset(d->data, 0, dfd_tensor_numel(d) * sizeof(float));
    }
    return d ? d->data : NULL;
}

// d (+)= s over n elements.
static void grad_add(float *d, const float *s, size_t n, bool acc, int n_threads)
{
    if (!acc) {
        memcpy(d, s, n * sizeof(float));
        return;
    }
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        d[i] += s[i];
    }
}

// ---- activations ----

bool nn_act_needs_pre(const dfd_act *act)
{
    switch (act->kind) {
    case DFD_ACT_PRELU:
        return true;
    case DFD_ACT_LEAKY_RELU:
    case DFD_ACT_ELU:
        return !(act->alpha > 0); // the sign of the output no longer tells the input's
    default:
        return false;
    }
}

// ReLU and clip (ReLU6), the activations of every MobileNet layer, pass the gradient where the
// value lies inside their window and block it elsewhere. Written as a multiply by the window's
// 0/1 indicator, not a select: about half the units of a layer are off, in no pattern a branch
// predictor can follow, and the select compiled to branches ran 10x slower; the multiply also
// vectorises (the pass is then memory-bound). dx may be dy (in place).
static void window_grad(float *dx, bool acc, const float *dy, const float *v, size_t n, float lo,
                        float hi, int n_threads)
{
    if (acc) {
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n >= NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            dx[i] += dy[i] * (float)((v[i] > lo) & (v[i] < hi));
        }
    } else {
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n >= NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            dx[i] = dy[i] * (float)((v[i] > lo) & (v[i] < hi));
        }
    }
}

// dx[i] (+)= dy[i] * act'(.) for n elements whose channel is i % c. x is the activation's input
// when known (NULL: derive the derivative from the output y, which nn_act_needs_pre allows).
// PReLU adds the slopes' gradient to dslopes (when not NULL), summed in element order.
// dx may be dy's own memory (the gradient computed in place).
static void act_grad(float *dx, bool acc, const float *dy, const float *x, const float *y, size_t n,
                     int c, const dfd_act *act, const float *slopes, float *dslopes, int n_threads)
{
    const dfd_act_kind k = act->kind;
    if (k == DFD_ACT_RELU || k == DFD_ACT_CLIP) {
        // ReLU's window is (0, +inf): a value that overflowed to +inf gets no gradient.
        const float lo = k == DFD_ACT_CLIP ? act->lo : 0.0f;
        const float hi = k == DFD_ACT_CLIP ? act->hi : (float)INFINITY;
        window_grad(dx, acc, dy, x ? x : y, n, lo, hi, n_threads);
        return;
    }
    // The slopes' gradient first: dx may be dy's memory.
    if (k == DFD_ACT_PRELU && dslopes) {
        for (size_t i = 0; i < n; i++) {
            if (x[i] < 0) {
                dslopes[i % (size_t)c] += dy[i] * x[i];
            }
        }
    }
#pragma omp parallel for num_threads(n_threads) schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float d;
        switch (k) {
        case DFD_ACT_LEAKY_RELU:
            d = (x ? x[i] : y[i]) < 0 ? act->alpha : 1.0f;
            break;
        case DFD_ACT_PRELU:
            d = x[i] < 0 ? slopes[i % (size_t)c] : 1.0f;
            break;
        case DFD_ACT_ELU:
            if (x) {
                d = x[i] < 0 ? act->alpha * (float)exp((double)x[i]) : 1.0f;
            } else {
                d = y[i] < 0 ? y[i] + act->alpha : 1.0f;
            }
            break;
        case DFD_ACT_SIGMOID:
            d = y[i] * (1.0f - y[i]);
            break;
        case DFD_ACT_TANH:
            d = 1.0f - y[i] * y[i];
            break;
        default:
            d = 1.0f;
            break;
        }
        dx[i] = (acc ? dx[i] : 0.0f) + dy[i] * d;
    }
}

void nn_act_backward_ref(const nn_args *a)
{
    if (!a->din[0]) {
        // Only the slopes' gradient is wanted.
        if (a->node->act.kind == DFD_ACT_PRELU && a->dalpha) {
            const int c = a->out->shape[a->out->rank - 1];
            const size_t n = dfd_tensor_numel(a->out);
            const float *x = a->in[0]->data, *dy = a->dout->data;
            for (size_t i = 0; i < n; i++) {
                if (x[i] < 0) {
                    a->dalpha[i % (size_t)c] += dy[i] * x[i];
                }
            }
        }
        return;
    }
    const int c = a->out->shape[a->out->rank - 1];
    act_grad(a->din[0]->data, a->din_acc[0], a->dout->data, a->in[0]->data, a->out->data,
             dfd_tensor_numel(a->out), c, &a->node->act, a->node->alpha.data, a->dalpha,
             a->n_threads);
}

// ---- conv2d / matmul epilogue: y = act(product + bias + residual) ----

const float *nn_epilogue_backward(const nn_args *a)
{
    const dfd_node *n = a->node;
    if (n->act.kind == DFD_ACT_NONE) {
        return a->dout->data;
    }
    const dfd_tensor *y = a->out;
    const int c = y->shape[y->rank - 1];
    float *dz = a->dz ? a->dz : a->scratch;
    act_grad(dz, false, a->dout->data, a->pre ? a->pre->data : NULL, y->data, dfd_tensor_numel(y),
             c, &n->act, n->alpha.data, a->dalpha, a->n_threads);
    return dz;
}

void nn_residual_backward(const nn_args *a, const float *dz)
{
    if (a->dresidual) {
        grad_add(a->dresidual->data, dz, dfd_tensor_numel(a->dresidual), a->dresidual_acc,
                 a->n_threads);
    }
}

void nn_bias_backward(float *dbias, const float *dz, size_t rows, int oc, int n_threads)
{
    // Threads split the channels in runs of one cache line; each walks every row.
    enum {
        RUN = 16
    };
    const int runs = (oc + RUN - 1) / RUN;
#pragma omp parallel for num_threads(n_threads) \
    schedule(static) if (rows * (size_t)oc >= NN_PAR_MIN)
    for (int k = 0; k < runs; k++) {
        const int o0 = k * RUN, nb = oc - o0 < RUN ? oc - o0 : RUN;
        double acc[RUN] = { 0 };
        for (size_t r = 0; r < rows; r++) {
            const float *d = dz + r * (size_t)oc + o0;
            for (int o = 0; o < nb; o++) {
                acc[o] += (double)d[o];
            }
        }
        for (int o = 0; o < nb; o++) {
            dbias[o0 + o] += (float)acc[o];
        }
    }
}

// ---- conv2d ----
// x: (N, H, W, IC)   weight: (KH, KW, IC/G, OC)   dz: (N, OH, OW, OC)
// dweight[ky,kx,ic,oc] = sum over b,oy,ox of x[b, iy, ix, g*ICG + ic] * dz[b, oy, ox, oc]
// dx[b,iy,ix,g*ICG+ic] = sum over ky,kx (hitting an output) and oc of group g of dz * weight

static void conv2d_dweight(const nn_args *a, const float *dz)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0];
    const dfd_window *w = &n->a.conv.win;
    const int N = x->shape[0], H = x->shape[1], W = x->shape[2], IC = x->shape[3];
    const int OH = a->out->shape[1], OW = a->out->shape[2], OC = a->out->shape[3];
    const int G = n->a.conv.groups, ICG = IC / G, OCG = OC / G;
    const int tasks = w->kh * w->kw * ICG;
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (int t = 0; t < tasks; t++) {
        const int ic = t % ICG, kx = t / ICG % w->kw, ky = t / ICG / w->kw;
        double acc[BLOCK];
        float *dw = a->dweight + (size_t)t * OC;
        for (int o0 = 0; o0 < OC; o0 += BLOCK) {
            const int nb = OC - o0 < BLOCK ? OC - o0 : BLOCK;
            for (int o = 0; o < nb; o++) {
                acc[o] = 0;
            }
            for (int b = 0; b < N; b++) {
                for (int oy = 0; oy < OH; oy++) {
                    const int iy = oy * w->sh - w->pads[0] + ky * w->dh;
                    if (iy < 0 || iy >= H) {
                        continue;
                    }
                    for (int ox = 0; ox < OW; ox++) {
                        const int ix = ox * w->sw - w->pads[2] + kx * w->dw;
                        if (ix < 0 || ix >= W) {
                            continue;
                        }
                        const float *xp = x->data + (((size_t)b * H + iy) * W + ix) * IC + ic;
                        const float *d = dz + (((size_t)b * OH + oy) * OW + ox) * OC + o0;
                        for (int o = 0; o < nb; o++) {
                            const int g = (o0 + o) / OCG;
                            acc[o] += (double)xp[(size_t)g * ICG] * (double)d[o];
                        }
                    }
                }
            }
            for (int o = 0; o < nb; o++) {
                dw[o0 + o] += (float)acc[o];
            }
        }
    }
}

static void conv2d_dx(const nn_args *a, const float *dz)
{
    const dfd_node *n = a->node;
    const dfd_window *w = &n->a.conv.win;
    const float *wt = n->weight.data;
    dfd_tensor *dx = a->din[0];
    const int N = dx->shape[0], H = dx->shape[1], W = dx->shape[2], IC = dx->shape[3];
    const int OH = a->out->shape[1], OW = a->out->shape[2], OC = a->out->shape[3];
    const int G = n->a.conv.groups, ICG = IC / G, OCG = OC / G;
    const bool acc_in = a->din_acc[0];
    const long rows = (long)N * H;
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (long r = 0; r < rows; r++) {
        const int b = (int)(r / H), iy = (int)(r % H);
        double acc[BLOCK];
        for (int ix = 0; ix < W; ix++) {
            float *out = dx->data + (((size_t)b * H + iy) * W + ix) * IC;
            for (int c0 = 0; c0 < IC; c0 += BLOCK) {
                const int nb = IC - c0 < BLOCK ? IC - c0 : BLOCK;
                for (int c = 0; c < nb; c++) {
                    acc[c] = 0;
                }
                for (int ky = 0; ky < w->kh; ky++) {
                    // iy = oy * sh - pad_top + ky * dh  =>  oy = (iy + pad_top - ky * dh) / sh
                    const int ty = iy + w->pads[0] - ky * w->dh;
                    if (ty < 0 || ty % w->sh || ty / w->sh >= OH) {
                        continue;
                    }
                    const int oy = ty / w->sh;
                    for (int kx = 0; kx < w->kw; kx++) {
                        const int tx = ix + w->pads[2] - kx * w->dw;
                        if (tx < 0 || tx % w->sw || tx / w->sw >= OW) {
                            continue;
                        }
                        const int ox = tx / w->sw;
                        const float *d = dz + (((size_t)b * OH + oy) * OW + ox) * OC;
                        const float *wk = wt + ((size_t)ky * w->kw + kx) * ICG * OC;
                        for (int c = 0; c < nb; c++) {
                            const int ch = c0 + c, g = ch / ICG, ic = ch % ICG;
                            const float *wr = wk + (size_t)ic * OC + (size_t)g * OCG;
                            const float *dg = d + (size_t)g * OCG;
                            double s = 0;
                            for (int o = 0; o < OCG; o++) {
                                s += (double)dg[o] * (double)wr[o];
                            }
                            acc[c] += s;
                        }
                    }
                }
                for (int c = 0; c < nb; c++) {
                    out[c0 + c] = (acc_in ? out[c0 + c] : 0.0f) + (float)acc[c];
                }
            }
        }
    }
}

void nn_conv2d_backward_ref(const nn_args *a)
{
    const float *dz = nn_epilogue_backward(a);
    const dfd_tensor *y = a->out;
    const int OC = y->shape[3];
    if (a->dbias) {
        nn_bias_backward(a->dbias, dz, dfd_tensor_numel(y) / (size_t)OC, OC, a->n_threads);
    }
    if (a->dweight) {
        conv2d_dweight(a, dz);
    }
    if (a->din[0]) {
        conv2d_dx(a, dz);
    }
    nn_residual_backward(a, dz);
}

// ---- matmul ----
// x: (M, K)   weight: (K, OC)   dz: (M, OC)

void nn_matmul_backward_ref(const nn_args *a)
{
    const float *dz = nn_epilogue_backward(a);
    const dfd_tensor *x = a->in[0];
    const float *wt = a->node->weight.data;
    const int M = x->shape[0], K = x->shape[1], OC = a->out->shape[1];
    if (a->dbias) {
        nn_bias_backward(a->dbias, dz, (size_t)M, OC, a->n_threads);
    }
    if (a->dweight) {
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
        for (int k = 0; k < K; k++) {
            for (int o = 0; o < OC; o++) {
                double s = 0;
                for (int m = 0; m < M; m++) {
                    s += (double)x->data[(size_t)m * K + k] * (double)dz[(size_t)m * OC + o];
                }
                a->dweight[(size_t)k * OC + o] += (float)s;
            }
        }
    }
    if (a->din[0]) {
        float *dx = a->din[0]->data;
        const bool acc = a->din_acc[0];
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
        for (int m = 0; m < M; m++) {
            for (int k = 0; k < K; k++) {
                double s = 0;
                for (int o = 0; o < OC; o++) {
                    s += (double)dz[(size_t)m * OC + o] * (double)wt[(size_t)k * OC + o];
                }
                float *d = dx + (size_t)m * K + k;
                *d = (acc ? *d : 0.0f) + (float)s;
            }
        }
    }
    nn_residual_backward(a, dz);
}

// ---- element-wise binary with broadcasting ----

// Gradient of z = op(x, y) with respect to operand `which` (0: x, 1: y) at one element.
// Maximum/minimum send the gradient to the operand that won (NaN wins, as in the forward), and
// split it evenly on a tie.
static float binary_grad(dfd_op op, int which, float x, float y, float dz)
{
    switch (op) {
    case DFD_OP_ADD:
        return dz;
    case DFD_OP_SUB:
        return which ? -dz : dz;
    case DFD_OP_MUL:
        return which ? dz * x : dz * y;
    case DFD_OP_MAXIMUM:
    case DFD_OP_MINIMUM: {
        if (x == y) {
            return 0.5f * dz;
        }
        bool x_wins = (op == DFD_OP_MAXIMUM ? x > y : x < y) || x != x;
        return (x_wins == (which == 0)) ? dz : 0.0f;
    }
    default:
        return 0;
    }
}

void nn_binary_backward_ref(const nn_args *a)
{
    const dfd_tensor *x = a->in[0], *y = a->in[1], *o = a->out;
    const int r = o->rank;
    int os[DFD_MAX_RANK] = { 1, 1, 1, 1 };
    for (int i = 0; i < r; i++) {
        os[i] = o->shape[i];
    }
    long st[2][DFD_MAX_RANK] = { { 0 } };
    nn_broadcast_strides(st[0], x, os, r);
    nn_broadcast_strides(st[1], y, os, r);
    const size_t total = dfd_tensor_numel(o);
    const dfd_op op = a->node->op;
    // One pass per operand, in input order (the two may be the same value).
    for (int k = 0; k < 2; k++) {
        float *d = grad_begin(a->din[k], a->din_acc[k]);
        if (!d) {
            continue;
        }
        // Walk the output in order with an odometer over its dimensions; the sum into a
        // broadcast element therefore runs in output order.
        int idx[DFD_MAX_RANK] = { 0, 0, 0, 0 };
        long ox = 0, oy = 0;
        for (size_t i = 0; i < total; i++) {
            d[k ? oy : ox] += binary_grad(op, k, x->data[ox], y->data[oy], a->dout->data[i]);
            for (int j = r - 1; j >= 0; j--) {
                ox += st[0][j];
                oy += st[1][j];
                if (++idx[j] < os[j]) {
                    break;
                }
                ox -= st[0][j] * os[j];
                oy -= st[1][j] * os[j];
                idx[j] = 0;
            }
        }
    }
}

// ---- softmax over the last axis: dx = y * (dy - sum(dy * y)) ----

void nn_softmax_backward_ref(const nn_args *a)
{
    if (!a->din[0]) {
        return;
    }
    const int c = a->out->shape[a->out->rank - 1];
    const long rows = (long)(dfd_tensor_numel(a->out) / (size_t)c);
    const bool acc = a->din_acc[0];
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (long r = 0; r < rows; r++) {
        const float *y = a->out->data + r * c, *dy = a->dout->data + r * c;
        float *dx = a->din[0]->data + r * c;
        double dot = 0;
        for (int k = 0; k < c; k++) {
            dot += (double)dy[k] * (double)y[k];
        }
        for (int k = 0; k < c; k++) {
            dx[k] = (acc ? dx[k] : 0.0f) + (float)((double)y[k] * ((double)dy[k] - dot));
        }
    }
}

// ---- pooling ----
// Max: the gradient goes to the cell the forward picked (the first strict maximum in window
// order). Average: spread over the real cells of the window (TF: padding is not counted).

void nn_pool_backward_ref(const nn_args *a)
{
    float *dxd = grad_begin(a->din[0], a->din_acc[0]);
    if (!dxd) {
        return;
    }
    const dfd_tensor *x = a->in[0];
    const dfd_window *w = &a->node->a.pool;
    const bool is_max = a->node->op == DFD_OP_MAXPOOL;
    const int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    const int OH = a->out->shape[1], OW = a->out->shape[2];
    // Windows overlap, so threads split the batch: each item's gradient is one thread's.
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (int b = 0; b < N; b++) {
        for (int oy = 0; oy < OH; oy++) {
            const int y0 = oy * w->sh - w->pads[0];
            const int ylo = y0 < 0 ? 0 : y0, yhi = y0 + w->kh < H ? y0 + w->kh : H;
            for (int ox = 0; ox < OW; ox++) {
                const int x0 = ox * w->sw - w->pads[2];
                const int xlo = x0 < 0 ? 0 : x0, xhi = x0 + w->kw < W ? x0 + w->kw : W;
                const float *dy = a->dout->data + (((size_t)b * OH + oy) * OW + ox) * C;
                const int count = (yhi - ylo) * (xhi - xlo);
                for (int c = 0; c < C; c++) {
                    if (!is_max) {
                        const float g = count > 0 ? dy[c] / (float)count : 0.0f;
                        for (int iy = ylo; iy < yhi; iy++) {
                            for (int ix = xlo; ix < xhi; ix++) {
                                dxd[(((size_t)b * H + iy) * W + ix) * C + c] += g;
                            }
                        }
                        continue;
                    }
                    float best = -FLT_MAX;
                    size_t at = (size_t)-1;
                    for (int iy = ylo; iy < yhi; iy++) {
                        for (int ix = xlo; ix < xhi; ix++) {
                            size_t i = (((size_t)b * H + iy) * W + ix) * C + c;
                            if (x->data[i] > best) {
                                best = x->data[i];
                                at = i;
                            }
                        }
                    }
                    if (at != (size_t)-1) {
                        dxd[at] += dy[c];
                    }
                }
            }
        }
    }
}

// ---- layout ops ----

// Pad: the gradient of the input is the matching window of the output's gradient.
void nn_pad_backward_ref(const nn_args *a)
{
    if (!a->din[0]) {
        return;
    }
    const dfd_tensor *dy = a->dout;
    dfd_tensor *dx = a->din[0];
    int xs[4] = { 1, 1, 1, 1 }, ys[4] = { 1, 1, 1, 1 }, bf[4] = { 0, 0, 0, 0 };
    const int off = 4 - dx->rank; // right-align to rank 4
    for (int i = 0; i < dx->rank; i++) {
        xs[off + i] = dx->shape[i];
        ys[off + i] = dy->shape[i];
        bf[off + i] = a->node->a.pad.before[i];
    }
    const long rows = (long)xs[0] * xs[1] * xs[2];
    const bool acc = a->din_acc[0];
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (long r = 0; r < rows; r++) {
        int i2 = (int)(r % xs[2]), i1 = (int)(r / xs[2] % xs[1]), i0 = (int)(r / xs[2] / xs[1]);
        float *d = dx->data + (size_t)r * xs[3];
        const float *s =
            dy->data +
            ((((size_t)(i0 + bf[0]) * ys[1] + i1 + bf[1]) * ys[2] + i2 + bf[2]) * ys[3] + bf[3]);
        for (int k = 0; k < xs[3]; k++) {
            d[k] = (acc ? d[k] : 0.0f) + s[k];
        }
    }
}

void nn_reshape_backward_ref(const nn_args *a)
{
    if (a->din[0] && a->din[0]->data != a->dout->data) {
        grad_add(a->din[0]->data, a->dout->data, dfd_tensor_numel(a->din[0]), a->din_acc[0],
                 a->n_threads);
    }
}

// Mean over H and W: every cell gets dy / (H * W).
void nn_mean_backward_ref(const nn_args *a)
{
    if (!a->din[0]) {
        return;
    }
    dfd_tensor *dx = a->din[0];
    const int N = dx->shape[0], HW = dx->shape[1] * dx->shape[2], C = dx->shape[3];
    const bool acc = a->din_acc[0];
    const float inv = 1.0f / (float)HW;
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (int b = 0; b < N; b++) {
        const float *dy = a->dout->data + (size_t)b * C;
        for (int p = 0; p < HW; p++) {
            float *d = dx->data + ((size_t)b * HW + p) * C;
            for (int c = 0; c < C; c++) {
                d[c] = (acc ? d[c] : 0.0f) + dy[c] * inv;
            }
        }
    }
}

// Concat: each input's gradient is its slice of the output's gradient.
void nn_concat_backward_ref(const nn_args *a)
{
    const int axis = a->node->a.concat.axis;
    const dfd_tensor *y = a->out;
    long outer, inner;
    nn_concat_geometry(&outer, &inner, y, axis);
    const long y_row = (long)y->shape[axis] * inner;
    long at = 0;
    for (int k = 0; k < a->n_in; k++) {
        const long x_row = (long)a->in[k]->shape[axis] * inner;
        if (a->din[k]) {
            for (long o = 0; o < outer; o++) {
                grad_add(a->din[k]->data + o * x_row, a->dout->data + o * y_row + at, (size_t)x_row,
                         a->din_acc[k], 1);
            }
        }
        at += x_row;
    }
}

// ---- training-time ops ----

void nn_dropout_backward_ref(const nn_args *a)
{
    if (!a->din[0]) {
        return;
    }
    const size_t n = dfd_tensor_numel(a->out);
    const float rate = a->node->a.dropout.rate;
    if (!a->is_training || rate == 0) {
        grad_add(a->din[0]->data, a->dout->data, n, a->din_acc[0], a->n_threads);
        return;
    }
    const float scale = 1.0f / (1.0f - rate), *dy = a->dout->data;
    float *dx = a->din[0]->data;
    const bool acc = a->din_acc[0];
    for (size_t i = 0; i < n; i++) {
        float g = nn_dropout_keep(a->seed, i, rate) ? dy[i] * scale : 0.0f;
        dx[i] = (acc ? dx[i] : 0.0f) + g;
    }
}

// x: (M, C). With xhat = (x - mean) * istd and sums over the M rows:
//   dbeta = sum dy    dgamma = sum dy * xhat
//   training:  dx = gamma * istd * (dy - dbeta / M - xhat * dgamma / M)  (the statistics depend
//              on x)
//   inference: dx = gamma * istd * dy  (running statistics are constants)
void nn_batchnorm_backward_ref(const nn_args *a)
{
    const dfd_node *n = a->node;
    const int C = a->out->shape[a->out->rank - 1];
    const size_t M = dfd_tensor_numel(a->out) / (size_t)C;
    const float *x = a->in[0]->data, *dy = a->dout->data;
    float *dx = grad_begin(a->din[0], a->din_acc[0]);
    for (int c = 0; c < C; c++) {
        double mu, is;
        if (a->is_training) {
            mu = (double)a->stats[c];
            is = (double)a->stats[C + c];
        } else {
            mu = (double)n->running_mean.data[c];
            is = 1.0 / sqrt((double)n->running_var.data[c] + (double)n->a.bn.eps);
        }
        double sum_dy = 0, sum_dy_xhat = 0;
        for (size_t r = 0; r < M; r++) {
            double g = (double)dy[r * C + c];
            sum_dy += g;
            sum_dy_xhat += g * ((double)x[r * C + c] - mu) * is;
        }
        if (a->dbias) {
            a->dbias[c] += (float)sum_dy;
        }
        if (a->dweight) {
            a->dweight[c] += (float)sum_dy_xhat;
        }
        if (!dx) {
            continue;
        }
        const double gis = (double)n->weight.data[c] * is;
        for (size_t r = 0; r < M; r++) {
            double g = (double)dy[r * C + c];
            if (a->is_training) {
                double xhat = ((double)x[r * C + c] - mu) * is;
                g -= (sum_dy + xhat * sum_dy_xhat) / (double)M;
            }
            dx[r * C + c] += (float)(gis * g);
        }
    }
}
