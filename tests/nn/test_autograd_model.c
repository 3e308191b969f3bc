// Autograd on the model we fine-tune: the faceres backbone (TF.js, fused for training) at a
// small input size. Gradients of sampled parameter coordinates and input pixels against finite
// differences, the fast (oneDNN) backward against the reference one on every parameter, bit-
// identical gradients across runs, a frozen backbone skipped, and Grad-CAM on its last feature
// map. Skips when models/ is absent.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dfdetect/model/tfjs.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "gradcheck.h"
#include "test.h"

#define SIZE    64 // input height and width (224 in the file): 2x2 before the global pooling
#define N_BATCH 2

static char g_src[1024];

// Load models/faceres.json with its input resized to SIZE x SIZE: a copy of the JSON with the
// placeholder's shape changed, beside a link to the weights, in a temporary folder.
static dfd_status load_faceres(dfd_graph **g, dfd_error *err)
{
    char path[1200], dir[] = "/tmp/dfd_autograd_XXXXXX", json[64], bin[64];
    void *text = NULL;
    size_t n;
    *g = NULL;
    snprintf(path, sizeof path, "%s/models/faceres.json", g_src);
    dfd_status st = dfd_file_read_all(&text, &n, path, 64 << 20, err);
    if (st) {
        return st;
    }
    cJSON *root = cJSON_ParseWithLength(text, n);
    dfd_free(text);
    cJSON *node;
    cJSON_ArrayForEach(node, cJSON_GetObjectItemCaseSensitive(
                                 cJSON_GetObjectItemCaseSensitive(root, "modelTopology"), "node"))
    {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(node, "op");
        if (cJSON_IsString(op) && strcmp(op->valuestring, "Placeholder") == 0) {
            cJSON *dims = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "attr"),
                                                     "shape"),
                    "shape"),
                "dim");
            char size[16];
            snprintf(size, sizeof size, "%d", SIZE);
            for (int k = 1; k <= 2; k++) {
                cJSON_ReplaceItemInObject(cJSON_GetArrayItem(dims, k), "size",
                                          cJSON_CreateString(size));
            }
        }
    }
    char *out = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!out || !mkdtemp(dir)) {
        free(out);
        return dfd_error_set(err, DFD_ERR_IO, "cannot make the resized model");
    }
    snprintf(json, sizeof json, "%s/faceres.json", dir);
    snprintf(bin, sizeof bin, "%s/faceres.bin", dir);
    snprintf(path, sizeof path, "%s/models/faceres.bin", g_src);
    FILE *f = fopen(json, "w");
    bool ok = f && fputs(out, f) >= 0;
    ok &= f && fclose(f) == 0;
    ok &= symlink(path, bin) == 0;
    free(out);
    dfd_finalize_opts fo = { .fuse = true, .fuse_dwpw = false };
    st = ok ? dfd_tfjs_load_opts(g, json, &fo, err)
            : dfd_error_set(err, DFD_ERR_IO, "cannot write the resized model");
    unlink(json);
    unlink(bin);
    rmdir(dir);
    return st;
}

static bool have_models(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/models/faceres.bin", g_src);
    return access(path, R_OK) == 0;
}

// A session on g with random inputs in [0, 1), and a loss: sum of r * value over the outputs
// and three intermediate feature maps. This model's last feature map is almost all zeros on
// random inputs (ReLU6 saturates below), so the outputs alone would leave most of the backbone
// without gradient; the intermediate terms make every layer matter.
#define N_SEEDS 6
static const char *const seed_names[N_SEEDS] = {
    "gender_pred/Sigmoid",
    "global_pooling/Mean",
    "age_pred/Softmax",
    "conv_pw_5_relu/clip_by_value",
    "conv_pw_11_relu/clip_by_value",
    "conv_pw_12_relu/clip_by_value",
};

typedef struct run {
    dfd_autograd *s;
    float *r[N_SEEDS];
} run;

static dfd_status run_make(run *ru, dfd_graph *g, dfd_backend backend, int threads)
{
    memset(ru, 0, sizeof *ru);
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.backend = backend;
    ao.n_threads = threads;
    dfd_status st = dfd_autograd_create(&ru->s, g, N_BATCH, &ao, NULL);
    if (st) {
        return st;
    }
    test_rng_seed(7);
    dfd_tensor *x = dfd_autograd_input(ru->s, 0);
    for (size_t i = 0; i < dfd_tensor_numel(x); i++) {
        x->data[i] = 0.5f + 0.5f * test_rand();
    }
    dfd_autograd_watch(ru->s, "input_1", NULL);
    for (int k = 0; k < N_SEEDS; k++) {
        const dfd_tensor *v = dfd_autograd_value(ru->s, seed_names[k]);
        size_t n = v ? dfd_tensor_numel(v) : 0;
        if (!n || !(ru->r[k] = malloc(n * sizeof(float)))) {
            return DFD_ERR_NOT_FOUND;
        }
        for (size_t i = 0; i < n; i++) {
            ru->r[k][i] = test_rand() * (n > 200 ? 0.05f : 1.0f);
        }
    }
    return DFD_OK;
}

static void run_free(run *ru)
{
    for (int k = 0; k < N_SEEDS; k++) {
        free(ru->r[k]);
    }
    dfd_autograd_free(ru->s);
}

static double run_loss(run *ru)
{
    if (dfd_autograd_forward(ru->s, true, NULL)) {
        return (double)NAN;
    }
    double l = 0;
    for (int k = 0; k < N_SEEDS; k++) {
        const dfd_tensor *y = dfd_autograd_value(ru->s, seed_names[k]);
        for (size_t i = 0; i < dfd_tensor_numel(y); i++) {
            l += (double)ru->r[k][i] * (double)y->data[i];
        }
    }
    return l;
}

static dfd_status run_step(run *ru)
{
    dfd_status st = dfd_autograd_forward(ru->s, true, NULL);
    for (int k = 0; !st && k < N_SEEDS; k++) {
        st = dfd_autograd_set_grad(ru->s, seed_names[k], ru->r[k], NULL);
    }
    return st ? st : dfd_autograd_backward(ru->s, NULL);
}

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i]));
    }
    return m;
}

// The check of one coordinate. The loss is piecewise smooth with many kinks (every ReLU6 unit
// whose pre-activation crosses 0 or 6 inside the step), so differences converge only linearly
// in eps; small steps (noise about 1e-7 * sum|r y| / eps) and a 3% tolerance balance the two.
// A coordinate whose one-sided differences disagree is skipped (a kink right there).
typedef struct fd_stats {
    int checked, skipped, failed;
    int control_failed; // how many would fail with the analytic gradient 10% off
} fd_stats;

#define FD_RTOL      0.03
#define FD_EPS_PARAM 5e-4f
#define FD_EPS_INPUT 1e-2f

// Finite differences of the loss (fast forward) at the 3 coordinates of `value` with the
// largest analytic gradient among 64 random ones.
static void check_coords(run *ru, float *value, const float *grad, size_t n, float eps,
                         const char *what, fd_stats *st)
{
    size_t best[3] = { 0, 0, 0 };
    for (int t = 0; t < 64; t++) {
        size_t i = (size_t)test_rand_int(0, (int)n - 1);
        for (int k = 0; k < 3 && i != best[k]; k++) {
            if (fabsf(grad[i]) > fabsf(grad[best[k]])) {
                for (int j = 2; j > k; j--) {
                    best[j] = best[j - 1];
                }
                best[k] = i;
                break;
            }
        }
    }
    const double l0 = run_loss(ru), scale = max_abs(grad, n);
    for (int k = 0; k < 3; k++) {
        size_t i = best[k];
        float v = value[i];
        value[i] = v + eps;
        double lp = run_loss(ru);
        value[i] = v - eps;
        double lm = run_loss(ru);
        value[i] = v;
        double dp = (lp - l0) / (double)eps, dm = (l0 - lm) / (double)eps, num = 0.5 * (dp + dm);
        double a = (double)grad[i], atol = 2e-3 * scale;
        if (fabs(dp - dm) > FD_RTOL * fmax(fabs(dp), fabs(dm)) + atol) {
            st->skipped++;
            continue;
        }
        st->checked++;
        if (!(fabs(a - num) <= FD_RTOL * fmax(fabs(a), fabs(num)) + atol)) {
            fprintf(stderr, "    %s[%zu]: analytic %.7g, numeric %.7g (+ %.7g, - %.7g)\n", what, i,
                    a, num, dp, dm);
            st->failed++;
        }
        double a10 = 1.1 * a;
        st->control_failed += !(fabs(a10 - num) <= FD_RTOL * fmax(fabs(a10), fabs(num)) + atol);
    }
}

// Reference and fast backward agree on every parameter and the input; sampled coordinates of
// five parameters across the network and of the input pixels match finite differences.
static void faceres_gradients_match_finite_differences_and_the_reference(void)
{
    if (!have_models()) {
        TEST_SKIP("models/faceres.bin absent (scripts/setup.sh fetches it)");
    }
    dfd_graph *g;
    dfd_error err;
    if (load_faceres(&g, &err)) {
        fprintf(stderr, "    %s\n", err.msg);
        CHECK(0);
        return;
    }
    run ref, fast;
    CHECK_OK(run_make(&ref, g, DFD_BACKEND_REF, 2));
    CHECK_OK(run_make(&fast, g, DFD_BACKEND_FAST, 2));
    CHECK(dfd_autograd_n_fast(fast.s) >= 30);
    CHECK_OK(run_step(&fast));
    CHECK_OK(dfd_autograd_forward(ref.s, true, NULL));
    // The reference backward on the fast forward's activations: the two forwards differ by
    // rounding (~1e-5), which moves a few ReLU6 units across 0 or 6 and opens or closes their
    // gradient paths (3e-3 of the largest gradient in early layers); the same activations make
    // the comparison one of the backward kernels alone.
    for (size_t i = 0; i < dfd_graph_n_nodes(g); i++) {
        const char *name = dfd_graph_value(g, dfd_graph_node(g, i)->out)->name;
        const dfd_tensor *from = dfd_autograd_value(fast.s, name);
        const dfd_tensor *to = dfd_autograd_value(ref.s, name);
        memcpy((float *)(uintptr_t)to->data, from->data, dfd_tensor_numel(to) * sizeof(float));
    }
    for (int k = 0; k < N_SEEDS; k++) {
        CHECK_OK(dfd_autograd_set_grad(ref.s, seed_names[k], ref.r[k], NULL));
    }
    CHECK_OK(dfd_autograd_backward(ref.s, NULL));
    size_t np = dfd_autograd_n_params(ref.s);
    CHECK_EQ_INT(np, 2 * 27 + 2 * 3); // weight and bias of 27 convolutions and 3 matmuls
    dfd_param *const *pr = dfd_autograd_params(ref.s), *const *pf = dfd_autograd_params(fast.s);
    double worst = 0;
    for (size_t p = 0; p < np; p++) {
        size_t n = dfd_param_numel(pr[p]);
        double scale = fmax(max_abs(pr[p]->grad, n), 1e-30), e = 0;
        for (size_t i = 0; i < n; i++) {
            e = fmax(e, fabs((double)pf[p]->grad[i] - (double)pr[p]->grad[i]) / scale);
        }
        if (e > 1e-4) {
            fprintf(stderr, "    %s: fast vs reference %.3g\n", pr[p]->name, e);
        }
        worst = fmax(worst, e);
    }
    CHECK(worst < 1e-4);
    const dfd_tensor *gx = dfd_autograd_grad(ref.s, "input_1");
    const dfd_tensor *gxf = dfd_autograd_grad(fast.s, "input_1");
    REQUIRE(gx && gxf);
    CHECK(test_rel_err(gxf, gx) < 1e-4);
    // Finite differences on the fast forward (which matches the reference to ~1e-5).
    fd_stats st = { 0, 0, 0, 0 };
    const size_t picks[6] = { 0, 13, 22, 48, np - 5, np - 1 }; // conv1 pw3 dw6 pw12 feats age
    test_rng_seed(8);
    for (int k = 0; k < 6; k++) {
        const dfd_param *p = pr[picks[k]];
        // The first layer's weights move every unit of their channel: a smaller step.
        check_coords(&fast, p->value, p->grad, dfd_param_numel(p),
                     k == 0 ? FD_EPS_PARAM / 5 : FD_EPS_PARAM, p->name, &st);
    }
    dfd_tensor *x = dfd_autograd_input(fast.s, 0);
    check_coords(&fast, x->data, gx->data, dfd_tensor_numel(x), FD_EPS_INPUT, "input_1", &st);
    CHECK_EQ_INT(st.failed, 0);
    CHECK(st.checked >= 14); // of 21, at most a third at kinks

    CHECK(st.control_failed >= st.checked * 2 / 3); // the check can tell a 10% error
    run_free(&ref);
    run_free(&fast);
    dfd_graph_free(g);
}

// One thread, fixed seed: two sessions give bit-identical gradients, step after step.
static void faceres_gradients_are_deterministic(void)
{
    if (!have_models()) {
        TEST_SKIP("models/faceres.bin absent");
    }
    dfd_graph *g;
    CHECK_OK(load_faceres(&g, NULL));
    run a, b;
    CHECK_OK(run_make(&a, g, DFD_BACKEND_FAST, 1));
    CHECK_OK(run_make(&b, g, DFD_BACKEND_FAST, 1));
    for (int step = 0; step < 2; step++) {
        CHECK_OK(run_step(&a));
        CHECK_OK(run_step(&b));
    }
    for (size_t p = 0; p < dfd_autograd_n_params(a.s); p++) {
        const dfd_param *pa = dfd_autograd_params(a.s)[p], *pb = dfd_autograd_params(b.s)[p];
        CHECK(memcmp(pa->grad, pb->grad, dfd_param_numel(pa) * sizeof(float)) == 0);
    }
    const dfd_tensor *xa = dfd_autograd_grad(a.s, "input_1"),
                     *xb = dfd_autograd_grad(b.s, "input_1");
    CHECK(memcmp(xa->data, xb->data, dfd_tensor_numel(xa) * sizeof(float)) == 0);
    run_free(&a);
    run_free(&b);
    dfd_graph_free(g);
}

// Fine-tuning the heads alone: with every convolution frozen and no input gradient wanted, no
// convolution's backward runs at all, and only the heads' parameters get gradients.
static void faceres_frozen_backbone_is_skipped(void)
{
    if (!have_models()) {
        TEST_SKIP("models/faceres.bin absent");
    }
    dfd_graph *g;
    CHECK_OK(load_faceres(&g, NULL));
    dfd_autograd *s;
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.profile = true;
    ao.n_threads = 2;
    CHECK_OK(dfd_autograd_create(&s, g, N_BATCH, &ao, NULL));
    size_t frozen = dfd_autograd_freeze(s, "conv", true);
    CHECK_EQ_INT(frozen, 2 * 27);
    test_fill(dfd_autograd_input(s, 0), 1.0f);
    CHECK_OK(dfd_autograd_forward(s, true, NULL));
    float r[N_BATCH * 100];
    for (int i = 0; i < N_BATCH * 100; i++) {
        r[i] = test_rand();
    }
    CHECK_OK(dfd_autograd_set_grad(s, "age_pred/Softmax", r, NULL));
    CHECK_OK(dfd_autograd_backward(s, NULL));
    for (size_t i = 0; i < dfd_graph_n_nodes(g); i++) {
        const dfd_node *n = dfd_graph_node(g, i);
        double bwd;
        dfd_autograd_node_seconds(s, i, &bwd);
        CHECK(n->op != DFD_OP_CONV2D || bwd == 0);
    }
    // The backbone's and the gender head's parameters get nothing; the age head's bias does
    // (its weights may too, but this model's embedding is mostly zero on random inputs).
    for (size_t p = 0; p < dfd_autograd_n_params(s); p++) {
        const dfd_param *q = dfd_autograd_params(s)[p];
        double m = max_abs(q->grad, dfd_param_numel(q));
        if (strncmp(q->name, "conv", 4) == 0 || strncmp(q->name, "gender", 6) == 0) {
            CHECK(m == 0);
        } else if (strcmp(q->name, "age_pred/BiasAdd/bias") == 0) {
            CHECK(m > 0);
        }
    }
    CHECK(dfd_autograd_param(s, "age_pred/BiasAdd/bias") != NULL);
    dfd_autograd_free(s);
    dfd_graph_free(g);
}

// Grad-CAM on the last feature map: its gradient is the pooled embedding's gradient spread
// evenly over the 2x2 positions (global average pooling), and its value is the map itself.
static void faceres_grad_cam_on_the_last_feature_map(void)
{
    if (!have_models()) {
        TEST_SKIP("models/faceres.bin absent");
    }
    dfd_graph *g;
    CHECK_OK(load_faceres(&g, NULL));
    dfd_autograd *s;
    CHECK_OK(dfd_autograd_create(&s, g, N_BATCH, NULL, NULL));
    const char *fmap = "conv_pw_13_relu/clip_by_value";
    CHECK_OK(dfd_autograd_watch(s, fmap, NULL));
    CHECK_OK(dfd_autograd_watch(s, "global_pooling/Mean", NULL));
    dfd_autograd_freeze(s, "", true);
    test_fill(dfd_autograd_input(s, 0), 1.0f);
    CHECK_OK(dfd_autograd_forward(s, false, NULL));
    float one[N_BATCH] = { 1.0f, 1.0f };
    CHECK_OK(dfd_autograd_set_grad(s, "gender_pred/Sigmoid", one, NULL));
    CHECK_OK(dfd_autograd_backward(s, NULL));
    const dfd_tensor *gf = dfd_autograd_grad(s, fmap),
                     *gm = dfd_autograd_grad(s, "global_pooling/Mean");
    const dfd_tensor *f = dfd_autograd_value(s, fmap),
                     *m = dfd_autograd_value(s, "global_pooling/Mean");
    REQUIRE(gf && gm && f && m);
    CHECK_EQ_INT(gf->rank, 4);
    CHECK_EQ_INT(gf->shape[1] * gf->shape[2], 4);
    CHECK_EQ_INT(gf->shape[3], 1024);
    double worst = 0, scale = max_abs(gm->data, dfd_tensor_numel(gm)), mean_err = 0;
    for (int b = 0; b < N_BATCH; b++) {
        for (int p = 0; p < 4; p++) {
            for (int c = 0; c < 1024; c++) {
                double want = (double)gm->data[b * 1024 + c] / 4;
                worst = fmax(worst, fabs((double)gf->data[(b * 4 + p) * 1024 + c] - want));
            }
        }
        for (int c = 0; c < 1024; c++) { // the value: its mean is the pooled embedding
            double s4 = 0;
            for (int p = 0; p < 4; p++) {
                s4 += (double)f->data[(b * 4 + p) * 1024 + c];
            }
            mean_err = fmax(mean_err, fabs(s4 / 4 - (double)m->data[b * 1024 + c]));
        }
    }
    CHECK(scale > 0);
    CHECK(worst <= 1e-6 * scale);
    CHECK(mean_err < 1e-5);
    dfd_autograd_free(s);
    dfd_graph_free(g);
}

int main(int argc, char **argv)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    snprintf(g_src, sizeof g_src, "%s", src ? src : ".");
    static const dfd_test_case cases[] = {
        { "faceres_gradients_match_finite_differences_and_the_reference",
          faceres_gradients_match_finite_differences_and_the_reference },
        { "faceres_gradients_are_deterministic", faceres_gradients_are_deterministic },
        { "faceres_frozen_backbone_is_skipped", faceres_frozen_backbone_is_skipped },
        { "faceres_grad_cam_on_the_last_feature_map", faceres_grad_cam_on_the_last_feature_map },
    };
    return dfd_test_run_(cases, sizeof cases / sizeof cases[0], argc, argv);
}
