// MP4 writer: clips written here are read back with dfd_video_open / dfd_video_sample. Each frame
// carries its index as 12 black/white boxes across the top sixth (as make_fixtures.sh draws
// them) and six colour patches across the bottom half, so the checks see exact frame order,
// timing, size policy and colour tagging; plus the atomic-output and argument contracts.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/video/video.h"
#include "dfdetect/video/writer.h"
#include "image/image_test_util.h"
#include "test.h"

// Saturated and mid colours; the first four are the fixtures' patches. A decoder that assumed
// BT.601 (what an untagged video of this size gets) would miss several by far more than 10.
static const uint8_t patches[6][3] = {
    { 0xD0, 0x20, 0x20 }, { 0x20, 0xC0, 0x40 }, { 0x30, 0x40, 0xD0 },
    { 0xE0, 0xC0, 0x20 }, { 0xFF, 0x00, 0x00 }, { 0x00, 0x00, 0xFF },
};

// ---- the test pattern ----

// Frame `index` of a w x h clip: grey, the index bits on top, the patches in the bottom half.
static void draw_frame(dfd_image *img, int index)
{
    const int w = img->w, h = img->h;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = dfd_image_px(img, x, y);
            uint8_t v[3] = { 128, 128, 128 };
            if (y < h / 6) {
                int b = x * 12 / w; // box b spans [b w / 12, (b + 1) w / 12)
                memset(v, (index >> b) & 1 ? 255 : 0, 3);
            } else if (y >= h / 2) {
                memcpy(v, patches[x * 6 / w], 3);
            }
            memcpy(p, v, 3);
        }
    }
}

// Mean of channel k over the window [x0, x1) x [y0, y1).
static double window_mean(const dfd_image *img, int x0, int x1, int y0, int y1, int k)
{
    double sum = 0;
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            sum += dfd_image_px(img, x, y)[k];
        }
    }
    return sum / ((double)(x1 - x0) * (y1 - y0));
}

// The index a frame carries (pattern drawn at w x h, the size given to the writer), or -1 when
// a box is neither clearly dark nor clearly bright.
static int read_index(const dfd_image *img, int w, int h)
{
    int value = 0;
    for (int b = 0; b < 12; b++) {
        int x0 = b * w / 12, x1 = (b + 1) * w / 12;
        int inset = (x1 - x0) / 4;
        double v = window_mean(img, x0 + inset, x1 - inset, h / 24, h / 6 - h / 24, 1);
        if (v > 170) {
            value |= 1 << b;
        } else if (v > 85) {
            return -1;
        }
    }
    return value;
}

// Largest difference between a patch's mean colour (central half of the patch) and the colour
// drawn.
static double worst_patch_error(const dfd_image *img, int w, int h)
{
    double worst = 0;
    for (int p = 0; p < 6; p++) {
        int x0 = (p * w + 5) / 6, x1 = ((p + 1) * w + 5) / 6; // first x with x * 6 / w == p ...
        int inset = (x1 - x0) / 4;
        for (int k = 0; k < 3; k++) {
            double m = window_mean(img, x0 + inset, x1 - inset, h / 2 + h / 8, h - h / 8, k);
            double d = fabs(m - patches[p][k]);
            if (d > worst) {
                worst = d;
            }
        }
    }
    return worst;
}

// ---- helpers ----

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

// Position of the first top-level MP4 box of type `type`, or -1.
static long box_offset(const char *path, const char *type)
{
    void *data;
    size_t n;
    if (dfd_file_read_all(&data, &n, path, 64u << 20, NULL)) {
        return -1;
    }
    const uint8_t *b = data;
    long found = -1;
    for (size_t off = 0; off + 8 <= n;) {
        uint64_t size = (uint64_t)b[off] << 24 | (uint64_t)b[off + 1] << 16 |
                        (uint64_t)b[off + 2] << 8 | b[off + 3];
        if (memcmp(b + off + 4, type, 4) == 0) {
            found = (long)off;
            break;
        }
        if (size == 1 && off + 16 <= n) { // 64-bit size
            size = 0;
            for (int i = 0; i < 8; i++) {
                size = size << 8 | b[off + 8 + (size_t)i];
            }
        }
        if (size < 8) {
            break;
        }
        off += size;
    }
    dfd_free(data);
    return found;
}

// Write `n` pattern frames of w x h at `fps` to path with opts; true on success.
static bool write_clip(const char *path, int w, int h, double fps, int n,
                       const dfd_video_writer_opts *opts, dfd_video_writer_info *info)
{
    dfd_video_writer *wr;
    dfd_error err;
    if (dfd_video_writer_open(&wr, path, w, h, fps, opts, &err)) {
        fprintf(stderr, "    open: %s\n", err.msg);
        return false;
    }
    dfd_image img;
    if (dfd_image_alloc(&img, w, h, 3)) {
        dfd_video_writer_abort(wr);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        draw_frame(&img, i);
        ok = dfd_video_writer_write(wr, &img, &err) == DFD_OK;
    }
    dfd_image_free(&img);
    if (!ok) {
        fprintf(stderr, "    write: %s\n", err.msg);
        dfd_video_writer_abort(wr);
        return false;
    }
    if (info) {
        dfd_video_writer_get_info(info, wr);
    }
    // Nothing is visible at `path` until close.
    if (exists(path)) {
        fprintf(stderr, "    %s exists before close\n", path);
        dfd_video_writer_abort(wr);
        return false;
    }
    if (dfd_video_writer_close(wr, &err)) {
        fprintf(stderr, "    close: %s\n", err.msg);
        return false;
    }
    return true;
}

// Read every frame of `path` back and check size, count, rate, indices, timing and colours.
static void check_clip(const char *path, const char *codec, int w, int h, int stored_w,
                       int stored_h, double fps, int n)
{
    dfd_video *v;
    dfd_error err;
    CHECK_OK(dfd_video_open(&v, path, NULL, &err));
    dfd_video_info in;
    dfd_video_probe(&in, v);
    CHECK(strcmp(in.container, "mp4") == 0);
    CHECK(strcmp(in.codec, codec) == 0);
    CHECK(strcmp(in.pix_fmt, "yuv420p") == 0);
    CHECK_EQ_INT(in.width, stored_w);
    CHECK_EQ_INT(in.height, stored_h);
    CHECK_EQ_INT(in.n_frames, n);
    CHECK_NEAR(in.fps, fps, 1e-6);
    CHECK(!in.is_vfr);
    CHECK_NEAR(in.duration_s, n / fps, 1e-3);
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    dfd_frame_set set;
    CHECK_OK(dfd_video_sample(&set, v, &pol, (size_t)n, NULL, NULL, &err));
    CHECK_EQ_INT(set.n, n);
    int bad_index = 0, bad_time = 0;
    double worst = 0;
    for (size_t i = 0; i < set.n; i++) {
        const dfd_frame *f = &set.frames[i];
        bad_index += f->index != (int64_t)i || read_index(&f->image, w, h) != (int)i;
        bad_time += fabs(f->pts_s - (double)i / fps) > 1e-3;
        double e = worst_patch_error(&f->image, w, h);
        worst = e > worst ? e : worst;
    }
    CHECK_EQ_INT(bad_index, 0);
    CHECK_EQ_INT(bad_time, 0);
    if (worst > 10) {
        fprintf(stderr, "    worst patch error %.1f levels\n", worst);
    }
    CHECK(worst <= 10);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
}

// ---- round trips ----

static void test_h264_clip_reads_back_frame_exact_with_tagged_colours(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "clip.mp4");
    size_t before = dfd_alloc_bytes_in_use();
    dfd_video_writer_opts o = dfd_video_writer_opts_default();
    o.encoder = "libx264";
    dfd_video_writer *probe;
    if (dfd_video_writer_open(&probe, path, 224, 224, 30.0, &o, NULL) == DFD_ERR_UNSUPPORTED) {
        tmpdir_remove(dir);
        TEST_SKIP("this FFmpeg has no libx264 (the mpeg4 test covers the fallback)");
    }
    dfd_video_writer_abort(probe);
    dfd_video_writer_info info;
    REQUIRE(write_clip(path, 224, 224, 30.0, 30, &o, &info));
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    CHECK(strcmp(info.encoder, "libx264") == 0);
    CHECK(strcmp(info.codec, "h264") == 0);
    CHECK_EQ_INT(info.width, 224);
    CHECK_EQ_INT(info.height, 224);
    CHECK_EQ_INT(info.n_frames, 30);
    check_clip(path, "h264", 224, 224, 224, 224, 30.0, 30);
    // +faststart: the index comes before the data.
    long moov = box_offset(path, "moov"), mdat = box_offset(path, "mdat");
    CHECK(moov > 0 && mdat > 0 && moov < mdat);
    CHECK_EQ_INT(tmpdir_count(dir), 1); // no temporary left behind
    tmpdir_remove(dir);
}

static void test_mpeg4_fallback_reads_back_frame_exact_with_tagged_colours(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "clip.mp4");
    dfd_video_writer_opts o = dfd_video_writer_opts_default();
    o.encoder = "mpeg4";
    dfd_video_writer_info info;
    REQUIRE(write_clip(path, 160, 128, 25.0, 30, &o, &info));
    CHECK(strcmp(info.encoder, "mpeg4") == 0);
    CHECK(strcmp(info.codec, "mpeg4") == 0);
    check_clip(path, "mpeg4", 160, 128, 160, 128, 25.0, 30);
    CHECK_EQ_INT(tmpdir_count(dir), 1);
    tmpdir_remove(dir);
}

static void test_odd_sizes_are_stored_padded_to_even_with_the_edge_repeated(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "odd.mp4");
    dfd_video_writer_info info;
    REQUIRE(write_clip(path, 225, 201, 30.0, 30, NULL, &info));
    CHECK_EQ_INT(info.width, 226);
    CHECK_EQ_INT(info.height, 202);
    check_clip(path, info.codec, 225, 201, 226, 202, 30.0, 30);
    // The padding column and row repeat the last ones.
    dfd_video *v;
    CHECK_OK(dfd_video_open(&v, path, NULL, NULL));
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    dfd_frame_set set;
    CHECK_OK(dfd_video_sample(&set, v, &pol, 1, NULL, NULL, NULL));
    REQUIRE(set.n == 1);
    const dfd_image *img = &set.frames[0].image;
    double worst = 0;
    for (int k = 0; k < 3; k++) {
        double d1 =
            fabs(window_mean(img, 225, 226, 0, 201, k) - window_mean(img, 224, 225, 0, 201, k));
        double d2 =
            fabs(window_mean(img, 0, 225, 201, 202, k) - window_mean(img, 0, 225, 200, 201, k));
        worst = fmax(worst, fmax(d1, d2));
    }
    CHECK(worst < 4);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
    tmpdir_remove(dir);
}

static void test_fractional_frame_rates_are_kept(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "ntsc.mp4");
    REQUIRE(write_clip(path, 64, 48, 30000.0 / 1001.0, 10, NULL, NULL));
    dfd_video *v;
    CHECK_OK(dfd_video_open(&v, path, NULL, NULL));
    dfd_video_info in;
    dfd_video_probe(&in, v);
    CHECK_NEAR(in.fps, 30000.0 / 1001.0, 1e-6);
    CHECK_EQ_INT(in.n_frames, 10);
    dfd_video_close(v);
    tmpdir_remove(dir);
}

// ---- atomic output and failures ----

static void test_missing_directory_fails_with_io_and_leaves_no_file(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "no/such/dir/x.mp4");
    static int dummy;
    dfd_video_writer *wr = (dfd_video_writer *)(void *)&dummy; // must be reset to NULL
    dfd_error err;
    size_t before = dfd_alloc_bytes_in_use();
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 64, 64, 30.0, NULL, &err), DFD_ERR_IO);
    CHECK(wr == NULL);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_EQ_INT(err.sys_errno, ENOENT);
    CHECK_EQ_INT(tmpdir_count(dir), 0);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    tmpdir_remove(dir);
}

static void test_abort_leaves_no_file(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "x.mp4");
    dfd_video_writer *wr;
    CHECK_OK(dfd_video_writer_open(&wr, path, 64, 48, 30.0, NULL, NULL));
    CHECK_EQ_INT(tmpdir_count(dir), 1); // the temporary
    dfd_image img;
    CHECK_OK(dfd_image_alloc(&img, 64, 48, 3));
    for (int i = 0; i < 5; i++) {
        draw_frame(&img, i);
        CHECK_OK(dfd_video_writer_write(wr, &img, NULL));
    }
    dfd_video_writer_abort(wr);
    dfd_video_writer_abort(NULL);
    CHECK_EQ_INT(tmpdir_count(dir), 0);
    dfd_image_free(&img);
    tmpdir_remove(dir);
}

static void test_closing_without_frames_fails_and_leaves_no_file(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "empty.mp4");
    dfd_video_writer *wr;
    dfd_error err;
    CHECK_OK(dfd_video_writer_open(&wr, path, 64, 48, 30.0, NULL, &err));
    CHECK_EQ_INT(dfd_video_writer_close(wr, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_STR_CONTAINS(err.msg, "no frames");
    CHECK_EQ_INT(tmpdir_count(dir), 0);
    CHECK_EQ_INT(dfd_video_writer_close(NULL, &err), DFD_ERR_INVALID);
    tmpdir_remove(dir);
}

static void test_an_existing_file_is_replaced_only_at_close(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "x.mp4");
    CHECK_OK(dfd_file_write_atomic(path, "old", 3, NULL));
    dfd_video_writer *wr;
    CHECK_OK(dfd_video_writer_open(&wr, path, 32, 32, 10.0, NULL, NULL));
    dfd_image img;
    CHECK_OK(dfd_image_alloc(&img, 32, 32, 3));
    draw_frame(&img, 0);
    CHECK_OK(dfd_video_writer_write(wr, &img, NULL));
    size_t n = 0;
    void *data;
    CHECK_OK(dfd_file_read_all(&data, &n, path, 1024, NULL));
    CHECK(n == 3 && memcmp(data, "old", 3) == 0);
    dfd_free(data);
    CHECK_OK(dfd_video_writer_close(wr, NULL));
    CHECK(box_offset(path, "moov") > 0);
    CHECK_EQ_INT(tmpdir_count(dir), 1);
    dfd_image_free(&img);
    tmpdir_remove(dir);
}

static void test_frames_of_the_wrong_size_or_channels_are_rejected(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "x.mp4");
    dfd_video_writer *wr;
    dfd_error err;
    CHECK_OK(dfd_video_writer_open(&wr, path, 64, 48, 30.0, NULL, &err));
    dfd_image wide, rgba, ok;
    CHECK_OK(dfd_image_alloc(&wide, 66, 48, 3));
    CHECK_OK(dfd_image_alloc(&rgba, 64, 48, 4));
    CHECK_OK(dfd_image_alloc(&ok, 64, 48, 3));
    CHECK_EQ_INT(dfd_video_writer_write(wr, &wide, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_STR_CONTAINS(err.msg, "66x48");
    CHECK_EQ_INT(dfd_video_writer_write(wr, &rgba, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_video_writer_write(wr, NULL, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_video_writer_write(NULL, &ok, &err), DFD_ERR_INVALID);
    // A rejected frame does not break the writer; a view of the right size is fine.
    dfd_image_free(&wide);
    CHECK_OK(dfd_image_alloc(&wide, 80, 60, 3));
    dfd_image view = dfd_image_view(&wide, 3, 5, 64, 48);
    draw_frame(&view, 0);
    CHECK_OK(dfd_video_writer_write(wr, &view, &err));
    draw_frame(&ok, 1);
    CHECK_OK(dfd_video_writer_write(wr, &ok, &err));
    dfd_video_writer_info info;
    dfd_video_writer_get_info(&info, wr);
    CHECK_EQ_INT(info.n_frames, 2);
    CHECK_OK(dfd_video_writer_close(wr, &err));
    dfd_video *v;
    CHECK_OK(dfd_video_open(&v, path, NULL, &err));
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 0 };
    dfd_frame_set set;
    CHECK_OK(dfd_video_sample(&set, v, &pol, 2, NULL, NULL, &err));
    REQUIRE(set.n == 2);
    CHECK_EQ_INT(read_index(&set.frames[0].image, 64, 48), 0);
    CHECK_EQ_INT(read_index(&set.frames[1].image, 64, 48), 1);
    dfd_frame_set_free(&set);
    dfd_video_close(v);
    dfd_image_free(&wide);
    dfd_image_free(&rgba);
    dfd_image_free(&ok);
    tmpdir_remove(dir);
}

static void test_bad_sizes_rates_and_options_are_rejected(void)
{
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "x.mp4");
    dfd_video_writer *wr;
    dfd_error err;
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 1, 48, 30.0, NULL, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 64, 0, 30.0, NULL, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 8193, 48, 30.0, NULL, &err), DFD_ERR_LIMIT);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 64, 9000, 30.0, NULL, &err), DFD_ERR_LIMIT);
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 64, 48, 0.0, NULL, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 64, 48, NAN, NULL, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 64, 48, 2000.0, NULL, &err), DFD_ERR_INVALID);
    dfd_video_writer_opts o = dfd_video_writer_opts_default();
    o.crf = 52;
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 64, 48, 30.0, &o, &err), DFD_ERR_INVALID);
    o = dfd_video_writer_opts_default();
    o.encoder = "libvpx";
    CHECK_EQ_INT(dfd_video_writer_open(&wr, path, 64, 48, 30.0, &o, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "libvpx");
    CHECK_EQ_INT(dfd_video_writer_open(&wr, "", 64, 48, 30.0, NULL, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_video_writer_open(&wr, NULL, 64, 48, 30.0, NULL, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_video_writer_open(NULL, path, 64, 48, 30.0, NULL, &err), DFD_ERR_INVALID);
    CHECK(wr == NULL);
    CHECK_EQ_INT(tmpdir_count(dir), 0);
    tmpdir_remove(dir);
}

static void test_out_of_memory_at_open_fails_cleanly_at_every_allocation(void)
{
    // Our own allocations (the writer, its path strings, the frame copy) fail one after another:
    // each attempt is NOMEM with nothing leaked and no file left, until one succeeds.
    char dir[256], path[512];
    REQUIRE(tmpdir_create(dir, sizeof dir));
    tmpdir_path(path, sizeof path, dir, "x.mp4");
    size_t before = dfd_alloc_bytes_in_use();
    int n_nomem = 0;
    dfd_video_writer *wr = NULL;
    for (long k = 0; k < 50 && !wr; k++) {
        dfd_alloc_fail_after(k);
        dfd_status st = dfd_video_writer_open(&wr, path, 33, 17, 30.0, NULL, NULL);
        dfd_alloc_fail_after(-1);
        CHECK(st == DFD_OK || st == DFD_ERR_NOMEM);
        if (st) {
            n_nomem++;
            CHECK_EQ_INT(tmpdir_count(dir), 0);
            CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
        }
    }
    REQUIRE(wr != NULL);
    CHECK(n_nomem >= 4);
    dfd_image img;
    CHECK_OK(dfd_image_alloc(&img, 33, 17, 3));
    draw_frame(&img, 5);
    CHECK_OK(dfd_video_writer_write(wr, &img, NULL));
    CHECK_OK(dfd_video_writer_close(wr, NULL));
    CHECK_EQ_INT(tmpdir_count(dir), 1);
    dfd_image_free(&img);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    tmpdir_remove(dir);
}

DFD_TEST_MAIN({ "h264_clip_reads_back_frame_exact_with_tagged_colours",
                test_h264_clip_reads_back_frame_exact_with_tagged_colours },
              { "mpeg4_fallback_reads_back_frame_exact_with_tagged_colours",
                test_mpeg4_fallback_reads_back_frame_exact_with_tagged_colours },
              { "odd_sizes_are_stored_padded_to_even_with_the_edge_repeated",
                test_odd_sizes_are_stored_padded_to_even_with_the_edge_repeated },
              { "fractional_frame_rates_are_kept", test_fractional_frame_rates_are_kept },
              { "missing_directory_fails_with_io_and_leaves_no_file",
                test_missing_directory_fails_with_io_and_leaves_no_file },
              { "abort_leaves_no_file", test_abort_leaves_no_file },
              { "closing_without_frames_fails_and_leaves_no_file",
                test_closing_without_frames_fails_and_leaves_no_file },
              { "an_existing_file_is_replaced_only_at_close",
                test_an_existing_file_is_replaced_only_at_close },
              { "frames_of_the_wrong_size_or_channels_are_rejected",
                test_frames_of_the_wrong_size_or_channels_are_rejected },
              { "bad_sizes_rates_and_options_are_rejected",
                test_bad_sizes_rates_and_options_are_rejected },
              { "out_of_memory_at_open_fails_cleanly_at_every_allocation",
                test_out_of_memory_at_open_fails_cleanly_at_every_allocation })
