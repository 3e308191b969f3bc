// Recurrent layers (nn/rnn.h) against PyTorch: GRU, LSTM, BiLSTM, a 2-layer GRU and a 2-layer
// BiGRU (masked through packed sequences) from tests/nn/fixtures/rnn_torch.json, written by
// tests/nn/gen_rnn_fixtures.py in float64: outputs, final states and the gradients of the inputs,
// initial states and every parameter, on the fast path, on the reference in float, and on the
// reference in double (which must agree with float64 PyTorch to rounding).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/nn/rnn.h"
#include "dfdetect/util/alloc.h"
#include "rnn_test_util.h"
#include "test.h"
#include "torch_fixture.h"

// Array `key` of fixture case c as n doubles (rounded through float when `f32`: inputs), or NULL.
static double *fixture_doubles(const cJSON *c, const char *key, size_t n, bool f32)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n) {
        return NULL;
    }
    double *out = dfd_calloc(n ? n : 1, sizeof *out);
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a)
    {
        out[i++] = f32 ? (double)(float)v->valuedouble : v->valuedouble;
    }
    return out;
}

// Copy fixture array `key` (n values) into t; false when missing or of another length.
static bool fixture_into(float *t, const cJSON *c, const char *key, size_t n)
{
    float *v = torch_fixture_floats(c, key, n);
    if (v) {
        memcpy(t, v, n * sizeof *t);
    }
    dfd_free(v);
    return v != NULL;
}

// Largest relative error between our floats and the fixture's `key` (infinite when missing).
static double fixture_err(const float *ours, const cJSON *c, const char *key, size_t n)
{
    double *want = fixture_doubles(c, key, n, false);
    if (!want) {
        return (double)INFINITY;
    }
    double scale = 1e-12, worst = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(want[i]));
    }
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)ours[i] - want[i]);
        worst = fmax(worst, e != e ? (double)INFINITY : e);
    }
    dfd_free(want);
    return worst / scale;
}

static cfg fixture_cfg(const cJSON *c, int *lengths)
{
    const cJSON *lens = cJSON_GetObjectItemCaseSensitive(c, "lengths");
    cfg k = { .cell = strcmp(cJSON_GetObjectItemCaseSensitive(c, "cell")->valuestring, "gru") == 0
                          ? DFD_RNN_GRU
                          : DFD_RNN_LSTM,
              .I = (int)torch_fixture_num(c, "input_size"),
              .H = (int)torch_fixture_num(c, "hidden_size"),
              .L = (int)torch_fixture_num(c, "num_layers"),
              .N = (int)torch_fixture_num(c, "n"),
              .T = (int)torch_fixture_num(c, "t"),
              .bidir = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "bidirectional")),
              .h0 = cJSON_GetObjectItemCaseSensitive(c, "h0") != NULL };
    if (cJSON_IsArray(lens)) {
        int i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, lens)
        {
            lengths[i++] = v->valueint;
        }
        k.lengths = lengths;
    }
    return k;
}

// One fixture case through the public API on `backend`; the worst relative error over every
// output and gradient.
static double fixture_run(const cJSON *c, dfd_backend backend)
{
    int lengths[64];
    cfg k = fixture_cfg(c, lengths);
    batch b;
    dfd_rnn *r;
    double worst = (double)INFINITY;
    if (setup(&r, &b, &k, backend, 1)) {
        goto done;
    }
    size_t np, nx = dfd_tensor_numel(&b.x), ny = dfd_tensor_numel(&b.y);
    size_t ns = dfd_tensor_numel(&b.h0);
    dfd_param *p = dfd_rnn_params(r, &np);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(c, "params");
    const cJSON *grads = cJSON_GetObjectItemCaseSensitive(c, "grads");
    bool lstm = k.cell == DFD_RNN_LSTM, ok = true;
    for (size_t i = 0; i < np; i++) { // by name: the state_dict maps 1:1
        ok = ok && fixture_into(p[i].value, params, p[i].name, dfd_param_numel(&p[i]));
    }
    ok = ok && fixture_into(b.x.data, c, "x", nx) && fixture_into(b.dy.data, c, "dy", ny) &&
         fixture_into(b.dh_n.data, c, "dh_n", ns);
    ok = ok && (!k.h0 || fixture_into(b.h0.data, c, "h0", ns));
    ok = ok && (!lstm || fixture_into(b.dc_n.data, c, "dc_n", ns));
    ok = ok && (!lstm || !k.h0 || fixture_into(b.c0.data, c, "c0", ns));
    if (!ok || run_both(r, &b, 0)) {
        goto done;
    }
    double e[6] = { fixture_err(b.y.data, c, "y", ny),
                    fixture_err(b.h_n.data, c, "h_n", ns),
                    lstm ? fixture_err(b.c_n.data, c, "c_n", ns) : 0,
                    fixture_err(b.dx.data, c, "dx", nx),
                    k.h0 ? fixture_err(b.dh0.data, c, "dh0", ns) : 0,
                    k.h0 && lstm ? fixture_err(b.dc0.data, c, "dc0", ns) : 0 };
    worst = 0;
    for (int i = 0; i < 6; i++) {
        worst = fmax(worst, e[i]);
    }
    for (size_t i = 0; i < np; i++) {
        worst = fmax(worst, fixture_err(p[i].grad, grads, p[i].name, dfd_param_numel(&p[i])));
    }
done:
    batch_free(&b);
    dfd_rnn_free(r);
    return worst;
}

// The reference in double on a fixture case: should agree with float64 PyTorch to ~1e-11.
static double fixture_run_double(const cJSON *c)
{
    int lengths[64];
    cfg k = fixture_cfg(c, lengths);
    dprob p;
    double worst = (double)INFINITY;
    if (dprob_make(&p, &k)) {
        goto done;
    }
    bool lstm = k.cell == DFD_RNN_LSTM;
    size_t np;
    dfd_param *prm = dfd_rnn_params(p.r, &np);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(c, "params");
    const cJSON *grads = cJSON_GetObjectItemCaseSensitive(c, "grads");
    struct {
        double **dst;
        const char *key;
        size_t n;
        bool use;
    } in[] = { { &p.x, "x", p.n_x, true },
               { &p.dy, "dy", p.n_y, true },
               { &p.dh_n, "dh_n", p.n_st, true },
               { &p.h0, "h0", p.n_st, k.h0 },
               { &p.c0, "c0", p.n_st, k.h0 && lstm },
               { &p.dc_n, "dc_n", p.n_st, lstm } };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        if (in[i].use) {
            double *v = fixture_doubles(c, in[i].key, in[i].n, true);
            if (!v) {
                goto done;
            }
            dfd_free(*in[i].dst);
            *in[i].dst = v;
        }
    }
    for (size_t i = 0; i < np; i++) {
        double *v = fixture_doubles(params, prm[i].name, dfd_param_numel(&prm[i]), true);
        if (!v) {
            goto done;
        }
        memcpy(p.w[i], v, dfd_param_numel(&prm[i]) * sizeof *v);
        dfd_free(v);
    }
    rnn_ref_args a = dprob_args(&p, true);
    if (rnn_ref_run(p.r, &a)) {
        goto done;
    }
    struct {
        const double *ours;
        const cJSON *obj;
        const char *key;
        size_t n;
    } out[] = {
        { p.y, c, "y", p.n_y },   { p.h_n, c, "h_n", p.n_st }, { p.c_n, c, "c_n", p.n_st },
        { p.dx, c, "dx", p.n_x }, { p.dh0, c, "dh0", p.n_st }, { p.dc0, c, "dc0", p.n_st }
    };
    worst = 0;
    for (size_t i = 0; i < sizeof out / sizeof out[0] + np; i++) {
        bool is_out = i < sizeof out / sizeof out[0];
        const cJSON *obj = is_out ? out[i].obj : grads;
        const char *key = is_out ? out[i].key : prm[i - 6].name;
        size_t n = is_out ? out[i].n : dfd_param_numel(&prm[i - 6]);
        const double *ours = is_out ? out[i].ours : p.dw[i - 6];
        double *want = fixture_doubles(obj, key, n, false);
        if (!want) { // absent in the fixture: c_n of a GRU, dh0 without h0
            continue;
        }
        double scale = 1e-12, e = 0;
        for (size_t j = 0; j < n; j++) {
            scale = fmax(scale, fabs(want[j]));
        }
        for (size_t j = 0; j < n; j++) {
            double d = fabs(ours[j] - want[j]);
            e = fmax(e, d != d ? (double)INFINITY : d);
        }
        worst = fmax(worst, e / scale);
        dfd_free(want);
    }
done:
    dprob_free(&p);
    return worst;
}

static void test_layers_match_pytorch_fixtures(void)
{
    cJSON *doc = torch_fixture_load("rnn_torch.json");
    REQUIRE(doc);
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "cases"))
    {
        double e_fast = fixture_run(c, DFD_BACKEND_FAST), e_ref = fixture_run(c, DFD_BACKEND_REF);
        double e_double = fixture_run_double(c);
        printf("    %-20s fast %.2e  reference %.2e  reference in double %.2e\n",
               cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring, e_fast, e_ref, e_double);
        CHECK(e_fast < 1e-5);
        CHECK(e_ref < 1e-6);
        CHECK(e_double < 1e-9);
        n++;
    }
    CHECK_EQ_INT(n, 5);
    cJSON_Delete(doc);
}

DFD_TEST_MAIN({ "layers_match_pytorch_fixtures", test_layers_match_pytorch_fixtures })
