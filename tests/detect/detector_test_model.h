// A random detector model file for tests that scan (tests/cli, tests/detect): default head sizes
// with a seed, uniform frames, given temperatures, and the backbone hash of the faceres scans use
// ($DFD_SOURCE_DIR/models/faceres.json) unless another is named, so scan does not warn.
#ifndef DFD_TESTS_DETECTOR_TEST_MODEL_H
#define DFD_TESTS_DETECTOR_TEST_MODEL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dfdetect/detect/model.h"
#include "dfdetect/util/sha256.h"
#include "test.h"

typedef struct test_model_spec {
    uint64_t seed;
    int frames;
    float temperature, frame_temperature;
    const char *name, *version;
    const char *training_json; // may be NULL
    const char *sha;           // backbone_sha256; NULL: the real faceres.json's
} test_model_spec;

static inline void test_detector_model_save(const char *path, const test_model_spec *s)
{
    dfd_detector_model m = { 0 };
    dfd_head_opts o = dfd_head_opts_default();
    o.seed = s->seed;
    REQUIRE(dfd_head_create(&m.head, &o, NULL) == DFD_OK);
    m.prep = dfd_detector_prep_default();
    m.prep.frames = s->frames;
    m.prep.sampling.kind = DFD_SAMPLING_UNIFORM;
    m.temperature = s->temperature;
    m.frame_temperature = s->frame_temperature;
    m.threshold = 0.5f;
    if (s->sha) {
        snprintf(m.backbone_sha256, sizeof m.backbone_sha256, "%s", s->sha);
    } else {
        uint8_t dig[DFD_SHA256_BYTES];
        char p[1024];
        snprintf(p, sizeof p, "%s/models/faceres.json", getenv("DFD_SOURCE_DIR"));
        REQUIRE(dfd_sha256_file(dig, NULL, p, NULL) == DFD_OK);
        dfd_sha256_hex(m.backbone_sha256, dig);
    }
    snprintf(m.name, sizeof m.name, "%s", s->name);
    snprintf(m.version, sizeof m.version, "%s", s->version);
    REQUIRE(dfd_detector_model_save(path, &m, NULL, 0, s->training_json, NULL) == DFD_OK);
    dfd_head_free(m.head);
}

#endif
