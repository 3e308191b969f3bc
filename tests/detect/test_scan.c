// detect/scan: a scan's probabilities are the model's head on the backbone's embeddings of the
// face crops, calibrated by the model's temperatures (recomputed here independently); files
// without a face are NO_FACE, bad files an error naming them, images one frame.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/detect/backbone.h"
#include "dfdetect/detect/scan.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"
#include "test.h"

typedef struct env {
    dfd_detector_model *model;
    dfd_face_models *faces;
    dfd_graph *backbone;
    char dir[64];
} env;

static const char *fixture(const char *name)
{
    static char buf[4][1024];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", getenv("DFD_FIXTURES"), name);
    return p;
}

// A random detector (head of default sizes) saved and loaded back, as a user's file would be.
// REQUIRE for a function returning bool.
#define ENV_REQUIRE(x)    \
    do {                  \
        if (!(x)) {       \
            CHECK(x);     \
            return false; \
        }                 \
    } while (0)

static bool env_open(env *e, bool tuned)
{
    memset(e, 0, sizeof *e);
    const char *src = getenv("DFD_SOURCE_DIR");
    char models[1024], path[1100];
    snprintf(models, sizeof models, "%s/models", src ? src : ".");
    dfd_error err;
    if (dfd_face_models_load(&e->faces, models, &err) ||
        dfd_model_path(path, sizeof path, models, DFD_ROLE_BACKBONE, &err) ||
        dfd_tfjs_load(&e->backbone, path, &err)) {
        dfd_face_models_free(e->faces);
        return false;
    }
    dfd_detector_model m = { 0 };
    dfd_head_opts o = dfd_head_opts_default();
    o.seed = 11;
    ENV_REQUIRE(dfd_head_create(&m.head, &o, &err) == DFD_OK);
    float *mean = calloc(DFD_BACKBONE_DIM, sizeof *mean), *std = malloc(DFD_BACKBONE_DIM * 4);
    ENV_REQUIRE(mean && std);
    for (int i = 0; i < DFD_BACKBONE_DIM; i++) {
        std[i] = 0.5f;
    }
    dfd_head_set_norm(m.head, mean, std);
    free(mean);
    free(std);
    m.prep = dfd_detector_prep_default();
    m.prep.frames = 6;
    m.prep.sampling.kind = DFD_SAMPLING_UNIFORM;
    m.temperature = 1.7f;
    m.frame_temperature = 2.5f;
    m.threshold = 0.5f;
    m.backbone_tuned = tuned;
    memset(m.backbone_sha256, 'b', 64);
    snprintf(m.name, sizeof m.name, "scan-test");
    snprintf(m.version, sizeof m.version, "0.1");
    snprintf(e->dir, sizeof e->dir, "/tmp/dfd_test_scan_XXXXXX");
    ENV_REQUIRE(mkdtemp(e->dir));
    snprintf(path, sizeof path, "%s/model.safetensors", e->dir);
    ENV_REQUIRE(dfd_detector_model_save(path, &m, NULL, 0, NULL, &err) == DFD_OK);
    dfd_head_free(m.head);
    ENV_REQUIRE(dfd_detector_model_load(&e->model, path, &err) == DFD_OK);
    unlink(path);
    rmdir(e->dir);
    return true;
}

static void env_close(env *e)
{
    dfd_detector_model_free(e->model);
    dfd_face_models_free(e->faces);
    dfd_graph_free(e->backbone);
}

// The environment and a scanner with default options; false when the models are absent.
static bool env_scanner(env *e, dfd_scanner **s)
{
    if (!env_open(e, false)) {
        return false;
    }
    dfd_error err;
    ENV_REQUIRE(dfd_scanner_create(s, e->model, e->faces, e->backbone, NULL, &err) == DFD_OK);
    return true;
}

static float sig(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

// The faces of a clip, found as the scanner should: the model's frames, sampling, crop size.
static void reference_faces(dfd_face_result *r, const env *e, const char *path)
{
    dfd_error err;
    dfd_video *v;
    dfd_frame_set set;
    REQUIRE(dfd_video_open(&v, path, NULL, &err) == DFD_OK);
    REQUIRE(dfd_video_sample(&set, v, &e->model->prep.sampling, (size_t)e->model->prep.frames, NULL,
                             NULL, &err) == DFD_OK);
    dfd_video_close(v);
    dfd_face_opts fo = dfd_face_opts_default();
    fo.crop_size = e->model->prep.crop_size;
    fo.margin = e->model->prep.margin;
    dfd_face_engine *eng;
    REQUIRE(dfd_face_engine_create(&eng, e->faces, &fo, &err) == DFD_OK);
    REQUIRE(dfd_faces_extract(r, eng, &set, &err) == DFD_OK);
    dfd_face_engine_free(eng);
    dfd_frame_set_free(&set);
}

static void test_scan_matches_the_networks(void)
{
    env e;
    dfd_scanner *s;
    if (!env_scanner(&e, &s)) {
        TEST_SKIP("face models or faceres absent (scripts/setup.sh fetches them)");
    }
    dfd_error err;
    dfd_scan_result r;
    const char *clip = fixture("astronaut_pan.mp4");
    CHECK_OK(dfd_scan_file(&r, s, clip, &err));
    CHECK(r.verdict == DFD_SCAN_REAL || r.verdict == DFD_SCAN_FAKE);
    CHECK(r.n_frames == 6);
    REQUIRE(r.n_ids >= 1);
    CHECK(r.probability >= 0 && r.probability <= 1);
    CHECK((r.verdict == DFD_SCAN_FAKE) == (r.probability >= 0.5f));
    float best = 0;
    for (size_t i = 0; i < r.n_ids; i++) {
        best = fmaxf(best, r.ids[i].probability);
    }
    CHECK_NEAR(r.probability, best, 1e-7);
    CHECK(r.seconds.total > 0 && r.seconds.backbone > 0 && r.seconds.decode > 0);

    // Independently: the same crops through a fresh backbone and the model's own head.
    dfd_face_result fr;
    reference_faces(&fr, &e, clip);
    REQUIRE(fr.outcome == DFD_FACES_FOUND && fr.n_ids == r.n_ids);
    dfd_backbone *b;
    REQUIRE(dfd_backbone_create(&b, e.backbone, 4, 0, &err) == DFD_OK);
    for (size_t i = 0; i < fr.n_ids; i++) {
        const dfd_face_identity *id = &fr.ids[i];
        REQUIRE(id->n == r.ids[i].n);
        dfd_image *crops = malloc(id->n * sizeof *crops);
        float *feats = malloc(id->n * DFD_BACKBONE_DIM * sizeof *feats);
        float *fl = malloc(id->n * sizeof *fl);
        REQUIRE(crops && feats && fl);
        for (size_t k = 0; k < id->n; k++) {
            crops[k] = id->obs[k].crop;
        }
        CHECK_OK(dfd_backbone_embed(feats, b, crops, id->n, &err));
        float seq;
        int len = (int)id->n;
        CHECK_OK(dfd_head_forward(e.model->head, fl, &seq, feats, &len, 1, len, 0, &err));
        CHECK_NEAR(r.ids[i].probability, sig(seq / 1.7f), 1e-5);
        CHECK_NEAR(r.ids[i].seq_logit, seq, 1e-4);
        for (size_t k = 0; k < id->n; k++) {
            const dfd_scan_face *f = &r.ids[i].faces[k];
            CHECK_NEAR(f->probability, sig(fl[k] / 2.5f), 1e-5);
            CHECK(f->frame_index == id->obs[k].frame_index);
            CHECK_NEAR(f->box[0], id->obs[k].det.x0, 1e-4);
            CHECK_NEAR(f->box[3], id->obs[k].det.y1, 1e-4);
            CHECK(f->box[2] > f->box[0] && f->box[3] > f->box[1]);
        }
        free(crops);
        free(feats);
        free(fl);
    }
    dfd_backbone_free(b);
    dfd_face_result_free(&fr);

    // A second scan with the same scanner gives the same answer; a threshold moves the verdict.
    float p = r.probability;
    dfd_scan_result_free(&r);
    CHECK_OK(dfd_scan_file(&r, s, clip, &err));
    CHECK_NEAR(r.probability, p, 1e-6);
    dfd_scan_result_free(&r);
    dfd_scanner_free(s);
    dfd_scan_opts o = dfd_scan_opts_default();
    o.threshold = p > 0.5f ? 0.99f * p : fminf(1.0f, p + 0.01f);
    o.frames = 4;
    REQUIRE(dfd_scanner_create(&s, e.model, e.faces, e.backbone, &o, &err) == DFD_OK);
    CHECK_OK(dfd_scan_file(&r, s, clip, &err));
    CHECK(r.n_frames == 4);
    CHECK(r.verdict == (r.probability >= o.threshold ? DFD_SCAN_FAKE : DFD_SCAN_REAL));
    dfd_scan_result_free(&r);
    dfd_scanner_free(s);
    env_close(&e);
}

static void test_no_face_errors_and_images(void)
{
    env e;
    dfd_scanner *s;
    if (!env_scanner(&e, &s)) {
        TEST_SKIP("face models or faceres absent (scripts/setup.sh fetches them)");
    }
    dfd_error err;
    dfd_scan_result r;
    CHECK_OK(dfd_scan_file(&r, s, fixture("small_faststart.mp4"), &err)); // testsrc2
    CHECK(r.verdict == DFD_SCAN_NO_FACE);
    CHECK(r.n_ids == 0 && r.reason[0]);
    CHECK(isnan(r.probability));
    dfd_scan_result_free(&r);

    const char *bad = fixture("text.mp4");
    CHECK(dfd_scan_file(&r, s, bad, &err) != DFD_OK);
    CHECK(r.verdict == DFD_SCAN_ERROR);
    CHECK(strstr(r.error, bad) != NULL);
    CHECK(strstr(err.msg, bad) != NULL);
    dfd_scan_result_free(&r);

    char png[1024];
    snprintf(png, sizeof png, "%s/assets/astronaut.png", getenv("DFD_SOURCE_DIR"));
    CHECK(dfd_scan_is_image(png) && !dfd_scan_is_image("a.mp4") && dfd_scan_is_image("B.JPG"));
    CHECK_OK(dfd_scan_file(&r, s, png, &err));
    CHECK(r.verdict == DFD_SCAN_REAL || r.verdict == DFD_SCAN_FAKE);
    CHECK(r.n_frames == 1);
    REQUIRE(r.n_ids == 1);
    CHECK(r.ids[0].n == 1 && r.ids[0].faces[0].frame_index == 0);
    CHECK_NEAR(r.probability, r.ids[0].probability, 1e-7);
    dfd_scan_result_free(&r);
    dfd_scanner_free(s);
    env_close(&e);
}

// A tight crop with no detectable face (here a colour ramp) is taken whole: its centre square
// at the crop size goes through the backbone and the head, and the result says so.
static void test_image_taken_whole(void)
{
    env e;
    dfd_scanner *s;
    if (!env_scanner(&e, &s)) {
        TEST_SKIP("face models or faceres absent (scripts/setup.sh fetches them)");
    }
    dfd_image img, square;
    REQUIRE(dfd_image_alloc(&img, 300, 200, 3) == DFD_OK);
    for (int y = 0; y < img.h; y++) {
        for (int x = 0; x < img.w; x++) {
            unsigned char *p = img.data + (size_t)y * img.stride + (size_t)x * 3;
            p[0] = (unsigned char)(x * 255 / 299);
            p[1] = (unsigned char)(y * 255 / 199);
            p[2] = 90;
        }
    }
    char dir[] = "/tmp/dfd_test_whole_XXXXXX", png[64];
    REQUIRE(mkdtemp(dir));
    snprintf(png, sizeof png, "%s/ramp.png", dir);
    dfd_error err;
    REQUIRE(dfd_png_write(png, &img, &err) == DFD_OK);
    dfd_scan_result r;
    CHECK_OK(dfd_scan_file(&r, s, png, &err));
    CHECK(r.whole_image);
    CHECK(r.verdict == DFD_SCAN_REAL || r.verdict == DFD_SCAN_FAKE);
    CHECK(strstr(r.reason, "whole") != NULL);
    REQUIRE(r.n_ids == 1 && r.ids[0].n == 1);
    CHECK_NEAR(r.ids[0].faces[0].box[0], 50, 0);
    CHECK_NEAR(r.ids[0].faces[0].box[2], 250, 0);
    // Independently: the centre 200 x 200 square at the crop size, backbone, head.
    dfd_image view = dfd_image_view(&img, 50, 0, 200, 200);
    REQUIRE(dfd_image_alloc(&square, e.model->prep.crop_size, e.model->prep.crop_size, 3) ==
            DFD_OK);
    REQUIRE(dfd_image_resize(&square, &view, DFD_RESIZE_AREA) == DFD_OK);
    dfd_backbone *b;
    REQUIRE(dfd_backbone_create(&b, e.backbone, 1, 0, &err) == DFD_OK);
    float feats[DFD_BACKBONE_DIM], fl, seq;
    int len = 1;
    CHECK_OK(dfd_backbone_embed(feats, b, &square, 1, &err));
    CHECK_OK(dfd_head_forward(e.model->head, &fl, &seq, feats, &len, 1, 1, 0, &err));
    CHECK_NEAR(r.probability, sig(seq / 1.7f), 1e-5);
    // With test-time mirroring the head sees the mean of the square's embedding and its mirror
    // image's (and the answer moves: the ramp is not symmetric).
    dfd_scan_opts mo = dfd_scan_opts_default();
    mo.mirror = true;
    dfd_scanner *sm;
    REQUIRE(dfd_scanner_create(&sm, e.model, e.faces, e.backbone, &mo, &err) == DFD_OK);
    dfd_scan_result rm;
    CHECK_OK(dfd_scan_file(&rm, sm, png, &err));
    dfd_image flipped;
    REQUIRE(dfd_image_copy(&flipped, &square) == DFD_OK);
    dfd_image_mirror(&flipped);
    CHECK(flipped.data[0] == square.data[(size_t)(square.w - 1) * 3]);
    float feats_m[DFD_BACKBONE_DIM], seq_m;
    CHECK_OK(dfd_backbone_embed(feats_m, b, &flipped, 1, &err));
    for (int i = 0; i < DFD_BACKBONE_DIM; i++) {
        feats_m[i] = 0.5f * (feats[i] + feats_m[i]);
    }
    CHECK_OK(dfd_head_forward(e.model->head, &fl, &seq_m, feats_m, &len, 1, 1, 0, &err));
    CHECK_NEAR(rm.probability, sig(seq_m / 1.7f), 1e-5);
    CHECK(fabsf(rm.probability - r.probability) > 1e-4f);
    CHECK(rm.mirrored && !r.mirrored);
    dfd_scan_result_free(&rm);
    dfd_scanner_free(sm);
    dfd_image_free(&flipped);
    dfd_backbone_free(b);
    dfd_scan_result_free(&r);
    // A model trained with images "detect" does not fall back: the ramp has no face.
    e.model->prep.images = DFD_IMAGE_FACES_DETECT;
    CHECK_OK(dfd_scan_file(&r, s, png, &err));
    CHECK(r.verdict == DFD_SCAN_NO_FACE && !r.whole_image && r.n_ids == 0);
    dfd_scan_result_free(&r);
    // One trained with images "whole" takes even a detectable face whole: the astronaut's
    // centre square, never the face stage's crop.
    char astro[1024];
    snprintf(astro, sizeof astro, "%s/assets/astronaut.png", getenv("DFD_SOURCE_DIR"));
    e.model->prep.images = DFD_IMAGE_FACES_WHOLE;
    CHECK_OK(dfd_scan_file(&r, s, astro, &err));
    CHECK(r.whole_image && r.n_ids == 1 && r.ids[0].n == 1);
    CHECK(strstr(r.reason, "whole") != NULL);
    CHECK_NEAR(r.ids[0].faces[0].box[0], 0, 0);
    CHECK_NEAR(r.ids[0].faces[0].box[2], 512, 0); // the portrait is 512 x 512
    dfd_scan_result_free(&r);
    // One trained with images "auto" runs the face stage on the portrait (its face spans a
    // fifth of it) but takes a face crop of it whole (the face spans 0.6 of the crop).
    e.model->prep.images = DFD_IMAGE_FACES_AUTO;
    CHECK_OK(dfd_scan_file(&r, s, astro, &err));
    CHECK(!r.whole_image && r.n_ids == 1);
    REQUIRE(r.n_ids == 1 && r.ids[0].n == 1);
    const float *fb = r.ids[0].faces[0].box;
    const float fw = fb[2] - fb[0], side = 1.6f * fw;
    CHECK(fw > 0.15f * 512 && fw < 0.3f * 512);
    dfd_image astro_img, face_crop;
    REQUIRE(dfd_image_read(&astro_img, astro, &err) == DFD_OK);
    face_crop = dfd_image_view(&astro_img, (int)((fb[0] + fb[2] - side) / 2),
                               (int)((fb[1] + fb[3] - side) / 2), (int)side, (int)side);
    snprintf(png, sizeof png, "%s/face.png", dir);
    REQUIRE(dfd_png_write(png, &face_crop, &err) == DFD_OK);
    dfd_scan_result_free(&r);
    CHECK_OK(dfd_scan_file(&r, s, png, &err));
    CHECK(r.whole_image && r.n_ids == 1);
    CHECK(strstr(r.reason, "a face crop: its face spans") != NULL);
    // The same crop under detect_or_whole: the face stage's crop, not the whole image.
    e.model->prep.images = DFD_IMAGE_FACES_DETECT_OR_WHOLE;
    dfd_scan_result_free(&r);
    CHECK_OK(dfd_scan_file(&r, s, png, &err));
    CHECK(!r.whole_image && r.n_ids == 1);
    unlink(png);
    snprintf(png, sizeof png, "%s/ramp.png", dir);
    dfd_image_free(&astro_img);
    dfd_image_free(&square);
    dfd_image_free(&img);
    dfd_scan_result_free(&r);
    unlink(png);
    rmdir(dir);
    dfd_scanner_free(s);
    env_close(&e);
}

DFD_TEST_MAIN({ "scan_matches_the_networks", test_scan_matches_the_networks },
              { "no_face_errors_and_images", test_no_face_errors_and_images },
              { "image_taken_whole", test_image_taken_whole })
