// detect/aggregate and detect/calibrate: the rules that turn frame scores into a video's answer,
// checked on hand-made cases, and temperature scaling recovering a known temperature.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "dfdetect/detect/aggregate.h"
#include "dfdetect/detect/calibrate.h"
#include "test.h"

static void test_mean_and_vote(void)
{
    const float p[5] = { 0.1f, 0.9f, 0.6f, 0.4f, 0.5f };
    CHECK_NEAR(dfd_aggregate_frames(DFD_AGG_MEAN, p, 5), 0.5, 1e-6);
    CHECK_NEAR(dfd_aggregate_frames(DFD_AGG_VOTE, p, 5), 0.4, 1e-6); // 0.9 and 0.6 only
    const float tie[4] = { 0.2f, 0.7f, 0.3f, 0.8f };
    CHECK(dfd_aggregate_frames(DFD_AGG_VOTE, tie, 4) >= 0.5f); // a tie is FAKE at 0.5
    CHECK(isnan(dfd_aggregate_frames(DFD_AGG_MEAN, p, 0)));
    dfd_aggregate a;
    CHECK_OK(dfd_aggregate_parse(&a, "confident"));
    CHECK_EQ_INT(a, DFD_AGG_CONFIDENT);
    CHECK(dfd_aggregate_parse(&a, "median") == DFD_ERR_INVALID);
}

static void test_confident(void)
{
    // 32 frames, 14 of them at 0.95 (> 40 % and > 11): the mean of the confident ones.
    float p[32];
    for (int i = 0; i < 32; i++) {
        p[i] = i < 14 ? 0.95f : 0.3f;
    }
    CHECK_NEAR(dfd_aggregate_frames(DFD_AGG_CONFIDENT, p, 32), 0.95, 1e-6);
    // 11 confident fakes: not enough (the rule needs more than 11 of 32): the plain mean.
    for (int i = 0; i < 32; i++) {
        p[i] = i < 11 ? 0.95f : 0.3f;
    }
    CHECK_NEAR(dfd_aggregate_frames(DFD_AGG_CONFIDENT, p, 32), (11 * 0.95 + 21 * 0.3) / 32, 1e-6);
    // 30 of 32 confidently real (> 90 %): the mean of those, ignoring two outliers.
    for (int i = 0; i < 32; i++) {
        p[i] = i < 30 ? 0.1f : 0.99f;
    }
    CHECK_NEAR(dfd_aggregate_frames(DFD_AGG_CONFIDENT, p, 32), 0.1, 1e-6);
    // The fake rule scales with the number of frames: 7 of 16 at 0.9 (> 40 %, > 5.5).
    for (int i = 0; i < 16; i++) {
        p[i] = i < 7 ? 0.9f : 0.4f;
    }
    CHECK_NEAR(dfd_aggregate_frames(DFD_AGG_CONFIDENT, p, 16), 0.9, 1e-6);
}

static void test_identities(void)
{
    const float p[3] = { 0.2f, 0.85f, 0.4f };
    CHECK_NEAR(dfd_aggregate_identities(p, 3), 0.85, 1e-7);
    CHECK(isnan(dfd_aggregate_identities(p, 0)));
}

// xorshift64* in [0, 1)
static double uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void test_temperature_recovers_truth(void)
{
    // Labels drawn with P(fake) = sigmoid(z / 2.5): the fit finds T close to 2.5, and it
    // lowers the log loss against T = 1.
    enum {
        N = 20000
    };
    float *z = malloc(N * sizeof *z), *y = malloc(N * sizeof *y);
    REQUIRE(z && y);
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        z[i] = (float)(uniform(&s) * 16 - 8);
        double p = 1 / (1 + exp(-(double)z[i] / 2.5));
        y[i] = uniform(&s) < p ? 1.f : 0.f;
    }
    float t;
    dfd_error err;
    CHECK_OK(dfd_temperature_fit(&t, z, y, N, &err));
    CHECK_NEAR(t, 2.5, 0.15);
    CHECK(dfd_log_loss_at(z, y, N, t) < dfd_log_loss_at(z, y, N, 1.f) - 0.01);
    CHECK(dfd_log_loss_at(z, y, N, t) <= dfd_log_loss_at(z, y, N, t * 1.05f));
    CHECK(dfd_log_loss_at(z, y, N, t) <= dfd_log_loss_at(z, y, N, t / 1.05f));
    // Calibration keeps the order of scores.
    CHECK(dfd_calibrated(1.f, t) < dfd_calibrated(2.f, t));
    CHECK_NEAR(dfd_calibrated(0.f, t), 0.5, 1e-7);
    CHECK_NEAR(dfd_calibrated(-1000.f, 0.05f), 0, 1e-7); // no overflow
    free(z);
    free(y);
}

static void test_temperature_edges(void)
{
    dfd_error err;
    float t;
    // Perfectly separated: the lower bound.
    const float z[4] = { -3, -1, 2, 5 }, y[4] = { 0, 0, 1, 1 };
    CHECK_OK(dfd_temperature_fit(&t, z, y, 4, &err));
    CHECK_NEAR(t, DFD_TEMPERATURE_MIN, 1e-6);
    const float same[4] = { 1, 1, 1, 1 };
    CHECK(dfd_temperature_fit(&t, z, same, 4, &err) == DFD_ERR_INVALID);
    const float bad[2] = { NAN, 1 }, yb[2] = { 0, 1 };
    CHECK(dfd_temperature_fit(&t, bad, yb, 2, &err) == DFD_ERR_INVALID);
    CHECK(dfd_temperature_fit(&t, z, y, 0, &err) == DFD_ERR_INVALID);
}

DFD_TEST_MAIN({ "mean_and_vote", test_mean_and_vote }, { "confident", test_confident },
              { "identities", test_identities },
              { "temperature_recovers_truth", test_temperature_recovers_truth },
              { "temperature_edges", test_temperature_edges })
