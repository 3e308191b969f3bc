// H.264 re-compression in memory: sizes kept (odd ones too), pixels close to the input at a high
// quality and further away (but bounded, with the mean kept) at a low one, noise smoothed away
// at a low quality, deterministic output, and argument checks.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/video/reencode.h"
#include "test.h"

// Frame t of a moving pattern: a smooth gradient, a bright square moving right, and fixed
// pseudo-random noise of +-amp (high-frequency detail that a coarse quantiser removes).
static dfd_status make_frame(dfd_image *img, int w, int h, int t, int amp)
{
    dfd_status st = dfd_image_alloc(img, w, h, 3);
    if (st) {
        return st;
    }
    uint32_t s = 99;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            s = s * 1664525u + 1013904223u;
            int noise = amp ? (int)(s >> 24) % (2 * amp + 1) - amp : 0;
            bool square = x >= 4 + 2 * t && x < 16 + 2 * t && y >= 8 && y < 20;
            uint8_t *p = dfd_image_px(img, x, y);
            int base[3] = { 40 + 3 * x, 60 + 2 * y, 120 };
            for (int c = 0; c < 3; c++) {
                int v = square ? 230 : base[c] + noise;
                p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
    return DFD_OK;
}

// Mean absolute difference and the difference of the means, over all channels.
static void compare(const dfd_image *a, const dfd_image *b, double *mae, double *dmean)
{
    double sum = 0, ma = 0, mb = 0;
    for (int y = 0; y < a->h; y++) {
        for (int x = 0; x < a->w * 3; x++) {
            int va = dfd_image_px(a, 0, y)[x], vb = dfd_image_px(b, 0, y)[x];
            sum += abs(va - vb);
            ma += va;
            mb += vb;
        }
    }
    double n = (double)a->w * a->h * 3;
    *mae = sum / n;
    *dmean = (ma - mb) / n;
}

static double run_mae(const dfd_image *in, size_t n, int crf, double *dmean)
{
    dfd_image out[8];
    dfd_error err;
    if (dfd_video_reencode(out, in, n, crf, &err) != DFD_OK) {
        fprintf(stderr, "    %s\n", err.msg);
        return -1;
    }
    double total = 0, dm = 0;
    for (size_t i = 0; i < n; i++) {
        double m, d;
        if (out[i].w != in[i].w || out[i].h != in[i].h || out[i].c != 3) {
            total = -1e9;
        }
        compare(&in[i], &out[i], &m, &d);
        total += m;
        dm += d;
        dfd_image_free(&out[i]);
    }
    *dmean = dm / (double)n;
    return total / (double)n;
}

static void test_quality_controls_the_error(void)
{
    dfd_image in[6];
    for (int t = 0; t < 6; t++) {
        CHECK_OK(make_frame(&in[t], 64, 48, t, 12));
    }
    double dm_0, dm_hi, dm_lo;
    double mae_0 = run_mae(in, 6, 0, &dm_0);
    double mae_hi = run_mae(in, 6, 12, &dm_hi);
    double mae_lo = run_mae(in, 6, 48, &dm_lo);
    fprintf(stderr, "    encoder %s: MAE %.2f at CRF 12, %.2f at CRF 48\n",
            dfd_video_reencode_encoder(), mae_hi, mae_lo);
    CHECK(mae_hi >= 0 && mae_hi < 3); // 4:2:0 and rounding only, mostly
    CHECK(mae_lo > mae_hi + 4);       // the noise is quantised away
    CHECK(mae_lo < 20);               // ... but the picture survives
    // The colour conversion round trip is unbiased (measured: within 0.05 levels losslessly), so
    // the mean moves only by what the codec does: little at a high quality, a few levels when
    // a coarse quantiser rounds the DC terms.
    CHECK(mae_0 >= 0 && mae_0 < mae_hi);
    CHECK_NEAR(dm_0, 0, 0.2);
    CHECK_NEAR(dm_hi, 0, 1);
    CHECK_NEAR(dm_lo, 0, 8);
    for (int t = 0; t < 6; t++) {
        dfd_image_free(&in[t]);
    }
}

static void test_single_odd_frame_and_determinism(void)
{
    dfd_image in;
    CHECK_OK(make_frame(&in, 33, 25, 0, 6));
    dfd_image a, b;
    dfd_error err;
    CHECK_OK(dfd_video_reencode(&a, &in, 1, 30, &err));
    CHECK_OK(dfd_video_reencode(&b, &in, 1, 30, &err));
    CHECK(a.w == 33 && a.h == 25 && a.c == 3);
    bool same = true, changed = false;
    for (int y = 0; y < 25; y++) {
        same = same && memcmp(dfd_image_px(&a, 0, y), dfd_image_px(&b, 0, y), 33 * 3) == 0;
        changed = changed || memcmp(dfd_image_px(&a, 0, y), dfd_image_px(&in, 0, y), 33 * 3) != 0;
    }
    CHECK(same);
    CHECK(changed);
    double mae, dm;
    compare(&in, &a, &mae, &dm);
    CHECK(mae < 12);
    // The last column and row (padding for 4:2:0) are close to the input too.
    const uint8_t *pi = dfd_image_px(&in, 32, 24), *pa = dfd_image_px(&a, 32, 24);
    CHECK(abs(pi[0] - pa[0]) < 40 && abs(pi[1] - pa[1]) < 40);
    dfd_image_free(&a);
    dfd_image_free(&b);
    dfd_image_free(&in);
}

static void test_invalid_arguments(void)
{
    dfd_image in[2], out[2];
    CHECK_OK(make_frame(&in[0], 16, 16, 0, 0));
    CHECK_OK(make_frame(&in[1], 18, 16, 0, 0));
    dfd_error err;
    CHECK_EQ_INT(dfd_video_reencode(out, in, 2, 20, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "frame 1");
    CHECK(out[0].data == NULL && out[1].data == NULL);
    CHECK_EQ_INT(dfd_video_reencode(out, in, 1, 52, &err), DFD_ERR_INVALID);
    CHECK_EQ_INT(dfd_video_reencode(out, in, 0, 20, &err), DFD_ERR_INVALID);
    dfd_image grey;
    CHECK_OK(dfd_image_alloc(&grey, 16, 16, 1));
    CHECK_EQ_INT(dfd_video_reencode(out, &grey, 1, 20, &err), DFD_ERR_INVALID);
    dfd_image_free(&grey);
    dfd_image_free(&in[0]);
    dfd_image_free(&in[1]);
}

DFD_TEST_MAIN({ "quality_controls_the_error", test_quality_controls_the_error },
              { "single_odd_frame_and_determinism", test_single_odd_frame_and_determinism },
              { "invalid_arguments", test_invalid_arguments })
