// Video input: open any container/codec FFmpeg can read, describe it, and deliver N frames chosen
// by a sampling policy as RGB images in display orientation. The first box of the pipeline
// (video -> face -> nn -> detect). Only src/video includes libav* headers; nothing here does.
//
// How sampling stays cheap: opening a file scans its packets once (demux only, no decoding) to
// learn every frame's timestamp and which frames are keyframes or non-reference frames. A sample
// then seeks to the keyframe before each wanted frame, decodes forward, drops non-reference
// packets it does not need before they reach the decoder, and converts to RGB only the frames it
// returns. Files that cannot seek, or whose timestamps are unusable, fall back to a forward scan.
#ifndef DFD_VIDEO_VIDEO_H
#define DFD_VIDEO_VIDEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/image/image.h"
#include "dfdetect/util/status.h"

typedef struct dfd_video dfd_video;

// How a file is opened. Start from dfd_video_opts_default() and change what you need.
typedef struct dfd_video_opts {
    int n_threads;      // decoder threads; 0 = one per CPU
    int max_dim;        // largest accepted width or height (default 8192)
    int64_t max_pixels; // largest accepted width*height (default 8192*4320, 8K UHD)
    bool scan;          // index every packet at open (default true). Without it, probe-only
                        // opens are fast but frame counts are the container's or estimates;
                        // dfd_video_sample scans on first use anyway.
} dfd_video_opts;

dfd_video_opts dfd_video_opts_default(void);

// Where a frame count comes from.
typedef enum dfd_count_source {
    DFD_COUNT_SCANNED = 0, // exact: every packet of the stream was read
    DFD_COUNT_HEADER,      // the container's own count (trusted, but not checked)
    DFD_COUNT_ESTIMATED    // duration x frame rate
} dfd_count_source;

// What dfd_video_probe reports. Strings are NUL-terminated, truncated to fit.
typedef struct dfd_video_info {
    char path[512];
    char container[32]; // "mp4", "webm", "matroska", "mpegts", ...
    char codec[32];     // "h264", "hevc", "vp9", ...
    char pix_fmt[32];   // decoder pixel format, e.g. "yuv420p"
    int width, height;  // coded (stored) frame size
    int display_width;  // size after applying the rotation
    int display_height;
    int rotation;      // clockwise degrees the frames are turned for display: 0/90/180/270
    double fps;        // frames per second: nominal when constant, average when variable
    bool is_vfr;       // frame durations vary (beyond timestamp rounding)
    double duration_s; // from the first frame's display time to the end of the last frame
    double start_s;    // presentation time of the first frame, as stored in the file
    int64_t n_frames;  // frames that are displayed
    dfd_count_source n_frames_source;
    int64_t n_keyframes; // only when scanned, else -1
    bool has_audio;
    int64_t bit_rate; // bits per second of the whole file, 0 if unknown
    int64_t file_bytes;
} dfd_video_info;

// Open and check a video file. Reads the headers, picks the main video stream (never a cover
// image), checks the resolution against the limits and, with opts->scan, indexes all packets.
// opts may be NULL (defaults). On success *out is owned by the caller (dfd_video_close).
// Errors, each with a one-line message naming the file:
//   DFD_ERR_NOT_FOUND   no such file
//   DFD_ERR_INVALID     a directory or not a regular file; bad arguments
//   DFD_ERR_FORMAT      empty, not a video, damaged, truncated, no video stream, no frames
//   DFD_ERR_UNSUPPORTED no decoder for the codec
//   DFD_ERR_LIMIT       resolution beyond opts->max_dim / max_pixels
//   DFD_ERR_NOMEM, DFD_ERR_IO
// Thread-safety: a dfd_video is used by one thread at a time; distinct videos are independent.
dfd_status dfd_video_open(dfd_video **out, const char *path, const dfd_video_opts *opts,
                          dfd_error *err);

// Close and free. Accepts NULL.
void dfd_video_close(dfd_video *v);

// Copy out the description of an open video.
void dfd_video_probe(dfd_video_info *info, const dfd_video *v);

// ---- sampling ----

typedef enum dfd_sampling_kind {
    // N frames evenly spaced in time, each the frame on screen at the middle of one of N equal
    // slices of the video (what the DFDC winners used).
    DFD_SAMPLING_UNIFORM = 0,
    // Runs of `burst_len` consecutive frames spread over the video, each starting at a keyframe
    // so that the decoder touches few frames and a temporal model sees real motion. With fewer
    // suitable keyframes than runs, the frames are shared among the keyframes there are (runs get
    // longer). Intra-only files have a keyframe on every frame, so runs land evenly.
    DFD_SAMPLING_BURSTS
} dfd_sampling_kind;

typedef struct dfd_sampling {
    dfd_sampling_kind kind;
    int burst_len; // frames per run for BURSTS (default 8); ignored by UNIFORM
} dfd_sampling;

// Parse "uniform" or "bursts" (case-sensitive). DFD_ERR_INVALID otherwise.
dfd_status dfd_sampling_parse(dfd_sampling_kind *out, const char *name);
const char *dfd_sampling_name(dfd_sampling_kind kind);

// One delivered frame. `image` is RGB (c = 3), already rotated to display orientation, and owned
// by the frame set it belongs to.
typedef struct dfd_frame {
    dfd_image image;
    double pts_s;  // display time in seconds from the first frame (first frame = 0)
    int64_t index; // display-order index of the frame in the video, 0-based
    bool is_keyframe;
} dfd_frame;

// Frames in display order. Free with dfd_frame_set_free.
typedef struct dfd_frame_set {
    dfd_frame *frames;
    size_t n;
} dfd_frame_set;

void dfd_frame_set_free(dfd_frame_set *set); // accepts NULL and empty sets

// Choose the display indices a sample would deliver, without decoding: at most n ascending
// indices into `indices` (capacity n), their number in *n_out (fewer than n only when the video
// has fewer frames). Scans the file first if it was opened without scan.
// Errors: DFD_ERR_INVALID (n == 0, bad policy), and the scan's errors.
dfd_status dfd_video_plan(int64_t *indices, size_t *n_out, dfd_video *v, const dfd_sampling *policy,
                          size_t n, dfd_error *err);

// Called after each delivered frame (done of total), on the calling thread, once per frame in
// order. NULL: no progress reporting.
typedef void (*dfd_video_progress_fn)(void *ctx, size_t done, size_t total);

// Decode the frames dfd_video_plan chooses into *out (overwritten; free it with
// dfd_frame_set_free). On error *out is empty and nothing needs freeing.
// Errors: DFD_ERR_INVALID, DFD_ERR_FORMAT (the file is damaged where a wanted frame lies),
// DFD_ERR_NOMEM, DFD_ERR_IO.
dfd_status dfd_video_sample(dfd_frame_set *out, dfd_video *v, const dfd_sampling *policy, size_t n,
                            dfd_video_progress_fn progress, void *progress_ctx, dfd_error *err);

// What the last dfd_video_sample did, for tests and benchmarks.
typedef struct dfd_video_stats {
    int64_t packets_read;     // video packets demuxed
    int64_t packets_sent;     // given to the decoder
    int64_t packets_dropped;  // non-reference packets never decoded
    int64_t frames_decoded;   // frames the decoder returned
    int64_t frames_converted; // frames converted to RGB (== frames delivered)
    int64_t seeks;
    bool forward_scan; // the fallback without seeking was used
} dfd_video_stats;

void dfd_video_last_stats(dfd_video_stats *stats, const dfd_video *v);

#endif
