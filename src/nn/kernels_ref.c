// Reference kernels: straightforward C for every op, written to be obviously right (TensorFlow /
// TF.js semantics) rather than fast. Every fast kernel is tested against these. Loops run in
// parallel over independent output rows with OpenMP when it is enabled; each thread writes its
// own rows and every sum runs in a fixed order, so results do not depend on the thread count.
#include <float.h>
#include <math.h>
#include <string.h>

#include "nn_internal.h"

// ---- activations ----

void nn_act_apply(float *x, size_t n, int c, const dfd_act *act, const float *slopes)
{
    switch (act->kind) {
    case DFD_ACT_NONE:
    case DFD_ACT_COUNT:
        return;
    case DFD_ACT_RELU:
        for (size_t i = 0; i < n; i++) {
            x[i] = x[i] > 0 ? x[i] : 0;
        }
        return;
    case DFD_ACT_CLIP:
        for (size_t i = 0; i < n; i++) {
            x[i] = fminf(fmaxf(x[i], act->lo), act->hi);
        }
        return;
    case DFD_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) {
            x[i] = x[i] < 0 ? act->alpha * x[i] : x[i];
        }
        return;
    case DFD_ACT_PRELU:
        for (size_t i = 0; i < n; i++) {
            x[i] = x[i] < 0 ? slopes[i % (size_t)c] * x[i] : x[i];
        }
        return;
    case DFD_ACT_ELU:
        for (size_t i = 0; i < n; i++) {
            x[i] = x[i] < 0 ? act->alpha * (float)expm1((double)x[i]) : x[i];
        }
        return;
    case DFD_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) {
            x[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
        }
        return;
    case DFD_ACT_TANH:
        for (size_t i = 0; i < n; i++) {
            x[i] = (float)tanh((double)x[i]);
        }
        return;
    }
}

// ---- conv2d ----
// x: (N, H, W, IC)   weight: (KH, KW, IC/G, OC)   y: (N, OH, OW, OC)
// The residual may share y's memory (the session writes a conv in place over a skip tensor that
// dies there), so each block of output channels is accumulated in a local buffer and the
// residual is read before y is written.

#define OC_BLOCK 256

static void conv2d_ref(const nn_args *a)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0], *wt = &n->weight;
    dfd_tensor *y = a->out;
    const dfd_window *w = &n->a.conv.win;
    const int N = x->shape[0], H = x->shape[1], W = x->shape[2], IC = x->shape[3];
    const int OH = y->shape[1], OW = y->shape[2], OC = y->shape[3];
    const int G = n->a.conv.groups, ICG = IC / G, OCG = OC / G;
    const long rows = (long)N * OH;
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (long r = 0; r < rows; r++) {
        int b = (int)(r / OH), oy = (int)(r % OH);
        float acc[OC_BLOCK];
        for (int ox = 0; ox < OW; ox++) {
            size_t at = (((size_t)b * OH + oy) * OW + ox) * OC;
            for (int o0 = 0; o0 < OC; o0 += OC_BLOCK) {
                const int nb = OC - o0 < OC_BLOCK ? OC - o0 : OC_BLOCK;
                for (int o = 0; o < nb; o++) {
                    acc[o] = n->bias.rank ? n->bias.data[o0 + o] : 0.0f;
                }
                for (int ky = 0; ky < w->kh; ky++) {
                    int iy = oy * w->sh - w->pads[0] + ky * w->dh;
                    if (iy < 0 || iy >= H) {
                        continue;
                    }
                    for (int kx = 0; kx < w->kw; kx++) {
                        int ix = ox * w->sw - w->pads[2] + kx * w->dw;
                        if (ix < 0 || ix >= W) {
                            continue;
                        }
                        const float *xp = x->data + (((size_t)b * H + iy) * W + ix) * IC;
                        const float *wp = wt->data + ((size_t)ky * w->kw + kx) * ICG * OC;
                        for (int o = 0; o < nb; o++) {
                            const int oc = o0 + o, g = oc / OCG;
                            const float *xg = xp + (size_t)g * ICG;
                            float s = 0;
                            for (int ic = 0; ic < ICG; ic++) {
                                s += xg[ic] * wp[(size_t)ic * OC + oc];
                            }
                            acc[o] += s;
                        }
                    }
                }
                if (a->residual) {
                    const float *res = a->residual->data + at + o0;
                    for (int o = 0; o < nb; o++) {
                        acc[o] += res[o];
                    }
                }
                memcpy(y->data + at + o0, acc, (size_t)nb * sizeof(float));
            }
            nn_act_apply(y->data + at, (size_t)OC, OC, &n->act, n->alpha.data);
        }
    }
}

// ---- dwpw: depthwise then pointwise ----
// x: (N, H, W, C)   weight2: (KH, KW, 1, C)   weight: (1, 1, C, OC)   y: (N, OH, OW, OC)
// Exactly the two convolutions composed, pixel by pixel: the depthwise result of one pixel (all
// C channels) is all the pointwise needs there.

#define DWPW_REF_MAX_C 1024

static void dwpw_ref(const nn_args *a)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0];
    dfd_tensor *y = a->out;
    const dfd_window *w = &n->a.conv.win;
    const int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    const int OH = y->shape[1], OW = y->shape[2], OC = y->shape[3];
    DFD_ASSERT(C <= DWPW_REF_MAX_C);
    const long rows = (long)N * OH;
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (long r = 0; r < rows; r++) {
        int b = (int)(r / OH), oy = (int)(r % OH);
        float d[DWPW_REF_MAX_C], acc[OC_BLOCK];
        for (int ox = 0; ox < OW; ox++) {
            for (int c = 0; c < C; c++) {
                d[c] = n->bias2.rank ? n->bias2.data[c] : 0.0f;
            }
            for (int ky = 0; ky < w->kh; ky++) {
                int iy = oy * w->sh - w->pads[0] + ky * w->dh;
                if (iy < 0 || iy >= H) {
                    continue;
                }
                for (int kx = 0; kx < w->kw; kx++) {
                    int ix = ox * w->sw - w->pads[2] + kx * w->dw;
                    if (ix < 0 || ix >= W) {
                        continue;
                    }
                    const float *xp = x->data + (((size_t)b * H + iy) * W + ix) * C;
                    const float *wp = n->weight2.data + ((size_t)ky * w->kw + kx) * C;
                    for (int c = 0; c < C; c++) {
                        d[c] += xp[c] * wp[c];
                    }
                }
            }
            size_t at = (((size_t)b * OH + oy) * OW + ox) * OC;
            for (int o0 = 0; o0 < OC; o0 += OC_BLOCK) {
                const int nb = OC - o0 < OC_BLOCK ? OC - o0 : OC_BLOCK;
                for (int o = 0; o < nb; o++) {
                    acc[o] = n->bias.rank ? n->bias.data[o0 + o] : 0.0f;
                }
                for (int c = 0; c < C; c++) {
                    const float *wr = n->weight.data + (size_t)c * OC + o0;
                    for (int o = 0; o < nb; o++) {
                        acc[o] += d[c] * wr[o];
                    }
                }
                if (a->residual) {
                    const float *res = a->residual->data + at + o0;
                    for (int o = 0; o < nb; o++) {
                        acc[o] += res[o];
                    }
                }
                memcpy(y->data + at + o0, acc, (size_t)nb * sizeof(float));
            }
            nn_act_apply(y->data + at, (size_t)OC, OC, &n->act, n->alpha.data);
        }
    }
}

// ---- matmul ----
// x: (M, K)   weight: (K, OC)   y: (M, OC); residual handled like conv2d's (may alias y).

static void matmul_ref(const nn_args *a)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0], *wt = &n->weight;
    const int M = x->shape[0], K = x->shape[1], OC = wt->shape[1];
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (int m = 0; m < M; m++) {
        float acc[OC_BLOCK];
        float *y = a->out->data + (size_t)m * OC;
        const float *xr = x->data + (size_t)m * K;
        for (int o0 = 0; o0 < OC; o0 += OC_BLOCK) {
            const int nb = OC - o0 < OC_BLOCK ? OC - o0 : OC_BLOCK;
            for (int o = 0; o < nb; o++) {
                acc[o] = n->bias.rank ? n->bias.data[o0 + o] : 0.0f;
            }
            for (int k = 0; k < K; k++) {
                const float *wr = wt->data + (size_t)k * OC + o0;
                for (int o = 0; o < nb; o++) {
                    acc[o] += xr[k] * wr[o];
                }
            }
            if (a->residual) {
                const float *res = a->residual->data + (size_t)m * OC + o0;
                for (int o = 0; o < nb; o++) {
                    acc[o] += res[o];
                }
            }
            memcpy(y + o0, acc, (size_t)nb * sizeof(float));
        }
        nn_act_apply(y, (size_t)OC, OC, &n->act, n->alpha.data);
    }
}

// ---- element-wise binary with broadcasting ----

void nn_broadcast_strides(long st[DFD_MAX_RANK], const dfd_tensor *t, const int *oshape, int r)
{
    long s = 1;
    for (int i = r - 1; i >= 0; i--) {
        int ti = i - (r - t->rank);
        int d = ti >= 0 ? t->shape[ti] : 1;
        st[i] = (d == 1 && oshape[i] != 1) ? 0 : s;
        s *= d;
    }
}

static float binary_op(dfd_op op, float x, float y)
{
    switch (op) {
    case DFD_OP_ADD:
        return x + y;
    case DFD_OP_SUB:
        return x - y;
    case DFD_OP_MUL:
        return x * y;
    case DFD_OP_MAXIMUM:
        return x > y ? x : (x != x ? x : y); // NaN propagates, as in TF
    case DFD_OP_MINIMUM:
        return x < y ? x : (x != x ? x : y);
    default:
        return 0;
    }
}

static void binary_ref(const nn_args *a)
{
    const dfd_tensor *x = a->in[0], *y = a->in[1];
    dfd_tensor *o = a->out;
    const int r = o->rank;
    int os[DFD_MAX_RANK] = { 1, 1, 1, 1 };
    for (int i = 0; i < r; i++) {
        os[i] = o->shape[i];
    }
    long sx[DFD_MAX_RANK] = { 0 }, sy[DFD_MAX_RANK] = { 0 };
    nn_broadcast_strides(sx, x, os, r);
    nn_broadcast_strides(sy, y, os, r);
    // Walk the output as (outer rows) x (last dimension).
    const int last = os[r - 1];
    long rows = 1;
    for (int i = 0; i < r - 1; i++) {
        rows *= os[i];
    }
    const dfd_op op = a->node->op;
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (long row = 0; row < rows; row++) {
        long rem = row, ox = 0, oy = 0;
        for (int i = r - 2; i >= 0; i--) {
            long idx = rem % os[i];
            rem /= os[i];
            ox += idx * sx[i];
            oy += idx * sy[i];
        }
        float *out = o->data + row * last;
        for (int k = 0; k < last; k++) {
            out[k] = binary_op(op, x->data[ox + k * sx[r - 1]], y->data[oy + k * sy[r - 1]]);
        }
    }
}

// ---- unary ----

static void act_ref(const nn_args *a)
{
    size_t n = dfd_tensor_numel(a->out);
    const int c = a->out->shape[a->out->rank - 1];
    if (a->out->data != a->in[0]->data) {
        memcpy(a->out->data, a->in[0]->data, n * sizeof(float));
    }
    nn_act_apply(a->out->data, n, c, &a->node->act, a->node->alpha.data);
}

static void softmax_ref(const nn_args *a)
{
    const int c = a->out->shape[a->out->rank - 1];
    const long rows = (long)(dfd_tensor_numel(a->out) / (size_t)c);
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (long r = 0; r < rows; r++) {
        const float *x = a->in[0]->data + r * c;
        float *y = a->out->data + r * c;
        float mx = -INFINITY;
        for (int k = 0; k < c; k++) {
            mx = fmaxf(mx, x[k]);
        }
        double sum = 0;
        for (int k = 0; k < c; k++) {
            sum += exp((double)x[k] - (double)mx);
        }
        for (int k = 0; k < c; k++) {
            y[k] = (float)(exp((double)x[k] - (double)mx) / sum);
        }
    }
}

// ---- pooling ----
// x: (N, H, W, C) -> y: (N, OH, OW, C). Padded cells take no part (TF): max ignores them and the
// average divides by the number of real cells in the window.

static void pool_ref(const nn_args *a)
{
    const dfd_tensor *x = a->in[0];
    dfd_tensor *y = a->out;
    const dfd_window *w = &a->node->a.pool;
    const bool is_max = a->node->op == DFD_OP_MAXPOOL;
    const int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    const int OH = y->shape[1], OW = y->shape[2];
    const long rows = (long)N * OH;
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (long r = 0; r < rows; r++) {
        int b = (int)(r / OH), oy = (int)(r % OH);
        for (int ox = 0; ox < OW; ox++) {
            float *out = y->data + (((size_t)b * OH + oy) * OW + ox) * C;
            for (int c = 0; c < C; c++) {
                out[c] = is_max ? -FLT_MAX : 0.0f;
            }
            int count = 0;
            for (int ky = 0; ky < w->kh; ky++) {
                int iy = oy * w->sh - w->pads[0] + ky;
                if (iy < 0 || iy >= H) {
                    continue;
                }
                for (int kx = 0; kx < w->kw; kx++) {
                    int ix = ox * w->sw - w->pads[2] + kx;
                    if (ix < 0 || ix >= W) {
                        continue;
                    }
                    const float *in = x->data + (((size_t)b * H + iy) * W + ix) * C;
                    count++;
                    if (is_max) {
                        for (int c = 0; c < C; c++) {
                            out[c] = in[c] > out[c] ? in[c] : out[c];
                        }
                    } else {
                        for (int c = 0; c < C; c++) {
                            out[c] += in[c];
                        }
                    }
                }
            }
            if (!is_max && count > 0) {
                for (int c = 0; c < C; c++) {
                    out[c] /= (float)count;
                }
            }
        }
    }
}

// ---- layout ops ----

static void fill(float *d, size_t n, float v)
{
    if (v == 0.0f && !signbit(v)) {
        memset(d, 0, n * sizeof(float)); // +0.0f is all zero bits
        return;
    }
    for (size_t i = 0; i < n; i++) {
        d[i] = v;
    }
}

static void pad_ref(const nn_args *a)
{
    const dfd_tensor *x = a->in[0];
    dfd_tensor *y = a->out;
    const dfd_node *n = a->node;
    int xs[4] = { 1, 1, 1, 1 }, ys[4] = { 1, 1, 1, 1 }, bf[4] = { 0, 0, 0, 0 };
    const int off = 4 - x->rank; // right-align to rank 4
    for (int i = 0; i < x->rank; i++) {
        xs[off + i] = x->shape[i];
        ys[off + i] = y->shape[i];
        bf[off + i] = n->a.pad.before[i];
    }
    // Every output element is written once, row by row of the last dimension (the channel pads
    // of BlazeFace's blocks: a copy between two fills), with no division per element.
    const float v = n->a.pad.value;
    const long rows = (long)ys[0] * ys[1];
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (long r = 0; r < rows; r++) {
        const int i0 = (int)(r / ys[1]) - bf[0], i1 = (int)(r % ys[1]) - bf[1];
        const bool row_in = i0 >= 0 && i0 < xs[0] && i1 >= 0 && i1 < xs[1];
        float *dst = y->data + (size_t)r * ys[2] * ys[3];
        for (int o2 = 0; o2 < ys[2]; o2++, dst += ys[3]) {
            const int i2 = o2 - bf[2];
            if (!row_in || i2 < 0 || i2 >= xs[2]) {
                fill(dst, (size_t)ys[3], v);
                continue;
            }
            const float *src = x->data + (((size_t)i0 * xs[1] + i1) * xs[2] + i2) * xs[3];
            fill(dst, (size_t)bf[3], v);
            memcpy(dst + bf[3], src, (size_t)xs[3] * sizeof(float));
            fill(dst + bf[3] + xs[3], (size_t)(ys[3] - bf[3] - xs[3]), v);
        }
    }
}

static void reshape_ref(const nn_args *a)
{
    // A view: the session gives input and output the same storage; copy only if it did not.
    if (a->out->data != a->in[0]->data) {
        memcpy(a->out->data, a->in[0]->data, dfd_tensor_numel(a->out) * sizeof(float));
    }
}

static void mean_ref(const nn_args *a)
{
    const dfd_tensor *x = a->in[0];
    const int N = x->shape[0], HW = x->shape[1] * x->shape[2], C = x->shape[3];
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
    for (int b = 0; b < N; b++) {
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int p = 0; p < HW; p++) {
                s += (double)x->data[((size_t)b * HW + p) * C + c];
            }
            a->out->data[(size_t)b * C + c] = (float)(s / HW);
        }
    }
}

void nn_concat_geometry(long *outer, long *inner, const dfd_tensor *y, int axis)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++) {
        *outer *= y->shape[i];
    }
    for (int i = axis + 1; i < y->rank; i++) {
        *inner *= y->shape[i];
    }
}

static void concat_ref(const nn_args *a)
{
    const int axis = a->node->a.concat.axis;
    const dfd_tensor *y = a->out;
    long outer, inner;
    nn_concat_geometry(&outer, &inner, y, axis);
    long y_row = (long)y->shape[axis] * inner, at = 0;
    for (int k = 0; k < a->n_in; k++) {
        const dfd_tensor *x = a->in[k];
        long x_row = (long)x->shape[axis] * inner;
        for (long o = 0; o < outer; o++) {
            memcpy(y->data + o * y_row + at, x->data + o * x_row, (size_t)x_row * sizeof(float));
        }
        at += x_row;
    }
}

// TF ResizeBilinear (as TF.js's CPU backend computes it).
static void resize_ref(const nn_args *a)
{
    const dfd_tensor *x = a->in[0];
    dfd_tensor *y = a->out;
    const dfd_node *n = a->node;
    const int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    const int OH = y->shape[1], OW = y->shape[2];
    const bool ac = n->a.resize.align_corners, hp = n->a.resize.half_pixel_centers;
    const double sy = (ac && OH > 1) ? (double)(H - 1) / (OH - 1) : (double)H / OH;
    const double sx = (ac && OW > 1) ? (double)(W - 1) / (OW - 1) : (double)W / OW;
    for (int b = 0; b < N; b++) {
        for (int oy = 0; oy < OH; oy++) {
            double fy = hp ? fmax(0.0, (oy + 0.5) * sy - 0.5) : oy * sy;
            int y0 = (int)floor(fy), y1 = y0 + 1 < H ? y0 + 1 : H - 1;
            y0 = y0 < H ? y0 : H - 1;
            double dy = fy - floor(fy);
            for (int ox = 0; ox < OW; ox++) {
                double fx = hp ? fmax(0.0, (ox + 0.5) * sx - 0.5) : ox * sx;
                int x0 = (int)floor(fx), x1 = x0 + 1 < W ? x0 + 1 : W - 1;
                x0 = x0 < W ? x0 : W - 1;
                double dx = fx - floor(fx);
                const float *p00 = x->data + (((size_t)b * H + y0) * W + x0) * C;
                const float *p01 = x->data + (((size_t)b * H + y0) * W + x1) * C;
                const float *p10 = x->data + (((size_t)b * H + y1) * W + x0) * C;
                const float *p11 = x->data + (((size_t)b * H + y1) * W + x1) * C;
                float *out = y->data + (((size_t)b * OH + oy) * OW + ox) * C;
                for (int c = 0; c < C; c++) {
                    double top = (double)p00[c] + (double)(p01[c] - p00[c]) * dx;
                    double bot = (double)p10[c] + (double)(p11[c] - p10[c]) * dx;
                    out[c] = (float)(top + (bot - top) * dy);
                }
            }
        }
    }
}

// ---- training-time ops ----

bool nn_dropout_keep(uint64_t seed, size_t i, float rate)
{
    // A counter-based generator (splitmix64 of seed and index): any element's draw is known
    // without the others, so forward and backward agree and threads cannot change the mask.
    uint64_t z = seed + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0) >= (double)rate;
}

// Identity at inference; in training, x / (1 - rate) where the mask keeps the element, else 0.
static void dropout_ref(const nn_args *a)
{
    const size_t n = dfd_tensor_numel(a->out);
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    const float rate = a->node->a.dropout.rate;
    if (!a->is_training || rate == 0) {
        if (y != x) {
            memcpy(y, x, n * sizeof(float));
        }
        return;
    }
    const float scale = 1.0f / (1.0f - rate);
    for (size_t i = 0; i < n; i++) {
        y[i] = nn_dropout_keep(a->seed, i, rate) ? x[i] * scale : 0.0f;
    }
}

// x: (M, C) viewed from [N,C] or [N,H,W,C], statistics per channel over the M rows. Training:
// batch mean and biased variance normalise (both kept in a->stats for the backward), and the
// running statistics move towards them (unbiased variance, as PyTorch). Sums run in double, in
// row order, on one thread: heads are small and the result must not depend on threads.
static void batchnorm_ref(const nn_args *a)
{
    const dfd_node *n = a->node;
    const int C = a->out->shape[a->out->rank - 1];
    const size_t M = dfd_tensor_numel(a->out) / (size_t)C;
    const float *x = a->in[0]->data;
    float *y = a->out->data;
    float *mean = a->stats, *istd = a->stats ? a->stats + C : NULL;
    if (a->is_training) {
        const float m = n->a.bn.momentum;
        for (int c = 0; c < C; c++) {
            double s = 0, ss = 0;
            for (size_t r = 0; r < M; r++) {
                s += (double)x[r * C + c];
            }
            const double mu = s / (double)M;
            for (size_t r = 0; r < M; r++) {
                double d = (double)x[r * C + c] - mu;
                ss += d * d;
            }
            const double var = ss / (double)M;
            mean[c] = (float)mu;
            istd[c] = (float)(1.0 / sqrt(var + (double)n->a.bn.eps));
            const double unbiased = M > 1 ? ss / (double)(M - 1) : var;
            n->running_mean.data[c] = (1 - m) * n->running_mean.data[c] + m * (float)mu;
            n->running_var.data[c] = (1 - m) * n->running_var.data[c] + m * (float)unbiased;
        }
    }
    for (size_t r = 0; r < M; r++) {
        for (int c = 0; c < C; c++) {
            float mu, is;
            if (a->is_training) {
                mu = mean[c];
                is = istd[c];
            } else {
                mu = n->running_mean.data[c];
                is = (float)(1.0 / sqrt((double)n->running_var.data[c] + (double)n->a.bn.eps));
            }
            y[r * C + c] = (x[r * C + c] - mu) * is * n->weight.data[c] + n->bias.data[c];
        }
    }
}

const nn_op_impl nn_ref_ops[DFD_OP_COUNT] = {
    [DFD_OP_CONV2D] = { conv2d_ref, nn_conv2d_backward_ref },
    [DFD_OP_MATMUL] = { matmul_ref, nn_matmul_backward_ref },
    [DFD_OP_ADD] = { binary_ref, nn_binary_backward_ref },
    [DFD_OP_SUB] = { binary_ref, nn_binary_backward_ref },
    [DFD_OP_MUL] = { binary_ref, nn_binary_backward_ref },
    [DFD_OP_MAXIMUM] = { binary_ref, nn_binary_backward_ref },
    [DFD_OP_MINIMUM] = { binary_ref, nn_binary_backward_ref },
    [DFD_OP_ACT] = { act_ref, nn_act_backward_ref },
    [DFD_OP_SOFTMAX] = { softmax_ref, nn_softmax_backward_ref },
    [DFD_OP_MAXPOOL] = { pool_ref, nn_pool_backward_ref },
    [DFD_OP_AVGPOOL] = { pool_ref, nn_pool_backward_ref },
    [DFD_OP_PAD] = { pad_ref, nn_pad_backward_ref },
    [DFD_OP_RESHAPE] = { reshape_ref, nn_reshape_backward_ref },
    [DFD_OP_MEAN] = { mean_ref, nn_mean_backward_ref },
    [DFD_OP_CONCAT] = { concat_ref, nn_concat_backward_ref },
    [DFD_OP_RESIZE_BILINEAR] = { resize_ref, NULL },
    [DFD_OP_DWPW] = { dwpw_ref, NULL },
    [DFD_OP_DROPOUT] = { dropout_ref, nn_dropout_backward_ref },
    [DFD_OP_BATCHNORM] = { batchnorm_ref, nn_batchnorm_backward_ref },
};
