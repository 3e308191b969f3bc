// train/backbone_train (stage 1) and detect/tuned: on tiny generated crops (the astronaut
// portrait, windows moved and brightened; FAKE ones with the face pixelated and tinted) fine-tuning
// lowers the training loss and separates the classes; parameters outside the tuned layers stay
// bit-identical; a model written with the tuned parameters loads back into a graph that gives the
// trained graph's embeddings; a model whose backbone_sha256 does not match the faceres file is
// refused with one line naming both files. Built twice: test_backbone_train (those, label unit)
// and test_backbone_stage (DFD_TEST_STAGE_INTEGRATION, label integration: dfd_head_train with
// stage 1 trains and validates on stage 2's split and writes a model that scans).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/data/split.h"
#include "dfdetect/detect/backbone.h"
#include "dfdetect/detect/head.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/detect/scan.h"
#include "dfdetect/detect/tuned.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/train/backbone_train.h"
#include "dfdetect/train/head_train.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/sha256.h"
#include "test.h"

#define N_ITEMS   8 // per label
#define N_CROPS   2 // per item
#define CROP_SIDE 112
#define TUNE      4

static char g_models[1024];
static char g_faceres[1200];

// Crop k of item i: a window of the portrait moved and brightened per (i, k), resized to
// CROP_SIDE. FAKE ones get an ellipse over the face pixelated in 4 x 4 blocks and tinted (a
// visible, learnable "swap" with a seam).
static bool make_crop(dfd_image *out, const dfd_image *src, int i, int k, bool fake)
{
    int side = src->w * 3 / 4, x0 = (i % 4) * 6 + k * 3 + src->w / 16, y0 = (i / 4) * 6;
    float gain = 0.8f + 0.03f * (float)i + 0.02f * (float)k;
    dfd_image win;
    if (dfd_image_alloc(&win, side, side, 3)) {
        return false;
    }
    for (int y = 0; y < side; y++) {
        const uint8_t *s = src->data + (size_t)(y + y0) * src->stride + (size_t)x0 * 3;
        uint8_t *d = win.data + (size_t)y * win.stride;
        for (int x = 0; x < 3 * side; x++) {
            float v = (float)s[x] * gain;
            d[x] = (uint8_t)(v > 255.f ? 255.f : v);
        }
    }
    bool ok = dfd_image_alloc(out, CROP_SIDE, CROP_SIDE, 3) == DFD_OK &&
              dfd_image_resize(out, &win, DFD_RESIZE_AREA) == DFD_OK;
    dfd_image_free(&win);
    for (int by = 0; ok && fake && by < CROP_SIDE; by += 4) {
        for (int bx = 0; bx < CROP_SIDE; bx += 4) {
            float ex = ((float)bx - 0.5f * CROP_SIDE) / (0.3f * CROP_SIDE);
            float ey = ((float)by - 0.4f * CROP_SIDE) / (0.35f * CROP_SIDE);
            if (ex * ex + ey * ey > 1.f) {
                continue;
            }
            for (int c = 0; c < 3; c++) {
                int sum = 0;
                for (int y = by; y < by + 4; y++) {
                    for (int x = bx; x < bx + 4; x++) {
                        sum += out->data[(size_t)y * out->stride + (size_t)x * 3 + (size_t)c];
                    }
                }
                int v = sum / 16 + (c == 0 ? 18 : -8);
                v = v < 0 ? 0 : (v > 255 ? 255 : v);
                for (int y = by; y < by + 4; y++) {
                    for (int x = bx; x < bx + 4; x++) {
                        out->data[(size_t)y * out->stride + (size_t)x * 3 + (size_t)c] = (uint8_t)v;
                    }
                }
            }
        }
    }
    return ok;
}

typedef struct data {
    dfd_image crops[2 * N_ITEMS][N_CROPS];
    dfd_backbone_train_item items[2 * N_ITEMS];
} data;

static bool make_data(data *d)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    char path[1200];
    snprintf(path, sizeof path, "%s/assets/astronaut.png", src ? src : ".");
    dfd_image a;
    if (dfd_image_read(&a, path, NULL)) {
        return false;
    }
    bool ok = true;
    memset(d, 0, sizeof *d);
    for (int i = 0; i < 2 * N_ITEMS; i++) {
        bool fake = i >= N_ITEMS;
        for (int k = 0; ok && k < N_CROPS; k++) {
            ok = make_crop(&d->crops[i][k], &a, i % N_ITEMS, k, fake);
        }
        d->items[i] =
            (dfd_backbone_train_item){ d->crops[i], N_CROPS, fake ? DFD_LABEL_FAKE : DFD_LABEL_REAL,
                                       i % N_ITEMS >= N_ITEMS - 3 };
    }
    dfd_image_free(&a);
    return ok;
}

static void free_data(data *d)
{
    for (int i = 0; i < 2 * N_ITEMS; i++) {
        for (int k = 0; k < N_CROPS; k++) {
            dfd_image_free(&d->crops[i][k]);
        }
    }
}

// Embeddings of the validation crops (all crops of every item) through graph g.
static bool embed(float *out, const dfd_graph *g, const data *d)
{
    dfd_backbone *b = NULL;
    bool ok = dfd_backbone_create(&b, g, 8, 2, NULL) == DFD_OK;
    for (int i = 0; ok && i < 2 * N_ITEMS; i++) {
        ok = dfd_backbone_embed(out + (size_t)i * N_CROPS * DFD_BACKBONE_DIM, b, d->crops[i],
                                N_CROPS, NULL) == DFD_OK;
    }
    dfd_backbone_free(b);
    return ok;
}

#ifndef DFD_TEST_STAGE_INTEGRATION // the unit tests

static dfd_graph *load_train_graph(void)
{
    dfd_finalize_opts fo = { .fuse = true, .fuse_dwpw = false };
    dfd_graph *g = NULL;
    dfd_error err;
    if (dfd_tfjs_load_opts(&g, g_faceres, &fo, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    return g;
}

// A copy of every parameter value of g, in the autograd session's order, with the trainable
// flags dfd_backbone_tune_select sets for TUNE layers.
typedef struct snapshot {
    float **v;
    bool *tuned;
    size_t *bytes;
    size_t n;
} snapshot;

static bool snap(snapshot *s, dfd_graph *g)
{
    dfd_autograd *a = NULL;
    if (dfd_autograd_create(&a, g, 1, NULL, NULL)) {
        return false;
    }
    dfd_backbone_tune_select(a, g, TUNE);
    s->n = dfd_autograd_n_params(a);
    dfd_param *const *p = dfd_autograd_params(a);
    s->v = dfd_calloc(s->n, sizeof *s->v);
    s->tuned = dfd_calloc(s->n, sizeof *s->tuned);
    s->bytes = dfd_calloc(s->n, sizeof *s->bytes);
    for (size_t i = 0; s->v && s->tuned && s->bytes && i < s->n; i++) {
        s->bytes[i] = dfd_param_numel(p[i]) * sizeof(float);
        s->v[i] = dfd_malloc(s->bytes[i]);
        memcpy(s->v[i], p[i]->value, s->bytes[i]);
        s->tuned[i] = !p[i]->frozen;
    }
    dfd_autograd_free(a);
    return s->v && s->tuned && s->bytes;
}

static void snap_free(snapshot *s)
{
    for (size_t i = 0; s->v && i < s->n; i++) {
        dfd_free(s->v[i]);
    }
    dfd_free(s->v);
    dfd_free(s->tuned);
    dfd_free(s->bytes);
}

static dfd_backbone_train_opts test_opts(void)
{
    dfd_backbone_train_opts o = dfd_backbone_train_opts_default();
    o.epochs = 2;
    o.batch = 8;
    o.lr = 3e-4f;
    o.head_lr = 3e-3f;
    o.tune_layers = TUNE;
    o.augment = false;
    o.patience = 2;
    o.n_threads = 2;
    o.probe_steps = 0; // the classifier learns with the backbone (test_linear_probe: with it)
    return o;
}

// faceres's age and gender heads, past the embedding (a 256-d "feats" layer, then the two).
static bool is_head(const char *name)
{
    return strncmp(name, "feats/", 6) == 0 || strstr(name, "age_pred") ||
           strstr(name, "gender_pred");
}

static void test_tune_select(void)
{
    dfd_graph *g = load_train_graph();
    REQUIRE(g != NULL);
    dfd_autograd *a = NULL;
    REQUIRE(dfd_autograd_create(&a, g, 1, NULL, NULL) == DFD_OK);
    size_t n = dfd_autograd_n_params(a), n_heads = 0;
    dfd_param *const *p = dfd_autograd_params(a);
    CHECK(dfd_backbone_tune_select(a, g, 0) == 0);
    // Everything: all but the age and gender heads past the embedding.
    size_t all = dfd_backbone_tune_select(a, g, 100000);
    for (size_t i = 0; i < n; i++) {
        CHECK(p[i]->frozen == is_head(p[i]->name));
        n_heads += is_head(p[i]->name);
    }
    CHECK(n_heads == 6 && all == n - n_heads);
    // Two layers: the parameters of exactly two nodes, the last ones before the embedding.
    size_t k2 = dfd_backbone_tune_select(a, g, 2);
    CHECK(k2 == 4); // weight and bias of conv_dw_13 and conv_pw_13
    size_t first = n;
    const char *owners[2] = { NULL, NULL };
    int n_owners = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i]->frozen) {
            continue;
        }
        first = i < first ? i : first;
        CHECK(!is_head(p[i]->name));
        size_t len = (size_t)(strrchr(p[i]->name, '/') - p[i]->name);
        bool seen = false;
        for (int k = 0; k < n_owners; k++) {
            seen |= strncmp(owners[k], p[i]->name, len) == 0 && owners[k][len] == '/';
        }
        if (!seen && n_owners < 2) {
            owners[n_owners] = p[i]->name;
        }
        n_owners += !seen;
    }
    CHECK(n_owners == 2);
    for (size_t i = first; i < n; i++) { // nothing trainable is left frozen past the first
        CHECK(!p[i]->frozen || is_head(p[i]->name));
    }
    CHECK(dfd_backbone_tune_select(a, g, 4) > k2);
    dfd_autograd_free(a);
    dfd_graph_free(g);
}

// Save a detector model with g's tuned parameters and the given backbone hash.
static dfd_status save_tuned(const char *path, dfd_graph *g, const char *sha)
{
    dfd_head_opts ho = dfd_head_opts_default();
    dfd_detector_model m;
    memset(&m, 0, sizeof m);
    dfd_status st = dfd_head_create(&m.head, &ho, NULL);
    if (st) {
        return st;
    }
    m.prep = dfd_detector_prep_default();
    m.temperature = m.frame_temperature = 1.f;
    m.threshold = 0.5f;
    m.backbone_tuned = true;
    snprintf(m.backbone_sha256, sizeof m.backbone_sha256, "%s", sha);
    snprintf(m.name, sizeof m.name, "test-tuned");
    snprintf(m.version, sizeof m.version, "1");
    dfd_autograd *a = NULL;
    dfd_param **sel = NULL;
    size_t k = 0;
    st = dfd_backbone_tuned_params(&a, &sel, &k, g, TUNE, NULL);
    if (!st) {
        st = dfd_detector_model_save(path, &m, sel, k, NULL, NULL);
    }
    dfd_free(sel);
    dfd_autograd_free(a);
    dfd_head_free(m.head);
    return st;
}

static void test_stage1_and_tuned_model(void)
{
    data *d = dfd_malloc(sizeof *d);
    REQUIRE(d != NULL);
    REQUIRE(make_data(d));
    dfd_graph *g = load_train_graph();
    REQUIRE(g != NULL);
    snapshot before;
    REQUIRE(snap(&before, g));
    size_t n_emb = (size_t)2 * N_ITEMS * N_CROPS * DFD_BACKBONE_DIM;
    float *e0 = dfd_malloc(n_emb * sizeof *e0), *e1 = dfd_malloc(n_emb * sizeof *e1);
    float *e2 = dfd_malloc(n_emb * sizeof *e2);
    REQUIRE(e0 && e1 && e2);
    REQUIRE(embed(e0, g, d));

    dfd_backbone_train_opts o = test_opts();
    dfd_backbone_train_result r;
    dfd_error err;
    dfd_status st = dfd_backbone_train(&r, g, d->items, 2 * N_ITEMS, &o, &err);
    if (st) {
        fprintf(stderr, "%s\n", err.msg);
    }
    REQUIRE(st == DFD_OK);
    CHECK(r.n_train == 2 * (N_ITEMS - 3) && r.n_val == 6 && r.n_val_crops == 6 * N_CROPS);
    CHECK(r.epochs_run == o.epochs);
    CHECK(r.n_tuned > 0 && r.n_tuned_values > 0);
    for (int e = 0; e < r.epochs_run; e++) {
        printf("epoch %d: train loss %.4f, val loss %.4f, val AUC %.3f, %.2f s\n", e + 1,
               r.history[e].train_loss, r.history[e].val_loss, r.history[e].val_auc,
               r.history[e].seconds);
    }
    // The loss falls and the classes separate (frame AUC on held-out items).
    CHECK(r.history[r.epochs_run - 1].train_loss < 0.7 * r.history[0].train_loss);
    CHECK(r.best.val_auc > 0.9);
    CHECK(r.best.val_loss < log(2.0));

    // Frozen parameters are bit-identical; the tuned ones moved.
    snapshot after;
    REQUIRE(snap(&after, g));
    REQUIRE(after.n == before.n);
    size_t moved = 0, frozen_same = 0, n_frozen = 0;
    for (size_t i = 0; i < before.n; i++) {
        bool same = memcmp(before.v[i], after.v[i], before.bytes[i]) == 0;
        if (before.tuned[i]) {
            moved += !same;
        } else {
            n_frozen++;
            frozen_same += same;
        }
    }
    CHECK(n_frozen > 0 && frozen_same == n_frozen);
    CHECK(moved == r.n_tuned);
    REQUIRE(embed(e1, g, d));
    double diff = 0;
    for (size_t i = 0; i < n_emb; i++) {
        diff += fabs((double)e1[i] - (double)e0[i]);
    }
    CHECK(diff > 0); // training changed the embeddings

    // A model file with the tuned parameters: the scan-side graph gives the same embeddings.
    uint8_t dig[DFD_SHA256_BYTES];
    char sha[DFD_SHA256_HEX_LEN + 1], path[64];
    REQUIRE(dfd_sha256_file(dig, NULL, g_faceres, NULL) == DFD_OK);
    dfd_sha256_hex(sha, dig);
    snprintf(path, sizeof path, "/tmp/dfd_test_stage1_%d.safetensors", (int)getpid());
    REQUIRE(save_tuned(path, g, sha) == DFD_OK);
    dfd_detector_model *m = NULL;
    REQUIRE(dfd_detector_model_load(&m, path, &err) == DFD_OK);
    CHECK(m->backbone_tuned);
    dfd_graph *g2 = NULL;
    st = dfd_backbone_load_for_model(&g2, m, g_faceres, &err);
    if (st) {
        fprintf(stderr, "%s\n", err.msg);
    }
    REQUIRE(st == DFD_OK);
    REQUIRE(embed(e2, g2, d));
    double max_rel = 0, max_rel_pre = 0, scale = 0;
    for (size_t i = 0; i < n_emb; i++) {
        scale = fmax(scale, fabs((double)e1[i]));
    }
    for (size_t i = 0; i < n_emb; i++) {
        max_rel = fmax(max_rel, fabs((double)e2[i] - (double)e1[i]) / scale);
        max_rel_pre = fmax(max_rel_pre, fabs((double)e0[i] - (double)e1[i]) / scale);
    }
    printf("tuned graph vs trained graph: max rel error %.3g (pretrained vs trained: %.3g)\n",
           max_rel, max_rel_pre);
    CHECK(max_rel < 1e-4);
    CHECK(max_rel_pre > 100 * max_rel + 1e-5);
    dfd_graph_free(g2);
    dfd_detector_model_free(m);

    // A model trained on another faceres file is refused, in one line naming both files.
    sha[0] = sha[0] == '0' ? '1' : '0';
    REQUIRE(save_tuned(path, g, sha) == DFD_OK);
    REQUIRE(dfd_detector_model_load(&m, path, &err) == DFD_OK);
    g2 = NULL;
    st = dfd_backbone_load_for_model(&g2, m, g_faceres, &err);
    CHECK(st == DFD_ERR_FORMAT && g2 == NULL);
    printf("mismatch: %s\n", err.msg);
    CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, g_faceres) != NULL);
    CHECK(strchr(err.msg, '\n') == NULL);
    dfd_detector_model_free(m);
    remove(path);

    dfd_backbone_train_result_free(&r);
    snap_free(&before);
    snap_free(&after);
    dfd_free(e0);
    dfd_free(e1);
    dfd_free(e2);
    dfd_graph_free(g);
    free_data(d);
    dfd_free(d);
}

// Linear probing first: the classifier is fitted on the frozen features before the backbone
// moves, so the classes already separate on the validation crops and the first epoch trains
// from a lower loss than the same run without it.
static void test_linear_probe(void)
{
    data *d = dfd_malloc(sizeof *d);
    REQUIRE(d != NULL);
    REQUIRE(make_data(d));
    dfd_backbone_train_opts o = test_opts();
    o.epochs = 1;
    dfd_backbone_train_result plain, probed;
    dfd_error err;
    dfd_graph *g = load_train_graph();
    REQUIRE(g != NULL);
    REQUIRE(dfd_backbone_train(&plain, g, d->items, 2 * N_ITEMS, &o, &err) == DFD_OK);
    dfd_graph_free(g);
    CHECK(plain.probe_best_step == 0);
    o.probe_steps = 200;
    g = load_train_graph();
    REQUIRE(g != NULL);
    dfd_status st = dfd_backbone_train(&probed, g, d->items, 2 * N_ITEMS, &o, &err);
    if (st) {
        fprintf(stderr, "%s\n", err.msg);
    }
    REQUIRE(st == DFD_OK);
    printf("probe: step %d, val loss %.4f, AUC %.3f; first epoch's train loss %.4f (without the "
           "probe %.4f)\n",
           probed.probe_best_step, probed.probe_val_loss, probed.probe_val_auc,
           probed.history[0].train_loss, plain.history[0].train_loss);
    CHECK(probed.probe_best_step > 0 && probed.probe_best_step <= o.probe_steps);
    CHECK(probed.probe_val_auc > 0.9);
    CHECK(probed.probe_val_loss < 0.5 * log(2.0));
    CHECK(probed.history[0].train_loss < 0.5 * plain.history[0].train_loss);
    dfd_graph_free(g);

    // Tuning that never beats the probe on validation is undone: a learning rate that wrecks the
    // features leaves best_epoch 0 and the backbone's weights exactly as they were.
    g = load_train_graph();
    REQUIRE(g != NULL);
    snapshot before, after;
    REQUIRE(snap(&before, g));
    dfd_backbone_train_result wrecked;
    o.lr = 5.f;
    REQUIRE(dfd_backbone_train(&wrecked, g, d->items, 2 * N_ITEMS, &o, &err) == DFD_OK);
    REQUIRE(snap(&after, g));
    printf("lr 5: the epoch's val loss %.3f against the probe's %.4f; best epoch %d\n",
           wrecked.history[0].val_loss, wrecked.probe_val_loss, wrecked.best_epoch);
    CHECK(wrecked.best_epoch == 0 && wrecked.epochs_run == 1);
    CHECK(wrecked.history[0].val_loss > wrecked.probe_val_loss);
    CHECK(wrecked.best.val_loss == wrecked.probe_val_loss);
    size_t same = 0;
    for (size_t i = 0; i < before.n; i++) {
        same += memcmp(before.v[i], after.v[i], before.bytes[i]) == 0;
    }
    CHECK(same == before.n);
    snap_free(&before);
    snap_free(&after);
    dfd_backbone_train_result_free(&wrecked);

    dfd_backbone_train_result_free(&plain);
    o.probe_lr = 0; // out of range
    CHECK(dfd_backbone_train(&plain, g, d->items, 2 * N_ITEMS, &o, &err) == DFD_ERR_INVALID);
    dfd_backbone_train_result_free(&plain);
    dfd_backbone_train_result_free(&probed);
    dfd_graph_free(g);
    free_data(d);
    dfd_free(d);
}

static void test_bad_inputs(void)
{
    data *d = dfd_malloc(sizeof *d);
    REQUIRE(d != NULL);
    REQUIRE(make_data(d));
    dfd_graph *g = load_train_graph();
    REQUIRE(g != NULL);
    dfd_backbone_train_opts o = test_opts();
    dfd_backbone_train_result r;
    dfd_error err;
    o.tune_layers = -1;
    CHECK(dfd_backbone_train(&r, g, d->items, 2 * N_ITEMS, &o, &err) == DFD_ERR_INVALID);
    dfd_backbone_train_result_free(&r);
    o = test_opts();
    for (int i = 0; i < 2 * N_ITEMS; i++) {
        d->items[i].part = i < N_ITEMS ? 1 : 0; // one label per side
    }
    CHECK(dfd_backbone_train(&r, g, d->items, 2 * N_ITEMS, &o, &err) == DFD_ERR_INVALID);
    CHECK(strstr(err.msg, "both labels") != NULL);
    dfd_backbone_train_result_free(&r);
    dfd_graph_free(g);
    free_data(d);
    dfd_free(d);
}

#else // the integration test

// `dfdetect train --backbone-epochs`: stage 1 runs on the split stage 2 uses, the model carries
// the tuned weights and scans with the graph dfd_backbone_load_for_model gives.
static void test_head_train_with_stage1(void)
{
    data *d = dfd_malloc(sizeof *d);
    REQUIRE(d != NULL);
    REQUIRE(make_data(d));
    char dir[64], path[256];
    snprintf(dir, sizeof dir, "/tmp/dfd_test_stage1_XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL);
    bool ok = true;
    for (int i = 0; ok && i < 2 * N_ITEMS; i++) {
        snprintf(path, sizeof path, "%s/data/%s", dir, i < N_ITEMS ? "real" : "fake");
        ok = dfd_mkdir_p(path, NULL) == DFD_OK;
        snprintf(path, sizeof path, "%s/data/%s/%d.png", dir, i < N_ITEMS ? "real" : "fake", i);
        ok = ok && dfd_png_write(path, &d->crops[i][0], NULL) == DFD_OK;
    }
    REQUIRE(ok);
    dfd_dataset ds;
    dfd_error err;
    snprintf(path, sizeof path, "%s/data", dir);
    REQUIRE(dfd_dataset_load(&ds, path, NULL, &err) == DFD_OK);
    char cache[128], out[128];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(out, sizeof out, "%s/m.safetensors", dir);
    dfd_head_train_opts o = dfd_head_train_opts_default();
    o.frames = 2;
    o.epochs = 3;
    o.batch = 4;
    o.val_split = 0.34;
    o.seed = 3;
    o.n_threads = 2;
    o.cache_dir = cache;
    o.models_dir = g_models;
    o.backbone_epochs = 2;
    o.tune_layers = 2;
    dfd_head_train_result r;
    dfd_status st = dfd_head_train(&r, &ds, out, &o, &err);
    if (st) {
        fprintf(stderr, "%s\n", err.msg);
    }
    REQUIRE(st == DFD_OK);
    // Stage 1 trained and validated on exactly stage 2's items: the split's own sides.
    int *part = dfd_malloc(ds.n * sizeof *part);
    REQUIRE(part && dfd_split_train_val(part, &ds, o.val_split, o.seed, NULL) == DFD_OK);
    size_t n_tr = 0;
    for (size_t i = 0; i < ds.n; i++) {
        n_tr += part[i] == 0;
    }
    dfd_free(part);
    CHECK(r.n_skipped == 0);
    CHECK(r.stage1.epochs_run >= 1 && r.stage1.epochs_run <= 2);
    CHECK(r.stage1.n_train == n_tr && r.n_train == n_tr);
    CHECK(r.stage1.n_val == ds.n - n_tr && r.n_val == ds.n - n_tr);
    CHECK(r.stage1.n_tuned > 0);
    for (int e = 0; e < r.stage1.epochs_run; e++) {
        printf("stage 1 epoch %d: train loss %.4f, val loss %.4f, val AUC %.3f\n", e + 1,
               r.stage1.history[e].train_loss, r.stage1.history[e].val_loss,
               r.stage1.history[e].val_auc);
    }

    // The model carries the tuned layers; the scanner runs on the graph made from it.
    dfd_detector_model *m = NULL;
    REQUIRE(dfd_detector_model_load(&m, out, &err) == DFD_OK);
    CHECK(m->backbone_tuned);
    dfd_graph *g = NULL, *pre = NULL;
    REQUIRE(dfd_backbone_load_for_model(&g, m, g_faceres, &err) == DFD_OK);
    REQUIRE(dfd_tfjs_load(&pre, g_faceres, &err) == DFD_OK);
    float *e0 = dfd_malloc((size_t)2 * N_ITEMS * N_CROPS * DFD_BACKBONE_DIM * sizeof *e0);
    float *e1 = dfd_malloc((size_t)2 * N_ITEMS * N_CROPS * DFD_BACKBONE_DIM * sizeof *e1);
    REQUIRE(e0 && e1 && embed(e0, pre, d) && embed(e1, g, d));
    CHECK(memcmp(e0, e1, (size_t)2 * N_ITEMS * N_CROPS * DFD_BACKBONE_DIM * sizeof *e0) != 0);
    dfd_face_models *faces = NULL;
    REQUIRE(dfd_face_models_load(&faces, g_models, &err) == DFD_OK);
    dfd_scan_opts so = dfd_scan_opts_default();
    so.n_threads = 1;
    dfd_scanner *sc = NULL;
    REQUIRE(dfd_scanner_create(&sc, m, faces, g, &so, &err) == DFD_OK);
    snprintf(path, sizeof path, "%s/data/fake/%d.png", dir, N_ITEMS);
    dfd_scan_result sr;
    CHECK(dfd_scan_file(&sr, sc, path, &err) == DFD_OK);
    CHECK(sr.verdict == DFD_SCAN_REAL || sr.verdict == DFD_SCAN_FAKE);
    dfd_scan_result_free(&sr);
    dfd_scanner_free(sc);
    dfd_face_models_free(faces);
    dfd_free(e0);
    dfd_free(e1);
    dfd_graph_free(g);
    dfd_graph_free(pre);
    dfd_detector_model_free(m);
    dfd_head_train_result_free(&r);
    dfd_dataset_free(&ds);
    free_data(d);
    dfd_free(d);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

#endif

// The models folder and faceres.json; false when they were not fetched.
static bool have_models(void)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    snprintf(g_models, sizeof g_models, "%s/models", src ? src : ".");
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/faceres.bin", g_models);
    return access(probe, R_OK) == 0 &&
           dfd_model_path(g_faceres, sizeof g_faceres, g_models, DFD_ROLE_BACKBONE, NULL) == DFD_OK;
}

#define NEED_MODELS()                                            \
    do {                                                         \
        if (!have_models()) {                                    \
            TEST_SKIP("models/ not fetched (scripts/setup.sh)"); \
        }                                                        \
    } while (0)

#ifdef DFD_TEST_STAGE_INTEGRATION // test_backbone_stage (label integration): the whole training
static void head_train_with_stage1(void)
{
    NEED_MODELS();
    test_head_train_with_stage1();
}

DFD_TEST_MAIN({ "head_train_with_stage1", head_train_with_stage1 })
#else
static void tune_select(void)
{
    NEED_MODELS();
    test_tune_select();
}

static void bad_inputs(void)
{
    NEED_MODELS();
    test_bad_inputs();
}

static void stage1_and_tuned_model(void)
{
    NEED_MODELS();
    test_stage1_and_tuned_model();
}

static void linear_probe(void)
{
    NEED_MODELS();
    test_linear_probe();
}

DFD_TEST_MAIN({ "tune_select", tune_select }, { "bad_inputs", bad_inputs },
              { "stage1_and_tuned_model", stage1_and_tuned_model },
              { "linear_probe", linear_probe })
#endif
