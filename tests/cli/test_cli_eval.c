// dfdetect eval as a user meets it, on a tiny generated real/ + fake/ dataset (astronaut-derived
// images and a clip without a face) and a random detector: the JSON agrees with the report's CSV
// and with `dfdetect scan`, the report's files are valid, --holdout scores exactly the held-out
// fold, and bad data, models and arguments give one line with exit 1 or 2.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "detect/detector_test_model.h"
#include "dfdetect/data/split.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "test.h"

static char root[64]; // the test's folder: data/, models, outputs

typedef struct eval_out {
    int code;
    char *out, *err;
    int err_lines;
} eval_out;

static char *read_text(const char *path)
{
    void *data = NULL;
    size_t n;
    return dfd_file_read_all(&data, &n, path, 1 << 24, NULL) == DFD_OK ? data : dfd_strdup("");
}

// Run `dfdetect` with arguments formatted from fmt (a shell fragment).
static eval_out dfdetect(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static eval_out dfdetect(const char *fmt, ...)
{
    char args[4096], cmd[8192], o[128], e[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(o, sizeof o, "%s/stdout", root);
    snprintf(e, sizeof e, "%s/stderr", root);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", getenv("DFDETECT_BIN"), args, o, e);
    int st = system(cmd);
    eval_out r = { WIFEXITED(st) ? WEXITSTATUS(st) : -1, read_text(o), read_text(e), 0 };
    for (const char *p = r.err; *p; p++) {
        r.err_lines += *p == '\n';
    }
    return r;
}

static void eval_out_free(eval_out *r)
{
    dfd_free(r->out);
    dfd_free(r->err);
}

// ---- the data and the models ----

// The portrait changed a little: mirrored, and brightness scaled by gain (per mille) plus bias.
static void write_variant(const dfd_image *src, const char *path, bool mirror, int gain, int bias)
{
    dfd_image img;
    REQUIRE(dfd_image_alloc(&img, src->w, src->h, src->c) == DFD_OK);
    for (int y = 0; y < src->h; y++) {
        const uint8_t *s = src->data + (size_t)y * src->stride;
        uint8_t *d = img.data + (size_t)y * img.stride;
        for (int x = 0; x < src->w; x++) {
            int sx = mirror ? src->w - 1 - x : x;
            for (int c = 0; c < src->c; c++) {
                int v = s[sx * src->c + c] * gain / 1000 + bias;
                d[x * src->c + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
    REQUIRE(dfd_png_write(path, &img, NULL) == DFD_OK);
    dfd_image_free(&img);
}

// root/data: real/ (3 images), fake/ (3 images and a clip without a face).
static void make_data(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/assets/astronaut.png", getenv("DFD_SOURCE_DIR"));
    dfd_image src;
    REQUIRE(dfd_image_read(&src, path, NULL) == DFD_OK);
    static const struct {
        const char *name;
        bool mirror;
        int gain, bias;
    } v[6] = { { "real/a.png", false, 1000, 0 },  { "real/b.png", true, 1000, 0 },
               { "real/c.png", false, 850, 0 },   { "fake/d.png", false, 1000, 30 },
               { "fake/e.png", true, 1200, -20 }, { "fake/f.png", true, 900, 10 } };
    snprintf(path, sizeof path, "%s/data", root);
    REQUIRE(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/data/real", root);
    REQUIRE(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/data/fake", root);
    REQUIRE(mkdir(path, 0755) == 0);
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/data/%s", root, v[i].name);
        write_variant(&src, path, v[i].mirror, v[i].gain, v[i].bias);
    }
    dfd_image_free(&src);
    snprintf(path, sizeof path, "cp '%s/small_faststart.mp4' '%s/data/fake/noface.mp4'",
             getenv("DFD_FIXTURES"), root);
    REQUIRE(system(path) == 0);
}

// A random detector at root/name with the given training metadata (may be NULL).
static void make_model(const char *name, const char *training_json)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    const test_model_spec s = { 5, 4, 1.5f, 2.0f, "cli-eval-test", "0.3", training_json, NULL };
    test_detector_model_save(path, &s);
}

static bool have_face_models(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/models/facemesh.json", getenv("DFD_SOURCE_DIR"));
    return access(path, R_OK) == 0;
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/dfd_test_cli_eval_XXXXXX");
    REQUIRE(mkdtemp(root));
    make_data();
    char json[512];
    snprintf(json, sizeof json,
             "{\"data\": [\"%s/data\"], \"holdout\": {\"folds\": 2, \"fold\": 1, \"seed\": 7}}",
             root);
    make_model("held.safetensors", json);
    make_model("plain.safetensors", NULL);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
}

// ---- checks ----

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(o, a);
    v = b ? cJSON_GetObjectItem(v, b) : v;
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

static const char *str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
    return s ? s : "";
}

static bool png_ok(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *data = read_text(path);
    bool ok = memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0;
    dfd_free(data);
    return ok;
}

// AUC of the scored items by counting pairs, as a check on the program's.
static double pair_auc(const cJSON *items)
{
    double wins = 0, pairs = 0;
    const cJSON *a, *b;
    cJSON_ArrayForEach(a, items)
    {
        cJSON_ArrayForEach(b, items)
        {
            const cJSON *pa = cJSON_GetObjectItem(a, "probability");
            const cJSON *pb = cJSON_GetObjectItem(b, "probability");
            if (!cJSON_IsNumber(pa) || !cJSON_IsNumber(pb) || strcmp(str(a, "label"), "FAKE") ||
                strcmp(str(b, "label"), "REAL")) {
                continue;
            }
            pairs++;
            wins += pa->valuedouble > pb->valuedouble    ? 1
                    : pa->valuedouble == pb->valuedouble ? 0.5
                                                         : 0;
        }
    }
    return wins / pairs;
}

// Each JSON item is the same row of items.csv.
static void csv_matches(const char *csv, const cJSON *items)
{
    const char *line = strchr(csv, '\n');
    REQUIRE(line);
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        line++;
        char want[1024], prob[32] = "";
        const cJSON *p = cJSON_GetObjectItem(it, "probability");
        if (cJSON_IsNumber(p)) {
            snprintf(prob, sizeof prob, "%.6f", p->valuedouble);
        }
        snprintf(want, sizeof want, "%s,%s,%s,%s,%d,", str(it, "file"), str(it, "label"), prob,
                 str(it, "verdict"), (int)num(it, "n_faces", NULL));
        CHECK(strncmp(line, want, strlen(want)) == 0);
        line = strchr(line, '\n');
        REQUIRE(line);
    }
    CHECK(line[1] == '\0');
}

static void eval_json_agrees_with_the_report_and_scan(const char *model, const char *data)
{
    char report[128];
    snprintf(report, sizeof report, "%s/report", root);
    eval_out r = dfdetect("eval --model '%s' --data '%s' --json --jobs 2 --report '%s'", model,
                          data, report);
    CHECK_EQ_INT(r.code, 0);
    CHECK_EQ_INT(r.err_lines, 0);
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    CHECK_NEAR(num(doc, "counts", "items"), 7, 0);
    CHECK_NEAR(num(doc, "counts", "no_face"), 1, 0);
    CHECK_NEAR(num(doc, "counts", "scored"), 6, 0);
    CHECK_NEAR(num(doc, "counts", "failed"), 0, 0);
    CHECK(strcmp(str(cJSON_GetObjectItem(doc, "model"), "name"), "cli-eval-test") == 0);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(doc, "mirrored")));
    const cJSON *items = cJSON_GetObjectItem(doc, "items"), *it;
    REQUIRE(cJSON_GetArraySize(items) == 7);
    int right = 0, frames = 0;
    cJSON_ArrayForEach(it, items)
    {
        const char *verdict = str(it, "verdict");
        if (strcmp(verdict, "NO_FACE") == 0) {
            CHECK(strcmp(str(it, "file"), "fake/noface.mp4") == 0);
            continue;
        }
        double p = num(it, "probability", NULL);
        CHECK(p >= 0 && p <= 1);
        CHECK(strcmp(verdict, p >= 0.5 ? "FAKE" : "REAL") == 0);
        right += strcmp(verdict, str(it, "label")) == 0;
        frames += (int)num(it, "n_faces", NULL) >= 1;
    }
    const cJSON *v = cJSON_GetObjectItem(doc, "video");
    CHECK_NEAR(num(v, "accuracy", NULL), right / 6.0, 1e-12);
    CHECK_NEAR(num(v, "auc", NULL), pair_auc(items), 1e-12);
    CHECK_NEAR(num(v, "confusion", "tp") + num(v, "confusion", "tn"), right, 0);
    CHECK(num(doc, "frame", "n") >= frames);
    CHECK_NEAR(num(doc, "video_all", "n"), 7, 0);
    // The report: valid PNGs, the CSV row by row, the page naming the model.
    CHECK(png_ok(report, "roc.png") && png_ok(report, "confusion.png"));
    CHECK(png_ok(report, "scores.png"));
    char path[256];
    snprintf(path, sizeof path, "%s/items.csv", report);
    char *csv = read_text(path);
    CHECK(strncmp(csv, "file,label,probability,verdict,n_faces,reason\n", 46) == 0);
    csv_matches(csv, items);
    dfd_free(csv);
    snprintf(path, sizeof path, "%s/index.html", report);
    char *html = read_text(path);
    CHECK_STR_CONTAINS(html, "<html");
    CHECK_STR_CONTAINS(html, "cli-eval-test 0.3");
    CHECK_STR_CONTAINS(html, "fake/noface.mp4");
    dfd_free(html);
    // The same probability as `dfdetect scan` gives the file.
    const cJSON *first = cJSON_GetArrayItem(items, 0);
    eval_out s = dfdetect("scan --model '%s' --json '%s/%s'", model, data, str(first, "file"));
    cJSON *sdoc = cJSON_Parse(s.out);
    CHECK_NEAR(num(cJSON_GetArrayItem(sdoc, 0), "probability", NULL),
               num(first, "probability", NULL), 1e-6);
    cJSON_Delete(sdoc);
    eval_out_free(&s);
    cJSON_Delete(doc);
    eval_out_free(&r);
    // Text: the figures, and the item without a face listed.
    r = dfdetect("eval --model '%s' --data '%s' --threshold 0.4", model, data);
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_CONTAINS(r.out, "video level (scored items, threshold 0.40)");
    CHECK_STR_CONTAINS(r.out, "NO_FACE  fake/noface.mp4");
    eval_out_free(&r);
}

static void holdout_scores_the_held_out_fold(const char *model, const char *data)
{
    eval_out r = dfdetect("eval --model '%s' --data '%s' --json --holdout", model, data);
    CHECK_EQ_INT(r.code, 0);
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    CHECK_NEAR(num(doc, "holdout", "fold"), 1, 0);
    CHECK_NEAR(num(doc, "holdout", "folds"), 2, 0);
    dfd_dataset ds;
    dfd_error err;
    REQUIRE(dfd_dataset_load(&ds, data, NULL, &err) == DFD_OK);
    int fold[16];
    REQUIRE(ds.n <= 16 && dfd_split_kfold(fold, &ds, 2, 7, &err) == DFD_OK);
    const cJSON *items = cJSON_GetObjectItem(doc, "items");
    int k = 0;
    for (size_t i = 0; i < ds.n; i++) {
        if (fold[i] == 1) {
            const cJSON *it = cJSON_GetArrayItem(items, k++);
            CHECK(it && strcmp(str(it, "file"), ds.items[i].file) == 0);
        }
    }
    CHECK(k > 0 && k < (int)ds.n);
    CHECK_EQ_INT(cJSON_GetArraySize(items), k);
    dfd_dataset_free(&ds);
    cJSON_Delete(doc);
    eval_out_free(&r);
}

static void errors_are_one_line(const char *held, const char *data)
{
    char plain[128], bad[128];
    snprintf(plain, sizeof plain, "%s/plain.safetensors", root);
    snprintf(bad, sizeof bad, "%s/corrupt.safetensors", root);
    REQUIRE(dfd_file_write_atomic(bad, "\x10\0\0\0\0\0\0\0{\"a\":", 13, NULL) == DFD_OK);
    struct {
        int code;
        const char *needle;
        char args[512];
    } cases[7];
    int n = 0;
    cases[n].code = 2; // a model without a held-out fold
    cases[n].needle = plain;
    snprintf(cases[n++].args, 512, "eval --model '%s' --data '%s' --holdout", plain, data);
    cases[n].code = 1; // a missing dataset
    cases[n].needle = "no_such_data";
    snprintf(cases[n++].args, 512, "eval --model '%s' --data '%s/no_such_data'", held, root);
    cases[n].code = 1; // a corrupt model
    cases[n].needle = bad;
    snprintf(cases[n++].args, 512, "eval --model '%s' --data '%s'", bad, data);
    cases[n].code = 2;
    cases[n].needle = "--data";
    snprintf(cases[n++].args, 512, "eval --model '%s'", held);
    cases[n].code = 2;
    cases[n].needle = "--threshold";
    snprintf(cases[n++].args, 512, "eval --model '%s' --data '%s' --threshold 2", held, data);
    cases[n].code = 2;
    cases[n].needle = "extra";
    snprintf(cases[n++].args, 512, "eval --model '%s' --data '%s' extra", held, data);
    cases[n].code = 2;
    cases[n].needle = "--limit";
    snprintf(cases[n++].args, 512, "eval --model '%s' --data '%s' --limit 0", held, data);
    for (int i = 0; i < n; i++) {
        eval_out r = dfdetect("%s", cases[i].args);
        if (r.code != cases[i].code) {
            fprintf(stderr, "    '%s' exited %d: %s", cases[i].args, r.code, r.err);
        }
        CHECK_EQ_INT(r.code, cases[i].code);
        CHECK_EQ_INT(r.err_lines, 1);
        CHECK_STR_CONTAINS(r.err, cases[i].needle);
        eval_out_free(&r);
    }
    // An unreadable item: one line naming it and exit 1, the others still measured.
    char csv[1024], path[256];
    snprintf(csv, sizeof csv, "file,label\n%s/data/real/a.png,REAL\n%s/text.mp4,FAKE\n", root,
             getenv("DFD_FIXTURES"));
    snprintf(path, sizeof path, "%s/bad.csv", root);
    REQUIRE(dfd_file_write_atomic(path, csv, strlen(csv), NULL) == DFD_OK);
    eval_out r = dfdetect("eval --model '%s' --data '%s'", held, path);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK_STR_CONTAINS(r.err, "text.mp4");
    CHECK_STR_CONTAINS(r.out, "1 scored, 0 no face, 1 failed");
    eval_out_free(&r);
}

static void eval_measures_a_tiny_dataset_end_to_end(void)
{
    if (!have_face_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    setup();
    char held[128], data[128];
    snprintf(held, sizeof held, "%s/held.safetensors", root);
    snprintf(data, sizeof data, "%s/data", root);
    eval_json_agrees_with_the_report_and_scan(held, data);
    holdout_scores_the_held_out_fold(held, data);
    errors_are_one_line(held, data);
    eval_out r = dfdetect("eval --help");
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_CONTAINS(r.out, "--holdout");
    eval_out_free(&r);
    teardown();
}

// `dfdetect train` on the same tiny dataset, then `--resume` to more epochs: the resumed run
// reports all the epochs; another run's settings, fewer epochs and a missing checkpoint are
// refused with exit 1 and one line naming the checkpoint.
static void train_resumes_from_its_checkpoint(void)
{
    if (!have_face_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    setup();
    char common[512], ckpt[160];
    snprintf(common, sizeof common,
             "train --data '%s/data' --val-split 0.5 --threads 1 --cache '%s/cache' --json", root,
             root);
    snprintf(ckpt, sizeof ckpt, "%s/m.safetensors.ckpt", root);
    eval_out r = dfdetect("%s --out '%s/m.safetensors' --epochs 2", common, root);
    CHECK_EQ_INT(r.code, 0);
    cJSON *j = cJSON_Parse(r.out);
    CHECK(num(j, "epochs", NULL) == 2);
    CHECK(strcmp(str(j, "checkpoint"), ckpt) == 0 && access(ckpt, R_OK) == 0);
    cJSON_Delete(j);
    eval_out_free(&r);
    r = dfdetect("%s --out '%s/m.safetensors' --epochs 4 --resume", common, root);
    CHECK_EQ_INT(r.code, 0);
    j = cJSON_Parse(r.out);
    CHECK(num(j, "epochs", NULL) == 4);
    cJSON_Delete(j);
    eval_out_free(&r);
    const char *bad[] = { "--epochs 5 --lr 0.01 --resume", "--epochs 3 --resume" };
    for (int i = 0; i < 2; i++) {
        r = dfdetect("%s --out '%s/m.safetensors' %s", common, root, bad[i]);
        CHECK_EQ_INT(r.code, 1);
        CHECK_EQ_INT(r.err_lines, 1);
        CHECK_STR_CONTAINS(r.err, ckpt);
        eval_out_free(&r);
    }
    r = dfdetect("%s --out '%s/none.safetensors' --resume", common, root);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK_STR_CONTAINS(r.err, "no such file");
    eval_out_free(&r);
    teardown();
}

DFD_TEST_MAIN({ "eval_measures_a_tiny_dataset_end_to_end",
                eval_measures_a_tiny_dataset_end_to_end },
              { "train_resumes_from_its_checkpoint", train_resumes_from_its_checkpoint })
