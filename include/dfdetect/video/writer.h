// Video output: encode RGB frames into an MP4 file (annotated videos, face-crop clips, test
// clips). H.264 through libx264 when the linked FFmpeg has it, else FFmpeg's built-in MPEG-4
// Part 2 encoder. Only src/video includes libav* headers; nothing here does.
//
// What the file holds:
//   - MP4 with the index ('moov') in front of the data (+faststart), so it plays while loading;
//   - one video stream at a constant `fps`, frame i shown at i / fps seconds;
//   - 4:2:0 YUV (yuv420p), limited ("TV") range, BT.709 matrix, primaries and transfer, all
//     tagged in the stream (H.264 VUI / MP4 'colr'), so that players and dfd_video_open read the
//     colours back as written, whatever the frame size;
//   - frames of an even size. 4:2:0 cannot store an odd width or height, so an odd side is padded
//     by one pixel that repeats the last column or row: a 225x201 input is stored as 226x202
//     (dfd_video_writer_get_info tells the stored size). Decoders and browsers then play it
//     everywhere (4:4:4 H.264 would keep odd sizes but most browsers refuse it).
//
// Atomic output: frames are written to a temporary "<path>.tmp.XXXXXX" in the same directory,
// which only dfd_video_writer_close renames to `path` (replacing any file there) once the
// encoder is flushed and the index written. Until then nothing exists at `path` (an existing
// file stays as it was); on any failure, and on abort, the temporary is removed.
#ifndef DFD_VIDEO_WRITER_H
#define DFD_VIDEO_WRITER_H

#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

typedef struct dfd_video_writer dfd_video_writer;

// Largest accepted width or height.
#define DFD_VIDEO_WRITER_MAX_DIM 8192

// How a file is encoded. Start from dfd_video_writer_opts_default() and change what you need.
typedef struct dfd_video_writer_opts {
    // Quality, as libx264's constant rate factor: 0 (lossless) to 51 (worst); default 18, which
    // is visually lossless for most content. The MPEG-4 fallback maps it to a fixed quantiser
    // (2 + (crf - 18) / 3, clamped to 1..31: 18 -> 2, 23 -> 4), roughly comparable.
    int crf;
    // Encoder: NULL or "" = libx264 if available, else mpeg4; "libx264" or "mpeg4" to insist
    // (DFD_ERR_UNSUPPORTED when absent; other names are DFD_ERR_INVALID). libx264 runs with
    // preset "veryfast".
    const char *encoder;
    int n_threads;     // encoder threads; 0 = FFmpeg's choice (one per CPU or so)
    double keyframe_s; // seconds between keyframes (default 2); sampling seeks to keyframes
} dfd_video_writer_opts;

dfd_video_writer_opts dfd_video_writer_opts_default(void);

// What an open writer does.
typedef struct dfd_video_writer_info {
    char encoder[32];  // "libx264" or "mpeg4"
    char codec[32];    // codec in the file: "h264" or "mpeg4"
    int width, height; // stored frame size: the frame size rounded up to even
    int64_t n_frames;  // frames accepted so far
} dfd_video_writer_info;

// Start writing an MP4 of w x h RGB frames at `fps` frames per second to `path` (see "Atomic
// output" above: the temporary file is created here). opts may be NULL (defaults). On success
// *out is owned by the caller, who must finish it with dfd_video_writer_close or _abort.
// Errors, each with a one-line message naming the path; *out is NULL and no file is left:
//   DFD_ERR_INVALID     NULL or empty path, w or h < 2, fps not in (0, 1000], bad options
//   DFD_ERR_LIMIT       w or h > DFD_VIDEO_WRITER_MAX_DIM
//   DFD_ERR_UNSUPPORTED no usable encoder (or the one opts->encoder names is absent)
//   DFD_ERR_IO          the temporary cannot be created (missing directory, no permission)
//   DFD_ERR_NOMEM
// Thread-safety: a writer is used by one thread at a time; distinct writers are independent.
dfd_status dfd_video_writer_open(dfd_video_writer **out, const char *path, int w, int h, double fps,
                                 const dfd_video_writer_opts *opts, dfd_error *err);

// Encode one frame: `rgb` must be c = 3 and exactly the w x h given to _open (any stride; views
// are fine). The pixels are converted before the call returns; the caller keeps ownership.
// Errors: DFD_ERR_INVALID (NULL argument, wrong size or channel count: the frame is skipped and
// the writer stays usable), DFD_ERR_IO (the encoder or the file failed), DFD_ERR_NOMEM. After
// an IO or NOMEM error the writer is broken: further writes fail, and close fails and removes
// the temporary.
dfd_status dfd_video_writer_write(dfd_video_writer *wr, const dfd_image *rgb, dfd_error *err);

// Flush the encoder, write the index (moving it to the front), sync, and rename the temporary
// to `path`. Always frees `wr`, whatever the outcome.
// Errors (nothing is left at `path` then, and the temporary is removed):
//   DFD_ERR_INVALID  wr is NULL, or no frame was written (an empty video is not saved)
//   DFD_ERR_IO       an earlier write failed, or flushing, syncing or renaming failed
//   DFD_ERR_NOMEM
dfd_status dfd_video_writer_close(dfd_video_writer *wr, dfd_error *err);

// Discard: free the writer and remove the temporary; `path` is untouched. Accepts NULL.
void dfd_video_writer_abort(dfd_video_writer *wr);

// Describe an open writer.
void dfd_video_writer_get_info(dfd_video_writer_info *info, const dfd_video_writer *wr);

#endif
