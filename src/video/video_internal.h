// Shared between the files of src/video only: the packet index built at open, the sampling
// planner (pure functions, tested on synthetic timelines) and the bitstream checks.
#ifndef DFD_VIDEO_VIDEO_INTERNAL_H
#define DFD_VIDEO_VIDEO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

#include "dfdetect/video/video.h"

// ---- packet index ----

// One video packet as read at open, in file (decode) order.
typedef struct vid_packet {
    int64_t pts, dts; // stream time base; AV_NOPTS_VALUE when the container gave none
    int64_t duration; // stream time base, 0 if unknown
    int32_t display;  // display-order index, or -1 for packets never shown (AV_PKT_FLAG_DISCARD)
    bool is_key;
    bool is_disposable; // no other frame references it: safe to drop before decoding
} vid_packet;

typedef struct vid_index {
    vid_packet *pkts; // decode order
    size_t n_pkts;
    int32_t *display_to_pkt; // display index -> position in pkts
    int64_t *display_pts;    // display index -> pts (ascending)
    double *display_t;       // display index -> seconds from the first frame
    bool *display_key;       // display index -> keyframe
    size_t n_frames;         // displayed frames
    bool pts_usable;         // every displayed packet has a distinct pts: frames can be
                             // identified by timestamp after a seek
    int max_temporal_id;     // HEVC: highest nuh_temporal_id seen (for disposability)
} vid_index;

void vid_index_free(vid_index *ix);

// ---- the open file ----

struct dfd_video {
    char *path;
    dfd_video_opts opts;
    AVFormatContext *fmt;
    int stream; // index of the video stream in fmt
    const AVCodec *codec;
    int nal_length_size; // H.264/HEVC in MP4/MKV: bytes of each NAL length prefix; 0: Annex B
    dfd_video_info info;
    vid_index index;
    bool scanned;
    dfd_video_stats stats;
};

// Read every packet of the video stream (no decoding) into v->index and complete v->info.
dfd_status vid_scan(dfd_video *v, dfd_error *err);

// Translate an AVERROR into text (av_strerror), for messages.
const char *vid_averror_str(int averr, char *buf, size_t n);

// Route libav* log messages through dfd_log (once per process; thread-safe). Every entry point
// that calls into libav* calls this first (open.c, writer.c).
void vid_install_av_log(void);

// ---- planning (plan.c) ----

// Choose `n` display indices of a video with `n_frames` frames shown at times t[i] (seconds from
// the first frame, ascending) for a total `duration` seconds; is_key[i] marks keyframes.
// Writes ascending distinct indices into out (capacity n) and returns how many (min(n, n_frames)).
size_t vid_plan_uniform(int64_t *out, size_t n, const double *t, size_t n_frames, double duration);
size_t vid_plan_bursts(int64_t *out, size_t n, const bool *is_key, size_t n_frames, int burst_len);

// ---- bitstream checks (bitstream.c) ----

// True when every coded slice in an H.264 packet has nal_ref_idc == 0 and the packet carries no
// parameter sets: no later frame can reference it. nal_length_size 0 means Annex B start codes.
bool vid_h264_is_disposable(const uint8_t *data, size_t n, int nal_length_size);

// HEVC: true when every VCL NAL is a sub-layer non-reference picture (TRAIL_N, TSA_N, STSA_N,
// RADL_N, RASL_N, RSV_VCL_N1x) in the highest temporal sub-layer `max_tid` (so nothing above
// it can reference it). *tid_out receives the highest temporal id found in the packet.
bool vid_hevc_is_disposable(const uint8_t *data, size_t n, int nal_length_size, int max_tid,
                            int *tid_out);

// NAL length size from avcC / hvcC extradata; 0 for Annex B (or no extradata).
int vid_nal_length_size(enum AVCodecID codec, const uint8_t *extradata, int size);

#endif
