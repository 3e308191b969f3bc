// MP4 writer: RGB frames -> swscale (BT.709, limited range, 4:2:0) -> libx264 or mpeg4 ->
// MP4 muxer with +faststart, written to a temporary name and renamed into place on close.
// The end of the pipeline for annotated output videos; the contract is in video/writer.h.
#include "dfdetect/video/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/opt.h>

#include "dfdetect/util/alloc.h"
#include "video_internal.h"

struct dfd_video_writer {
    char *path;     // destination
    char *tmp_path; // where the bytes go until close
    int w, h;       // frame size the caller gives
    int ew, eh;     // stored size (w, h rounded up to even)
    AVFormatContext *fmt;
    AVStream *st;
    AVCodecContext *enc;
    AVFrame *frame; // the YUV picture handed to the encoder
    AVPacket *pkt;
    struct SwsContext *sws;
    dfd_image pad; // ew x eh copy of the frame (edges repeated for odd sizes), see pad_frame
    int64_t n_frames;
    bool is_broken; // an encode or write failed: only close (which fails) and abort remain
    char encoder[32];
};

dfd_video_writer_opts dfd_video_writer_opts_default(void)
{
    dfd_video_writer_opts o = {
        .crf = 18,
        .encoder = NULL,
        .n_threads = 0,
        .keyframe_s = 2.0,
    };
    return o;
}

// ---- helpers ----

// Record a libav failure: ENOMEM becomes DFD_ERR_NOMEM, anything else `code`; the message names
// the path and the step, and keeps errno-style codes (ENOSPC, EACCES) in sys_errno.
static dfd_status av_fail(dfd_error *err, dfd_status code, int averr, const char *path,
                          const char *what)
{
    char eb[128];
    if (averr == AVERROR(ENOMEM)) {
        code = DFD_ERR_NOMEM;
    }
    dfd_status st =
        dfd_error_set(err, code, "%s: %s (%s)", path, what, vid_averror_str(averr, eb, sizeof eb));
    if (err && averr < 0 && averr > -4096) {
        err->sys_errno = -averr; // AVERROR(e) is -e for system errors
    }
    return st;
}

static void writer_free(dfd_video_writer *wr)
{
    sws_freeContext(wr->sws);
    av_frame_free(&wr->frame);
    av_packet_free(&wr->pkt);
    avcodec_free_context(&wr->enc);
    if (wr->fmt) {
        avio_closep(&wr->fmt->pb); // accepts a NULL pb
        avformat_free_context(wr->fmt);
    }
    dfd_image_free(&wr->pad);
    dfd_free(wr->path);
    dfd_free(wr->tmp_path);
    dfd_free(wr);
}

// Remove the temporary (if it was created) and free everything.
static void writer_discard(dfd_video_writer *wr)
{
    if (wr->fmt) {
        avio_closep(&wr->fmt->pb);
    }
    if (wr->tmp_path) {
        unlink(wr->tmp_path);
    }
    writer_free(wr);
}

// The encoder to use: the one named (already checked to be libx264 or mpeg4), or libx264
// falling back to mpeg4.
static const AVCodec *pick_encoder(const char *name)
{
    if (name && name[0]) {
        return avcodec_find_encoder_by_name(name);
    }
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    return c ? c : avcodec_find_encoder_by_name("mpeg4");
}

// ---- open ----

// Configure and open the encoder for wr->ew x wr->eh at `rate` frames per second.
static dfd_status open_encoder(dfd_video_writer *wr, const AVCodec *codec, AVRational rate,
                               const dfd_video_writer_opts *o, dfd_error *err)
{
    AVCodecContext *enc = wr->enc = avcodec_alloc_context3(codec);
    if (!enc) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", wr->path);
    }
    enc->width = wr->ew;
    enc->height = wr->eh;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = av_inv_q(rate);
    enc->framerate = rate;
    enc->sample_aspect_ratio = (AVRational){ 1, 1 };
    enc->gop_size = (int)fmax(1.0, fmin(600.0, round(o->keyframe_s * av_q2d(rate))));
    enc->thread_count = o->n_threads;
    // Tags that must match the conversion in make_scaler: decoders pick the matrix from them.
    enc->color_range = AVCOL_RANGE_MPEG;
    enc->colorspace = AVCOL_SPC_BT709;
    enc->color_primaries = AVCOL_PRI_BT709;
    enc->color_trc = AVCOL_TRC_BT709;
    if (wr->fmt->oformat->flags & AVFMT_GLOBALHEADER) {
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; // MP4 keeps SPS/PPS in the sample description
    }
    if (codec->id == AV_CODEC_ID_H264) {
        av_opt_set(enc->priv_data, "preset", "veryfast", 0);
        av_opt_set_double(enc->priv_data, "crf", (double)o->crf, 0);
    } else {
        // MPEG-4 Part 2 has no CRF: a fixed quantiser of about the same quality.
        int q = (int)lround(2.0 + (o->crf - 18) / 3.0);
        q = q < 1 ? 1 : q > 31 ? 31 : q;
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * q;
    }
    int rc = avcodec_open2(enc, codec, NULL);
    if (rc < 0) {
        return av_fail(err, DFD_ERR_UNSUPPORTED, rc, wr->path, "cannot open the video encoder");
    }
    snprintf(wr->encoder, sizeof wr->encoder, "%s", codec->name);
    return DFD_OK;
}

// RGB (full range) -> YUV 4:2:0 with the BT.709 matrix, limited range, same size.
static dfd_status make_scaler(dfd_video_writer *wr, dfd_error *err)
{
    wr->sws = sws_getContext(wr->ew, wr->eh, AV_PIX_FMT_RGB24, wr->ew, wr->eh, AV_PIX_FMT_YUV420P,
                             SWS_BILINEAR | SWS_ACCURATE_RND, NULL, NULL, NULL);
    if (!wr->sws) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: cannot set up the colour conversion",
                             wr->path);
    }
    // The destination table sets the RGB -> YUV matrix; the source one is unused for RGB input.
    if (sws_setColorspaceDetails(wr->sws, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 sws_getCoefficients(SWS_CS_ITU709), 0, 0, 1 << 16, 1 << 16) < 0) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: cannot set the BT.709 conversion",
                             wr->path);
    }
    return DFD_OK;
}

// Create "<path>.tmp.XXXXXX" (0644) next to the destination. The muxer then opens it by name:
// +faststart reopens the file to move the index to the front, so it must have a name.
static dfd_status create_temp(dfd_video_writer *wr, dfd_error *err)
{
    size_t plen = strlen(wr->path);
    wr->tmp_path = dfd_malloc(plen + sizeof ".tmp.XXXXXX");
    if (!wr->tmp_path) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", wr->path);
    }
    memcpy(wr->tmp_path, wr->path, plen);
    memcpy(wr->tmp_path + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(wr->tmp_path);
    if (fd < 0) {
        int e = errno;
        dfd_free(wr->tmp_path);
        wr->tmp_path = NULL; // nothing to remove
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot create", wr->path);
    }
    (void)fchmod(fd, 0644); // mkstemp creates 0600; outputs are ordinary user files
    close(fd);
    return DFD_OK;
}

// Allocate the MP4 muxer for the temporary file; "file:" so that a path containing ':' is
// never taken for another protocol. The context keeps the URL for the faststart pass.
static dfd_status alloc_muxer(dfd_video_writer *wr, dfd_error *err)
{
    size_t n = strlen(wr->tmp_path) + sizeof "file:";
    char *url = dfd_malloc(n);
    if (!url) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", wr->path);
    }
    snprintf(url, n, "file:%s", wr->tmp_path);
    int rc = avformat_alloc_output_context2(&wr->fmt, NULL, "mp4", url);
    dfd_free(url);
    if (rc < 0) {
        return av_fail(err, DFD_ERR_UNSUPPORTED, rc, wr->path, "cannot set up the MP4 muxer");
    }
    return DFD_OK;
}

// Open the temporary file through libavformat and write the header.
static dfd_status open_output(dfd_video_writer *wr, AVRational rate, dfd_error *err)
{
    int rc = avio_open(&wr->fmt->pb, wr->fmt->url, AVIO_FLAG_WRITE);
    if (rc < 0) {
        return av_fail(err, DFD_ERR_IO, rc, wr->path, "cannot open for writing");
    }
    wr->st->time_base = wr->enc->time_base; // a hint: the muxer picks its own time scale
    wr->st->avg_frame_rate = rate;
    AVDictionary *mux_opts = NULL;
    av_dict_set(&mux_opts, "movflags", "+faststart", 0);
    rc = avformat_write_header(wr->fmt, &mux_opts);
    av_dict_free(&mux_opts);
    if (rc < 0) {
        return av_fail(err, DFD_ERR_IO, rc, wr->path, "cannot write the MP4 header");
    }
    return DFD_OK;
}

static dfd_status check_args(const char *path, int w, int h, double fps,
                             const dfd_video_writer_opts *o, dfd_error *err)
{
    if (!path || !path[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "video output path is empty");
    }
    if (w < 2 || h < 2) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: frame size %dx%d is too small (2x2 least)",
                             path, w, h);
    }
    if (w > DFD_VIDEO_WRITER_MAX_DIM || h > DFD_VIDEO_WRITER_MAX_DIM) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: frame size %dx%d exceeds %d pixels a side",
                             path, w, h, DFD_VIDEO_WRITER_MAX_DIM);
    }
    if (!(fps > 0.0 && fps <= 1000.0)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: frame rate %g is not in (0, 1000]", path,
                             fps);
    }
    if (o->encoder && o->encoder[0] && strcmp(o->encoder, "libx264") != 0 &&
        strcmp(o->encoder, "mpeg4") != 0) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "%s: unknown video encoder '%s' (libx264 or mpeg4)", path, o->encoder);
    }
    if (o->crf < 0 || o->crf > 51 || o->n_threads < 0 || !(o->keyframe_s > 0.0)) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "%s: invalid writer options (crf %d, threads %d, keyframe_s %g)", path,
                             o->crf, o->n_threads, o->keyframe_s);
    }
    return DFD_OK;
}

dfd_status dfd_video_writer_open(dfd_video_writer **out, const char *path, int w, int h, double fps,
                                 const dfd_video_writer_opts *opts, dfd_error *err)
{
    if (!out) {
        return dfd_error_set(err, DFD_ERR_INVALID, "dfd_video_writer_open: NULL argument");
    }
    *out = NULL;
    vid_install_av_log();
    const dfd_video_writer_opts o = opts ? *opts : dfd_video_writer_opts_default();
    dfd_status st = check_args(path, w, h, fps, &o, err);
    if (st) {
        return st;
    }
    const AVCodec *codec = pick_encoder(o.encoder);
    if (!codec && o.encoder && o.encoder[0]) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED,
                             "%s: the video encoder %s is not in this FFmpeg build", path,
                             o.encoder);
    }
    if (!codec) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED,
                             "%s: no video encoder: this FFmpeg has neither libx264 nor mpeg4",
                             path);
    }
    dfd_video_writer *wr = dfd_calloc(1, sizeof *wr);
    if (!wr || !(wr->path = dfd_strdup(path))) {
        dfd_free(wr);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    wr->w = w;
    wr->h = h;
    wr->ew = w + (w & 1);
    wr->eh = h + (h & 1);
    // Frame rate as a fraction: 30 -> 30/1, 29.97002997 -> 30000/1001. A denominator of at most
    // 65535 keeps the time base legal for MPEG-4 Part 2.
    const AVRational rate = av_d2q(fps, 65535);
    st = create_temp(wr, err);
    if (!st) {
        st = alloc_muxer(wr, err);
    }
    if (st) {
        goto fail;
    }
    st = open_encoder(wr, codec, rate, &o, err);
    if (st) {
        goto fail;
    }
    if (!(wr->st = avformat_new_stream(wr->fmt, NULL)) || !(wr->pkt = av_packet_alloc()) ||
        !(wr->frame = av_frame_alloc())) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    int rc = avcodec_parameters_from_context(wr->st->codecpar, wr->enc);
    if (rc >= 0) {
        wr->frame->format = AV_PIX_FMT_YUV420P;
        wr->frame->width = wr->ew;
        wr->frame->height = wr->eh;
        wr->frame->color_range = wr->enc->color_range;
        wr->frame->colorspace = wr->enc->colorspace;
        wr->frame->color_primaries = wr->enc->color_primaries;
        wr->frame->color_trc = wr->enc->color_trc;
        rc = av_frame_get_buffer(wr->frame, 0);
    }
    if (rc < 0) {
        st = av_fail(err, DFD_ERR_NOMEM, rc, path, "cannot set up the video stream");
        goto fail;
    }
    // One row more than needed: swscale reads RGB input in whole SIMD blocks, past the end of a
    // row (measured with a guard page, FFmpeg 5.1: up to 31 bytes), which on the last row
    // would leave the allocation.
    if ((st = dfd_image_alloc(&wr->pad, wr->ew, wr->eh + 1, 3))) {
        st = dfd_error_set(err, st, "%s: out of memory", path);
        goto fail;
    }
    wr->pad.h = wr->eh;
    st = make_scaler(wr, err);
    if (!st) {
        st = open_output(wr, rate, err);
    }
    if (st) {
        goto fail;
    }
    *out = wr;
    return DFD_OK;
fail:
    writer_discard(wr);
    return st;
}

// ---- writing ----

// Send `frame` (NULL: flush) to the encoder and mux every packet it has ready.
static dfd_status encode(dfd_video_writer *wr, const AVFrame *frame, dfd_error *err)
{
    int rc = avcodec_send_frame(wr->enc, frame);
    if (rc < 0) {
        return av_fail(err, DFD_ERR_IO, rc, wr->path, "the video encoder failed");
    }
    for (;;) {
        rc = avcodec_receive_packet(wr->enc, wr->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            return DFD_OK;
        }
        if (rc < 0) {
            return av_fail(err, DFD_ERR_IO, rc, wr->path, "the video encoder failed");
        }
        av_packet_rescale_ts(wr->pkt, wr->enc->time_base, wr->st->time_base);
        wr->pkt->stream_index = wr->st->index;
        rc = av_interleaved_write_frame(wr->fmt, wr->pkt); // takes the packet's data
        if (rc < 0) {
            return av_fail(err, DFD_ERR_IO, rc, wr->path, "cannot write");
        }
    }
}

// Copy `rgb` into wr->pad and, for odd sizes, repeat its last column and row into the padding.
// Always a copy: the caller's image may end exactly where its last row does (a view, a tight
// buffer), and swscale reads past the end of rows (see the allocation in _open).
static void pad_frame(dfd_video_writer *wr, const dfd_image *rgb)
{
    const size_t row = (size_t)wr->w * 3;
    for (int y = 0; y < wr->h; y++) {
        uint8_t *d = dfd_image_px(&wr->pad, 0, y);
        memcpy(d, dfd_image_px(rgb, 0, y), row);
        if (wr->ew != wr->w) {
            memcpy(d + row, d + row - 3, 3);
        }
    }
    if (wr->eh != wr->h) {
        memcpy(dfd_image_px(&wr->pad, 0, wr->h), dfd_image_px(&wr->pad, 0, wr->h - 1),
               (size_t)wr->ew * 3);
    }
}

dfd_status dfd_video_writer_write(dfd_video_writer *wr, const dfd_image *rgb, dfd_error *err)
{
    if (!wr || !rgb) {
        return dfd_error_set(err, DFD_ERR_INVALID, "dfd_video_writer_write: NULL argument");
    }
    if (wr->is_broken) {
        return dfd_error_set(err, DFD_ERR_IO, "%s: an earlier write failed; the video is lost",
                             wr->path);
    }
    if (!rgb->data || rgb->c != 3 || rgb->w != wr->w || rgb->h != wr->h) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "%s: frame is %dx%d with %d channels; this video takes %dx%d RGB",
                             wr->path, rgb->w, rgb->h, rgb->c, wr->w, wr->h);
    }
    pad_frame(wr, rgb);
    const dfd_image *src = &wr->pad;
    // The encoder may still hold the previous picture (lookahead): get a buffer of our own.
    int rc = av_frame_make_writable(wr->frame);
    if (rc < 0) {
        wr->is_broken = true;
        return av_fail(err, DFD_ERR_NOMEM, rc, wr->path, "cannot get a frame buffer");
    }
    const uint8_t *const planes[4] = { src->data, NULL, NULL, NULL };
    const int strides[4] = { (int)src->stride, 0, 0, 0 };
    sws_scale(wr->sws, planes, strides, 0, wr->eh, wr->frame->data, wr->frame->linesize);
    wr->frame->pts = wr->n_frames;
    dfd_status st = encode(wr, wr->frame, err);
    if (st) {
        wr->is_broken = true;
        return st;
    }
    wr->n_frames++;
    return DFD_OK;
}

// ---- closing ----

// Flush the encoder, finish the file and close it.
static dfd_status finish(dfd_video_writer *wr, dfd_error *err)
{
    dfd_status st = encode(wr, NULL, err);
    if (st) {
        return st;
    }
    int rc = av_write_trailer(wr->fmt); // with +faststart, rewrites the file index-first
    if (rc < 0) {
        return av_fail(err, DFD_ERR_IO, rc, wr->path, "cannot write the MP4 index");
    }
    rc = wr->fmt->pb->error;
    int rc_close = avio_closep(&wr->fmt->pb);
    if (rc >= 0) {
        rc = rc_close;
    }
    if (rc < 0) {
        return av_fail(err, DFD_ERR_IO, rc, wr->path, "cannot write");
    }
    // Make the data durable before the rename makes it visible (as dfd_atomic_file_commit).
    int fd = open(wr->tmp_path, O_RDONLY);
    if (fd < 0) {
        return dfd_error_set_errno(err, DFD_ERR_IO, errno, "%s: cannot reopen the temporary",
                                   wr->path);
    }
    int e = fsync(fd) != 0 && errno != EINVAL ? errno : 0; // EINVAL: no fsync on this fs
    close(fd);
    if (e == 0 && rename(wr->tmp_path, wr->path) != 0) {
        e = errno;
    }
    if (e != 0) {
        return dfd_error_set_errno(err, DFD_ERR_IO, e, "%s: cannot write", wr->path);
    }
    return DFD_OK;
}

dfd_status dfd_video_writer_close(dfd_video_writer *wr, dfd_error *err)
{
    if (!wr) {
        return dfd_error_set(err, DFD_ERR_INVALID, "dfd_video_writer_close: NULL writer");
    }
    dfd_status st;
    if (wr->is_broken) {
        st = dfd_error_set(err, DFD_ERR_IO, "%s: not saved: an earlier write failed", wr->path);
    } else if (wr->n_frames == 0) {
        st = dfd_error_set(err, DFD_ERR_INVALID, "%s: not saved: no frames were written", wr->path);
    } else {
        st = finish(wr, err);
    }
    if (st) {
        writer_discard(wr); // unlinks the temporary (after a failed rename it still exists)
    } else {
        writer_free(wr);
    }
    return st;
}

void dfd_video_writer_abort(dfd_video_writer *wr)
{
    if (wr) {
        writer_discard(wr);
    }
}

void dfd_video_writer_get_info(dfd_video_writer_info *info, const dfd_video_writer *wr)
{
    memset(info, 0, sizeof *info);
    snprintf(info->encoder, sizeof info->encoder, "%s", wr->encoder);
    snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(wr->enc->codec_id));
    info->width = wr->ew;
    info->height = wr->eh;
    info->n_frames = wr->n_frames;
}
