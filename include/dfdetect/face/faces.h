// The face stage of the pipeline (video -> FACE -> nn): from sampled frames to the aligned face
// crops every later stage consumes, with the same code for training and inference.
//   1. detect: BlazeFace on every frame (detector.h), small faces found on tiles;
//   2. track: detections linked across frames into identities (IoU or centre distance,
//      tolerant of missed frames), and across jumps in time (between bursts) by size and a
//      plausible move; identities seen in too few frames are dropped;
//   3. landmarks: FaceMesh on each face (468 points and a face-presence score) in a crop
//      levelled on the detector's eyes; faces the mesh rejects are dropped;
//   4. crops: a square of 1.3x the landmarks' extent, levelled on the mesh's eye line, centred on
//      the landmarks, the same size for every frame of an identity, resampled to crop_size.
// A video with no usable face gets an outcome saying why (none found, too small, too few
// frames, rejected by the landmarks), never a guess.
#ifndef DFD_FACE_FACES_H
#define DFD_FACE_FACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/face/detector.h"
#include "dfdetect/image/image.h"
#include "dfdetect/video/video.h"

#define DFD_MESH_POINTS 468

// FaceMesh landmark indices used for alignment (MediaPipe's topology; "right"/"left" are the
// subject's, so the right eye is on the image's left).
enum {
    DFD_MESH_RIGHT_EYE_OUTER = 33,
    DFD_MESH_RIGHT_EYE_INNER = 133,
    DFD_MESH_LEFT_EYE_INNER = 362,
    DFD_MESH_LEFT_EYE_OUTER = 263,
    DFD_MESH_NOSE_TIP = 1,
    DFD_MESH_MOUTH_RIGHT = 61,
    DFD_MESH_MOUTH_LEFT = 291,
    DFD_MESH_UPPER_LIP = 13,
    DFD_MESH_LOWER_LIP = 14,
};

typedef struct dfd_face_opts {
    dfd_detector_opts detector;
    int crop_size;        // side of the aligned crops (default 224)
    float margin;         // crop side = margin x the face's landmark extent (default 1.3)
    float min_presence;   // FaceMesh face-presence below this drops the face (default 0.5)
    float min_track_frac; // identities must be seen in this fraction of the frames (0.25)
    int min_track_frames; // ... and in at least this many frames (default 2)
    int max_gap;          // frames a track may miss and still continue (default 4)
    int mesh_batch;       // faces per FaceMesh run (default 8; a remainder runs one by one)
    int n_threads;        // threads for the networks (0: one per CPU)
} dfd_face_opts;

dfd_face_opts dfd_face_opts_default(void);

// How images (jpg, png) are turned into faces: the same choice for training (the face cache) and
// scanning (a detector model records the one it was trained with).
typedef enum dfd_image_faces {
    DFD_IMAGE_FACES_DETECT_OR_WHOLE = 0, // the face stage; if it finds none, the whole image
    DFD_IMAGE_FACES_DETECT,              // the face stage only (no face: NO_FACE)
    DFD_IMAGE_FACES_WHOLE,               // always the whole image (data already cropped)
    DFD_IMAGE_FACES_AUTO                 // the whole image when it already is a face crop
                                         // (dfd_faces_image_is_crop), else the face stage
} dfd_image_faces;

// "detect_or_whole", "detect", "whole", "auto"; static string.
const char *dfd_image_faces_name(dfd_image_faces m);
// Parse one of those names; false when s is none of them.
bool dfd_image_faces_parse(dfd_image_faces *out, const char *s);

// The two networks, loaded once and shared read-only by every engine on every thread.
typedef struct dfd_face_models dfd_face_models;

// Load BlazeFace and FaceMesh from `dir` (NULL: dfd_models_dir_default()). Errors: those of
// dfd_tfjs_load (DFD_ERR_NOT_FOUND with a hint to run scripts/setup.sh when missing).
dfd_status dfd_face_models_load(dfd_face_models **out, const char *dir, dfd_error *err);
void dfd_face_models_free(dfd_face_models *m); // accepts NULL

// Per-thread state: network sessions and scratch. Models must outlive the engine.
typedef struct dfd_face_engine dfd_face_engine;

dfd_status dfd_face_engine_create(dfd_face_engine **out, const dfd_face_models *m,
                                  const dfd_face_opts *opts, dfd_error *err);
void dfd_face_engine_free(dfd_face_engine *e); // accepts NULL

typedef enum dfd_face_outcome {
    DFD_FACES_FOUND = 0,
    DFD_NO_FACE_NONE_FOUND,     // the detector found nothing in any frame
    DFD_NO_FACE_TOO_SMALL,      // faces were found, all below the minimum size
    DFD_NO_FACE_TOO_FEW_FRAMES, // faces never recurred in enough frames to form an identity
    DFD_NO_FACE_REJECTED,       // the landmark model did not confirm any face
} dfd_face_outcome;

// "faces", "none_found", "too_small", "too_few_frames", "rejected"; static string.
const char *dfd_face_outcome_name(dfd_face_outcome o);

// One face of an identity in one frame. Coordinates in frame pixels (continuous: pixel (i, j)
// covers [i, i+1) x [j, j+1)).
typedef struct dfd_face_obs {
    size_t frame;        // index into the frame set
    int64_t frame_index; // display index in the video
    double pts_s;
    dfd_detection det;     // the detector's box, score and keypoints
    float presence;        // FaceMesh face-presence score
    float (*landmarks)[3]; // DFD_MESH_POINTS x (x, y, z); z in the same pixel scale. Owned.
    float cx, cy;          // centre of the crop square
    float side;            // side of the crop square
    float roll;            // rotation that levels the eyes (radians, dfd_affine_crop's sign)
    dfd_image crop;        // crop_size x crop_size RGB, owned
} dfd_face_obs;

typedef struct dfd_face_identity {
    dfd_face_obs *obs; // in frame order
    size_t n;
    float mean_score; // mean detector score
} dfd_face_identity;

typedef struct dfd_face_result {
    dfd_face_outcome outcome;
    char reason[192];       // one line for people, also when faces were found
    dfd_face_identity *ids; // most frames first
    size_t n_ids;
    size_t n_frames;           // frames looked at
    size_t n_frames_with_face; // frames where an identity has a face
    size_t n_detector_inputs;  // network inputs the detector ran (frames, zooms, tiles)
    double seconds_detect, seconds_mesh, seconds_crop;
} dfd_face_result;

// Find, track, landmark and crop the faces of a frame set (frames as dfd_video_sample returns
// them). *out is overwritten (free with dfd_face_result_free). A video without a usable face is
// not an error: it returns DFD_OK with outcome != DFD_FACES_FOUND.
// Errors: DFD_ERR_NOMEM, DFD_ERR_INVALID (frames that are not RGB).
dfd_status dfd_faces_extract(dfd_face_result *out, dfd_face_engine *e, const dfd_frame_set *frames,
                             dfd_error *err);

void dfd_face_result_free(dfd_face_result *r); // accepts NULL and empty results

// Whether an image of width x height whose face stage gave r already is a face crop: no face was
// found (a tight crop leaves the detector too little context), or the widest face's box spans at
// least DFD_FACE_CROP_MIN_FRAC of the image's shorter side (face-crop datasets: 0.57 to 0.9 in
// DFDC's; a face in a photo of people or a scene: far less). On *frac the widest face's share (0
// without a face).
#define DFD_FACE_CROP_MIN_FRAC 0.5f
bool dfd_faces_image_is_crop(const dfd_face_result *r, int width, int height, float *frac);

// ---- tracking (exposed for tests) ----

typedef struct dfd_track_link {
    size_t frame; // frame index
    size_t det;   // detection index within that frame
} dfd_track_link;

typedef struct dfd_track {
    dfd_track_link *links;
    size_t n;
} dfd_track;

// Link the detections of n_frames frames (in order) into tracks; tracks shorter than
// max(min_frames, ceil(min_frac * n_frames)) are dropped. *tracks (allocated, longest first,
// equal lengths earliest first) and *n_tracks are set; free with dfd_tracks_free.
// Errors: DFD_ERR_NOMEM.
// Frames are taken as consecutive video frames: only frame-to-frame linking (src/face/track.c).
dfd_status dfd_track_faces(dfd_track **tracks, size_t *n_tracks, const dfd_frame_faces *frames,
                           size_t n_frames, int max_gap, int min_frames, float min_frac);

// The same for the set->n frames of a sample (frames[i] holds the detections of set->frames[i]),
// whose display indices and times also join tracklets across jumps in time: between bursts, or
// between uniform samples, a face that moved far but kept its size, within a distance that grows
// with the time between the two frames, stays one identity; faces seen in the same frame are
// never merged. The exact rule is at the top of src/face/track.c. Errors: DFD_ERR_NOMEM.
dfd_status dfd_track_faces_sampled(dfd_track **tracks, size_t *n_tracks,
                                   const dfd_frame_faces *frames, const dfd_frame_set *set,
                                   int max_gap, int min_frames, float min_frac);
void dfd_tracks_free(dfd_track *tracks, size_t n);

#endif
