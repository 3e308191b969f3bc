// The whole training stack end to end on a toy problem that must be learnt: a tiny conv net
// (autograd) turns each frame of a padded sequence into features, a GRU (rnn.h, per-sequence
// lengths) reads them, a linear head (a second autograd graph) gives one logit per sequence,
// binary cross-entropy (loss.h) scores it and Adam (optim.h) updates all three. Gradients run
// back the same way: the head's input gradient is the GRU's final-state gradient, and the GRU's
// input gradient is set on the conv net's output with dfd_autograd_set_grad.
//
// The two classes are a bright 2x2 blob moving right or left across noisy 8x8 frames, from
// start columns that overlap between the classes, so no single frame tells them apart: only the
// motion does. Held-out sequences come from a generator the training never sees.
#include <stdio.h>
#include <stdlib.h>

#include "dfdetect/nn/loss.h"
#include "dfdetect/nn/optim.h"
#include "dfdetect/nn/rnn.h"
#include "dfdetect/util/fileio.h"
#include "gradcheck.h"
#include "test.h"

#define T              6  // steps per sequence (padded); true lengths 4..T
#define IMG            8  // frame height and width, one channel
#define F              8  // features per frame
#define HID            16 // GRU hidden size
#define N_SEQ          16 // sequences per batch
#define N_EVAL_BATCHES 16

// ---- data ----

typedef struct rng {
    uint64_t s;
} rng;

static float rng_uniform(rng *r) // [0, 1)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (float)((double)(r->s >> 11) / 9007199254740992.0);
}

static int rng_int(rng *r, int lo, int hi) // lo..hi
{
    int v = lo + (int)(rng_uniform(r) * (float)(hi - lo + 1));
    return v > hi ? hi : v;
}

// One sequence into frames [T, IMG, IMG]: label 1 moves right, 0 left, one column per step;
// frames past the length are zero.
static void make_sequence(float *frames, int *len, float *label, rng *r)
{
    const int y = rng_int(r, 0, 1), L = rng_int(r, 4, T), span = L - 1;
    const int c0 = y ? rng_int(r, 0, IMG - 2 - span) : rng_int(r, span, IMG - 2);
    const int r0 = rng_int(r, 0, IMG - 2);
    memset(frames, 0, (size_t)T * IMG * IMG * sizeof(float));
    for (int t = 0; t < L; t++) {
        float *f = frames + (size_t)t * IMG * IMG;
        for (int i = 0; i < IMG * IMG; i++) {
            f[i] = 2.0f * (rng_uniform(r) - 0.5f); // as strong as the blob
        }
        const int col = c0 + (y ? t : -t);
        for (int dy = 0; dy < 2; dy++) {
            for (int dx = 0; dx < 2; dx++) {
                f[(r0 + dy) * IMG + col + dx] += 1.0f;
            }
        }
    }
    *len = L;
    *label = (float)y;
}

// ---- the model ----

typedef struct toy {
    dfd_graph *cnn_g, *head_g;
    dfd_autograd *cnn, *head; // batches of N_SEQ * T frames, and of N_SEQ final states
    dfd_rnn *gru;
    dfd_optim *opt;
    dfd_param **params; // all of them: conv net, GRU, head
    size_t n_params;
    dfd_tensor y, h_n, dx, dh; // GRU output [N,T,H], final state [1,N,H], their gradients
    int lengths[N_SEQ];
    float labels[N_SEQ], dlogits[N_SEQ];
    const char *head_in;
    uint64_t step;
} toy;

// frames [B, IMG, IMG, 1] -> conv 3x3 stride 2 (1 -> 8, tanh) -> [B, 4, 4, 8] -> reshape
// [B, 128] -> matmul (128 -> F, tanh): features [B, F]. Smooth activations keep the finite
// differences below clean.
static dfd_graph *cnn_graph(void)
{
    gb b;
    gb_begin(&b);
    int xd[3] = { IMG, IMG, 1 };
    int v = gb_input(&b, 4, xd);
    v = gb_conv(&b, v, 3, 2, 1, 8, 1, DFD_ACT_TANH, 0.6f, 0.1f);
    v = gb_flatten(&b, v, 128);
    v = gb_matmul(&b, v, 128, F, DFD_ACT_TANH, 0.15f, 0.1f);
    if (gb_finish(&b, &v, 1, true)) {
        dfd_graph_free(b.g);
        return NULL;
    }
    return b.g;
}

// final state [N, HID] -> matmul (HID -> 1): the logit. Names start at 50, clear of the conv
// net's (parameter names must be unique for the optimiser).
static dfd_graph *head_graph(void)
{
    gb b;
    gb_begin(&b);
    b.n = 50;
    int hd = HID;
    int v = gb_matmul(&b, gb_input(&b, 2, &hd), HID, 1, DFD_ACT_NONE, 0.25f, 0.0f);
    if (gb_finish(&b, &v, 1, false)) {
        dfd_graph_free(b.g);
        return NULL;
    }
    return b.g;
}

static void toy_free(toy *m)
{
    dfd_optim_destroy(m->opt);
    dfd_rnn_free(m->gru);
    dfd_autograd_free(m->cnn);
    dfd_autograd_free(m->head);
    dfd_graph_free(m->cnn_g);
    dfd_graph_free(m->head_g);
    dfd_tensor_free(&m->y);
    dfd_tensor_free(&m->h_n);
    dfd_tensor_free(&m->dx);
    dfd_tensor_free(&m->dh);
    free(m->params);
}

static dfd_status toy_make(toy *m, uint64_t seed, float lr, dfd_error *err)
{
    memset(m, 0, sizeof *m);
    test_rng_seed(seed);
    m->cnn_g = cnn_graph();
    m->head_g = head_graph();
    if (!m->cnn_g || !m->head_g) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "toy: cannot build the graphs");
    }
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.n_threads = 1;
    ao.seed = seed;
    dfd_status st = dfd_autograd_create(&m->cnn, m->cnn_g, N_SEQ * T, &ao, err);
    st = st ? st : dfd_autograd_create(&m->head, m->head_g, N_SEQ, &ao, err);
    m->head_in = dfd_graph_value(m->head_g, dfd_graph_input(m->head_g, 0))->name;
    st = st ? st : dfd_autograd_watch(m->head, m->head_in, err); // dL/d(final state)
    dfd_rnn_opts ro = dfd_rnn_opts_default();
    ro.input_size = F;
    ro.hidden_size = HID;
    ro.prefix = "gru";
    ro.seed = seed;
    ro.n_threads = 1;
    st = st ? st : dfd_rnn_create(&m->gru, &ro, err);
    int ys[3] = { N_SEQ, T, HID }, hs[3] = { 1, N_SEQ, HID }, xs[3] = { N_SEQ, T, F };
    st = st ? st : dfd_tensor_alloc(&m->y, 3, ys);
    st = st ? st : dfd_tensor_alloc(&m->h_n, 3, hs);
    st = st ? st : dfd_tensor_alloc(&m->dh, 3, hs);
    st = st ? st : dfd_tensor_alloc(&m->dx, 3, xs);
    if (st) {
        return st;
    }
    // One optimiser over the three parts' parameters.
    size_t n_rnn;
    dfd_param *rp = dfd_rnn_params(m->gru, &n_rnn);
    size_t n_cnn = dfd_autograd_n_params(m->cnn), n_head = dfd_autograd_n_params(m->head);
    m->n_params = n_cnn + n_rnn + n_head;
    m->params = malloc(m->n_params * sizeof *m->params);
    if (!m->params) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "toy: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n_cnn; i++) {
        m->params[k++] = dfd_autograd_params(m->cnn)[i];
    }
    for (size_t i = 0; i < n_rnn; i++) {
        m->params[k++] = &rp[i];
    }
    for (size_t i = 0; i < n_head; i++) {
        m->params[k++] = dfd_autograd_params(m->head)[i];
    }
    dfd_optim_opts oo = dfd_optim_opts_default(DFD_OPTIM_ADAM);
    oo.lr = lr;
    return dfd_optim_create(&m->opt, m->params, m->n_params, &oo, err);
}

// A batch of N_SEQ sequences into the conv net's input, the lengths and the labels.
static void toy_batch(toy *m, rng *r)
{
    float *x = dfd_autograd_input(m->cnn, 0)->data;
    for (int n = 0; n < N_SEQ; n++) {
        make_sequence(x + (size_t)n * T * IMG * IMG, &m->lengths[n], &m->labels[n], r);
    }
}

// Forward through the three parts; the BCE loss of the batch (and its logit gradient kept for
// the backward). The logits stay readable in dfd_autograd_output(m->head, 0).
static dfd_status toy_forward(toy *m, bool training, float *loss, dfd_error *err)
{
    dfd_rnn_set_training(m->gru, training);
    dfd_status st = dfd_autograd_forward(m->cnn, training, err);
    if (st) {
        return st;
    }
    // The features [N*T, F] are the GRU's input [N, T, F], frame n*T + t being step t of n.
    const dfd_tensor *feat = dfd_autograd_output(m->cnn, 0);
    dfd_tensor x = { 3, { N_SEQ, T, F, 1 }, feat->data };
    st = dfd_rnn_forward(&m->y, &m->h_n, NULL, m->gru, &x, m->lengths, NULL, NULL, m->step, err);
    if (st) {
        return st;
    }
    memcpy(dfd_autograd_input(m->head, 0)->data, m->h_n.data, sizeof(float) * N_SEQ * HID);
    st = dfd_autograd_forward(m->head, training, err);
    if (!st) {
        *loss = dfd_loss_bce_logits(m->dlogits, dfd_autograd_output(m->head, 0)->data, m->labels,
                                    N_SEQ, 1, NULL);
    }
    return st;
}

// Backward through the three parts, adding into every parameter's gradient.
static dfd_status toy_backward(toy *m, dfd_error *err)
{
    dfd_status st =
        dfd_autograd_set_grad(m->head, dfd_graph_output_name(m->head_g, 0), m->dlogits, err);
    st = st ? st : dfd_autograd_backward(m->head, err);
    if (st) {
        return st;
    }
    const dfd_tensor *g = dfd_autograd_grad(m->head, m->head_in);
    memcpy(m->dh.data, g->data, sizeof(float) * N_SEQ * HID);
    memset(m->dx.data, 0, dfd_tensor_numel(&m->dx) * sizeof(float)); // backward adds into it
    st = dfd_rnn_backward(&m->dx, NULL, NULL, m->gru, NULL, &m->dh, NULL, err);
    // The GRU's input gradient is the gradient of the conv net's output.
    st = st ? st
            : dfd_autograd_set_grad(m->cnn, dfd_graph_output_name(m->cnn_g, 0), m->dx.data, err);
    return st ? st : dfd_autograd_backward(m->cnn, err);
}

static dfd_status toy_step(toy *m, rng *r, float *loss, dfd_error *err)
{
    toy_batch(m, r);
    dfd_params_zero_grad(m->params, m->n_params);
    m->step++;
    dfd_status st = toy_forward(m, true, loss, err);
    st = st ? st : toy_backward(m, err);
    if (!st) {
        dfd_optim_step(m->opt, NULL);
    }
    return st;
}

// Accuracy on N_EVAL_BATCHES batches from the held-out generator (inference mode).
static double toy_accuracy(toy *m, uint64_t seed)
{
    rng r = { seed };
    int right = 0;
    for (int k = 0; k < N_EVAL_BATCHES; k++) {
        float loss;
        toy_batch(m, &r);
        if (toy_forward(m, false, &loss, NULL)) {
            return -1;
        }
        const float *logit = dfd_autograd_output(m->head, 0)->data;
        for (int n = 0; n < N_SEQ; n++) {
            right += (logit[n] > 0) == (m->labels[n] > 0.5f);
        }
    }
    return (double)right / (N_EVAL_BATCHES * N_SEQ);
}

// ---- tests ----

// Before training, the gradient of the loss with respect to the conv net's parameters, which
// reaches them only through the head, the GRU's backpropagation through time and
// dfd_autograd_set_grad, matches central finite differences of the whole pipeline.
static void gradients_reach_the_conv_net_through_the_gru(void)
{
    toy m;
    dfd_error err;
    if (toy_make(&m, 3, 1e-2f, &err)) {
        fprintf(stderr, "    %s\n", err.msg);
        CHECK(0);
        toy_free(&m);
        return;
    }
    rng r = { 99 };
    toy_batch(&m, &r);
    float l0;
    dfd_params_zero_grad(m.params, m.n_params);
    CHECK_OK(toy_forward(&m, true, &l0, &err));
    CHECK_OK(toy_backward(&m, &err));
    int checked = 0, failed = 0, control_failed = 0;
    double scale = 0;
    for (size_t p = 0; p < 2; p++) { // the convolution's weight and bias
        const dfd_param *q = m.params[p];
        for (size_t i = 0; i < dfd_param_numel(q); i++) {
            scale = fmax(scale, fabs((double)q->grad[i]));
        }
    }
    CHECK(scale > 1e-4);
    for (size_t p = 0; p < 2; p++) {
        dfd_param *q = m.params[p];
        for (size_t i = 0; i < dfd_param_numel(q); i++) {
            const float v = q->value[i], eps = 1e-2f;
            float lp, lm;
            q->value[i] = v + eps;
            CHECK_OK(toy_forward(&m, true, &lp, &err));
            q->value[i] = v - eps;
            CHECK_OK(toy_forward(&m, true, &lm, &err));
            q->value[i] = v;
            const double num = ((double)lp - (double)lm) / (2.0 * (double)eps);
            const double a = (double)q->grad[i], tol_abs = 2e-3 * scale;
            checked++;
            if (!(fabs(a - num) <= 0.03 * fmax(fabs(a), fabs(num)) + tol_abs)) {
                fprintf(stderr, "    %s[%zu]: analytic %.6g, numeric %.6g\n", q->name, i, a, num);
                failed++;
            }
            const double a10 = 1.1 * a; // the same check with a gradient 10% off
            control_failed += fabs(a) > 0.1 * scale &&
                              !(fabs(a10 - num) <= 0.03 * fmax(fabs(a10), fabs(num)) + tol_abs);
        }
    }
    CHECK_EQ_INT(checked, 80); // 3 x 3 x 1 x 8 weights and 8 biases
    CHECK_EQ_INT(failed, 0);
    CHECK(control_failed >= 10); // the check tells a 10% error on the larger gradients
    toy_free(&m);
}

// One training run: Adam at lr 1e-2 on fresh batches until the held-out accuracy, checked every
// 50 steps, reaches 98% or max_steps pass. freeze_cnn: the conv net keeps its random weights.
typedef struct toy_run {
    double before, acc;           // held-out accuracy before and after
    double first_loss, last_loss; // mean of the first 20 steps; running mean at the end
    double seconds, moved;        // training time; largest change of a first-conv weight
    int steps;
} toy_run;

static dfd_status toy_train(toy_run *out, uint64_t seed, bool freeze_cnn, int max_steps,
                            dfd_error *err)
{
    toy m;
    memset(out, 0, sizeof *out);
    dfd_status st = toy_make(&m, seed, 1e-2f, err);
    float *w0 = st ? NULL : malloc(dfd_param_numel(m.params[0]) * sizeof(float));
    if (!st && !w0) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "toy: out of memory");
    }
    if (st) {
        toy_free(&m);
        return st;
    }
    memcpy(w0, m.params[0]->value, dfd_param_numel(m.params[0]) * sizeof(float));
    dfd_autograd_freeze(m.cnn, "", freeze_cnn);
    out->before = toy_accuracy(&m, 777);
    rng r = { 12345 };
    const double t0 = dfd_now();
    while (!st && out->steps < max_steps) {
        float loss;
        st = toy_step(&m, &r, &loss, err);
        out->first_loss += out->steps < 20 ? (double)loss / 20 : 0;
        out->last_loss = out->steps ? 0.9 * out->last_loss + 0.1 * (double)loss : (double)loss;
        if (++out->steps % 50 == 0 && (out->acc = toy_accuracy(&m, 777)) >= 0.98) {
            break;
        }
    }
    out->seconds = dfd_now() - t0;
    for (size_t i = 0; i < dfd_param_numel(m.params[0]); i++) {
        out->moved = fmax(out->moved, fabs((double)m.params[0]->value[i] - (double)w0[i]));
    }
    free(w0);
    toy_free(&m);
    return st;
}

// The toy must be learnt: at least 95% of held-out sequences right within a few hundred steps
// (well under a second), the conv net trained along. With the conv net frozen at its random
// weights, the same steps on the same data stay far below: the gradients that reach it through
// the GRU are what makes the difference.
static void conv_gru_toy_learns_to_separate_two_sequence_classes(void)
{
    toy_run a, b;
    dfd_error err;
    CHECK_OK(toy_train(&a, 1, false, 1000, &err));
    fprintf(stderr,
            "    held-out accuracy %.3f -> %.3f after %d steps (%.2f s), loss %.3f -> %.3f\n",
            a.before, a.acc, a.steps, a.seconds, a.first_loss, a.last_loss);
    CHECK(a.before < 0.8);
    CHECK(a.acc >= 0.95);
    CHECK(a.last_loss < 0.5 * a.first_loss);
    CHECK(a.moved > 1e-2);
    CHECK_OK(toy_train(&b, 1, true, a.steps, &err));
    fprintf(stderr, "    conv net frozen: %.3f after %d steps\n", b.acc, b.steps);
    CHECK(b.moved == 0);
    CHECK(b.acc < 0.9);
}

int main(int argc, char **argv)
{
    static const dfd_test_case cases[] = {
        { "gradients_reach_the_conv_net_through_the_gru",
          gradients_reach_the_conv_net_through_the_gru },
        { "conv_gru_toy_learns_to_separate_two_sequence_classes",
          conv_gru_toy_learns_to_separate_two_sequence_classes },
    };
    return dfd_test_run_(cases, sizeof cases / sizeof cases[0], argc, argv);
}
