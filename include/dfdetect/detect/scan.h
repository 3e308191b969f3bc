// Scanning: one video or image in, a REAL / FAKE / NO_FACE answer out, with the evidence (each
// identity's probability, its per-frame scores and boxes) and the time each stage took.
//   frames (the model's prep: count, sampling; an image is one frame) -> faces (face/faces.h,
//   crops at the model's crop size and margin) -> backbone embeddings -> the head per identity
//   -> calibrated probabilities (logit / temperature) -> the video's: the most suspicious identity.
// A scanner holds the per-thread state (face engines, backbone session, its own copy of the
// head): create one per thread; the detector model, face models and faceres graph it borrows are
// shared read-only and must outlive it.
#ifndef DFD_DETECT_SCAN_H
#define DFD_DETECT_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/detect/model.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/image/image.h"
#include "dfdetect/nn/graph.h"
#include "dfdetect/util/status.h"

typedef enum dfd_scan_verdict {
    DFD_SCAN_REAL = 0,
    DFD_SCAN_FAKE,
    DFD_SCAN_NO_FACE, // no usable face: reason says why (a result, not an error)
    DFD_SCAN_ERROR,   // the file could not be read: error says why
} dfd_scan_verdict;

// "REAL", "FAKE", "NO_FACE", "ERROR"; static string.
const char *dfd_scan_verdict_name(dfd_scan_verdict v);

typedef struct dfd_scan_opts {
    int frames;      // frames sampled per video; 0: the model's prep.frames
    float threshold; // probability at or above which a file is FAKE; < 0: the model's
    int n_threads;   // threads for decoding and the networks (0: one per CPU)
    int batch;       // backbone batch (0: 4; larger batches gain nothing per item here while
                     // their arenas cost a one-shot scan page zeroing: docs/PERFORMANCE.md)
    bool keep_crops; // keep each face's crop in the result (dfd_scan_face.crop), for
                     // explanations (detect/explain.h); default false
    bool mirror;     // test-time augmentation: embed every crop mirrored too and give the head
                     // the mean of the two embeddings (twice the backbone time); default false
} dfd_scan_opts;

dfd_scan_opts dfd_scan_opts_default(void);

// One face of an identity in one frame.
typedef struct dfd_scan_face {
    int64_t frame_index; // display index in the video (0 for an image)
    double pts_s;        // display time in seconds
    float logit;         // the head's frame logit
    float probability;   // sigmoid(logit / frame_temperature)
    float box[4];        // the detector's box: x0, y0, x1, y1 in frame pixels
    dfd_image crop;      // with keep_crops: the aligned crop the backbone saw (RGB, the model's
                         // crop size; owned by the result); else empty
} dfd_scan_face;

typedef struct dfd_scan_identity {
    float seq_logit;   // the head's sequence logit
    float probability; // sigmoid(seq_logit / temperature)
    dfd_scan_face *faces;
    size_t n;
} dfd_scan_identity;

// Seconds spent per stage.
typedef struct dfd_scan_timing {
    double decode, detect, landmarks, crop, backbone, head, total;
} dfd_scan_timing;

typedef struct dfd_scan_result {
    dfd_scan_verdict verdict;
    float probability;      // the video's calibrated probability (NaN unless REAL / FAKE)
    float threshold;        // the threshold the verdict used
    char reason[192];       // NO_FACE: why; else the face stage's summary
    char error[512];        // ERROR: one line naming the file
    dfd_scan_identity *ids; // most frames first
    size_t n_ids;
    size_t n_frames;  // frames looked at
    bool whole_image; // an image without a usable face, taken whole as the face (a tight crop)
    bool mirrored;    // scanned with test-time mirroring (dfd_scan_opts.mirror)
    dfd_scan_timing seconds;
} dfd_scan_result;

void dfd_scan_result_free(dfd_scan_result *r); // accepts NULL and empty results

typedef struct dfd_scanner dfd_scanner;

// A scanner for `model` (borrowed) with the face models `faces` and the faceres graph `backbone`
// (borrowed; for a model with a fine-tuned backbone it must carry the tuned weights: load it with
// dfd_backbone_load_for_model, detect/tuned.h). Errors: DFD_ERR_INVALID (bad options, a head
// whose input is not DFD_BACKBONE_DIM), and those of dfd_backbone_create, dfd_head_create.
dfd_status dfd_scanner_create(dfd_scanner **out, const dfd_detector_model *model,
                              const dfd_face_models *faces, const dfd_graph *backbone,
                              const dfd_scan_opts *opts, dfd_error *err);
void dfd_scanner_free(dfd_scanner *s); // accepts NULL

// Whether a path names an image (by extension: .png, .jpg, .jpeg).
bool dfd_scan_is_image(const char *path);

// Scan one file into *out (overwritten; free with dfd_scan_result_free). A file without a usable
// face is not an error (verdict DFD_SCAN_NO_FACE). Errors, one line naming the file, also copied
// to out->error with verdict DFD_SCAN_ERROR: those of dfd_video_open, dfd_video_sample and
// dfd_image_read, DFD_ERR_NOMEM, and those of the networks.
dfd_status dfd_scan_file(dfd_scan_result *out, dfd_scanner *s, const char *path, dfd_error *err);

// Whether the pretrained backbone file at `path` (the faceres model file the scanner's graph was
// loaded from) is the one the model's head was trained on: its SHA-256 against
// model->backbone_sha256. For a model with a tuned backbone: always true here, because
// dfd_backbone_load_for_model refuses a mismatch (its frozen layers come from the file). A
// mismatch is not an error (the caller warns: the head reads other embeddings than it learnt).
// The file is hashed once per process (the digest of the last path asked is kept; thread-safe).
// Errors: those of dfd_sha256_file.
dfd_status dfd_scan_backbone_matches(bool *matches, const dfd_detector_model *model,
                                     const char *path, dfd_error *err);

#endif
