// dfdetect scan --explain as a user meets it: a folder per file with faces holding a Grad-CAM
// heatmap per face (a PNG of the crop's size), a contact sheet and a timeline, all listed in the
// JSON; nothing for a NO_FACE file; a file in the way of DIR is one error line and exit 1; a
// model trained on another faceres is a warning, not an error.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "detect/explain_test_util.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/sha256.h"
#include "test.h"

static const char *src_path(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/%s", getenv("DFD_SOURCE_DIR"), rel);
    return buf;
}

static bool have_models(void)
{
    char p[1024];
    return access(src_path(p, sizeof p, "models/faceres.json"), R_OK) == 0 &&
           access(src_path(p, sizeof p, "models/blazeface.json"), R_OK) == 0;
}

typedef struct run_result {
    int code;
    char *out, *err; // dfd_free
    int err_lines;
} run_result;

static char *slurp(const char *path)
{
    void *data = NULL;
    size_t n;
    return dfd_file_read_all(&data, &n, path, 1 << 24, NULL) ? dfd_strdup("") : data;
}

// `dfdetect ARGS` (a shell fragment) with stdout and stderr captured in files of dir.
static run_result run(const char *dir, const char *args)
{
    run_result r = { -1, NULL, NULL, 0 };
    char cmd[8192], out[256], err[256];
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", getenv("DFDETECT_BIN"), args, out, err);
    int st = system(cmd);
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    for (const char *p = r.err; *p; p++) {
        r.err_lines += *p == '\n';
    }
    unlink(out);
    unlink(err);
    return r;
}

static void run_free(run_result *r)
{
    dfd_free(r->out);
    dfd_free(r->err);
}

static const char *str_of(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

// Check one file's JSON entry and its folder; *n_out gets the number of heatmaps listed.
static void check_explained(int *n_out, const cJSON *f, const char *out_dir)
{
    *n_out = 0;
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(f, "explain");
    const char *file = str_of(f, "file"), *dir = str_of(ex, "dir");
    REQUIRE(file && dir);
    const char *base = strrchr(file, '/');
    char want[1024];
    snprintf(want, sizeof want, "%s/%s", out_dir, base ? base + 1 : file);
    CHECK(strcmp(dir, want) == 0); // named after the file
    CHECK(is_png_of(str_of(ex, "timeline"), 800, 400));
    CHECK(is_png_of(str_of(ex, "sheet"), 0, 0));
    int n = 0;
    const cJSON *id, *fr;
    cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(f, "identities"))
    {
        cJSON_ArrayForEach(fr, cJSON_GetObjectItemCaseSensitive(id, "frames"))
        {
            const char *h = str_of(fr, "heatmap");
            REQUIRE(h);
            CHECK(strncmp(h, dir, strlen(dir)) == 0);
            CHECK(is_png_of(h, 224, 224));
            char frame[32];
            snprintf(frame, sizeof frame, "_f%06d_",
                     (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(fr, "index")));
            CHECK(strstr(h, frame) != NULL); // the name carries the frame index
            n++;
        }
    }
    CHECK_EQ_INT(count_entries(dir), n + 2);
    *n_out = n;
}

static void scan_explain_writes_the_files_the_json_lists(void)
{
    if (!have_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    char dir[] = "/tmp/dfd_test_explain_cli_XXXXXX", model[128], out[128], args[4096], p[1024];
    REQUIRE(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(out, sizeof out, "%s/why", dir);
    explain_test_model(model, 6, NULL);
    const char *fx = getenv("DFD_FIXTURES");
    snprintf(args, sizeof args,
             "scan --model '%s' --json --explain '%s' '%s' '%s/astronaut_pan.mp4' "
             "'%s/small_faststart.mp4'",
             model, out, src_path(p, sizeof p, "assets/astronaut.png"), fx, fx);
    run_result r = run(dir, args);
    CHECK_EQ_INT(r.code, 0);
    CHECK_EQ_INT(r.err_lines, 0); // the right backbone: no warning
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(cJSON_GetArraySize(doc) == 3);
    const cJSON *f;
    int explained = 0;
    cJSON_ArrayForEach(f, doc)
    {
        const char *verdict = str_of(f, "verdict");
        REQUIRE(verdict);
        if (strcmp(verdict, "NO_FACE") == 0) {
            CHECK(cJSON_GetObjectItemCaseSensitive(f, "explain") == NULL);
            continue;
        }
        int n;
        check_explained(&n, f, out);
        CHECK(n >= 1);
        explained++;
    }
    CHECK_EQ_INT(explained, 2);
    CHECK_EQ_INT(count_entries(out), 2); // no folder for the NO_FACE clip, no temporary left
    snprintf(p, sizeof p, "%s/small_faststart.mp4", out);
    CHECK(access(p, F_OK) != 0);
    cJSON_Delete(doc);
    run_free(&r);
    dfd_remove_tree(dir, NULL);
}

static void scan_explain_bad_dir_and_another_backbone(void)
{
    if (!have_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    char dir[] = "/tmp/dfd_test_explain_cli_XXXXXX", model[128], file[128], args[4096], p[1024];
    REQUIRE(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(file, sizeof file, "%s/in_the_way", dir);
    explain_test_model(model, 6, NULL);
    REQUIRE(dfd_file_write_atomic(file, "x", 1, NULL) == DFD_OK);
    const char *img = src_path(p, sizeof p, "assets/astronaut.png");
    // A file where DIR should be: one line naming it, exit 1, no verdicts.
    snprintf(args, sizeof args, "scan --model '%s' --explain '%s' '%s'", model, file, img);
    run_result r = run(dir, args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK(strstr(r.err, "in_the_way") != NULL);
    CHECK(r.out[0] == 0);
    run_free(&r);
    // A file inside it (DIR/x/...): the same.
    snprintf(args, sizeof args, "scan --model '%s' --explain '%s/sub' '%s'", model, file, img);
    r = run(dir, args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    run_free(&r);

    // A model made for another faceres: a warning line, the scan goes on (exit 0).
    char sha[65];
    memset(sha, 'e', 64);
    sha[64] = 0;
    explain_test_model(model, 6, sha);
    snprintf(args, sizeof args, "scan --model '%s' '%s'", model, img);
    r = run(dir, args);
    CHECK_EQ_INT(r.code, 0);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK(strstr(r.err, "warning") && strstr(r.err, "faceres"));
    CHECK(strstr(r.out, "astronaut.png") != NULL);
    run_free(&r);
    dfd_remove_tree(dir, NULL);
}

DFD_TEST_MAIN({ "scan_explain_writes_the_files_the_json_lists",
                scan_explain_writes_the_files_the_json_lists },
              { "scan_explain_bad_dir_and_another_backbone",
                scan_explain_bad_dir_and_another_backbone })
