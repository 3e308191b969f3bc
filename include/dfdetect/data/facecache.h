// The face cache: the face stage (video/ sampling + face/ dfd_faces_extract, the very code
// inference runs) is run once per file, and its crops and metadata are kept on disk for
// training, evaluation and scanning, which read them every epoch.
//
// Keys. An entry is named by SHA-256 of the pipeline settings (frames, sampling policy, crop size,
// margin, detector and tracking thresholds, how images are treated, the cache format version and
// the SHA-256 of the detector and landmark model files) followed by the SHA-256 of the file's
// bytes. Renaming or moving a file keeps its entry; changing one byte of it, one setting or one
// model file makes a new one. Entries are never invalidated in place: old ones stay until the
// folder is removed.
//
// Layout: <dir>/<k0k1>/<key>/ with
//   meta.json   the source (path, size, SHA-256), the settings, the video's size, rate and
//               duration, the outcome, and per identity and face: the frame index and time,
//               detector box and score, face presence and the crop's placement in the frame
//   faces.bin   every crop and its landmarks, in the order of meta.json, little-endian:
//                 u8[8]  magic "DFDFACE1"
//                 u32    0x01020304 (byte-order check), n_faces, crop side, channels (3),
//                        landmarks per face (468 or 0), reserved (0)
//                 then n_faces crops of side x side x 3 bytes (rows top to bottom, RGB),
//                 zero-padded to a multiple of 64 bytes,
//                 then n_faces x landmarks x 3 float32: x, y in crop pixels (continuous
//                 coordinates, see image/warp.h), z in the same scale.
// An entry is built in a temporary folder beside its final name and published whole
// (util/dirs.h), so a reader sees a complete entry or none; a damaged entry (sizes that do not
// add up, unreadable JSON) is rebuilt.
//
// Images are one-frame videos. A face crop from another detector (tight around the face) in which
// BlazeFace finds nothing is taken whole as the face: its centre square is resized to the crop
// size, meta.json says "whole_image": true and the reason.
#ifndef DFD_DATA_FACECACHE_H
#define DFD_DATA_FACECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/data/dataset.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/image/image.h"
#include "dfdetect/util/sha256.h"
#include "dfdetect/util/status.h"
#include "dfdetect/video/video.h"

// Bump when the face stage's output changes for the same settings (the code, not the options):
// every entry gets a new key.
#define DFD_FACE_CACHE_VERSION 2

typedef struct dfd_face_cache_opts {
    dfd_face_opts face;          // the face stage's settings (crop size, margin, thresholds)
    dfd_sampling sampling;       // which frames (default uniform; bursts of 8)
    int frames;                  // frames sampled per video (default 32)
    dfd_image_faces image_faces; // default AUTO
    const char *models_dir;      // NULL: dfd_models_dir_default()
    int decode_threads;          // decoder threads per video (default 1; not part of the key)
} dfd_face_cache_opts;

dfd_face_cache_opts dfd_face_cache_opts_default(void);

// The cache folder when none is named: $DFD_CACHE if set, else $XDG_CACHE_HOME/dfdetect/faces,
// else $HOME/.cache/dfdetect/faces, else ./.dfdetect-cache/faces. Written into out.
void dfd_face_cache_dir_default(char *out, size_t n);

typedef struct dfd_face_cache dfd_face_cache;

// Open (creating it if needed) the cache in `dir` for the settings `opts` (NULL: defaults). Hashes
// the model files; the models themselves are loaded on the first miss only.
// Errors: DFD_ERR_INVALID (options out of range), DFD_ERR_NOT_FOUND (model files missing, with
// the hint to run scripts/setup.sh), DFD_ERR_IO (the folder cannot be created), DFD_ERR_NOMEM.
dfd_status dfd_face_cache_open(dfd_face_cache **out, const char *dir,
                               const dfd_face_cache_opts *opts, dfd_error *err);

// Free the models, the engines and the cache handle. No dfd_face_cache_get may be running.
// Accepts NULL.
void dfd_face_cache_close(dfd_face_cache *c);

// The settings text the keys are made from (one "name=value" per line); valid while c lives.
const char *dfd_face_cache_settings(const dfd_face_cache *c);

// One face of an identity in one frame.
typedef struct dfd_cached_face {
    int64_t frame_index;      // display index in the video (0 for images)
    double pts_s;             // time in the video
    float box[4];             // detector box x0, y0, x1, y1 in frame pixels (whole image when taken
                              // whole)
    float score;              // detector score (0 when taken whole)
    float presence;           // FaceMesh face presence (0 when taken whole)
    float cx, cy, side, roll; // the crop square in the frame (see face/faces.h)
    dfd_image crop;           // side x side RGB: a view into the entry's pixel block
    float (*landmarks)[3];    // n_landmarks points in crop pixels, or NULL (in the block)
} dfd_cached_face;

typedef struct dfd_cached_identity {
    dfd_cached_face *faces; // in frame order
    size_t n;
    float mean_score;
} dfd_cached_identity;

// What the cache holds for one file. Owns its memory: free with dfd_face_entry_free.
typedef struct dfd_face_entry {
    char key[DFD_SHA256_HEX_LEN + 1];
    char sha256[DFD_SHA256_HEX_LEN + 1]; // of the file's content
    dfd_media_kind kind;
    dfd_face_outcome outcome; // DFD_FACES_FOUND also when an image was taken whole
    char reason[192];
    bool whole_image;       // an image with no face found, taken whole as the face
    bool from_cache;        // true: read from disk; false: just built
    int width, height;      // frame size (display orientation)
    double fps, duration_s; // 0 for images
    size_t n_frames;        // frames sampled (1 for images)
    int crop_size;
    int n_landmarks;          // per face: DFD_MESH_POINTS, or 0 when taken whole
    dfd_cached_identity *ids; // most frames first
    size_t n_ids;
    void *block; // the pixels and landmarks (owned)
} dfd_face_entry;

void dfd_face_entry_free(dfd_face_entry *e); // accepts NULL and empty entries

// The entry of the file at `path`: read from the cache when present, else built (sampling,
// face stage) and stored first. The file's kind comes from its name (dataset.h). The content hash
// is remembered per path (with its size, modification time and inode), so repeated calls do not
// hash the file again while it is unchanged. *out is overwritten.
// Thread-safe: calls may run on many threads at once (each miss uses its own face engine).
// Errors: those of reading or hashing the file (NOT_FOUND, IO, INVALID), of opening and
// sampling a video or reading an image (FORMAT, UNSUPPORTED, LIMIT), of loading the models and
// of writing the entry (IO), DFD_ERR_NOMEM. A file without a usable face is not an error (see
// outcome).
dfd_status dfd_face_cache_get(dfd_face_entry *out, dfd_face_cache *c, const char *path,
                              dfd_error *err);

// What the cache has done since it was opened (for tests, benchmarks and progress lines).
typedef struct dfd_face_cache_stats {
    size_t hits;    // entries read from disk
    size_t misses;  // entries built (the face stage ran)
    size_t damaged; // entries found unreadable and rebuilt
    size_t hashed;  // files hashed (memo misses)
    uint64_t bytes_hashed;
    uint64_t bytes_loaded;                            // faces.bin bytes read on hits
    double seconds_hash, seconds_load, seconds_build; // summed over calls (and threads)
} dfd_face_cache_stats;

void dfd_face_cache_get_stats(dfd_face_cache_stats *s, dfd_face_cache *c);

// Build (or check) the entries of n files with n_jobs threads (<= 0: one per CPU): each file as
// dfd_face_cache_get, the entry freed at once. status[i] (may be NULL) gets each file's result and
// errors[i] (may be NULL) its message. progress (may be NULL) is called after each file, from
// the worker threads one at a time. Returns DFD_OK when the threads could be started (look at
// status for the files); DFD_ERR_NOMEM or DFD_ERR_IO otherwise.
dfd_status dfd_face_cache_fill(dfd_face_cache *c, const char *const *paths, size_t n, int n_jobs,
                               dfd_status *status, dfd_error *errors,
                               void (*progress)(void *ctx, size_t done, size_t total), void *ctx,
                               dfd_error *err);

#endif
