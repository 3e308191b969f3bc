// The face stage: BlazeFace decoding on synthetic network outputs, the tracker on synthetic
// detections, and the whole stage (detect, track, landmark, crop) on the astronaut portrait:
// still, turned, shrunk, and as the panning demo clip, against a reference box and landmark
// positions read off the image by eye.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/face/detector.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/image/warp.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/video/video.h"
#include "test.h"

#define PI 3.14159265358979f

// ---- BlazeFace decoding ----

typedef struct raw_outputs {
    float s16[512], s32[384], b16[512 * 16], b32[384 * 16];
} raw_outputs;

static void raw_clear(raw_outputs *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 512; i++) {
        r->s16[i] = -20;
    }
    for (int i = 0; i < 384; i++) {
        r->s32[i] = -20;
    }
}

// Anchor a of the stride-16 layer (16x16 cells, 2 anchors each): a box offset (dx, dy) from the
// anchor centre, w x h, keypoints at kp offsets.
static void raw_set16(raw_outputs *r, int gx, int gy, int k, float logit, float dx, float dy,
                      float w, float h)
{
    int a = (gy * 16 + gx) * 2 + k;
    r->s16[a] = logit;
    float *b = r->b16 + a * 16;
    b[0] = dx;
    b[1] = dy;
    b[2] = w;
    b[3] = h;
    for (int p = 0; p < 6; p++) {
        b[4 + 2 * p] = dx + (float)(p - 3);
        b[5 + 2 * p] = dy + (float)p;
    }
}

static void test_decode_one_anchor(void)
{
    static raw_outputs r;
    raw_clear(&r);
    raw_set16(&r, 7, 5, 1, 2.0f, 3, -2, 40, 50);
    dfd_detection d[8];
    size_t n = dfd_blazeface_decode(d, 8, r.s16, r.s32, r.b16, r.b32, 0.5f, 0.3f);
    REQUIRE(n == 1);
    // Anchor centre (7.5, 5.5) x 16 = (120, 88); box centre (123, 86), 40 x 50.
    CHECK_NEAR(d[0].x0, 103, 1e-4);
    CHECK_NEAR(d[0].x1, 143, 1e-4);
    CHECK_NEAR(d[0].y0, 61, 1e-4);
    CHECK_NEAR(d[0].y1, 111, 1e-4);
    CHECK_NEAR(d[0].score, 1 / (1 + exp(-2.0)), 1e-6);
    CHECK_NEAR(d[0].kp[DFD_KP_RIGHT_EYE][0], 120 + 3 - 3, 1e-4);
    CHECK_NEAR(d[0].kp[DFD_KP_LEFT_EAR][1], 88 - 2 + 5, 1e-4);
    // Below the threshold: nothing.
    CHECK_EQ_INT(dfd_blazeface_decode(d, 8, r.s16, r.s32, r.b16, r.b32, 0.9f, 0.3f), 0);

    // The stride-32 layer: 8x8 cells, 6 anchors each; last anchor of cell (2, 3).
    raw_clear(&r);
    int a = (3 * 8 + 2) * 6 + 5;
    r.s32[a] = 4;
    r.b32[a * 16 + 2] = 64;
    r.b32[a * 16 + 3] = 64;
    n = dfd_blazeface_decode(d, 8, r.s16, r.s32, r.b16, r.b32, 0.5f, 0.3f);
    REQUIRE(n == 1);
    CHECK_NEAR((d[0].x0 + d[0].x1) / 2, 2.5 * 32, 1e-4);
    CHECK_NEAR((d[0].y0 + d[0].y1) / 2, 3.5 * 32, 1e-4);
}

static void test_decode_weighted_nms(void)
{
    static raw_outputs r;
    raw_clear(&r);
    // Two overlapping candidates (sigmoid 0.8 and 0.6 weights) and one far away.
    float l8 = logf(0.8f / 0.2f), l6 = logf(0.6f / 0.4f);
    raw_set16(&r, 4, 4, 0, l8, 0, 0, 40, 40);
    raw_set16(&r, 4, 4, 1, l6, 8, 0, 40, 40);
    raw_set16(&r, 12, 12, 0, l6, 0, 0, 30, 30);
    dfd_detection d[8];
    size_t n = dfd_blazeface_decode(d, 8, r.s16, r.s32, r.b16, r.b32, 0.5f, 0.3f);
    REQUIRE(n == 2);
    // The merged box is the score-weighted mean: x offset (0.8 * 0 + 0.6 * 8) / 1.4.
    CHECK_NEAR(d[0].score, 0.8, 1e-5);
    CHECK_NEAR((d[0].x0 + d[0].x1) / 2, 72 + 4.8 / 1.4, 1e-3);
    CHECK_NEAR(d[0].x1 - d[0].x0, 40, 1e-3);
    CHECK_NEAR(d[1].score, 0.6, 1e-5);
    CHECK_NEAR((d[1].x0 + d[1].x1) / 2, 200, 1e-3);
}

static void test_decode_extreme_logits(void)
{
    static raw_outputs r;
    raw_clear(&r);
    raw_set16(&r, 1, 1, 0, INFINITY, 0, 0, 20, 20);
    raw_set16(&r, 9, 9, 0, 1e30f, 0, 0, 20, 20);
    raw_set16(&r, 14, 2, 0, NAN, 0, 0, 20, 20);
    r.s32[7] = -INFINITY;
    dfd_detection d[8];
    size_t n = dfd_blazeface_decode(d, 8, r.s16, r.s32, r.b16, r.b32, 0.5f, 0.3f);
    CHECK_EQ_INT(n, 2); // NaN and -inf are not faces
    for (size_t i = 0; i < n; i++) {
        CHECK(d[i].score > 0.99f && d[i].score <= 1.0f);
    }
}

// ---- tracking ----

static dfd_detection box(float cx, float cy, float side)
{
    dfd_detection d;
    memset(&d, 0, sizeof d);
    d.x0 = cx - side / 2;
    d.x1 = cx + side / 2;
    d.y0 = cy - side / 2;
    d.y1 = cy + side / 2;
    d.score = 0.9f;
    return d;
}

// Frames with up to 4 detections each, built from a table.
typedef struct scene {
    dfd_frame_faces f[40];
    dfd_detection d[40][4];
} scene;

static void scene_add(scene *s, size_t frame, dfd_detection d)
{
    s->f[frame].faces = s->d[frame];
    s->d[frame][s->f[frame].n++] = d;
}

static void test_track_two_people(void)
{
    static scene s;
    memset(&s, 0, sizeof s);
    // A walks right 10 px a frame; B stands still and is missed in frames 3-5 (gap 3 <= 4);
    // a false positive flickers once at frame 7.
    for (size_t f = 0; f < 20; f++) {
        scene_add(&s, f, box(100 + 10 * (float)f, 200, 80));
        if (f < 3 || f > 5) {
            scene_add(&s, f, box(600, 220, 60));
        }
        if (f == 7) {
            scene_add(&s, f, box(400, 50, 30));
        }
    }
    dfd_track *t;
    size_t n;
    CHECK_OK(dfd_track_faces(&t, &n, s.f, 20, 4, 2, 0.25f));
    REQUIRE(n == 2);
    CHECK_EQ_INT(t[0].n, 20); // longest first: A
    CHECK_EQ_INT(t[1].n, 17);
    for (size_t k = 0; k < t[0].n; k++) {
        CHECK_EQ_INT(t[0].links[k].frame, k);
        const dfd_detection *d = &s.f[k].faces[t[0].links[k].det];
        CHECK_NEAR(d->x0, 60 + 10 * (double)k, 1e-4);
    }
    CHECK_EQ_INT(t[1].links[3].frame, 6); // continued after the gap
    dfd_tracks_free(t, n);
}

static void test_track_gap_and_length(void)
{
    static scene s;
    memset(&s, 0, sizeof s);
    // Seen in frames 0-4, lost for 6 frames (more than max_gap 4), back in 11-19.
    for (size_t f = 0; f < 20; f++) {
        if (f < 5 || f > 10) {
            scene_add(&s, f, box(300, 300, 100));
        }
    }
    dfd_track *t;
    size_t n;
    CHECK_OK(dfd_track_faces(&t, &n, s.f, 20, 4, 2, 0.25f));
    REQUIRE(n == 2); // two tracks: 9 and 5 frames (need max(2, ceil(0.25 * 20)) = 5)
    CHECK_EQ_INT(t[0].n, 9);
    CHECK_EQ_INT(t[1].n, 5);
    dfd_tracks_free(t, n);
    // A longer minimum drops the short one; a larger gap tolerance joins them.
    CHECK_OK(dfd_track_faces(&t, &n, s.f, 20, 4, 6, 0.25f));
    CHECK_EQ_INT(n, 1);
    dfd_tracks_free(t, n);
    CHECK_OK(dfd_track_faces(&t, &n, s.f, 20, 6, 2, 0.25f));
    REQUIRE(n == 1);
    CHECK_EQ_INT(t[0].n, 14);
    dfd_tracks_free(t, n);
    // A jump across the frame, or a size change beyond 2x, is a different face.
    memset(&s, 0, sizeof s);
    scene_add(&s, 0, box(100, 100, 50));
    scene_add(&s, 1, box(100, 100, 50));
    scene_add(&s, 2, box(400, 100, 50));
    scene_add(&s, 3, box(400, 100, 150));
    CHECK_OK(dfd_track_faces(&t, &n, s.f, 4, 4, 1, 0.f));
    CHECK_EQ_INT(n, 3);
    dfd_tracks_free(t, n);
    // Nothing in, nothing out.
    memset(&s, 0, sizeof s);
    CHECK_OK(dfd_track_faces(&t, &n, s.f, 10, 4, 2, 0.25f));
    CHECK_EQ_INT(n, 0);
    dfd_tracks_free(t, n);
}

// ---- the whole stage on the astronaut portrait ----

static dfd_face_models *g_models;
static dfd_image g_astro;
static bool g_tried;

// The models and the portrait, loaded once; false (test skipped) when set-up has not run.
static bool have_models(void)
{
    if (!g_tried) {
        g_tried = true;
        const char *src = getenv("DFD_SOURCE_DIR");
        char dir[1024], png[1024];
        snprintf(dir, sizeof dir, "%s/models", src ? src : ".");
        snprintf(png, sizeof png, "%s/assets/astronaut.png", src ? src : ".");
        dfd_error err;
        if (dfd_face_models_load(&g_models, dir, &err) != DFD_OK ||
            dfd_image_read(&g_astro, png, &err) != DFD_OK) {
            dfd_face_models_free(g_models);
            g_models = NULL;
        }
    }
    return g_models != NULL;
}

// Read off a 4x magnified grid of the 512 x 512 portrait: the face runs from the hairline
// (y ~ 77) to the chin (y ~ 177) and from cheek to cheek (x ~ 180..270); as a square the
// detector's way, side 100 centred at (225, 127). The pupils are at (202.5, 101) (subject's
// right, image left) and (246, 103), the nose tip at (223, 130) (its highlight is at y 127, its
// base at 132), the mouth corners at (204, 141) and (244, 141), the middle of the lips at (224,
// 146).
static const float REF_BOX[4] = { 175, 77, 275, 177 };

static float iou4(const float a[4], const float b[4])
{
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0) {
        return 0;
    }
    float i = iw * ih;
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
}

static void mid(const dfd_face_obs *ob, int a, int b, float *x, float *y)
{
    *x = (ob->landmarks[a][0] + ob->landmarks[b][0]) / 2;
    *y = (ob->landmarks[a][1] + ob->landmarks[b][1]) / 2;
}

// Landmarks against the points read by eye, after mapping them through `m` (portrait ->
// frame), within tol frame pixels.
static void check_landmarks(const dfd_face_obs *ob, const double m[6], double tol)
{
    static const float ref[5][2] = {
        { 202.5f, 101 }, { 246, 103 }, { 223, 130 }, { 204, 141 }, { 244, 141 }
    };
    float got[5][2];
    mid(ob, DFD_MESH_RIGHT_EYE_OUTER, DFD_MESH_RIGHT_EYE_INNER, &got[0][0], &got[0][1]);
    mid(ob, DFD_MESH_LEFT_EYE_INNER, DFD_MESH_LEFT_EYE_OUTER, &got[1][0], &got[1][1]);
    got[2][0] = ob->landmarks[DFD_MESH_NOSE_TIP][0];
    got[2][1] = ob->landmarks[DFD_MESH_NOSE_TIP][1];
    got[3][0] = ob->landmarks[DFD_MESH_MOUTH_RIGHT][0];
    got[3][1] = ob->landmarks[DFD_MESH_MOUTH_RIGHT][1];
    got[4][0] = ob->landmarks[DFD_MESH_MOUTH_LEFT][0];
    got[4][1] = ob->landmarks[DFD_MESH_MOUTH_LEFT][1];
    for (int i = 0; i < 5; i++) {
        double x, y;
        dfd_affine_apply(m, ref[i][0], ref[i][1], &x, &y);
        double dist = hypot((double)got[i][0] - x, (double)got[i][1] - y);
        if (dist > tol) {
            fprintf(stderr, "    point %d: (%.1f, %.1f), expected (%.1f, %.1f)\n", i,
                    (double)got[i][0], (double)got[i][1], x, y);
        }
        CHECK(dist <= tol);
    }
}

// The reference box mapped through m (portrait -> frame), as the bounding square of its
// turned corners' centre and side.
static void map_box(float out[4], const double m[6])
{
    double cx, cy;
    dfd_affine_apply(m, (REF_BOX[0] + REF_BOX[2]) / 2, (REF_BOX[1] + REF_BOX[3]) / 2, &cx, &cy);
    double scale = sqrt(fabs(m[0] * m[4] - m[1] * m[3]));
    float half = (float)((double)(REF_BOX[2] - REF_BOX[0]) / 2 * scale);
    out[0] = (float)cx - half;
    out[1] = (float)cy - half;
    out[2] = (float)cx + half;
    out[3] = (float)cy + half;
}

static dfd_status extract(dfd_face_result *r, const dfd_face_opts *o, dfd_frame_set *set)
{
    dfd_face_engine *e;
    dfd_error err;
    dfd_status st = dfd_face_engine_create(&e, g_models, o, &err);
    if (!st) {
        st = dfd_faces_extract(r, e, set, &err);
    }
    if (st) {
        fprintf(stderr, "    %s\n", err.msg);
    }
    dfd_face_engine_free(e);
    return st;
}

// n frames, each the portrait placed by its own portrait -> frame matrix on a w x h canvas.
static dfd_status make_frames(dfd_frame_set *set, size_t n, int w, int h, double (*fwd)[6])
{
    set->frames = calloc(n, sizeof *set->frames);
    set->n = n;
    if (!set->frames) {
        return DFD_ERR_NOMEM;
    }
    const uint8_t grey[4] = { 128, 128, 128, 0 };
    for (size_t i = 0; i < n; i++) {
        dfd_frame *f = &set->frames[i];
        f->index = (int64_t)i;
        f->pts_s = (double)i / 30;
        double inv[6];
        if (dfd_image_alloc(&f->image, w, h, 3) || !dfd_affine_invert(inv, fwd[i]) ||
            dfd_image_warp_affine(&f->image, &g_astro, inv, grey)) {
            return DFD_ERR_NOMEM;
        }
    }
    return DFD_OK;
}

static void free_frames(dfd_frame_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        dfd_image_free(&set->frames[i].image);
    }
    free(set->frames);
    set->frames = NULL;
    set->n = 0;
}

// Forward map: scale s, turn by angle (screen counter-clockwise), portrait centre to (tx, ty).
static void place(double m[6], double s, double angle, double tx, double ty)
{
    double c = cos(angle) * s, sn = sin(angle) * s;
    // Rotation counter-clockwise on screen with y down: x' = c x + s y, y' = -s x + c y.
    m[0] = c;
    m[1] = sn;
    m[3] = -sn;
    m[4] = c;
    m[2] = tx - (c * 256 + sn * 256);
    m[5] = ty - (-sn * 256 + c * 256);
}

// The face found in frame f (NULL if none); *count: how many identities have one there.
static const dfd_face_obs *obs_in_frame(const dfd_face_result *r, size_t f, size_t *count)
{
    const dfd_face_obs *found = NULL;
    *count = 0;
    for (size_t i = 0; i < r->n_ids; i++) {
        for (size_t j = 0; j < r->ids[i].n; j++) {
            if (r->ids[i].obs[j].frame == f) {
                found = &r->ids[i].obs[j];
                (*count)++;
            }
        }
    }
    return found;
}

static void test_faces_still(void)
{
    if (!have_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    // Four frames: the portrait as is, shifted, smaller, larger on a 960 x 540 canvas.
    double m[4][6];
    place(m[0], 1.0, 0, 480, 270);
    place(m[1], 1.0, 0, 420, 250);
    place(m[2], 0.75, 0, 500, 300);
    place(m[3], 1.5, 0, 480, 300);
    dfd_frame_set set;
    REQUIRE(make_frames(&set, 4, 960, 540, m) == DFD_OK);
    // Each placement is its own scene: no track length required.
    dfd_face_opts o = dfd_face_opts_default();
    o.min_track_frames = 1;
    o.min_track_frac = 0;
    dfd_face_result r;
    CHECK_OK(extract(&r, &o, &set));
    CHECK_EQ_INT(r.outcome, DFD_FACES_FOUND);
    CHECK_EQ_INT(r.n_frames, 4);
    CHECK_EQ_INT(r.n_frames_with_face, 4);
    for (size_t k = 0; k < 4; k++) {
        size_t count;
        const dfd_face_obs *ob = obs_in_frame(&r, k, &count);
        CHECK_EQ_INT(count, 1);
        REQUIRE(ob);
        float ref[4], got[4] = { ob->det.x0, ob->det.y0, ob->det.x1, ob->det.y1 };
        map_box(ref, m[k]);
        float iou = iou4(ref, got);
        if (iou < 0.8f) {
            fprintf(stderr, "    frame %zu: IoU %.3f\n", k, (double)iou);
        }
        CHECK(iou >= 0.8f);
        CHECK(ob->presence >= 0.9f);
        double s = sqrt(m[k][0] * m[k][0] + m[k][1] * m[k][1]);
        check_landmarks(ob, m[k], 6 * s);
        CHECK(fabsf(ob->roll) < 0.1f); // the eyes are almost level (2 px over 44)
        REQUIRE(ob->crop.w == 224 && ob->crop.h == 224 && ob->crop.c == 3);
    }
    // Batched networks (a full batch of 3 and a remainder of 1, for the detector and the mesh)
    // find the same faces as one frame per run, the default.
    dfd_face_opts ob3 = o;
    ob3.detector.batch = 3;
    ob3.mesh_batch = 3;
    dfd_face_result r3;
    CHECK_OK(extract(&r3, &ob3, &set));
    CHECK_EQ_INT(r3.n_frames_with_face, 4);
    for (size_t k = 0; k < 4; k++) {
        size_t c1, c3;
        const dfd_face_obs *a1 = obs_in_frame(&r, k, &c1), *a3 = obs_in_frame(&r3, k, &c3);
        REQUIRE(a1 && a3 && c1 == 1 && c3 == 1);
        CHECK(fabsf(a1->det.x0 - a3->det.x0) < 1e-3f && fabsf(a1->det.y1 - a3->det.y1) < 1e-3f);
        CHECK(fabsf(a1->presence - a3->presence) < 1e-4f);
        CHECK(fabsf(a1->landmarks[1][0] - a3->landmarks[1][0]) < 1e-2f);
        CHECK(fabsf(a1->landmarks[1][1] - a3->landmarks[1][1]) < 1e-2f);
    }
    dfd_face_result_free(&r3);
    dfd_face_result_free(&r);
    CHECK(r.n_ids == 0 && r.ids == NULL);
    free_frames(&set);
}

static void test_faces_turned(void)
{
    if (!have_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    // Turned 25 degrees either way: the crops come out level (the turn is measured), and the
    // eyes sit at the same place in every crop.
    const double angles[3] = { 25 * PI / 180, -25 * PI / 180, 0 };
    double m[3][6];
    for (int k = 0; k < 3; k++) {
        place(m[k], 1.0, angles[k], 360, 360);
    }
    dfd_frame_set set;
    REQUIRE(make_frames(&set, 3, 720, 720, m) == DFD_OK);
    dfd_face_opts o = dfd_face_opts_default();
    o.min_track_frames = 1;
    o.min_track_frac = 0;
    dfd_face_result r;
    CHECK_OK(extract(&r, &o, &set));
    CHECK_EQ_INT(r.n_frames_with_face, 3);
    for (size_t k = 0; k < 3; k++) {
        size_t count;
        const dfd_face_obs *ob = obs_in_frame(&r, k, &count);
        CHECK_EQ_INT(count, 1);
        REQUIRE(ob);
        // The eyes' own slope in the portrait is atan2(-2, 43.5) ~ -2.6 degrees.
        CHECK_NEAR(ob->roll, angles[k] - 0.046, 2 * PI / 180);
        check_landmarks(ob, m[k], 6);
        // Eye centres in the crop: level, and where the upright frame has them.
        double inv[6], crop[6], ex[2], ey[2];
        dfd_affine_crop(crop, ob->cx, ob->cy, ob->side, ob->roll, 224, 224);
        REQUIRE(dfd_affine_invert(inv, crop));
        float x, y;
        mid(ob, DFD_MESH_RIGHT_EYE_OUTER, DFD_MESH_RIGHT_EYE_INNER, &x, &y);
        dfd_affine_apply(inv, x, y, &ex[0], &ey[0]);
        mid(ob, DFD_MESH_LEFT_EYE_INNER, DFD_MESH_LEFT_EYE_OUTER, &x, &y);
        dfd_affine_apply(inv, x, y, &ex[1], &ey[1]);
        CHECK_NEAR(ey[0], ey[1], 0.5);
        CHECK(ex[0] < 112 && ex[1] > 112);
        CHECK(ey[0] > 50 && ey[0] < 112); // eyes in the upper half
    }
    dfd_face_result_free(&r);
    free_frames(&set);
}

static void check_small_face(double scale)
{
    double m[3][6];
    for (int k = 0; k < 3; k++) {
        place(m[k], scale, 0, 1400 + 10 * k, 700);
    }
    dfd_frame_set set;
    REQUIRE(make_frames(&set, 3, 1920, 1080, m) == DFD_OK);
    dfd_face_opts o = dfd_face_opts_default();
    dfd_face_result r;
    CHECK_OK(extract(&r, &o, &set));
    CHECK_EQ_INT(r.outcome, DFD_FACES_FOUND);
    REQUIRE(r.n_ids == 1 && r.ids[0].n == 3);
    for (size_t k = 0; k < 3; k++) {
        const dfd_face_obs *ob = &r.ids[0].obs[k];
        CHECK(ob->det.closer);
        float ref[4], got[4] = { ob->det.x0, ob->det.y0, ob->det.x1, ob->det.y1 };
        map_box(ref, m[k]);
        CHECK(iou4(ref, got) >= 0.6f);
        check_landmarks(ob, m[k], 4);
    }
    dfd_face_result_free(&r);
    // Without the closer passes the tiny face gives at most a coarse whole-frame box, which the
    // landmark model rejects.
    if (scale < 0.5) {
        o.detector.tiles = false;
        CHECK_OK(extract(&r, &o, &set));
        CHECK(r.outcome == DFD_NO_FACE_NONE_FOUND || r.outcome == DFD_NO_FACE_REJECTED);
        dfd_face_result_free(&r);
    }
    free_frames(&set);
}

static void test_faces_small_found_closer(void)
{
    if (!have_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    // In a 1920 x 1080 frame a 45-pixel face is 6 pixels in the whole-frame pass: the tiles find
    // it. A 100-pixel face is 13 pixels there: found, but coarsely; the zoom on it sharpens the
    // box. Either way the closer look's boxes win over the coarse whole-frame ones.
    check_small_face(0.45);
    check_small_face(1.0);
}

// Consecutive frames of a small face: after the first, a frame is seen only through a zoom
// around the previous frame's face (one network input instead of two), with the same boxes as
// the whole procedure on each frame. A frame where the zoom loses the face gets the whole
// procedure, and the frames after it start over.
static void test_faces_small_followed_through_zooms(void)
{
    if (!have_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    double m[4][6];
    for (int k = 0; k < 4; k++) {
        place(m[k], 1.0, 0, 1400 + 6 * k, 700);
    }
    dfd_frame_set set;
    REQUIRE(make_frames(&set, 4, 1920, 1080, m) == DFD_OK);
    dfd_face_opts o = dfd_face_opts_default();
    dfd_face_result a, b;
    CHECK_OK(extract(&a, &o, &set)); // display indices 0, 1, 2, 3
    for (size_t k = 0; k < 4; k++) {
        set.frames[k].index = 10 * (int64_t)k; // not consecutive: nothing to follow
    }
    CHECK_OK(extract(&b, &o, &set));
    CHECK_EQ_INT(a.n_detector_inputs, 5); // whole + zoom, then one zoom per frame
    CHECK_EQ_INT(b.n_detector_inputs, 8); // whole + zoom on every frame
    REQUIRE(a.n_ids == 1 && b.n_ids == 1 && a.ids[0].n == 4 && b.ids[0].n == 4);
    for (size_t k = 0; k < 4; k++) {
        const dfd_detection *da = &a.ids[0].obs[k].det, *db = &b.ids[0].obs[k].det;
        float ref[4], ga[4] = { da->x0, da->y0, da->x1, da->y1 };
        map_box(ref, m[k]);
        CHECK(da->closer);
        CHECK(dfd_box_iou(da, db) >= 0.9f);
        CHECK(iou4(ref, ga) >= 0.6f);
    }
    dfd_face_result_free(&a);
    dfd_face_result_free(&b);
    // Frame 2 without the face.
    for (size_t k = 0; k < 4; k++) {
        set.frames[k].index = (int64_t)k;
    }
    memset(set.frames[2].image.data, 128, set.frames[2].image.stride * 1080);
    CHECK_OK(extract(&a, &o, &set));
    CHECK_EQ_INT(a.n_frames_with_face, 3);
    size_t count;
    CHECK(obs_in_frame(&a, 2, &count) == NULL);
    CHECK(obs_in_frame(&a, 3, &count) != NULL);
    // 0: whole + zoom; 1: zoom; 2: the lost zoom, then whole + tiles; 3: whole + zoom.
    CHECK(a.n_detector_inputs > 8);
    dfd_face_result_free(&a);
    // No face at all: the first frame of the run is tiled, the others only seen whole.
    for (size_t k = 0; k < 4; k++) {
        memset(set.frames[k].image.data, 128, set.frames[k].image.stride * 1080);
    }
    CHECK_OK(extract(&a, &o, &set));
    CHECK_EQ_INT(a.outcome, DFD_NO_FACE_NONE_FOUND);
    CHECK(a.n_detector_inputs > 4 && a.n_detector_inputs <= 4 + 16); // 16: at most one tiling
    for (size_t k = 0; k < 4; k++) {
        set.frames[k].index = 10 * (int64_t)k;
    }
    CHECK_OK(extract(&b, &o, &set));
    CHECK(b.n_detector_inputs >= 4 + 4 * (a.n_detector_inputs - 4)); // each frame tiled
    dfd_face_result_free(&a);
    dfd_face_result_free(&b);
    free_frames(&set);
}

static void test_faces_too_small_and_none(void)
{
    if (!have_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    // The portrait at 0.4x (face 40 px) with a minimum size of 60: found, then refused.
    double m[3][6];
    for (int k = 0; k < 3; k++) {
        place(m[k], 0.4, 0, 200 + 20 * k, 180);
    }
    dfd_frame_set set;
    REQUIRE(make_frames(&set, 3, 480, 360, m) == DFD_OK);
    dfd_face_opts o = dfd_face_opts_default();
    o.detector.min_size = 60;
    dfd_face_result r;
    CHECK_OK(extract(&r, &o, &set));
    CHECK_EQ_INT(r.outcome, DFD_NO_FACE_TOO_SMALL);
    CHECK_EQ_INT(r.n_ids, 0);
    CHECK_STR_CONTAINS(r.reason, "smaller than the minimum size");
    CHECK_STR_CONTAINS(dfd_face_outcome_name(r.outcome), "too_small");
    dfd_face_result_free(&r);
    // The same faces with the default minimum are found.
    o.detector.min_size = 24;
    CHECK_OK(extract(&r, &o, &set));
    CHECK_EQ_INT(r.outcome, DFD_FACES_FOUND);
    dfd_face_result_free(&r);

    // A face in only one of eight frames is not trusted (needs 2).
    for (size_t i = 1; i < set.n; i++) {
        memset(set.frames[i].image.data, 90, set.frames[i].image.stride * 360);
    }
    dfd_frame_set eight = set;
    dfd_frame frames8[8];
    for (int i = 0; i < 8; i++) {
        frames8[i] = set.frames[i < 3 ? i : 2];
        frames8[i].index = i;
    }
    eight.frames = frames8;
    eight.n = 8;
    CHECK_OK(extract(&r, &o, &eight));
    CHECK_EQ_INT(r.outcome, DFD_NO_FACE_TOO_FEW_FRAMES);
    CHECK_STR_CONTAINS(r.reason, "none seen in enough");
    dfd_face_result_free(&r);

    // Blank frames: none found. An empty set: none found.
    memset(set.frames[0].image.data, 90, set.frames[0].image.stride * 360);
    CHECK_OK(extract(&r, &o, &set));
    CHECK_EQ_INT(r.outcome, DFD_NO_FACE_NONE_FOUND);
    CHECK_EQ_INT(r.n_frames, 3);
    CHECK_STR_CONTAINS(r.reason, "no face found in 3 frames");
    dfd_face_result_free(&r);
    dfd_frame_set empty = { NULL, 0 };
    CHECK_OK(extract(&r, &o, &empty));
    CHECK_EQ_INT(r.outcome, DFD_NO_FACE_NONE_FOUND);
    dfd_face_result_free(&r);
    free_frames(&set);
}

static void test_faces_bad_input(void)
{
    if (!have_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    dfd_face_engine *e = NULL;
    dfd_error err;
    dfd_face_opts o = dfd_face_opts_default();
    o.margin = 0.5f;
    CHECK_EQ_INT(dfd_face_engine_create(&e, g_models, &o, &err), DFD_ERR_INVALID);
    CHECK(e == NULL);
    o = dfd_face_opts_default();
    CHECK_OK(dfd_face_engine_create(&e, g_models, &o, &err));
    dfd_frame f = { 0 };
    REQUIRE(dfd_image_alloc(&f.image, 64, 64, 1) == DFD_OK);
    dfd_frame_set set = { &f, 1 };
    dfd_face_result r;
    CHECK_EQ_INT(dfd_faces_extract(&r, e, &set, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "not RGB");
    dfd_image_free(&f.image);
    dfd_face_engine_free(e);
    // A models directory without the models names the missing file.
    dfd_face_models *m = NULL;
    CHECK_EQ_INT(dfd_face_models_load(&m, "/nonexistent-models", &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "/nonexistent-models/blazeface.json");
    CHECK_STR_CONTAINS(err.msg, "setup.sh");
    CHECK(m == NULL);
}

// n frames sampled uniformly from a video fixture.
static dfd_status sample_fixture(dfd_frame_set *set, const char *name, size_t n, dfd_error *err)
{
    char path[1024];
    const char *dir = getenv("DFD_FIXTURES");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "fixtures", name);
    dfd_video *v;
    dfd_status st = dfd_video_open(&v, path, NULL, err);
    if (st) {
        return st;
    }
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 8 };
    st = dfd_video_sample(set, v, &pol, n, NULL, NULL, err);
    dfd_video_close(v);
    return st;
}

// The demo clip: zoompan over the 512 x 512 portrait into 640 x 640, frame n showing the
// window of side 512 / z at (x, y), z = 1 + 0.0015 n, x = (512 - 512 / z) / 2 + 0.3 n,
// y = (512 - 512 / z) / 3 (tests/video/make_fixtures.sh).
static void pan_matrix(double m[6], int64_t n)
{
    double z = 1 + 0.0015 * (double)n, win = 512 / z;
    double x = (512 - win) / 2 + 0.3 * (double)n, y = (512 - win) / 3;
    double s = 640 / win;
    double fwd[6] = { s, 0, -x * s, 0, s, -y * s };
    memcpy(m, fwd, sizeof fwd);
}

static void test_faces_pan_clip(void)
{
    if (!have_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    dfd_frame_set set;
    dfd_error err;
    if (sample_fixture(&set, "astronaut_pan.mp4", 32, &err) != DFD_OK) {
        TEST_SKIP("%s", err.msg);
    }
    REQUIRE(set.n == 32);
    dfd_face_opts o = dfd_face_opts_default();
    dfd_face_result r;
    CHECK_OK(extract(&r, &o, &set));
    CHECK_EQ_INT(r.outcome, DFD_FACES_FOUND);
    CHECK_EQ_INT(r.n_frames_with_face, 32);
    REQUIRE(r.n_ids == 1 && r.ids[0].n == 32);
    float worst = 1;
    for (size_t k = 0; k < 32; k++) {
        const dfd_face_obs *ob = &r.ids[0].obs[k];
        double m[6];
        pan_matrix(m, ob->frame_index);
        float ref[4], got[4] = { ob->det.x0, ob->det.y0, ob->det.x1, ob->det.y1 };
        map_box(ref, m);
        worst = fminf(worst, iou4(ref, got));
        check_landmarks(ob, m, 8);
        CHECK(ob->side == r.ids[0].obs[0].side); // one crop size per identity
    }
    fprintf(stderr, "    worst IoU against the reference box: %.3f\n", (double)worst);
    CHECK(worst >= 0.8f);
    dfd_face_result_free(&r);
    dfd_frame_set_free(&set);
}

static void test_faces_pattern_clip(void)
{
    if (!have_models()) {
        TEST_SKIP("face models or astronaut.png absent (scripts/setup.sh fetches them)");
    }
    // testsrc2 at 1080p: colour bars and a moving pattern, no face anywhere (tiles included).
    dfd_frame_set set;
    dfd_error err;
    if (sample_fixture(&set, "h264_1080p.mp4", 6, &err) != DFD_OK) {
        TEST_SKIP("%s", err.msg);
    }
    dfd_face_opts o = dfd_face_opts_default();
    dfd_face_result r;
    CHECK_OK(extract(&r, &o, &set));
    CHECK_EQ_INT(r.outcome, DFD_NO_FACE_NONE_FOUND);
    CHECK_EQ_INT(r.n_ids, 0);
    dfd_face_result_free(&r);
    dfd_frame_set_free(&set);
}

static void test_cleanup(void)
{
    dfd_face_models_free(g_models);
    g_models = NULL;
    dfd_image_free(&g_astro);
}

DFD_TEST_MAIN({ "decode_one_anchor", test_decode_one_anchor },
              { "decode_weighted_nms", test_decode_weighted_nms },
              { "decode_extreme_logits", test_decode_extreme_logits },
              { "track_two_people", test_track_two_people },
              { "track_gap_and_length", test_track_gap_and_length },
              { "faces_still", test_faces_still }, { "faces_turned", test_faces_turned },
              { "faces_small_found_closer", test_faces_small_found_closer },
              { "faces_small_followed_through_zooms", test_faces_small_followed_through_zooms },
              { "faces_too_small_and_none", test_faces_too_small_and_none },
              { "faces_bad_input", test_faces_bad_input },
              { "faces_pan_clip", test_faces_pan_clip },
              { "faces_pattern_clip", test_faces_pattern_clip }, { "cleanup", test_cleanup })
