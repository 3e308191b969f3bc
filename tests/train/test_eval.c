// Evaluation figures (train/eval.h) against hand-computed values: video level over scored items
// and with unscored items at 0.5, frame level, per method; JSON and CSV agree with the items;
// held-out fold selection; the report folder.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfdetect/data/split.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/train/eval.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "test.h"

static const float f0[] = { 0.2f, 0.1f }, f1[] = { 0.3f }, f2[] = { 0.7f }, f3[] = { 0.9f, 0.6f },
                   f4[] = { 0.2f }, f5[] = { 0.8f };

// 3 REAL and 3 FAKE scored (one false positive, one false negative at 0.5), a FAKE without a
// face and a REAL that failed.
static void known_items(dfd_eval_item it[8])
{
    memset(it, 0, 8 * sizeof *it);
    const double p[8] = { 0.1, 0.4, 0.6, 0.8, 0.35, 0.9, 0, 0 };
    const float *fp[8] = { f0, f1, f2, f3, f4, f5, NULL, NULL };
    const size_t nf[8] = { 2, 1, 1, 2, 1, 1, 0, 0 };
    static const char *const files[8] = { "r0.mp4", "r1.mp4", "r,2.mp4",    "f3.mp4",
                                          "f4.mp4", "f5.mp4", "f\"6\".mp4", "r7.mp4" };
    static const char *const methods[8] = { "original",  "original", "original", "Deepfakes",
                                            "Deepfakes", "FaceSwap", "FaceSwap", "original" };
    for (int i = 0; i < 8; i++) {
        it[i].file = files[i];
        it[i].label = i >= 3 && i <= 6 ? DFD_LABEL_FAKE : DFD_LABEL_REAL;
        it[i].method = methods[i];
        it[i].probability = p[i];
        it[i].frame_probs = fp[i];
        it[i].n_frame_probs = nf[i];
        it[i].n_faces = nf[i] ? 1 : 0;
        it[i].outcome = i == 6 ? DFD_EVAL_NO_FACE : i == 7 ? DFD_EVAL_FAILED : DFD_EVAL_SCORED;
        it[i].reason = i == 6 ? "no face found" : i == 7 ? "r7.mp4: not a video" : "1 identity";
    }
}

static void figures_match_hand_computed_values(void)
{
    dfd_eval_item it[8];
    known_items(it);
    dfd_eval e;
    dfd_error err;
    CHECK_OK(dfd_eval_compute(&e, it, 8, NULL, &err));
    CHECK_EQ_INT((int)e.n, 8);
    CHECK_EQ_INT((int)e.n_label[DFD_LABEL_REAL], 4);
    CHECK_EQ_INT((int)e.n_label[DFD_LABEL_FAKE], 4);
    CHECK_EQ_INT((int)e.n_scored, 6);
    CHECK_EQ_INT((int)e.n_no_face, 1);
    CHECK_EQ_INT((int)e.n_failed, 1);
    // Scored: REAL 0.1 0.4 0.6, FAKE 0.8 0.35 0.9. Pairs fake > real: 3 + 1 + 3 of 9.
    CHECK_EQ_INT((int)e.video.n, 6);
    CHECK_NEAR(e.video.auc, 7.0 / 9.0, 1e-12);
    CHECK_NEAR(e.video.accuracy, 4.0 / 6.0, 1e-12);
    CHECK_NEAR(e.video.balanced_accuracy, 2.0 / 3.0, 1e-12);
    double ll = -(log(0.9) + log(0.6) + log(0.4) + log(0.8) + log(0.35) + log(0.9)) / 6;
    CHECK_NEAR(e.video.log_loss, ll, 1e-12);
    CHECK(e.video.confusion[0][0] == 2 && e.video.confusion[0][1] == 1);
    CHECK(e.video.confusion[1][0] == 1 && e.video.confusion[1][1] == 2);
    CHECK(e.auc_lo <= e.video.auc && e.video.auc <= e.auc_hi && e.auc_lo >= 0 && e.auc_hi <= 1);
    CHECK_EQ_INT((int)e.roc.n, 7); // 6 distinct scores + (0, 0)
    // Every item, the two unscored at 0.5: REAL 0.1 0.4 0.6 0.5, FAKE 0.8 0.35 0.9 0.5.
    // Pairs: 4 + 1 + 4 + (2 + a tie) = 11.5 of 16; at 0.5 both are FAKE: 5 of 8 right.
    CHECK_EQ_INT((int)e.video_all.n, 8);
    CHECK_NEAR(e.video_all.auc, 11.5 / 16.0, 1e-12);
    CHECK_NEAR(e.video_all.accuracy, 5.0 / 8.0, 1e-12);
    // Frames: REAL 0.2 0.1 0.3 0.7, FAKE 0.9 0.6 0.2 0.8: 4 + 3 + (1 + a tie) + 4 = 12.5 of 16.
    CHECK_EQ_INT((int)e.n_frames, 8);
    CHECK_NEAR(e.frame_auc, 12.5 / 16.0, 1e-6);
    double fll =
        -(log(0.8) + log(0.9) + log(0.7) + log(0.3) + log(0.9) + log(0.6) + log(0.2) + log(0.8)) /
        8;
    CHECK_NEAR(e.frame_log_loss, fll, 1e-6);
    // Methods, sorted: Deepfakes (0.8 caught, 0.35 missed; vs REAL 3 + 1 of 6), FaceSwap (0.9
    // caught, one without a face), original (REAL only: 2 of 3 right).
    REQUIRE(e.n_methods == 3);
    CHECK(strcmp(e.methods[0].name, "Deepfakes") == 0);
    CHECK(strcmp(e.methods[1].name, "FaceSwap") == 0);
    CHECK(strcmp(e.methods[2].name, "original") == 0);
    CHECK_EQ_INT((int)e.methods[0].n, 2);
    CHECK_NEAR(e.methods[0].accuracy, 0.5, 1e-12);
    CHECK_NEAR(e.methods[0].recall, 0.5, 1e-12);
    CHECK_NEAR(e.methods[0].auc, 4.0 / 6.0, 1e-12);
    CHECK_EQ_INT((int)e.methods[1].n, 2);
    CHECK_EQ_INT((int)e.methods[1].n_scored, 1);
    CHECK_NEAR(e.methods[1].recall, 1.0, 1e-12);
    CHECK_NEAR(e.methods[1].auc, 1.0, 1e-12);
    CHECK_EQ_INT((int)e.methods[2].n, 4);
    CHECK_EQ_INT((int)e.methods[2].n_fake, 0);
    CHECK_NEAR(e.methods[2].accuracy, 2.0 / 3.0, 1e-12);
    CHECK(isnan(e.methods[2].recall) && isnan(e.methods[2].auc));
    // Another threshold moves the threshold figures only.
    dfd_eval e2;
    dfd_eval_opts o = dfd_eval_opts_default();
    o.threshold = 0.3;
    CHECK_OK(dfd_eval_compute(&e2, it, 8, &o, &err));
    CHECK_NEAR(e2.video.auc, 7.0 / 9.0, 1e-12);
    CHECK_NEAR(e2.video.accuracy, 4.0 / 6.0, 1e-12); // 0.4 and 0.6 now FP, 0.35 now caught
    CHECK(e2.video.confusion[0][1] == 2 && e2.video.confusion[1][1] == 3);
    CHECK_NEAR(e2.auc_lo, e.auc_lo, 0); // same seed, same interval
    dfd_eval_free(&e2);
    dfd_eval_free(&e);
}

static void one_label_or_nothing_scored_is_not_an_error(void)
{
    dfd_eval_item it[8];
    known_items(it);
    dfd_eval e;
    dfd_error err;
    CHECK_OK(dfd_eval_compute(&e, it, 3, NULL, &err)); // REAL only
    CHECK(isnan(e.video.auc) && isnan(e.auc_lo) && isnan(e.frame_auc));
    CHECK_EQ_INT((int)e.roc.n, 0);
    CHECK_NEAR(e.video.accuracy, 2.0 / 3.0, 1e-12);
    dfd_eval_free(&e);
    CHECK_OK(dfd_eval_compute(&e, it + 6, 2, NULL, &err)); // nothing scored
    CHECK_EQ_INT((int)e.video.n, 0);
    CHECK(isnan(e.video.accuracy) && isnan(e.video.auc) && isnan(e.frame_log_loss));
    CHECK_NEAR(e.video_all.accuracy, 0.5, 1e-12); // both at 0.5: FAKE right, REAL wrong
    CHECK_NEAR(e.video_all.auc, 0.5, 1e-12);
    dfd_eval_free(&e);
    it[1].probability = 1.5;
    CHECK(dfd_eval_compute(&e, it, 8, NULL, &err) == DFD_ERR_INVALID);
    CHECK(strstr(err.msg, "r1.mp4") != NULL);
    CHECK(dfd_eval_compute(&e, it, 0, NULL, &err) == DFD_ERR_INVALID);
    known_items(it);
    it[3].probability = NAN;
    it[4].outcome = DFD_EVAL_NO_FACE; // unscored: its probability is not read
    it[4].probability = NAN;
    CHECK(dfd_eval_compute(&e, it, 8, NULL, &err) == DFD_ERR_INVALID);
    it[3].probability = 0.8;
    CHECK_OK(dfd_eval_compute(&e, it, 8, NULL, &err));
    dfd_eval_free(&e);
}

// The CSV, field by field: quoting of names with a comma or quote, empty probability unscored.
static void csv_and_json_list_every_item(void)
{
    dfd_eval_item it[8];
    known_items(it);
    dfd_eval e;
    dfd_error err;
    CHECK_OK(dfd_eval_compute(&e, it, 8, NULL, &err));
    char *csv = dfd_eval_csv(&e, it, 8);
    REQUIRE(csv);
    const char *want = "file,label,probability,verdict,n_faces,reason\n"
                       "r0.mp4,REAL,0.100000,REAL,1,1 identity\n"
                       "r1.mp4,REAL,0.400000,REAL,1,1 identity\n"
                       "\"r,2.mp4\",REAL,0.600000,FAKE,1,1 identity\n"
                       "f3.mp4,FAKE,0.800000,FAKE,1,1 identity\n"
                       "f4.mp4,FAKE,0.350000,REAL,1,1 identity\n"
                       "f5.mp4,FAKE,0.900000,FAKE,1,1 identity\n"
                       "\"f\"\"6\"\".mp4\",FAKE,,NO_FACE,0,no face found\n"
                       "r7.mp4,REAL,,ERROR,0,r7.mp4: not a video\n";
    CHECK(strcmp(csv, want) == 0);
    dfd_free(csv);
    const char *data[1] = { "/data/x" };
    dfd_eval_info info = { .model_name = "m", .model_version = "2", .data = data, .n_data = 1 };
    char *text = dfd_eval_to_json(&e, it, 8, &info);
    REQUIRE(text);
    cJSON *doc = cJSON_Parse(text);
    dfd_free(text);
    REQUIRE(doc);
    const cJSON *v = cJSON_GetObjectItem(doc, "video");
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "auc")), 7.0 / 9.0, 1e-12);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "confusion"), "fp")),
               1, 0);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(v, "auc_ci")), 2);
    const cJSON *c = cJSON_GetObjectItem(doc, "counts");
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "no_face")), 1, 0);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "failed")), 1, 0);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "frame"), "auc")),
               12.5 / 16, 1e-6);
    const cJSON *items = cJSON_GetObjectItem(doc, "items");
    REQUIRE(cJSON_GetArraySize(items) == 8);
    for (int i = 0; i < 8; i++) {
        const cJSON *x = cJSON_GetArrayItem(items, i);
        CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(x, "file")), it[i].file) == 0);
        const cJSON *p = cJSON_GetObjectItem(x, "probability");
        if (i < 6) {
            CHECK_NEAR(cJSON_GetNumberValue(p), it[i].probability, 0);
        } else {
            CHECK(cJSON_IsNull(p));
        }
    }
    // One-class methods' NaN figures are null, not a made-up number.
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "methods"), 2);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(m, "auc")));
    cJSON_Delete(doc);
    dfd_eval_free(&e);
}

static void holdout_metadata_is_read_or_refused(void)
{
    dfd_eval_holdout h;
    CHECK_OK(dfd_eval_holdout_parse(
        &h,
        "{\"data\": [\"x\"], \"holdout\": {\"folds\": 5, \"fold\": 3, \"seed\": 42, \"n\": 9}}"));
    CHECK(h.folds == 5 && h.fold == 3 && h.seed == 42 && h.n == 9);
    CHECK_OK(dfd_eval_holdout_parse(&h, "{\"holdout\": {\"folds\": 2, \"fold\": 0, \"seed\": 0}}"));
    CHECK(h.folds == 2 && h.fold == 0 && h.n == -1);
    CHECK(dfd_eval_holdout_parse(&h, NULL) == DFD_ERR_NOT_FOUND);
    CHECK(dfd_eval_holdout_parse(&h, "{\"stage\": \"head\"}") == DFD_ERR_NOT_FOUND);
    CHECK(dfd_eval_holdout_parse(&h, "{\"holdout\": {\"folds\": 2, \"fold\": 2, \"seed\": 1}}") ==
          DFD_ERR_FORMAT);
    CHECK(dfd_eval_holdout_parse(&h, "{\"holdout\": {\"folds\": 1, \"fold\": 0, \"seed\": 1}}") ==
          DFD_ERR_FORMAT);
    CHECK(dfd_eval_holdout_parse(&h, "{\"holdout\": {\"folds\": 3, \"fold\": 1}}") ==
          DFD_ERR_FORMAT);
    CHECK(dfd_eval_holdout_parse(&h, "{not json") == DFD_ERR_FORMAT);
}

// A real/ + fake/ dataset of n_each stub images per label in a new folder `dir` (64 bytes).
static void make_folders(char *dir, int n_each)
{
    snprintf(dir, 64, "/tmp/dfd_test_eval_XXXXXX");
    REQUIRE(mkdtemp(dir));
    char path[256];
    for (int lab = 0; lab < 2; lab++) {
        snprintf(path, sizeof path, "%s/%s", dir, lab ? "fake" : "real");
        REQUIRE(mkdir(path, 0755) == 0);
        for (int i = 0; i < n_each; i++) {
            snprintf(path, sizeof path, "%s/%s/img%02d.png", dir, lab ? "fake" : "real", i);
            REQUIRE(dfd_file_write_atomic(path, "x", 1, NULL) == DFD_OK);
        }
    }
}

static void remove_dir(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void selection_is_the_held_out_fold_then_a_spread(void)
{
    char dir[64];
    make_folders(dir, 6);
    dfd_dataset ds;
    dfd_error err;
    REQUIRE(dfd_dataset_load(&ds, dir, NULL, &err) == DFD_OK && ds.n == 12);
    size_t *idx, n;
    CHECK_OK(dfd_eval_select(&idx, &n, &ds, NULL, 0, &err));
    CHECK_EQ_INT((int)n, 12);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT((int)idx[i], (int)i);
    }
    dfd_free(idx);
    // Every fold of a 3-fold split: exactly the items dfd_split_kfold (what the trainer's
    // dfd_split_holdout holds out) puts there, and the folds cover the data once.
    int fold[12], seen[12] = { 0 };
    REQUIRE(dfd_split_kfold(fold, &ds, 3, 77, &err) == DFD_OK);
    for (int k = 0; k < 3; k++) {
        dfd_eval_holdout h = { .folds = 3, .fold = k, .seed = 77, .n = -1 };
        CHECK_OK(dfd_eval_select(&idx, &n, &ds, &h, 0, &err));
        size_t want = 0;
        for (size_t i = 0; i < 12; i++) {
            want += fold[i] == k;
        }
        CHECK_EQ_INT((int)n, (int)want);
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ_INT(fold[idx[i]], k);
            CHECK(i == 0 || idx[i] > idx[i - 1]);
            seen[idx[i]]++;
        }
        dfd_free(idx);
    }
    for (int i = 0; i < 12; i++) {
        CHECK_EQ_INT(seen[i], 1);
    }
    // The same fold as the trainer holds out.
    int part[12];
    REQUIRE(dfd_split_holdout(part, &ds, 0.25, 3, 1, 77, &err) == DFD_OK);
    for (int i = 0; i < 12; i++) {
        CHECK((part[i] == DFD_SPLIT_HELDOUT) == (fold[i] == 1));
    }
    // A limit of 4 out of 12: items 0, 3, 6, 9 (both labels).
    CHECK_OK(dfd_eval_select(&idx, &n, &ds, NULL, 4, &err));
    REQUIRE(n == 4);
    CHECK(idx[0] == 0 && idx[1] == 3 && idx[2] == 6 && idx[3] == 9);
    dfd_free(idx);
    dfd_dataset_free(&ds);
    remove_dir(dir);
}

static bool is_png(const char *path)
{
    unsigned char sig[8] = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f) {
        return false;
    }
    size_t k = fread(sig, 1, 8, f);
    fclose(f);
    return k == 8 && memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0;
}

static char *slurp(const char *path)
{
    void *data = NULL;
    size_t n;
    if (dfd_file_read_all(&data, &n, path, 1 << 24, NULL) != DFD_OK) {
        return dfd_strdup("");
    }
    return data;
}

static void report_folder_holds_charts_csv_and_page(void)
{
    dfd_eval_item it[8];
    known_items(it);
    dfd_eval e;
    dfd_error err;
    CHECK_OK(dfd_eval_compute(&e, it, 8, NULL, &err));
    char dir[64], out[128], path[256];
    snprintf(dir, sizeof dir, "/tmp/dfd_test_eval_XXXXXX");
    REQUIRE(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/report", dir);
    dfd_eval_info info = { .model_name = "evalmodel", .model_version = "7", .frames = 32 };
    CHECK_OK(dfd_eval_report_write(out, &e, it, 8, &info, &err));
    static const char *const pngs[3] = { "roc.png", "confusion.png", "scores.png" };
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", out, pngs[i]);
        CHECK(is_png(path));
    }
    snprintf(path, sizeof path, "%s/index.html", out);
    char *html = slurp(path);
    CHECK_STR_CONTAINS(html, "<html");
    CHECK_STR_CONTAINS(html, "evalmodel 7");
    CHECK_STR_CONTAINS(html, "src=\"roc.png\"");
    CHECK_STR_CONTAINS(html, "0.7778");             // the AUC in the table
    CHECK_STR_CONTAINS(html, "f&quot;6&quot;.mp4"); // unscored items listed, escaped
    dfd_free(html);
    snprintf(path, sizeof path, "%s/items.csv", out);
    char *csv = slurp(path), *want = dfd_eval_csv(&e, it, 8);
    CHECK(want && strcmp(csv, want) == 0);
    dfd_free(csv);
    dfd_free(want);
    // Again, with nothing scored: replaced whole, the charts that need scores left out.
    dfd_eval e2;
    CHECK_OK(dfd_eval_compute(&e2, it + 6, 2, NULL, &err));
    CHECK_OK(dfd_eval_report_write(out, &e2, it + 6, 2, &info, &err));
    snprintf(path, sizeof path, "%s/roc.png", out);
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/index.html", out);
    html = slurp(path);
    CHECK_STR_CONTAINS(html, "not drawn");
    dfd_free(html);
    dfd_eval_free(&e2);
    // A folder whose parent is missing: an error naming it, nothing written.
    snprintf(out, sizeof out, "%s/no/report", dir);
    CHECK(dfd_eval_report_write(out, &e, it, 8, &info, &err) != DFD_OK);
    snprintf(path, sizeof path, "%s/no", dir);
    CHECK(access(path, F_OK) != 0);
    dfd_eval_free(&e);
    remove_dir(dir);
}

// --holdout reads the training metadata of a loaded model: it comes back as saved.
static void model_keeps_its_training_metadata(void)
{
    dfd_detector_model m = { 0 };
    dfd_head_opts o = dfd_head_opts_default();
    dfd_error err;
    REQUIRE(dfd_head_create(&m.head, &o, &err) == DFD_OK);
    m.prep = dfd_detector_prep_default();
    m.temperature = m.frame_temperature = 1;
    m.threshold = 0.5f;
    memset(m.backbone_sha256, 'a', 64);
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/dfd_test_eval_XXXXXX");
    REQUIRE(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    const char *json = "{\"holdout\": {\"folds\": 4, \"fold\": 2, \"seed\": 9}, \"data\": [\"d\"]}";
    REQUIRE(dfd_detector_model_save(path, &m, NULL, 0, json, &err) == DFD_OK);
    dfd_detector_model *loaded;
    REQUIRE(dfd_detector_model_load(&loaded, path, &err) == DFD_OK);
    REQUIRE(loaded->training_json);
    CHECK(strcmp(loaded->training_json, json) == 0);
    dfd_eval_holdout h;
    CHECK_OK(dfd_eval_holdout_parse(&h, loaded->training_json));
    CHECK(h.folds == 4 && h.fold == 2 && h.seed == 9);
    dfd_detector_model_free(loaded);
    REQUIRE(dfd_detector_model_save(path, &m, NULL, 0, NULL, &err) == DFD_OK);
    REQUIRE(dfd_detector_model_load(&loaded, path, &err) == DFD_OK);
    CHECK(loaded->training_json && strcmp(loaded->training_json, "{}") == 0);
    CHECK(dfd_eval_holdout_parse(&h, loaded->training_json) == DFD_ERR_NOT_FOUND);
    dfd_detector_model_free(loaded);
    dfd_head_free(m.head);
    remove_dir(dir);
}

DFD_TEST_MAIN({ "figures_match_hand_computed_values", figures_match_hand_computed_values },
              { "one_label_or_nothing_scored_is_not_an_error",
                one_label_or_nothing_scored_is_not_an_error },
              { "csv_and_json_list_every_item", csv_and_json_list_every_item },
              { "holdout_metadata_is_read_or_refused", holdout_metadata_is_read_or_refused },
              { "selection_is_the_held_out_fold_then_a_spread",
                selection_is_the_held_out_fold_then_a_spread },
              { "model_keeps_its_training_metadata", model_keeps_its_training_metadata },
              { "report_folder_holds_charts_csv_and_page",
                report_folder_holds_charts_csv_and_page })
