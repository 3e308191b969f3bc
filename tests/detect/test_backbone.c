// detect/backbone: the preprocessing every crop goes through (channel order, means, resizing)
// and batched embeddings that do not depend on the batch they ran in.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/detect/backbone.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"
#include "test.h"

#define S DFD_BACKBONE_SIZE

static void fill(dfd_image *im, unsigned char r, unsigned char g, unsigned char b)
{
    for (int y = 0; y < im->h; y++) {
        unsigned char *p = im->data + (size_t)y * im->stride;
        for (int x = 0; x < im->w; x++, p += 3) {
            p[0] = r;
            p[1] = g;
            p[2] = b;
        }
    }
}

static void test_input_bgr_minus_means(void)
{
    float *dst = malloc((size_t)S * S * 3 * sizeof *dst);
    REQUIRE(dst);
    // A pure red crop at the network size, then a uniform crop of another size (resized).
    dfd_image im;
    REQUIRE(dfd_image_alloc(&im, S, S, 3) == DFD_OK);
    fill(&im, 255, 0, 0);
    CHECK_OK(dfd_backbone_input(dst, &im));
    for (size_t i = 0; i < (size_t)S * S; i += 997) {
        CHECK_NEAR(dst[3 * i + 0], -103.939, 1e-4); // B
        CHECK_NEAR(dst[3 * i + 1], -116.779, 1e-4); // G
        CHECK_NEAR(dst[3 * i + 2], 255 - 123.68, 1e-4);
    }
    dfd_image_free(&im);
    REQUIRE(dfd_image_alloc(&im, 300, 180, 3) == DFD_OK);
    fill(&im, 10, 20, 30);
    CHECK_OK(dfd_backbone_input(dst, &im));
    for (size_t i = 0; i < (size_t)S * S; i += 991) {
        CHECK_NEAR(dst[3 * i + 0], 30 - 103.939, 1e-4);
        CHECK_NEAR(dst[3 * i + 1], 20 - 116.779, 1e-4);
        CHECK_NEAR(dst[3 * i + 2], 10 - 123.68, 1e-4);
    }
    dfd_image_free(&im);
    // A left/right gradient keeps its orientation: column x of the input is column x here.
    REQUIRE(dfd_image_alloc(&im, S, S, 3) == DFD_OK);
    for (int y = 0; y < S; y++) {
        for (int x = 0; x < S; x++) {
            unsigned char *p = im.data + (size_t)y * im.stride + (size_t)x * 3;
            p[0] = p[1] = p[2] = (unsigned char)x;
        }
    }
    CHECK_OK(dfd_backbone_input(dst, &im));
    CHECK_NEAR(dst[(5 * S + 200) * 3 + 2], 200 - 123.68, 1e-4);
    dfd_image_free(&im);
    dfd_image gray;
    REQUIRE(dfd_image_alloc(&gray, 8, 8, 1) == DFD_OK);
    CHECK(dfd_backbone_input(dst, &gray) == DFD_ERR_INVALID);
    dfd_image_free(&gray);
    free(dst);
}

static dfd_graph *load_role(dfd_model_role role)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/models", src ? src : ".");
    dfd_error err;
    dfd_graph *g = NULL;
    if (dfd_model_path(path, sizeof path, dir, role, &err) != DFD_OK ||
        dfd_tfjs_load(&g, path, &err) != DFD_OK) {
        return NULL;
    }
    return g;
}

static void test_embed_batches_agree(void)
{
    dfd_graph *g = load_role(DFD_ROLE_BACKBONE);
    const char *src = getenv("DFD_SOURCE_DIR");
    char png[1024];
    snprintf(png, sizeof png, "%s/assets/astronaut.png", src ? src : ".");
    dfd_error err;
    dfd_image astro;
    if (!g || dfd_image_read(&astro, png, &err) != DFD_OK) {
        dfd_graph_free(g);
        TEST_SKIP("faceres or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    // Five different crops around the face, embedded in batches of 2 (a short last batch) and
    // one at a time.
    enum {
        N = 5
    };
    dfd_image crops[N];
    for (int k = 0; k < N; k++) {
        REQUIRE(dfd_image_crop(&crops[k], &astro, 150 + 8 * k, 50 + 4 * k, 150 - 6 * k, 150 - 6 * k,
                               NULL) == DFD_OK);
    }
    float *a = malloc(N * DFD_BACKBONE_DIM * sizeof *a);
    float *b = malloc(N * DFD_BACKBONE_DIM * sizeof *b);
    REQUIRE(a && b);
    dfd_backbone *b2, *b1;
    CHECK_OK(dfd_backbone_create(&b2, g, 2, 1, &err));
    CHECK_OK(dfd_backbone_create(&b1, g, 1, 1, &err));
    CHECK_OK(dfd_backbone_embed(a, b2, crops, N, &err));
    for (int k = 0; k < N; k++) {
        CHECK_OK(dfd_backbone_embed(b + k * DFD_BACKBONE_DIM, b1, &crops[k], 1, &err));
    }
    double worst = 0, nonzero = 0, lo = 1e9, hi = -1e9, diff01 = 0;
    for (int i = 0; i < N * DFD_BACKBONE_DIM; i++) {
        worst = fmax(worst, fabs((double)a[i] - (double)b[i]) / (1e-3 + fabs((double)b[i])));
        nonzero += a[i] != 0;
        lo = fmin(lo, (double)a[i]);
        hi = fmax(hi, (double)a[i]);
    }
    for (int i = 0; i < DFD_BACKBONE_DIM; i++) {
        diff01 += fabs((double)a[i] - (double)a[DFD_BACKBONE_DIM + i]);
    }
    CHECK(worst < 1e-4);
    // A batch-8 backbone: five crops run as one short batch, one crop alone on the batch-1 path
    // (a short remainder runs item by item); both agree with batch 1.
    dfd_backbone *b8;
    float *c = malloc(N * DFD_BACKBONE_DIM * sizeof *c);
    REQUIRE(c);
    CHECK_OK(dfd_backbone_create(&b8, g, 8, 1, &err));
    CHECK_OK(dfd_backbone_embed(c, b8, crops, N, &err));
    double worst8 = 0;
    for (int i = 0; i < N * DFD_BACKBONE_DIM; i++) {
        worst8 = fmax(worst8, fabs((double)c[i] - (double)b[i]) / (1e-3 + fabs((double)b[i])));
    }
    CHECK_OK(dfd_backbone_embed(c, b8, &crops[3], 1, &err));
    for (int i = 0; i < DFD_BACKBONE_DIM; i++) {
        double r = (double)b[3 * DFD_BACKBONE_DIM + i];
        worst8 = fmax(worst8, fabs((double)c[i] - r) / (1e-3 + fabs(r)));
    }
    CHECK(worst8 < 1e-4);
    dfd_backbone_free(b8);
    free(c);
    // The mean of ReLU6 maps: in [0, 6], and a real face lights up much of it (with inputs in
    // [0, 1) instead of 0..255 it is almost all zeros).
    CHECK(lo >= 0 && hi <= 6);
    CHECK(nonzero > 0.3 * N * DFD_BACKBONE_DIM);
    CHECK(diff01 > 1); // different crops, different embeddings
    dfd_backbone_free(b1);
    dfd_backbone_free(b2);
    for (int k = 0; k < N; k++) {
        dfd_image_free(&crops[k]);
    }
    free(a);
    free(b);
    dfd_image_free(&astro);
    dfd_graph_free(g);
}

static void test_wrong_model(void)
{
    dfd_graph *g = load_role(DFD_ROLE_DETECTOR);
    if (!g) {
        TEST_SKIP("blazeface absent (scripts/setup.sh fetches it)");
    }
    dfd_backbone *b;
    dfd_error err;
    CHECK(dfd_backbone_create(&b, g, 4, 1, &err) == DFD_ERR_FORMAT);
    CHECK(b == NULL);
    CHECK(strstr(err.msg, "faceres") != NULL);
    dfd_graph_free(g);
}

DFD_TEST_MAIN({ "input_bgr_minus_means", test_input_bgr_minus_means },
              { "embed_batches_agree", test_embed_batches_agree },
              { "wrong_model", test_wrong_model })
