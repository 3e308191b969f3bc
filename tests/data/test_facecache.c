// The face cache on generated media (a clip panning over the astronaut portrait, written with
// the MP4 writer; the portrait and a face-less picture as PNG and JPEG): a second call does no
// face work and returns identical crops and landmarks; a changed setting or changed content
// misses; images are one-frame videos, and a picture without a face is taken whole and says so;
// entries are published whole, and a damaged one is rebuilt; errors name the file.
// Needs the fetched face models (skipped without them).
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_test_util.h"
#include "dfdetect/data/facecache.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/video/writer.h"
#include "test.h"

static char g_models[1024];
static char g_dir[512];   // media
static char g_cache[600]; // cache folder
static char g_clip[700], g_png[700], g_plain[700], g_tight[700];
static bool g_ready, g_tried;

// Media made once for all tests: returns false (tests skip) without models or the portrait.
static bool setup(void)
{
    if (g_tried) {
        return g_ready;
    }
    g_tried = true;
    const char *src = getenv("DFD_SOURCE_DIR");
    char astro_path[1024];
    snprintf(g_models, sizeof g_models, "%s/models", src ? src : ".");
    snprintf(astro_path, sizeof astro_path, "%s/assets/astronaut.png", src ? src : ".");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/blazeface.json", g_models);
    dfd_image astro = { 0 };
    if (dfd_file_check_regular(probe, NULL, NULL) != DFD_OK ||
        dfd_image_read(&astro, astro_path, NULL) != DFD_OK) {
        return false;
    }
    const char *d = test_dir("facecache");
    if (!d) {
        dfd_image_free(&astro);
        return false;
    }
    snprintf(g_dir, sizeof g_dir, "%s", d);
    snprintf(g_cache, sizeof g_cache, "%s/cache", g_dir);
    snprintf(g_clip, sizeof g_clip, "%s/pan.mp4", g_dir);
    snprintf(g_png, sizeof g_png, "%s/portrait.png", g_dir);
    snprintf(g_plain, sizeof g_plain, "%s/plain.jpg", g_dir);
    snprintf(g_tight, sizeof g_tight, "%s/tight.jpg", g_dir);
    dfd_error err;
    bool ok = true;
    // 12 frames of 256 x 256: a 400-pixel window of the portrait panning right.
    dfd_video_writer *w;
    ok = dfd_video_writer_open(&w, g_clip, 256, 256, 25, NULL, &err) == DFD_OK;
    for (int t = 0; ok && t < 12; t++) {
        dfd_image win = dfd_image_view(&astro, 20 + 3 * t, 10, 400, 400), small;
        ok = dfd_image_alloc(&small, 256, 256, 3) == DFD_OK;
        ok = ok && dfd_image_resize(&small, &win, DFD_RESIZE_AREA) == DFD_OK;
        ok = ok && dfd_video_writer_write(w, &small, &err) == DFD_OK;
        dfd_image_free(&small);
    }
    ok = ok && dfd_video_writer_close(w, &err) == DFD_OK;
    ok = ok && dfd_png_write(g_png, &astro, &err) == DFD_OK;
    // A picture without a face: a smooth colour ramp, 300 x 200.
    dfd_image plain;
    ok = ok && dfd_image_alloc(&plain, 300, 200, 3) == DFD_OK;
    for (int y = 0; ok && y < 200; y++) {
        for (int x = 0; x < 300; x++) {
            uint8_t *p = dfd_image_px(&plain, x, y);
            p[0] = (uint8_t)(x * 255 / 300);
            p[1] = (uint8_t)(y * 255 / 200);
            p[2] = 128;
        }
    }
    ok = ok && dfd_jpeg_write(g_plain, &plain, 95, &err) == DFD_OK;
    dfd_image_free(&plain);
    // A tight face crop as another detector makes them: the box around eyes, nose and mouth.
    dfd_image tight = dfd_image_view(&astro, 185, 85, 80, 80), big;
    ok = ok && dfd_image_alloc(&big, 224, 224, 3) == DFD_OK;
    ok = ok && dfd_image_resize(&big, &tight, DFD_RESIZE_BILINEAR) == DFD_OK;
    ok = ok && dfd_jpeg_write(g_tight, &big, 95, &err) == DFD_OK;
    dfd_image_free(&big);
    dfd_image_free(&astro);
    g_ready = ok;
    if (!ok) {
        fprintf(stderr, "    set-up failed: %s\n", err.msg);
    }
    return ok;
}

static dfd_face_cache_opts small_opts(void)
{
    dfd_face_cache_opts o = dfd_face_cache_opts_default();
    o.frames = 6;
    o.face.crop_size = 112;
    o.models_dir = g_models;
    return o;
}

static bool entries_equal(const dfd_face_entry *a, const dfd_face_entry *b)
{
    if (strcmp(a->key, b->key) || strcmp(a->sha256, b->sha256) || a->outcome != b->outcome ||
        a->n_ids != b->n_ids || a->crop_size != b->crop_size || a->n_frames != b->n_frames ||
        a->whole_image != b->whole_image || a->n_landmarks != b->n_landmarks ||
        a->width != b->width || a->height != b->height) {
        return false;
    }
    for (size_t i = 0; i < a->n_ids; i++) {
        if (a->ids[i].n != b->ids[i].n) {
            return false;
        }
        for (size_t j = 0; j < a->ids[i].n; j++) {
            const dfd_cached_face *fa = &a->ids[i].faces[j], *fb = &b->ids[i].faces[j];
            const size_t bytes = (size_t)a->crop_size * a->crop_size * 3;
            if (fa->frame_index != fb->frame_index || fabsf(fa->box[0] - fb->box[0]) > 1e-3f ||
                fabsf(fa->side - fb->side) > 1e-3f || memcmp(fa->crop.data, fb->crop.data, bytes) ||
                (a->n_landmarks && memcmp(fa->landmarks, fb->landmarks,
                                          sizeof(float) * 3 * (size_t)a->n_landmarks))) {
                return false;
            }
        }
    }
    return true;
}

static void test_second_call_reads_the_cache(void)
{
    if (!setup()) {
        TEST_SKIP("face models or assets/astronaut.png absent (scripts/setup.sh fetches them)");
    }
    dfd_remove_tree(g_cache, NULL);
    dfd_face_cache_opts o = small_opts();
    dfd_face_cache *c;
    dfd_error err;
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o, &err));
    dfd_face_entry a, b;
    CHECK_OK(dfd_face_cache_get(&a, c, g_clip, &err));
    CHECK(!a.from_cache);
    CHECK_EQ_INT(a.outcome, DFD_FACES_FOUND);
    CHECK_EQ_INT(a.kind, DFD_MEDIA_VIDEO);
    CHECK_EQ_INT(a.n_frames, 6);
    CHECK(a.width == 256 && a.height == 256);
    CHECK_NEAR(a.fps, 25, 1e-6);
    REQUIRE(a.n_ids >= 1 && a.ids[0].n == 6);
    CHECK_EQ_INT(a.ids[0].faces[0].crop.w, 112);
    CHECK_EQ_INT(a.n_landmarks, DFD_MESH_POINTS);
    // Landmarks are in crop pixels: the nose tip near the middle of the crop.
    const float *nose = a.ids[0].faces[0].landmarks[DFD_MESH_NOSE_TIP];
    CHECK(fabsf(nose[0] - 56) < 15 && fabsf(nose[1] - 56) < 20);
    dfd_face_cache_stats s;
    dfd_face_cache_get_stats(&s, c);
    CHECK(s.misses == 1 && s.hits == 0 && s.hashed == 1);

    // Second call: from disk, nothing hashed again, identical crops and landmarks.
    CHECK_OK(dfd_face_cache_get(&b, c, g_clip, &err));
    CHECK(b.from_cache);
    CHECK(entries_equal(&a, &b));
    dfd_face_cache_get_stats(&s, c);
    CHECK(s.misses == 1 && s.hits == 1 && s.hashed == 1);
    dfd_face_entry_free(&b);
    dfd_face_cache_close(c);

    // A fresh handle (nothing in memory): still a hit, no face work.
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o, &err));
    CHECK_OK(dfd_face_cache_get(&b, c, g_clip, &err));
    dfd_face_cache_get_stats(&s, c);
    CHECK(b.from_cache && s.misses == 0 && s.hits == 1);
    CHECK(entries_equal(&a, &b));
    dfd_face_entry_free(&b);

    // The entry folder holds exactly the two files, and nothing half-written lies beside it.
    char entry[1200];
    snprintf(entry, sizeof entry, "%s/%.2s/%s", g_cache, a.key, a.key);
    char **names;
    size_t n;
    CHECK_OK(dfd_dir_list_files(&names, &n, entry, &err));
    CHECK(n == 2 && strcmp(names[0], "faces.bin") == 0 && strcmp(names[1], "meta.json") == 0);
    dfd_dir_list_free(names, n);
    snprintf(entry, sizeof entry, "%s/%.2s", g_cache, a.key);
    DIR *dir = opendir(entry);
    REQUIRE(dir);
    size_t n_sub = 0;
    for (struct dirent *de; (de = readdir(dir)) != NULL;) {
        n_sub += de->d_name[0] != '.';
        CHECK(strstr(de->d_name, ".tmp.") == NULL);
    }
    closedir(dir);
    CHECK_EQ_INT(n_sub, 1);

    // A damaged entry (faces.bin cut short) is rebuilt, identically.
    snprintf(entry, sizeof entry, "%s/%.2s/%s/faces.bin", g_cache, a.key, a.key);
    REQUIRE(truncate(entry, 1000) == 0);
    CHECK_OK(dfd_face_cache_get(&b, c, g_clip, &err));
    dfd_face_cache_get_stats(&s, c);
    CHECK(!b.from_cache && s.damaged == 1 && s.misses == 1);
    CHECK(entries_equal(&a, &b));
    dfd_face_entry_free(&b);
    dfd_face_cache_close(c);
    dfd_face_entry_free(&a);
}

static void test_settings_and_content_change_the_key(void)
{
    if (!setup()) {
        TEST_SKIP("face models or assets/astronaut.png absent (scripts/setup.sh fetches them)");
    }
    dfd_face_cache_opts o = small_opts();
    dfd_face_cache *c;
    dfd_face_entry a, b;
    dfd_error err;
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o, &err));
    CHECK_OK(dfd_face_cache_get(&a, c, g_png, &err)); // made here or by an earlier test
    dfd_face_cache_close(c);

    // Another margin: a miss, another key.
    dfd_face_cache_opts o2 = o;
    o2.face.margin = 1.5f;
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o2, &err));
    CHECK_OK(dfd_face_cache_get(&b, c, g_png, &err));
    CHECK(!b.from_cache && strcmp(a.key, b.key) != 0);
    CHECK(strcmp(a.sha256, b.sha256) == 0);
    dfd_face_entry_free(&b);
    dfd_face_cache_close(c);

    // Another frame count: videos miss, images (one frame anyway) keep their entry.
    o2 = o;
    o2.frames = 5;
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o2, &err));
    CHECK_OK(dfd_face_cache_get(&b, c, g_png, &err));
    CHECK(b.from_cache && strcmp(a.key, b.key) == 0);
    dfd_face_entry_free(&b);
    CHECK_OK(dfd_face_cache_get(&b, c, g_clip, &err));
    CHECK(!b.from_cache);
    CHECK_EQ_INT(b.n_frames, 5);
    dfd_face_entry_free(&b);
    dfd_face_cache_close(c);

    // Changed content under the same name: a miss (the remembered hash is not trusted).
    char copy[800];
    snprintf(copy, sizeof copy, "%s/changing.png", g_dir);
    dfd_image img;
    REQUIRE(dfd_image_read(&img, g_png, &err) == DFD_OK);
    CHECK_OK(dfd_png_write(copy, &img, &err));
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o, &err));
    CHECK_OK(dfd_face_cache_get(&b, c, copy, &err));
    CHECK(b.from_cache && strcmp(a.key, b.key) == 0); // same bytes as portrait.png: same entry
    dfd_face_entry_free(&b);
    dfd_image_px(&img, 5, 5)[0] ^= 1;
    CHECK_OK(dfd_png_write(copy, &img, &err));
    CHECK_OK(dfd_face_cache_get(&b, c, copy, &err));
    CHECK(!b.from_cache && strcmp(a.key, b.key) != 0 && strcmp(a.sha256, b.sha256) != 0);
    dfd_face_cache_stats s;
    dfd_face_cache_get_stats(&s, c);
    CHECK_EQ_INT(s.hashed, 2);
    dfd_face_entry_free(&b);
    dfd_face_cache_close(c);
    dfd_image_free(&img);
    dfd_face_entry_free(&a);
}

static void test_images_are_one_frame_videos(void)
{
    if (!setup()) {
        TEST_SKIP("face models or assets/astronaut.png absent (scripts/setup.sh fetches them)");
    }
    dfd_face_cache_opts o = small_opts();
    dfd_face_cache *c;
    dfd_face_entry e;
    dfd_error err;
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o, &err));
    // The portrait: one face found by the detector, near the box read off the image by eye
    // (x 175..275, y 77..177).
    CHECK_OK(dfd_face_cache_get(&e, c, g_png, &err));
    CHECK_EQ_INT(e.kind, DFD_MEDIA_IMAGE);
    CHECK_EQ_INT(e.n_frames, 1);
    CHECK(!e.whole_image);
    REQUIRE(e.n_ids == 1 && e.ids[0].n == 1);
    const float *b = e.ids[0].faces[0].box;
    CHECK(fabsf((b[0] + b[2]) / 2 - 225) < 12 && fabsf((b[1] + b[3]) / 2 - 127) < 15);
    CHECK(e.ids[0].faces[0].score > 0.7f);
    dfd_face_entry_free(&e);

    // No face: taken whole (the centre 200 x 200 square resized), and the entry says so.
    CHECK_OK(dfd_face_cache_get(&e, c, g_plain, &err));
    CHECK(e.whole_image);
    CHECK_EQ_INT(e.outcome, DFD_FACES_FOUND);
    CHECK_STR_CONTAINS(e.reason, "taken whole");
    REQUIRE(e.n_ids == 1 && e.ids[0].n == 1);
    const dfd_cached_face *f = &e.ids[0].faces[0];
    CHECK(f->box[0] == 50 && f->box[1] == 0 && f->box[2] == 250 && f->box[3] == 200);
    CHECK(f->landmarks == NULL && e.n_landmarks == 0);
    // The ramp's red at the crop's middle column is about that of image column 150.
    CHECK_NEAR(dfd_image_px(&f->crop, 56, 56)[0], 150 * 255 / 300, 4);
    dfd_face_entry_free(&e);
    dfd_face_cache_close(c);

    // Told to detect only: no face.
    o.image_faces = DFD_IMAGE_FACES_DETECT;
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o, &err));
    CHECK_OK(dfd_face_cache_get(&e, c, g_plain, &err));
    CHECK(e.outcome != DFD_FACES_FOUND && e.n_ids == 0 && !e.whole_image);
    dfd_face_entry_free(&e);
    dfd_face_cache_close(c);

    // A tight crop from another detector: a face either way (found, or the whole crop).
    o.image_faces = DFD_IMAGE_FACES_DETECT_OR_WHOLE;
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o, &err));
    CHECK_OK(dfd_face_cache_get(&e, c, g_tight, &err));
    CHECK_EQ_INT(e.outcome, DFD_FACES_FOUND);
    fprintf(stderr, "    tight crop: %s\n", e.reason);
    dfd_face_entry_free(&e);
    dfd_face_cache_close(c);

    // "auto": a face crop whole (the face found spans 0.6 of this one, cut at 1.6x around the
    // portrait's face), the portrait (its face a fifth of its width) through the face stage.
    dfd_image astro;
    char crop[800];
    snprintf(crop, sizeof crop, "%s/face16.png", g_dir);
    REQUIRE(dfd_image_read(&astro, g_png, &err) == DFD_OK);
    dfd_image view = dfd_image_view(&astro, 225 - 83, 127 - 83, 166, 166);
    CHECK_OK(dfd_png_write(crop, &view, &err));
    dfd_image_free(&astro);
    o.image_faces = DFD_IMAGE_FACES_AUTO;
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o, &err));
    CHECK_OK(dfd_face_cache_get(&e, c, crop, &err));
    CHECK(e.whole_image && !e.from_cache && e.n_ids == 1);
    CHECK_STR_CONTAINS(e.reason, "a face crop: its face spans");
    dfd_face_entry_free(&e);
    CHECK_OK(dfd_face_cache_get(&e, c, g_png, &err));
    CHECK(!e.whole_image && e.n_ids == 1 && e.n_landmarks > 0);
    dfd_face_entry_free(&e);
    dfd_face_cache_close(c);
}

static void test_errors_and_fill(void)
{
    if (!setup()) {
        TEST_SKIP("face models or assets/astronaut.png absent (scripts/setup.sh fetches them)");
    }
    dfd_face_cache_opts o = small_opts();
    dfd_face_cache *c;
    dfd_face_entry e;
    dfd_error err;
    CHECK_OK(dfd_face_cache_open(&c, g_cache, &o, &err));
    char path[800];
    snprintf(path, sizeof path, "%s/missing.mp4", g_dir);
    CHECK_EQ_INT(dfd_face_cache_get(&e, c, path, &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "missing.mp4");
    snprintf(path, sizeof path, "%s/text.mp4", g_dir);
    REQUIRE(write_text(g_dir, "text.mp4", "not a video\n") == 0);
    CHECK_EQ_INT(dfd_face_cache_get(&e, c, path, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "text.mp4");
    CHECK(e.ids == NULL && e.block == NULL);

    // Several files on two threads: each gets its status.
    const char *paths[4] = { g_clip, g_png, path, g_plain };
    dfd_status st[4];
    dfd_error errs[4];
    CHECK_OK(dfd_face_cache_fill(c, paths, 4, 2, st, errs, NULL, NULL, &err));
    CHECK(st[0] == DFD_OK && st[1] == DFD_OK && st[2] == DFD_ERR_FORMAT && st[3] == DFD_OK);
    CHECK_STR_CONTAINS(errs[2].msg, "text.mp4");
    dfd_face_cache_close(c);
    // Missing models: named at open.
    o.models_dir = "/nonexistent-models";
    CHECK_EQ_INT(dfd_face_cache_open(&c, g_cache, &o, &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "/nonexistent-models");
}

static void test_cleanup(void)
{
    if (g_ready) {
        dfd_remove_tree(g_dir, NULL);
    }
}

DFD_TEST_MAIN({ "second_call_reads_the_cache", test_second_call_reads_the_cache },
              { "settings_and_content_change_the_key", test_settings_and_content_change_the_key },
              { "images_are_one_frame_videos", test_images_are_one_frame_videos },
              { "errors_and_fill", test_errors_and_fill }, { "cleanup", test_cleanup })
