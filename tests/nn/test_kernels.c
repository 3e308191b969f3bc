// Kernels: the reference kernels against hand-computed TensorFlow semantics, and every fast
// kernel against its reference on random shapes (odd sizes, strides 1 and 2, SAME and VALID,
// dilation, grouped and depthwise convolution, every activation, residual adds, batch > 1).
#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/nn_internal.h"
#include "nn_test_util.h"
#include "test.h"

// ---- a one-node graph: x -> node -> y (plus an optional residual input) ----

typedef struct one_node {
    dfd_graph *g;
    dfd_node *node; // valid until finalize
    int x, res, y;
} one_node;

static dfd_status one_node_begin(one_node *o, dfd_op op, int rank, const int *xshape,
                                 bool with_residual, const int *res_shape)
{
    memset(o, 0, sizeof *o);
    o->res = -1;
    dfd_status st = dfd_graph_create(&o->g);
    if (!st) {
        st = dfd_graph_add_value(o->g, "x", rank, xshape, &o->x);
    }
    if (!st) {
        st = dfd_graph_add_input(o->g, o->x);
    }
    if (!st && with_residual) {
        st = dfd_graph_add_value(o->g, "r", 4, res_shape, &o->res);
        if (!st) {
            st = dfd_graph_add_input(o->g, o->res);
        }
    }
    if (!st) {
        st = dfd_graph_add_value(o->g, "y", 0, NULL, &o->y);
    }
    if (!st) {
        st = dfd_graph_add_node(o->g, op, "node", &o->x, 1, o->y, &o->node);
    }
    if (!st) {
        o->node->residual = o->res;
        st = dfd_graph_add_output(o->g, o->y, NULL, 0);
    }
    return st;
}

// Run the finalized graph on both backends with the same random inputs; returns the worst
// relative error of fast against reference. *n_fast: the nodes that ran on the fast kernel named
// kernel (NULL: on any fast kernel).
static double run_both(dfd_graph *g, int batch, const char *kernel, int *n_fast)
{
    dfd_session *s[2];
    dfd_session_opts o = dfd_session_opts_default();
    o.n_threads = 2;
    for (int k = 0; k < 2; k++) {
        o.backend = k ? DFD_BACKEND_REF : DFD_BACKEND_FAST;
        if (dfd_session_create(&s[k], g, batch, &o, NULL) != DFD_OK) {
            return INFINITY;
        }
    }
    *n_fast = 0;
    for (size_t i = 0; i < dfd_graph_n_nodes(g); i++) {
        const char *k = dfd_session_node_kernel(s[0], i);
        *n_fast += kernel ? !strcmp(k, kernel) : strcmp(k, "reference") != 0;
    }
    for (size_t i = 0; i < dfd_graph_n_inputs(g); i++) {
        test_fill(dfd_session_input(s[0], i), 1.0f);
        memcpy(dfd_session_input(s[1], i)->data, dfd_session_input(s[0], i)->data,
               dfd_tensor_numel(dfd_session_input(s[0], i)) * sizeof(float));
    }
    dfd_session_run(s[0], NULL);
    dfd_session_run(s[1], NULL);
    double e = test_rel_err(dfd_session_output(s[0], 0), dfd_session_output(s[1], 0));
    dfd_session_free(s[0]);
    dfd_session_free(s[1]);
    return e;
}

static dfd_act random_act(int k)
{
    dfd_act a = { (dfd_act_kind)(k % DFD_ACT_COUNT), 0, 0, 0 };
    if (a.kind == DFD_ACT_CLIP) {
        a.lo = -0.3f;
        a.hi = 0.4f;
    } else if (a.kind == DFD_ACT_LEAKY_RELU || a.kind == DFD_ACT_ELU) {
        a.alpha = 0.3f;
    }
    return a;
}

// Random weights of shape ws (outputs last) in +-scale, a bias when asked, the trial's activation
// and its PReLU slopes.
static void random_params(dfd_node *n, int rank, const int *ws, float scale, bool bias, int trial)
{
    int OC = ws[rank - 1];
    CHECK_OK(dfd_tensor_alloc(&n->weight, rank, ws));
    test_fill(&n->weight, scale);
    if (bias) {
        CHECK_OK(dfd_tensor_alloc(&n->bias, 1, &OC));
        test_fill(&n->bias, 0.5f);
    }
    n->act = random_act(trial);
    if (n->act.kind == DFD_ACT_PRELU) {
        CHECK_OK(dfd_tensor_alloc(&n->alpha, 1, &OC));
        test_fill(&n->alpha, 0.5f);
    }
}

// Kernel sizes 1..kmax and strides 1..smax drawn at random; SAME on odd trials, else VALID.
static dfd_window random_window(int trial, int kmax, int smax, int dilation)
{
    dfd_window win = { 0 };
    win.kh = test_rand_int(1, kmax);
    win.kw = test_rand_int(1, kmax);
    win.sh = test_rand_int(1, smax);
    win.sw = test_rand_int(1, smax);
    win.dh = win.dw = dilation;
    win.padding = trial % 2 ? DFD_PAD_SAME : DFD_PAD_VALID;
    return win;
}

// One random convolution (weights, bias unless trial % 5 == 0, the trial's activation, an
// optional residual) on both backends; fails the test beyond 1e-5 relative error. Adds to
// *fast_nodes how many nodes ran on the fast kernel named kernel (NULL: any).
static void check_conv(int trial, int H, int W, int IC, int G, int OC, dfd_window win,
                       bool residual, const char *kernel, int *fast_nodes)
{
    int ekh = (win.kh - 1) * win.dh + 1, ekw = (win.kw - 1) * win.dw + 1;
    if (win.padding == DFD_PAD_VALID && (H < ekh || W < ekw)) {
        win.padding = DFD_PAD_SAME;
    }
    int xs[4] = { DFD_BATCH, H, W, IC };
    // Output size to shape the residual (computed as the engine does).
    int oh = win.padding == DFD_PAD_SAME ? (H + win.sh - 1) / win.sh : (H - ekh) / win.sh + 1;
    int ow = win.padding == DFD_PAD_SAME ? (W + win.sw - 1) / win.sw : (W - ekw) / win.sw + 1;
    int rs[4] = { DFD_BATCH, oh, ow, OC };
    one_node o;
    CHECK_OK(one_node_begin(&o, DFD_OP_CONV2D, 4, xs, residual, rs));
    o.node->a.conv.win = win;
    o.node->a.conv.groups = G;
    int ws[4] = { win.kh, win.kw, IC / G, OC };
    random_params(o.node, 4, ws, 0.5f, trial % 5 != 0, trial);
    dfd_finalize_opts fo = { .fuse = false };
    dfd_error err;
    dfd_status st = dfd_graph_finalize(o.g, &fo, "random conv", &err);
    if (st) {
        fprintf(stderr, "    %s\n", err.msg);
    }
    CHECK_OK(st);
    int n_fast = 0;
    double e = run_both(o.g, 1 + trial % 3, kernel, &n_fast);
    if (!(e < 1e-5)) {
        fprintf(stderr,
                "    trial %d: %dx%d IC %d OC %d G %d k %dx%d s %dx%d d %d %s act %s%s: "
                "error %.2e\n",
                trial, H, W, IC, OC, G, win.kh, win.kw, win.sh, win.sw, win.dh,
                win.padding == DFD_PAD_SAME ? "SAME" : "VALID",
                dfd_act_name((dfd_act_kind)(trial % DFD_ACT_COUNT)), residual ? " +res" : "", e);
    }
    CHECK(e < 1e-5);
    dfd_graph_free(o.g);
    *fast_nodes += n_fast;
}

static void fast_conv_matches_reference_on_random_shapes(void)
{
    test_rng_seed(1);
    int checked = 0, fast_nodes = 0;
    for (int trial = 0; trial < 60; trial++) {
        const int H = test_rand_int(1, 23), W = test_rand_int(1, 23);
        const int kind = trial % 3; // 0 dense, 1 depthwise, 2 grouped
        int IC = test_rand_int(1, 21), G = 1, OC = test_rand_int(1, 37);
        if (kind == 1) {
            G = IC;
            OC = IC * test_rand_int(1, 2);
        } else if (kind == 2) {
            G = test_rand_int(2, 4);
            IC = G * test_rand_int(1, 6);
            OC = G * test_rand_int(1, 6);
        }
        dfd_window win = random_window(trial, 5, 2, trial % 7 == 0 ? 2 : 1);
        check_conv(trial, H, W, IC, G, OC, win, trial % 4 == 1, NULL, &fast_nodes);
        checked++;
    }
    CHECK_EQ_INT(checked, 60);
    CHECK(fast_nodes >= 50); // oneDNN really ran (it may decline a rare shape)
}

// The first layers of the face models (1 to 4 input channels, at most 16 outputs, kernels
// smaller than 5x5) run on the im2col kernel where the CPU has AVX-512: its direct groups of 16
// pixels and its gathered borders, on rows wide enough for both, strides 1 to 3.
static void few_channel_convolutions_match_reference(void)
{
    test_rng_seed(7);
    int fast_nodes = 0, suited = 0;
    for (int trial = 0; trial < 48; trial++) {
        const int H = test_rand_int(1, 19), W = test_rand_int(1, 70);
        const int IC = test_rand_int(1, 4), OC = trial % 4 == 0 ? 16 : test_rand_int(1, 16);
        dfd_window win = random_window(trial, 4, 3, 1);
        check_conv(trial, H, W, IC, 1, OC, win, trial % 4 == 1, "im2col", &fast_nodes);
        suited++;
    }
    CHECK_EQ_INT(suited, 48);
    if (nn_dwpw_fast_available()) {
        CHECK_EQ_INT(fast_nodes, 48); // the im2col kernel took every one
    }
}

// Large kernels (5x5 to 7x7) on 1 to 4 input channels with at most 24 outputs (BlazeFace's first
// layer) run on the firstconv kernel: every stride phase, the left and right padding of both
// paddings, partial register blocks (widths from 1 to the 256-output limit), a residual, every
// activation, batches of 1 to 3.
static void large_kernel_first_layers_match_reference(void)
{
    test_rng_seed(11);
    int fast_nodes = 0;
    for (int trial = 0; trial < 40; trial++) {
        dfd_window win = random_window(trial, 7, 3, 1);
        win.kh = test_rand_int(5, 7);
        win.kw = test_rand_int(5, 7);
        if (trial == 0) {
            win.padding = DFD_PAD_SAME; // 256 outputs wide: the kernel's limit
        }
        const int W = trial == 0 ? 256 * win.sw : test_rand_int(1, 110);
        const int H = test_rand_int(1, 14), IC = test_rand_int(1, 4);
        const int OC = trial % 4 == 0 ? 24 : test_rand_int(1, 24);
        check_conv(trial, H, W, IC, 1, OC, win, trial % 4 == 1, "firstconv", &fast_nodes);
    }
    if (nn_dwpw_fast_available()) {
        CHECK_EQ_INT(fast_nodes, 40); // the firstconv kernel took every one
    }
}

static void fast_matmul_matches_reference_on_random_shapes(void)
{
    test_rng_seed(2);
    for (int trial = 0; trial < 20; trial++) {
        int K = test_rand_int(1, 300), OC = test_rand_int(1, 130);
        int xs[2] = { DFD_BATCH, K };
        one_node o;
        CHECK_OK(one_node_begin(&o, DFD_OP_MATMUL, 2, xs, false, NULL));
        int ws[2] = { K, OC };
        random_params(o.node, 2, ws, 0.2f, trial % 2 != 0, trial);
        dfd_finalize_opts fo = { .fuse = false };
        CHECK_OK(dfd_graph_finalize(o.g, &fo, "random matmul", NULL));
        int n_fast = 0;
        double e = run_both(o.g, 1 + trial % 9, NULL, &n_fast);
        if (!(e < 1e-5)) {
            fprintf(stderr, "    trial %d: K %d OC %d error %.2e\n", trial, K, OC, e);
        }
        CHECK(e < 1e-5);
        dfd_graph_free(o.g);
    }
}

// A depthwise -> 1x1 chain (+ optional residual of the chain's input, + activation), fused into
// a DWPW node when the CPU has the fused kernel. Built as two nodes so fusion does the merging.
static dfd_graph *dwpw_graph(int H, int W, int C, int OC, int K, int S, dfd_padding pad,
                             bool residual, dfd_act act, bool fuse)
{
    dfd_graph *g;
    if (dfd_graph_create(&g)) {
        return NULL;
    }
    int x, d, y, xs[4] = { DFD_BATCH, H, W, C };
    dfd_graph_add_value(g, "x", 4, xs, &x);
    dfd_graph_add_input(g, x);
    dfd_graph_add_value(g, "d", 0, NULL, &d);
    dfd_graph_add_value(g, "y", 0, NULL, &y);
    dfd_node *n;
    dfd_graph_add_node(g, DFD_OP_CONV2D, "dw", &x, 1, d, &n);
    n->a.conv.win = (dfd_window){ K, K, S, S, 1, 1, pad, { 0 } };
    n->a.conv.groups = C;
    int ws[4] = { K, K, 1, C };
    dfd_tensor_alloc(&n->weight, 4, ws);
    test_fill(&n->weight, 0.5f);
    if (C % 2) {
        dfd_tensor_alloc(&n->bias, 1, &C);
        test_fill(&n->bias, 0.5f);
    }
    dfd_graph_add_node(g, DFD_OP_CONV2D, "pw", &d, 1, y, &n);
    n->a.conv.win = (dfd_window){ 1, 1, 1, 1, 1, 1, DFD_PAD_VALID, { 0 } };
    n->a.conv.groups = 1;
    int pw[4] = { 1, 1, C, OC };
    dfd_tensor_alloc(&n->weight, 4, pw);
    test_fill(&n->weight, 0.3f);
    dfd_tensor_alloc(&n->bias, 1, &OC);
    test_fill(&n->bias, 0.5f);
    if (residual) {
        n->residual = x; // same shape as the output when S == 1 and C == OC
    }
    n->act = act;
    if (act.kind == DFD_ACT_PRELU) {
        dfd_tensor_alloc(&n->alpha, 1, &OC);
        test_fill(&n->alpha, 0.5f);
    }
    dfd_graph_add_output(g, y, NULL, 0);
    dfd_finalize_opts fo = { .fuse = true, .fuse_dwpw = fuse };
    if (dfd_graph_finalize(g, &fo, "dwpw", NULL)) {
        dfd_graph_free(g);
        return NULL;
    }
    return g;
}

static void fused_depthwise_pointwise_matches_reference(void)
{
    test_rng_seed(3);
    int fused_nodes = 0;
    for (int trial = 0; trial < 40; trial++) {
        const int H = test_rand_int(1, 40), W = test_rand_int(1, 90);
        // Fusion takes up to 32 channels each side (where the fused kernel measured faster).
        // The first trials hit the kernel's instances specialised for 16, 24 and 32 channels.
        const int C = trial < 6 ? 16 + 8 * (trial % 3) : test_rand_int(1, 32);
        const int K = trial % 5 == 0 ? 5 : 3;
        const int S = trial % 4 == 3 ? 2 : 1;
        const bool residual = S == 1 && trial % 2 == 0;
        const int OC = residual ? C : test_rand_int(1, 32);
        dfd_padding pad = trial % 3 ? DFD_PAD_SAME : DFD_PAD_VALID;
        if (pad == DFD_PAD_VALID && (H < K || W < K)) {
            pad = DFD_PAD_SAME;
        }
        const bool res_ok = residual && pad == DFD_PAD_SAME;
        dfd_graph *g = dwpw_graph(H, W, C, OC, K, S, pad, res_ok, random_act(trial), true);
        REQUIRE(g);
        fused_nodes += dfd_graph_n_nodes(g) == 1 && dfd_graph_node(g, 0)->op == DFD_OP_DWPW;
        int n_fast = 0;
        double e = run_both(g, 1 + trial % 2, NULL, &n_fast);
        if (!(e < 1e-5)) {
            fprintf(stderr, "    trial %d: %dx%d C %d OC %d k%d s%d %s res %d act %d: %.2e\n",
                    trial, H, W, C, OC, K, S, pad == DFD_PAD_SAME ? "SAME" : "VALID", res_ok,
                    (int)random_act(trial).kind, e);
        }
        CHECK(e < 1e-5);
        dfd_graph_free(g);
    }
    CHECK_EQ_INT(fused_nodes, 40);
}

// The stride-1 3x3 path for 16, 24 and 32 channels slides over runs of eight inside pixels; the
// last run of a segment overlaps the one before and border pixels go one at a time. Widths that
// cross the 64-pixel segments with every remainder, both paddings, batch 2.
static void fused_depthwise_runs_of_eight_match_reference(void)
{
    test_rng_seed(5);
    const int widths[] = { 8, 10, 11, 17, 64, 65, 66, 73, 129, 130 };
    for (int ci = 0; ci < 3; ci++) {
        for (int wi = 0; wi < (int)(sizeof widths / sizeof widths[0]); wi++) {
            const int C = 16 + 8 * ci, W = widths[wi];
            const dfd_padding pad = wi % 2 || W < 3 ? DFD_PAD_SAME : DFD_PAD_VALID;
            dfd_graph *g = dwpw_graph(4 + wi % 3, W, C, C, 3, 1, pad, pad == DFD_PAD_SAME,
                                      random_act(wi + ci), true);
            REQUIRE(g);
            int n_fast = 0;
            double e = run_both(g, 2, NULL, &n_fast);
            if (!(e < 1e-5)) {
                fprintf(stderr, "    C %d W %d %s: %.2e\n", C, W,
                        pad == DFD_PAD_SAME ? "SAME" : "VALID", e);
            }
            CHECK(e < 1e-5);
            dfd_graph_free(g);
        }
    }
}

static void dwpw_fusion_keeps_the_numbers_of_the_two_convolutions(void)
{
    test_rng_seed(4);
    dfd_act relu = { DFD_ACT_RELU, 0, 0, 0 };
    dfd_graph *fused = dwpw_graph(17, 33, 24, 24, 3, 1, DFD_PAD_SAME, true, relu, true);
    test_rng_seed(4);
    dfd_graph *two = dwpw_graph(17, 33, 24, 24, 3, 1, DFD_PAD_SAME, true, relu, false);
    REQUIRE(fused && two);
    CHECK_EQ_INT(dfd_graph_n_nodes(fused), 1);
    CHECK_EQ_INT(dfd_graph_n_nodes(two), 2);
    dfd_session *s[2];
    dfd_session_opts so = dfd_session_opts_default();
    so.backend = DFD_BACKEND_REF;
    CHECK_OK(dfd_session_create(&s[0], fused, 2, &so, NULL));
    CHECK_OK(dfd_session_create(&s[1], two, 2, &so, NULL));
    test_fill(dfd_session_input(s[0], 0), 1.0f);
    memcpy(dfd_session_input(s[1], 0)->data, dfd_session_input(s[0], 0)->data,
           dfd_tensor_numel(dfd_session_input(s[0], 0)) * sizeof(float));
    dfd_session_run(s[0], NULL);
    dfd_session_run(s[1], NULL);
    CHECK(test_rel_err(dfd_session_output(s[0], 0), dfd_session_output(s[1], 0)) < 1e-6);
    dfd_session_free(s[0]);
    dfd_session_free(s[1]);
    dfd_graph_free(fused);
    dfd_graph_free(two);
}

// ---- reference kernels against hand-computed values ----

// Build, finalize and run a one-node graph on the reference backend with a given input.
static const dfd_tensor *run_ref(dfd_session **s, one_node *o, const float *x, size_t n)
{
    if (dfd_graph_finalize(o->g, NULL, "test", NULL) != DFD_OK) {
        return NULL;
    }
    dfd_session_opts so = dfd_session_opts_default();
    so.backend = DFD_BACKEND_REF;
    if (dfd_session_create(s, o->g, 1, &so, NULL) != DFD_OK) {
        return NULL;
    }
    memcpy(dfd_session_input(*s, 0)->data, x, n * sizeof(float));
    dfd_session_run(*s, NULL);
    return dfd_session_output(*s, 0);
}

static void same_padding_is_asymmetric_like_tensorflow(void)
{
    // 4x4 input of ones, 2x2 kernel of ones, stride 2... and a 3x3 kernel at stride 2 on 4x4:
    // TF pads 0 on top/left and 1 on bottom/right, so the corner output sums 4 ones.
    int xs[4] = { DFD_BATCH, 4, 4, 1 };
    one_node o;
    CHECK_OK(one_node_begin(&o, DFD_OP_CONV2D, 4, xs, false, NULL));
    o.node->a.conv.win = (dfd_window){ 3, 3, 2, 2, 1, 1, DFD_PAD_SAME, { 0 } };
    o.node->a.conv.groups = 1;
    int ws[4] = { 3, 3, 1, 1 };
    CHECK_OK(dfd_tensor_alloc(&o.node->weight, 4, ws));
    for (int i = 0; i < 9; i++) {
        o.node->weight.data[i] = 1;
    }
    float x[16];
    for (int i = 0; i < 16; i++) {
        x[i] = 1;
    }
    dfd_session *s = NULL;
    const dfd_tensor *y = run_ref(&s, &o, x, 16);
    REQUIRE(y);
    CHECK_EQ_INT(y->shape[1], 2);
    CHECK_EQ_INT(y->shape[2], 2);
    // Output (0,0) covers rows/cols 0..2 (no top padding): 9 ones. (1,1) covers 2..4: row and
    // column 4 are padding, so 4 ones. PyTorch-style symmetric padding would give 4 and 9.
    CHECK_NEAR(y->data[0], 9, 0);
    CHECK_NEAR(y->data[1], 6, 0);
    CHECK_NEAR(y->data[2], 6, 0);
    CHECK_NEAR(y->data[3], 4, 0);
    dfd_session_free(s);
    dfd_graph_free(o.g);
}

static void pooling_ignores_padded_cells(void)
{
    // 3x3 input 1..9, 2x2 window stride 2 SAME: pads one row/column at the bottom/right.
    float x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    const float want_max[4] = { 5, 6, 8, 9 }, want_avg[4] = { 3, 4.5f, 7.5f, 9 };
    for (int k = 0; k < 2; k++) {
        int xs[4] = { DFD_BATCH, 3, 3, 1 };
        one_node o;
        CHECK_OK(one_node_begin(&o, k ? DFD_OP_AVGPOOL : DFD_OP_MAXPOOL, 4, xs, false, NULL));
        o.node->a.pool = (dfd_window){ 2, 2, 2, 2, 1, 1, DFD_PAD_SAME, { 0 } };
        dfd_session *s = NULL;
        const dfd_tensor *y = run_ref(&s, &o, x, 9);
        REQUIRE(y);
        for (int i = 0; i < 4; i++) {
            CHECK_NEAR(y->data[i], (k ? want_avg : want_max)[i], 1e-6);
        }
        dfd_session_free(s);
        dfd_graph_free(o.g);
    }
}

static void softmax_mean_pad_and_activations_match_definitions(void)
{
    // softmax of [0, ln 2, ln 3]: [1/6, 2/6, 3/6]
    int xs2[2] = { DFD_BATCH, 3 };
    one_node o;
    CHECK_OK(one_node_begin(&o, DFD_OP_SOFTMAX, 2, xs2, false, NULL));
    float x[3] = { 0, (float)log(2.0), (float)log(3.0) };
    dfd_session *s = NULL;
    const dfd_tensor *y = run_ref(&s, &o, x, 3);
    REQUIRE(y);
    CHECK_NEAR(y->data[0], 1.0 / 6, 1e-7);
    CHECK_NEAR(y->data[2], 3.0 / 6, 1e-7);
    dfd_session_free(s);
    dfd_graph_free(o.g);

    // mean over H, W of a 2x2x2 input
    int xs4[4] = { DFD_BATCH, 2, 2, 2 };
    CHECK_OK(one_node_begin(&o, DFD_OP_MEAN, 4, xs4, false, NULL));
    float m[8] = { 1, 10, 2, 20, 3, 30, 4, 40 };
    y = run_ref(&s, &o, m, 8);
    REQUIRE(y && y->rank == 2);
    CHECK_NEAR(y->data[0], 2.5, 1e-7);
    CHECK_NEAR(y->data[1], 25, 1e-6);
    dfd_session_free(s);
    dfd_graph_free(o.g);

    // channel padding (BlazeFace's skip connections): [.., 2] -> [.., 5] with 1 before, 2 after
    int xs_p[4] = { DFD_BATCH, 1, 1, 2 };
    CHECK_OK(one_node_begin(&o, DFD_OP_PAD, 4, xs_p, false, NULL));
    o.node->a.pad.before[3] = 1;
    o.node->a.pad.after[3] = 2;
    float p[2] = { 7, 8 };
    y = run_ref(&s, &o, p, 2);
    REQUIRE(y && y->shape[3] == 5);
    CHECK(y->data[0] == 0 && y->data[1] == 7 && y->data[2] == 8 && y->data[4] == 0);
    dfd_session_free(s);
    dfd_graph_free(o.g);

    // spatial and channel padding with a constant: every element against the definition
    int xs_s[4] = { DFD_BATCH, 2, 3, 2 };
    CHECK_OK(one_node_begin(&o, DFD_OP_PAD, 4, xs_s, false, NULL));
    const int bf[4] = { 0, 1, 2, 1 }, af[4] = { 0, 2, 0, 3 };
    for (int i = 0; i < 4; i++) {
        o.node->a.pad.before[i] = bf[i];
        o.node->a.pad.after[i] = af[i];
    }
    o.node->a.pad.value = -0.5f;
    float ps[12];
    for (int i = 0; i < 12; i++) {
        ps[i] = (float)(i + 1);
    }
    y = run_ref(&s, &o, ps, 12);
    REQUIRE(y && y->shape[1] == 5 && y->shape[2] == 5 && y->shape[3] == 6);
    int wrong = 0;
    for (int h = 0; h < 5; h++) {
        for (int w = 0; w < 5; w++) {
            for (int c = 0; c < 6; c++) {
                const int ih = h - bf[1], iw = w - bf[2], ic = c - bf[3];
                const bool in = ih >= 0 && ih < 2 && iw >= 0 && iw < 3 && ic >= 0 && ic < 2;
                const float want = in ? ps[(ih * 3 + iw) * 2 + ic] : -0.5f;
                wrong += y->data[(h * 5 + w) * 6 + c] != want;
            }
        }
    }
    CHECK_EQ_INT(wrong, 0);
    dfd_session_free(s);
    dfd_graph_free(o.g);

    // activations at a few points
    const struct {
        dfd_act act;
        float x, want;
    } cases[] = {
        { { DFD_ACT_RELU, 0, 0, 0 }, -2, 0 },
        { { DFD_ACT_CLIP, 0, 0, 6 }, 7, 6 },
        { { DFD_ACT_LEAKY_RELU, 0.2f, 0, 0 }, -2, -0.4f },
        { { DFD_ACT_ELU, 1, 0, 0 }, -1, (float)(exp(-1.0) - 1) },
        { { DFD_ACT_SIGMOID, 0, 0, 0 }, 0, 0.5f },
        { { DFD_ACT_TANH, 0, 0, 0 }, 1, (float)tanh(1.0) },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float v = cases[i].x;
        nn_act_apply(&v, 1, 1, &cases[i].act, NULL);
        CHECK_NEAR(v, cases[i].want, 1e-6);
    }
}

static void binary_ops_broadcast_channel_vectors_and_scalars(void)
{
    dfd_graph *g;
    CHECK_OK(dfd_graph_create(&g));
    int x, c, y, shape[4] = { DFD_BATCH, 2, 1, 3 };
    CHECK_OK(dfd_graph_add_value(g, "x", 4, shape, &x));
    CHECK_OK(dfd_graph_add_input(g, x));
    dfd_tensor cv;
    int three = 3;
    CHECK_OK(dfd_tensor_alloc(&cv, 1, &three));
    cv.data[0] = 10;
    cv.data[1] = 20;
    cv.data[2] = 30;
    CHECK_OK(dfd_graph_add_const(g, "c", &cv, &c));
    CHECK_OK(dfd_graph_add_value(g, "y", 0, NULL, &y));
    int in[2] = { x, c };
    dfd_node *n;
    CHECK_OK(dfd_graph_add_node(g, DFD_OP_SUB, "sub", in, 2, y, &n));
    CHECK_OK(dfd_graph_add_output(g, y, NULL, 0));
    CHECK_OK(dfd_graph_finalize(g, NULL, "test", NULL));
    dfd_session_opts so = dfd_session_opts_default();
    so.backend = DFD_BACKEND_REF;
    dfd_session *s;
    CHECK_OK(dfd_session_create(&s, g, 2, &so, NULL));
    for (int i = 0; i < 12; i++) {
        dfd_session_input(s, 0)->data[i] = (float)i;
    }
    CHECK_OK(dfd_session_run(s, NULL));
    const dfd_tensor *o = dfd_session_output(s, 0);
    for (int i = 0; i < 12; i++) {
        CHECK_NEAR(o->data[i], i - 10.0 * (i % 3 + 1), 0);
    }
    dfd_session_free(s);
    dfd_graph_free(g);
}

DFD_TEST_MAIN(
    { "few_channel_convolutions_match_reference", few_channel_convolutions_match_reference },
    { "large_kernel_first_layers_match_reference", large_kernel_first_layers_match_reference },
    { "fast_conv_matches_reference_on_random_shapes",
      fast_conv_matches_reference_on_random_shapes },
    { "fast_matmul_matches_reference_on_random_shapes",
      fast_matmul_matches_reference_on_random_shapes },
    { "fused_depthwise_pointwise_matches_reference", fused_depthwise_pointwise_matches_reference },
    { "fused_depthwise_runs_of_eight_match_reference",
      fused_depthwise_runs_of_eight_match_reference },
    { "dwpw_fusion_keeps_the_numbers_of_the_two_convolutions",
      dwpw_fusion_keeps_the_numbers_of_the_two_convolutions },
    { "same_padding_is_asymmetric_like_tensorflow", same_padding_is_asymmetric_like_tensorflow },
    { "pooling_ignores_padded_cells", pooling_ignores_padded_cells },
    { "softmax_mean_pad_and_activations_match_definitions",
      softmax_mean_pad_and_activations_match_definitions },
    { "binary_ops_broadcast_channel_vectors_and_scalars",
      binary_ops_broadcast_channel_vectors_and_scalars })
