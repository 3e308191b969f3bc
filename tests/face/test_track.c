// Tracking across jumps in time (src/face/track.c, step 2): sampled frames leave holes in the
// video (between bursts, between uniform samples) and a face may move far across one. On
// synthetic detections: one face jumping between bursts stays one identity, two faces side by
// side stay two, two people in turn in different places or of different sizes stay two, faces
// seen in the same frame never merge, a jump inside a burst is not bridged. With the face models:
// the portrait jumping between bursts, and the panning demo clip sampled in bursts, give one
// identity.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/face/faces.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/warp.h"
#include "dfdetect/video/video.h"
#include "test.h"

#define N_MAX 40

// Up to 2 detections in each of up to N_MAX sampled frames, and the frames' indices and times
// (no pixels: the tracker reads only frames[i].index and .pts_s).
typedef struct sample {
    dfd_frame_faces f[N_MAX];
    dfd_detection d[N_MAX][2];
    dfd_frame fr[N_MAX];
    dfd_frame_set set;
} sample;

// n frames in bursts of burst_len consecutive video frames, burst b starting at b * spacing; at
// 30 frames a second. burst_len 1: uniform samples spacing frames apart.
static void sample_init(sample *s, size_t n, size_t burst_len, int64_t spacing)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s->fr[i].index = (int64_t)(i / burst_len) * spacing + (int64_t)(i % burst_len);
        s->fr[i].pts_s = (double)s->fr[i].index / 30;
        s->f[i].faces = s->d[i];
    }
    s->set.frames = s->fr;
    s->set.n = n;
}

static void add(sample *s, size_t i, float cx, float cy, float side)
{
    dfd_detection *d = &s->d[i][s->f[i].n++];
    memset(d, 0, sizeof *d);
    *d = (dfd_detection){ .x0 = cx - side / 2,
                          .y0 = cy - side / 2,
                          .x1 = cx + side / 2,
                          .y1 = cy + side / 2,
                          .score = 0.9f };
}

static float centre_x(const sample *s, const dfd_track_link *l)
{
    const dfd_detection *d = &s->f[l->frame].faces[l->det];
    return (d->x0 + d->x1) / 2;
}

// Tracks of the sample with the defaults of the face stage (max_gap 4, 2 frames, 25%).
static size_t run(dfd_track **t, const sample *s)
{
    size_t n = 0;
    dfd_status st = dfd_track_faces_sampled(t, &n, s->f, &s->set, 4, 2, 0.25f);
    CHECK(st == DFD_OK);
    return st == DFD_OK ? n : 0;
}

static void test_one_face_jumps_between_bursts(void)
{
    static sample s;
    // 4 bursts of 8, 75 frames apart: the face drifts 1.5 px a frame inside a burst and is
    // 300 px (2 sides) further on at the next burst, 2.3 s later.
    sample_init(&s, 32, 8, 75);
    for (size_t i = 0; i < 32; i++) {
        add(&s, i, 400 + 300 * (float)(i / 8) + 1.5f * (float)(i % 8), 350, 140);
    }
    dfd_track *t;
    size_t n;
    // Frame to frame only: one track per burst.
    CHECK_OK(dfd_track_faces(&t, &n, s.f, 32, 4, 2, 0.25f));
    CHECK_EQ_INT(n, 4);
    dfd_tracks_free(t, n);
    n = run(&t, &s);
    REQUIRE(n == 1);
    REQUIRE(t[0].n == 32);
    for (size_t k = 0; k < 32; k++) {
        CHECK_EQ_INT(t[0].links[k].frame, k);
    }
    dfd_tracks_free(t, n);
    // The bench clip's case: 2 bursts 8.3 s apart, 470 px (3.3 sides) further on, the size a
    // little off at the junction; and a burst that misses the face in its first two frames.
    sample_init(&s, 16, 8, 249);
    for (size_t i = 0; i < 16; i++) {
        if (i != 8 && i != 9) {
            add(&s, i, 715 + 470 * (float)(i / 8) + 3 * (float)(i % 8), 358,
                i == 10 ? 125.f : 143.f);
        }
    }
    n = run(&t, &s);
    REQUIRE(n == 1);
    CHECK_EQ_INT(t[0].n, 14);
    dfd_tracks_free(t, n);
}

static void test_two_faces_side_by_side(void)
{
    static sample s;
    // Two faces in every frame, 500 px apart; the camera pans 200 px between bursts.
    sample_init(&s, 32, 8, 60);
    for (size_t i = 0; i < 32; i++) {
        float pan = 200 * (float)(i / 8);
        add(&s, i, 900 + pan, 300, 110); // listed first: the right face
        add(&s, i, 400 + pan, 320, 120);
    }
    dfd_track *t;
    size_t n = run(&t, &s);
    REQUIRE(n == 2);
    for (size_t j = 0; j < 2; j++) {
        REQUIRE(t[j].n == 32);
        bool right = centre_x(&s, &t[j].links[0]) > 650;
        for (size_t k = 0; k < 32; k++) {
            float pan = 200 * (float)(k / 8);
            CHECK((centre_x(&s, &t[j].links[k]) - pan > 650) == right);
        }
    }
    dfd_tracks_free(t, n);
    // Faces seen together never merge: A in bursts 1-2, B in bursts 2-4, 1.5 sides apart (close
    // enough for a jump), each jumping 100 px between bursts.
    sample_init(&s, 32, 8, 60);
    for (size_t i = 0; i < 32; i++) {
        float pan = 100 * (float)(i / 8);
        if (i < 16) {
            add(&s, i, 400 + pan, 300, 100);
        }
        if (i >= 8) {
            add(&s, i, 550 + pan, 300, 100);
        }
    }
    n = run(&t, &s);
    REQUIRE(n == 2);
    CHECK_EQ_INT(t[0].n, 24);
    CHECK_EQ_INT(t[1].n, 16);
    dfd_tracks_free(t, n);
}

static void test_two_people_in_turn(void)
{
    static sample s;
    dfd_track *t;
    size_t n;
    // Uniform samples 9 frames (0.3 s) apart; A in the first half, B in the second.
    // B 1.6x smaller a side away from A, B the same size far from A (5 sides away in 0.3 s),
    // B in bursts (2.5 s later) 1.6x smaller: two identities each time.
    static const struct {
        size_t burst_len;
        int64_t spacing;
        float bx, by, bside;
    } cases[] = { { 1, 9, 560, 320, 100 }, { 1, 9, 1200, 300, 160 }, { 8, 75, 600, 320, 100 } };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sample_init(&s, 32, cases[c].burst_len, cases[c].spacing);
        for (size_t i = 0; i < 32; i++) {
            if (i < 16) {
                add(&s, i, 400, 300, 160);
            } else {
                add(&s, i, cases[c].bx, cases[c].by, cases[c].bside);
            }
        }
        n = run(&t, &s);
        CHECK_EQ_INT(n, 2);
        dfd_tracks_free(t, n);
    }
    // The same person moving between uniform samples (about a side in 0.3 s) stays one.
    sample_init(&s, 32, 1, 9);
    for (size_t i = 0; i < 32; i++) {
        add(&s, i, 400 + 100 * (float)(i / 16), 300, 100);
    }
    n = run(&t, &s);
    CHECK_EQ_INT(n, 1);
    dfd_tracks_free(t, n);
}

static void test_jump_rules(void)
{
    static sample s;
    dfd_track *t;
    size_t n;
    // A jump between consecutive video frames (one burst) is a different face: not bridged.
    sample_init(&s, 16, 16, 100);
    for (size_t i = 0; i < 16; i++) {
        add(&s, i, i < 8 ? 300.f : 700.f, 300, 120);
    }
    n = run(&t, &s);
    CHECK_EQ_INT(n, 2);
    dfd_tracks_free(t, n);
    // A one-frame false positive at the start of the next burst does not take the face: the
    // face, missed there, joins its own later frames.
    sample_init(&s, 16, 8, 60);
    for (size_t i = 0; i < 16; i++) {
        if (i == 8) {
            add(&s, i, 450, 300, 110);
        } else {
            add(&s, i, i < 8 ? 300.f : 560.f, 300, 120);
        }
    }
    n = run(&t, &s);
    REQUIRE(n == 1);
    CHECK_EQ_INT(t[0].n, 15);
    CHECK_EQ_INT(t[0].links[8].frame, 9);
    dfd_tracks_free(t, n);
    // Lost for more than max_gap sampled frames: two tracks, as within a burst.
    sample_init(&s, 24, 8, 60);
    for (size_t i = 0; i < 24; i++) {
        if (i < 8 || i >= 14) {
            add(&s, i, i < 8 ? 300.f : 500.f, 300, 120);
        }
    }
    n = run(&t, &s);
    CHECK_EQ_INT(n, 2);
    dfd_tracks_free(t, n);
}

// ---- with the face models ----

static dfd_face_models *g_models;
static dfd_image g_astro;

// dir/name into out, dir from the environment variable env (default: the current folder).
static void env_path(char *out, size_t cap, const char *env, const char *name)
{
    const char *dir = getenv(env);
    snprintf(out, cap, "%s/%s", dir ? dir : ".", name);
}

// The models and the portrait, loaded on first use; false (skip) when set-up has not run.
static bool load_models(void)
{
    static bool tried;
    char models[1024], png[1024];
    env_path(models, sizeof models, "DFD_SOURCE_DIR", "models");
    env_path(png, sizeof png, "DFD_SOURCE_DIR", "assets/astronaut.png");
    dfd_error err;
    if (!tried && (dfd_face_models_load(&g_models, models, &err) != DFD_OK ||
                   dfd_image_read(&g_astro, png, &err) != DFD_OK)) {
        dfd_face_models_free(g_models);
        g_models = NULL;
    }
    tried = true;
    return g_models != NULL;
}

// The number of identities the face stage finds in set (-1 on error); *n_obs: the first's frames.
static long identities(const dfd_frame_set *set, size_t *n_obs)
{
    dfd_face_opts o = dfd_face_opts_default();
    dfd_face_engine *e;
    dfd_face_result r;
    dfd_error err;
    dfd_status st = dfd_face_engine_create(&e, g_models, &o, &err);
    if (!st) {
        st = dfd_faces_extract(&r, e, set, &err);
    }
    dfd_face_engine_free(e);
    if (st) {
        fprintf(stderr, "    %s\n", err.msg);
        return -1;
    }
    fprintf(stderr, "    %s\n", r.reason);
    long n = (long)r.n_ids;
    *n_obs = r.n_ids ? r.ids[0].n : 0;
    dfd_face_result_free(&r);
    return n;
}

static void test_portrait_jumps_between_bursts(void)
{
    if (!load_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    // 4 bursts of 8 frames, 90 frames (3 s) apart, on a 1280 x 720 canvas: the portrait (face
    // side about 100 px) drifts 1 px a frame and is 250 px further right at each burst.
    static dfd_frame fr[32];
    dfd_frame_set set = { fr, 32 };
    const uint8_t grey[4] = { 128, 128, 128, 0 };
    bool ok = true;
    for (size_t i = 0; i < 32 && ok; i++) {
        fr[i].index = (int64_t)(i / 8) * 90 + (int64_t)(i % 8);
        fr[i].pts_s = (double)fr[i].index / 30;
        double m[6] = { 1, 0, -(100 + 250 * (double)(i / 8) + (double)(i % 8)), 0, 1, -100 };
        ok = dfd_image_alloc(&fr[i].image, 1280, 720, 3) == DFD_OK &&
             dfd_image_warp_affine(&fr[i].image, &g_astro, m, grey) == DFD_OK;
    }
    CHECK(ok);
    size_t n_obs = 0;
    CHECK_EQ_INT(ok ? identities(&set, &n_obs) : -1, 1);
    CHECK_EQ_INT(n_obs, 32);
    for (size_t i = 0; i < 32; i++) {
        dfd_image_free(&fr[i].image);
    }
}

static void test_pan_clip_bursts(void)
{
    if (!load_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    char path[1024];
    env_path(path, sizeof path, "DFD_FIXTURES", "astronaut_pan.mp4");
    dfd_video *v;
    dfd_frame_set set;
    dfd_error err;
    if (dfd_video_open(&v, path, NULL, &err) != DFD_OK) {
        TEST_SKIP("%s", err.msg);
    }
    dfd_sampling pol = { DFD_SAMPLING_BURSTS, 8 };
    dfd_status st = dfd_video_sample(&set, v, &pol, 32, NULL, NULL, &err);
    dfd_video_close(v);
    REQUIRE(st == DFD_OK && set.n == 32);
    size_t n_obs = 0;
    CHECK_EQ_INT(identities(&set, &n_obs), 1);
    CHECK_EQ_INT(n_obs, 32);
    dfd_frame_set_free(&set);
}

static void test_cleanup(void)
{
    dfd_face_models_free(g_models);
    g_models = NULL;
    dfd_image_free(&g_astro);
}

DFD_TEST_MAIN({ "one_face_jumps_between_bursts", test_one_face_jumps_between_bursts },
              { "two_faces_side_by_side", test_two_faces_side_by_side },
              { "two_people_in_turn", test_two_people_in_turn }, { "jump_rules", test_jump_rules },
              { "portrait_jumps_between_bursts", test_portrait_jumps_between_bursts },
              { "pan_clip_bursts", test_pan_clip_bursts }, { "cleanup", test_cleanup })
