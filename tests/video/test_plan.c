// The sampling planner and the non-reference packet checks, on synthetic input (no files).
#include <stdbool.h>

#include "test.h"
#include "video/video_internal.h"

// ---- uniform ----

static void uniform_on_constant_rate_picks_the_frame_at_each_slice_middle(void)
{
    enum {
        F = 300,
        N = 32
    };
    double t[F];
    for (int i = 0; i < F; i++) {
        t[i] = i / 30.0;
    }
    int64_t out[N];
    size_t got = vid_plan_uniform(out, N, t, F, 10.0);
    CHECK_EQ_INT(got, N);
    for (int i = 0; i < N; i++) {
        // Frame on screen at (i + 0.5) * 10 / 32 s is floor((i + 0.5) * 300 / 32).
        CHECK_EQ_INT(out[i], (int64_t)((i + 0.5) * F / N));
    }
}

static void uniform_with_more_wanted_than_frames_returns_every_frame(void)
{
    double t[5] = { 0, 0.1, 0.2, 0.3, 0.4 };
    int64_t out[10];
    size_t got = vid_plan_uniform(out, 10, t, 5, 0.5);
    CHECK_EQ_INT(got, 5);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ_INT(out[i], i);
    }
}

static void uniform_keeps_indices_distinct_when_a_frame_is_held_long(void)
{
    // Frame 1 stays on screen from 0.1 s to 5 s: several slice middles fall on it.
    double t[6] = { 0, 0.1, 5.0, 5.1, 5.2, 5.3 };
    int64_t out[5];
    size_t got = vid_plan_uniform(out, 5, t, 6, 5.4);
    CHECK_EQ_INT(got, 5);
    for (int i = 1; i < 5; i++) {
        CHECK(out[i] > out[i - 1]);
    }
    CHECK(out[0] >= 0 && out[4] <= 5);
}

// ---- bursts ----

static void bursts_start_at_the_keyframes_nearest_to_an_even_spread(void)
{
    enum {
        F = 300
    };
    bool key[F] = { false };
    for (int i = 0; i < F; i += 30) {
        key[i] = true;
    }
    int64_t out[32];
    size_t got = vid_plan_bursts(out, 32, key, F, 8);
    REQUIRE(got == 32);
    // Ideal run starts 33.5, 108.5, 183.5, 258.5 -> keyframes 30, 120, 180, 270.
    const int starts[4] = { 30, 120, 180, 270 };
    for (int r = 0; r < 4; r++) {
        for (int k = 0; k < 8; k++) {
            CHECK_EQ_INT(out[r * 8 + k], starts[r] + k);
        }
    }
}

static void bursts_share_frames_among_fewer_keyframes_than_runs(void)
{
    enum {
        F = 300
    };
    bool key[F] = { false };
    key[0] = key[250] = true; // x264 defaults on a 10 s clip
    int64_t out[32];
    size_t got = vid_plan_bursts(out, 32, key, F, 8);
    REQUIRE(got == 32);
    for (int k = 0; k < 16; k++) {
        CHECK_EQ_INT(out[k], k);
        CHECK_EQ_INT(out[16 + k], 250 + k);
    }
}

static void bursts_cut_by_the_end_are_completed_elsewhere(void)
{
    enum {
        F = 100
    };
    bool key[F] = { false };
    key[0] = key[97] = true;
    int64_t out[20];
    size_t got = vid_plan_bursts(out, 20, key, F, 10);
    REQUIRE(got == 20);
    for (size_t i = 1; i < got; i++) {
        CHECK(out[i] > out[i - 1]);
    }
    CHECK_EQ_INT(out[19], 99); // the run at 97 keeps 97..99
    CHECK_EQ_INT(out[0], 0);
    CHECK_EQ_INT(out[16], 16); // the first run grows to 17 frames
}

static void bursts_on_intra_only_video_spread_evenly(void)
{
    enum {
        F = 400
    };
    bool key[F];
    for (int i = 0; i < F; i++) {
        key[i] = true;
    }
    int64_t out[16];
    size_t got = vid_plan_bursts(out, 16, key, F, 4);
    REQUIRE(got == 16);
    // Ideal starts (r + 0.5) * 100 - 2 = 48, 148, 248, 348.
    for (int r = 0; r < 4; r++) {
        CHECK_EQ_INT(out[r * 4], 48 + 100 * r);
        CHECK_EQ_INT(out[r * 4 + 3], 51 + 100 * r);
    }
}

static void bursts_without_any_keyframe_flag_start_at_the_beginning(void)
{
    bool key[50] = { false };
    int64_t out[8];
    size_t got = vid_plan_bursts(out, 8, key, 50, 4);
    REQUIRE(got == 8);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT(out[i], i);
    }
}

// ---- bitstream ----

static void h264_non_reference_slice_is_disposable(void)
{
    // Length-prefixed (4 bytes): one slice NAL, nal_ref_idc 0, type 1.
    const uint8_t nonref[] = { 0, 0, 0, 3, 0x01, 0x9a, 0x10 };
    const uint8_t ref[] = { 0, 0, 0, 3, 0x41, 0x9a, 0x10 };
    const uint8_t idr[] = { 0, 0, 0, 3, 0x65, 0x88, 0x80 };
    CHECK(vid_h264_is_disposable(nonref, sizeof nonref, 4));
    CHECK(!vid_h264_is_disposable(ref, sizeof ref, 4));
    CHECK(!vid_h264_is_disposable(idr, sizeof idr, 4));
}

static void h264_packet_with_parameter_sets_is_kept(void)
{
    // SEI + SPS + non-reference slice, Annex B.
    const uint8_t p[] = { 0,    0,    0,    1, 0x06, 0x05, 0x01, 0,    0,   1,
                          0x67, 0x64, 0x00, 0, 0,    1,    0x01, 0x9a, 0x10 };
    CHECK(!vid_h264_is_disposable(p, sizeof p, 0));
    const uint8_t q[] = { 0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x01, 0x9a, 0x10 }; // AUD + slice
    CHECK(vid_h264_is_disposable(q, sizeof q, 0));
}

static void h264_malformed_lengths_are_never_disposable(void)
{
    const uint8_t too_long[] = { 0, 0, 0, 9, 0x01, 0x9a };
    const uint8_t zero_len[] = { 0, 0, 0, 0 };
    CHECK(!vid_h264_is_disposable(too_long, sizeof too_long, 4));
    CHECK(!vid_h264_is_disposable(zero_len, sizeof zero_len, 4));
    CHECK(!vid_h264_is_disposable(NULL, 0, 4));
}

static void hevc_disposability_depends_on_type_and_temporal_layer(void)
{
    // NAL header: forbidden(1) type(6) layer(6) tid+1(3). TRAIL_N = 0, TRAIL_R = 1.
    const uint8_t trail_n_t0[] = { 0, 0, 0, 3, 0x00, 0x01, 0xaf };
    const uint8_t trail_r_t0[] = { 0, 0, 0, 3, 0x02, 0x01, 0xaf };
    const uint8_t trail_n_t1[] = { 0, 0, 0, 3, 0x00, 0x02, 0xaf };
    int tid = -1;
    CHECK(vid_hevc_is_disposable(trail_n_t0, sizeof trail_n_t0, 4, 0, &tid));
    CHECK_EQ_INT(tid, 0);
    CHECK(!vid_hevc_is_disposable(trail_r_t0, sizeof trail_r_t0, 4, 0, NULL));
    // With a second temporal layer, a TRAIL_N in layer 0 may be referenced by layer 1.
    CHECK(!vid_hevc_is_disposable(trail_n_t0, sizeof trail_n_t0, 4, 1, NULL));
    CHECK(vid_hevc_is_disposable(trail_n_t1, sizeof trail_n_t1, 4, 1, &tid));
    CHECK_EQ_INT(tid, 1);
}

static void nal_length_size_comes_from_avcc(void)
{
    const uint8_t avcc[] = { 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0 };
    const uint8_t annexb[] = { 0, 0, 0, 1, 0x67 };
    CHECK_EQ_INT(vid_nal_length_size(AV_CODEC_ID_H264, avcc, sizeof avcc), 4);
    CHECK_EQ_INT(vid_nal_length_size(AV_CODEC_ID_H264, annexb, sizeof annexb), 0);
    CHECK_EQ_INT(vid_nal_length_size(AV_CODEC_ID_H264, NULL, 0), 0);
}

DFD_TEST_MAIN(
    { "uniform_on_constant_rate_picks_the_frame_at_each_slice_middle",
      uniform_on_constant_rate_picks_the_frame_at_each_slice_middle },
    { "uniform_with_more_wanted_than_frames_returns_every_frame",
      uniform_with_more_wanted_than_frames_returns_every_frame },
    { "uniform_keeps_indices_distinct_when_a_frame_is_held_long",
      uniform_keeps_indices_distinct_when_a_frame_is_held_long },
    { "bursts_start_at_the_keyframes_nearest_to_an_even_spread",
      bursts_start_at_the_keyframes_nearest_to_an_even_spread },
    { "bursts_share_frames_among_fewer_keyframes_than_runs",
      bursts_share_frames_among_fewer_keyframes_than_runs },
    { "bursts_cut_by_the_end_are_completed_elsewhere",
      bursts_cut_by_the_end_are_completed_elsewhere },
    { "bursts_on_intra_only_video_spread_evenly", bursts_on_intra_only_video_spread_evenly },
    { "bursts_without_any_keyframe_flag_start_at_the_beginning",
      bursts_without_any_keyframe_flag_start_at_the_beginning },
    { "h264_non_reference_slice_is_disposable", h264_non_reference_slice_is_disposable },
    { "h264_packet_with_parameter_sets_is_kept", h264_packet_with_parameter_sets_is_kept },
    { "h264_malformed_lengths_are_never_disposable", h264_malformed_lengths_are_never_disposable },
    { "hevc_disposability_depends_on_type_and_temporal_layer",
      hevc_disposability_depends_on_type_and_temporal_layer },
    { "nal_length_size_comes_from_avcc", nal_length_size_comes_from_avcc })
