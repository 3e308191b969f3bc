// Fast (oneDNN) training kernels against the reference ones: forward outputs, every parameter's
// gradient and the inputs' gradients for random convolutions (dense, depthwise, grouped; odd
// sizes, strides 1-3, SAME/VALID/explicit padding, dilation; every activation, residuals, with
// and without bias) and matmuls; plus the paths that only a training session takes: gradients
// added into a value two nodes read, frozen weights with a trainable bias, input gradient only.
#include <stdio.h>
#include <stdlib.h>

#include "gradcheck.h"
#include "nn/nn_internal.h"
#include "test.h"

// A parameter's gradient as a tensor (for test_rel_err).
static dfd_tensor grad_view(const dfd_param *p)
{
    dfd_tensor t = { 1, { (int)dfd_param_numel(p), 1, 1, 1 }, p->grad };
    return t;
}

// Run one training step of g on both backends with the same inputs and output gradients;
// returns the worst relative error over outputs, parameter gradients and input gradients.
// `freeze` (may be NULL) is a prefix of parameters to freeze; *n_fast: fast nodes. Most calls
// run one thread (these graphs are tiny: a team costs more than it saves, and much more on a
// loaded machine); some run two, where the kernels split their work.
static double fast_vs_ref(dfd_graph *g, int batch, const char *freeze, bool watch_inputs,
                          int threads, int *n_fast)
{
    dfd_autograd *s[2] = { NULL, NULL };
    dfd_autograd_opts o = dfd_autograd_opts_default();
    o.n_threads = threads;
    double worst = 0;
    for (int k = 0; k < 2; k++) {
        o.backend = k ? DFD_BACKEND_REF : DFD_BACKEND_FAST;
        dfd_error err;
        if (dfd_autograd_create(&s[k], g, batch, &o, &err)) {
            fprintf(stderr, "    %s\n", err.msg);
            dfd_autograd_free(s[0]);
            return (double)INFINITY;
        }
        if (freeze) {
            dfd_autograd_freeze(s[k], freeze, true);
        }
    }
    *n_fast = (int)dfd_autograd_n_fast(s[0]);
    for (size_t i = 0; i < dfd_graph_n_inputs(g); i++) {
        dfd_tensor *x0 = dfd_autograd_input(s[0], i), *x1 = dfd_autograd_input(s[1], i);
        test_fill(x0, 1.0f);
        memcpy(x1->data, x0->data, dfd_tensor_numel(x0) * sizeof(float));
        const char *name = dfd_graph_value(g, dfd_graph_input(g, i))->name;
        for (int k = 0; watch_inputs && k < 2; k++) {
            dfd_autograd_watch(s[k], name, NULL);
        }
    }
    for (int k = 0; k < 2; k++) {
        dfd_autograd_forward(s[k], true, NULL);
    }
    // The same random output gradients for both sessions, set again before the second of two
    // backward passes: parameter gradients must add up (2g), input gradients (recomputed) must
    // sum every reader's part.
    const size_t n_out = dfd_graph_n_outputs(g);
    float **r = calloc(n_out, sizeof *r);
    for (size_t i = 0; r && i < n_out; i++) {
        const dfd_tensor *y0 = dfd_autograd_output(s[0], i), *y1 = dfd_autograd_output(s[1], i);
        size_t n = dfd_tensor_numel(y0);
        worst = fmax(worst, test_rel_err(y0, y1));
        if (!(r[i] = malloc(n * sizeof(float)))) {
            worst = (double)INFINITY;
            break;
        }
        for (size_t j = 0; j < n; j++) {
            r[i][j] = test_rand();
        }
    }
    for (int k = 0; r && k < 2; k++) {
        for (int rep = 0; rep < 2; rep++) {
            for (size_t i = 0; i < n_out; i++) {
                if (!r[i] || dfd_autograd_set_grad(s[k], dfd_graph_output_name(g, i), r[i], NULL)) {
                    worst = (double)INFINITY;
                }
            }
            if (dfd_autograd_backward(s[k], NULL)) {
                worst = (double)INFINITY;
            }
        }
    }
    for (size_t i = 0; r && i < n_out; i++) {
        free(r[i]);
    }
    worst = r ? worst : (double)INFINITY;
    free(r);
    for (size_t p = 0; p < dfd_autograd_n_params(s[0]); p++) {
        const dfd_param *a = dfd_autograd_params(s[0])[p], *b = dfd_autograd_params(s[1])[p];
        dfd_tensor ta = grad_view(a), tb = grad_view(b);
        worst = fmax(worst, test_rel_err(&ta, &tb));
    }
    for (size_t i = 0; watch_inputs && i < dfd_graph_n_inputs(g); i++) {
        const char *name = dfd_graph_value(g, dfd_graph_input(g, i))->name;
        const dfd_tensor *a = dfd_autograd_grad(s[0], name), *b = dfd_autograd_grad(s[1], name);
        worst = fmax(worst, test_rel_err(a, b));
    }
    dfd_autograd_free(s[0]);
    dfd_autograd_free(s[1]);
    return worst;
}

static dfd_act random_act(int k)
{
    static const dfd_act_kind kinds[] = { DFD_ACT_NONE,    DFD_ACT_RELU,       DFD_ACT_CLIP,
                                          DFD_ACT_PRELU,   DFD_ACT_LEAKY_RELU, DFD_ACT_ELU,
                                          DFD_ACT_SIGMOID, DFD_ACT_TANH };
    dfd_act a = { kinds[k % 8], 0, 0, 0 };
    if (a.kind == DFD_ACT_CLIP) {
        a.lo = 0;
        a.hi = 0.6f;
    } else if (a.kind == DFD_ACT_LEAKY_RELU || a.kind == DFD_ACT_ELU) {
        a.alpha = k % 16 < 8 ? 0.3f : -0.2f; // negative: the pre-activation path
    }
    return a;
}

static void fast_conv_training_matches_reference_on_random_shapes(void)
{
    test_rng_seed(41);
    int fast_total = 0, checked = 0;
    for (int trial = 0; trial < 48; trial++) {
        const int H = test_rand_int(1, 17), W = test_rand_int(1, 17);
        const int kind = trial % 3; // 0 dense, 1 depthwise, 2 grouped
        int IC = test_rand_int(1, 19), G = 1, OC = test_rand_int(1, 33);
        if (kind == 1) {
            G = IC;
            OC = IC * test_rand_int(1, 2);
        } else if (kind == 2) {
            G = test_rand_int(2, 4);
            IC = G * test_rand_int(1, 5);
            OC = G * test_rand_int(1, 5);
        }
        dfd_window win = { 0 };
        win.kh = test_rand_int(1, 5);
        win.kw = test_rand_int(1, 5);
        win.sh = test_rand_int(1, 3);
        win.sw = test_rand_int(1, 2);
        win.dh = win.dw = trial % 7 == 0 ? 2 : 1;
        win.padding = trial % 2 ? DFD_PAD_SAME : DFD_PAD_VALID;
        if (trial % 11 == 5) {
            win.padding = DFD_PAD_EXPLICIT;
            win.pads[0] = win.kh / 2;
            win.pads[1] = (win.kh - 1) / 2;
            win.pads[2] = (win.kw - 1) / 2;
            win.pads[3] = win.kw / 2;
        }
        int ekh = (win.kh - 1) * win.dh + 1, ekw = (win.kw - 1) * win.dw + 1;
        if (win.padding == DFD_PAD_VALID && (H < ekh || W < ekw)) {
            win.padding = DFD_PAD_SAME;
        }
        int oh, ow;
        nn_window_pads(&win, H, W);
        nn_window_out(&win, H, W, &oh, &ow);
        if (oh < 1 || ow < 1) {
            continue;
        }
        gb b;
        gb_begin(&b);
        int xd[3] = { H, W, IC }, rd[3] = { oh, ow, OC }, y;
        int x = gb_input(&b, 4, xd), r = trial % 4 == 1 ? gb_input(&b, 4, rd) : -1;
        dfd_node *n = gb_node(&b, DFD_OP_CONV2D, &x, 1, &y);
        if (n) {
            n->a.conv.win = win;
            n->a.conv.groups = G;
            n->residual = r;
            n->act = random_act(trial);
            int ws[4] = { win.kh, win.kw, IC / G, OC };
            gb_param(&b, &n->weight, 4, ws, 0.5f);
            if (trial % 5) {
                gb_param(&b, &n->bias, 1, &OC, 0.5f);
            }
            if (n->act.kind == DFD_ACT_PRELU) {
                gb_param(&b, &n->alpha, 1, &OC, 0.5f);
            }
        }
        CHECK_OK(gb_finish(&b, &y, 1, false));
        int n_fast;
        double e = fast_vs_ref(b.g, 1 + trial % 3, NULL, true, 1 + (trial % 4 == 0), &n_fast);
        if (!(e < 1e-4)) {
            fprintf(stderr,
                    "    trial %d: %dx%dx%d -> %d, G %d, k %dx%d s %dx%d d %d pad %d act %s: %g\n",
                    trial, H, W, IC, OC, G, win.kh, win.kw, win.sh, win.sw, win.dh, win.padding,
                    dfd_act_name(n ? n->act.kind : DFD_ACT_NONE), e);
        }
        CHECK(e < 1e-4);
        fast_total += n_fast;
        checked++;
        dfd_graph_free(b.g);
    }
    CHECK(checked >= 40);
    CHECK(fast_total >= checked * 9 / 10); // oneDNN took (nearly) all of them
}

static void fast_matmul_training_matches_reference(void)
{
    test_rng_seed(42);
    for (int trial = 0; trial < 12; trial++) {
        gb b;
        gb_begin(&b);
        int K = test_rand_int(1, 70), OC = test_rand_int(1, 40), y;
        int x = gb_input(&b, 2, &K);
        dfd_node *n = gb_node(&b, DFD_OP_MATMUL, &x, 1, &y);
        if (n) {
            int ws[2] = { K, OC };
            gb_param(&b, &n->weight, 2, ws, 0.5f);
            if (trial % 3) {
                gb_param(&b, &n->bias, 1, &OC, 0.5f);
            }
            n->act = random_act(trial);
            if (n->act.kind == DFD_ACT_PRELU) {
                gb_param(&b, &n->alpha, 1, &OC, 0.5f);
            }
        }
        CHECK_OK(gb_finish(&b, &y, 1, false));
        int n_fast;
        CHECK(fast_vs_ref(b.g, 1 + trial % 5, NULL, true, 1 + (trial % 4 == 0), &n_fast) < 1e-4);
        CHECK_EQ_INT(n_fast, 1);
        dfd_graph_free(b.g);
    }
}

// x feeds two convolutions, so its gradient is the sum of theirs (the second one adds into it);
// then the first one's weights frozen (its bias still trained); then everything frozen, where
// only the input's gradient is computed.
static void fast_training_sums_fan_out_and_honours_frozen_weights(void)
{
    test_rng_seed(43);
    for (int variant = 0; variant < 3; variant++) {
        gb b;
        gb_begin(&b);
        int xd[3] = { 9, 7, 8 }, y[2], oc = 8;
        int x = gb_input(&b, 4, xd);
        for (int k = 0; k < 2; k++) {
            dfd_node *n = gb_node(&b, DFD_OP_CONV2D, &x, 1, &y[k]);
            if (n) {
                n->a.conv.win = (dfd_window){ 3, 3, 1 + k, 1 + k, 1, 1, DFD_PAD_SAME, { 0 } };
                n->a.conv.groups = k ? 8 : 1;
                n->act.kind = DFD_ACT_RELU;
                int ws[4] = { 3, 3, k ? 1 : 8, oc };
                gb_param(&b, &n->weight, 4, ws, 0.5f);
                gb_param(&b, &n->bias, 1, &oc, 0.5f);
            }
        }
        CHECK_OK(gb_finish(&b, y, 2, false));
        // 0: everything trainable; 1: the first conv's weights frozen; 2: all frozen (the
        // input's gradient alone: backward-data only).
        const char *freeze = variant == 0 ? NULL : variant == 1 ? "n1/weight" : "";
        int n_fast;
        double e = fast_vs_ref(b.g, 2, freeze, true, 2, &n_fast);
        if (!(e < 1e-4)) {
            fprintf(stderr, "    variant %d: %g\n", variant, e);
        }
        CHECK(e < 1e-4);
        CHECK_EQ_INT(n_fast, 2);
        dfd_graph_free(b.g);
    }
}

// 1x1 stride-1 convolutions (and matmuls) train through plain GEMMs: every epilogue, with and
// without bias, a residual, and a value read by two of them (the second adds its input gradient
// into the first's, beta = 1), each once with its weights frozen.
static void fast_pointwise_conv_training_matches_reference(void)
{
    test_rng_seed(44);
    for (int trial = 0; trial < 8; trial++) {
        gb b;
        gb_begin(&b);
        const int H = 3 + trial, W = 5, IC = 3 + 2 * trial, OC = 4 + trial;
        int xd[3] = { H, W, IC }, rd[3] = { H, W, OC }, y[2];
        int x = gb_input(&b, 4, xd), r = trial % 3 == 1 ? gb_input(&b, 4, rd) : -1;
        for (int k = 0; k < 2; k++) {
            dfd_node *n = gb_node(&b, DFD_OP_CONV2D, &x, 1, &y[k]);
            if (n) {
                n->a.conv.win = (dfd_window){ 1, 1, 1, 1, 1, 1, DFD_PAD_SAME, { 0 } };
                n->a.conv.groups = 1;
                n->act = random_act(trial + 3 * k);
                n->residual = k == 0 ? r : -1;
                int ws[4] = { 1, 1, IC, OC };
                gb_param(&b, &n->weight, 4, ws, 0.5f);
                if ((trial + k) % 2) {
                    gb_param(&b, &n->bias, 1, &OC, 0.5f);
                }
                if (n->act.kind == DFD_ACT_PRELU) {
                    gb_param(&b, &n->alpha, 1, &OC, 0.5f);
                }
            }
        }
        CHECK_OK(gb_finish(&b, y, trial % 2 ? 2 : 1, false));
        int n_fast;
        const char *freeze = trial % 4 == 3 ? "n" : NULL; // every weight and bias frozen
        double e = fast_vs_ref(b.g, 1 + trial % 3, freeze, true, 1 + (trial % 2), &n_fast);
        if (!(e < 1e-4)) {
            fprintf(stderr, "    trial %d: %g\n", trial, e);
        }
        CHECK(e < 1e-4);
        CHECK(n_fast >= 1);
        dfd_graph_free(b.g);
    }
}

int main(int argc, char **argv)
{
    static const dfd_test_case cases[] = {
        { "fast_conv_training_matches_reference_on_random_shapes",
          fast_conv_training_matches_reference_on_random_shapes },
        { "fast_matmul_training_matches_reference", fast_matmul_training_matches_reference },
        { "fast_pointwise_conv_training_matches_reference",
          fast_pointwise_conv_training_matches_reference },
        { "fast_training_sums_fan_out_and_honours_frozen_weights",
          fast_training_sums_fan_out_and_honours_frozen_weights },
    };
    return dfd_test_run_(cases, sizeof cases / sizeof cases[0], argc, argv);
}
