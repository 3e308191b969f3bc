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
#include "dfdetect/video/video.h"
#include "test.h"

#define FRAMES 32

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
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
    dfd_face_engine *e;
    dfd_face_opts o = dfd_face_opts_default();
    CHECK_OK(dfd_face_engine_create(&e, m, &o, &err));
    size_t frames = 0, with_face = 0, one_id = 0, worst = FRAMES;
    double t_decode = 0, t_faces = 0;
    for (size_t i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        dfd_video *v;
        dfd_frame_set set;
        dfd_sampling pol = { DFD_SAMPLING_UNIFORM, 8 };
        double t0 = dfd_now();
        dfd_status st = dfd_video_open(&v, path, NULL, &err);
        if (!st) {
            st = dfd_video_sample(&set, v, &pol, FRAMES, NULL, NULL, &err);
            dfd_video_close(v);
        }
        if (st) {
            fprintf(stderr, "    %s\n", err.msg);
        }
        CHECK(st == DFD_OK);
        if (st) {
            continue;
        }
        double t1 = dfd_now();
        dfd_face_result r;
        st = dfd_faces_extract(&r, e, &set, &err);
        t_decode += t1 - t0;
        t_faces += dfd_now() - t1;
        CHECK(st == DFD_OK);
        if (!st) {
            frames += r.n_frames;
            with_face += r.n_frames_with_face;
            one_id += r.n_ids == 1;
            worst = r.n_frames_with_face < worst ? r.n_frames_with_face : worst;
            if (r.n_ids != 1 || r.n_frames_with_face < r.n_frames) {
                fprintf(stderr, "    %s: %s\n", names[i], r.reason);
            }
            dfd_face_result_free(&r);
        }
        dfd_frame_set_free(&set);
        free(names[i]);
    }
    fprintf(stderr,
            "    %zu videos: a face in %zu of %zu frames (%.1f%%), worst video %zu of %d; "
            "one identity in %zu (%.1f%%); decode %.2f s, faces %.2f s (%.0f ms a video)\n",
            n, with_face, frames, 100.0 * (double)with_face / (double)frames, worst, FRAMES, one_id,
            100.0 * (double)one_id / (double)n, t_decode, t_faces, 1e3 * t_faces / (double)n);
    CHECK(with_face * 100 >= frames * 98);
    CHECK(worst * 100 >= FRAMES * 98); // every video: a face in at least 98% of its frames
    CHECK(one_id * 100 >= n * 95);
    dfd_face_engine_free(e);
    dfd_face_models_free(m);
}

DFD_TEST_MAIN({ "ffpp_faces", test_ffpp_faces })
