// H.264 re-compression in memory for augmentation: RGB -> swscale (BT.709, limited range, 4:2:0)
// -> libx264 (or mpeg4) -> packets straight into the decoder (no container) -> swscale -> RGB.
// Contract in video/reencode.h.
#include "dfdetect/video/reencode.h"

#include <string.h>

#include <libavutil/opt.h>

#include "dfdetect/util/alloc.h"
#include "video_internal.h"

#define MAX_DIM 8192

typedef struct rc_ctx {
    int w, h;   // frame size
    int ew, eh; // coded size (rounded up to even)
    AVCodecContext *enc, *dec;
    AVFrame *yuv, *dec_frame;
    AVPacket *pkt;
    struct SwsContext *to_yuv, *to_rgb;
    dfd_image pad; // ew x (eh + 1) RGB: the input padded to even, one spare row for swscale
    dfd_image *out;
    size_t n, n_out; // frames expected and delivered
} rc_ctx;

static const AVCodec *pick_encoder(void)
{
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    return c ? c : avcodec_find_encoder_by_name("mpeg4");
}

const char *dfd_video_reencode_encoder(void)
{
    const AVCodec *c = pick_encoder();
    return c ? c->name : NULL;
}

static dfd_status open_codecs(rc_ctx *c, int crf, dfd_error *err)
{
    const AVCodec *ec = pick_encoder();
    if (!ec) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "re-encode: no H.264 or MPEG-4 encoder");
    }
    const AVCodec *dc = avcodec_find_decoder(ec->id);
    if (!dc) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "re-encode: no %s decoder", ec->name);
    }
    c->enc = avcodec_alloc_context3(ec);
    c->dec = avcodec_alloc_context3(dc);
    if (!c->enc || !c->dec) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "re-encode: out of memory");
    }
    AVCodecContext *e = c->enc;
    e->width = c->ew;
    e->height = c->eh;
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->time_base = (AVRational){ 1, 25 };
    e->framerate = (AVRational){ 25, 1 };
    e->sample_aspect_ratio = (AVRational){ 1, 1 };
    e->thread_count = 1; // augmentation runs many of these at once: no threads inside
    e->color_range = AVCOL_RANGE_MPEG;
    e->colorspace = AVCOL_SPC_BT709;
    e->color_primaries = AVCOL_PRI_BT709;
    e->color_trc = AVCOL_TRC_BT709;
    if (ec->id == AV_CODEC_ID_H264) {
        av_opt_set(e->priv_data, "preset", "veryfast", 0);
        av_opt_set_double(e->priv_data, "crf", (double)crf, 0);
    } else {
        int q = (int)(2.0 + (crf - 18) / 3.0 + 0.5);
        q = q < 1 ? 1 : q > 31 ? 31 : q;
        e->flags |= AV_CODEC_FLAG_QSCALE;
        e->global_quality = FF_QP2LAMBDA * q;
    }
    char eb[128];
    int rc = avcodec_open2(e, ec, NULL);
    if (rc < 0) {
        return dfd_error_set(err, rc == AVERROR(ENOMEM) ? DFD_ERR_NOMEM : DFD_ERR_UNSUPPORTED,
                             "re-encode: cannot open the %s encoder (%s)", ec->name,
                             vid_averror_str(rc, eb, sizeof eb));
    }
    c->dec->thread_count = 1;
    rc = avcodec_open2(c->dec, dc, NULL);
    if (rc < 0) {
        return dfd_error_set(err, rc == AVERROR(ENOMEM) ? DFD_ERR_NOMEM : DFD_ERR_UNSUPPORTED,
                             "re-encode: cannot open the %s decoder (%s)", dc->name,
                             vid_averror_str(rc, eb, sizeof eb));
    }
    return DFD_OK;
}

static dfd_status make_buffers(rc_ctx *c, dfd_error *err)
{
    c->yuv = av_frame_alloc();
    c->dec_frame = av_frame_alloc();
    c->pkt = av_packet_alloc();
    if (!c->yuv || !c->dec_frame || !c->pkt) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "re-encode: out of memory");
    }
    c->yuv->format = AV_PIX_FMT_YUV420P;
    c->yuv->width = c->ew;
    c->yuv->height = c->eh;
    if (av_frame_get_buffer(c->yuv, 0) < 0 || dfd_image_alloc(&c->pad, c->ew, c->eh + 1, 3)) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "re-encode: out of memory");
    }
    c->pad.h = c->eh;
    // The same matrix and range both ways (BT.709, limited), so only the codec changes pixels.
    // Flags chosen by measurement: bilinear chroma filtering, or the table-driven YUV -> RGB path
    // without full chroma interpolation, shift the round trip's mean by 1 to 3 levels; these
    // keep a lossless round trip within 0.05 levels of the input's mean.
    c->to_yuv = sws_getContext(c->ew, c->eh, AV_PIX_FMT_RGB24, c->ew, c->eh, AV_PIX_FMT_YUV420P,
                               SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL, NULL);
    c->to_rgb =
        sws_getContext(c->ew, c->eh, AV_PIX_FMT_YUV420P, c->ew, c->eh, AV_PIX_FMT_RGB24,
                       SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!c->to_yuv || !c->to_rgb) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "re-encode: cannot set up colour conversion");
    }
    const int *bt709 = sws_getCoefficients(SWS_CS_ITU709);
    const int *rgb = sws_getCoefficients(SWS_CS_DEFAULT);
    sws_setColorspaceDetails(c->to_yuv, rgb, 1, bt709, 0, 0, 1 << 16, 1 << 16);
    sws_setColorspaceDetails(c->to_rgb, bt709, 0, rgb, 1, 0, 1 << 16, 1 << 16);
    return DFD_OK;
}

// Copy `src` into the padded scratch, repeating the last column and row into the padding.
static void fill_pad(rc_ctx *c, const dfd_image *src)
{
    for (int y = 0; y < c->eh; y++) {
        int sy = y < c->h ? y : c->h - 1;
        uint8_t *d = dfd_image_px(&c->pad, 0, y);
        memcpy(d, dfd_image_px(src, 0, sy), (size_t)c->w * 3);
        if (c->ew > c->w) {
            memcpy(d + (size_t)c->w * 3, d + (size_t)(c->w - 1) * 3, 3);
        }
    }
}

// Take every frame the decoder has ready into c->out.
static dfd_status drain_decoder(rc_ctx *c, dfd_error *err)
{
    for (;;) {
        int rc = avcodec_receive_frame(c->dec, c->dec_frame);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            return DFD_OK;
        }
        if (rc < 0) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "re-encode: decoding failed");
        }
        if (c->n_out < c->n) {
            dfd_image *o = &c->out[c->n_out];
            // One spare row (swscale's SIMD stores run past the last row), then the visible part.
            if (dfd_image_alloc(o, c->ew, c->eh + 1, 3)) {
                av_frame_unref(c->dec_frame);
                return dfd_error_set(err, DFD_ERR_NOMEM, "re-encode: out of memory");
            }
            uint8_t *dst[4] = { o->data, NULL, NULL, NULL };
            int stride[4] = { (int)o->stride, 0, 0, 0 };
            sws_scale(c->to_rgb, (const uint8_t *const *)c->dec_frame->data, c->dec_frame->linesize,
                      0, c->eh, dst, stride);
            o->w = c->w;
            o->h = c->h;
        }
        c->n_out++;
        av_frame_unref(c->dec_frame);
    }
}

// Move every packet the encoder has ready into the decoder.
static dfd_status drain_encoder(rc_ctx *c, dfd_error *err)
{
    for (;;) {
        int rc = avcodec_receive_packet(c->enc, c->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            return DFD_OK;
        }
        if (rc < 0) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "re-encode: encoding failed");
        }
        rc = avcodec_send_packet(c->dec, c->pkt);
        av_packet_unref(c->pkt);
        if (rc < 0) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "re-encode: the decoder refused a packet");
        }
        dfd_status st = drain_decoder(c, err);
        if (st) {
            return st;
        }
    }
}

static dfd_status run(rc_ctx *c, const dfd_image *in, int crf, dfd_error *err)
{
    dfd_status st = open_codecs(c, crf, err);
    if (!st) {
        st = make_buffers(c, err);
    }
    for (size_t i = 0; i < c->n && !st; i++) {
        if (av_frame_make_writable(c->yuv) < 0) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "re-encode: out of memory");
        }
        fill_pad(c, &in[i]);
        const uint8_t *src[4] = { c->pad.data, NULL, NULL, NULL };
        int src_stride[4] = { (int)c->pad.stride, 0, 0, 0 };
        sws_scale(c->to_yuv, src, src_stride, 0, c->eh, c->yuv->data, c->yuv->linesize);
        c->yuv->pts = (int64_t)i;
        if (avcodec_send_frame(c->enc, c->yuv) < 0) {
            return dfd_error_set(err, DFD_ERR_FORMAT, "re-encode: the encoder refused a frame");
        }
        st = drain_encoder(c, err);
    }
    if (!st && avcodec_send_frame(c->enc, NULL) < 0) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "re-encode: cannot flush the encoder");
    }
    if (!st) {
        st = drain_encoder(c, err);
    }
    if (!st && avcodec_send_packet(c->dec, NULL) < 0) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "re-encode: cannot flush the decoder");
    }
    if (!st) {
        st = drain_decoder(c, err);
    }
    if (!st && c->n_out != c->n) {
        st =
            dfd_error_set(err, DFD_ERR_FORMAT, "re-encode: %zu frames in, %zu out", c->n, c->n_out);
    }
    return st;
}

dfd_status dfd_video_reencode(dfd_image *out, const dfd_image *in, size_t n, int crf,
                              dfd_error *err)
{
    if (n == 0 || !in || !out) {
        return dfd_error_set(err, DFD_ERR_INVALID, "re-encode: no frames");
    }
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
    }
    if (crf < 0 || crf > 51) {
        return dfd_error_set(err, DFD_ERR_INVALID, "re-encode: CRF %d is not in 0..51", crf);
    }
    const int w = in[0].w, h = in[0].h;
    for (size_t i = 0; i < n; i++) {
        if (!in[i].data || in[i].c != 3 || in[i].w != w || in[i].h != h) {
            return dfd_error_set(err, DFD_ERR_INVALID,
                                 "re-encode: frame %zu is not an RGB image of the first's size", i);
        }
    }
    if (w < 2 || h < 2) {
        return dfd_error_set(err, DFD_ERR_INVALID, "re-encode: %dx%d frames are too small", w, h);
    }
    if (w > MAX_DIM || h > MAX_DIM) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "re-encode: %dx%d frames are too large", w, h);
    }
    vid_install_av_log();
    rc_ctx c = { .w = w, .h = h, .ew = (w + 1) & ~1, .eh = (h + 1) & ~1, .out = out, .n = n };
    dfd_status st = run(&c, in, crf, err);
    sws_freeContext(c.to_yuv);
    sws_freeContext(c.to_rgb);
    av_frame_free(&c.yuv);
    av_frame_free(&c.dec_frame);
    av_packet_free(&c.pkt);
    avcodec_free_context(&c.enc);
    avcodec_free_context(&c.dec);
    dfd_image_free(&c.pad);
    if (st) {
        for (size_t i = 0; i < n; i++) {
            dfd_image_free(&out[i]);
        }
    }
    return st;
}
