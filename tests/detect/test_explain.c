// detect/explain: Grad-CAM against a hand-computed map on a tiny graph (only one region drives
// the target, so the map peaks there), the colour map and blending, and on the detector: the
// explainer recomputes the scan's frame logits, and dfd_explain_write publishes a folder of
// heatmaps (crop-sized PNGs), a contact sheet and a timeline, and nothing for a NO_FACE result.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfdetect/detect/backbone.h"
#include "dfdetect/detect/explain.h"
#include "dfdetect/detect/scan.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/util/dirs.h"
#include "explain_test_util.h"
#include "test.h"

// ---- Grad-CAM on a tiny graph ----

// x [N, 3, 3, 2] -> 1x1 conv, relu -> "fmap" [N, 3, 3, 2] -> global mean -> "emb" [N, 2], with
// fmap_0 = relu(x_0), fmap_1 = relu(0.5 x_1).
static void tiny_graph(dfd_graph **out)
{
    dfd_graph *g;
    *out = NULL;
    REQUIRE(dfd_graph_create(&g) == DFD_OK);
    int xs[4] = { DFD_BATCH, 3, 3, 2 }, x, f, e;
    REQUIRE(dfd_graph_add_value(g, "x", 4, xs, &x) == DFD_OK);
    REQUIRE(dfd_graph_add_input(g, x) == DFD_OK);
    REQUIRE(dfd_graph_add_value(g, "fmap", 0, NULL, &f) == DFD_OK);
    REQUIRE(dfd_graph_add_value(g, "emb", 0, NULL, &e) == DFD_OK);
    dfd_node *n;
    REQUIRE(dfd_graph_add_node(g, DFD_OP_CONV2D, "conv", &x, 1, f, &n) == DFD_OK);
    n->a.conv.win = (dfd_window){ 1, 1, 1, 1, 1, 1, DFD_PAD_VALID, { 0, 0, 0, 0 } };
    n->a.conv.groups = 1;
    n->act.kind = DFD_ACT_RELU;
    int ws[4] = { 1, 1, 2, 2 };
    REQUIRE(dfd_tensor_alloc(&n->weight, 4, ws) == DFD_OK);
    const float w[4] = { 1.0f, 0.0f, 0.0f, 0.5f }; // [ic][oc]
    memcpy(n->weight.data, w, sizeof w);
    REQUIRE(dfd_graph_add_node(g, DFD_OP_MEAN, "pool", &f, 1, e, &n) == DFD_OK);
    REQUIRE(dfd_graph_add_output(g, e, NULL, 0) == DFD_OK);
    dfd_finalize_opts fo = { .fuse = true, .fuse_dwpw = false };
    REQUIRE(dfd_graph_finalize(g, &fo, "tiny", NULL) == DFD_OK);
    *out = g;
}

static void grad_cam_matches_the_hand_computed_map(void)
{
    dfd_graph *g;
    tiny_graph(&g);
    REQUIRE(g);
    dfd_cam *c;
    CHECK_OK(dfd_cam_create(&c, g, "emb", 2, 1, NULL));
    int gh, gw, ch, shape[4];
    dfd_cam_grid(c, &gh, &gw, &ch);
    CHECK(gh == 3 && gw == 3 && ch == 2);
    CHECK_EQ_INT(dfd_cam_input_shape(c, shape), 3);
    CHECK(shape[0] == 3 && shape[1] == 3 && shape[2] == 2);
    // Channel 0 is 4 at grid cell (row 2, col 1) only, channel 1 is 1 everywhere:
    // fmap_0 = 4 there, 0 elsewhere; fmap_1 = 0.5 everywhere; emb = (4/9, 0.5).
    float x[18] = { 0 };
    for (int p = 0; p < 9; p++) {
        x[p * 2 + 1] = 1.0f;
    }
    x[(2 * 3 + 1) * 2] = 4.0f;
    const float *emb;
    float cam[9];
    CHECK_OK(dfd_cam_forward(c, &emb, x, 1, NULL));
    CHECK_NEAR(emb[0], 4.0 / 9, 1e-6);
    CHECK_NEAR(emb[1], 0.5, 1e-6);
    // Target = emb_0: dfmap_0 = 1/9 everywhere, so alpha = (1/9, 0) and the CAM is fmap_0 / 9:
    // 4/9 at the one cell that drives the target, 0 elsewhere.
    const float d1[2] = { 1.0f, 0.0f };
    CHECK_OK(dfd_cam_backward(cam, c, d1, NULL));
    for (int p = 0; p < 9; p++) {
        CHECK_NEAR(cam[p], p == 7 ? 4.0 / 9 : 0.0, 1e-6);
    }
    // Target = emb_0 + 2 emb_1: alpha = (1/9, 2/9); CAM = (fmap_0 + 2 fmap_1) / 9.
    const float d2[2] = { 1.0f, 2.0f };
    CHECK_OK(dfd_cam_backward(cam, c, d2, NULL));
    for (int p = 0; p < 9; p++) {
        CHECK_NEAR(cam[p], p == 7 ? 5.0 / 9 : 1.0 / 9, 1e-6);
    }
    // Evidence against the target everywhere: the ReLU leaves nothing.
    const float d3[2] = { -1.0f, -0.5f };
    CHECK_OK(dfd_cam_backward(cam, c, d3, NULL));
    for (int p = 0; p < 9; p++) {
        CHECK(cam[p] == 0.0f);
    }
    // Two items at once, each its own map: the second one hot at (row 0, col 2) instead.
    float x2[36];
    memcpy(x2, x, sizeof x);
    memcpy(x2 + 18, x, sizeof x);
    x2[18 + (2 * 3 + 1) * 2] = 0.0f;
    x2[18 + 2 * 2] = 9.0f;
    float cam2[18];
    const float dd[4] = { 1.0f, 0.0f, 1.0f, 0.0f };
    CHECK_OK(dfd_cam_forward(c, &emb, x2, 2, NULL));
    CHECK_NEAR(emb[2], 1.0, 1e-6);
    CHECK_OK(dfd_cam_backward(cam2, c, dd, NULL));
    for (int p = 0; p < 9; p++) {
        CHECK_NEAR(cam2[p], p == 7 ? 4.0 / 9 : 0.0, 1e-6);
        CHECK_NEAR(cam2[9 + p], p == 2 ? 1.0 : 0.0, 1e-6);
    }
    CHECK(dfd_cam_forward(c, &emb, x2, 3, NULL) == DFD_ERR_INVALID); // beyond the batch
    dfd_cam_free(c);

    // Not a global mean: refused; unknown value: not found.
    dfd_error err;
    CHECK(dfd_cam_create(&c, g, "fmap", 1, 1, &err) == DFD_ERR_FORMAT);
    CHECK(c == NULL);
    CHECK(dfd_cam_create(&c, g, "nothing", 1, 1, &err) == DFD_ERR_NOT_FOUND);
    dfd_graph_free(g);
}

static void cam_colours_and_blending(void)
{
    uint8_t rgb[3];
    dfd_cam_color(rgb, 0.0f); // dark blue
    CHECK(rgb[0] == 0 && rgb[1] == 0 && rgb[2] == 128);
    dfd_cam_color(rgb, 0.5f); // green
    CHECK(rgb[0] == 128 && rgb[1] == 255 && rgb[2] == 128);
    dfd_cam_color(rgb, 1.0f); // dark red
    CHECK(rgb[0] == 128 && rgb[1] == 0 && rgb[2] == 0);
    dfd_cam_color(rgb, 7.0f); // clamped
    CHECK(rgb[0] == 128 && rgb[1] == 0 && rgb[2] == 0);

    // A grey 4x4 crop under a 2x2 CAM hot in its bottom-right cell: pixel (3, 3) is over that
    // cell's centre side (clamped: v = 1), pixel (0, 0) over a cold cell (v = 0).
    dfd_image crop = { 0 }, out = { 0 };
    REQUIRE(dfd_image_alloc(&crop, 4, 4, 3) == DFD_OK);
    memset(crop.data, 100, crop.stride * 4);
    const float cam[4] = { 0, 0, 0, 3.0f };
    CHECK_OK(dfd_cam_overlay(&out, &crop, cam, 2, 2, 0.45f));
    REQUIRE(out.w == 4 && out.h == 4 && out.c == 3);
    const uint8_t *hot = dfd_image_px(&out, 3, 3), *cold = dfd_image_px(&out, 0, 0);
    // 0.55 * 100 + 0.45 * 128 = 112.6; 0.55 * 100 = 55.
    CHECK(hot[0] == 113 && hot[1] == 55 && hot[2] == 55);
    CHECK(cold[0] == 55 && cold[1] == 55 && cold[2] == 113);
    // Pixel (2, 2): grid (0.75, 0.75), v = 0.5625: between, greener than either corner.
    const uint8_t *mid = dfd_image_px(&out, 2, 2);
    CHECK(mid[1] > 55 + 50);
    dfd_image_free(&out);
    CHECK(dfd_cam_overlay(&out, &crop, cam, 2, 2, 1.5f) == DFD_ERR_INVALID);
    CHECK(dfd_cam_overlay(&out, &crop, cam, 0, 2, 0.5f) == DFD_ERR_INVALID);
    dfd_image_free(&crop);
}

// ---- the detector ----

typedef struct env {
    dfd_detector_model *model;
    dfd_face_models *faces;
    dfd_graph *backbone; // fuse, no DWPW: scanner and explainer share it
} env;

static void make_model(dfd_detector_model **out);

static bool env_open(env *e)
{
    memset(e, 0, sizeof *e);
    const char *src = getenv("DFD_SOURCE_DIR");
    char models[1024], path[1100];
    snprintf(models, sizeof models, "%s/models", src ? src : ".");
    dfd_finalize_opts fo = { .fuse = true, .fuse_dwpw = false };
    if (dfd_face_models_load(&e->faces, models, NULL) ||
        dfd_model_path(path, sizeof path, models, DFD_ROLE_BACKBONE, NULL) ||
        dfd_tfjs_load_opts(&e->backbone, path, &fo, NULL)) {
        dfd_face_models_free(e->faces);
        return false;
    }
    make_model(&e->model);
    return e->model != NULL;
}

// A test detector (4 uniform frames), saved and loaded back.
static void make_model(dfd_detector_model **out)
{
    char path[128], dir[] = "/tmp/dfd_test_explain_XXXXXX";
    *out = NULL;
    REQUIRE(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    explain_test_model(path, 4, NULL);
    REQUIRE(dfd_detector_model_load(out, path, NULL) == DFD_OK);
    unlink(path);
    rmdir(dir);
}

static void env_close(env *e)
{
    dfd_detector_model_free(e->model);
    dfd_face_models_free(e->faces);
    dfd_graph_free(e->backbone);
}

static void explainer_recomputes_the_scan_and_writes_its_folder(void)
{
    env e;
    if (!env_open(&e)) {
        TEST_SKIP("face models or faceres absent (scripts/setup.sh fetches them)");
    }
    dfd_scan_opts so = dfd_scan_opts_default();
    so.keep_crops = true;
    dfd_scanner *s;
    dfd_explainer *x;
    dfd_error err;
    REQUIRE(dfd_scanner_create(&s, e.model, e.faces, e.backbone, &so, &err) == DFD_OK);
    REQUIRE(dfd_explainer_create(&x, e.model, e.backbone, 0, &err) == DFD_OK);
    char clip[1024];
    snprintf(clip, sizeof clip, "%s/astronaut_pan.mp4", getenv("DFD_FIXTURES"));
    dfd_scan_result r;
    REQUIRE(dfd_scan_file(&r, s, clip, &err) == DFD_OK);
    REQUIRE(r.n_ids >= 1 && r.ids[0].n >= 1);
    int gh, gw;
    dfd_explainer_grid(x, &gh, &gw);
    CHECK(gh == 7 && gw == 7);
    // The explainer's forward is the scan's: the same frame logits (other kernels: rounding);
    // a face's map does not depend on the batch it ran in.
    const size_t n = r.ids[0].n;
    dfd_image crops[16];
    float cams[16 * 49], logits[16];
    REQUIRE(n <= 16);
    for (size_t k = 0; k < n; k++) {
        crops[k] = r.ids[0].faces[k].crop;
        REQUIRE(crops[k].w == e.model->prep.crop_size && crops[k].c == 3);
    }
    CHECK_OK(dfd_explain_faces(cams, logits, x, crops, n, &err));
    for (size_t k = 0; k < n; k++) {
        const float want = r.ids[0].faces[k].logit;
        CHECK_NEAR(logits[k], want, 2e-3 * (1 + fabs((double)want)));
        float one[49], top = 0;
        CHECK_OK(dfd_explain_faces(one, NULL, x, &crops[k], 1, &err));
        for (int p = 0; p < 49; p++) {
            top = fmaxf(top, one[p]);
        }
        CHECK(top > 0);
        for (int p = 0; p < 49; p++) {
            CHECK(cams[k * 49 + (size_t)p] >= 0 && isfinite(cams[k * 49 + (size_t)p]));
            CHECK_NEAR(cams[k * 49 + (size_t)p], one[p], 1e-3 * (double)top);
        }
    }

    // The folder: published whole, a heatmap per face at the crop's size, sheet and timeline.
    char dir[] = "/tmp/dfd_test_explain_XXXXXX", out[128], path[512];
    REQUIRE(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/clip", dir);
    dfd_explain_files files;
    CHECK_OK(dfd_explain_write(&files, x, &r, out, "clip", &err));
    REQUIRE(files.n_ids == r.n_ids);
    size_t n_faces = 0;
    for (size_t i = 0; i < r.n_ids; i++) {
        for (size_t k = 0; k < r.ids[i].n; k++, n_faces++) {
            const dfd_scan_face *f = &r.ids[i].faces[k];
            char want[96];
            snprintf(want, sizeof want, "id%zu_f%06lld_p%.3f.png", i, (long long)f->frame_index,
                     (double)f->probability);
            REQUIRE(files.heatmap[i][k]);
            CHECK(strcmp(files.heatmap[i][k], want) == 0);
            snprintf(path, sizeof path, "%s/%s", out, files.heatmap[i][k]);
            CHECK(is_png_of(path, f->crop.w, f->crop.h));
        }
    }
    snprintf(path, sizeof path, "%s/%s", out, files.timeline);
    CHECK(is_png_of(path, 800, 400));
    snprintf(path, sizeof path, "%s/%s", out, files.sheet);
    dfd_image sheet = { 0 };
    CHECK_OK(dfd_image_read(&sheet, path, NULL));
    CHECK(sheet.w > e.model->prep.crop_size);
    dfd_image_free(&sheet);
    char **names;
    size_t n_names;
    REQUIRE(dfd_dir_list_files(&names, &n_names, out, NULL) == DFD_OK);
    CHECK(n_names == n_faces + 2);
    dfd_dir_list_free(names, n_names);
    dfd_explain_files_free(&files);
    // Written again: the old folder is replaced, no temporary folder left beside it.
    CHECK_OK(dfd_explain_write(NULL, x, &r, out, NULL, &err));
    CHECK_EQ_INT(count_entries(dir), 1);
    CHECK_EQ_INT(count_entries(out), (int)n_faces + 2);

    // NO_FACE (and a scan without crops) writes nothing.
    dfd_scan_result_free(&r);
    snprintf(clip, sizeof clip, "%s/small_faststart.mp4", getenv("DFD_FIXTURES"));
    REQUIRE(dfd_scan_file(&r, s, clip, &err) == DFD_OK);
    CHECK(r.verdict == DFD_SCAN_NO_FACE);
    snprintf(path, sizeof path, "%s/noface", dir);
    CHECK(dfd_explain_write(&files, x, &r, path, NULL, &err) == DFD_ERR_INVALID);
    struct stat st;
    CHECK(stat(path, &st) != 0);
    dfd_scan_result_free(&r);
    dfd_remove_tree(dir, NULL);
    dfd_explainer_free(x);
    dfd_scanner_free(s);
    env_close(&e);
}

DFD_TEST_MAIN({ "grad_cam_matches_the_hand_computed_map", grad_cam_matches_the_hand_computed_map },
              { "cam_colours_and_blending", cam_colours_and_blending },
              { "explainer_recomputes_the_scan_and_writes_its_folder",
                explainer_recomputes_the_scan_and_writes_its_folder })
