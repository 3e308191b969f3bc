// Recurrent layers, the reference: the slow, obvious implementation in double precision. One
// sequence at a time, one step at a time, every gate a dot product, backward written directly
// from the chain rule. The fast path (rnn_fast.c) is tested against it, and it is tested against
// finite differences and PyTorch (tests/nn/test_rnn.c).
#include <math.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/size.h"
#include "rnn_impl.h"

// Sizes of one run, and the cache of every (layer, direction, sequence, step):
//   act [G*H] gate activations (GRU r z n; LSTM i f g o), hn [H] (GRU: Whn h + bhn),
//   hp [H] state before the step, cp [H] cell before the step, cn [H] cell after it.
typedef struct ref {
    const dfd_rnn *r;
    const rnn_ref_args *a;
    int N, T, H, D, L, G, GH, DH, W; // W: cache width per step
    bool lstm;
    double *outs;    // [L][N*T][D*H] each layer's output (dropout applied below the last)
    double *cache;   // [L*D][N*T][W]
    double *ax, *ah; // [G*H] scratch: input and hidden pre-activations (biases included)
} ref;

static double sig(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

static const double *w_of(const ref *f, int l, int d, int k)
{
    return f->a->w[((size_t)l * f->D + (size_t)d) * 4 + (size_t)k];
}

static double *dw_of(const ref *f, int l, int d, int k)
{
    return f->a->dw ? f->a->dw[((size_t)l * f->D + (size_t)d) * 4 + (size_t)k] : NULL;
}

static double *cache_at(const ref *f, int l, int d, int n, int t)
{
    size_t i = ((size_t)l * f->D + (size_t)d) * (size_t)f->N + (size_t)n;
    return f->cache + (i * (size_t)f->T + (size_t)t) * (size_t)f->W;
}

// The input of layer l at (n, t).
static const double *input_at(const ref *f, int l, int n, int t)
{
    size_t row = (size_t)n * f->T + (size_t)t;
    if (l == 0) {
        return f->a->x + row * (size_t)f->r->o.input_size;
    }
    return f->outs + ((size_t)(l - 1) * f->N * f->T + row) * (size_t)f->DH;
}

// out[q] = b[q] + sum_k w[q][k] v[k] for q < GH.
static void affine(double *out, const double *w, const double *b, const double *v, int GH, int K)
{
    for (int q = 0; q < GH; q++) {
        double s = b[q];
        for (int k = 0; k < K; k++) {
            s += w[(size_t)q * K + k] * v[k];
        }
        out[q] = s;
    }
}

// ---- forward ----

// One step of layer l, direction d: h (and c) go from the state before to the state after.
static void cell_forward(const ref *f, int l, int d, const double *x, double *h, double *c,
                         double *cache)
{
    const int H = f->H;
    affine(f->ax, w_of(f, l, d, 0), w_of(f, l, d, 2), x, f->GH, rnn_layer_in(f->r, l));
    affine(f->ah, w_of(f, l, d, 1), w_of(f, l, d, 3), h, f->GH, H);
    double *act = cache, *hn = cache + f->GH, *hp = hn + H, *cp = hp + H, *cn = cp + H;
    for (int j = 0; j < H; j++) {
        hp[j] = h[j];
        cp[j] = c[j];
        if (f->lstm) {
            double i = sig(f->ax[j] + f->ah[j]), fg = sig(f->ax[H + j] + f->ah[H + j]);
            double g = tanh(f->ax[2 * H + j] + f->ah[2 * H + j]);
            double o = sig(f->ax[3 * H + j] + f->ah[3 * H + j]);
            act[j] = i;
            act[H + j] = fg;
            act[2 * H + j] = g;
            act[3 * H + j] = o;
            c[j] = fg * c[j] + i * g;
            h[j] = o * tanh(c[j]);
            cn[j] = c[j];
        } else {
            double r = sig(f->ax[j] + f->ah[j]), z = sig(f->ax[H + j] + f->ah[H + j]);
            double n = tanh(f->ax[2 * H + j] + r * f->ah[2 * H + j]);
            act[j] = r;
            act[H + j] = z;
            act[2 * H + j] = n;
            hn[j] = f->ah[2 * H + j];
            h[j] = (1.0 - z) * n + z * h[j];
        }
    }
}

// Valid steps of sequence n, and the k-th step of direction d in processing order.
static int seq_len(const ref *f, int n)
{
    return f->a->lengths ? f->a->lengths[n] : f->T;
}

static int step_t(int d, int len, int k)
{
    return d ? len - 1 - k : k;
}

static void forward(const ref *f, double *h, double *c)
{
    const rnn_ref_args *a = f->a;
    const int H = f->H;
    for (int l = 0; l < f->L; l++) {
        double *out = f->outs + (size_t)l * f->N * f->T * f->DH;
        for (int d = 0; d < f->D; d++) {
            size_t idx = (size_t)l * f->D + (size_t)d;
            for (int n = 0; n < f->N; n++) {
                size_t s0 = (idx * f->N + (size_t)n) * H;
                for (int j = 0; j < H; j++) {
                    h[j] = a->h0 ? a->h0[s0 + j] : 0.0;
                    c[j] = a->c0 ? a->c0[s0 + j] : 0.0;
                }
                int len = seq_len(f, n);
                for (int k = 0; k < len; k++) {
                    int t = step_t(d, len, k);
                    cell_forward(f, l, d, input_at(f, l, n, t), h, c, cache_at(f, l, d, n, t));
                    memcpy(out + ((size_t)n * f->T + (size_t)t) * f->DH + (size_t)d * H, h,
                           (size_t)H * sizeof *h);
                }
                for (int j = 0; j < H; j++) {
                    if (a->h_n) {
                        a->h_n[s0 + j] = h[j];
                    }
                    if (a->c_n) {
                        a->c_n[s0 + j] = c[j];
                    }
                }
            }
        }
        if (a->dropout_on && l < f->L - 1) {
            size_t ne = (size_t)f->N * f->T * f->DH;
            for (size_t e = 0; e < ne; e++) {
                out[e] *= (double)rnn_dropout_scale(a->dropout_seed, l, e, f->r->o.dropout);
            }
        }
    }
    if (a->y) {
        memcpy(a->y, f->outs + (size_t)(f->L - 1) * f->N * f->T * f->DH,
               (size_t)f->N * f->T * f->DH * sizeof *a->y);
    }
}

// ---- backward ----

// One step back through layer l, direction d. dh (and dc) hold the gradient of the state after
// the step (upstream output gradient already added) and leave with that of the state before.
// dx_step [I] receives the input's gradient.
static void cell_backward(const ref *f, int l, int d, const double *x, const double *cache,
                          double *dh, double *dc, double *dx_step)
{
    const int H = f->H, GH = f->GH, I = rnn_layer_in(f->r, l);
    const double *act = cache, *hn = cache + GH, *hp = hn + H, *cp = hp + H, *cn = cp + H;
    double *dax = f->ax, *dah = f->ah; // pre-activation gradients (input side, hidden side)
    for (int j = 0; j < H; j++) {
        if (f->lstm) {
            double i = act[j], fg = act[H + j], g = act[2 * H + j], o = act[3 * H + j];
            double tc = tanh(cn[j]);
            double dcv = dc[j] + dh[j] * o * (1.0 - tc * tc);
            dax[j] = dcv * g * i * (1.0 - i);
            dax[H + j] = dcv * cp[j] * fg * (1.0 - fg);
            dax[2 * H + j] = dcv * i * (1.0 - g * g);
            dax[3 * H + j] = dh[j] * tc * o * (1.0 - o);
            for (int q = 0; q < 4; q++) {
                dah[q * H + j] = dax[q * H + j];
            }
            dc[j] = dcv * fg;
            dh[j] = 0.0;
        } else {
            double r = act[j], z = act[H + j], n = act[2 * H + j];
            double dn = dh[j] * (1.0 - z), dz = dh[j] * (hp[j] - n);
            double dan = dn * (1.0 - n * n);
            dax[j] = dah[j] = dan * hn[j] * r * (1.0 - r);
            dax[H + j] = dah[H + j] = dz * z * (1.0 - z);
            dax[2 * H + j] = dan;
            dah[2 * H + j] = dan * r;
            dh[j] = dh[j] * z;
        }
    }
    const double *w_ih = w_of(f, l, d, 0), *w_hh = w_of(f, l, d, 1);
    double *dw_ih = dw_of(f, l, d, 0), *dw_hh = dw_of(f, l, d, 1);
    double *db_ih = dw_of(f, l, d, 2), *db_hh = dw_of(f, l, d, 3);
    for (int q = 0; q < GH; q++) {
        for (int k = 0; k < I; k++) {
            dx_step[k] += w_ih[(size_t)q * I + k] * dax[q];
            if (dw_ih) {
                dw_ih[(size_t)q * I + k] += dax[q] * x[k];
            }
        }
        for (int k = 0; k < H; k++) {
            dh[k] += w_hh[(size_t)q * H + k] * dah[q];
            if (dw_hh) {
                dw_hh[(size_t)q * H + k] += dah[q] * hp[k];
            }
        }
        if (db_ih) {
            db_ih[q] += dax[q];
        }
        if (db_hh) {
            db_hh[q] += dah[q];
        }
    }
}

// dout: [N*T][D*H] gradient of the last layer's output (zeros where dy is NULL); din: scratch
// [N*T][max input size]. Both are overwritten.
static void backward(const ref *f, double *dout, double *din, double *dh, double *dc)
{
    const rnn_ref_args *a = f->a;
    const int H = f->H;
    const size_t NT = (size_t)f->N * f->T;
    for (int l = f->L - 1; l >= 0; l--) {
        const int I = rnn_layer_in(f->r, l);
        memset(din, 0, NT * (size_t)I * sizeof *din);
        for (int d = 0; d < f->D; d++) {
            size_t idx = (size_t)l * f->D + (size_t)d;
            for (int n = 0; n < f->N; n++) {
                size_t s0 = (idx * f->N + (size_t)n) * H;
                for (int j = 0; j < H; j++) {
                    dh[j] = a->dh_n ? a->dh_n[s0 + j] : 0.0;
                    dc[j] = a->dc_n ? a->dc_n[s0 + j] : 0.0;
                }
                int len = seq_len(f, n);
                for (int k = len - 1; k >= 0; k--) {
                    int t = step_t(d, len, k);
                    size_t row = (size_t)n * f->T + (size_t)t;
                    for (int j = 0; j < H; j++) {
                        dh[j] += dout[row * f->DH + (size_t)d * H + j];
                    }
                    cell_backward(f, l, d, input_at(f, l, n, t), cache_at(f, l, d, n, t), dh, dc,
                                  din + row * (size_t)I);
                }
                for (int j = 0; j < H; j++) {
                    if (a->dh0) {
                        a->dh0[s0 + j] += dh[j];
                    }
                    if (a->dc0) {
                        a->dc0[s0 + j] += dc[j];
                    }
                }
            }
        }
        if (l > 0) { // the layer below's output gradient, through its dropout
            for (size_t e = 0; e < NT * (size_t)f->DH; e++) {
                double m = a->dropout_on ? (double)rnn_dropout_scale(a->dropout_seed, l - 1, e,
                                                                     f->r->o.dropout)
                                         : 1.0;
                dout[e] = din[e] * m;
            }
        } else if (a->dx) {
            for (size_t e = 0; e < NT * (size_t)I; e++) {
                a->dx[e] += din[e];
            }
        }
    }
}

dfd_status rnn_ref_run(const dfd_rnn *r, const rnn_ref_args *a)
{
    ref f = { .r = r,
              .a = a,
              .N = a->N,
              .T = a->T,
              .H = r->o.hidden_size,
              .D = r->D,
              .L = r->o.n_layers,
              .G = r->G,
              .lstm = r->o.cell == DFD_RNN_LSTM };
    f.GH = f.G * f.H;
    f.DH = f.D * f.H;
    f.W = f.GH + 4 * f.H;
    const size_t NT = (size_t)f.N * f.T;
    const size_t in_max = (size_t)(r->o.input_size > f.DH ? r->o.input_size : f.DH);
    size_t n_outs, n_cache;
    if (!dfd_size_mul3(&n_outs, (size_t)f.L, NT, (size_t)f.DH) ||
        !dfd_size_mul3(&n_cache, (size_t)f.L * f.D, NT, (size_t)f.W)) {
        return DFD_ERR_NOMEM;
    }
    f.outs = dfd_calloc(n_outs, sizeof *f.outs);
    f.cache = dfd_calloc(n_cache, sizeof *f.cache);
    f.ax = dfd_calloc((size_t)f.GH, sizeof *f.ax);
    f.ah = dfd_calloc((size_t)f.GH, sizeof *f.ah);
    double *h = dfd_calloc((size_t)f.H, sizeof *h), *c = dfd_calloc((size_t)f.H, sizeof *c);
    double *dout = NULL, *din = NULL;
    dfd_status st = DFD_ERR_NOMEM;
    if (!f.outs || !f.cache || !f.ax || !f.ah || !h || !c) {
        goto done;
    }
    forward(&f, h, c);
    if (a->backward) {
        dout = dfd_calloc(NT * (size_t)f.DH, sizeof *dout);
        din = dfd_calloc(NT * in_max, sizeof *din);
        if (!dout || !din) {
            goto done;
        }
        if (a->dy) {
            memcpy(dout, a->dy, NT * (size_t)f.DH * sizeof *dout);
        }
        backward(&f, dout, din, h, c);
    }
    st = DFD_OK;
done:
    dfd_free(f.outs);
    dfd_free(f.cache);
    dfd_free(f.ax);
    dfd_free(f.ah);
    dfd_free(h);
    dfd_free(c);
    dfd_free(dout);
    dfd_free(din);
    return st;
}

// ---- the REF backend: float arrays in and out ----

// A double copy of n floats (zeros when src is NULL and `zeros`; NULL when src is NULL and not).
// Returns false when out of memory.
static bool widen(double **out, const float *src, size_t n, bool zeros)
{
    *out = NULL;
    if (!src && !zeros) {
        return true;
    }
    *out = dfd_calloc(n ? n : 1, sizeof **out);
    for (size_t i = 0; *out && src && i < n; i++) {
        (*out)[i] = (double)src[i];
    }
    return *out != NULL;
}

// dst[i] (+)= (float)src[i]; either may be NULL (nothing to do).
static void narrow(float *dst, const double *src, size_t n, bool add)
{
    for (size_t i = 0; dst && src && i < n; i++) {
        dst[i] = add ? dst[i] + (float)src[i] : (float)src[i];
    }
}

// Everything one REF call needs in double, with its own allocations.
typedef struct ref_call {
    rnn_ref_args a;
    double *w_block, *dw_block, *x, *h0, *c0, *y, *h_n, *c_n, *dy, *dh_n, *dc_n, *dx, *dh0, *dc0;
    double **w, **dw;
} ref_call;

static void ref_call_free(ref_call *c)
{
    double *p[] = { c->w_block, c->dw_block, c->x,    c->h0,   c->c0, c->y,   c->h_n,
                    c->c_n,     c->dy,       c->dh_n, c->dc_n, c->dx, c->dh0, c->dc0 };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        dfd_free(p[i]);
    }
    dfd_free(c->w);
    dfd_free(c->dw);
}

// Weights and the forward's inputs in double; with `grads`, zeroed parameter gradients too.
static bool ref_call_init(ref_call *c, const dfd_rnn *r, bool grads)
{
    memset(c, 0, sizeof *c);
    const size_t NT = (size_t)r->N * r->T, I = (size_t)r->o.input_size;
    const size_t nst = (size_t)r->o.n_layers * r->D * r->N * (size_t)r->o.hidden_size;
    size_t total = 0;
    for (size_t i = 0; i < r->n_params; i++) {
        total += dfd_param_numel(&r->params[i]);
    }
    c->w = dfd_calloc(r->n_params, sizeof *c->w);
    c->dw = dfd_calloc(r->n_params, sizeof *c->dw);
    if (!c->w || !c->dw || !widen(&c->w_block, r->values, total, true) ||
        !widen(&c->x, r->x, NT * I, true) || !widen(&c->h0, r->h0, nst, false) ||
        !widen(&c->c0, r->c0, nst, false) || (grads && !widen(&c->dw_block, NULL, total, true))) {
        return false;
    }
    for (size_t i = 0; i < r->n_params; i++) {
        size_t off = (size_t)(r->params[i].value - r->values);
        c->w[i] = c->w_block + off;
        c->dw[i] = grads && !r->params[i].frozen ? c->dw_block + off : NULL;
    }
    c->a = (rnn_ref_args){ .w = (const double *const *)c->w,
                           .N = r->N,
                           .T = r->T,
                           .lengths = r->lengths,
                           .x = c->x,
                           .h0 = c->h0,
                           .c0 = c->c0,
                           .dropout_on = r->dropout_on,
                           .dropout_seed = r->dropout_seed,
                           .dw = grads ? c->dw : NULL };
    return true;
}

dfd_status rnn_ref_forward(dfd_rnn *r, float *y, float *h_n, float *c_n)
{
    ref_call c;
    const size_t NT = (size_t)r->N * r->T, DH = (size_t)r->D * r->o.hidden_size;
    const size_t nst = (size_t)r->o.n_layers * r->D * r->N * (size_t)r->o.hidden_size;
    dfd_status st = DFD_ERR_NOMEM;
    if (ref_call_init(&c, r, false) && widen(&c.y, NULL, NT * DH, true) &&
        widen(&c.h_n, NULL, nst, true) && widen(&c.c_n, NULL, nst, true)) {
        c.a.y = c.y;
        c.a.h_n = c.h_n;
        c.a.c_n = c.c_n;
        st = rnn_ref_run(r, &c.a);
    }
    if (!st) {
        narrow(y, c.y, NT * DH, false);
        narrow(h_n, c.h_n, nst, false);
        narrow(c_n, c.c_n, nst, false);
    }
    ref_call_free(&c);
    return st;
}

dfd_status rnn_ref_backward(dfd_rnn *r, float *dx, float *dh0, float *dc0, const float *dy,
                            const float *dh_n, const float *dc_n)
{
    ref_call c;
    const size_t NT = (size_t)r->N * r->T, DH = (size_t)r->D * r->o.hidden_size;
    const size_t nst = (size_t)r->o.n_layers * r->D * r->N * (size_t)r->o.hidden_size;
    dfd_status st = DFD_ERR_NOMEM;
    if (ref_call_init(&c, r, true) && widen(&c.dy, dy, NT * DH, false) &&
        widen(&c.dh_n, dh_n, nst, false) && widen(&c.dc_n, dc_n, nst, false) &&
        widen(&c.dx, NULL, dx ? NT * (size_t)r->o.input_size : 0, dx != NULL) &&
        widen(&c.dh0, NULL, nst, dh0 != NULL) && widen(&c.dc0, NULL, nst, dc0 != NULL)) {
        c.a.backward = true;
        c.a.dy = c.dy;
        c.a.dh_n = c.dh_n;
        c.a.dc_n = c.dc_n;
        c.a.dx = c.dx;
        c.a.dh0 = c.dh0;
        c.a.dc0 = c.dc0;
        st = rnn_ref_run(r, &c.a);
    }
    if (!st) {
        narrow(dx, c.dx, NT * (size_t)r->o.input_size, true);
        narrow(dh0, c.dh0, nst, true);
        narrow(dc0, c.dc0, nst, true);
        for (size_t i = 0; i < r->n_params; i++) {
            narrow(r->params[i].frozen ? NULL : r->params[i].grad, c.dw[i],
                   dfd_param_numel(&r->params[i]), true);
        }
    }
    ref_call_free(&c);
    return st;
}
