// bench/faces: the face stage on 32 frames of a 10 s 1080p clip with a face, per sampling policy:
// decode, detect, landmarks and crops, against the budget of 300 ms on 2 cores.
//   usage: faces [CLIP] [--runs R] [--frames N] [--threads T] [--detector-batch B]
// Without CLIP it uses bench/out/face_1080p_v2.mp4 and makes it first if missing: the astronaut
// portrait (720 px, moving) over a 1920x1080 background with light sensor noise, x264 defaults
// at 8 Mbit/s, keyframes every 250 frames: a phone-like clip (unconstrained, the grain makes
// 30 Mbit/s and the decoder the whole story).
#include "dfdetect/face/faces.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/video/video.h"

#define DEFAULT_CLIP "bench/out/face_1080p_v2.mp4"
#define BUDGET_S     0.300

static int make_clip(const char *path)
{
    return bench_make_clip(path, "10 s 1080p30 H.264 with a face, 8 Mbit/s",
                           "-loop 1 -framerate 30 -i assets/astronaut.png -f lavfi "
                           "-i color=c=0x405060:s=1920x1080:r=30:d=10 -filter_complex "
                           "\"[0:v]scale=720:720[fg];[1:v][fg]overlay=x='400+60*t':y=180:"
                           "shortest=1,noise=alls=8:allf=t,format=yuv420p\" -t 10 -c:v libx264 "
                           "-b:v 8M -maxrate 10M -bufsize 16M");
}

typedef struct stage_times {
    double decode, detect, mesh, crop, total;
    size_t with_face, ids, inputs;
} stage_times;

static int run_once(stage_times *t, dfd_face_engine *e, const char *clip, dfd_sampling_kind kind,
                    int frames, int threads)
{
    dfd_error err;
    dfd_video_opts vo = dfd_video_opts_default();
    vo.n_threads = threads;
    dfd_video *v;
    dfd_frame_set set;
    dfd_sampling pol = { kind, 8 };
    double t0 = dfd_now();
    if (dfd_video_open(&v, clip, &vo, &err) ||
        dfd_video_sample(&set, v, &pol, (size_t)frames, NULL, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    dfd_video_close(v);
    double t1 = dfd_now();
    dfd_face_result r;
    if (dfd_faces_extract(&r, e, &set, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    double t2 = dfd_now();
    *t = (stage_times){ t1 - t0, r.seconds_detect,     r.seconds_mesh, r.seconds_crop,
                        t2 - t0, r.n_frames_with_face, r.n_ids,        r.n_detector_inputs };
    dfd_face_result_free(&r);
    dfd_frame_set_free(&set);
    return 0;
}

int main(int argc, char **argv)
{
    const char *clip = DEFAULT_CLIP;
    int runs = 7, frames = 32, threads = 2, detector_batch = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            frames = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--detector-batch") == 0 && i + 1 < argc) {
            detector_batch = atoi(argv[++i]);
        } else if (argv[i][0] != '-') {
            clip = argv[i];
        } else {
            fprintf(
                stderr,
                "usage: faces [CLIP] [--runs R] [--frames N] [--threads T] [--detector-batch B]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 100 || frames < 1 || threads < 1 || detector_batch < 0) {
        fprintf(stderr, "faces: bad --runs, --frames, --threads or --detector-batch\n");
        return 2;
    }
    if (strcmp(clip, DEFAULT_CLIP) == 0 && make_clip(clip) != 0) {
        fprintf(stderr, "faces: cannot make %s (needs ffmpeg and assets/astronaut.png)\n", clip);
        return 1;
    }
    dfd_error err;
    dfd_face_models *m;
    if (dfd_face_models_load(&m, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    dfd_face_opts fo = dfd_face_opts_default();
    fo.n_threads = threads;
    if (detector_batch) {
        fo.detector.batch = detector_batch;
    }
    dfd_face_engine *e;
    if (dfd_face_engine_create(&e, m, &fo, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("clip %s, %d frames, %d threads, median of %d runs (policies interleaved)\n", clip,
           frames, threads, runs);
    static const dfd_sampling_kind kinds[2] = { DFD_SAMPLING_BURSTS, DFD_SAMPLING_UNIFORM };
    double v[2][5][100];
    stage_times last[2];
    stage_times warm;
    run_once(&warm, e, clip, kinds[0], frames, threads); // first-run costs out of the figures
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < 2; k++) {
            stage_times t;
            if (run_once(&t, e, clip, kinds[k], frames, threads)) {
                return 1;
            }
            const double parts[5] = { t.decode, t.detect, t.mesh, t.crop, t.total };
            for (int p = 0; p < 5; p++) {
                v[k][p][r] = parts[p];
            }
            last[k] = t;
        }
    }
    printf("%-8s %9s %9s %9s %9s %9s %8s  %s\n", "policy", "decode", "detect", "landmarks", "crops",
           "total", "budget", "faces");
    for (int k = 0; k < 2; k++) {
        double med[5];
        for (int p = 0; p < 5; p++) {
            med[p] = bench_median(v[k][p], runs);
        }
        printf("%-8s %7.1fms %7.1fms %7.1fms %7.1fms %7.1fms %7.2fx  %zu/%d frames, %zu id, "
               "%zu detector inputs\n",
               dfd_sampling_name(kinds[k]), med[0] * 1e3, med[1] * 1e3, med[2] * 1e3, med[3] * 1e3,
               med[4] * 1e3, med[4] / BUDGET_S, last[k].with_face, frames, last[k].ids,
               last[k].inputs);
    }
    printf("budget: %.0f ms for decode + detect + landmarks + crops (x < 1 is within it)\n",
           BUDGET_S * 1e3);
    dfd_face_engine_free(e);
    dfd_face_models_free(m);
    return 0;
}
