// The dfdetect program as a user meets it: help and usage errors, probe and frames on real files,
// one-line errors with exit code 1 for every bad input, and no partial output on failure.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "detect/detector_test_model.h"
#include "dfdetect/detect/backbone.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "test.h"

typedef struct run_result {
    int code;  // exit status
    char *out; // stdout (dfd_free)
    char *err; // stderr (dfd_free)
    int err_lines;
} run_result;

static const char *fixture(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", getenv("DFD_FIXTURES"), name);
    return p;
}

// A new temporary directory; the name lives in a static buffer that the next call (run() makes
// one) overwrites: copy it when it must outlive a run().
static char tmp_dir_buf[64];

static char *tmp_dir(void)
{
    snprintf(tmp_dir_buf, sizeof tmp_dir_buf, "/tmp/dfd_test_cli_XXXXXX");
    return mkdtemp(tmp_dir_buf);
}

static const char *tmp_dir_last(void)
{
    return tmp_dir_buf;
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

// Run `dfdetect ARGS` (ARGS is a shell fragment), capturing stdout and stderr.
static run_result run(const char *args)
{
    run_result r = { -1, NULL, NULL, 0 };
    char *dir = tmp_dir();
    char cmd[4096], out[128], err[128];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
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
    rmdir(dir);
    return r;
}

static void run_free(run_result *r)
{
    dfd_free(r->out);
    dfd_free(r->err);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        return 0;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static void remove_tree(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

// ---- help and usage ----

static void help_lists_the_commands_and_exits_zero(void)
{
    run_result r = run("--help");
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_CONTAINS(r.out, "probe");
    CHECK_STR_CONTAINS(r.out, "frames");
    run_free(&r);
    r = run("--version");
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_CONTAINS(r.out, "dfdetect ");
    run_free(&r);
    const char *cmds[] = { "help probe", "help frames", "probe --help", "frames --help" };
    for (size_t i = 0; i < 4; i++) {
        r = run(cmds[i]);
        CHECK_EQ_INT(r.code, 0);
        CHECK_STR_CONTAINS(r.out, "usage: dfdetect ");
        run_free(&r);
    }
}

static void usage_errors_exit_two_with_one_line(void)
{
    const char *bad[] = {
        "",                        // no command
        "nonsense",                // unknown command
        "--bogus probe x",         // unknown global option
        "help nonsense",           // help for an unknown command
        "probe",                   // no video
        "probe --bogus x.mp4",     // unknown option
        "frames",                  // no video
        "frames a.mp4 b.mp4",      // two videos
        "frames x.mp4 --count 0",  // out of range
        "frames x.mp4 --count ab", // not a number
        "frames x.mp4 --count",    // missing value
        "frames x.mp4 --sampling sideways",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        run_result r = run(bad[i]);
        if (r.code != 2) {
            fprintf(stderr, "    '%s' exited %d\n", bad[i], r.code);
        }
        CHECK_EQ_INT(r.code, 2);
        if (i > 0) { // bare `dfdetect` prints the usage text
            CHECK_EQ_INT(r.err_lines, 1);
            CHECK_STR_CONTAINS(r.err, "dfdetect: error: ");
        }
        run_free(&r);
    }
}

// ---- probe ----

static void probe_prints_the_facts_as_text_and_json(void)
{
    char args[1200];
    snprintf(args, sizeof args, "probe '%s'", fixture("portrait_rot90.mp4"));
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_CONTAINS(r.out, "640x360");
    CHECK_STR_CONTAINS(r.out, "rotated 90 degrees: displayed 360x640");
    CHECK_STR_CONTAINS(r.out, "90 (exact)");
    CHECK_STR_CONTAINS(r.out, "audio       yes");
    run_free(&r);

    snprintf(args, sizeof args, "probe --json '%s' '%s'", fixture("vfr.mp4"), fixture("text.mp4"));
    r = run(args);
    CHECK_EQ_INT(r.code, 1); // one of the two could not be read
    CHECK_EQ_INT(r.err_lines, 1);
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    cJSON *videos = cJSON_GetObjectItem(doc, "videos");
    REQUIRE(cJSON_GetArraySize(videos) == 2);
    cJSON *v0 = cJSON_GetArrayItem(videos, 0), *v1 = cJSON_GetArrayItem(videos, 1);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(v0, "variable_frame_rate")));
    CHECK_EQ_INT(cJSON_GetObjectItem(v0, "frames")->valuedouble, 150);
    CHECK(strcmp(cJSON_GetObjectItem(v0, "frames_count")->valuestring, "exact") == 0);
    cJSON *e = cJSON_GetObjectItem(v1, "error");
    REQUIRE(e);
    CHECK(strcmp(cJSON_GetObjectItem(e, "code")->valuestring, "format") == 0);
    cJSON_Delete(doc);
    run_free(&r);
}

static void every_bad_input_is_one_line_and_exit_one(void)
{
    const char *names[] = { "does_not_exist.mp4", "empty.mp4",      "text.mp4",
                            "audio_only.m4a",     "truncated.mp4",  "truncated_faststart.mp4",
                            "absurd.y4m",         "zero_frames.y4m" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        for (int cmd = 0; cmd < 2; cmd++) {
            char args[1200];
            snprintf(args, sizeof args, cmd ? "frames '%s' --count 4" : "probe '%s'",
                     fixture(names[i]));
            run_result r = run(args);
            if (r.code != 1 || r.err_lines != 1) {
                fprintf(stderr, "    %s: exit %d, stderr: %s", args, r.code, r.err);
            }
            CHECK_EQ_INT(r.code, 1);
            CHECK_EQ_INT(r.err_lines, 1);
            CHECK_STR_CONTAINS(r.err, fixture(names[i]));
            CHECK_EQ_INT(strlen(r.out), 0);
            run_free(&r);
        }
    }
    // A directory is a usage-level mistake, but still one line.
    char args[1200];
    snprintf(args, sizeof args, "probe '%s'", getenv("DFD_FIXTURES"));
    run_result r = run(args);
    CHECK(r.code != 0);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK_STR_CONTAINS(r.err, "directory");
    run_free(&r);
}

// ---- frames ----

static void frames_writes_pngs_and_a_contact_sheet(void)
{
    char *dir = tmp_dir();
    REQUIRE(dir);
    char args[1500], grid[128], frames_dir[128];
    snprintf(grid, sizeof grid, "%s/sheet.png", dir);
    snprintf(frames_dir, sizeof frames_dir, "%s/frames", dir);
    snprintf(args, sizeof args,
             "frames '%s' --count 6 --sampling bursts --burst-len 3 --out '%s' "
             "--grid '%s' --json",
             fixture("portrait_rot90.mp4"), frames_dir, grid);
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    cJSON *frames = cJSON_GetObjectItem(doc, "frames");
    CHECK_EQ_INT(cJSON_GetArraySize(frames), 6);
    CHECK_EQ_INT(count_files(frames_dir), 6);
    for (int i = 0; i < cJSON_GetArraySize(frames); i++) {
        cJSON *f = cJSON_GetArrayItem(frames, i);
        const char *file = cJSON_GetObjectItem(f, "file")->valuestring;
        dfd_image img = { 0 };
        CHECK_OK(dfd_image_read(&img, file, NULL));
        CHECK_EQ_INT(img.w, 360); // upright
        CHECK_EQ_INT(img.h, 640);
        dfd_image_free(&img);
    }
    dfd_image sheet = { 0 };
    CHECK_OK(dfd_image_read(&sheet, grid, NULL));
    CHECK(sheet.w > 256 && sheet.h > 256);
    dfd_image_free(&sheet);
    cJSON_Delete(doc);
    run_free(&r);
    remove_tree(dir);
}

static void a_failed_frames_run_leaves_no_output(void)
{
    char *dir = tmp_dir();
    REQUIRE(dir);
    char args[1500], frames_dir[128];
    snprintf(frames_dir, sizeof frames_dir, "%s/frames", dir);
    // The frames can be written but the sheet cannot: everything is rolled back.
    snprintf(args, sizeof args, "frames '%s' --count 4 --out '%s' --grid /nonexistent_dfd/s.png",
             fixture("start_offset.mp4"), frames_dir);
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK_STR_CONTAINS(r.err, "/nonexistent_dfd/s.png");
    CHECK_EQ_INT(count_files(frames_dir), 0);
    run_free(&r);
    // A damaged video: nothing is written at all.
    snprintf(args, sizeof args, "frames '%s' --count 4 --out '%s'", fixture("truncated.mp4"),
             frames_dir);
    r = run(args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(count_files(frames_dir), 0);
    run_free(&r);
    remove_tree(dir);
}

// ---- model ----

static void model_info_and_run_describe_a_real_model(void)
{
    char path[1024], args[2400];
    snprintf(path, sizeof path, "%s/models/faceres.json", getenv("DFD_SOURCE_DIR"));
    if (access(path, R_OK) != 0) {
        TEST_SKIP("%s absent (scripts/setup.sh fetches it)", path);
    }
    snprintf(args, sizeof args, "model info '%s' --json", path);
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    CHECK_NEAR(cJSON_GetObjectItem(doc, "macs")->valuedouble, 568.0e6, 0.5e6);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "outputs")), 3);
    cJSON_Delete(doc);
    run_free(&r);
    char img[1024];
    snprintf(img, sizeof img, "%s/assets/astronaut.png", getenv("DFD_SOURCE_DIR"));
    snprintf(args, sizeof args, "model run '%s' --input '%s' --json", path, img);
    r = run(args);
    CHECK_EQ_INT(r.code, 0);
    doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    const cJSON *mean =
        cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "outputs"), "global_pooling/Mean");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(mean, "values")), 1024);
    cJSON_Delete(doc);
    run_free(&r);
    // An intermediate layer on request: 28x28x256 after ReLU6, beside the file's outputs.
    snprintf(args, sizeof args,
             "model run '%s' --input '%s' --json --output conv_pw_5_relu/clip_by_value", path, img);
    r = run(args);
    CHECK_EQ_INT(r.code, 0);
    doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    const cJSON *outs = cJSON_GetObjectItem(doc, "outputs");
    const cJSON *mid = cJSON_GetObjectItem(outs, "conv_pw_5_relu/clip_by_value");
    CHECK_EQ_INT(cJSON_GetArraySize(outs), 4);
    const cJSON *vals = cJSON_GetObjectItem(mid, "values");
    CHECK_EQ_INT(cJSON_GetArraySize(vals), 28 * 28 * 256);
    double lo = 1e9, hi = -1e9;
    const cJSON *v;
    cJSON_ArrayForEach(v, vals)
    {
        lo = v->valuedouble < lo ? v->valuedouble : lo;
        hi = v->valuedouble > hi ? v->valuedouble : hi;
    }
    CHECK(lo >= 0.0 && hi <= 6.0 && hi > 0.0); // clipped to [0, 6], not all zero
    cJSON_Delete(doc);
    run_free(&r);
    snprintf(args, sizeof args, "model run '%s' --input '%s' --output no_such_node", path, img);
    r = run(args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK(strstr(r.err, "no_such_node") != NULL);
    run_free(&r);
}

static void a_corrupt_model_file_is_one_line_and_exit_one(void)
{
    char *dir = tmp_dir();
    REQUIRE(dir);
    char path[128], args[300];
    snprintf(path, sizeof path, "%s/model.json", dir);
    CHECK_OK(dfd_file_write_atomic(path, "{\"format\": \"graph-model\", \"modelTop", 34, NULL));
    snprintf(args, sizeof args, "model info '%s'", path);
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK_STR_CONTAINS(r.err, path);
    run_free(&r);
    r = run("model info");
    CHECK_EQ_INT(r.code, 2);
    run_free(&r);
    remove_tree(dir);
}

// ---- faces ----

static bool have_face_models(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/facemesh.json", getenv("DFD_SOURCE_DIR"));
    return access(path, R_OK) == 0;
}

static cJSON *read_json(const char *path)
{
    char *text = slurp(path);
    cJSON *doc = cJSON_Parse(text);
    dfd_free(text);
    return doc;
}

static void faces_writes_a_folder_per_video(void)
{
    if (!have_face_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    char dir[64]; // run() reuses tmp_dir's buffer
    REQUIRE(tmp_dir());
    snprintf(dir, sizeof dir, "%s", tmp_dir_last());
    char args[2048], path[512];
    snprintf(args, sizeof args,
             "faces '%s' '%s' --frames 8 --jobs 2 --size 160 --sheet --export-video --json "
             "--out '%s'",
             fixture("astronaut_pan.mp4"), fixture("h264_1080p.mp4"), dir);
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 0); // a video without a face is a result, not a failure
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    cJSON *videos = cJSON_GetObjectItem(doc, "videos");
    REQUIRE(cJSON_GetArraySize(videos) == 2);
    cJSON *v0 = cJSON_GetArrayItem(videos, 0), *v1 = cJSON_GetArrayItem(videos, 1);
    CHECK_STR_CONTAINS(cJSON_GetObjectItem(v0, "status")->valuestring, "faces");
    CHECK_EQ_INT(cJSON_GetObjectItem(v0, "identities")->valueint, 1);
    CHECK_EQ_INT(cJSON_GetObjectItem(v0, "frames_with_face")->valueint, 8);
    CHECK_STR_CONTAINS(cJSON_GetObjectItem(v1, "status")->valuestring, "none_found");
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "summary"), "no_face")->valueint, 1);
    cJSON_Delete(doc);
    run_free(&r);

    // The face folder: faces.json, 8 crops of 160 x 160, a clip of 8 frames, a sheet.
    snprintf(path, sizeof path, "%s/astronaut_pan/faces.json", dir);
    doc = read_json(path);
    REQUIRE(doc);
    CHECK_STR_CONTAINS(cJSON_GetObjectItem(doc, "outcome")->valuestring, "faces");
    cJSON *ids = cJSON_GetObjectItem(doc, "identities");
    REQUIRE(cJSON_GetArraySize(ids) == 1);
    cJSON *faces = cJSON_GetObjectItem(cJSON_GetArrayItem(ids, 0), "faces");
    REQUIRE(cJSON_GetArraySize(faces) == 8);
    for (int i = 0; i < 8; i++) {
        cJSON *f = cJSON_GetArrayItem(faces, i);
        CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f, "landmarks")), 468);
        CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(f, "box")), 4);
        const cJSON *file = cJSON_GetObjectItem(cJSON_GetObjectItem(f, "crop"), "file");
        REQUIRE(cJSON_IsString(file));
        snprintf(path, sizeof path, "%s/astronaut_pan/%s", dir, file->valuestring);
        dfd_image crop = { 0 };
        CHECK_OK(dfd_image_read(&crop, path, NULL));
        CHECK(crop.w == 160 && crop.h == 160);
        dfd_image_free(&crop);
    }
    cJSON_Delete(doc);
    snprintf(path, sizeof path, "%s/astronaut_pan/face0.mp4", dir);
    snprintf(args, sizeof args, "probe '%s' --json", path);
    r = run(args);
    CHECK_EQ_INT(r.code, 0);
    doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    const cJSON *clip = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "videos"), 0);
    REQUIRE(clip);
    CHECK_EQ_INT(cJSON_GetObjectItem(clip, "frames")->valueint, 8);
    CHECK_EQ_INT(cJSON_GetObjectItem(clip, "width")->valueint, 160);
    cJSON_Delete(doc);
    run_free(&r);
    snprintf(path, sizeof path, "%s/astronaut_pan/sheet.png", dir);
    dfd_image sheet = { 0 };
    CHECK_OK(dfd_image_read(&sheet, path, NULL));
    dfd_image_free(&sheet);
    // The faceless video has its folder too, with the reason and no crops.
    snprintf(path, sizeof path, "%s/h264_1080p/faces.json", dir);
    doc = read_json(path);
    REQUIRE(doc);
    CHECK_STR_CONTAINS(cJSON_GetObjectItem(doc, "reason")->valuestring, "no face found");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "identities")), 0);
    cJSON_Delete(doc);
    snprintf(path, sizeof path, "%s/h264_1080p", dir);
    CHECK_EQ_INT(count_files(path), 2); // faces.json and sheet.png
    remove_tree(dir);
}

static void faces_goes_on_after_a_bad_video_and_replaces_folders(void)
{
    if (!have_face_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    char dir[64]; // run() reuses tmp_dir's buffer
    REQUIRE(tmp_dir());
    snprintf(dir, sizeof dir, "%s", tmp_dir_last());
    // A folder argument: two videos, one of them damaged, and a file that is not a video.
    char in[512], out[512], cmd[2048], stray[600];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(cmd, sizeof cmd, "mkdir '%s' && cp '%s' '%s' '%s/' && echo x > '%s/notes.txt'", in,
             fixture("astronaut_pan.mp4"), fixture("truncated.mp4"), in, in);
    REQUIRE(system(cmd) == 0);
    // An earlier run's folder with a stray file: replaced whole.
    snprintf(stray, sizeof stray, "%s/astronaut_pan/old.txt", out);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/astronaut_pan' && echo x > '%s'", out, stray);
    REQUIRE(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "faces '%s' --frames 4 --out '%s'", in, out);
    run_result r = run(cmd);
    CHECK_EQ_INT(r.code, 1); // one video failed
    CHECK_STR_CONTAINS(r.out, "ERROR");
    CHECK_STR_CONTAINS(r.out, "truncated.mp4");
    CHECK_STR_CONTAINS(r.out, "FACES");
    CHECK_STR_CONTAINS(r.err, "2 videos: 1 with faces, 0 without, 1 failed");
    CHECK(access(stray, F_OK) != 0);
    snprintf(stray, sizeof stray, "%s/astronaut_pan/faces.json", out);
    CHECK(access(stray, F_OK) == 0);
    CHECK_EQ_INT(count_files(out), 1); // no folder for the damaged video, no temporaries
    run_free(&r);
    remove_tree(dir);
}

static void faces_reports_usage_and_missing_models(void)
{
    run_result r = run("faces");
    CHECK_EQ_INT(r.code, 2);
    CHECK_EQ_INT(r.err_lines, 1);
    run_free(&r);
    char args[1500];
    snprintf(args, sizeof args, "faces '%s' --margin 9", fixture("astronaut_pan.mp4"));
    r = run(args);
    CHECK_EQ_INT(r.code, 2);
    CHECK_STR_CONTAINS(r.err, "--margin");
    run_free(&r);
    snprintf(args, sizeof args, "faces '%s' --models /nonexistent_models",
             fixture("astronaut_pan.mp4"));
    r = run(args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK_STR_CONTAINS(r.err, "/nonexistent_models/blazeface.json");
    run_free(&r);
    r = run("faces --help");
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_CONTAINS(r.out, "--export-video");
    run_free(&r);
}

// ---- dataset ----

// A small CSV dataset in a new folder (written into dir, 64 bytes): the demo clip (REAL), a
// pattern clip naming it as its original (FAKE), a faceless VFR clip (FAKE) and the portrait as
// an image (REAL). Returns false when it could not be written.
static bool make_dataset(char *dir)
{
    if (!tmp_dir()) {
        return false;
    }
    snprintf(dir, 64, "%s", tmp_dir_last());
    char csv[8192], path[512];
    snprintf(csv, sizeof csv,
             "file,label,original,method\n"
             "%s,REAL,,original\n"
             "%s,FAKE,astronaut_pan.mp4,Pattern\n"
             "%s,fake,,Pattern\n"
             "%s/assets/astronaut.png,0,,original\n",
             fixture("astronaut_pan.mp4"), fixture("small_faststart.mp4"), fixture("vfr.mp4"),
             getenv("DFD_SOURCE_DIR"));
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    return dfd_file_write_atomic(path, csv, strlen(csv), NULL) == DFD_OK;
}

static double json_num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(o, a);
    if (b) {
        v = cJSON_GetObjectItem(v, b);
    }
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void dataset_stats_counts_and_draws_the_chart(void)
{
    char dir[64], args[1024], chart[256];
    REQUIRE(make_dataset(dir));
    snprintf(chart, sizeof chart, "%s/labels.png", dir);
    snprintf(args, sizeof args, "dataset stats '%s' --json --chart '%s'", dir, chart);
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    CHECK_EQ_INT(json_num(doc, "items", NULL), 4);
    CHECK_EQ_INT(json_num(doc, "labels", "REAL"), 2);
    CHECK_EQ_INT(json_num(doc, "labels", "FAKE"), 2);
    CHECK_EQ_INT(json_num(doc, "kinds", "video"), 3);
    CHECK_EQ_INT(json_num(doc, "kinds", "image"), 1);
    CHECK_EQ_INT(json_num(doc, "groups", NULL), 3); // the pattern fake joins its original
    CHECK_EQ_INT(json_num(doc, "originals_present", NULL), 1);
    CHECK_EQ_INT(json_num(doc, "methods", "Pattern"), 2);
    const cJSON *v = cJSON_GetObjectItem(doc, "videos");
    CHECK_EQ_INT(json_num(v, "probed", NULL), 3);
    // Clips of 5 s (demo), 4 s (pattern) and 8 s (VFR).
    CHECK_NEAR(json_num(v, "duration_s", "min"), 4, 0.1);
    CHECK_NEAR(json_num(v, "duration_s", "max"), 8, 0.1);
    CHECK_NEAR(json_num(v, "duration_s_total", NULL), 17, 0.3);
    cJSON_Delete(doc);
    run_free(&r);
    // The chart: green REAL and red FAKE bars on a 640 x 480 picture.
    dfd_image img = { 0 };
    CHECK_OK(dfd_image_read(&img, chart, NULL));
    CHECK(img.w == 640 && img.h == 480);
    size_t green = 0, red = 0;
    for (int y = 0; y < img.h; y++) {
        for (int x = 0; x < img.w; x++) {
            const uint8_t *p = dfd_image_px(&img, x, y);
            green += p[0] == 44 && p[1] == 160 && p[2] == 44;
            red += p[0] == 214 && p[1] == 39 && p[2] == 40;
        }
    }
    CHECK(green > 1000 && red > 1000);
    dfd_image_free(&img);
    snprintf(args, sizeof args, "dataset stats '%s/labels.csv' --no-probe", dir);
    r = run(args);
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_CONTAINS(r.out, "items      4: 2 REAL, 2 FAKE");
    CHECK_STR_CONTAINS(r.out, "groups     3");
    run_free(&r);
    remove_tree(dir);
}

static void dataset_grid_puts_fakes_beside_originals(void)
{
    char dir[64], args[1024], out[256];
    REQUIRE(make_dataset(dir));
    snprintf(out, sizeof out, "%s/grid.png", dir);
    snprintf(args, sizeof args, "dataset grid '%s' --out '%s' --n 2 --tile 100", dir, out);
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_CONTAINS(r.out, "1 fake/original pairs");
    run_free(&r);
    dfd_image img = { 0 };
    CHECK_OK(dfd_image_read(&img, out, NULL));
    CHECK_EQ_INT(img.w, 8 + 3 * (100 + 8)); // fake | original | difference
    dfd_image_free(&img);
    remove_tree(dir);
}

static void dataset_errors_name_the_row(void)
{
    char dir[64], args[1024], path[256];
    REQUIRE(make_dataset(dir));
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    const char *csv = "file,label\nmissing_video.mp4,FAKE\n";
    REQUIRE(dfd_file_write_atomic(path, csv, strlen(csv), NULL) == DFD_OK);
    snprintf(args, sizeof args, "dataset stats '%s'", dir);
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK_STR_CONTAINS(r.err, "labels.csv:2: ");
    CHECK_STR_CONTAINS(r.err, "missing_video.mp4: no such file");
    run_free(&r);
    const char *usage[] = { "dataset",           "dataset frobnicate x",
                            "dataset grid x",    "dataset stats",
                            "dataset stats a b", "dataset cache x --images maybe" };
    for (size_t i = 0; i < 6; i++) {
        r = run(usage[i]);
        CHECK_EQ_INT(r.code, 2);
        run_free(&r);
    }
    const char *help[] = { "dataset --help", "dataset stats --help", "dataset grid --help",
                           "dataset cache --help", "help dataset" };
    for (size_t i = 0; i < 5; i++) {
        r = run(help[i]);
        CHECK_EQ_INT(r.code, 0);
        CHECK_STR_CONTAINS(r.out, "usage: dfdetect dataset");
        run_free(&r);
    }
    remove_tree(dir);
}

static void dataset_cache_builds_once_then_reads(void)
{
    if (!have_face_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    char dir[64], args[1024];
    REQUIRE(make_dataset(dir));
    snprintf(args, sizeof args,
             "dataset cache '%s' --cache '%s/cache' --frames 4 --size 64 "
             "--jobs 2 --json",
             dir, dir);
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    CHECK_EQ_INT(json_num(doc, "built", NULL), 4);
    CHECK_EQ_INT(json_num(doc, "failed", NULL), 0);
    // The demo clip has one face in each of 4 frames, the portrait one: at least 5 crops.
    CHECK(json_num(doc, "load_faces", NULL) >= 5);
    cJSON_Delete(doc);
    run_free(&r);
    r = run(args);
    CHECK_EQ_INT(r.code, 0);
    doc = cJSON_Parse(r.out);
    REQUIRE(doc);
    CHECK_EQ_INT(json_num(doc, "built", NULL), 0);
    CHECK_EQ_INT(json_num(doc, "already_cached", NULL), 4);
    cJSON_Delete(doc);
    run_free(&r);
    remove_tree(dir);
}

// ---- scan ----

// A random detector (default head sizes, 6 uniform frames, T = 1.7, Tf = 2.5) saved at `path`.
static void make_scan_model(const char *path)
{
    const test_model_spec s = { 23, 6, 1.7f, 2.5f, "cli-scan-test", "3.1", NULL, NULL };
    test_detector_model_save(path, &s);
}

static float scan_sigmoid(double x)
{
    return (float)(1.0 / (1.0 + exp(-x)));
}

// The sequence logit of the first identity of `clip`, computed without the scanner: the model's
// frames and crops, the backbone's embeddings, the head.
static void reference_seq_logit(float *seq, const char *model_path, const char *clip)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    char models[1024], path[1100];
    snprintf(models, sizeof models, "%s/models", src);
    dfd_error err;
    dfd_detector_model *m;
    dfd_face_models *fm;
    dfd_graph *g;
    REQUIRE(dfd_detector_model_load(&m, model_path, &err) == DFD_OK);
    REQUIRE(dfd_face_models_load(&fm, models, &err) == DFD_OK);
    REQUIRE(dfd_model_path(path, sizeof path, models, DFD_ROLE_BACKBONE, &err) == DFD_OK);
    REQUIRE(dfd_tfjs_load(&g, path, &err) == DFD_OK);
    dfd_video *v;
    dfd_frame_set set;
    REQUIRE(dfd_video_open(&v, clip, NULL, &err) == DFD_OK);
    REQUIRE(dfd_video_sample(&set, v, &m->prep.sampling, 6, NULL, NULL, &err) == DFD_OK);
    dfd_video_close(v);
    dfd_face_opts fo = dfd_face_opts_default();
    fo.crop_size = m->prep.crop_size;
    fo.margin = m->prep.margin;
    dfd_face_engine *eng;
    dfd_face_result fr;
    REQUIRE(dfd_face_engine_create(&eng, fm, &fo, &err) == DFD_OK);
    REQUIRE(dfd_faces_extract(&fr, eng, &set, &err) == DFD_OK && fr.n_ids >= 1);
    const dfd_face_identity *id = &fr.ids[0];
    dfd_image crops[64];
    float *feats = dfd_malloc(id->n * DFD_BACKBONE_DIM * sizeof *feats);
    REQUIRE(feats && id->n <= 64);
    for (size_t k = 0; k < id->n; k++) {
        crops[k] = id->obs[k].crop;
    }
    dfd_backbone *b;
    REQUIRE(dfd_backbone_create(&b, g, 1, 0, &err) == DFD_OK);
    REQUIRE(dfd_backbone_embed(feats, b, crops, id->n, &err) == DFD_OK);
    int len = (int)id->n;
    CHECK_OK(dfd_head_forward(m->head, NULL, seq, feats, &len, 1, len, 0, &err));
    dfd_free(feats);
    dfd_backbone_free(b);
    dfd_face_result_free(&fr);
    dfd_face_engine_free(eng);
    dfd_frame_set_free(&set);
    dfd_graph_free(g);
    dfd_face_models_free(fm);
    dfd_detector_model_free(m);
}

static void scan_json_scores_match_the_networks(void)
{
    if (!have_face_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    char dir[64], model[128], csv[128], args[4096];
    REQUIRE(tmp_dir());
    snprintf(dir, sizeof dir, "%s", tmp_dir_last());
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(csv, sizeof csv, "%s/sub.csv", dir);
    make_scan_model(model);
    const char *clip = fixture("astronaut_pan.mp4");
    snprintf(args, sizeof args, "scan --model '%s' --json --jobs 2 --submission '%s' '%s' '%s'",
             model, csv, clip, fixture("small_faststart.mp4"));
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 0);
    CHECK_EQ_INT(r.err_lines, 0);
    cJSON *doc = cJSON_Parse(r.out);
    REQUIRE(cJSON_IsArray(doc) && cJSON_GetArraySize(doc) == 2);
    const cJSON *v = cJSON_GetArrayItem(doc, 0);
    const char *verdict = cJSON_GetStringValue(cJSON_GetObjectItem(v, "verdict"));
    REQUIRE(verdict);
    CHECK(strcmp(verdict, "FAKE") == 0 || strcmp(verdict, "REAL") == 0);
    double p = cJSON_GetNumberValue(cJSON_GetObjectItem(v, "probability"));
    CHECK(p >= 0 && p <= 1);
    CHECK((strcmp(verdict, "FAKE") == 0) == (p >= 0.5));
    CHECK(cJSON_GetObjectItem(v, "mirrored") == NULL); // only said when asked for
    const cJSON *ids = cJSON_GetObjectItem(v, "identities");
    REQUIRE(cJSON_IsArray(ids) && cJSON_GetArraySize(ids) >= 1);
    double best = 0;
    const cJSON *id;
    cJSON_ArrayForEach(id, ids)
    {
        double ip = cJSON_GetNumberValue(cJSON_GetObjectItem(id, "probability"));
        best = ip > best ? ip : best;
        CHECK_NEAR(ip, scan_sigmoid(cJSON_GetNumberValue(cJSON_GetObjectItem(id, "logit")) / 1.7),
                   1e-5);
        const cJSON *frames = cJSON_GetObjectItem(id, "frames"), *f;
        CHECK(cJSON_GetArraySize(frames) >= 1);
        cJSON_ArrayForEach(f, frames)
        {
            double fl = cJSON_GetNumberValue(cJSON_GetObjectItem(f, "logit"));
            CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(f, "probability")),
                       scan_sigmoid(fl / 2.5), 1e-5);
            const cJSON *box = cJSON_GetObjectItem(f, "box");
            REQUIRE(cJSON_GetArraySize(box) == 4);
            CHECK(cJSON_GetArrayItem(box, 2)->valuedouble >
                  cJSON_GetArrayItem(box, 0)->valuedouble);
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(f, "index")) >= 0);
        }
    }
    CHECK_NEAR(p, best, 1e-6);
    // The first identity's probability, independently: head(backbone(crops)) / T.
    float seq = NAN;
    reference_seq_logit(&seq, model, clip);
    double ref = scan_sigmoid((double)seq / 1.7);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(ids, 0), "probability")),
               ref, 1e-5);
    const cJSON *m = cJSON_GetObjectItem(v, "model");
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m, "name")), "cli-scan-test") == 0);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m, "version")), "3.1") == 0);
    const cJSON *t = cJSON_GetObjectItem(v, "timing_s");
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(t, "total")) > 0);
    CHECK(cJSON_GetObjectItem(t, "backbone") && cJSON_GetObjectItem(t, "decode"));
    const cJSON *nf = cJSON_GetArrayItem(doc, 1);
    CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(nf, "verdict")), "NO_FACE") == 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(nf, "probability")));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(nf, "identities")) == 0);
    // The submission: base names and probabilities, 0.5 without a face.
    char want[256];
    snprintf(want, sizeof want,
             "filename,label\nastronaut_pan.mp4,%.6f\nsmall_faststart.mp4,0.500000\n", p);
    char *got = slurp(csv);
    CHECK(strcmp(got, want) == 0);
    dfd_free(got);
    cJSON_Delete(doc);
    run_free(&r);
    // --mirror: said in the JSON, and it moves the answer (the clip is not symmetric).
    snprintf(args, sizeof args, "scan --model '%s' --json --mirror '%s'", model, clip);
    r = run(args);
    CHECK_EQ_INT(r.code, 0);
    doc = cJSON_Parse(r.out);
    REQUIRE(cJSON_IsArray(doc) && cJSON_GetArraySize(doc) == 1);
    v = cJSON_GetArrayItem(doc, 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(v, "mirrored")));
    CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(v, "probability")) - p) > 1e-5);
    cJSON_Delete(doc);
    run_free(&r);
    remove_tree(dir);
}

static void scan_lines_bad_files_and_usage(void)
{
    if (!have_face_models()) {
        TEST_SKIP("face models absent (scripts/setup.sh fetches them)");
    }
    char dir[64], model[128], args[4096];
    REQUIRE(tmp_dir());
    snprintf(dir, sizeof dir, "%s", tmp_dir_last());
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    make_scan_model(model);
    // A folder (a clip and an image in it), a bad file and a clip without a face: the bad one is
    // one stderr line and exit 1, the others are still scanned.
    char folder[128];
    snprintf(folder, sizeof folder, "%s/in", dir);
    snprintf(args, sizeof args, "mkdir '%s' && cp '%s' '%s/assets/astronaut.png' '%s/'", folder,
             fixture("astronaut_pan.mp4"), getenv("DFD_SOURCE_DIR"), folder);
    REQUIRE(system(args) == 0);
    const char *bad = fixture("text.mp4");
    snprintf(args, sizeof args, "scan --model '%s' '%s' '%s' '%s'", model, folder, bad,
             fixture("small_faststart.mp4"));
    run_result r = run(args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK(strstr(r.err, bad) != NULL);
    char line[1024];
    float p;
    const char *s = r.out;
    for (int k = 0; k < 2; k++) { // astronaut.png, astronaut_pan.mp4 (sorted)
        char word[8], path[900];
        REQUIRE(sscanf(s, "%7s %f  %899s", word, &p, path) == 3);
        CHECK(strcmp(word, p >= 0.5f ? "FAKE" : "REAL") == 0);
        CHECK(p >= 0 && p <= 1);
        CHECK(strstr(path, k ? "astronaut_pan.mp4" : "astronaut.png") != NULL);
        s = strchr(s, '\n');
        REQUIRE(s);
        s++;
    }
    snprintf(line, sizeof line, "NO_FACE  %s\n", fixture("small_faststart.mp4"));
    CHECK(strcmp(s, line) == 0);
    run_free(&r);

    const char *usage[] = { "scan", "scan --model m.safetensors",
                            "scan --model m --threshold 2 x.mp4", "scan --frames 0 --model m x" };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        r = run(usage[i]);
        CHECK_EQ_INT(r.code, 2);
        CHECK_EQ_INT(r.err_lines, 1);
        run_free(&r);
    }
    r = run("scan --help");
    CHECK_EQ_INT(r.code, 0);
    CHECK(strstr(r.out, "--model FILE") && strstr(r.out, "--submission"));
    run_free(&r);
    snprintf(args, sizeof args, "scan --model '%s/none.safetensors' '%s'", dir,
             fixture("astronaut_pan.mp4"));
    r = run(args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK(strstr(r.err, "none.safetensors") != NULL);
    run_free(&r);
    // Without --model: $DFD_DETECTOR, else the shipped default; a missing one is named.
    const char *bin = getenv("DFDETECT_BIN");
    snprintf(args, sizeof args, "scan '%s'", fixture("astronaut_pan.mp4"));
    char envrun[8192];
    snprintf(envrun, sizeof envrun,
             "DFD_DETECTOR='%.900s/gone.safetensors' '%.2000s' %.2000s > /dev/null 2> "
             "'%.900s/err.txt'",
             dir, bin, args, dir);
    CHECK(WEXITSTATUS(system(envrun)) == 1);
    snprintf(args, sizeof args, "%s/err.txt", dir);
    char *e = slurp(args);
    CHECK(strstr(e, "gone.safetensors") != NULL && strchr(e, '\n') == strrchr(e, '\n'));
    dfd_free(e);
    remove_tree(dir);
}

// dfdetect train as a user meets its mistakes: usage errors exit 2 with one line, a missing
// dataset exits 1 naming it and writes no model. (Training itself: tests/train.)
static void train_reports_usage_and_missing_data(void)
{
    const char *usage[] = { "train",
                            "train --data d",
                            "train --out m.safetensors",
                            "train --data d --out m --arch transformer",
                            "train --data d --out m --val-split 1.5",
                            "train --data d --out m --lr -1",
                            "train --data d --out m --dropout 1",
                            "train --data d --out m --input-dropout x",
                            "train --data d --out m --balance 5",
                            "train --data d --out m --cv-folds 3 --cv-fold 3",
                            "train --data d --out m --cv-fold 1" };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        run_result r = run(usage[i]);
        CHECK_EQ_INT(r.code, 2);
        CHECK_EQ_INT(r.err_lines, 1);
        run_free(&r);
    }
    run_result r = run("train --help");
    CHECK_EQ_INT(r.code, 0);
    CHECK_STR_CONTAINS(r.out, "usage: dfdetect train");
    CHECK_STR_CONTAINS(r.out, "--patience");
    run_free(&r);
    char dir[] = "/tmp/dfd_cli_train_XXXXXX", args[512], model[300];
    REQUIRE(mkdtemp(dir));
    snprintf(model, sizeof model, "%s/m.safetensors", dir);
    snprintf(args, sizeof args, "train --data '%s/no_such_dataset' --out '%s'", dir, model);
    r = run(args);
    CHECK_EQ_INT(r.code, 1);
    CHECK_EQ_INT(r.err_lines, 1);
    CHECK(strstr(r.err, "no_such_dataset") != NULL);
    CHECK(access(model, F_OK) != 0);
    run_free(&r);
    rmdir(dir);
}

DFD_TEST_MAIN(
    { "help_lists_the_commands_and_exits_zero", help_lists_the_commands_and_exits_zero },
    { "usage_errors_exit_two_with_one_line", usage_errors_exit_two_with_one_line },
    { "probe_prints_the_facts_as_text_and_json", probe_prints_the_facts_as_text_and_json },
    { "every_bad_input_is_one_line_and_exit_one", every_bad_input_is_one_line_and_exit_one },
    { "frames_writes_pngs_and_a_contact_sheet", frames_writes_pngs_and_a_contact_sheet },
    { "a_failed_frames_run_leaves_no_output", a_failed_frames_run_leaves_no_output },
    { "model_info_and_run_describe_a_real_model", model_info_and_run_describe_a_real_model },
    { "a_corrupt_model_file_is_one_line_and_exit_one",
      a_corrupt_model_file_is_one_line_and_exit_one },
    { "faces_writes_a_folder_per_video", faces_writes_a_folder_per_video },
    { "faces_goes_on_after_a_bad_video_and_replaces_folders",
      faces_goes_on_after_a_bad_video_and_replaces_folders },
    { "faces_reports_usage_and_missing_models", faces_reports_usage_and_missing_models },
    { "dataset_stats_counts_and_draws_the_chart", dataset_stats_counts_and_draws_the_chart },
    { "dataset_grid_puts_fakes_beside_originals", dataset_grid_puts_fakes_beside_originals },
    { "dataset_errors_name_the_row", dataset_errors_name_the_row },
    { "dataset_cache_builds_once_then_reads", dataset_cache_builds_once_then_reads },
    { "scan_json_scores_match_the_networks", scan_json_scores_match_the_networks },
    { "scan_lines_bad_files_and_usage", scan_lines_bad_files_and_usage },
    { "train_reports_usage_and_missing_data", train_reports_usage_and_missing_data })
