// Optimisers (nn/optim.h): hand-computed SGD, Adam and AdamW steps, schedules, clipping, frozen
// parameters and groups, state export and exact resumption, and PyTorch parity over several
// steps through tests/nn/fixtures/optim_torch.json.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dfdetect/nn/optim.h"
#include "dfdetect/util/alloc.h"
#include "test.h"
#include "torch_fixture.h"

#define PI 3.14159265358979323846

// A one-element parameter with its gradient.
typedef struct scalar_param {
    float w, g;
    dfd_param p;
} scalar_param;

static void scalar_init(scalar_param *s, const char *name, float w)
{
    memset(s, 0, sizeof *s);
    s->w = w;
    s->p.name = name;
    s->p.value = &s->w;
    s->p.grad = &s->g;
    s->p.rank = 1;
    s->p.shape[0] = 1;
}

// Run `steps` updates of a scalar parameter with gradients g[0..steps).
static float run_scalar(const dfd_optim_opts *o, float w0, const float *g, int steps)
{
    scalar_param s;
    scalar_init(&s, "w", w0);
    dfd_param *ps[1] = { &s.p };
    dfd_optim *opt = NULL;
    if (dfd_optim_create(&opt, ps, 1, o, NULL) != DFD_OK) {
        return NAN;
    }
    for (int i = 0; i < steps; i++) {
        s.g = g[i];
        dfd_optim_step(opt, NULL);
    }
    dfd_optim_destroy(opt);
    return s.w;
}

// ---- hand-computed steps ----

static void test_sgd_matches_hand_computed_steps(void)
{
    const float g[3] = { 1.0f, 1.0f, -2.0f };
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_SGD);
    o.lr = 0.1f;
    o.momentum = 0.0f;
    CHECK_NEAR(run_scalar(&o, 1.0f, g, 3), 1.0 - 0.1 * (1 + 1 - 2), 1e-7);
    // Momentum 0.9: b = 1, 1.9, -0.29; w = 1 - 0.1 (1 + 1.9 - 0.29)
    o.momentum = 0.9f;
    CHECK_NEAR(run_scalar(&o, 1.0f, g, 3), 1.0 - 0.1 * (1.0 + 1.9 - 0.29), 1e-6);
    // Nesterov: step d = g + 0.9 b: 1.9, 1 + 0.9 * 1.9 = 2.71, -2 + 0.9 * -0.29 = -2.261
    o.nesterov = true;
    CHECK_NEAR(run_scalar(&o, 1.0f, g, 3), 1.0 - 0.1 * (1.9 + 2.71 - 2.261), 1e-6);
    // L2 weight decay 0.5, no momentum: w1 = 1 - 0.1 (1 + 0.5), one step.
    o.nesterov = false;
    o.momentum = 0.0f;
    o.weight_decay = 0.5f;
    CHECK_NEAR(run_scalar(&o, 1.0f, g, 1), 1.0 - 0.1 * 1.5, 1e-7);
}

// Adam in double, the textbook way, for comparison.
static double adam_ref(double w, const float *g, int steps, double lr, double b1, double b2,
                       double eps, double wd, bool decoupled)
{
    double m = 0, v = 0;
    for (int t = 1; t <= steps; t++) {
        double gt = (double)g[t - 1];
        if (decoupled) {
            w *= 1 - lr * wd;
        } else {
            gt += wd * w;
        }
        m = b1 * m + (1 - b1) * gt;
        v = b2 * v + (1 - b2) * gt * gt;
        const double mh = m / (1 - pow(b1, t)), vh = v / (1 - pow(b2, t));
        w -= lr * mh / (sqrt(vh) + eps);
    }
    return w;
}

static void test_adam_matches_hand_computed_steps(void)
{
    const float g[4] = { 0.5f, -0.25f, 2.0f, 0.125f };
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_ADAM);
    o.lr = 0.1f;
    // The first step of Adam moves by lr * sign(g) (bias-corrected m / sqrt(v) = g / |g|).
    CHECK_NEAR(run_scalar(&o, 1.0f, g, 1), 0.9, 1e-6);
    for (int steps = 1; steps <= 4; steps++) {
        const double ref = adam_ref(1.0, g, steps, 0.1, 0.9, 0.999, 1e-8, 0.0, false);
        CHECK_NEAR(run_scalar(&o, 1.0f, g, steps), ref, 1e-6);
    }
    // L2 (Adam) and decoupled (AdamW) weight decay differ, each as its definition.
    o.weight_decay = 0.2f;
    CHECK_NEAR(run_scalar(&o, 2.0f, g, 4), adam_ref(2.0, g, 4, 0.1, 0.9, 0.999, 1e-8, 0.2, false),
               1e-6);
    o.kind = DFD_OPTIM_ADAMW;
    CHECK_NEAR(run_scalar(&o, 2.0f, g, 4), adam_ref(2.0, g, 4, 0.1, 0.9, 0.999, 1e-8, 0.2, true),
               1e-6);
    // With a zero gradient AdamW only shrinks the weight: w (1 - lr wd).
    const float zero[1] = { 0.0f };
    CHECK_NEAR(run_scalar(&o, 2.0f, zero, 1), 2.0 * (1.0 - 0.1 * 0.2), 1e-7);
}

// ---- schedules ----

static void test_lr_schedules_match_hand_computed_factors(void)
{
    dfd_lr_schedule s = { .kind = DFD_LR_STEP, .step_size = 3, .gamma = 0.5f };
    const double step_want[7] = { 1, 1, 1, 0.5, 0.5, 0.5, 0.25 };
    for (int t = 0; t < 7; t++) {
        CHECK_NEAR(dfd_lr_factor(&s, t), step_want[t], 1e-12);
    }
    s = (dfd_lr_schedule){ .kind = DFD_LR_COSINE, .decay_steps = 4, .min_factor = 0.1f };
    const double cos_want[6] = { 1.0,  0.1 + 0.9 * (1 + cos(PI / 4)) / 2,
                                 0.55, 0.1 + 0.9 * (1 + cos(3 * PI / 4)) / 2,
                                 0.1,  0.1 };
    for (int t = 0; t < 6; t++) {
        CHECK_NEAR(dfd_lr_factor(&s, t), cos_want[t], 1e-7);
    }
    // Warm-up of 4 then cosine over 2: 1/4, 2/4, 3/4, 1, then 1, 0.5 (min 0), 0, 0.
    s = (dfd_lr_schedule){ .kind = DFD_LR_COSINE, .warmup_steps = 4, .decay_steps = 2 };
    const double warm_want[8] = { 0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.0, 0.0 };
    for (int t = 0; t < 8; t++) {
        CHECK_NEAR(dfd_lr_factor(&s, t), warm_want[t], 1e-12);
    }
    s = (dfd_lr_schedule){ .kind = DFD_LR_CONSTANT, .warmup_steps = 2 };
    CHECK_NEAR(dfd_lr_factor(&s, 0), 0.5, 1e-12);
    CHECK_NEAR(dfd_lr_factor(&s, 1000), 1.0, 1e-12);

    // The optimiser follows its schedule, and group 0's scale, step by step.
    scalar_param p;
    scalar_init(&p, "w", 0.0f);
    dfd_param *ps[1] = { &p.p };
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_SGD);
    o.lr = 0.4f;
    o.momentum = 0.0f;
    o.group_lr_scale[0] = 0.5f;
    o.schedule =
        (dfd_lr_schedule){ .kind = DFD_LR_STEP, .warmup_steps = 2, .step_size = 1, .gamma = 0.5f };
    dfd_optim *opt;
    CHECK_OK(dfd_optim_create(&opt, ps, 1, &o, NULL));
    const double lr_want[5] = { 0.1, 0.2, 0.2, 0.1, 0.05 };
    p.g = -1.0f;
    double w = 0;
    for (int t = 0; t < 5; t++) {
        CHECK_NEAR(dfd_optim_lr(opt), lr_want[t], 1e-7);
        dfd_optim_step(opt, NULL);
        w += lr_want[t];
        CHECK_NEAR(p.w, w, 1e-6);
    }
    CHECK_EQ_INT(dfd_optim_step_count(opt), 5);
    dfd_optim_destroy(opt);
}

// ---- clipping, frozen parameters, groups ----

static void test_clipping_scales_to_the_global_norm(void)
{
    scalar_param a, b;
    scalar_init(&a, "a", 0.0f);
    scalar_init(&b, "b", 0.0f);
    dfd_param *ps[2] = { &a.p, &b.p };
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_SGD);
    o.lr = 1.0f;
    o.momentum = 0.0f;
    o.clip_norm = 1.0f;
    dfd_optim *opt;
    CHECK_OK(dfd_optim_create(&opt, ps, 2, &o, NULL));
    a.g = 3.0f, b.g = 4.0f; // norm 5: scaled by 1 / (5 + 1e-6)
    float norm = 0;
    dfd_optim_step(opt, &norm);
    CHECK_NEAR(norm, 5.0, 1e-6);
    CHECK_NEAR(a.w, -3.0 / (5.0 + 1e-6), 1e-6);
    CHECK_NEAR(b.w, -4.0 / (5.0 + 1e-6), 1e-6);
    CHECK_NEAR(dfd_params_grad_norm(ps, 2), 5.0, 1e-12); // gradients themselves untouched
    // Below the threshold nothing is scaled.
    a.g = 0.3f, b.g = 0.4f;
    dfd_optim_step(opt, &norm);
    CHECK_NEAR(a.w, -3.0 / (5.0 + 1e-6) - 0.3, 1e-6);
    // A non-finite norm skips the whole step: values and counters stay.
    a.g = INFINITY;
    const float wa = a.w, wb = b.w;
    dfd_optim_step(opt, &norm);
    CHECK(isinf(norm));
    CHECK(a.w == wa && b.w == wb);
    CHECK_EQ_INT(dfd_optim_step_count(opt), 2);
    a.g = NAN;
    dfd_optim_step(opt, &norm);
    CHECK(isnan(norm) && a.w == wa);
    dfd_optim_destroy(opt);
}

static void test_frozen_and_gradless_parameters_are_skipped(void)
{
    scalar_param a, b, c;
    scalar_init(&a, "a", 1.0f);
    scalar_init(&b, "b", 1.0f);
    scalar_init(&c, "c", 1.0f);
    b.p.frozen = true;
    c.p.grad = NULL;
    dfd_param *ps[3] = { &a.p, &b.p, &c.p };
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_ADAM);
    o.lr = 0.1f;
    dfd_optim *opt;
    CHECK_OK(dfd_optim_create(&opt, ps, 3, &o, NULL));
    a.g = b.g = 1.0f;
    for (int i = 0; i < 3; i++) {
        dfd_optim_step(opt, NULL);
    }
    CHECK(b.w == 1.0f && c.w == 1.0f);
    CHECK(a.w < 0.71f);
    // Unfrozen, b takes its own first step: lr * sign(g), exactly as a fresh Adam (its own
    // step counter is 1 even though the optimiser has taken 3).
    b.p.frozen = false;
    dfd_optim_step(opt, NULL);
    CHECK_NEAR(b.w, 0.9, 1e-6);
    for (size_t i = 0; i < dfd_optim_state_count(opt); i++) {
        dfd_optim_state s = dfd_optim_state_at(opt, i);
        int64_t v = 0;
        if (s.is_int64) {
            memcpy(&v, s.data, sizeof v);
        }
        if (strcmp(s.name, "optim/step") == 0) {
            CHECK_EQ_INT(v, 4);
        } else if (strcmp(s.name, "optim/a/step") == 0) {
            CHECK_EQ_INT(v, 4);
        } else if (strcmp(s.name, "optim/b/step") == 0) {
            CHECK_EQ_INT(v, 1);
        } else if (strcmp(s.name, "optim/c/step") == 0) {
            CHECK_EQ_INT(v, 0);
        }
    }
    dfd_optim_destroy(opt);
}

static void test_groups_scale_learning_rate_and_weight_decay(void)
{
    scalar_param a, b;
    scalar_init(&a, "head", 1.0f);
    scalar_init(&b, "backbone", 1.0f);
    b.p.group = 1;
    dfd_param *ps[2] = { &a.p, &b.p };
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
    o.lr = 0.1f;
    o.weight_decay = 0.5f;
    o.group_lr_scale[1] = 0.1f;
    o.group_wd_scale[1] = 0.0f;
    dfd_optim *opt;
    CHECK_OK(dfd_optim_create(&opt, ps, 2, &o, NULL));
    a.g = b.g = 1.0f;
    dfd_optim_step(opt, NULL);
    CHECK_NEAR(a.w, 1.0 * (1 - 0.1 * 0.5) - 0.1, 1e-6); // decayed, full rate
    CHECK_NEAR(b.w, 1.0 - 0.01, 1e-6);                  // no decay, a tenth of the rate
    dfd_optim_destroy(opt);
}

static void test_invalid_options_and_parameters_are_rejected(void)
{
    scalar_param a, b;
    scalar_init(&a, "w", 1.0f);
    scalar_init(&b, "w", 1.0f);
    dfd_param *ps[2] = { &a.p, &b.p };
    dfd_optim *opt = NULL;
    dfd_error err;
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_ADAM);
    CHECK_EQ_INT(dfd_optim_create(&opt, ps, 2, &o, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "two parameters named 'w'");
    CHECK(opt == NULL);
    b.p.name = "v";
    b.p.group = DFD_OPTIM_MAX_GROUPS;
    CHECK_EQ_INT(dfd_optim_create(&opt, ps, 2, &o, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "'v' is in group 8");
    b.p.group = 0;
    b.p.rank = 0;
    CHECK_EQ_INT(dfd_optim_create(&opt, ps, 2, &o, &err), DFD_ERR_INVALID);
    b.p.rank = 1;
    const struct {
        float *field;
        float bad;
        const char *what;
    } cases[] = {
        { &o.lr, -1.0f, "lr" },
        { &o.lr, NAN, "lr" },
        { &o.beta1, 1.0f, "betas" },
        { &o.beta2, -0.1f, "betas" },
        { &o.eps, 0.0f, "eps" },
        { &o.weight_decay, -1e-3f, "weight_decay" },
        { &o.clip_norm, NAN, "clip_norm" },
        { &o.group_lr_scale[3], -1.0f, "group scale" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        o = dfd_optim_opts_default(DFD_OPTIM_ADAM);
        *cases[i].field = cases[i].bad; // a member of o, reset above
        CHECK_EQ_INT(dfd_optim_create(&opt, ps, 2, &o, &err), DFD_ERR_INVALID);
        CHECK_STR_CONTAINS(err.msg, cases[i].what);
    }
    o = dfd_optim_opts_default(DFD_OPTIM_SGD);
    o.momentum = 0.0f;
    o.nesterov = true;
    CHECK_EQ_INT(dfd_optim_create(&opt, ps, 2, &o, &err), DFD_ERR_INVALID);
    o = dfd_optim_opts_default(DFD_OPTIM_SGD);
    o.schedule.kind = DFD_LR_COSINE;
    o.schedule.decay_steps = 0;
    CHECK_EQ_INT(dfd_optim_create(&opt, ps, 2, &o, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "schedule");
}

static void test_an_optimiser_over_no_parameters_only_counts_steps(void)
{
    const dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
    dfd_optim *opt = NULL;
    CHECK_OK(dfd_optim_create(&opt, NULL, 0, &o, NULL));
    float norm = -1.0f;
    dfd_optim_step(opt, &norm);
    CHECK(norm == 0.0f);
    CHECK_EQ_INT(dfd_optim_step_count(opt), 1);
    CHECK_EQ_INT(dfd_optim_state_count(opt), 1); // "optim/step"
    CHECK(dfd_optim_options(opt)->kind == DFD_OPTIM_ADAMW);
    CHECK(dfd_optim_options(opt)->weight_decay == o.weight_decay);
    dfd_optim_destroy(opt);
    dfd_error err;
    dfd_optim_opts bad = o;
    bad.eps = -1.0f;
    CHECK_EQ_INT(dfd_optim_opts_check(&bad, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "optimiser: invalid eps");
    CHECK_OK(dfd_optim_opts_check(&o, NULL));
}

static void test_create_survives_every_allocation_failure(void)
{
    float w[6] = { 0 }, g[6] = { 0 };
    dfd_param p = { .name = "w", .value = w, .grad = g, .rank = 2, .shape = { 2, 3 } };
    dfd_param *ps[1] = { &p };
    const dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
    const size_t before = dfd_alloc_bytes_in_use();
    int n_ok = 0;
    for (long k = 0; k < 40; k++) {
        dfd_optim *opt = NULL;
        dfd_alloc_fail_after(k);
        dfd_status st = dfd_optim_create(&opt, ps, 1, &o, NULL);
        dfd_alloc_fail_after(-1);
        CHECK(st == DFD_OK || (st == DFD_ERR_NOMEM && opt == NULL));
        n_ok += st == DFD_OK;
        dfd_optim_destroy(opt);
        CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    }
    CHECK(n_ok > 0);
}

// ---- state export and exact resumption ----

enum {
    BIG = 70000
}; // above the threaded-update threshold

typedef struct model {
    float *w, *gw; // (2, 3)
    float *b, *gb; // (BIG)
    dfd_param pw, pb;
    dfd_param *ps[2];
} model;

static bool model_init(model *m)
{
    memset(m, 0, sizeof *m);
    m->w = dfd_calloc(6, sizeof(float));
    m->gw = dfd_calloc(6, sizeof(float));
    m->b = dfd_calloc(BIG, sizeof(float));
    m->gb = dfd_calloc(BIG, sizeof(float));
    if (!m->w || !m->gw || !m->b || !m->gb) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        m->w[i] = 0.1f * (float)(i - 2);
    }
    for (int i = 0; i < BIG; i++) {
        m->b[i] = sinf(0.001f * (float)i);
    }
    m->pw =
        (dfd_param){ .name = "head/w", .value = m->w, .grad = m->gw, .rank = 2, .shape = { 2, 3 } };
    m->pb = (dfd_param){
        .name = "backbone/b", .value = m->b, .grad = m->gb, .rank = 1, .shape = { BIG }, .group = 1
    };
    m->ps[0] = &m->pw;
    m->ps[1] = &m->pb;
    return true;
}

static void model_free(model *m)
{
    dfd_free(m->w), dfd_free(m->gw), dfd_free(m->b), dfd_free(m->gb);
}

// Gradients that depend on the weights and the step, so any drift in state shows.
static void model_grad(model *m, int step)
{
    for (int i = 0; i < 6; i++) {
        m->gw[i] = m->w[i] - 0.3f + 0.05f * (float)step;
    }
    for (int i = 0; i < BIG; i++) {
        m->gb[i] = cosf(m->b[i] * 3.0f + (float)step) * (i % 7 == 0 ? 20.0f : 1.0f);
    }
}

static void model_train(model *m, dfd_optim *opt, int from, int to)
{
    for (int s = from; s < to; s++) {
        model_grad(m, s);
        dfd_optim_step(opt, NULL);
    }
}

static dfd_optim_opts resume_opts(dfd_optim_kind kind)
{
    dfd_optim_opts o = dfd_optim_opts_default(kind);
    o.lr = 0.05f;
    o.weight_decay = 0.01f;
    o.clip_norm = 50.0f;
    o.group_lr_scale[1] = 0.3f;
    o.nesterov = kind == DFD_OPTIM_SGD;
    o.schedule = (dfd_lr_schedule){
        .kind = DFD_LR_COSINE, .warmup_steps = 3, .decay_steps = 8, .min_factor = 0.05f
    };
    return o;
}

static void test_state_copied_to_a_fresh_optimiser_resumes_bit_for_bit(void)
{
    enum {
        N = 12,
        K = 5
    };
    for (int kind = 0; kind < DFD_OPTIM_KIND_COUNT; kind++) {
        const dfd_optim_opts o = resume_opts((dfd_optim_kind)kind);
        model a, b;
        dfd_optim *oa = NULL, *ob = NULL;
        REQUIRE(model_init(&a) && model_init(&b));
        CHECK_OK(dfd_optim_create(&oa, a.ps, 2, &o, NULL));
        CHECK_OK(dfd_optim_create(&ob, b.ps, 2, &o, NULL));
        model_train(&a, oa, 0, K);
        // Copy weights and every state array into the untouched model b and its optimiser.
        memcpy(b.w, a.w, 6 * sizeof(float));
        memcpy(b.b, a.b, BIG * sizeof(float));
        CHECK_EQ_INT(dfd_optim_state_count(ob), dfd_optim_state_count(oa));
        for (size_t i = 0; i < dfd_optim_state_count(oa); i++) {
            const dfd_optim_state sa = dfd_optim_state_at(oa, i), sb = dfd_optim_state_at(ob, i);
            CHECK(strcmp(sa.name, sb.name) == 0 && sa.is_int64 == sb.is_int64);
            size_t n = 1;
            for (int d = 0; d < sa.rank; d++) {
                n *= (size_t)sa.shape[d];
            }
            memcpy(sb.data, sa.data, n * (sa.is_int64 ? sizeof(int64_t) : sizeof(float)));
        }
        model_train(&a, oa, K, N);
        model_train(&b, ob, K, N);
        CHECK(memcmp(a.w, b.w, 6 * sizeof(float)) == 0);
        CHECK(memcmp(a.b, b.b, BIG * sizeof(float)) == 0);
        CHECK(a.w[0] != 0.1f * -2.0f); // it did train
        dfd_optim_destroy(oa);
        dfd_optim_destroy(ob);
        model_free(&a);
        model_free(&b);
    }
}

static void test_state_names_follow_the_documented_order(void)
{
    model m;
    REQUIRE(model_init(&m));
    const char *adam[] = { "optim/step",           "optim/head/w/m",     "optim/head/w/v",
                           "optim/head/w/step",    "optim/backbone/b/m", "optim/backbone/b/v",
                           "optim/backbone/b/step" };
    const char *sgd[] = { "optim/step", "optim/head/w/momentum", "optim/head/w/step",
                          "optim/backbone/b/momentum", "optim/backbone/b/step" };
    const char **want[2] = { sgd, adam };
    const size_t n_want[2] = { 5, 7 };
    const dfd_optim_kind kinds[2] = { DFD_OPTIM_SGD, DFD_OPTIM_ADAM };
    for (int k = 0; k < 2; k++) {
        dfd_optim *opt;
        const dfd_optim_opts o = dfd_optim_opts_default(kinds[k]);
        CHECK_OK(dfd_optim_create(&opt, m.ps, 2, &o, NULL));
        CHECK_EQ_INT(dfd_optim_state_count(opt), n_want[k]);
        for (size_t i = 0; i < n_want[k] && i < dfd_optim_state_count(opt); i++) {
            const dfd_optim_state s = dfd_optim_state_at(opt, i);
            CHECK(strcmp(s.name, want[k][i]) == 0);
            CHECK_EQ_INT(s.is_int64, strstr(s.name, "step") != NULL);
            CHECK_EQ_INT(s.rank, s.is_int64 ? 0 : (strstr(s.name, "head") ? 2 : 1));
        }
        dfd_optim_destroy(opt);
    }
    // Plain SGD keeps no moments.
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_SGD);
    o.momentum = 0.0f;
    dfd_optim *opt;
    CHECK_OK(dfd_optim_create(&opt, m.ps, 2, &o, NULL));
    CHECK_EQ_INT(dfd_optim_state_count(opt), 3);
    dfd_optim_destroy(opt);
    model_free(&m);
}

// ---- PyTorch parity ----

static dfd_optim_opts fixture_opts(const cJSON *c)
{
    const char *kind = cJSON_GetObjectItemCaseSensitive(c, "kind")->valuestring;
    dfd_optim_opts o = dfd_optim_opts_default(strcmp(kind, "sgd") == 0    ? DFD_OPTIM_SGD
                                              : strcmp(kind, "adam") == 0 ? DFD_OPTIM_ADAM
                                                                          : DFD_OPTIM_ADAMW);
    o.lr = (float)torch_fixture_num(c, "lr");
    o.momentum = (float)torch_fixture_num(c, "momentum");
    o.nesterov = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "nesterov"));
    o.beta1 = (float)torch_fixture_num(c, "beta1");
    o.beta2 = (float)torch_fixture_num(c, "beta2");
    o.eps = (float)torch_fixture_num(c, "eps");
    o.weight_decay = (float)torch_fixture_num(c, "weight_decay");
    o.clip_norm = (float)torch_fixture_num(c, "clip_norm");
    o.group_lr_scale[1] = (float)torch_fixture_num(c, "group1_lr_scale");
    o.group_wd_scale[1] = (float)torch_fixture_num(c, "group1_wd_scale");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "schedule");
    const char *sk = cJSON_GetObjectItemCaseSensitive(s, "kind")->valuestring;
    if (strcmp(sk, "step") == 0) {
        o.schedule.kind = DFD_LR_STEP;
        o.schedule.step_size = (long)torch_fixture_num(s, "step_size");
        o.schedule.gamma = (float)torch_fixture_num(s, "gamma");
    } else if (strcmp(sk, "cosine") == 0) {
        o.schedule.kind = DFD_LR_COSINE;
        o.schedule.decay_steps = (long)torch_fixture_num(s, "decay_steps");
    } else if (strcmp(sk, "warmup") == 0) {
        o.schedule.warmup_steps = (long)torch_fixture_num(s, "warmup_steps");
    }
    return o;
}

// Run one fixture case; returns false on a mismatch. After every step, each parameter must be
// within 1e-6 of its largest value (the relative error of the Adam check, tightened from
// 1e-4), and its update since the start within 1e-4 of the largest update (so a small error in
// the step itself cannot hide behind large weights).
static bool run_fixture_case(const cJSON *c, double *worst_value, double *worst_update)
{
    const size_t numel[2] = { 12, 5 };
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(c, "init");
    float *w0[2], *val[2], grad[2][12];
    dfd_param p[2];
    dfd_param *ps[2] = { &p[0], &p[1] };
    for (int i = 0; i < 2; i++) {
        w0[i] = torch_fixture_floats_of(cJSON_GetArrayItem(init, i), numel[i], NULL);
        val[i] = torch_fixture_floats_of(cJSON_GetArrayItem(init, i), numel[i], NULL);
    }
    p[0] =
        (dfd_param){ .name = "w", .value = val[0], .grad = grad[0], .rank = 2, .shape = { 3, 4 } };
    p[1] = (dfd_param){
        .name = "b", .value = val[1], .grad = grad[1], .rank = 1, .shape = { 5 }, .group = 1
    };
    const dfd_optim_opts o = fixture_opts(c);
    dfd_optim *opt = NULL;
    bool ok = dfd_optim_create(&opt, ps, 2, &o, NULL) == DFD_OK;
    const cJSON *grads = cJSON_GetObjectItemCaseSensitive(c, "grads");
    const cJSON *traj = cJSON_GetObjectItemCaseSensitive(c, "trajectory");
    for (int s = 0; ok && s < cJSON_GetArraySize(grads); s++) {
        for (int i = 0; i < 2; i++) {
            float *g = torch_fixture_floats_of(cJSON_GetArrayItem(cJSON_GetArrayItem(grads, s), i),
                                               numel[i], NULL);
            memcpy(grad[i], g, numel[i] * sizeof(float));
            dfd_free(g);
        }
        dfd_optim_step(opt, NULL);
        for (int i = 0; i < 2; i++) {
            float *want = torch_fixture_floats_of(
                cJSON_GetArrayItem(cJSON_GetArrayItem(traj, s), i), numel[i], NULL);
            double max_value = 1e-30, max_update = 1e-30;
            for (size_t j = 0; j < numel[i]; j++) {
                max_value = fmax(max_value, fabs((double)want[j]));
                max_update = fmax(max_update, fabs((double)want[j] - (double)w0[i][j]));
            }
            for (size_t j = 0; j < numel[i]; j++) {
                const double e = fabs((double)val[i][j] - (double)want[j]);
                *worst_value = fmax(*worst_value, e / max_value);
                *worst_update = fmax(*worst_update, e / max_update);
                ok = ok && e <= 1e-6 * max_value && e <= 1e-4 * max_update;
            }
            dfd_free(want);
        }
    }
    dfd_optim_destroy(opt);
    for (int i = 0; i < 2; i++) {
        dfd_free(w0[i]);
        dfd_free(val[i]);
    }
    return ok;
}

// The check, element by element: one Adam step from the fixture's weights and gradients
// (lr 0.01), each weight within a relative error of 1e-4 of torch's.
static void test_one_adam_step_matches_pytorch_element_by_element(void)
{
    cJSON *doc = torch_fixture_load("optim_torch.json");
    REQUIRE(doc);
    const cJSON *c, *adam = NULL;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases"))
    {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring, "adam") == 0) {
            adam = c;
        }
    }
    REQUIRE(adam);
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(adam, "init");
    const cJSON *g0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(adam, "grads"), 0);
    const cJSON *w1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(adam, "trajectory"), 0);
    const int numel[2] = { 12, 5 };
    float *w[2], *g[2], *want[2];
    dfd_param p[2];
    dfd_param *ps[2] = { &p[0], &p[1] };
    for (int i = 0; i < 2; i++) {
        w[i] = torch_fixture_floats_of(cJSON_GetArrayItem(init, i), (size_t)numel[i], NULL);
        g[i] = torch_fixture_floats_of(cJSON_GetArrayItem(g0, i), (size_t)numel[i], NULL);
        want[i] = torch_fixture_floats_of(cJSON_GetArrayItem(w1, i), (size_t)numel[i], NULL);
        p[i] = (dfd_param){ .name = i ? "b" : "w", .value = w[i], .grad = g[i], .rank = 1 };
        p[i].shape[0] = numel[i];
    }
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_ADAM);
    o.lr = (float)torch_fixture_num(adam, "lr");
    dfd_optim *opt;
    CHECK_OK(dfd_optim_create(&opt, ps, 2, &o, NULL));
    dfd_optim_step(opt, NULL);
    dfd_optim_destroy(opt);
    double worst = 0;
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < numel[i]; j++) {
            const double b = (double)want[i][j];
            worst = fmax(worst, fabs((double)w[i][j] - b) / fabs(b));
        }
        dfd_free(w[i]), dfd_free(g[i]), dfd_free(want[i]);
    }
    printf("    one Adam step: max relative error %.2g (bound 1e-4)\n", worst);
    CHECK(worst <= 1e-4);
    cJSON_Delete(doc);
}

static void test_optimisers_match_pytorch_fixtures(void)
{
    cJSON *doc = torch_fixture_load("optim_torch.json");
    REQUIRE(doc);
    const cJSON *c;
    int n_cases = 0;
    double worst_value = 0, worst_update = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases"))
    {
        if (!run_fixture_case(c, &worst_value, &worst_update)) {
            DFD_TEST_FAIL_("%s differs from torch",
                           cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring);
        }
        n_cases++;
    }
    printf("    %d torch cases, worst relative error %.2g on values, %.2g on updates\n", n_cases,
           worst_value, worst_update);
    CHECK(n_cases >= 11);
    cJSON_Delete(doc);
}

DFD_TEST_MAIN(
    { "sgd_matches_hand_computed_steps", test_sgd_matches_hand_computed_steps },
    { "adam_matches_hand_computed_steps", test_adam_matches_hand_computed_steps },
    { "lr_schedules_match_hand_computed_factors", test_lr_schedules_match_hand_computed_factors },
    { "clipping_scales_to_the_global_norm", test_clipping_scales_to_the_global_norm },
    { "frozen_and_gradless_parameters_are_skipped",
      test_frozen_and_gradless_parameters_are_skipped },
    { "groups_scale_learning_rate_and_weight_decay",
      test_groups_scale_learning_rate_and_weight_decay },
    { "invalid_options_and_parameters_are_rejected",
      test_invalid_options_and_parameters_are_rejected },
    { "an_optimiser_over_no_parameters_only_counts_steps",
      test_an_optimiser_over_no_parameters_only_counts_steps },
    { "create_survives_every_allocation_failure", test_create_survives_every_allocation_failure },
    { "state_copied_to_a_fresh_optimiser_resumes_bit_for_bit",
      test_state_copied_to_a_fresh_optimiser_resumes_bit_for_bit },
    { "state_names_follow_the_documented_order", test_state_names_follow_the_documented_order },
    { "one_adam_step_matches_pytorch_element_by_element",
      test_one_adam_step_matches_pytorch_element_by_element },
    { "optimisers_match_pytorch_fixtures", test_optimisers_match_pytorch_fixtures })
