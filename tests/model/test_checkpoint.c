// Checkpoints (model/checkpoint.h): N training steps in one go give bit for bit the same weights
// as N/2 steps, a save, a load into fresh weights and a fresh optimiser (built from the file
// alone), and N/2 more steps, for every optimiser, with a schedule, clipping, groups and a
// parameter frozen for the first steps. A model is rebuilt and run from its file alone. The
// settings metadata, the optimiser options and the checksum are checked on open; loading
// refuses state from another optimiser; truncated, damaged or hostile files give one line
// naming the file; a failed save leaves the old file whole and no temporary behind.
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dfdetect/model/checkpoint.h"
#include "dfdetect/nn/rnn.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"
#include "test.h"
#include "test_tmpdir.h"

// A small "network": an embedding (4, 5) in the backbone group, a head (5, 2) and a bias (2).
enum {
    N_PARAMS = 3
};
static const int SIZES[N_PARAMS] = { 20, 10, 2 };

typedef struct net {
    float value[N_PARAMS][20], grad[N_PARAMS][20];
    dfd_param p[N_PARAMS];
    dfd_param *ps[N_PARAMS];
} net;

static void net_init(net *m)
{
    memset(m, 0, sizeof *m);
    static const char *names[N_PARAMS] = { "backbone/embed", "head/w", "head/b" };
    static const int shapes[N_PARAMS][2] = { { 4, 5 }, { 5, 2 }, { 2, 1 } };
    for (int i = 0; i < N_PARAMS; i++) {
        for (int j = 0; j < SIZES[i]; j++) {
            m->value[i][j] = cosf((float)(7 * i + j));
        }
        m->p[i] = (dfd_param){ .name = names[i],
                               .value = m->value[i],
                               .grad = m->grad[i],
                               .rank = i == 2 ? 1 : 2,
                               .shape = { shapes[i][0], shapes[i][1] },
                               .group = i == 0 ? 1 : 0 };
        m->ps[i] = &m->p[i];
    }
}

// Step s: the backbone is frozen for the first 3 steps; gradients depend on the weights.
static void net_step(net *m, dfd_optim *opt, int s)
{
    m->p[0].frozen = s < 3;
    for (int i = 0; i < N_PARAMS; i++) {
        for (int j = 0; j < SIZES[i]; j++) {
            m->grad[i][j] = sinf(3.0f * m->value[i][j] + 0.1f * (float)s) * (float)(1 + i);
        }
    }
    dfd_optim_step(opt, NULL);
}

static dfd_optim_opts test_opts(dfd_optim_kind kind)
{
    dfd_optim_opts o = dfd_optim_opts_default(kind);
    o.lr = 0.03f;
    o.weight_decay = 0.02f;
    o.clip_norm = 2.0f;
    o.nesterov = kind == DFD_OPTIM_SGD;
    o.group_lr_scale[1] = 0.1f;
    o.schedule =
        (dfd_lr_schedule){ .kind = DFD_LR_STEP, .warmup_steps = 2, .step_size = 3, .gamma = 0.7f };
    return o;
}

static const dfd_st_meta SETTINGS[3] = {
    { DFD_CKPT_ARCHITECTURE, "{\"type\":\"toy\",\"embed\":[4,5],\"classes\":2}" },
    { DFD_CKPT_PREPROCESSING, "{\"crop\":224,\"mean\":[0.5,0.5,0.5]}" },
    { DFD_CKPT_TRAINING, "{\"epoch\":4,\"batch\":16}" },
};

// ---- exact resumption ----

// Train N steps straight and K steps, save, restore into a fresh net (other weights) and a
// fresh optimiser, train the N - K others: the weights must be the same bits. With from_file
// the optimiser is built from the file's options (dfd_checkpoint_resume); otherwise the caller
// creates it and dfd_checkpoint_load fills it.
static void check_resume(dfd_optim_kind kind, int n, int k, bool from_file)
{
    const dfd_optim_opts o = test_opts(kind);
    net straight, first, resumed;
    dfd_optim *os = NULL, *of = NULL, *orr = NULL;
    net_init(&straight);
    net_init(&first);
    net_init(&resumed);
    CHECK_OK(dfd_optim_create(&os, straight.ps, N_PARAMS, &o, NULL));
    CHECK_OK(dfd_optim_create(&of, first.ps, N_PARAMS, &o, NULL));
    for (int s = 0; s < n; s++) {
        net_step(&straight, os, s);
    }
    for (int s = 0; s < k; s++) {
        net_step(&first, of, s);
    }
    const char *path = test_tmp_path("resume.safetensors");
    CHECK_OK(dfd_checkpoint_save(path, first.ps, N_PARAMS, of, SETTINGS, 3, NULL));
    dfd_optim_destroy(of);

    // The fresh net starts from other weights, so everything must come from the file.
    for (int i = 0; i < N_PARAMS; i++) {
        memset(resumed.value[i], 0, sizeof resumed.value[i]);
    }
    dfd_safetensors *st;
    CHECK_OK(dfd_checkpoint_open(&st, path, NULL));
    if (from_file) {
        CHECK_OK(dfd_checkpoint_resume(&orr, st, resumed.ps, N_PARAMS, NULL));
    } else {
        CHECK_OK(dfd_optim_create(&orr, resumed.ps, N_PARAMS, &o, NULL));
        CHECK_OK(dfd_checkpoint_load(st, resumed.ps, N_PARAMS, orr, NULL));
    }
    CHECK(strcmp(dfd_safetensors_meta(st, DFD_CKPT_TRAINING), SETTINGS[2].value) == 0);
    dfd_safetensors_close(st);
    CHECK_EQ_INT(dfd_optim_step_count(orr), k);
    CHECK_NEAR(dfd_optim_lr(orr), (double)o.lr * dfd_lr_factor(&o.schedule, k), 1e-9);
    for (int s = k; s < n; s++) {
        net_step(&resumed, orr, s);
    }
    for (int i = 0; i < N_PARAMS; i++) {
        if (memcmp(straight.value[i], resumed.value[i], sizeof straight.value[i]) != 0) {
            DFD_TEST_FAIL_("optimiser %d, resumed after %d of %d steps: parameter %d differs",
                           (int)kind, k, n, i);
        }
        CHECK(straight.value[i][0] != cosf((float)(7 * i))); // it did train
    }
    dfd_optim_destroy(os);
    dfd_optim_destroy(orr);
}

static void test_resume_from_checkpoint_is_bit_identical(void)
{
    enum {
        N = 10
    };
    for (int kind = 0; kind < DFD_OPTIM_KIND_COUNT; kind++) {
        check_resume((dfd_optim_kind)kind, N, N / 2, true);
        // Saved while the backbone was still frozen (its own step counter at 0).
        check_resume((dfd_optim_kind)kind, N, 3, false);
    }
}

static void test_optimiser_options_read_back_exactly(void)
{
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
    o.lr = 1e-4f;
    o.momentum = 0.3f;
    o.nesterov = true;
    o.beta1 = 0.85f;
    o.beta2 = 0.9973f;
    o.eps = 1.1e-7f;
    o.weight_decay = 0.0123f;
    o.clip_norm = 0.7f;
    o.schedule = (dfd_lr_schedule){ .kind = DFD_LR_COSINE,
                                    .warmup_steps = 123456789,
                                    .step_size = 7,
                                    .gamma = 0.3f,
                                    .decay_steps = 4000000000L,
                                    .min_factor = 0.01f };
    for (int g = 0; g < DFD_OPTIM_MAX_GROUPS; g++) {
        o.group_lr_scale[g] = 1.0f / (float)(g + 3);
        o.group_wd_scale[g] = (float)g * 0.1f;
    }
    net m;
    net_init(&m);
    dfd_optim *opt;
    CHECK_OK(dfd_optim_create(&opt, m.ps, N_PARAMS, &o, NULL));
    const char *path = test_tmp_path("opts.safetensors");
    CHECK_OK(dfd_checkpoint_save(path, m.ps, N_PARAMS, opt, NULL, 0, NULL));
    dfd_optim_destroy(opt);
    dfd_safetensors *st;
    CHECK_OK(dfd_checkpoint_open(&st, path, NULL));
    dfd_optim_opts r;
    CHECK_OK(dfd_checkpoint_optim_opts(&r, st, NULL));
    dfd_safetensors_close(st);
    CHECK(r.kind == o.kind && r.nesterov == o.nesterov);
    const float a[] = { r.lr,
                        r.momentum,
                        r.beta1,
                        r.beta2,
                        r.eps,
                        r.weight_decay,
                        r.clip_norm,
                        r.schedule.gamma,
                        r.schedule.min_factor };
    const float b[] = { o.lr,
                        o.momentum,
                        o.beta1,
                        o.beta2,
                        o.eps,
                        o.weight_decay,
                        o.clip_norm,
                        o.schedule.gamma,
                        o.schedule.min_factor };
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(r.group_lr_scale, o.group_lr_scale, sizeof o.group_lr_scale) == 0);
    CHECK(memcmp(r.group_wd_scale, o.group_wd_scale, sizeof o.group_wd_scale) == 0);
    CHECK(r.schedule.kind == o.schedule.kind);
    CHECK_EQ_INT(r.schedule.warmup_steps, o.schedule.warmup_steps);
    CHECK_EQ_INT(r.schedule.step_size, o.schedule.step_size);
    CHECK_EQ_INT(r.schedule.decay_steps, o.schedule.decay_steps);
    // Weights only: no options to read, no optimiser to resume.
    CHECK_OK(dfd_checkpoint_save(path, m.ps, N_PARAMS, NULL, NULL, 0, NULL));
    CHECK_OK(dfd_checkpoint_open(&st, path, NULL));
    dfd_error err;
    CHECK_EQ_INT(dfd_checkpoint_optim_opts(&r, st, &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "opts.safetensors: no optimiser was saved");
    dfd_optim *none = NULL;
    CHECK_EQ_INT(dfd_checkpoint_resume(&none, st, m.ps, N_PARAMS, &err), DFD_ERR_NOT_FOUND);
    CHECK(none == NULL);
    dfd_safetensors_close(st);
}

// ---- a model from its file alone ----

// A temporal head: a GRU (2 layers, bidirectional) over per-frame features, then a linear layer
// on the last layer's final states, as the architecture JSON describes it.
typedef struct head {
    dfd_rnn *rnn;
    int hidden, n_layers, n_dirs;
    float fc_w[2 * 8], fc_b[1];
    dfd_param fc[2];
    dfd_param *ps[32];
    size_t n_params;
} head;

static dfd_status head_create(head *h, const char *arch_json, uint64_t seed)
{
    memset(h, 0, sizeof *h);
    cJSON *a = cJSON_Parse(arch_json);
    dfd_rnn_opts o = dfd_rnn_opts_default();
    const cJSON *cell = cJSON_GetObjectItemCaseSensitive(a, "cell");
    o.cell =
        cJSON_IsString(cell) && strcmp(cell->valuestring, "lstm") == 0 ? DFD_RNN_LSTM : DFD_RNN_GRU;
    o.input_size = cJSON_GetObjectItemCaseSensitive(a, "input_size")->valueint;
    o.hidden_size = cJSON_GetObjectItemCaseSensitive(a, "hidden_size")->valueint;
    o.n_layers = cJSON_GetObjectItemCaseSensitive(a, "n_layers")->valueint;
    o.bidirectional = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "bidirectional"));
    o.prefix = "head/rnn";
    o.seed = seed;
    o.n_threads = 1;
    cJSON_Delete(a);
    h->hidden = o.hidden_size;
    h->n_layers = o.n_layers;
    h->n_dirs = o.bidirectional ? 2 : 1;
    if (h->hidden * h->n_dirs > 8) {
        return DFD_ERR_INVALID;
    }
    dfd_status st = dfd_rnn_create(&h->rnn, &o, NULL);
    if (st) {
        return st;
    }
    dfd_param *rp = dfd_rnn_params(h->rnn, &h->n_params);
    for (size_t i = 0; i < h->n_params; i++) {
        h->ps[i] = &rp[i];
    }
    for (int i = 0; i < 2 * 8; i++) {
        h->fc_w[i] = 0.1f * (float)((int)(seed % 7) + i);
    }
    h->fc_b[0] = (float)(seed % 3);
    h->fc[0] = (dfd_param){
        .name = "head/fc/weight", .value = h->fc_w, .rank = 2, .shape = { 1, h->hidden * h->n_dirs }
    };
    h->fc[1] = (dfd_param){ .name = "head/fc/bias", .value = h->fc_b, .rank = 1, .shape = { 1 } };
    h->ps[h->n_params++] = &h->fc[0];
    h->ps[h->n_params++] = &h->fc[1];
    return DFD_OK;
}

// Logits (N) of sequences x (N, T, I) with their lengths.
static dfd_status head_run(float *logits, head *h, const dfd_tensor *x, const int *lengths)
{
    const int n = x->shape[0], ld = h->n_layers * h->n_dirs;
    dfd_tensor y = { 0 }, hn = { 0 };
    const int ys[3] = { n, x->shape[1], h->hidden * h->n_dirs }, hs[3] = { ld, n, h->hidden };
    dfd_status st = dfd_tensor_alloc(&y, 3, ys);
    if (!st && !(st = dfd_tensor_alloc(&hn, 3, hs)) &&
        !(st = dfd_rnn_forward(&y, &hn, NULL, h->rnn, x, lengths, NULL, NULL, 0, NULL))) {
        for (int s = 0; s < n; s++) {
            float z = h->fc_b[0];
            for (int d = 0; d < h->n_dirs; d++) { // last layer, each direction
                const float *f = hn.data + ((size_t)(ld - h->n_dirs + d) * (size_t)n + (size_t)s) *
                                               (size_t)h->hidden;
                for (int j = 0; j < h->hidden; j++) {
                    z += h->fc_w[d * h->hidden + j] * f[j];
                }
            }
            logits[s] = z;
        }
    }
    dfd_tensor_free(&y);
    dfd_tensor_free(&hn);
    return st;
}

static void test_model_is_rebuilt_and_run_from_its_file_alone(void)
{
    const char *arch = "{\"type\":\"temporal_head\",\"cell\":\"gru\",\"input_size\":6,"
                       "\"hidden_size\":4,\"n_layers\":2,\"bidirectional\":true}";
    const char *prep = "{\"features\":\"faceres\",\"frames\":5,\"crop\":224}";
    head trained;
    REQUIRE(head_create(&trained, arch, 11) == DFD_OK);
    dfd_tensor x = { 0 };
    const int xs[3] = { 3, 5, 6 }, lengths[3] = { 5, 2, 4 };
    REQUIRE(dfd_tensor_alloc(&x, 3, xs) == DFD_OK);
    for (size_t i = 0; i < dfd_tensor_numel(&x); i++) {
        x.data[i] = sinf(0.37f * (float)i);
    }
    float want[3], got[3];
    CHECK_OK(head_run(want, &trained, &x, lengths));
    const dfd_st_meta meta[2] = { { DFD_CKPT_ARCHITECTURE, arch },
                                  { DFD_CKPT_PREPROCESSING, prep } };
    const char *path = test_tmp_path("head.safetensors");
    CHECK_OK(dfd_checkpoint_save(path, trained.ps, trained.n_params, NULL, meta, 2, NULL));
    dfd_rnn_free(trained.rnn);

    // Only the path from here: the architecture comes from the file, the weights too (the
    // model is created with another seed), and the outputs are the same bits.
    dfd_safetensors *st;
    CHECK_OK(dfd_checkpoint_open(&st, path, NULL));
    CHECK(strcmp(dfd_safetensors_meta(st, DFD_CKPT_PREPROCESSING), prep) == 0);
    head loaded;
    REQUIRE(head_create(&loaded, dfd_safetensors_meta(st, DFD_CKPT_ARCHITECTURE), 99) == DFD_OK);
    CHECK_OK(dfd_checkpoint_load(st, loaded.ps, loaded.n_params, NULL, NULL));
    dfd_safetensors_close(st);
    CHECK_OK(head_run(got, &loaded, &x, lengths));
    CHECK(memcmp(got, want, sizeof want) == 0);
    CHECK(want[0] != want[1]);
    dfd_rnn_free(loaded.rnn);
    dfd_tensor_free(&x);
}

// ---- what the loader refuses ----

static void test_load_refuses_missing_or_foreign_state(void)
{
    net m;
    net_init(&m);
    dfd_optim *adam = NULL, *adamw = NULL, *sgd = NULL;
    const dfd_optim_opts oa = test_opts(DFD_OPTIM_ADAM), os = test_opts(DFD_OPTIM_SGD);
    const dfd_optim_opts ow = test_opts(DFD_OPTIM_ADAMW);
    CHECK_OK(dfd_optim_create(&adam, m.ps, N_PARAMS, &oa, NULL));
    CHECK_OK(dfd_optim_create(&adamw, m.ps, N_PARAMS, &ow, NULL));
    CHECK_OK(dfd_optim_create(&sgd, m.ps, N_PARAMS, &os, NULL));
    char weights[128], ckpt[128];
    snprintf(weights, sizeof weights, "%s", test_tmp_path("weights.safetensors"));
    snprintf(ckpt, sizeof ckpt, "%s", test_tmp_path("sgd.safetensors"));
    CHECK_OK(dfd_checkpoint_save(weights, m.ps, N_PARAMS, NULL, NULL, 0, NULL));
    net_step(&m, sgd, 0);
    CHECK_OK(dfd_checkpoint_save(ckpt, m.ps, N_PARAMS, sgd, NULL, 0, NULL));

    net fresh;
    net_init(&fresh);
    memset(fresh.value[1], 0, sizeof fresh.value[1]);
    dfd_safetensors *st;
    dfd_error err;
    // Weights only: loading an optimiser fails and nothing is written.
    CHECK_OK(dfd_checkpoint_open(&st, weights, NULL));
    CHECK_EQ_INT(dfd_checkpoint_load(st, fresh.ps, N_PARAMS, adam, &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "weights.safetensors: no tensor 'optim/step'");
    CHECK(fresh.value[1][0] == 0.0f);
    CHECK_OK(dfd_checkpoint_load(st, fresh.ps, N_PARAMS, NULL, NULL));
    CHECK(fresh.value[1][0] == cosf(7.0f));
    dfd_safetensors_close(st);
    // An SGD checkpoint into Adam: refused by kind, and nothing is written.
    memset(fresh.value[1], 0, sizeof fresh.value[1]);
    CHECK_OK(dfd_checkpoint_open(&st, ckpt, NULL));
    CHECK_EQ_INT(dfd_checkpoint_load(st, fresh.ps, N_PARAMS, adam, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "sgd.safetensors: optimiser state saved by sgd cannot be loaded "
                                "into adam");
    CHECK_EQ_INT(dfd_optim_step_count(adam), 0);
    CHECK(fresh.value[1][0] == 0.0f);
    // A checkpoint also loads as plain weights.
    CHECK_OK(dfd_safetensors_load_params(st, fresh.ps, N_PARAMS, NULL));
    CHECK(memcmp(fresh.value[2], m.value[2], sizeof m.value[2]) == 0);
    dfd_safetensors_close(st);
    // Adam and AdamW keep the same arrays: only the saved options tell them apart.
    net_step(&m, adam, 0);
    CHECK_OK(dfd_checkpoint_save(ckpt, m.ps, N_PARAMS, adam, NULL, 0, NULL));
    CHECK_OK(dfd_checkpoint_open(&st, ckpt, NULL));
    CHECK_EQ_INT(dfd_checkpoint_load(st, fresh.ps, N_PARAMS, adamw, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "saved by adam cannot be loaded into adamw");
    dfd_safetensors_close(st);

    // A negative counter, or one that would overflow, is refused.
    const int64_t bad[2] = { -5, INT64_MAX };
    const char *why[2] = { "tensor 'optim/step' is -5, not a step count",
                           "tensor 'optim/step' is 9223372036854775807, not a step count" };
    dfd_optim *plain = NULL;
    dfd_optim_opts op = dfd_optim_opts_default(DFD_OPTIM_SGD);
    op.momentum = 0.0f;
    CHECK_OK(dfd_optim_create(&plain, NULL, 0, &op, NULL));
    for (int i = 0; i < 2; i++) {
        const dfd_st_tensor t = {
            .name = "optim/step", .dtype = DFD_ST_I64, .rank = 0, .data = &bad[i]
        };
        CHECK_OK(dfd_safetensors_write(ckpt, &t, 1, NULL, 0, NULL));
        CHECK_OK(dfd_checkpoint_open(&st, ckpt, NULL));
        CHECK_EQ_INT(dfd_checkpoint_load(st, NULL, 0, plain, &err), DFD_ERR_FORMAT);
        CHECK_STR_CONTAINS(err.msg, why[i]);
        dfd_safetensors_close(st);
    }
    dfd_optim_destroy(plain);
    dfd_optim_destroy(adam);
    dfd_optim_destroy(adamw);
    dfd_optim_destroy(sgd);
}

static void test_settings_metadata_must_be_json_objects(void)
{
    net m;
    net_init(&m);
    const char *path = test_tmp_path("meta.safetensors");
    dfd_error err;
    const dfd_st_meta not_object[1] = { { DFD_CKPT_ARCHITECTURE, "gru" } };
    CHECK_EQ_INT(dfd_checkpoint_save(path, m.ps, N_PARAMS, NULL, not_object, 1, &err),
                 DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "meta.safetensors: metadata 'architecture' is not a JSON object");
    const char *reserved[3] = { DFD_CKPT_VERSION_KEY, DFD_CKPT_OPTIMISER, DFD_CKPT_CHECKSUM };
    for (int i = 0; i < 3; i++) {
        const dfd_st_meta r[1] = { { reserved[i], "{}" } };
        CHECK_EQ_INT(dfd_checkpoint_save(path, m.ps, N_PARAMS, NULL, r, 1, &err), DFD_ERR_INVALID);
        CHECK_STR_CONTAINS(err.msg, "is written by the checkpoint itself");
    }
    // Files written by other means: settings that are not objects, another layout version.
    const dfd_st_meta bad[4][2] = {
        { { DFD_CKPT_TRAINING, "[1, 2]" }, { "x", "y" } },
        { { DFD_CKPT_PREPROCESSING, "{\"crop\":" }, { "x", "y" } },
        { { DFD_CKPT_VERSION_KEY, "2" }, { "x", "y" } },
        { { DFD_CKPT_CHECKSUM, "crc32:0000000g" }, { "x", "y" } },
    };
    const dfd_status code[4] = { DFD_ERR_FORMAT, DFD_ERR_FORMAT, DFD_ERR_UNSUPPORTED,
                                 DFD_ERR_FORMAT };
    const char *needle[4] = { "metadata 'training' is not a JSON object",
                              "metadata 'preprocessing' is not a JSON object",
                              "checkpoint layout version '2'; this build reads version 1",
                              "metadata 'checksum' is not \"crc32:<8 hex digits>\"" };
    const float v[1] = { 1.0f };
    const dfd_st_tensor t = {
        .name = "w", .dtype = DFD_ST_F32, .rank = 1, .shape = { 1 }, .data = v
    };
    for (int i = 0; i < 4; i++) {
        CHECK_OK(dfd_safetensors_write(path, &t, 1, bad[i], 2, NULL));
        dfd_safetensors *st = NULL;
        CHECK_EQ_INT(dfd_checkpoint_open(&st, path, &err), code[i]);
        CHECK(st == NULL);
        CHECK(strncmp(err.msg, path, strlen(path)) == 0);
        CHECK_STR_CONTAINS(err.msg, needle[i]);
    }
    // A plain safetensors file, as PyTorch writes it, opens as a checkpoint of weights.
    const dfd_st_meta pt[1] = { { "format", "pt" } };
    CHECK_OK(dfd_safetensors_write(path, &t, 1, pt, 1, NULL));
    dfd_safetensors *st;
    CHECK_OK(dfd_checkpoint_open(&st, path, NULL));
    dfd_safetensors_close(st);
}

// Optimiser options written by hand or damaged: each refused on open with the key named.
static void test_hostile_optimiser_options_are_refused(void)
{
    static const struct {
        const char *json, *needle;
    } cases[] = {
        { "nonsense", "metadata 'optimiser' is not a JSON object" },
        { "[]", "is not a JSON object" },
        { "{}", "missing or unknown 'kind'" },
        { "{\"kind\":\"rmsprop\"}", "missing or unknown 'kind'" },
        { "{\"kind\":7}", "missing or unknown 'kind'" },
        { "{\"kind\":\"adam\",\"lr\":\"0.1\"}", "bad value for 'lr'" },
        { "{\"kind\":\"adam\",\"lr\":1e39}", "bad value for 'lr'" },
        { "{\"kind\":\"adam\",\"lr\":-1}", "metadata 'optimiser': optimiser: invalid lr" },
        { "{\"kind\":\"adam\",\"beta1\":1}", "invalid betas" },
        { "{\"kind\":\"adam\",\"nesterov\":1}", "bad value for 'nesterov'" },
        { "{\"kind\":\"adam\",\"lrr\":0.1}", "unknown key 'lrr'" },
        { "{\"kind\":\"adam\",\"group_lr_scale\":[1,1,1,1,1,1,1,1,1]}",
          "bad value for 'group_lr_scale'" },
        { "{\"kind\":\"adam\",\"group_wd_scale\":[1,null]}", "bad value for 'group_wd_scale'" },
        { "{\"kind\":\"adam\",\"group_wd_scale\":[-1]}", "invalid group scale" },
        { "{\"kind\":\"adam\",\"schedule\":3}", "bad value for 'schedule'" },
        { "{\"kind\":\"adam\",\"schedule\":{\"kind\":\"exp\"}}", "bad value for 'kind'" },
        { "{\"kind\":\"adam\",\"schedule\":{\"warmup_steps\":1.5}}",
          "bad value for 'warmup_steps'" },
        { "{\"kind\":\"adam\",\"schedule\":{\"decay_steps\":1e300}}",
          "bad value for 'decay_steps'" },
        { "{\"kind\":\"adam\",\"schedule\":{\"kind\":\"cosine\",\"decay_steps\":0}}",
          "invalid schedule" },
        { "{\"kind\":\"adam\",\"schedule\":{\"kind\":\"step\",\"gamma\":-1}}", "invalid schedule" },
    };
    net m;
    net_init(&m);
    const char *path = test_tmp_path("hostile.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const dfd_st_meta meta[1] = { { DFD_CKPT_OPTIMISER, cases[i].json } };
        dfd_st_tensor t[N_PARAMS];
        CHECK_OK(dfd_st_tensors_of_params(t, m.ps, N_PARAMS, path, NULL));
        CHECK_OK(dfd_safetensors_write(path, t, N_PARAMS, meta, 1, NULL));
        dfd_safetensors *st = NULL;
        dfd_error err;
        CHECK_EQ_INT(dfd_checkpoint_open(&st, path, &err), DFD_ERR_FORMAT);
        if (!strstr(err.msg, cases[i].needle) || strncmp(err.msg, path, strlen(path)) != 0) {
            DFD_TEST_FAIL_("%s: got \"%s\"", cases[i].json, err.msg);
        }
        // The same file through the plain reader: resuming from it fails the same way.
        CHECK_OK(dfd_safetensors_open(&st, path, NULL));
        dfd_optim *opt = NULL;
        CHECK_EQ_INT(dfd_checkpoint_resume(&opt, st, m.ps, N_PARAMS, &err), DFD_ERR_FORMAT);
        CHECK(opt == NULL);
        dfd_safetensors_close(st);
    }
}

// ---- damaged files ----

// A CRC-32 (IEEE) a bit at a time: the reference for the table-driven one in checkpoint.c.
static uint32_t crc32_bitwise(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
        }
    }
    return ~crc;
}

static bool write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(data, 1, n, f) == n;
    return f && fclose(f) == 0 && ok;
}

static void test_damaged_checkpoints_give_one_line_naming_the_file(void)
{
    net m;
    net_init(&m);
    dfd_optim *opt;
    const dfd_optim_opts o = test_opts(DFD_OPTIM_ADAMW);
    CHECK_OK(dfd_optim_create(&opt, m.ps, N_PARAMS, &o, NULL));
    net_step(&m, opt, 5);
    char good[128], bad[128];
    snprintf(good, sizeof good, "%s", test_tmp_path("good.safetensors"));
    snprintf(bad, sizeof bad, "%s", test_tmp_path("bad.safetensors"));
    CHECK_OK(dfd_checkpoint_save(good, m.ps, N_PARAMS, opt, SETTINGS, 3, NULL));
    dfd_optim_destroy(opt);
    unsigned char *b;
    size_t n;
    CHECK_OK(dfd_file_read_all((void **)&b, &n, good, 1 << 20, NULL));

    // The checksum is the CRC-32 of the tensors' bytes in name order.
    dfd_safetensors *st;
    CHECK_OK(dfd_checkpoint_open(&st, good, NULL));
    uint32_t crc = 0;
    for (size_t i = 0; i < dfd_safetensors_count(st); i++) {
        const dfd_st_tensor *t = dfd_safetensors_tensor(st, i);
        crc = crc32_bitwise(crc, t->data, dfd_st_tensor_numel(t) * dfd_st_dtype_size(t->dtype));
    }
    char want[32];
    snprintf(want, sizeof want, "crc32:%08x", (unsigned)crc);
    CHECK(strcmp(dfd_safetensors_meta(st, DFD_CKPT_CHECKSUM), want) == 0);
    CHECK_EQ_INT(crc32_bitwise(0, (const unsigned char *)"123456789", 9), 0xcbf43926u);
    dfd_safetensors_close(st);

    // Every truncation, and every flipped bit of one byte in three of the tensor data, opened
    // from memory under the file's name (writing thousands of files is slow on some disks);
    // one truncated and one flipped variant go through real files.
    const size_t hlen = (size_t)b[0] | (size_t)b[1] << 8, data_at = 8 + hlen;
    int n_bad = 0, n_wrong = 0;
    for (size_t k = 0; k < n + n - data_at; k++) {
        const bool truncate = k < n;
        const size_t at = data_at + (k - n) / 8 * 3, len = truncate ? k : n;
        const unsigned char flip = (unsigned char)(1u << ((k - n) % 8));
        if (!truncate && at >= n) {
            continue;
        }
        if (!truncate) {
            b[at] ^= flip;
        }
        const bool on_disk = k == n / 2 || k == n + 5;
        dfd_error err;
        st = NULL;
        dfd_status s;
        if (on_disk) {
            CHECK(write_bytes(bad, b, len));
            s = dfd_checkpoint_open(&st, bad, &err);
        } else if (!(s = dfd_safetensors_open_buffer(&st, b, len, bad, &err)) &&
                   (s = dfd_checkpoint_check(st, &err))) {
            dfd_safetensors_close(st);
            st = NULL;
        }
        if (!truncate) {
            b[at] ^= flip;
        }
        n_bad++;
        if (s == DFD_OK || st || strncmp(err.msg, bad, strlen(bad)) != 0 || strchr(err.msg, '\n') ||
            (!truncate && !strstr(err.msg, "corrupt tensor data: checksum crc32:"))) {
            n_wrong++;
            DFD_TEST_FAIL_("%s %zu: %s \"%s\"", truncate ? "truncated to" : "flipped byte",
                           truncate ? k : at, dfd_status_str(s), err.msg);
        }
        dfd_safetensors_close(st);
    }
    printf("    %d damaged files, %d accepted or badly reported\n", n_bad, n_wrong);
    dfd_free(b);
}

// The file at path holds exactly the n bytes of `want`.
static bool file_is(const char *path, const void *want, size_t n)
{
    void *got;
    size_t n_got;
    if (dfd_file_read_all(&got, &n_got, path, 1 << 20, NULL) != DFD_OK) {
        return false;
    }
    const bool same = n_got == n && memcmp(got, want, n) == 0;
    dfd_free(got);
    return same;
}

// A save that fails (the file size limit makes the write fail with EFBIG, an allocation fails,
// an argument is bad) leaves the previous checkpoint as it was and no temporary file behind.
static void test_failed_save_leaves_the_old_file_whole(void)
{
    net m;
    net_init(&m);
    const char *path = test_tmp_path("atomic.safetensors");
    CHECK_OK(dfd_checkpoint_save(path, m.ps, N_PARAMS, NULL, SETTINGS, 3, NULL));
    void *old_bytes;
    size_t n_old;
    CHECK_OK(dfd_file_read_all(&old_bytes, &n_old, path, 1 << 20, NULL));
    m.value[1][0] = 42.0f;

    // A write error half way through the data (here: a 100-byte file size limit).
    struct rlimit old;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 100;
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    dfd_error err;
    const dfd_status s = dfd_checkpoint_save(path, m.ps, N_PARAMS, NULL, SETTINGS, 3, &err);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, old_handler);
    CHECK_EQ_INT(s, DFD_ERR_IO);
    CHECK_STR_CONTAINS(err.msg, "atomic.safetensors");
    CHECK(file_is(path, old_bytes, n_old));

    // Out of memory at each allocation in turn, until the save succeeds.
    bool saved = false;
    for (long k = 0; k < 40 && !saved; k++) {
        dfd_alloc_fail_after(k);
        const dfd_status a = dfd_checkpoint_save(path, m.ps, N_PARAMS, NULL, SETTINGS, 3, NULL);
        dfd_alloc_fail_after(-1);
        saved = a == DFD_OK;
        CHECK(saved || a == DFD_ERR_NOMEM);
        CHECK(saved || file_is(path, old_bytes, n_old));
    }
    CHECK(saved);
    dfd_safetensors *st;
    float w[10] = { 0 };
    dfd_param p1 = m.p[1];
    p1.value = w;
    dfd_param *ps[1] = { &p1 };
    CHECK_OK(dfd_checkpoint_open(&st, path, NULL));
    CHECK_OK(dfd_checkpoint_load(st, ps, 1, NULL, NULL));
    dfd_safetensors_close(st);
    CHECK(w[0] == 42.0f);

    // Invalid arguments are refused before the file is touched.
    void *new_bytes;
    size_t n_new;
    CHECK_OK(dfd_file_read_all(&new_bytes, &n_new, path, 1 << 20, NULL));
    m.p[1].rank = 0;
    CHECK_EQ_INT(dfd_checkpoint_save(path, m.ps, N_PARAMS, NULL, NULL, 0, NULL), DFD_ERR_INVALID);
    CHECK(file_is(path, new_bytes, n_new));
    dfd_free(new_bytes);
    dfd_free(old_bytes);

    char **names;
    size_t n_names;
    char dir[128];
    snprintf(dir, sizeof dir, "%s", test_tmp_path(""));
    CHECK_OK(dfd_dir_list_files(&names, &n_names, dir, NULL));
    CHECK(n_names > 0);
    for (size_t i = 0; i < n_names; i++) {
        if (strstr(names[i], ".tmp.")) {
            DFD_TEST_FAIL_("temporary file left behind: %s", names[i]);
        }
    }
    dfd_dir_list_free(names, n_names);
}

static void test_cleanup(void)
{
    CHECK_OK(test_tmpdir_remove());
}

DFD_TEST_MAIN(
    { "resume_from_checkpoint_is_bit_identical", test_resume_from_checkpoint_is_bit_identical },
    { "optimiser_options_read_back_exactly", test_optimiser_options_read_back_exactly },
    { "model_is_rebuilt_and_run_from_its_file_alone",
      test_model_is_rebuilt_and_run_from_its_file_alone },
    { "load_refuses_missing_or_foreign_state", test_load_refuses_missing_or_foreign_state },
    { "settings_metadata_must_be_json_objects", test_settings_metadata_must_be_json_objects },
    { "hostile_optimiser_options_are_refused", test_hostile_optimiser_options_are_refused },
    { "damaged_checkpoints_give_one_line_naming_the_file",
      test_damaged_checkpoints_give_one_line_naming_the_file },
    { "failed_save_leaves_the_old_file_whole", test_failed_save_leaves_the_old_file_whole },
    { "cleanup", test_cleanup })
