// The detector head: shared per-frame layer, frame logits, recurrent sequence logit.
#include "dfdetect/detect/head.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/nn/linear.h"
#include "dfdetect/nn/tensor.h"
#include "dfdetect/util/alloc.h"

#define MAX_PARAMS (5 * 2 + 2 + 4 * 16 * 2)

struct dfd_head {
    dfd_head_opts o;
    int dirs;
    dfd_linear fc1, frame, seq;
    dfd_rnn *rnn;
    dfd_param norm_mean, norm_std;
    dfd_param *params[MAX_PARAMS];
    size_t n_params;
    bool training;
    // The last forward: sizes, inputs and activations kept for backward.
    int n, t;
    int *lengths;
    float *z;     // [n*t][input_dim] standardised inputs
    float *a1;    // [n*t][fh] before relu
    float *h;     // [n*t][fh] after relu and dropout (the frame layer's and the RNN's input)
    float *keep0; // [n*t][input_dim] input dropout scale, training only
    float *keep1; // [n*t][fh] dropout scale (0 or 1/(1-p)), training only
    float *fin;   // [n][D*H] final state(s) after dropout
    float *keep2; // [n][D*H]
    dfd_tensor x, y, h_n;
    size_t cap_rows, cap_seq;
    bool have_forward;
};

dfd_head_opts dfd_head_opts_default(void)
{
    dfd_head_opts o = { .input_dim = 1024,
                        .frame_hidden = 256,
                        .cell = DFD_RNN_GRU,
                        .bidirectional = false,
                        .hidden = 64,
                        .layers = 1,
                        .dropout = 0.3f,
                        .seed = 1,
                        .n_threads = 0 };
    return o;
}

dfd_status dfd_head_arch_parse(dfd_head_opts *o, const char *name)
{
    static const struct {
        const char *name;
        dfd_rnn_cell cell;
        bool bi;
    } archs[] = { { "gru", DFD_RNN_GRU, false },
                  { "lstm", DFD_RNN_LSTM, false },
                  { "bigru", DFD_RNN_GRU, true },
                  { "bilstm", DFD_RNN_LSTM, true } };
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        if (strcmp(name, archs[i].name) == 0) {
            o->cell = archs[i].cell;
            o->bidirectional = archs[i].bi;
            return DFD_OK;
        }
    }
    return DFD_ERR_INVALID;
}

const char *dfd_head_arch_name(const dfd_head_opts *o)
{
    if (o->cell == DFD_RNN_LSTM) {
        return o->bidirectional ? "bilstm" : "lstm";
    }
    return o->bidirectional ? "bigru" : "gru";
}

void dfd_head_free(dfd_head *h)
{
    if (!h) {
        return;
    }
    dfd_linear_free(&h->fc1);
    dfd_linear_free(&h->frame);
    dfd_linear_free(&h->seq);
    dfd_rnn_free(h->rnn);
    dfd_free(h->norm_mean.value);
    dfd_free(h->norm_mean.grad);
    dfd_free(h->norm_std.value);
    dfd_free(h->norm_std.grad);
    dfd_free(h->lengths);
    dfd_free(h->z);
    dfd_free(h->a1);
    dfd_free(h->h);
    dfd_free(h->keep0);
    dfd_free(h->keep1);
    dfd_free(h->fin);
    dfd_free(h->keep2);
    dfd_tensor_free(&h->x);
    dfd_tensor_free(&h->y);
    dfd_tensor_free(&h->h_n);
    dfd_free(h);
}

const dfd_head_opts *dfd_head_opts_of(const dfd_head *h)
{
    return &h->o;
}

static dfd_status norm_param(dfd_param *p, const char *name, int dim, float fill)
{
    p->name = name;
    p->rank = 1;
    p->shape[0] = dim;
    p->frozen = true;
    p->value = dfd_malloc((size_t)dim * sizeof(float));
    p->grad = dfd_calloc((size_t)dim, sizeof(float));
    if (!p->value || !p->grad) {
        return DFD_ERR_NOMEM;
    }
    for (int i = 0; i < dim; i++) {
        p->value[i] = fill;
    }
    return DFD_OK;
}

dfd_status dfd_head_create(dfd_head **out, const dfd_head_opts *opts, dfd_error *err)
{
    *out = NULL;
    dfd_head_opts o = opts ? *opts : dfd_head_opts_default();
    if (o.input_dim < 1 || o.input_dim > 65536 || o.frame_hidden < 1 || o.frame_hidden > 65536 ||
        o.hidden < 1 || o.hidden > 8192 || o.layers < 1 || o.layers > 16 ||
        !(o.dropout >= 0 && o.dropout < 1) || !(o.input_dropout >= 0 && o.input_dropout < 1)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "head: invalid options");
    }
    dfd_head *h = dfd_calloc(1, sizeof *h);
    if (!h) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "head: out of memory");
    }
    h->o = o;
    h->dirs = o.bidirectional ? 2 : 1;
    dfd_status st = dfd_linear_init(&h->fc1, "head/fc1", o.input_dim, o.frame_hidden, o.seed, err);
    if (!st) {
        st = dfd_linear_init(&h->frame, "head/frame", o.frame_hidden, 1, o.seed + 1, err);
    }
    if (!st) {
        st = dfd_linear_init(&h->seq, "head/seq", h->dirs * o.hidden, 1, o.seed + 2, err);
    }
    if (!st) {
        dfd_rnn_opts ro = dfd_rnn_opts_default();
        ro.cell = o.cell;
        ro.input_size = o.frame_hidden;
        ro.hidden_size = o.hidden;
        ro.n_layers = o.layers;
        ro.bidirectional = o.bidirectional;
        ro.dropout = o.layers > 1 ? o.dropout : 0;
        ro.prefix = "head/rnn";
        ro.seed = o.seed + 3;
        ro.n_threads = o.n_threads;
        st = dfd_rnn_create(&h->rnn, &ro, err);
    }
    if (!st && (norm_param(&h->norm_mean, "head/norm/mean", o.input_dim, 0.f) ||
                norm_param(&h->norm_std, "head/norm/std", o.input_dim, 1.f))) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "head: out of memory");
    }
    if (st) {
        dfd_head_free(h);
        return st;
    }
    dfd_param *fixed[] = { &h->norm_mean,    &h->norm_std,   &h->fc1.weight, &h->fc1.bias,
                           &h->frame.weight, &h->frame.bias, &h->seq.weight, &h->seq.bias };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        h->params[h->n_params++] = fixed[i];
    }
    size_t nr;
    dfd_param *rp = dfd_rnn_params(h->rnn, &nr);
    for (size_t i = 0; i < nr && h->n_params < MAX_PARAMS; i++) {
        h->params[h->n_params++] = &rp[i];
    }
    *out = h;
    return DFD_OK;
}

dfd_param *const *dfd_head_params(dfd_head *h, size_t *n)
{
    *n = h->n_params;
    return h->params;
}

void dfd_head_set_norm(dfd_head *h, const float *mean, const float *std)
{
    for (int i = 0; i < h->o.input_dim; i++) {
        h->norm_mean.value[i] = mean[i];
        h->norm_std.value[i] = fmaxf(std[i], 1e-6f);
    }
}

void dfd_head_set_training(dfd_head *h, bool on)
{
    h->training = on;
    dfd_rnn_set_training(h->rnn, on);
}

// splitmix64 of (seed, stream, index) -> [0, 1): dropout masks that depend on nothing else.
static double mask_uniform(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream * 0xD1B54A32D192ED03ULL + i;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static void fill_keep(float *keep, size_t n, float p, uint64_t seed, uint64_t stream)
{
    float scale = 1.f / (1.f - p);
    for (size_t i = 0; i < n; i++) {
        keep[i] = mask_uniform(seed, stream, i) < (double)p ? 0.f : scale;
    }
}

static int grow(float **buf, size_t n)
{
    float *nb = dfd_realloc(*buf, n * sizeof **buf);
    if (!nb) {
        return -1;
    }
    *buf = nb;
    return 0;
}

static dfd_status ensure(dfd_head *h, int n, int t)
{
    const size_t rows = (size_t)n * (size_t)t, fh = (size_t)h->o.frame_hidden;
    const size_t fin = (size_t)h->dirs * (size_t)h->o.hidden;
    if (rows > h->cap_rows) {
        if (grow(&h->z, rows * (size_t)h->o.input_dim) || grow(&h->a1, rows * fh) ||
            grow(&h->h, rows * fh) || grow(&h->keep1, rows * fh) ||
            (h->o.input_dropout > 0 && grow(&h->keep0, rows * (size_t)h->o.input_dim))) {
            return DFD_ERR_NOMEM;
        }
        h->cap_rows = rows;
    }
    if ((size_t)n > h->cap_seq) {
        int *nl = dfd_realloc(h->lengths, (size_t)n * sizeof *nl);
        if (!nl) {
            return DFD_ERR_NOMEM;
        }
        h->lengths = nl;
        if (grow(&h->fin, (size_t)n * fin) || grow(&h->keep2, (size_t)n * fin)) {
            return DFD_ERR_NOMEM;
        }
        h->cap_seq = (size_t)n;
    }
    if (h->x.rank == 0 || h->x.shape[0] != n || h->x.shape[1] != t) {
        dfd_tensor_free(&h->x);
        dfd_tensor_free(&h->y);
        dfd_tensor_free(&h->h_n);
        const int xs[3] = { n, t, h->o.frame_hidden }, ys[3] = { n, t, (int)fin };
        const int hs[3] = { h->o.layers * h->dirs, n, h->o.hidden };
        if (dfd_tensor_alloc(&h->x, 3, xs) || dfd_tensor_alloc(&h->y, 3, ys) ||
            dfd_tensor_alloc(&h->h_n, 3, hs)) {
            return DFD_ERR_NOMEM;
        }
    }
    return DFD_OK;
}

dfd_status dfd_head_forward(dfd_head *h, float *frame_logits, float *seq_logits, const float *feats,
                            const int *lengths, int n, int t, uint64_t seed, dfd_error *err)
{
    h->have_forward = false;
    if (n < 1 || t < 1) {
        return dfd_error_set(err, DFD_ERR_INVALID, "head: %d sequences of %d steps", n, t);
    }
    for (int i = 0; i < n; i++) {
        if (lengths[i] < 1 || lengths[i] > t) {
            return dfd_error_set(err, DFD_ERR_INVALID,
                                 "head: sequence %d has length %d, outside 1..%d", i, lengths[i],
                                 t);
        }
    }
    if (ensure(h, n, t)) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "head: out of memory");
    }
    h->n = n;
    h->t = t;
    memcpy(h->lengths, lengths, (size_t)n * sizeof *lengths);
    const size_t rows = (size_t)n * (size_t)t, in = (size_t)h->o.input_dim;
    const size_t fh = (size_t)h->o.frame_hidden, H = (size_t)h->o.hidden;
    const size_t fin = (size_t)h->dirs * H;
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < in; i++) {
            h->z[r * in + i] = (feats[r * in + i] - h->norm_mean.value[i]) / h->norm_std.value[i];
        }
    }
    if (h->training && h->o.input_dropout > 0) {
        fill_keep(h->keep0, rows * in, h->o.input_dropout, seed, 0);
        for (size_t i = 0; i < rows * in; i++) {
            h->z[i] *= h->keep0[i];
        }
    }
    dfd_linear_forward(h->a1, &h->fc1, h->z, rows);
    bool drop = h->training && h->o.dropout > 0;
    if (drop) {
        fill_keep(h->keep1, rows * fh, h->o.dropout, seed, 1);
    }
    for (size_t i = 0; i < rows * fh; i++) {
        float v = h->a1[i] > 0 ? h->a1[i] : 0.f;
        h->h[i] = drop ? v * h->keep1[i] : v;
    }
    if (frame_logits) {
        dfd_linear_forward(frame_logits, &h->frame, h->h, rows);
        for (int s = 0; s < n; s++) {
            for (int k = lengths[s]; k < t; k++) {
                frame_logits[(size_t)s * (size_t)t + (size_t)k] = 0;
            }
        }
    }
    memcpy(h->x.data, h->h, rows * fh * sizeof(float));
    dfd_status st = dfd_rnn_forward(&h->y, &h->h_n, NULL, h->rnn, &h->x, h->lengths, NULL, NULL,
                                    seed ^ 0x5bd1e995ULL, err);
    if (st) {
        return st;
    }
    // Final states of the last layer: forward (and reverse) direction.
    const size_t last = (size_t)(h->o.layers - 1) * (size_t)h->dirs;
    if (drop) {
        fill_keep(h->keep2, (size_t)n * fin, h->o.dropout, seed, 2);
    }
    for (size_t s = 0; s < (size_t)n; s++) {
        for (size_t d = 0; d < (size_t)h->dirs; d++) {
            const float *src = h->h_n.data + ((last + d) * (size_t)n + s) * H;
            float *dst = h->fin + s * fin + d * H;
            for (size_t j = 0; j < H; j++) {
                dst[j] = drop ? src[j] * h->keep2[s * fin + d * H + j] : src[j];
            }
        }
    }
    dfd_linear_forward(seq_logits, &h->seq, h->fin, (size_t)n);
    h->have_forward = true;
    return DFD_OK;
}

dfd_status dfd_head_backward(dfd_head *h, float *d_feats, const float *d_frame, const float *d_seq,
                             dfd_error *err)
{
    if (!h->have_forward) {
        return dfd_error_set(err, DFD_ERR_INVALID, "head: backward without a forward");
    }
    const int n = h->n, t = h->t;
    const size_t rows = (size_t)n * (size_t)t, in = (size_t)h->o.input_dim;
    const size_t fh = (size_t)h->o.frame_hidden, H = (size_t)h->o.hidden;
    const size_t fin = (size_t)h->dirs * H;
    const bool drop = h->training && h->o.dropout > 0;
    dfd_tensor dh_n = { 0 }, dx = { 0 };
    float *d_fin = dfd_calloc((size_t)n * fin, sizeof *d_fin);
    float *d_h = dfd_calloc(rows * fh, sizeof *d_h);
    float *d_fr = dfd_calloc(rows, sizeof *d_fr);
    dfd_status st = DFD_OK;
    if (!d_fin || !d_h || !d_fr || dfd_tensor_alloc(&dh_n, 3, h->h_n.shape) ||
        dfd_tensor_alloc(&dx, 3, h->x.shape)) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "head: out of memory");
        goto done;
    }
    // Sequence logit -> final states -> the recurrent layer -> its inputs.
    if (d_seq) {
        dfd_linear_backward(d_fin, &h->seq, h->fin, d_seq, (size_t)n);
        const size_t last = (size_t)(h->o.layers - 1) * (size_t)h->dirs;
        for (size_t s = 0; s < (size_t)n; s++) {
            for (size_t d = 0; d < (size_t)h->dirs; d++) {
                float *dst = dh_n.data + ((last + d) * (size_t)n + s) * H;
                for (size_t j = 0; j < H; j++) {
                    float g = d_fin[s * fin + d * H + j];
                    dst[j] = drop ? g * h->keep2[s * fin + d * H + j] : g;
                }
            }
        }
        st = dfd_rnn_backward(&dx, NULL, NULL, h->rnn, NULL, &dh_n, NULL, err);
        if (st) {
            goto done;
        }
        memcpy(d_h, dx.data, rows * fh * sizeof *d_h);
    }
    // Frame logits (valid steps only) -> the shared layer.
    if (d_frame) {
        for (int s = 0; s < n; s++) {
            for (int k = 0; k < h->lengths[s]; k++) {
                d_fr[(size_t)s * (size_t)t + (size_t)k] =
                    d_frame[(size_t)s * (size_t)t + (size_t)k];
            }
        }
        dfd_linear_backward(d_h, &h->frame, h->h, d_fr, rows);
    }
    // Dropout and relu, then the first layer (and the standardisation, for d_feats).
    for (size_t i = 0; i < rows * fh; i++) {
        float g = h->a1[i] > 0 ? d_h[i] : 0.f;
        d_h[i] = drop ? g * h->keep1[i] : g;
    }
    if (d_feats) {
        float *dz = dfd_calloc(rows * in, sizeof *dz);
        if (!dz) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "head: out of memory");
            goto done;
        }
        dfd_linear_backward(dz, &h->fc1, h->z, d_h, rows);
        const bool drop_in = h->training && h->o.input_dropout > 0;
        for (size_t r = 0; r < rows; r++) {
            for (size_t i = 0; i < in; i++) {
                const float g = drop_in ? dz[r * in + i] * h->keep0[r * in + i] : dz[r * in + i];
                d_feats[r * in + i] += g / h->norm_std.value[i];
            }
        }
        dfd_free(dz);
    } else {
        dfd_linear_backward(NULL, &h->fc1, h->z, d_h, rows);
    }
done:
    dfd_free(d_fin);
    dfd_free(d_h);
    dfd_free(d_fr);
    dfd_tensor_free(&dh_n);
    dfd_tensor_free(&dx);
    return st;
}
