// train/head_train: training the head on a tiny generated dataset (astronaut portraits, half with a
// colour-shifted, smeared face region labelled FAKE) writes a model that loads and scans, one CSV
// row per epoch, stops within the patience after the best validation loss, and the same seed with
// one thread gives the same model bytes.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfdetect/data/dataset.h"
#include "dfdetect/data/split.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/detect/scan.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/train/head_train.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "test.h"

#define N_PER_LABEL 6

static char g_dir[64];
static char g_models[1024];

// Variant k of the portrait: brightness and a shift differ per k; fakes get the face region's
// channels rotated and smeared horizontally (a visible, learnable manipulation).
static bool make_image(const dfd_image *src, const char *path, int k, bool fake)
{
    dfd_image im;
    if (dfd_image_alloc(&im, src->w, src->h, 3)) {
        return false;
    }
    int dx = (k % 3) * 4 - 4, dy = (k / 3) * 4 - 4;
    float gain = 0.85f + 0.05f * (float)k;
    for (int y = 0; y < im.h; y++) {
        for (int x = 0; x < im.w; x++) {
            int sx = x + dx < 0 ? 0 : (x + dx >= src->w ? src->w - 1 : x + dx);
            int sy = y + dy < 0 ? 0 : (y + dy >= src->h ? src->h - 1 : y + dy);
            const uint8_t *s = src->data + (size_t)sy * src->stride + (size_t)sx * 3;
            uint8_t *d = im.data + (size_t)y * im.stride + (size_t)x * 3;
            for (int c = 0; c < 3; c++) {
                float v = (float)s[c] * gain;
                d[c] = (uint8_t)(v > 255.f ? 255.f : v);
            }
        }
    }
    if (fake) {
        int x0 = im.w * 3 / 10, x1 = im.w * 6 / 10, y0 = im.h / 8, y1 = im.h * 9 / 20;
        for (int y = y0; y < y1; y++) {
            uint8_t *row = im.data + (size_t)y * im.stride;
            for (int x = x1 - 1; x >= x0 + 6; x--) {
                uint8_t *d = row + (size_t)x * 3;
                const uint8_t *s = row + (size_t)(x - 6) * 3;
                uint8_t r = d[0];
                d[0] = (uint8_t)((d[2] + s[1]) / 2);
                d[1] = (uint8_t)((r + s[2]) / 2);
                d[2] = (uint8_t)((d[1] + s[0]) / 2);
            }
        }
    }
    dfd_status st = dfd_png_write(path, &im, NULL);
    dfd_image_free(&im);
    return st == DFD_OK;
}

static bool make_dataset(void)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    char path[1200];
    snprintf(g_models, sizeof g_models, "%s/models", src ? src : ".");
    snprintf(path, sizeof path, "%s/assets/astronaut.png", src ? src : ".");
    dfd_image a;
    if (dfd_image_read(&a, path, NULL)) {
        return false;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/dfd_test_head_train_XXXXXX");
    bool ok = mkdtemp(g_dir) != NULL;
    for (int f = 0; ok && f < 2; f++) {
        snprintf(path, sizeof path, "%s/data/%s", g_dir, f ? "fake" : "real");
        ok = dfd_mkdir_p(path, NULL) == DFD_OK;
        for (int k = 0; ok && k < N_PER_LABEL; k++) {
            snprintf(path, sizeof path, "%s/data/%s/%s%d.png", g_dir, f ? "fake" : "real",
                     f ? "f" : "r", k);
            ok = make_image(&a, path, k, f == 1);
        }
    }
    dfd_image_free(&a);
    return ok;
}

static dfd_head_train_opts opts_for(const char *cache)
{
    static char c[128];
    snprintf(c, sizeof c, "%s/%s", g_dir, cache);
    dfd_head_train_opts o = dfd_head_train_opts_default();
    o.frames = 4;
    o.epochs = 40;
    o.batch = 4;
    o.lr = 3e-3f;
    o.val_split = 0.34;
    o.patience = 3;
    o.seed = 7;
    o.n_threads = 1;
    o.cache_dir = c;
    o.models_dir = g_models;
    return o;
}

static char *slurp(const char *path, size_t *n)
{
    void *d = NULL;
    if (dfd_file_read_all(&d, n, path, 1u << 26, NULL)) {
        return NULL;
    }
    return d;
}

// Whether two files hold the same bytes.
static bool same_bytes(const char *p1, const char *p2)
{
    size_t n1 = 0, n2 = 0;
    char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    bool same = b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0;
    dfd_free(b1);
    dfd_free(b2);
    return same;
}

// The CSV: header, then one row per epoch numbered 1..n; returns the rows' val losses.
static int check_csv(const char *path, double *val_loss, int cap)
{
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) {
        return -1;
    }
    char line[512];
    CHECK(fgets(line, sizeof line, f) != NULL);
    CHECK(strcmp(line, "epoch,train_loss,val_loss,val_calibrated_loss,val_auc,val_accuracy\n") ==
          0);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        int ep;
        double tl, vl, cl, auc, acc;
        CHECK(sscanf(line, "%d,%lf,%lf,%lf,%lf,%lf", &ep, &tl, &vl, &cl, &auc, &acc) == 6);
        CHECK(cl <= vl + 1e-6 || !(cl == cl)); // a fitted temperature never loses to T = 1
        CHECK(ep == n + 1);
        CHECK(acc >= 0 && acc <= 1);
        if (n < cap) {
            val_loss[n] = vl;
        }
        n++;
    }
    fclose(f);
    return n;
}

// The generated dataset (make_dataset) as a folders dataset.
static bool load_data(dfd_dataset *ds)
{
    char data[128];
    snprintf(data, sizeof data, "%s/data", g_dir);
    return dfd_dataset_load(ds, data, NULL, NULL) == DFD_OK;
}

static void test_train_and_scan(void)
{
    char out[256], out2[256], csv[300], png[300];
    snprintf(out, sizeof out, "%s/m1.safetensors", g_dir);
    snprintf(out2, sizeof out2, "%s/m2.safetensors", g_dir);
    dfd_dataset ds;
    dfd_error err;
    REQUIRE(load_data(&ds));
    CHECK(ds.n == 2 * N_PER_LABEL);

    dfd_head_train_opts o = opts_for("cache");
    dfd_head_train_result r;
    dfd_status st = dfd_head_train(&r, &ds, out, &o, &err);
    if (st) {
        fprintf(stderr, "%s\n", err.msg);
    }
    REQUIRE(st == DFD_OK);
    CHECK(r.n_train + r.n_val + r.n_skipped == ds.n);
    CHECK(r.n_val >= 2 && r.n_train >= 6);
    CHECK(r.epochs_run >= 1 && r.epochs_run <= o.epochs);
    CHECK(r.best_epoch >= 1 && r.best_epoch <= r.epochs_run);
    // Early stopping: training ran to the end or stopped exactly `patience` epochs after the best.
    CHECK(r.epochs_run == o.epochs || r.epochs_run - r.best_epoch == o.patience);
    // The best epoch has the lowest calibrated validation loss of all (what early stopping
    // keeps; the raw loss may be lower elsewhere), and what was learnt beats chance on the
    // training set's own loss (log 2 is a constant guess; frame loss weighs 0.5).
    for (int i = 0; i < r.epochs_run; i++) {
        CHECK(r.history[i].val_calibrated_loss >= r.best.val_calibrated_loss);
    }
    CHECK_NEAR(r.history[r.best_epoch - 1].val_calibrated_loss, r.best.val_calibrated_loss, 1e-12);
    CHECK(r.history[r.best_epoch - 1].train_loss < 1.5 * log(2.0));
    CHECK(r.temperature >= 0.05f && r.temperature <= 100.f);

    snprintf(csv, sizeof csv, "%s.metrics.csv", out);
    snprintf(png, sizeof png, "%s.curves.png", out);
    double vl[64];
    int rows = check_csv(csv, vl, 64);
    CHECK(rows == r.epochs_run);
    for (int i = 0; i < rows && i < 64; i++) {
        CHECK_NEAR(vl[i], r.history[i].val_loss, 1e-5);
        // The kept epoch is the one with the lowest calibrated validation loss.
        CHECK(r.history[r.best_epoch - 1].val_calibrated_loss <= r.history[i].val_calibrated_loss);
    }
    dfd_image chart;
    REQUIRE(dfd_image_read(&chart, png, &err) == DFD_OK);
    CHECK(chart.w == 640 && chart.h == 480);
    dfd_image_free(&chart);

    // The model loads with the training's settings and scans a file.
    dfd_detector_model *m = NULL;
    REQUIRE(dfd_detector_model_load(&m, out, &err) == DFD_OK);
    CHECK(!m->backbone_tuned);
    CHECK(m->prep.frames == 4);
    CHECK_NEAR(m->temperature, r.temperature, 1e-6);
    CHECK(strlen(m->backbone_sha256) == 64);
    dfd_face_models *faces = NULL;
    dfd_graph *bb = NULL;
    char path[1200];
    REQUIRE(dfd_face_models_load(&faces, g_models, &err) == DFD_OK);
    REQUIRE(dfd_model_path(path, sizeof path, g_models, DFD_ROLE_BACKBONE, &err) == DFD_OK);
    REQUIRE(dfd_tfjs_load(&bb, path, &err) == DFD_OK);
    dfd_scan_opts so = dfd_scan_opts_default();
    so.n_threads = 1;
    dfd_scanner *sc = NULL;
    REQUIRE(dfd_scanner_create(&sc, m, faces, bb, &so, &err) == DFD_OK);
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/data/%s/%s0.png", g_dir, f ? "fake" : "real",
                 f ? "f" : "r");
        dfd_scan_result sr;
        CHECK(dfd_scan_file(&sr, sc, path, &err) == DFD_OK);
        CHECK(sr.verdict == DFD_SCAN_REAL || sr.verdict == DFD_SCAN_FAKE);
        CHECK(isfinite(sr.probability) && sr.probability >= 0 && sr.probability <= 1);
        dfd_scan_result_free(&sr);
    }
    dfd_scanner_free(sc);
    dfd_graph_free(bb);
    dfd_face_models_free(faces);
    dfd_detector_model_free(m);

    // Same seed, one thread, a cold cache elsewhere: the same bytes.
    dfd_head_train_opts o2 = opts_for("cache2");
    dfd_head_train_result r2;
    REQUIRE(dfd_head_train(&r2, &ds, out2, &o2, &err) == DFD_OK);
    CHECK(r2.epochs_run == r.epochs_run && r2.best_epoch == r.best_epoch);
    CHECK(same_bytes(out, out2));
    dfd_head_train_result_free(&r2);

    // BiLSTM: the file says so and loads.
    dfd_head_train_opts o3 = opts_for("cache");
    o3.arch = "bilstm";
    o3.epochs = 2;
    REQUIRE(dfd_head_train(&r2, &ds, out2, &o3, &err) == DFD_OK);
    CHECK(r2.epochs_run == 2);
    dfd_head_train_result_free(&r2);
    REQUIRE(dfd_detector_model_load(&m, out2, &err) == DFD_OK);
    CHECK(strcmp(dfd_head_arch_name(dfd_head_opts_of(m->head)), "bilstm") == 0);
    CHECK(strcmp(m->name, "dfdetect-head-bilstm") == 0 && strcmp(m->version, "1") == 0);
    dfd_detector_model_free(m);
    // A name and version of one's own are written as given; empty or too long ones refused.
    o3.name = "my-detector";
    o3.version = "2026.12-b";
    REQUIRE(dfd_head_train(&r2, &ds, out2, &o3, &err) == DFD_OK);
    dfd_head_train_result_free(&r2);
    REQUIRE(dfd_detector_model_load(&m, out2, &err) == DFD_OK);
    CHECK(strcmp(m->name, "my-detector") == 0 && strcmp(m->version, "2026.12-b") == 0);
    dfd_detector_model_free(m);
    o3.version = "";
    CHECK(dfd_head_train(&r2, &ds, out2, &o3, &err) == DFD_ERR_INVALID);
    dfd_head_train_result_free(&r2);
    o3.version = "0123456789012345678901234567890123456789";
    CHECK(dfd_head_train(&r2, &ds, out2, &o3, &err) == DFD_ERR_INVALID);
    dfd_head_train_result_free(&r2);

    // A held-out fold: exactly the k-fold's fold is left out of training and validation, and
    // the model file records it for `dfdetect eval --holdout`.
    dfd_head_train_opts o4 = opts_for("cache");
    o4.epochs = 2;
    o4.cv_folds = 3;
    o4.cv_fold = 1;
    REQUIRE(dfd_head_train(&r2, &ds, out2, &o4, &err) == DFD_OK);
    int fold[2 * N_PER_LABEL];
    REQUIRE(ds.n <= 2 * N_PER_LABEL);
    REQUIRE(dfd_split_kfold(fold, &ds, 3, o4.seed, &err) == DFD_OK);
    size_t n_fold = 0;
    for (size_t i = 0; i < ds.n; i++) {
        n_fold += fold[i] == 1;
    }
    CHECK(n_fold > 0 && r2.n_heldout == n_fold);
    CHECK(r2.n_train + r2.n_val + r2.n_skipped + r2.n_heldout == ds.n);
    dfd_head_train_result_free(&r2);
    size_t n1 = 0;
    char *b1 = slurp(out2, &n1);
    REQUIRE(b1);
    b1[n1 - 1] = '\0';
    CHECK(n1 > 8 && strstr(b1 + 8, "holdout") && strstr(b1 + 8, "folds")); // after the length
    dfd_free(b1);
    o4.cv_fold = 3;
    CHECK(dfd_head_train(&r2, &ds, out2, &o4, &err) == DFD_ERR_INVALID);
    dfd_head_train_result_free(&r2);

    // Balance: items of the smaller dataset (here: marked as part 1) are repeated in each epoch,
    // (n_max / n_p) ^ balance times; without it every training item is seen once.
    CHECK(r.n_epoch == r.n_train);
    int side[2 * N_PER_LABEL];
    REQUIRE(dfd_split_holdout(side, &ds, o.val_split, 0, 0, o.seed, &err) == DFD_OK);
    size_t n_part[2] = { 0, 0 };
    for (size_t i = 0; i < ds.n; i++) {
        ds.items[i].part = i % 4 == 0; // a quarter of the items
        n_part[ds.items[i].part] += side[i] == 0;
    }
    REQUIRE(n_part[1] > 0 && n_part[0] > n_part[1]);
    dfd_head_train_opts o5 = opts_for("cache");
    o5.epochs = 1;
    o5.balance = 1;
    REQUIRE(dfd_head_train(&r2, &ds, out2, &o5, &err) == DFD_OK);
    size_t reps = (size_t)lround((double)n_part[0] / (double)n_part[1]);
    CHECK(r2.n_train == n_part[0] + n_part[1]);
    CHECK_EQ_INT(r2.n_epoch, n_part[0] + (reps < 2 ? 1 : reps) * n_part[1]);
    dfd_head_train_result_free(&r2);
    for (size_t i = 0; i < ds.n; i++) {
        ds.items[i].part = 0;
    }

    // Bad options are refused.
    o2.epochs = 0;
    CHECK(dfd_head_train(&r2, &ds, out2, &o2, &err) == DFD_ERR_INVALID);
    dfd_head_train_result_free(&r2);
    dfd_head_train_result_free(&r);
    dfd_dataset_free(&ds);
}

// Resume: a run stopped after 3 epochs and resumed to 6 gives the same epochs and the same
// model bytes as a run of 6; a checkpoint of other settings, a finished run asked for fewer
// epochs, a missing and a damaged checkpoint are refused in one line.
static void test_resume(void)
{
    char full[256], part[256], ckpt[300];
    snprintf(full, sizeof full, "%s/full.safetensors", g_dir);
    snprintf(part, sizeof part, "%s/part.safetensors", g_dir);
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", part);
    dfd_dataset ds;
    dfd_error err;
    REQUIRE(load_data(&ds));
    dfd_head_train_opts o = opts_for("cache");
    o.epochs = 6;
    o.patience = 100;
    dfd_head_train_result a, b, c;
    REQUIRE(dfd_head_train(&a, &ds, full, &o, &err) == DFD_OK);
    o.epochs = 3;
    REQUIRE(dfd_head_train(&b, &ds, part, &o, &err) == DFD_OK);
    CHECK(b.epochs_run == 3);
    struct stat sb;
    CHECK(stat(ckpt, &sb) == 0 && sb.st_size > 0);
    o.epochs = 6;
    o.resume = true;
    dfd_status st = dfd_head_train(&c, &ds, part, &o, &err);
    if (st) {
        fprintf(stderr, "%s\n", err.msg);
    }
    REQUIRE(st == DFD_OK);
    CHECK(c.epochs_run == 6 && c.best_epoch == a.best_epoch);
    for (int i = 0; i < 6 && i < a.epochs_run; i++) {
        CHECK(c.history[i].epoch == i + 1);
        if (c.history[i].train_loss != a.history[i].train_loss) {
            printf("epoch %d: train loss %.17g resumed, %.17g whole\n", i + 1,
                   c.history[i].train_loss, a.history[i].train_loss);
        }
        CHECK(c.history[i].train_loss == a.history[i].train_loss);
        CHECK(c.history[i].val_calibrated_loss == a.history[i].val_calibrated_loss);
    }
    CHECK(same_bytes(full, part));
    dfd_head_train_result_free(&b);
    dfd_head_train_result_free(&c);

    o.epochs = 4; // 6 are done
    CHECK(dfd_head_train(&c, &ds, part, &o, &err) == DFD_ERR_INVALID);
    printf("fewer epochs: %s\n", err.msg);
    CHECK(strstr(err.msg, ckpt) && strstr(err.msg, "6 epochs"));
    dfd_head_train_result_free(&c);
    o.epochs = 8;
    o.lr = 1e-3f; // another run's settings
    CHECK(dfd_head_train(&c, &ds, part, &o, &err) == DFD_ERR_INVALID);
    printf("other settings: %s\n", err.msg);
    CHECK(strstr(err.msg, "other settings") != NULL && strchr(err.msg, '\n') == NULL);
    dfd_head_train_result_free(&c);
    o = opts_for("cache");
    o.resume = true;
    snprintf(part, sizeof part, "%s/none.safetensors", g_dir);
    CHECK(dfd_head_train(&c, &ds, part, &o, &err) == DFD_ERR_NOT_FOUND);
    dfd_head_train_result_free(&c);
    CHECK(truncate(ckpt, sb.st_size / 2) == 0);
    snprintf(part, sizeof part, "%s/part.safetensors", g_dir);
    st = dfd_head_train(&c, &ds, part, &o, &err);
    printf("damaged: %s\n", err.msg);
    CHECK(st == DFD_ERR_FORMAT && strstr(err.msg, ckpt) != NULL);
    dfd_head_train_result_free(&c);
    o.backbone_epochs = 1; // stage 1 is not checkpointed
    CHECK(dfd_head_train(&c, &ds, part, &o, &err) == DFD_ERR_INVALID);
    dfd_head_train_result_free(&c);
    dfd_head_train_result_free(&a);
    dfd_dataset_free(&ds);
}

static void test_head_train(void)
{
    char probe[1100];
    const char *src = getenv("DFD_SOURCE_DIR");
    snprintf(probe, sizeof probe, "%s/models/faceres.bin", src ? src : ".");
    if (access(probe, R_OK) != 0) {
        TEST_SKIP("models/ not fetched (scripts/setup.sh)");
    }
    REQUIRE(make_dataset());
    test_train_and_scan();
    test_resume();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    CHECK(system(cmd) == 0);
}

DFD_TEST_MAIN({ "head_train", test_head_train })
