// detect/model: a detector file saved and loaded gives the same answers, carries its settings
// and tuned backbone weights, and anything else is refused with the file's name.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/detect/model.h"
#include "dfdetect/model/safetensors.h"
#include "test.h"

static char g_dir[256];

static const char *tmp_path(const char *name)
{
    static char path[512];
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/dfd_test_model_XXXXXX");
        if (!mkdtemp(g_dir)) {
            return NULL;
        }
    }
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return path;
}

static dfd_detector_model *make_model(void)
{
    dfd_detector_model *m = calloc(1, sizeof *m);
    dfd_head_opts o = dfd_head_opts_default();
    o.input_dim = 8;
    o.frame_hidden = 6;
    o.hidden = 4;
    o.seed = 5;
    o.input_dropout = 0.25f;
    dfd_head_arch_parse(&o, "bilstm");
    dfd_error err;
    if (!m || dfd_head_create(&m->head, &o, &err)) {
        free(m);
        return NULL;
    }
    float mean[8], std[8];
    for (int i = 0; i < 8; i++) {
        mean[i] = 0.25f * (float)i;
        std[i] = 1.5f;
    }
    dfd_head_set_norm(m->head, mean, std);
    m->prep = dfd_detector_prep_default();
    m->prep.frames = 16;
    m->prep.sampling.kind = DFD_SAMPLING_UNIFORM;
    m->prep.images = DFD_IMAGE_FACES_WHOLE;
    m->temperature = 1.7f;
    m->frame_temperature = 2.25f;
    m->threshold = 0.4f;
    m->backbone_tuned = true;
    memset(m->backbone_sha256, 'a', 64);
    snprintf(m->name, sizeof m->name, "test-model");
    snprintf(m->version, sizeof m->version, "1.2");
    return m;
}

static void outputs(float *f, float *s, dfd_head *h)
{
    float x[2 * 3 * 8];
    const int len[2] = { 3, 2 };
    for (int i = 0; i < 48; i++) {
        x[i] = (float)sin(0.3 * i);
    }
    dfd_error err;
    CHECK_OK(dfd_head_forward(h, f, s, x, len, 2, 3, 0, &err));
}

static void test_round_trip(void)
{
    dfd_detector_model *m = make_model();
    REQUIRE(m);
    float bb_a[6] = { 1, 2, 3, 4, 5, 6 }, bb_b[2] = { -1, 7 }, ga[6], gb[2];
    dfd_param pa = {
        .name = "conv1/weight", .value = bb_a, .grad = ga, .rank = 2, .shape = { 2, 3 }
    };
    dfd_param pb = { .name = "conv1/bias", .value = bb_b, .grad = gb, .rank = 1, .shape = { 2 } };
    dfd_param *bb[2] = { &pa, &pb };
    const char *path = tmp_path("m.safetensors");
    dfd_error err;
    CHECK_OK(dfd_detector_model_save(path, m, bb, 2, "{\"epochs\": 3}", &err));
    dfd_detector_model *l;
    REQUIRE(dfd_detector_model_load(&l, path, &err) == DFD_OK);
    float f0[6], s0[2], f1[6], s1[2];
    outputs(f0, s0, m->head);
    outputs(f1, s1, l->head);
    CHECK(memcmp(f0, f1, sizeof f0) == 0 && memcmp(s0, s1, sizeof s0) == 0);
    CHECK(strcmp(dfd_head_arch_name(dfd_head_opts_of(l->head)), "bilstm") == 0);
    CHECK(dfd_head_opts_of(l->head)->input_dropout == 0.25f);
    CHECK_EQ_INT(l->prep.frames, 16);
    CHECK_EQ_INT(l->prep.sampling.kind, DFD_SAMPLING_UNIFORM);
    CHECK_EQ_INT(l->prep.images, DFD_IMAGE_FACES_WHOLE);
    CHECK_NEAR(l->temperature, 1.7, 1e-6);
    CHECK_NEAR(l->frame_temperature, 2.25, 1e-6);
    CHECK_NEAR(l->threshold, 0.4, 1e-6);
    CHECK(strcmp(l->name, "test-model") == 0 && strcmp(l->version, "1.2") == 0);
    CHECK(l->backbone_tuned && l->backbone_sha256[63] == 'a');
    // The tuned backbone weights come back into a backbone's own parameters.
    float ra[6] = { 0 }, rb[2] = { 0 };
    pa.value = ra;
    pb.value = rb;
    CHECK_OK(dfd_detector_model_load_backbone(l, bb, 2, &err));
    CHECK(memcmp(ra, bb_a, sizeof ra) == 0 && memcmp(rb, bb_b, sizeof rb) == 0);
    pb.shape[0] = 3; // a backbone of another shape is refused, naming the tensor
    CHECK(dfd_detector_model_load_backbone(l, bb, 2, &err) == DFD_ERR_FORMAT);
    CHECK(strstr(err.msg, "backbone/conv1/bias") != NULL);
    dfd_detector_model_free(l);
    dfd_head_free(m->head);
    free(m);
}

static void test_refused(void)
{
    dfd_error err;
    dfd_detector_model *l;
    // A plain safetensors file: not a detector.
    float v[2] = { 1, 2 }, g[2];
    dfd_param p = { .name = "w", .value = v, .grad = g, .rank = 1, .shape = { 2 } };
    dfd_param *pp = &p;
    const char *path = tmp_path("plain.safetensors");
    REQUIRE(dfd_safetensors_save_params(path, &pp, 1, NULL, 0, &err) == DFD_OK);
    CHECK(dfd_detector_model_load(&l, path, &err) == DFD_ERR_FORMAT);
    CHECK(l == NULL);
    CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, "not a dfdetect detector") != NULL);
    // A truncated model file.
    dfd_detector_model *m = make_model();
    REQUIRE(m);
    path = tmp_path("cut.safetensors");
    REQUIRE(dfd_detector_model_save(path, m, NULL, 0, NULL, &err) == DFD_OK);
    FILE *f = fopen(path, "r+");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    REQUIRE(truncate(path, size - 10) == 0);
    CHECK(dfd_detector_model_load(&l, path, &err) != DFD_OK);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(dfd_detector_model_load(&l, tmp_path("missing.safetensors"), &err) == DFD_ERR_NOT_FOUND);
    dfd_head_free(m->head);
    free(m);
}

static void test_cleanup(void)
{
    if (g_dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        CHECK(system(cmd) == 0);
    }
}

DFD_TEST_MAIN({ "round_trip", test_round_trip }, { "refused", test_refused },
              { "cleanup", test_cleanup })
