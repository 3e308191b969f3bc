// The face stage on real footage: the FaceForensics++ c23 videos of ../shared/data (research
// data, never in the repository; the test skips when it is absent). Every video shows one
// presenter, a few show a second person: faces must be found in at least 98% of all sampled
// frames of every video, and exactly one identity in at least 95% of the videos.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/face/faces.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/threads.h"
#include "dfdetect/video/video.h"
#include "test.h"

#define FRAMES  32
#define WORKERS 2

// One video's figures, written by the worker that processed it.
typedef struct video_run {
    const char *name;
    dfd_status status;
    char error[256];
    size_t frames, with_face, n_ids;
    char reason[192];
    double t_decode, t_faces;
} video_run;

// Videos run two at a time, each worker with its own single-threaded engine (as `dfdetect faces
// --jobs 2` does): independent workers keep both cores busy through decoding too, and do not
// stall on each other's barriers when other tests share the machine.
typedef struct run_ctx {
    const char *dir;
    dfd_face_engine *engines[WORKERS];
    video_run *runs;
} run_ctx;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_video(void *ctx, size_t i, int thread)
{
    run_ctx *c = ctx;
    video_run *r = &c->runs[i];
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", c->dir, r->name);
    dfd_error err = { 0 };
    dfd_video *v;
    dfd_frame_set set;
    dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 8 };
    double t0 = dfd_now();
    r->status = dfd_video_open(&v, path, NULL, &err);
    if (!r->status) {
        r->status = dfd_video_sample(&set, v, &pol, FRAMES, NULL, NULL, &err);
        dfd_video_close(v);
    }
    if (r->status) {
        snprintf(r->error, sizeof r->error, "%s", err.msg);
        return;
    }
    double t1 = dfd_now();
    dfd_face_result fr;
    r->status = dfd_faces_extract(&fr, c->engines[thread], &set, &err);
    r->t_decode = t1 - t0;
    r->t_faces = dfd_now() - t1;
    if (r->status) {
        snprintf(r->error, sizeof r->error, "%s", err.msg);
    } else {
        r->frames = fr.n_frames;
        r->with_face = fr.n_frames_with_face;
        r->n_ids = fr.n_ids;
        snprintf(r->reason, sizeof r->reason, "%s", fr.reason);
        dfd_face_result_free(&fr);
    }
    dfd_frame_set_free(&set);
}

static void test_ffpp_faces(void)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    const char *data = getenv("DFD_DATA");
    char dir[1024], models[1024];
    if (data) {
        snprintf(dir, sizeof dir, "%s/ffpp_c23", data);
    } else {
        snprintf(dir, sizeof dir, "%s/../shared/data/ffpp_c23", src ? src : ".");
    }
    snprintf(models, sizeof models, "%s/models", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d) {
        TEST_SKIP("%s absent (research data, not part of the repository)", dir);
    }
    char *names[512];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < 512;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".mp4") == 0) {
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    REQUIRE(n > 0);

    dfd_face_models *m;
    dfd_error err;
    if (dfd_face_models_load(&m, models, &err) != DFD_OK) {
        TEST_SKIP("%s", err.msg);
    }
    run_ctx c = { .dir = dir, .runs = calloc(n, sizeof *c.runs) };
    REQUIRE(c.runs != NULL);
    dfd_face_opts o = dfd_face_opts_default();
    o.n_threads = 1;
    for (int t = 0; t < WORKERS; t++) {
        CHECK_OK(dfd_face_engine_create(&c.engines[t], m, &o, &err));
    }
    for (size_t i = 0; i < n; i++) {
        c.runs[i].name = names[i];
    }
    dfd_pool *pool;
    CHECK_OK(dfd_pool_create(&pool, WORKERS, &err));
    double t_start = dfd_now();
    dfd_pool_run(pool, run_video, &c, n);
    double t_wall = dfd_now() - t_start;
    dfd_pool_destroy(pool);

    size_t frames = 0, with_face = 0, one_id = 0, worst = FRAMES;
    double t_decode = 0, t_faces = 0;
    for (size_t i = 0; i < n; i++) {
        const video_run *r = &c.runs[i];
        if (r->status) {
            fprintf(stderr, "    %s\n", r->error);
        }
        CHECK(r->status == DFD_OK);
        if (!r->status) {
            frames += r->frames;
            with_face += r->with_face;
            one_id += r->n_ids == 1;
            worst = r->with_face < worst ? r->with_face : worst;
            t_decode += r->t_decode;
            t_faces += r->t_faces;
            if (r->n_ids != 1 || r->with_face < r->frames) {
                fprintf(stderr, "    %s: %s\n", r->name, r->reason);
            }
        }
        free(names[i]);
    }
    fprintf(stderr,
            "    %zu videos: a face in %zu of %zu frames (%.1f%%), worst video %zu of %d; "
            "one identity in %zu (%.1f%%); %.1f s wall on %d workers: decode %.2f s, faces "
            "%.2f s (%.0f ms a video)\n",
            n, with_face, frames, 100.0 * (double)with_face / (double)frames, worst, FRAMES, one_id,
            100.0 * (double)one_id / (double)n, t_wall, WORKERS, t_decode, t_faces,
            1e3 * t_faces / (double)n);
    CHECK(with_face * 100 >= frames * 98);
    CHECK(worst * 100 >= FRAMES * 98); // every video: a face in at least 98% of its frames
    CHECK(one_id * 100 >= n * 95);
    free(c.runs);
    for (int t = 0; t < WORKERS; t++) {
        dfd_face_engine_free(c.engines[t]);
    }
    dfd_face_models_free(m);
}

DFD_TEST_MAIN({ "ffpp_faces", test_ffpp_faces })
