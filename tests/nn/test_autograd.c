// Autograd: every op's backward against central finite differences (strides, padding, dilation,
// depthwise and grouped convolutions, every activation fused or alone with PReLU slopes,
// broadcasting, pools, layout ops, Dropout with a fixed seed, BatchNorm in both modes), a whole
// small network end to end, and the session's contract: gradients accumulate, frozen layers get
// none and cost nothing, watched feature maps (Grad-CAM), determinism, and clear errors.
#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#include "dfdetect/nn/loss.h"
#include "dfdetect/nn/optim.h"
#include "dfdetect/util/alloc.h"
#include "gradcheck.h"
#include "nn/nn_internal.h"
#include "test.h"

// ---- input fillers that keep clear of kinks (0, the clip bounds +-0.5, ties) ----

static void fill_away_from_zero(dfd_tensor *x, size_t input)
{
    (void)input;
    for (size_t i = 0; i < dfd_tensor_numel(x); i++) {
        float u = test_rand(), m = 0.1f + 0.9f * fabsf(u);
        if (fabsf(m - 0.5f) < 0.05f) {
            m = m < 0.5f ? 0.45f : 0.55f;
        }
        x->data[i] = (u < 0 ? -1.0f : 1.0f) * m;
    }
}

// Distinct values on a 0.05 grid, shuffled: no two within 2 eps of each other (max pool, max).
static void fill_distinct(dfd_tensor *x, size_t input)
{
    size_t n = dfd_tensor_numel(x);
    for (size_t i = 0; i < n; i++) {
        x->data[i] = ((float)i - (float)n / 2) * 0.05f + (float)input * 0.025f;
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)test_rand_int(0, (int)i);
        float t = x->data[i];
        x->data[i] = x->data[j];
        x->data[j] = t;
    }
}

// ---- convolutions ----

typedef struct conv_case {
    int H, W, IC, OC, G;
    dfd_window win;
    dfd_act act;
    bool bias, residual;
} conv_case;

static dfd_window window(int k, int s, int d, dfd_padding p)
{
    dfd_window w = { k, k, s, s, d, d, p, { 0, 0, 0, 0 } };
    return w;
}

static dfd_act act_of(dfd_act_kind k, float alpha)
{
    dfd_act a = { k, alpha, 0, 0 };
    if (k == DFD_ACT_CLIP) {
        a.lo = -0.3f;
        a.hi = 0.4f;
    }
    return a;
}

static int out_size(int in, const dfd_window *w, int k_eff, int pad_sum)
{
    if (w->padding == DFD_PAD_SAME) {
        return (in + w->sh - 1) / w->sh;
    }
    return (in + pad_sum - k_eff) / w->sh + 1;
}

static dfd_graph *conv_graph(const conv_case *c)
{
    gb b;
    gb_begin(&b);
    int xd[3] = { c->H, c->W, c->IC };
    int x = gb_input(&b, 4, xd), r = -1;
    if (c->residual) {
        int ke = (c->win.kh - 1) * c->win.dh + 1;
        int oh = out_size(c->H, &c->win, ke, c->win.pads[0] + c->win.pads[1]);
        int ow = out_size(c->W, &c->win, ke, c->win.pads[2] + c->win.pads[3]);
        int rd[3] = { oh, ow, c->OC };
        r = gb_input(&b, 4, rd);
    }
    int y;
    dfd_node *n = gb_node(&b, DFD_OP_CONV2D, &x, 1, &y);
    if (n) {
        n->a.conv.win = c->win;
        n->a.conv.groups = c->G;
        n->residual = r;
        n->act = c->act;
        int ws[4] = { c->win.kh, c->win.kw, c->IC / c->G, c->OC };
        gb_param(&b, &n->weight, 4, ws, 0.5f);
        if (c->bias) {
            gb_param(&b, &n->bias, 1, &c->OC, 0.3f);
        }
        if (c->act.kind == DFD_ACT_PRELU) {
            gb_param(&b, &n->alpha, 1, &c->OC, 0.5f);
        }
    }
    if (gb_finish(&b, &y, 1, false)) {
        dfd_graph_free(b.g);
        return NULL;
    }
    return b.g;
}

static gc_result check_conv(const conv_case *c, int batch, bool kinks)
{
    dfd_graph *g = conv_graph(c);
    gc_result r = { 0, 0, 1, 0 };
    if (g) {
        gc_opts o = gc_defaults();
        o.allow_kinks = kinks;
        r = gradcheck(g, batch, &o);
    }
    dfd_graph_free(g);
    return r;
}

static void conv2d_backward_matches_finite_differences(void)
{
    test_rng_seed(11);
    conv_case c = { 5,    4,    3, 4, 1, window(3, 1, 1, DFD_PAD_SAME), act_of(DFD_ACT_SIGMOID, 0),
                    true, false };
    CHECK_GRADS(check_conv(&c, 2, false));
}

static void conv2d_strides_padding_and_dilation_match_finite_differences(void)
{
    test_rng_seed(12);
    const struct {
        int H, W, k, s, d;
        dfd_padding p;
    } cases[] = {
        { 7, 6, 3, 2, 1, DFD_PAD_SAME },  // odd padding: the extra row/column at the bottom/right
        { 5, 5, 2, 2, 1, DFD_PAD_SAME },  // even kernel
        { 6, 7, 3, 1, 1, DFD_PAD_VALID }, // no padding
        { 7, 7, 3, 1, 2, DFD_PAD_SAME },  // dilation
        { 5, 6, 1, 2, 1, DFD_PAD_VALID }, // 1x1 strided: skipped pixels get no gradient
        { 6, 5, 3, 2, 1, DFD_PAD_EXPLICIT },
        { 4, 5, 5, 3, 1, DFD_PAD_SAME }, // stride 3, kernel larger than the stride
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        conv_case c = { cases[k].H,
                        cases[k].W,
                        3,
                        2,
                        1,
                        window(cases[k].k, cases[k].s, cases[k].d, cases[k].p),
                        act_of(k % 2 ? DFD_ACT_TANH : DFD_ACT_NONE, 0),
                        k % 3 != 0,
                        false };
        if (cases[k].p == DFD_PAD_EXPLICIT) {
            int pads[4] = { 1, 0, 2, 1 };
            memcpy(c.win.pads, pads, sizeof pads);
        }
        gc_result r = check_conv(&c, 2, false);
        if (r.failed || r.checked == 0) {
            fprintf(stderr, "    case %zu\n", k);
        }
        CHECK_GRADS(r);
    }
}

static void depthwise_and_grouped_conv2d_match_finite_differences(void)
{
    test_rng_seed(13);
    const int shapes[][3] = { { 4, 4, 4 }, { 4, 8, 4 }, { 4, 6, 2 } }; // IC, OC, G
    for (int k = 0; k < 3; k++) {
        conv_case c = { 6,
                        5,
                        shapes[k][0],
                        shapes[k][1],
                        shapes[k][2],
                        window(3, k == 2 ? 1 : 2, 1, DFD_PAD_SAME),
                        act_of(DFD_ACT_ELU, 1.0f),
                        true,
                        false }; // smooth: no kink
        CHECK_GRADS(check_conv(&c, 2, false));
    }
}

static void conv2d_with_residual_matches_finite_differences(void)
{
    test_rng_seed(14);
    conv_case c = { 5,    5,   3, 4, 1, window(3, 1, 1, DFD_PAD_SAME), act_of(DFD_ACT_TANH, 0),
                    true, true };
    CHECK_GRADS(check_conv(&c, 2, false));
    conv_case d = { 6,     6,   4, 4, 4, window(3, 2, 1, DFD_PAD_SAME), act_of(DFD_ACT_NONE, 0),
                    false, true };
    CHECK_GRADS(check_conv(&d, 1, false));
}

// Every activation folded into a convolution, PReLU slopes included; leaky ReLU and ELU with a
// non-positive alpha take the path that keeps the pre-activation.
static void fused_activations_match_finite_differences(void)
{
    test_rng_seed(15);
    const dfd_act acts[] = {
        act_of(DFD_ACT_RELU, 0),          act_of(DFD_ACT_CLIP, 0),
        act_of(DFD_ACT_LEAKY_RELU, 0.2f), act_of(DFD_ACT_LEAKY_RELU, -0.1f),
        act_of(DFD_ACT_PRELU, 0),         act_of(DFD_ACT_ELU, 0.6f),
        act_of(DFD_ACT_ELU, -0.5f),       act_of(DFD_ACT_SIGMOID, 0),
        act_of(DFD_ACT_TANH, 0),
    };
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        conv_case c = { 5, 4, 3, 5, 1, window(3, 1, 1, DFD_PAD_SAME), acts[k], true, k % 2 == 1 };
        gc_result r = check_conv(&c, 2, true);
        if (r.failed || r.checked == 0) {
            fprintf(stderr, "    activation %s alpha %g\n", dfd_act_name(acts[k].kind),
                    (double)acts[k].alpha);
        }
        CHECK_GRADS(r);
    }
}

// ---- matmul ----

static void matmul_backward_matches_finite_differences(void)
{
    test_rng_seed(16);
    const dfd_act_kind acts[] = { DFD_ACT_NONE, DFD_ACT_SIGMOID, DFD_ACT_PRELU };
    for (int k = 0; k < 3; k++) {
        gb b;
        gb_begin(&b);
        int d = 7, y;
        int x = gb_input(&b, 2, &d);
        dfd_node *n = gb_node(&b, DFD_OP_MATMUL, &x, 1, &y);
        if (n) {
            int ws[2] = { 7, 5 }, oc = 5;
            gb_param(&b, &n->weight, 2, ws, 0.5f);
            gb_param(&b, &n->bias, 1, &oc, 0.5f);
            n->act = act_of(acts[k], 0);
            if (acts[k] == DFD_ACT_PRELU) {
                gb_param(&b, &n->alpha, 1, &oc, 0.5f);
            }
        }
        CHECK_OK(gb_finish(&b, &y, 1, false));
        gc_opts o = gc_defaults();
        o.allow_kinks = acts[k] == DFD_ACT_PRELU;
        CHECK_GRADS(gradcheck(b.g, 3, &o));
        dfd_graph_free(b.g);
    }
}

// ---- element-wise ----

static void binary_ops_with_broadcasting_match_finite_differences(void)
{
    test_rng_seed(17);
    const struct {
        dfd_op op;
        int ys[3]; // the second operand's shape after N (x is [N, 3, 4, 5])
    } cases[] = {
        { DFD_OP_ADD, { 1, 4, 1 } },     { DFD_OP_SUB, { 3, 1, 5 } },
        { DFD_OP_MUL, { 1, 1, 5 } },     { DFD_OP_MUL, { 3, 4, 5 } },
        { DFD_OP_MAXIMUM, { 3, 1, 5 } }, { DFD_OP_MINIMUM, { 1, 4, 5 } },
        { DFD_OP_SUB, { 1, 1, 1 } },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        gb b;
        gb_begin(&b);
        int xd[3] = { 3, 4, 5 }, y;
        int in[2] = { gb_input(&b, 4, xd), gb_input(&b, 4, cases[k].ys) };
        gb_node(&b, cases[k].op, in, 2, &y);
        CHECK_OK(gb_finish(&b, &y, 1, false));
        gc_opts o = gc_defaults();
        o.fill = fill_distinct; // no ties for maximum/minimum
        o.max_coords = 64;
        gc_result r = gradcheck(b.g, 2, &o);
        if (r.failed || r.checked == 0) {
            fprintf(stderr, "    case %zu (%s)\n", k, dfd_op_name(cases[k].op));
        }
        CHECK_GRADS(r);
        dfd_graph_free(b.g);
    }
}

// A constant operand broadcast along the batch ([C] against [N, H, W, C]), on either side.
static void binary_ops_with_constants_match_finite_differences(void)
{
    test_rng_seed(18);
    const dfd_op ops[] = { DFD_OP_MUL, DFD_OP_SUB, DFD_OP_MAXIMUM, DFD_OP_ADD };
    for (int k = 0; k < 4; k++) {
        gb b;
        gb_begin(&b);
        int xd[3] = { 2, 3, 4 }, cs = 4, y;
        float *cd;
        int x = gb_input(&b, 4, xd), c = gb_const(&b, 1, &cs, &cd);
        for (int i = 0; cd && i < 4; i++) {
            cd[i] = 0.3f + 0.1f * (float)i + 0.0125f;
        }
        int in[2] = { k % 2 ? c : x, k % 2 ? x : c };
        gb_node(&b, ops[k], in, 2, &y);
        CHECK_OK(gb_finish(&b, &y, 1, false));
        gc_opts o = gc_defaults();
        o.fill = fill_distinct;
        CHECK_GRADS(gradcheck(b.g, 2, &o));
        dfd_graph_free(b.g);
    }
}

static void activations_alone_match_finite_differences(void)
{
    test_rng_seed(19);
    for (int k = DFD_ACT_RELU; k < DFD_ACT_COUNT; k++) {
        gb b;
        gb_begin(&b);
        int xd[3] = { 3, 2, 4 }, y, c = 4;
        int x = gb_input(&b, 4, xd);
        dfd_node *n = gb_node(&b, DFD_OP_ACT, &x, 1, &y);
        if (n) {
            n->act = act_of((dfd_act_kind)k, k == DFD_ACT_ELU ? 0.8f : 0.15f);
            if (k == DFD_ACT_CLIP) {
                n->act.lo = -0.5f; // the inputs stay 0.05 clear of both bounds
                n->act.hi = 0.5f;
            }
            if (k == DFD_ACT_PRELU) {
                gb_param(&b, &n->alpha, 1, &c, 0.5f);
            }
        }
        CHECK_OK(gb_finish(&b, &y, 1, false));
        gc_opts o = gc_defaults();
        o.fill = fill_away_from_zero;
        gc_result r = gradcheck(b.g, 2, &o);
        if (r.failed || r.checked == 0) {
            fprintf(stderr, "    activation %s\n", dfd_act_name((dfd_act_kind)k));
        }
        CHECK_GRADS(r);
        dfd_graph_free(b.g);
    }
}

// One-input node of `op` over an input of shape [N, dims], with `setup` filling attributes.
static dfd_graph *unary_graph(dfd_op op, int rank, const int *dims, dfd_node **node)
{
    gb b;
    gb_begin(&b);
    int y;
    int x = gb_input(&b, rank, dims);
    *node = gb_node(&b, op, &x, 1, &y);
    b.st = b.st ? b.st : dfd_graph_add_output(b.g, y, NULL, 0);
    return b.st ? (dfd_graph_free(b.g), NULL) : b.g;
}

static dfd_status finalize(dfd_graph *g)
{
    dfd_finalize_opts fo = { .fuse = false, .fuse_dwpw = false };
    dfd_error err;
    dfd_status st = dfd_graph_finalize(g, &fo, "test", &err);
    if (st) {
        fprintf(stderr, "    finalize: %s\n", err.msg);
    }
    return st;
}

static void softmax_backward_matches_finite_differences(void)
{
    test_rng_seed(20);
    int d[2] = { 3, 6 };
    dfd_node *n;
    dfd_graph *g = unary_graph(DFD_OP_SOFTMAX, 3, d, &n);
    REQUIRE(g);
    CHECK_OK(finalize(g));
    gc_opts o = gc_defaults();
    CHECK_GRADS(gradcheck(g, 2, &o));
    dfd_graph_free(g);
}

static void pools_match_finite_differences(void)
{
    test_rng_seed(21);
    const struct {
        dfd_op op;
        int k, s;
        dfd_padding p;
    } cases[] = {
        { DFD_OP_MAXPOOL, 3, 2, DFD_PAD_SAME },  { DFD_OP_MAXPOOL, 2, 2, DFD_PAD_VALID },
        { DFD_OP_MAXPOOL, 3, 1, DFD_PAD_SAME },  { DFD_OP_AVGPOOL, 3, 2, DFD_PAD_SAME },
        { DFD_OP_AVGPOOL, 2, 1, DFD_PAD_VALID }, { DFD_OP_AVGPOOL, 3, 1, DFD_PAD_SAME },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int d[3] = { 5, 6, 3 };
        dfd_node *n;
        dfd_graph *g = unary_graph(cases[k].op, 4, d, &n);
        REQUIRE(g);
        n->a.pool = window(cases[k].k, cases[k].s, 1, cases[k].p);
        CHECK_OK(finalize(g));
        gc_opts o = gc_defaults();
        o.fill = fill_distinct;
        o.max_coords = 200;
        gc_result r = gradcheck(g, 2, &o);
        if (r.failed || r.checked == 0) {
            fprintf(stderr, "    case %zu\n", k);
        }
        CHECK_GRADS(r);
        dfd_graph_free(g);
    }
}

static void layout_ops_match_finite_differences(void)
{
    test_rng_seed(22);
    int d[3] = { 3, 4, 2 };
    dfd_node *n;
    gc_opts o = gc_defaults();
    o.max_coords = 100;
    // pad
    dfd_graph *g = unary_graph(DFD_OP_PAD, 4, d, &n);
    REQUIRE(g);
    int before[4] = { 0, 1, 0, 2 }, after[4] = { 0, 2, 1, 0 };
    memcpy(n->a.pad.before, before, sizeof before);
    memcpy(n->a.pad.after, after, sizeof after);
    n->a.pad.value = 0.5f;
    CHECK_OK(finalize(g));
    CHECK_GRADS(gradcheck(g, 2, &o));
    dfd_graph_free(g);
    // mean over H, W, with and without keep_dims
    for (int keep = 0; keep < 2; keep++) {
        g = unary_graph(DFD_OP_MEAN, 4, d, &n);
        REQUIRE(g);
        n->a.mean.keep_dims = keep;
        CHECK_OK(finalize(g));
        CHECK_GRADS(gradcheck(g, 2, &o));
        dfd_graph_free(g);
    }
    // reshape [N, 3, 4, 2] -> [N, 24] feeding a matmul, and reshape alone
    for (int with_matmul = 0; with_matmul < 2; with_matmul++) {
        gb b;
        gb_begin(&b);
        int x = gb_input(&b, 4, d), r, y;
        dfd_node *rs = gb_node(&b, DFD_OP_RESHAPE, &x, 1, &r);
        if (rs) {
            rs->a.reshape.rank = 2;
            rs->a.reshape.shape[0] = DFD_BATCH;
            rs->a.reshape.shape[1] = 24;
        }
        y = r;
        if (with_matmul) {
            dfd_node *mm = gb_node(&b, DFD_OP_MATMUL, &r, 1, &y);
            int ws[2] = { 24, 3 };
            if (mm) {
                gb_param(&b, &mm->weight, 2, ws, 0.3f);
            }
        }
        CHECK_OK(gb_finish(&b, &y, 1, false));
        CHECK_GRADS(gradcheck(b.g, 2, &o));
        dfd_graph_free(b.g);
    }
    // concat along channels and along H, one operand used twice
    for (int axis = 1; axis <= 3; axis += 2) {
        gb b;
        gb_begin(&b);
        int d2[3] = { 3, 4, 3 }, y;
        int x0 = gb_input(&b, 4, d), x1 = gb_input(&b, 4, axis == 3 ? d2 : d);
        int in[3] = { x0, x1, x0 };
        dfd_node *c = gb_node(&b, DFD_OP_CONCAT, in, 3, &y);
        if (c) {
            c->a.concat.axis = axis;
        }
        CHECK_OK(gb_finish(&b, &y, 1, false));
        CHECK_GRADS(gradcheck(b.g, 2, &o));
        dfd_graph_free(b.g);
    }
}

// ---- dropout ----

static dfd_graph *dropout_graph(float rate, int c)
{
    dfd_node *n;
    dfd_graph *g = unary_graph(DFD_OP_DROPOUT, 2, &c, &n);
    if (g) {
        n->a.dropout.rate = rate;
        if (finalize(g)) {
            dfd_graph_free(g);
            return NULL;
        }
    }
    return g;
}

static void dropout_backward_matches_finite_differences_with_a_fixed_seed(void)
{
    test_rng_seed(23);
    dfd_graph *g = dropout_graph(0.4f, 10);
    REQUIRE(g);
    gc_opts o = gc_defaults();
    o.training = true;
    gc_result r = gradcheck(g, 3, &o);
    CHECK_GRADS(r);
    o.training = false;
    CHECK_GRADS(gradcheck(g, 3, &o));
    dfd_graph_free(g);
}

// Training drops about `rate` of the elements and scales the rest; inference is the identity;
// masks change from step to step but repeat for the same seed, whatever the thread count.
static void dropout_masks_are_seeded_scaled_and_deterministic(void)
{
    dfd_graph *g = dropout_graph(0.3f, 1000);
    REQUIRE(g);
    dfd_autograd *s[2];
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.seed = 99;
    ao.backend = DFD_BACKEND_REF;
    for (int k = 0; k < 2; k++) {
        ao.n_threads = k + 1;
        CHECK_OK(dfd_autograd_create(&s[k], g, 10, &ao, NULL));
        dfd_tensor *x = dfd_autograd_input(s[k], 0);
        for (size_t i = 0; i < dfd_tensor_numel(x); i++) {
            x->data[i] = 1.0f + (float)(i % 7);
        }
    }
    CHECK_OK(dfd_autograd_forward(s[0], true, NULL));
    CHECK_OK(dfd_autograd_forward(s[1], true, NULL));
    const dfd_tensor *y0 = dfd_autograd_output(s[0], 0), *y1 = dfd_autograd_output(s[1], 0);
    const float *x = dfd_autograd_input(s[0], 0)->data;
    size_t n = dfd_tensor_numel(y0), dropped = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        dropped += y0->data[i] == 0;
        bad += y0->data[i] != 0 && fabsf(y0->data[i] - x[i] / 0.7f) > 1e-5f;
    }
    CHECK(memcmp(y0->data, y1->data, n * sizeof(float)) == 0);
    CHECK_EQ_INT(bad, 0);
    CHECK_NEAR((double)dropped / (double)n, 0.3, 0.02); // 10000 draws: sd 0.0046
    float *first = malloc(n * sizeof(float));
    REQUIRE(first);
    memcpy(first, y0->data, n * sizeof(float));
    CHECK_OK(dfd_autograd_forward(s[0], true, NULL)); // the next step: another mask
    CHECK(memcmp(first, y0->data, n * sizeof(float)) != 0);
    dfd_autograd_set_seed(s[0], 99); // restart: the first mask again
    CHECK_OK(dfd_autograd_forward(s[0], true, NULL));
    CHECK(memcmp(first, y0->data, n * sizeof(float)) == 0);
    CHECK_OK(dfd_autograd_forward(s[0], false, NULL));
    CHECK(memcmp(x, y0->data, n * sizeof(float)) == 0);
    free(first);
    dfd_autograd_free(s[0]);
    dfd_autograd_free(s[1]);
    dfd_graph_free(g);
}

// ---- batch norm ----

static dfd_graph *bn_graph(int rank, const int *dims, int c)
{
    dfd_node *n;
    dfd_graph *g = unary_graph(DFD_OP_BATCHNORM, rank, dims, &n);
    if (!g) {
        return NULL;
    }
    n->a.bn.eps = 1e-3f;
    n->a.bn.momentum = 0.1f;
    dfd_status st = dfd_tensor_alloc(&n->weight, 1, &c);
    st = st ? st : dfd_tensor_alloc(&n->bias, 1, &c);
    st = st ? st : dfd_tensor_alloc(&n->running_mean, 1, &c);
    st = st ? st : dfd_tensor_alloc(&n->running_var, 1, &c);
    if (!st) {
        for (int i = 0; i < c; i++) {
            n->weight.data[i] = 1.0f + 0.5f * test_rand();
            n->bias.data[i] = 0.5f * test_rand();
            n->running_mean.data[i] = 0.2f * test_rand();
            n->running_var.data[i] = 1.0f + 0.5f * test_rand();
        }
    }
    if (st || finalize(g)) {
        dfd_graph_free(g);
        return NULL;
    }
    return g;
}

static void batchnorm_backward_matches_finite_differences(void)
{
    test_rng_seed(24);
    int d2 = 4, d4[3] = { 3, 2, 5 };
    for (int training = 0; training < 2; training++) {
        dfd_graph *g = bn_graph(2, &d2, 4);
        REQUIRE(g);
        gc_opts o = gc_defaults();
        o.training = training;
        CHECK_GRADS(gradcheck(g, 5, &o));
        dfd_graph_free(g);
        g = bn_graph(4, d4, 5);
        REQUIRE(g);
        o.max_coords = 60;
        CHECK_GRADS(gradcheck(g, 2, &o));
        dfd_graph_free(g);
    }
}

// Training normalises with the batch's statistics and moves the running ones by the momentum
// (unbiased variance); inference uses the running ones, in an autograd session and a plain one.
static void batchnorm_statistics_follow_the_pytorch_convention(void)
{
    test_rng_seed(25);
    int c = 2;
    dfd_graph *g = bn_graph(2, &c, 2);
    REQUIRE(g);
    const dfd_node *n = dfd_graph_node(g, 0);
    const float x[4][2] = { { 1, -2 }, { 2, 0 }, { 4, 1 }, { 5, 5 } };
    const double mean[2] = { 3, 1 }, var[2] = { 2.5, 6.5 }; // biased: 10/4, 26/4
    float rm0[2], rv0[2];
    memcpy(rm0, n->running_mean.data, sizeof rm0);
    memcpy(rv0, n->running_var.data, sizeof rv0);
    dfd_autograd *s;
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.backend = DFD_BACKEND_REF;
    CHECK_OK(dfd_autograd_create(&s, g, 4, &ao, NULL));
    memcpy(dfd_autograd_input(s, 0)->data, x, sizeof x);
    CHECK_OK(dfd_autograd_forward(s, true, NULL));
    const dfd_tensor *y = dfd_autograd_output(s, 0);
    for (int r = 0; r < 4; r++) {
        for (int k = 0; k < 2; k++) {
            double want =
                ((double)x[r][k] - mean[k]) / sqrt(var[k] + 1e-3) * (double)n->weight.data[k] +
                (double)n->bias.data[k];
            CHECK_NEAR(y->data[r * 2 + k], want, 1e-5);
        }
    }
    for (int k = 0; k < 2; k++) {
        CHECK_NEAR(n->running_mean.data[k], 0.9 * (double)rm0[k] + 0.1 * mean[k], 1e-6);
        CHECK_NEAR(n->running_var.data[k], 0.9 * (double)rv0[k] + 0.1 * var[k] * 4 / 3, 1e-5);
    }
    // Inference: the (updated) running statistics, here and in a plain session.
    CHECK_OK(dfd_autograd_forward(s, false, NULL));
    dfd_session *ps;
    dfd_session_opts so = dfd_session_opts_default();
    CHECK_OK(dfd_session_create(&ps, g, 4, &so, NULL));
    memcpy(dfd_session_input(ps, 0)->data, x, sizeof x);
    CHECK_OK(dfd_session_run(ps, NULL));
    const dfd_tensor *yp = dfd_session_output(ps, 0);
    for (int r = 0; r < 4; r++) {
        for (int k = 0; k < 2; k++) {
            double want = ((double)x[r][k] - (double)n->running_mean.data[k]) /
                              sqrt((double)n->running_var.data[k] + 1e-3) *
                              (double)n->weight.data[k] +
                          (double)n->bias.data[k];
            CHECK_NEAR(y->data[r * 2 + k], want, 1e-5);
            CHECK_NEAR(yp->data[r * 2 + k], want, 1e-5);
        }
    }
    // The running statistics are buffers to checkpoint, not parameters.
    CHECK_EQ_INT(dfd_autograd_n_params(s), 2);
    CHECK_EQ_INT(dfd_autograd_n_buffers(s), 2);
    CHECK(strcmp(dfd_autograd_buffers(s)[1]->name, "n1/running_var") == 0);
    CHECK(dfd_autograd_buffers(s)[1]->value == n->running_var.data);
    CHECK(dfd_autograd_param(s, "n1/weight") != NULL);
    dfd_session_free(ps);
    dfd_autograd_free(s);
    dfd_graph_free(g);
}

// ---- a whole small network: conv -> batch norm -> relu -> max pool -> reshape -> matmul ----

static dfd_graph *small_net(void)
{
    gb b;
    gb_begin(&b);
    int xd[3] = { 6, 6, 2 }, v;
    int x = gb_input(&b, 4, xd);
    v = gb_conv(&b, x, 3, 1, 2, 3, 1, DFD_ACT_NONE, 0.5f, 0.2f);
    v = gb_batchnorm(&b, v, 3, 0.1f);
    int c = v;
    dfd_node *n = gb_node(&b, DFD_OP_ACT, &c, 1, &v);
    if (n) {
        n->act = act_of(DFD_ACT_RELU, 0);
    }
    c = v;
    n = gb_node(&b, DFD_OP_MAXPOOL, &c, 1, &v);
    if (n) {
        n->a.pool = window(2, 2, 1, DFD_PAD_VALID);
    }
    v = gb_flatten(&b, v, 27);
    v = gb_matmul(&b, v, 27, 4, DFD_ACT_NONE, 0.3f, 0.3f);
    if (gb_finish(&b, &v, 1, true)) {
        dfd_graph_free(b.g);
        return NULL;
    }
    return b.g;
}

// The small network checked in training mode with the analytic gradients scaled by grad_scale.
static gc_result check_small_net(double grad_scale)
{
    gc_result r = { 0, 0, 1, 0 };
    test_rng_seed(26);
    dfd_graph *g = small_net();
    if (g) {
        gc_opts o = gc_defaults();
        o.training = true;
        o.allow_kinks = true;
        o.max_coords = 40;
        o.grad_scale = grad_scale;
        r = gradcheck(g, 3, &o);
    }
    dfd_graph_free(g);
    return r;
}

static void small_network_matches_finite_differences_end_to_end(void)
{
    gc_result r = check_small_net(1.0);
    CHECK_GRADS(r);
    CHECK(r.checked >= 100);
}

// The checker itself: a gradient 3% off must fail it, or the tests above prove nothing.
static void gradcheck_rejects_a_gradient_three_percent_off(void)
{
    gc_result r = check_small_net(1.03);
    CHECK(r.checked >= 100);
    CHECK(r.failed > r.checked / 4);
}

// ---- the session's contract ----

typedef struct trained {
    dfd_graph *g;
    dfd_autograd *s;
    float *r; // loss weights of the output
} trained;

static void trained_free(trained *t)
{
    dfd_autograd_free(t->s);
    dfd_graph_free(t->g);
    free(t->r);
}

static dfd_status trained_make(trained *t, uint64_t seed, int threads)
{
    memset(t, 0, sizeof *t);
    test_rng_seed(seed);
    t->g = small_net();
    if (!t->g) {
        return DFD_ERR_NOMEM;
    }
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.backend = DFD_BACKEND_REF;
    ao.n_threads = threads;
    dfd_status st = dfd_autograd_create(&t->s, t->g, 4, &ao, NULL);
    if (st) {
        return st;
    }
    test_fill(dfd_autograd_input(t->s, 0), 1.0f);
    t->r = malloc(16 * sizeof(float));
    for (int i = 0; t->r && i < 16; i++) {
        t->r[i] = test_rand();
    }
    return t->r ? DFD_OK : DFD_ERR_NOMEM;
}

static dfd_status trained_step(trained *t)
{
    dfd_status st = dfd_autograd_forward(t->s, true, NULL);
    st = st ? st : dfd_autograd_set_grad(t->s, dfd_graph_output_name(t->g, 0), t->r, NULL);
    return st ? st : dfd_autograd_backward(t->s, NULL);
}

static void gradients_accumulate_until_zeroed(void)
{
    trained t;
    CHECK_OK(trained_make(&t, 30, 1));
    size_t np = dfd_autograd_n_params(t.s);
    dfd_param *const *p = dfd_autograd_params(t.s);
    CHECK_EQ_INT(np, 6); // conv weight+bias, bn gamma+beta, matmul weight+bias
    dfd_autograd_set_seed(t.s, 5);
    CHECK_OK(trained_step(&t));
    size_t n0 = dfd_param_numel(p[0]);
    float *once = malloc(n0 * sizeof(float));
    REQUIRE(once);
    memcpy(once, p[0]->grad, n0 * sizeof(float));
    dfd_autograd_set_seed(t.s, 5);
    CHECK_OK(trained_step(&t));
    double worst = 0, norm = 0;
    for (size_t i = 0; i < n0; i++) {
        worst = fmax(worst, fabs((double)p[0]->grad[i] - 2.0 * (double)once[i]));
        norm = fmax(norm, fabs((double)once[i]));
    }
    CHECK(norm > 0);
    CHECK(worst <= 1e-6 * norm);
    dfd_params_zero_grad(p, np);
    dfd_autograd_set_seed(t.s, 5);
    CHECK_OK(trained_step(&t));
    CHECK(memcmp(once, p[0]->grad, n0 * sizeof(float)) == 0);
    free(once);
    trained_free(&t);
}

// Frozen layers get no gradient, the others the same as before, and a frozen prefix of the
// network costs no gradient memory (its backward is skipped).
static void frozen_layers_get_no_gradient_and_are_skipped(void)
{
    trained a, b;
    CHECK_OK(trained_make(&a, 31, 1));
    CHECK_OK(trained_make(&b, 31, 1));
    dfd_autograd_set_seed(a.s, 1);
    CHECK_OK(trained_step(&a));
    size_t full_bytes = dfd_autograd_bytes(a.s);
    // Freeze the convolution (by layer) and the batch norm (by group), the first two nodes
    // after fusion.
    const char *conv = dfd_graph_node(b.g, 0)->name, *bn = dfd_graph_node(b.g, 1)->name;
    CHECK_EQ_INT(dfd_autograd_freeze(b.s, conv, true), 2);
    CHECK_EQ_INT(dfd_autograd_set_group(b.s, bn, 1), 2);
    CHECK_EQ_INT(dfd_autograd_freeze_group(b.s, 1, true), 2);
    char gamma[64];
    snprintf(gamma, sizeof gamma, "%s/weight", bn);
    REQUIRE(dfd_autograd_param(b.s, gamma));
    CHECK(dfd_autograd_param(b.s, gamma)->frozen);
    CHECK(!dfd_autograd_params(b.s)[dfd_autograd_n_params(b.s) - 1]->frozen);
    dfd_autograd_set_seed(b.s, 1);
    CHECK_OK(trained_step(&b));
    dfd_param *const *pa = dfd_autograd_params(a.s), *const *pb = dfd_autograd_params(b.s);
    for (size_t k = 0; k < dfd_autograd_n_params(a.s); k++) {
        size_t n = dfd_param_numel(pa[k]);
        bool frozen = pb[k]->frozen, zero = true, same = true;
        for (size_t i = 0; i < n; i++) {
            zero &= pb[k]->grad[i] == 0;
            same &= pb[k]->grad[i] == pa[k]->grad[i];
        }
        CHECK(frozen ? zero : same);
    }
    CHECK(dfd_autograd_bytes(b.s) < full_bytes);
    // Everything frozen and nothing watched: backward has nothing to do.
    dfd_autograd_freeze(b.s, "", true);
    dfd_params_zero_grad(dfd_autograd_params(b.s), dfd_autograd_n_params(b.s));
    CHECK_OK(trained_step(&b));
    for (size_t k = 0; k < dfd_autograd_n_params(b.s); k++) {
        CHECK(pb[k]->grad[0] == 0);
    }
    trained_free(&a);
    trained_free(&b);
}

// With a fixed seed, two sessions (and one thread or two) give bit-identical gradients.
static void gradients_are_deterministic(void)
{
    trained t[3];
    CHECK_OK(trained_make(&t[0], 32, 1));
    CHECK_OK(trained_make(&t[1], 32, 1));
    CHECK_OK(trained_make(&t[2], 32, 2));
    for (int k = 0; k < 3; k++) {
        dfd_autograd_set_seed(t[k].s, 77);
        for (int step = 0; step < 3; step++) {
            CHECK_OK(trained_step(&t[k]));
        }
    }
    for (int k = 1; k < 3; k++) {
        for (size_t p = 0; p < dfd_autograd_n_params(t[0].s); p++) {
            const dfd_param *a = dfd_autograd_params(t[0].s)[p];
            const dfd_param *b = dfd_autograd_params(t[k].s)[p];
            CHECK(memcmp(a->grad, b->grad, dfd_param_numel(a) * sizeof(float)) == 0);
        }
    }
    for (int k = 0; k < 3; k++) {
        trained_free(&t[k]);
    }
}

// ---- training loops: loss curves ----

// conv 3x3 (2 -> 4, bias, ReLU) -> batch norm -> mean over H, W -> dropout 0.25 -> matmul
// (4 -> 1, bias): one logit per item. Built from the test generator's current state.
static dfd_graph *logit_net(void)
{
    gb b;
    gb_begin(&b);
    int xd[3] = { 6, 6, 2 }, v, c;
    int x = gb_input(&b, 4, xd);
    v = gb_conv(&b, x, 3, 1, 2, 4, 1, DFD_ACT_RELU, 0.5f, 0.1f);
    v = gb_batchnorm(&b, v, 4, 0.1f);
    c = v;
    gb_node(&b, DFD_OP_MEAN, &c, 1, &v);
    c = v;
    dfd_node *n = gb_node(&b, DFD_OP_DROPOUT, &c, 1, &v);
    if (n) {
        n->a.dropout.rate = 0.25f;
    }
    v = gb_matmul(&b, v, 4, 1, DFD_ACT_NONE, 0.5f, 0.1f);
    if (gb_finish(&b, &v, 1, true)) {
        dfd_graph_free(b.g);
        return NULL;
    }
    return b.g;
}

#define CURVE_STEPS 15
#define CURVE_BATCH 16

// Train logit_net with AdamW and BCE on two synthetic classes (channel 0 shifted up or down)
// for CURVE_STEPS steps; the loss of each step into curve. Everything from `seed`.
static dfd_status train_curve(float curve[CURVE_STEPS], uint64_t seed, dfd_backend backend)
{
    test_rng_seed(seed);
    dfd_graph *g = logit_net();
    dfd_autograd *s = NULL;
    dfd_optim *opt = NULL;
    dfd_status st = g ? DFD_OK : DFD_ERR_NOMEM;
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.n_threads = 1;
    ao.backend = backend;
    ao.seed = seed;
    st = st ? st : dfd_autograd_create(&s, g, CURVE_BATCH, &ao, NULL);
    dfd_optim_opts oo = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
    oo.lr = 0.05f;
    st = st ? st
            : dfd_optim_create(&opt, dfd_autograd_params(s), dfd_autograd_n_params(s), &oo, NULL);
    float labels[CURVE_BATCH], dlogits[CURVE_BATCH];
    for (int step = 0; !st && step < CURVE_STEPS; step++) {
        dfd_tensor *x = dfd_autograd_input(s, 0);
        const size_t per = dfd_tensor_numel(x) / CURVE_BATCH;
        for (int i = 0; i < CURVE_BATCH; i++) {
            labels[i] = (float)((i + step) % 2);
            for (size_t k = 0; k < per; k++) {
                float shift = k % 2 == 0 ? (labels[i] ? 0.4f : -0.4f) : 0.0f;
                x->data[i * per + k] = test_rand() + shift;
            }
        }
        dfd_params_zero_grad(dfd_autograd_params(s), dfd_autograd_n_params(s));
        st = dfd_autograd_forward(s, true, NULL);
        if (st) {
            break;
        }
        curve[step] = dfd_loss_bce_logits(dlogits, dfd_autograd_output(s, 0)->data, labels,
                                          CURVE_BATCH, 1, NULL);
        st = dfd_autograd_set_grad(s, dfd_graph_output_name(g, 0), dlogits, NULL);
        st = st ? st : dfd_autograd_backward(s, NULL);
        if (!st) {
            dfd_optim_step(opt, NULL);
        }
    }
    dfd_optim_destroy(opt);
    dfd_autograd_free(s);
    dfd_graph_free(g);
    return st;
}

// Determinism: with a fixed seed and one thread, two runs of a training loop (Dropout masks,
// batch statistics, AdamW) give the identical loss curve, bit for bit, on both backends; and
// the loop learns (the loss falls).
static void fixed_seed_training_runs_give_identical_loss_curves(void)
{
    for (int k = 0; k < 2; k++) {
        dfd_backend be = k ? DFD_BACKEND_REF : DFD_BACKEND_FAST;
        float a[CURVE_STEPS], b[CURVE_STEPS], c[CURVE_STEPS];
        CHECK_OK(train_curve(a, 40, be));
        CHECK_OK(train_curve(b, 40, be));
        CHECK_OK(train_curve(c, 41, be));
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK(memcmp(a, c, sizeof a) != 0); // the seed matters (the check can fail)
        float first = (a[0] + a[1] + a[2]) / 3;
        float last = (a[CURVE_STEPS - 1] + a[CURVE_STEPS - 2] + a[CURVE_STEPS - 3]) / 3;
        if (!(last < 0.7f * first)) {
            fprintf(stderr, "    backend %d: loss %.4f -> %.4f\n", k, (double)first, (double)last);
        }
        CHECK(last < 0.7f * first);
    }
}

// Grad-CAM: the gradient of the output with respect to an intermediate feature map, and that
// map's value. Here the map F feeds mean -> matmul, so dL/dF[b,h,w,c] = sum_o r[b,o] W[c,o] / HW.
static void watched_feature_map_gives_grad_cam_inputs(void)
{
    test_rng_seed(33);
    gb b;
    gb_begin(&b);
    int xd[3] = { 4, 5, 3 }, m;
    int x = gb_input(&b, 4, xd);
    int f = gb_conv(&b, x, 3, 1, 3, 6, 1, DFD_ACT_RELU, 0.5f, -1);
    gb_node(&b, DFD_OP_MEAN, &f, 1, &m);
    int y = gb_matmul(&b, m, 6, 2, DFD_ACT_NONE, 1.0f, 0.5f);
    int outs[2] = { y, f };
    CHECK_OK(gb_finish(&b, outs, 2, true));
    dfd_graph *g = b.g;
    const char *fname = dfd_graph_value(g, f)->name;
    dfd_autograd *s;
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.backend = DFD_BACKEND_REF;
    CHECK_OK(dfd_autograd_create(&s, g, 2, &ao, NULL));
    dfd_autograd_freeze(s, "", true); // saliency needs no parameter gradient
    CHECK_OK(dfd_autograd_watch(s, fname, NULL));
    test_fill(dfd_autograd_input(s, 0), 1.0f);
    CHECK_OK(dfd_autograd_forward(s, false, NULL));
    float r[4] = { 1.0f, -0.5f, 0.25f, 2.0f };
    CHECK_OK(dfd_autograd_set_grad(s, dfd_graph_output_name(g, 0), r, NULL));
    CHECK_OK(dfd_autograd_backward(s, NULL));
    const dfd_tensor *gf = dfd_autograd_grad(s, fname), *vf = dfd_autograd_value(s, fname);
    REQUIRE(gf && vf);
    CHECK(dfd_autograd_grad(s, dfd_graph_output_name(g, 0)) == NULL); // not watched
    const float *w = dfd_graph_node(g, 2)->weight.data;
    double worst = 0;
    for (int bi = 0; bi < 2; bi++) {
        for (int p = 0; p < 20; p++) {
            for (int c = 0; c < 6; c++) {
                double want = ((double)r[bi * 2] * (double)w[c * 2] +
                               (double)r[bi * 2 + 1] * (double)w[c * 2 + 1]) /
                              20.0;
                worst = fmax(worst, fabs((double)gf->data[(bi * 20 + p) * 6 + c] - want));
            }
        }
    }
    CHECK(worst < 1e-6);
    // The value is the feature map an inference session computes.
    dfd_session *ps;
    CHECK_OK(dfd_session_create(&ps, g, 2, NULL, NULL));
    memcpy(dfd_session_input(ps, 0)->data, dfd_autograd_input(s, 0)->data, 2 * 60 * sizeof(float));
    CHECK_OK(dfd_session_run(ps, NULL));
    CHECK(test_rel_err(vf, dfd_session_output(ps, 1)) < 1e-5);
    // Parameters were frozen: untouched.
    for (size_t k = 0; k < dfd_autograd_n_params(s); k++) {
        CHECK(dfd_autograd_params(s)[k]->grad[0] == 0);
    }
    dfd_session_free(ps);
    dfd_autograd_free(s);
    dfd_graph_free(g);
}

// A value read by several nodes and also given a gradient directly sums all contributions; a
// value read twice by one node (x * x) gets both.
static void fan_out_and_repeated_inputs_sum_their_gradients(void)
{
    test_rng_seed(34);
    gb b;
    gb_begin(&b);
    int d = 4, sq, m, y;
    int x = gb_input(&b, 2, &d);
    int xx[2] = { x, x };
    gb_node(&b, DFD_OP_MUL, xx, 2, &sq);
    int in[2] = { sq, x };
    gb_node(&b, DFD_OP_ADD, in, 2, &m);
    dfd_node *n = gb_node(&b, DFD_OP_MATMUL, &m, 1, &y);
    if (n) {
        int ws[2] = { 4, 3 };
        gb_param(&b, &n->weight, 2, ws, 0.5f);
    }
    int outs[2] = { y, m }; // m is an output and is also read by the matmul
    CHECK_OK(gb_finish(&b, outs, 2, false));
    gc_opts o = gc_defaults();
    CHECK_GRADS(gradcheck(b.g, 3, &o));
    dfd_graph_free(b.g);
}

static void errors_are_reported(void)
{
    trained t;
    CHECK_OK(trained_make(&t, 35, 1));
    dfd_error err;
    CHECK(dfd_autograd_backward(t.s, &err) == DFD_ERR_INVALID); // no forward yet
    CHECK(dfd_autograd_set_grad(t.s, "no such value", t.r, &err) == DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "no such value");
    CHECK(dfd_autograd_set_grad(t.s, "in0", t.r, &err) == DFD_ERR_INVALID);
    CHECK(dfd_autograd_watch(t.s, "nothing", &err) == DFD_ERR_NOT_FOUND);
    CHECK(dfd_autograd_grad(t.s, "in0") == NULL);
    CHECK(dfd_autograd_input(t.s, 1) == NULL);
    CHECK(dfd_autograd_output(t.s, 1) == NULL);
    trained_free(&t);

    // A gradient that would have to cross a bilinear resize.
    int d[3] = { 3, 3, 2 };
    dfd_node *n;
    dfd_graph *g = unary_graph(DFD_OP_RESIZE_BILINEAR, 4, d, &n);
    REQUIRE(g);
    n->a.resize.out_h = n->a.resize.out_w = 5;
    CHECK_OK(finalize(g));
    dfd_autograd *s;
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.backend = DFD_BACKEND_REF;
    CHECK_OK(dfd_autograd_create(&s, g, 1, &ao, NULL));
    CHECK_OK(dfd_autograd_watch(s, "in0", NULL));
    CHECK_OK(dfd_autograd_forward(s, false, NULL));
    float grad[50] = { 0 };
    CHECK_OK(dfd_autograd_set_grad(s, dfd_graph_output_name(g, 0), grad, NULL));
    CHECK(dfd_autograd_backward(s, &err) == DFD_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(err.msg, "resize_bilinear");
    dfd_autograd_free(s);
    dfd_graph_free(g);

    // Two nodes with one name would give two parameters one checkpoint key.
    gb b;
    gb_begin(&b);
    int dd = 3, v1, v2;
    int x = gb_input(&b, 2, &dd);
    dfd_node *m = gb_node(&b, DFD_OP_MATMUL, &x, 1, &v1);
    int ws[2] = { 3, 3 };
    if (m) {
        gb_param(&b, &m->weight, 2, ws, 1.0f);
        dfd_free(m->name);
        m->name = dfd_strdup("same");
    }
    m = gb_node(&b, DFD_OP_MATMUL, &v1, 1, &v2);
    if (m) {
        gb_param(&b, &m->weight, 2, ws, 1.0f);
        dfd_free(m->name);
        m->name = dfd_strdup("same");
    }
    CHECK_OK(gb_finish(&b, &v2, 1, false));
    CHECK(dfd_autograd_create(&s, b.g, 1, &ao, &err) == DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "same/weight");
    dfd_graph_free(b.g);
}

int main(int argc, char **argv)
{
    static const dfd_test_case cases[] = {
        { "conv2d_backward_matches_finite_differences",
          conv2d_backward_matches_finite_differences },
        { "conv2d_strides_padding_and_dilation_match_finite_differences",
          conv2d_strides_padding_and_dilation_match_finite_differences },
        { "depthwise_and_grouped_conv2d_match_finite_differences",
          depthwise_and_grouped_conv2d_match_finite_differences },
        { "conv2d_with_residual_matches_finite_differences",
          conv2d_with_residual_matches_finite_differences },
        { "fused_activations_match_finite_differences",
          fused_activations_match_finite_differences },
        { "matmul_backward_matches_finite_differences",
          matmul_backward_matches_finite_differences },
        { "binary_ops_with_broadcasting_match_finite_differences",
          binary_ops_with_broadcasting_match_finite_differences },
        { "binary_ops_with_constants_match_finite_differences",
          binary_ops_with_constants_match_finite_differences },
        { "activations_alone_match_finite_differences",
          activations_alone_match_finite_differences },
        { "softmax_backward_matches_finite_differences",
          softmax_backward_matches_finite_differences },
        { "pools_match_finite_differences", pools_match_finite_differences },
        { "layout_ops_match_finite_differences", layout_ops_match_finite_differences },
        { "dropout_backward_matches_finite_differences_with_a_fixed_seed",
          dropout_backward_matches_finite_differences_with_a_fixed_seed },
        { "dropout_masks_are_seeded_scaled_and_deterministic",
          dropout_masks_are_seeded_scaled_and_deterministic },
        { "batchnorm_backward_matches_finite_differences",
          batchnorm_backward_matches_finite_differences },
        { "batchnorm_statistics_follow_the_pytorch_convention",
          batchnorm_statistics_follow_the_pytorch_convention },
        { "small_network_matches_finite_differences_end_to_end",
          small_network_matches_finite_differences_end_to_end },
        { "gradcheck_rejects_a_gradient_three_percent_off",
          gradcheck_rejects_a_gradient_three_percent_off },
        { "gradients_accumulate_until_zeroed", gradients_accumulate_until_zeroed },
        { "frozen_layers_get_no_gradient_and_are_skipped",
          frozen_layers_get_no_gradient_and_are_skipped },
        { "gradients_are_deterministic", gradients_are_deterministic },
        { "fixed_seed_training_runs_give_identical_loss_curves",
          fixed_seed_training_runs_give_identical_loss_curves },
        { "watched_feature_map_gives_grad_cam_inputs", watched_feature_map_gives_grad_cam_inputs },
        { "fan_out_and_repeated_inputs_sum_their_gradients",
          fan_out_and_repeated_inputs_sum_their_gradients },
        { "errors_are_reported", errors_are_reported },
    };
    return dfd_test_run_(cases, sizeof cases / sizeof cases[0], argc, argv);
}
