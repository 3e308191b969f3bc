// Decoding and sampling on real files made by tests/video/make_fixtures.sh. Each pattern frame
// carries its generator frame number as 12 boxes across the top sixth of the stored picture, so
// every check below asserts that the frame returned is exactly the frame claimed.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/video/video.h"
#include "test.h"

static const char *fixture(const char *name)
{
    static char buf[8][1024];
    static int k;
    const char *dir = getenv("DFD_FIXTURES");
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir ? dir : "fixtures", name);
    return p;
}

// Mean brightness of a w x h window centred at (cx, cy).
static double brightness(const dfd_image *img, int cx, int cy, int w, int h)
{
    double sum = 0;
    int n = 0;
    for (int y = cy - h / 2; y <= cy + h / 2; y++) {
        for (int x = cx - w / 2; x <= cx + w / 2; x++) {
            if (x < 0 || y < 0 || x >= img->w || y >= img->h) {
                continue;
            }
            const uint8_t *p = dfd_image_px(img, x, y);
            sum += (p[0] + p[1] + p[2]) / 3.0;
            n++;
        }
    }
    return n ? sum / n : -1;
}

// The frame number encoded in a displayed frame, or -1 when a box is neither clearly dark nor
// clearly bright (not a pattern frame, or a corrupted one). `rotation` is the clockwise turn
// applied for display (0 or 90).
static int read_pattern(const dfd_image *img, int rotation)
{
    int sw = rotation == 90 ? img->h : img->w; // stored size
    int sh = rotation == 90 ? img->w : img->h;
    int value = 0;
    for (int b = 0; b < 12; b++) {
        int sx = (int)((b + 0.5) * sw / 12.0), sy = sh / 12;
        int x = sx, y = sy, ww = sw / 48, wh = sh / 24;
        if (rotation == 90) { // stored (sx, sy) is displayed at (sh - 1 - sy, sx)
            x = sh - 1 - sy;
            y = sx;
            int t = ww;
            ww = wh;
            wh = t;
        }
        double v = brightness(img, x, y, ww, wh);
        if (v > 170) {
            value |= 1 << b;
        } else if (v > 85) {
            return -1;
        }
    }
    return value;
}

static int check_frames_match_patterns(const dfd_frame_set *set, int rotation, double fps)
{
    int bad = 0;
    for (size_t i = 0; i < set->n; i++) {
        const dfd_frame *f = &set->frames[i];
        int got = read_pattern(&f->image, rotation);
        if (got != f->index) {
            fprintf(stderr, "    frame %zu claims index %lld, pattern says %d\n", i,
                    (long long)f->index, got);
            bad++;
        }
        if (fps > 0 && fabs(f->pts_s - (double)f->index / fps) > 1e-3) {
            fprintf(stderr, "    frame %lld at %.4f s, expected %.4f s\n", (long long)f->index,
                    f->pts_s, (double)f->index / fps);
            bad++;
        }
    }
    return bad;
}

static dfd_status open_fixture(dfd_video **v, const char *name, dfd_error *err)
{
    dfd_video_opts o = dfd_video_opts_default();
    o.n_threads = 2;
    return dfd_video_open(v, fixture(name), &o, err);
}

// ---- probe ----

static void probe_reports_the_facts_of_a_1080p_h264_clip(void)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "h264_1080p.mp4", &err));
    dfd_video_info in;
    dfd_video_probe(&in, v);
    CHECK(strcmp(in.container, "mp4") == 0);
    CHECK(strcmp(in.codec, "h264") == 0);
    CHECK_EQ_INT(in.width, 1920);
    CHECK_EQ_INT(in.height, 1080);
    CHECK_EQ_INT(in.rotation, 0);
    CHECK_NEAR(in.fps, 30.0, 1e-9);
    CHECK(!in.is_vfr);
    CHECK_NEAR(in.duration_s, 10.0, 1e-6);
    CHECK_EQ_INT(in.n_frames, 300);
    CHECK_EQ_INT(in.n_frames_source, DFD_COUNT_SCANNED);
    CHECK_EQ_INT(in.n_keyframes, 2);
    CHECK(!in.has_audio);
    dfd_video_close(v);
}

static void fast_probe_says_where_the_count_comes_from(void)
{
    dfd_video_opts o = dfd_video_opts_default();
    o.scan = false;
    dfd_video *v;
    CHECK_OK(dfd_video_open(&v, fixture("h264_1080p.mp4"), &o, NULL));
    dfd_video_info in;
    dfd_video_probe(&in, v);
    CHECK_EQ_INT(in.n_frames, 300);
    CHECK_EQ_INT(in.n_frames_source, DFD_COUNT_HEADER); // MP4 stores its sample count
    dfd_video_close(v);
    CHECK_OK(dfd_video_open(&v, fixture("vp9_720p.webm"), &o, NULL));
    dfd_video_probe(&in, v);
    CHECK_EQ_INT(in.n_frames_source, DFD_COUNT_ESTIMATED); // WebM does not
    CHECK(llabs(in.n_frames - 90) <= 1);
    dfd_video_close(v);
}

// ---- sampling ----

static void uniform_sample_of_h264_returns_exactly_the_claimed_frames(void)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "h264_1080p.mp4", &err));
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    CHECK_OK(dfd_video_sample(&set, v, &pol, 32, NULL, NULL, &err));
    CHECK_EQ_INT(set.n, 32);
    for (size_t i = 0; i < set.n; i++) {
        CHECK_EQ_INT(set.frames[i].index, (int64_t)((i + 0.5) * 300 / 32));
        CHECK_EQ_INT(set.frames[i].image.w, 1920);
        CHECK_EQ_INT(set.frames[i].image.h, 1080);
        CHECK_EQ_INT(set.frames[i].image.c, 3);
    }
    CHECK_EQ_INT(check_frames_match_patterns(&set, 0, 30.0), 0);
    dfd_video_stats s;
    dfd_video_last_stats(&s, v);
    CHECK(s.packets_dropped > 0);  // non-reference B-frames never reached the decoder
    CHECK(s.frames_decoded < 300); // not a full decode
    CHECK_EQ_INT(s.frames_converted, 32);
    CHECK(!s.forward_scan);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
}

static void bursts_sample_of_h264_decodes_runs_from_its_keyframes(void)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "h264_1080p.mp4", &err));
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_BURSTS, 8 };
    CHECK_OK(dfd_video_sample(&set, v, &pol, 32, NULL, NULL, &err));
    REQUIRE(set.n == 32);
    // Two keyframes (0 and 250): two runs of 16.
    for (size_t i = 0; i < 16; i++) {
        CHECK_EQ_INT(set.frames[i].index, (int64_t)i);
        CHECK_EQ_INT(set.frames[16 + i].index, (int64_t)(250 + i));
    }
    CHECK(set.frames[0].is_keyframe && set.frames[16].is_keyframe);
    CHECK_EQ_INT(check_frames_match_patterns(&set, 0, 30.0), 0);
    dfd_video_stats s;
    dfd_video_last_stats(&s, v);
    CHECK(s.frames_decoded <= 40); // the runs and little else
    dfd_frame_set_free(&set);
    dfd_video_close(v);
}

typedef struct progress_log {
    size_t calls, last_done, total;
    bool monotonic;
} progress_log;

static void record_progress(void *ctx, size_t done, size_t total)
{
    progress_log *p = ctx;
    if (done != p->last_done + 1) {
        p->monotonic = false;
    }
    p->calls++;
    p->last_done = done;
    p->total = total;
}

// Two threads: frame threads in one decoder (uniform: one run of decoding), or two one-thread
// decoders side by side (bursts: the runs from keyframes 0 and 250 split between them). Either
// way the pixels are those of one thread, and progress comes once per frame, in order.
static void one_and_two_decoder_threads_give_identical_pixels(void)
{
    for (int policy = 0; policy < 2; policy++) {
        dfd_frame_set sets[2];
        progress_log log = { 0, 0, 0, true };
        for (int t = 0; t < 2; t++) {
            dfd_video_opts o = dfd_video_opts_default();
            o.n_threads = t + 1;
            dfd_video *v;
            CHECK_OK(dfd_video_open(&v, fixture("h264_1080p.mp4"), &o, NULL));
            dfd_sampling pol = { policy ? DFD_SAMPLING_BURSTS : DFD_SAMPLING_UNIFORM, 4 };
            CHECK_OK(
                dfd_video_sample(&sets[t], v, &pol, 12, t ? record_progress : NULL, &log, NULL));
            dfd_video_stats s;
            dfd_video_last_stats(&s, v);
            CHECK(!s.forward_scan);
            CHECK_EQ_INT(s.frames_converted, 12);
            dfd_video_close(v);
        }
        CHECK_EQ_INT(log.calls, 12);
        CHECK(log.monotonic && log.last_done == 12 && log.total == 12);
        REQUIRE(sets[0].n == sets[1].n);
        for (size_t i = 0; i < sets[0].n; i++) {
            const dfd_image *a = &sets[0].frames[i].image, *b = &sets[1].frames[i].image;
            CHECK_EQ_INT(sets[0].frames[i].index, sets[1].frames[i].index);
            bool same = a->w == b->w && a->h == b->h;
            for (int y = 0; same && y < a->h; y++) {
                same = memcmp(dfd_image_px(a, 0, y), dfd_image_px(b, 0, y), (size_t)a->w * 3) == 0;
            }
            CHECK(same);
        }
        if (policy) { // bursts: both keyframes' runs are there
            CHECK(sets[1].frames[0].index == 0 && sets[1].frames[sets[1].n - 1].index > 250);
        }
        dfd_frame_set_free(&sets[0]);
        dfd_frame_set_free(&sets[1]);
    }
}

static void vp9_webm_is_probed_and_sampled_with_both_policies(void)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "vp9_720p.webm", &err));
    dfd_video_info in;
    dfd_video_probe(&in, v);
    CHECK(strcmp(in.container, "webm") == 0);
    CHECK(strcmp(in.codec, "vp9") == 0);
    CHECK_EQ_INT(in.width, 1280);
    CHECK_EQ_INT(in.height, 720);
    CHECK_EQ_INT(in.n_frames, 90);
    CHECK_EQ_INT(in.n_keyframes, 3);
    CHECK(!in.is_vfr); // 1 ms timestamps round 33.3 ms frames to 33 or 34
    CHECK_NEAR(in.fps, 30.0, 0.01);
    for (int k = 0; k < 2; k++) {
        dfd_sampling pol = { k ? DFD_SAMPLING_BURSTS : DFD_SAMPLING_UNIFORM, 5 };
        dfd_frame_set set;
        CHECK_OK(dfd_video_sample(&set, v, &pol, 15, NULL, NULL, &err));
        CHECK_EQ_INT(set.n, 15);
        CHECK_EQ_INT(check_frames_match_patterns(&set, 0, 0), 0);
        for (size_t i = 0; i < set.n; i++) {
            CHECK_NEAR(set.frames[i].pts_s, set.frames[i].index / 30.0, 0.0015);
        }
        if (k == 1) { // keyframes at 0, 30, 60: three runs of 5
            CHECK_EQ_INT(set.frames[0].index, 0);
            CHECK_EQ_INT(set.frames[5].index, 30);
            CHECK_EQ_INT(set.frames[10].index, 60);
        }
        dfd_frame_set_free(&set);
    }
    dfd_video_close(v);
}

static void rotated_portrait_clip_is_delivered_upright(void)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "portrait_rot90.mp4", &err));
    dfd_video_info in;
    dfd_video_probe(&in, v);
    CHECK_EQ_INT(in.rotation, 90);
    CHECK_EQ_INT(in.width, 640);
    CHECK_EQ_INT(in.height, 360);
    CHECK_EQ_INT(in.display_width, 360);
    CHECK_EQ_INT(in.display_height, 640);
    CHECK(in.has_audio);
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    CHECK_OK(dfd_video_sample(&set, v, &pol, 9, NULL, NULL, &err));
    REQUIRE(set.n == 9);
    CHECK_EQ_INT(set.frames[0].image.w, 360);
    CHECK_EQ_INT(set.frames[0].image.h, 640);
    // Turned clockwise: the pattern band is on the right edge, bit 0 at the top.
    CHECK_EQ_INT(check_frames_match_patterns(&set, 90, 30.0), 0);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
}

// Display time of generator frame n in vfr.mp4: 30 fps for frames 0-59, then 15 fps.
static double vfr_time(int n)
{
    return n < 60 ? n / 30.0 : 2.0 + (n - 60) / 15.0;
}

static void variable_frame_rate_is_detected_and_sampled_evenly_in_time(void)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "vfr.mp4", &err));
    dfd_video_info in;
    dfd_video_probe(&in, v);
    CHECK(in.is_vfr);
    CHECK_EQ_INT(in.n_frames, 150);
    CHECK_NEAR(in.duration_s, 8.0, 1e-6);
    CHECK_NEAR(in.fps, 150 / 8.0, 1e-6);
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    CHECK_OK(dfd_video_sample(&set, v, &pol, 16, NULL, NULL, &err));
    REQUIRE(set.n == 16);
    CHECK_EQ_INT(check_frames_match_patterns(&set, 0, 0), 0);
    for (size_t i = 0; i < set.n; i++) {
        int n = (int)set.frames[i].index;
        CHECK_NEAR(set.frames[i].pts_s, vfr_time(n), 1e-6);
        // The frame on screen at the middle of slice i of 8 s: shown at or before that time,
        // and the next frame shown after it.
        double mid = (i + 0.5) * 8.0 / 16;
        CHECK(vfr_time(n) <= mid + 1e-9);
        CHECK(vfr_time(n + 1) > mid);
    }
    dfd_frame_set_free(&set);
    dfd_video_close(v);
}

static void odd_frame_size_is_decoded_whole(void)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "odd_641x361.mp4", &err));
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    CHECK_OK(dfd_video_sample(&set, v, &pol, 7, NULL, NULL, &err));
    REQUIRE(set.n == 7);
    CHECK_EQ_INT(set.frames[0].image.w, 641);
    CHECK_EQ_INT(set.frames[0].image.h, 361);
    CHECK_EQ_INT(check_frames_match_patterns(&set, 0, 25.0), 0);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
}

static void first_timestamp_far_from_zero_is_handled(void)
{
    const char *names[2] = { "start_offset.ts", "start_offset.mp4" };
    const double starts[2] = { 11.4, 5.0 };
    for (int k = 0; k < 2; k++) {
        dfd_video *v;
        dfd_error err;
        CHECK_OK(open_fixture(&v, names[k], &err));
        dfd_video_info in;
        dfd_video_probe(&in, v);
        CHECK_NEAR(in.start_s, starts[k], 0.05);
        CHECK_EQ_INT(in.n_frames, 90);
        CHECK_NEAR(in.duration_s, 3.0, 1e-3);
        for (int p = 0; p < 2; p++) {
            dfd_frame_set set;
            dfd_sampling pol = { p ? DFD_SAMPLING_BURSTS : DFD_SAMPLING_UNIFORM, 4 };
            CHECK_OK(dfd_video_sample(&set, v, &pol, 8, NULL, NULL, &err));
            CHECK_EQ_INT(set.n, 8);
            CHECK_EQ_INT(check_frames_match_patterns(&set, 0, 30.0), 0);
            dfd_frame_set_free(&set);
        }
        dfd_video_close(v);
    }
}

static void asking_for_more_frames_than_exist_returns_every_frame(void)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "start_offset.mp4", &err));
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    CHECK_OK(dfd_video_sample(&set, v, &pol, 1000, NULL, NULL, &err));
    REQUIRE(set.n == 90);
    for (size_t i = 0; i < set.n; i++) {
        CHECK_EQ_INT(set.frames[i].index, (int64_t)i);
    }
    CHECK_EQ_INT(check_frames_match_patterns(&set, 0, 30.0), 0);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
}

static void progress_is_reported_once_per_delivered_frame(void)
{
    dfd_video *v;
    CHECK_OK(open_fixture(&v, "start_offset.mp4", NULL));
    progress_log log = { 0, 0, 0, true };
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    CHECK_OK(dfd_video_sample(&set, v, &pol, 6, record_progress, &log, NULL));
    CHECK_EQ_INT(log.calls, 6);
    CHECK_EQ_INT(log.last_done, 6);
    CHECK_EQ_INT(log.total, 6);
    CHECK(log.monotonic);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
}

static void raw_elementary_stream_falls_back_to_a_forward_scan(void)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "raw.h264", &err));
    dfd_video_info in;
    dfd_video_probe(&in, v);
    CHECK_EQ_INT(in.n_frames, 90);
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    CHECK_OK(dfd_video_sample(&set, v, &pol, 6, NULL, NULL, &err));
    REQUIRE(set.n == 6);
    for (size_t i = 0; i < set.n; i++) {
        CHECK_EQ_INT(set.frames[i].index, (int64_t)((i + 0.5) * 90 / 6));
    }
    CHECK_EQ_INT(check_frames_match_patterns(&set, 0, 30.0), 0);
    dfd_video_stats s;
    dfd_video_last_stats(&s, v);
    CHECK(s.forward_scan);
    CHECK_EQ_INT(s.seeks, 0);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
}

// ---- colour ----

static void labelled_colour_matrices_are_honoured(void)
{
    const char *names[2] = { "colors_bt709.mp4", "colors_bt601.mp4" };
    const uint8_t want[4][3] = {
        { 0xD0, 0x20, 0x20 }, { 0x20, 0xC0, 0x40 }, { 0x30, 0x40, 0xD0 }, { 0xE0, 0xC0, 0x20 }
    };
    for (int k = 0; k < 2; k++) {
        dfd_video *v;
        dfd_error err;
        CHECK_OK(open_fixture(&v, names[k], &err));
        dfd_frame_set set;
        dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
        CHECK_OK(dfd_video_sample(&set, v, &pol, 1, NULL, NULL, &err));
        const dfd_image *im = &set.frames[0].image;
        for (int p = 0; p < 4; p++) {
            const uint8_t *px = dfd_image_px(im, (2 * p + 1) * im->w / 8, im->h / 2);
            for (int c = 0; c < 3; c++) {
                if (abs(px[c] - want[p][c]) > 8) {
                    fprintf(stderr, "    %s patch %d channel %d: %d, expected %d\n", names[k], p, c,
                            px[c], want[p][c]);
                }
                CHECK(abs(px[c] - want[p][c]) <= 8);
            }
        }
        dfd_frame_set_free(&set);
        dfd_video_close(v);
    }
}

static void astronaut_clip_decodes_to_the_portrait_it_was_made_from(void)
{
    char png[1024];
    snprintf(png, sizeof png, "%s/assets/astronaut.png", getenv("DFD_SOURCE_DIR"));
    dfd_image portrait = { 0 };
    if (dfd_image_read(&portrait, png, NULL) != DFD_OK) {
        TEST_SKIP("%s absent (scripts/setup.sh fetches it)", png);
    }
    dfd_video *v;
    dfd_error err;
    CHECK_OK(open_fixture(&v, "astronaut_pan.mp4", &err));
    dfd_video_info in;
    dfd_video_probe(&in, v);
    CHECK_EQ_INT(in.n_frames, 150);
    CHECK_EQ_INT(in.display_width, 640);
    // Frame 0 of the pan is the whole portrait scaled to 640x640 (zoom 1, offset 0).
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_BURSTS, 1 };
    CHECK_OK(dfd_video_sample(&set, v, &pol, 1, NULL, NULL, &err));
    REQUIRE(set.n == 1 && set.frames[0].index == 0);
    dfd_image ref = { 0 };
    CHECK_OK(dfd_image_alloc(&ref, 640, 640, 3));
    CHECK_OK(dfd_image_resize(&ref, &portrait, DFD_RESIZE_BILINEAR));
    double abs_err[3] = { 0, 0, 0 }, bias[3] = { 0, 0, 0 };
    for (int y = 0; y < 640; y++) {
        for (int x = 0; x < 640; x++) {
            for (int c = 0; c < 3; c++) {
                double e = (double)dfd_image_px(&set.frames[0].image, x, y)[c] -
                           dfd_image_px(&ref, x, y)[c];
                abs_err[c] += fabs(e) / (640.0 * 640.0);
                bias[c] += e / (640.0 * 640.0);
            }
        }
    }
    // Measured: mean absolute error 2.4-3.3 levels per channel (x264 at its default quality and
    // zoompan's own scaler), bias about -1; a BT.601/709 mix-up raises them to 4.5 and +2.4.
    for (int c = 0; c < 3; c++) {
        CHECK(abs_err[c] < 4.0);
        CHECK(fabs(bias[c]) < 2.0);
    }
    // The clip pans and zooms: later frames differ from the first.
    dfd_frame_set later;
    dfd_sampling uni = { DFD_SAMPLING_UNIFORM, 0 };
    CHECK_OK(dfd_video_sample(&later, v, &uni, 2, NULL, NULL, &err));
    REQUIRE(later.n == 2);
    long differing = 0;
    for (int y = 0; y < 640; y += 4) {
        for (int x = 0; x < 640; x += 4) {
            differing += abs(dfd_image_px(&later.frames[1].image, x, y)[1] -
                             dfd_image_px(&set.frames[0].image, x, y)[1]) > 24;
        }
    }
    CHECK(differing > 1000);
    dfd_frame_set_free(&later);
    dfd_frame_set_free(&set);
    dfd_image_free(&ref);
    dfd_image_free(&portrait);
    dfd_video_close(v);
}

// ---- bad input ----

typedef struct bad_case {
    const char *name;  // fixture name, or an absolute path
    dfd_status status; // expected
    const char *words; // expected in the message
} bad_case;

static void every_bad_input_gets_one_clear_line(void)
{
    const bad_case cases[] = {
        { "does_not_exist.mp4", DFD_ERR_NOT_FOUND, "no such file" },
        { "", DFD_ERR_INVALID, "directory" }, // the fixture directory itself
        { "empty.mp4", DFD_ERR_FORMAT, "empty" },
        { "text.mp4", DFD_ERR_FORMAT, "not a video" },
        { "audio_only.m4a", DFD_ERR_FORMAT, "audio only" },
        { "truncated.mp4", DFD_ERR_FORMAT, "truncated" },
        { "truncated_faststart.mp4", DFD_ERR_FORMAT, "truncated" },
        { "absurd.y4m", DFD_ERR_LIMIT, "12000x12000" },
        { "zero_frames.y4m", DFD_ERR_FORMAT, "no frames" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = fixture(cases[i].name);
        dfd_video *v = NULL;
        dfd_error err;
        dfd_error_clear(&err);
        size_t before = dfd_alloc_bytes_in_use();
        dfd_status st = dfd_video_open(&v, path, NULL, &err);
        if (st == DFD_OK) {
            // A damaged file may open; then sampling must fail cleanly.
            dfd_frame_set set;
            dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
            st = dfd_video_sample(&set, v, &pol, 8, NULL, NULL, &err);
            dfd_video_close(v);
        }
        if (st != cases[i].status) {
            fprintf(stderr, "    %s: got %s (%s), expected %s\n", cases[i].name, dfd_status_str(st),
                    err.msg, dfd_status_str(cases[i].status));
        }
        CHECK_EQ_INT(st, cases[i].status);
        CHECK_STR_CONTAINS(err.msg, cases[i].words);
        CHECK_STR_CONTAINS(err.msg, path);
        CHECK(strchr(err.msg, '\n') == NULL);
        CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    }
}

static void running_out_of_memory_anywhere_fails_cleanly(void)
{
    size_t before = dfd_alloc_bytes_in_use();
    int ok = 0, nomem = 0;
    for (long k = 0; k < 200 && ok == 0; k++) {
        dfd_alloc_fail_after(k);
        dfd_video *v = NULL;
        dfd_error err;
        dfd_status st = open_fixture(&v, "start_offset.mp4", &err);
        if (st == DFD_OK) {
            dfd_frame_set set;
            dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
            st = dfd_video_sample(&set, v, &pol, 5, NULL, NULL, &err);
            if (st == DFD_OK) {
                dfd_frame_set_free(&set);
            }
            dfd_video_close(v);
        }
        dfd_alloc_fail_after(-1);
        if (st == DFD_OK) {
            ok++;
        } else {
            CHECK_EQ_INT(st, DFD_ERR_NOMEM);
            nomem++;
        }
        CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    }
    CHECK(ok == 1);   // eventually enough allocations succeed
    CHECK(nomem > 5); // and every earlier failure point was hit and reported
}

DFD_TEST_MAIN(
    { "probe_reports_the_facts_of_a_1080p_h264_clip",
      probe_reports_the_facts_of_a_1080p_h264_clip },
    { "fast_probe_says_where_the_count_comes_from", fast_probe_says_where_the_count_comes_from },
    { "uniform_sample_of_h264_returns_exactly_the_claimed_frames",
      uniform_sample_of_h264_returns_exactly_the_claimed_frames },
    { "bursts_sample_of_h264_decodes_runs_from_its_keyframes",
      bursts_sample_of_h264_decodes_runs_from_its_keyframes },
    { "one_and_two_decoder_threads_give_identical_pixels",
      one_and_two_decoder_threads_give_identical_pixels },
    { "vp9_webm_is_probed_and_sampled_with_both_policies",
      vp9_webm_is_probed_and_sampled_with_both_policies },
    { "rotated_portrait_clip_is_delivered_upright", rotated_portrait_clip_is_delivered_upright },
    { "variable_frame_rate_is_detected_and_sampled_evenly_in_time",
      variable_frame_rate_is_detected_and_sampled_evenly_in_time },
    { "odd_frame_size_is_decoded_whole", odd_frame_size_is_decoded_whole },
    { "first_timestamp_far_from_zero_is_handled", first_timestamp_far_from_zero_is_handled },
    { "asking_for_more_frames_than_exist_returns_every_frame",
      asking_for_more_frames_than_exist_returns_every_frame },
    { "raw_elementary_stream_falls_back_to_a_forward_scan",
      raw_elementary_stream_falls_back_to_a_forward_scan },
    { "labelled_colour_matrices_are_honoured", labelled_colour_matrices_are_honoured },
    { "astronaut_clip_decodes_to_the_portrait_it_was_made_from",
      astronaut_clip_decodes_to_the_portrait_it_was_made_from },
    { "progress_is_reported_once_per_delivered_frame",
      progress_is_reported_once_per_delivered_frame },
    { "every_bad_input_gets_one_clear_line", every_bad_input_gets_one_clear_line },
    { "running_out_of_memory_anywhere_fails_cleanly",
      running_out_of_memory_anywhere_fails_cleanly })
