// Face detection with BlazeFace (MediaPipe's 256x256 "back" model, ../shared/MODELS.md §1.2):
// frames are letterboxed to a square, normalised to [-1, 1] and run in batches; the 896 anchors
// are generated in code, scores are sigmoids of the clipped logits, and overlapping candidates
// are merged by MediaPipe's weighted non-maximum suppression. A face found but small in the
// whole-frame pass (under 16 of its 256 pixels, where boxes are coarse and false finds common)
// gets a closer look: the network runs again on a square around it. Frames where neither finds
// a face get a pass on overlapping tiles, so a face too small for 256 pixels of a 1080p frame is
// still found. When many frames need tiles, every fourth goes first and the rest follow only if
// those find a face: a video without faces pays for a quarter of its frames.
#ifndef DFD_FACE_DETECTOR_H
#define DFD_FACE_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/nn/graph.h"
#include "dfdetect/util/status.h"

// BlazeFace keypoints, in the model's order. "Right"/"left" are the subject's.
enum {
    DFD_KP_RIGHT_EYE = 0,
    DFD_KP_LEFT_EYE,
    DFD_KP_NOSE,
    DFD_KP_MOUTH,
    DFD_KP_RIGHT_EAR,
    DFD_KP_LEFT_EAR,
    DFD_KP_COUNT
};

// One face in one frame, in frame pixels (continuous coordinates: pixel (i, j) covers
// [i, i+1) x [j, j+1)).
typedef struct dfd_detection {
    float x0, y0, x1, y1;      // box
    float score;               // 0..1
    float kp[DFD_KP_COUNT][2]; // keypoints (x, y)
    bool closer;               // found by a closer second look (zoom on a small find, or tiles)
} dfd_detection;

// Detections of one frame, best first. Owned by a dfd_detections set.
typedef struct dfd_frame_faces {
    dfd_detection *faces;
    size_t n;
} dfd_frame_faces;

typedef struct dfd_detector_opts {
    float min_score; // keep faces at least this confident (default 0.6)
    float nms_iou;   // merge candidates overlapping more than this (default 0.3)
    float min_size;  // smallest face side kept, in frame pixels (default 24)
    bool tiles;      // the closer passes: zooms on small finds, tiles (default true)
    int batch;       // frames per network run (default 1: on this CPU a batch costs its items'
                     // time or more, and its arena grows with it; docs/PERFORMANCE.md)
    int n_threads;   // threads for the network (0: one per CPU)
} dfd_detector_opts;

dfd_detector_opts dfd_detector_opts_default(void);

typedef struct dfd_detector dfd_detector;

// A detector running `graph` (BlazeFace, borrowed: it must outlive the detector; one graph can
// serve detectors on many threads). A detector itself is used by one thread at a time.
// Errors: DFD_ERR_INVALID (options, or a graph without BlazeFace's four outputs),
// DFD_ERR_NOMEM.
dfd_status dfd_detector_create(dfd_detector **out, const dfd_graph *graph,
                               const dfd_detector_opts *opts, dfd_error *err);
void dfd_detector_free(dfd_detector *d); // accepts NULL

// Detect faces in n RGB frames (any sizes). Allocates out[i] for each frame (free with
// dfd_frame_faces_free); on error nothing is left allocated. Errors: DFD_ERR_NOMEM,
// DFD_ERR_INVALID (a frame that is not RGB).
dfd_status dfd_detector_run(dfd_frame_faces *out, dfd_detector *d, const dfd_image *frames,
                            size_t n, dfd_error *err);

// The same for the sampled frames of one video, in display order, with their display indices
// (index[i]). The first frame of each run of consecutive indices gets the whole procedure; a
// frame right after one whose faces were all small (each needed a zoom) is seen only through
// zooms around those faces, one network input per face instead of the whole frame plus the
// zooms. A frame where a zoom loses a face, and every frame after large or no faces, gets the
// whole procedure, except that a run whose first frame showed no face even in tiles is not
// tiled again. A face that enters mid-run, while the others are small, or too small for the
// whole frame after a faceless first frame, waits for the next run's first frame.
// index NULL: as dfd_detector_run.
dfd_status dfd_detector_run_video(dfd_frame_faces *out, dfd_detector *d, const dfd_image *frames,
                                  const int64_t *index, size_t n, dfd_error *err);

// Network inputs (whole frames, zooms, tiles) the detector has run since it was created.
size_t dfd_detector_n_inputs(const dfd_detector *d);

void dfd_frame_faces_free(dfd_frame_faces *f, size_t n); // frees n entries; accepts NULL

// Intersection over union of two boxes (0 when either is empty).
float dfd_box_iou(const dfd_detection *a, const dfd_detection *b);

// ---- exposed for tests ----

// Decode BlazeFace's raw outputs for one 256x256 input into candidates above min_score (in input
// pixels), merged by weighted NMS. scores16 [512], scores32 [384], boxes16 [512x16],
// boxes32 [384x16]. Returns the number written to out (capacity max_out).
size_t dfd_blazeface_decode(dfd_detection *out, size_t max_out, const float *scores16,
                            const float *scores32, const float *boxes16, const float *boxes32,
                            float min_score, float nms_iou);

#endif
