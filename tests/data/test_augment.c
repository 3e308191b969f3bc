// Augmentation ops checked on values: flip twice is the identity, rotations match exact
// 90/180-degree turns, integer shifts move pixels exactly, zoom on a ramp matches the formula,
// brightness moves the mean by the amount, contrast scales the spread about a kept mean, noise
// has the asked standard deviation, blur reproduces the Gaussian kernel and lowers high-frequency
// energy, JPEG at a low quality changes pixels more than at a high one but within bounds; whole
// pipeline: fixed output size, seeds reproducible, parameters within their ranges, a sequence
// transformed consistently.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/data/augment.h"
#include "dfdetect/image/image.h"
#include "test.h"

// A w x h RGB test picture: gradients, a bright disc and fixed pseudo-random texture.
static dfd_status make_picture(dfd_image *img, int w, int h, int texture)
{
    dfd_status st = dfd_image_alloc(img, w, h, 3);
    if (st) {
        return st;
    }
    uint32_t s = 7;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            s = s * 1664525u + 1013904223u;
            int t = texture ? (int)(s >> 24) % (2 * texture + 1) - texture : 0;
            int dx = x - w / 3, dy = y - h / 2;
            bool disc = dx * dx + dy * dy < (w / 6) * (w / 6);
            uint8_t *p = dfd_image_px(img, x, y);
            int v[3] = { 30 + 150 * x / w + t, 50 + 120 * y / h + t, disc ? 220 : 90 + t };
            for (int c = 0; c < 3; c++) {
                p[c] = (uint8_t)(v[c] < 0 ? 0 : v[c] > 255 ? 255 : v[c]);
            }
        }
    }
    return DFD_OK;
}

static bool same_pixels(const dfd_image *a, const dfd_image *b)
{
    if (a->w != b->w || a->h != b->h || a->c != b->c) {
        return false;
    }
    for (int y = 0; y < a->h; y++) {
        if (memcmp(dfd_image_px(a, 0, y), dfd_image_px(b, 0, y), (size_t)a->w * a->c) != 0) {
            return false;
        }
    }
    return true;
}

static double mean_level(const dfd_image *a)
{
    double s = 0;
    for (int y = 0; y < a->h; y++) {
        for (int i = 0; i < a->w * a->c; i++) {
            s += dfd_image_px(a, 0, y)[i];
        }
    }
    return s / ((double)a->w * a->h * a->c);
}

static double std_level(const dfd_image *a)
{
    double m = mean_level(a), s = 0;
    for (int y = 0; y < a->h; y++) {
        for (int i = 0; i < a->w * a->c; i++) {
            double d = dfd_image_px(a, 0, y)[i] - m;
            s += d * d;
        }
    }
    return sqrt(s / ((double)a->w * a->h * a->c));
}

static double mean_abs_diff(const dfd_image *a, const dfd_image *b)
{
    double s = 0;
    for (int y = 0; y < a->h; y++) {
        for (int i = 0; i < a->w * a->c; i++) {
            s += abs(dfd_image_px(a, 0, y)[i] - dfd_image_px(b, 0, y)[i]);
        }
    }
    return s / ((double)a->w * a->h * a->c);
}

// Sum of squared differences between horizontal neighbours: high-frequency energy.
static double hf_energy(const dfd_image *a)
{
    double s = 0;
    for (int y = 0; y < a->h; y++) {
        const uint8_t *r = dfd_image_px(a, 0, y);
        for (int i = a->c; i < a->w * a->c; i++) {
            double d = (double)r[i] - r[i - a->c];
            s += d * d;
        }
    }
    return s;
}

static void test_flip(void)
{
    dfd_image a, b;
    CHECK_OK(make_picture(&a, 37, 20, 10));
    CHECK_OK(dfd_image_copy(&b, &a));
    dfd_augment_flip(&b);
    CHECK(!same_pixels(&a, &b));
    CHECK(memcmp(dfd_image_px(&b, 36, 5), dfd_image_px(&a, 0, 5), 3) == 0);
    CHECK(memcmp(dfd_image_px(&b, 18, 7), dfd_image_px(&a, 18, 7), 3) == 0); // middle column
    dfd_augment_flip(&b);
    CHECK(same_pixels(&a, &b));
    dfd_image_free(&a);
    dfd_image_free(&b);
}

static void test_geometry_exact_cases(void)
{
    dfd_image src, dst, ref;
    CHECK_OK(make_picture(&src, 40, 40, 8));
    CHECK_OK(dfd_image_alloc(&dst, 40, 40, 3));
    // Identity.
    CHECK_OK(dfd_augment_geometry(&dst, &src, 0, 1, 0, 0));
    CHECK(same_pixels(&dst, &src));
    // 90 degrees counter-clockwise is a 270-degree clockwise turn; 180 either way.
    CHECK_OK(dfd_augment_geometry(&dst, &src, 90, 1, 0, 0));
    CHECK_OK(dfd_image_rotate(&ref, &src, 270));
    CHECK(same_pixels(&dst, &ref));
    dfd_image_free(&ref);
    CHECK_OK(dfd_augment_geometry(&dst, &src, -180, 1, 0, 0));
    CHECK_OK(dfd_image_rotate(&ref, &src, 180));
    CHECK(same_pixels(&dst, &ref));
    dfd_image_free(&ref);
    // Shift by 3 pixels right and 2 up: dst(x, y) = src(x - 3, y + 2); black where uncovered.
    CHECK_OK(dfd_augment_geometry(&dst, &src, 0, 1, 3.0f / 40, -2.0f / 40));
    CHECK(memcmp(dfd_image_px(&dst, 10, 10), dfd_image_px(&src, 7, 12), 3) == 0);
    CHECK(memcmp(dfd_image_px(&dst, 39, 0), dfd_image_px(&src, 36, 2), 3) == 0);
    CHECK(dfd_image_px(&dst, 0, 20)[0] == 0 && dfd_image_px(&dst, 20, 39)[1] == 0);
    dfd_image_free(&src);

    // Zoom by 2 on a horizontal ramp v(x) = 2 x + 40 (x the continuous coordinate, so pixel i
    // holds 2 (i + 0.5) + 40 ~ 2 i + 41): output pixel i samples x = 20 + (i + 0.5 - 20) / 2.
    CHECK_OK(dfd_image_alloc(&src, 40, 40, 3));
    for (int y = 0; y < 40; y++) {
        for (int x = 0; x < 40; x++) {
            memset(dfd_image_px(&src, x, y), 2 * x + 41, 3);
        }
    }
    CHECK_OK(dfd_augment_geometry(&dst, &src, 0, 2, 0, 0));
    for (int i = 2; i < 38; i += 5) {
        double xs = 20 + (i + 0.5 - 20) / 2;
        CHECK_NEAR(dfd_image_px(&dst, i, 20)[0], 2 * xs + 40, 1.0);
    }
    CHECK_EQ_INT(dfd_augment_geometry(&dst, &src, 0, 0, 0, 0), DFD_ERR_INVALID);
    dfd_image_free(&src);
    dfd_image_free(&dst);
}

static void test_brightness_and_contrast(void)
{
    dfd_image a;
    CHECK_OK(make_picture(&a, 32, 32, 0)); // levels 30..220: no clamping at +-25
    double m0 = mean_level(&a), s0 = std_level(&a);
    dfd_augment_brightness(&a, 25);
    CHECK_NEAR(mean_level(&a), m0 + 25, 1e-9);
    dfd_augment_brightness(&a, -25);
    CHECK_NEAR(mean_level(&a), m0, 1e-9);
    dfd_augment_brightness(&a, 300); // clamps
    CHECK_NEAR(mean_level(&a), 255, 1e-9);
    dfd_image_free(&a);

    CHECK_OK(make_picture(&a, 32, 32, 0));
    dfd_augment_contrast(&a, 0.5f);
    CHECK_NEAR(mean_level(&a), m0, 0.5);
    CHECK_NEAR(std_level(&a), 0.5 * s0, 0.02 * s0);
    dfd_augment_contrast(&a, 1.0f); // the identity
    CHECK_NEAR(std_level(&a), 0.5 * s0, 0.02 * s0);
    dfd_image_free(&a);
}

static void test_noise_statistics(void)
{
    dfd_image a, b;
    CHECK_OK(dfd_image_alloc(&a, 64, 64, 3));
    memset(a.data, 128, a.stride * 64);
    CHECK_OK(dfd_image_copy(&b, &a));
    dfd_augment_noise(&a, 5, 11);
    CHECK_NEAR(mean_level(&a), 128, 0.2);
    CHECK_NEAR(std_level(&a), 5, 0.25); // rounding adds 1/12 of a level of variance
    dfd_augment_noise(&b, 5, 11);
    CHECK(same_pixels(&a, &b));
    memset(b.data, 128, b.stride * 64);
    dfd_augment_noise(&b, 5, 12);
    CHECK(!same_pixels(&a, &b));
    dfd_image_free(&a);
    dfd_image_free(&b);
}

static void test_blur_kernel_and_energy(void)
{
    // The response to an impulse of 200 is 200 k(dx) k(dy) with k the normalised Gaussian.
    const float sigma = 1.5f;
    double k[10], total = 0;
    for (int i = -5; i <= 5; i++) {
        total += exp(-(double)i * i / (2 * 1.5 * 1.5));
    }
    for (int i = 0; i <= 4; i++) {
        k[i] = exp(-(double)i * i / (2 * 1.5 * 1.5)) / total;
    }
    dfd_image a;
    CHECK_OK(dfd_image_alloc(&a, 31, 31, 3));
    memset(dfd_image_px(&a, 15, 15), 200, 3);
    CHECK_OK(dfd_augment_blur(&a, sigma));
    CHECK_NEAR(dfd_image_px(&a, 15, 15)[0], 200 * k[0] * k[0], 0.5 + 1e-6);
    CHECK_NEAR(dfd_image_px(&a, 16, 15)[1], 200 * k[1] * k[0], 0.5 + 1e-6);
    CHECK_NEAR(dfd_image_px(&a, 17, 14)[2], 200 * k[2] * k[1], 0.5 + 1e-6);
    CHECK_NEAR(mean_level(&a) * 31 * 31, 200, 12); // mass kept, up to rounding
    // A constant image is unchanged, edges included.
    memset(a.data, 77, a.stride * 31);
    CHECK_OK(dfd_augment_blur(&a, 2.0f));
    CHECK(dfd_image_px(&a, 0, 0)[0] == 77 && dfd_image_px(&a, 30, 30)[2] == 77);
    CHECK_NEAR(mean_level(&a), 77, 1e-9);
    dfd_image_free(&a);
    // Texture loses most of its high-frequency energy.
    CHECK_OK(make_picture(&a, 48, 48, 20));
    double e0 = hf_energy(&a);
    CHECK_OK(dfd_augment_blur(&a, 1.0f));
    CHECK(hf_energy(&a) < 0.3 * e0);
    dfd_image_free(&a);
}

static void test_jpeg_quality(void)
{
    dfd_image src, hi, lo;
    CHECK_OK(make_picture(&src, 64, 48, 12));
    CHECK_OK(dfd_image_copy(&hi, &src));
    CHECK_OK(dfd_image_copy(&lo, &src));
    dfd_error err;
    CHECK_OK(dfd_augment_jpeg(&hi, 95, &err));
    CHECK_OK(dfd_augment_jpeg(&lo, 10, &err));
    CHECK(hi.w == 64 && hi.h == 48 && lo.w == 64 && lo.h == 48);
    double e_hi = mean_abs_diff(&src, &hi), e_lo = mean_abs_diff(&src, &lo);
    fprintf(stderr, "    JPEG MAE: %.2f at quality 95, %.2f at 10\n", e_hi, e_lo);
    CHECK(e_hi > 0 && e_hi < 4);
    CHECK(e_lo > e_hi + 2 && e_lo < 20);
    CHECK_NEAR(mean_level(&lo), mean_level(&src), 2);
    CHECK(hf_energy(&lo) < hf_energy(&src)); // the texture is quantised away
    CHECK_EQ_INT(dfd_augment_jpeg(&lo, 0, &err), DFD_ERR_INVALID);
    dfd_image_free(&src);
    dfd_image_free(&hi);
    dfd_image_free(&lo);
}

static bool params_equal(const dfd_augment_params *a, const dfd_augment_params *b)
{
    return a->flip == b->flip && a->angle_deg == b->angle_deg && a->scale == b->scale &&
           a->shift_x == b->shift_x && a->shift_y == b->shift_y && a->brightness == b->brightness &&
           a->contrast == b->contrast && a->blur_sigma == b->blur_sigma &&
           a->noise_sigma == b->noise_sigma && a->noise_seed == b->noise_seed &&
           a->jpeg_quality == b->jpeg_quality && a->h264_crf == b->h264_crf;
}

static void test_sampling_ranges(void)
{
    dfd_augment_opts o = dfd_augment_opts_default();
    size_t flips = 0, jpegs = 0, h264s = 0;
    for (uint64_t seed = 0; seed < 400; seed++) {
        dfd_augment_params p, q;
        dfd_augment_sample(&p, &o, seed);
        dfd_augment_sample(&q, &o, seed);
        CHECK(params_equal(&p, &q));
        CHECK(fabsf(p.angle_deg) <= o.max_rotate_deg);
        CHECK(fabsf(p.scale - 1) <= o.max_scale + 1e-6f);
        CHECK(fabsf(p.shift_x) <= o.max_shift && fabsf(p.shift_y) <= o.max_shift);
        CHECK(fabsf(p.brightness) <= o.max_brightness);
        CHECK(fabsf(p.contrast - 1) <= o.max_contrast + 1e-6f);
        CHECK(p.blur_sigma == 0 || (p.blur_sigma >= 0.3f && p.blur_sigma <= o.max_blur_sigma));
        CHECK(p.jpeg_quality == 0 ||
              (p.jpeg_quality >= o.jpeg_quality_min && p.jpeg_quality <= o.jpeg_quality_max));
        CHECK(p.h264_crf == -1 || (p.h264_crf >= o.h264_crf_min && p.h264_crf <= o.h264_crf_max));
        flips += p.flip;
        jpegs += p.jpeg_quality > 0;
        h264s += p.h264_crf >= 0;
    }
    CHECK(flips > 160 && flips < 240); // p = 0.5
    CHECK(jpegs > 80 && jpegs < 160);  // p = 0.3
    CHECK(h264s > 80 && h264s < 160);
    // Everything off gives the neutral parameters.
    dfd_augment_opts none = dfd_augment_opts_none();
    dfd_augment_params p, id = dfd_augment_params_identity();
    dfd_augment_sample(&p, &none, 5);
    p.noise_seed = id.noise_seed;
    CHECK(params_equal(&p, &id));
}

static void test_pipeline_reproducible_and_consistent(void)
{
    // Four identical frames, every op on.
    dfd_image in[4], a[4], b[4], c[4];
    for (int i = 0; i < 4; i++) {
        CHECK_OK(make_picture(&in[i], 48, 48, 6));
    }
    dfd_augment_opts o = dfd_augment_opts_default();
    o.p_flip = o.p_blur = o.p_noise = o.p_jpeg = o.p_h264 = 1;
    dfd_augment_params p;
    dfd_augment_sample(&p, &o, 2024);
    dfd_error err;
    CHECK_OK(dfd_augment_apply(a, in, 4, &p, &err));
    CHECK_OK(dfd_augment_apply(b, in, 4, &p, &err));
    for (int i = 0; i < 4; i++) {
        CHECK(a[i].w == 48 && a[i].h == 48 && a[i].c == 3);
        CHECK(same_pixels(&a[i], &b[i]));
        CHECK(!same_pixels(&a[i], &in[i]));
        dfd_image_free(&b[i]);
    }
    // Another seed, another result.
    dfd_augment_sample(&p, &o, 2025);
    CHECK_OK(dfd_augment_apply(b, in, 4, &p, &err));
    CHECK(!same_pixels(&a[0], &b[0]));
    // Without noise and H.264 (the only ops that differ per frame or couple frames), identical
    // frames stay identical: the geometry and colour are the same for the whole sequence.
    p.noise_sigma = 0;
    p.h264_crf = -1;
    CHECK_OK(dfd_augment_apply(c, in, 4, &p, &err));
    for (int i = 1; i < 4; i++) {
        CHECK(same_pixels(&c[0], &c[i]));
    }
    // The neutral parameters copy the input.
    dfd_augment_params id = dfd_augment_params_identity();
    for (int i = 0; i < 4; i++) {
        dfd_image_free(&c[i]);
    }
    CHECK_OK(dfd_augment_apply(c, in, 4, &id, &err));
    CHECK(same_pixels(&c[2], &in[2]));
    // Invalid requests leave nothing allocated.
    id.scale = 0;
    for (int i = 0; i < 4; i++) {
        dfd_image_free(&c[i]);
    }
    CHECK_EQ_INT(dfd_augment_apply(c, in, 4, &id, &err), DFD_ERR_INVALID);
    CHECK(c[0].data == NULL);
    for (int i = 0; i < 4; i++) {
        dfd_image_free(&in[i]);
        dfd_image_free(&a[i]);
        dfd_image_free(&b[i]);
    }
}

DFD_TEST_MAIN({ "flip", test_flip }, { "geometry_exact_cases", test_geometry_exact_cases },
              { "brightness_and_contrast", test_brightness_and_contrast },
              { "noise_statistics", test_noise_statistics },
              { "blur_kernel_and_energy", test_blur_kernel_and_energy },
              { "jpeg_quality", test_jpeg_quality }, { "sampling_ranges", test_sampling_ranges },
              { "pipeline_reproducible_and_consistent", test_pipeline_reproducible_and_consistent })
