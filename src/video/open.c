// Opening a video: header checks, choice of the video stream, resolution limits, rotation, and the
// packet scan that indexes every frame (timestamps, keyframes, non-reference frames) once.
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libavutil/display.h>
#include <libavutil/pixdesc.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/log.h"
#include "dfdetect/util/size.h"
#include "video_internal.h"

// More packets than this in one stream is not a video we should index (10 h at 240 fps).
#define MAX_PACKETS (10LL * 3600 * 240)

dfd_video_opts dfd_video_opts_default(void)
{
    dfd_video_opts o = {
        .n_threads = 0,
        .max_dim = 8192,
        .max_pixels = 8192LL * 4320,
        .scan = true,
    };
    return o;
}

const char *vid_averror_str(int averr, char *buf, size_t n)
{
    if (av_strerror(averr, buf, n) < 0) {
        snprintf(buf, n, "error %d", averr);
    }
    return buf;
}

// ---- libav logging goes through dfd_log ----

static void av_log_to_dfd(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > av_log_get_level() || !dfd_log_enabled(DFD_LOG_DEBUG)) {
        return;
    }
    char line[512];
    int print_prefix = 1;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
    // Decoder complaints are expected on damaged files; the caller reports what matters.
    dfd_log(DFD_LOG_DEBUG, "libav: %s", line);
}

static void install_av_log(void)
{
    av_log_set_level(AV_LOG_WARNING);
    av_log_set_callback(av_log_to_dfd);
}

static pthread_once_t log_install_once = PTHREAD_ONCE_INIT;

void vid_install_av_log(void)
{
    pthread_once(&log_install_once, install_av_log);
}

// ---- helpers ----

void vid_index_free(vid_index *ix)
{
    dfd_free(ix->pkts);
    dfd_free(ix->display_to_pkt);
    dfd_free(ix->display_pts);
    dfd_free(ix->display_t);
    dfd_free(ix->display_key);
    memset(ix, 0, sizeof *ix);
}

void dfd_video_close(dfd_video *v)
{
    if (!v) {
        return;
    }
    avformat_close_input(&v->fmt);
    vid_index_free(&v->index);
    dfd_free(v->path);
    dfd_free(v);
}

// Does the file start like an ISO-BMFF (MP4/MOV) file? Used to explain open failures.
static bool looks_like_mp4(const char *path)
{
    unsigned char b[12];
    FILE *f = fopen(path, "rb");
    if (!f) {
        return false;
    }
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    return got == sizeof b && (memcmp(b + 4, "ftyp", 4) == 0 || memcmp(b + 4, "mdat", 4) == 0 ||
                               memcmp(b + 4, "moov", 4) == 0 || memcmp(b + 4, "free", 4) == 0);
}

// Short container name: the demuxer name token matching the file's extension if any ("mp4" out of
// "mov,mp4,m4a,3gp,3g2,mj2" for x.mp4), else the first token.
static void container_name(char *out, size_t n, const char *demuxer, const char *path)
{
    const char *ext = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (ext && (!slash || ext > slash)) {
        ext++;
        size_t elen = strlen(ext);
        for (const char *p = demuxer; *p;) {
            const char *comma = strchr(p, ',');
            size_t tlen = comma ? (size_t)(comma - p) : strlen(p);
            if (tlen == elen && strncasecmp(p, ext, tlen) == 0) {
                snprintf(out, n, "%.*s", (int)tlen, p);
                return;
            }
            if (!comma) {
                break;
            }
            p = comma + 1;
        }
    }
    const char *comma = strchr(demuxer, ',');
    int len = comma ? (int)(comma - demuxer) : (int)strlen(demuxer);
    snprintf(out, n, "%.*s", len, demuxer);
}

// Clockwise display rotation in degrees (0/90/180/270) from the stream's display matrix.
static int stream_rotation(const AVStream *st)
{
    size_t size = 0;
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (!m || size < 9 * sizeof(int32_t)) {
        return 0;
    }
    // av_display_rotation_get gives the counter-clockwise angle of the matrix.
    double ccw = av_display_rotation_get((const int32_t *)(const void *)m);
    if (isnan(ccw)) {
        return 0;
    }
    long cw = lround(-ccw);
    cw = ((cw % 360) + 360) % 360;
    long snapped = ((cw + 45) / 90 * 90) % 360;
    if (labs(cw - snapped) > 1 && labs(cw - snapped) < 359) {
        dfd_log(DFD_LOG_WARN, "rotation of %ld degrees is not a multiple of 90; using %ld", cw,
                snapped);
    }
    return (int)snapped;
}

// Pick the main video stream: the largest picture that is not an attached cover image.
static int pick_video_stream(const AVFormatContext *fmt)
{
    int best = -1;
    int64_t best_area = -1;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO ||
            (st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
            continue;
        }
        int64_t area = (int64_t)st->codecpar->width * st->codecpar->height;
        if (area > best_area) {
            best = (int)i;
            best_area = area;
        }
    }
    return best;
}

// ---- open ----

static dfd_status open_format(dfd_video *v, dfd_error *err)
{
    char eb[128];
    int rc = avformat_open_input(&v->fmt, v->path, NULL, NULL);
    if (rc < 0) {
        if (looks_like_mp4(v->path)) {
            return dfd_error_set(err, DFD_ERR_FORMAT,
                                 "%s: damaged or truncated MP4/MOV file: its index ('moov') is "
                                 "missing or unreadable (%s)",
                                 v->path, vid_averror_str(rc, eb, sizeof eb));
        }
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: not a video file FFmpeg can read (%s)",
                             v->path, vid_averror_str(rc, eb, sizeof eb));
    }
    rc = avformat_find_stream_info(v->fmt, NULL);
    if (rc < 0) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: cannot read the stream parameters (%s)",
                             v->path, vid_averror_str(rc, eb, sizeof eb));
    }
    return DFD_OK;
}

static dfd_status check_stream(dfd_video *v, dfd_error *err)
{
    AVFormatContext *fmt = v->fmt;
    bool has_audio = false;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
            has_audio = true;
        }
    }
    v->info.has_audio = has_audio;
    v->stream = pick_video_stream(fmt);
    if (v->stream < 0) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: no video stream%s", v->path,
                             has_audio ? " (the file holds audio only)" : "");
    }
    AVStream *st = fmt->streams[v->stream];
    const AVCodecParameters *par = st->codecpar;
    int w = par->width, h = par->height;
    if (w <= 0 || h <= 0) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: the video stream has no frame size",
                             v->path);
    }
    if (w > v->opts.max_dim || h > v->opts.max_dim ||
        (int64_t)w * (int64_t)h > v->opts.max_pixels) {
        return dfd_error_set(err, DFD_ERR_LIMIT,
                             "%s: resolution %dx%d is beyond the limit (%d pixels a side, %lld "
                             "pixels in all)",
                             v->path, w, h, v->opts.max_dim, (long long)v->opts.max_pixels);
    }
    v->codec = avcodec_find_decoder(par->codec_id);
    if (!v->codec) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: no decoder for video codec '%s'",
                             v->path, avcodec_get_name(par->codec_id));
    }
    v->nal_length_size = vid_nal_length_size(par->codec_id, par->extradata, par->extradata_size);
    // Only the video stream's packets are wanted: the demuxer skips the rest cheaply.
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        if ((int)i != v->stream) {
            fmt->streams[i]->discard = AVDISCARD_ALL;
        }
    }
    return DFD_OK;
}

// Fill the parts of info known from the headers; the scan refines counts and timing.
static void info_from_headers(dfd_video *v, int64_t file_bytes)
{
    dfd_video_info *in = &v->info;
    const AVStream *st = v->fmt->streams[v->stream];
    const AVCodecParameters *par = st->codecpar;
    snprintf(in->path, sizeof in->path, "%s", v->path);
    container_name(in->container, sizeof in->container, v->fmt->iformat->name, v->path);
    snprintf(in->codec, sizeof in->codec, "%s", avcodec_get_name(par->codec_id));
    const char *pf = av_get_pix_fmt_name((enum AVPixelFormat)par->format);
    snprintf(in->pix_fmt, sizeof in->pix_fmt, "%s", pf ? pf : "unknown");
    in->width = par->width;
    in->height = par->height;
    in->rotation = stream_rotation(st);
    bool swap = in->rotation == 90 || in->rotation == 270;
    in->display_width = swap ? par->height : par->width;
    in->display_height = swap ? par->width : par->height;
    AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    in->fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0.0;
    in->is_vfr = false;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
        in->duration_s = (double)st->duration * av_q2d(st->time_base);
    } else if (v->fmt->duration != AV_NOPTS_VALUE && v->fmt->duration > 0) {
        in->duration_s = (double)v->fmt->duration / AV_TIME_BASE;
    }
    in->start_s =
        st->start_time != AV_NOPTS_VALUE ? (double)st->start_time * av_q2d(st->time_base) : 0.0;
    if (st->nb_frames > 0) {
        in->n_frames = st->nb_frames;
        in->n_frames_source = DFD_COUNT_HEADER;
    } else {
        in->n_frames = (int64_t)llround(in->duration_s * in->fps);
        in->n_frames_source = DFD_COUNT_ESTIMATED;
    }
    in->n_keyframes = -1;
    in->bit_rate = v->fmt->bit_rate > 0 ? v->fmt->bit_rate : 0;
    in->file_bytes = file_bytes;
}

dfd_status dfd_video_open(dfd_video **out, const char *path, const dfd_video_opts *opts,
                          dfd_error *err)
{
    if (!out || !path) {
        return dfd_error_set(err, DFD_ERR_INVALID, "dfd_video_open: NULL argument");
    }
    *out = NULL;
    pthread_once(&log_install_once, install_av_log);
    size_t file_bytes = 0;
    dfd_status st = dfd_file_check_regular(path, &file_bytes, err);
    if (st) {
        return st;
    }
    dfd_video *v = dfd_calloc(1, sizeof *v);
    if (!v || !(v->path = dfd_strdup(path))) {
        dfd_free(v);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    v->opts = opts ? *opts : dfd_video_opts_default();
    if (v->opts.max_dim <= 0 || v->opts.max_pixels <= 0 || v->opts.n_threads < 0) {
        dfd_video_close(v);
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: invalid video options", path);
    }
    st = open_format(v, err);
    if (!st) {
        st = check_stream(v, err);
    }
    if (!st) {
        info_from_headers(v, (int64_t)file_bytes);
        if (v->opts.scan) {
            st = vid_scan(v, err);
        }
    }
    if (st) {
        dfd_video_close(v);
        return st;
    }
    *out = v;
    return DFD_OK;
}

void dfd_video_probe(dfd_video_info *info, const dfd_video *v)
{
    *info = v->info;
}

void dfd_video_last_stats(dfd_video_stats *stats, const dfd_video *v)
{
    *stats = v->stats;
}

// ---- scan ----

static int cmp_display(const void *a, const void *b, const vid_packet *pk)
{
    const vid_packet *x = &pk[*(const int32_t *)a], *y = &pk[*(const int32_t *)b];
    if (x->pts != y->pts) {
        return x->pts < y->pts ? -1 : 1;
    }
    // Equal (or missing) pts: keep file order, which is stable and right for intra-only files.
    return *(const int32_t *)a < *(const int32_t *)b ? -1 : 1;
}

// qsort has no context argument in C11; sort the (small) display index with a merge sort.
static void sort_display(int32_t *idx, int32_t *tmp, size_t n, const vid_packet *pk)
{
    if (n < 2) {
        return;
    }
    size_t h = n / 2;
    sort_display(idx, tmp, h, pk);
    sort_display(idx + h, tmp, n - h, pk);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        tmp[k++] = cmp_display(&idx[i], &idx[j], pk) <= 0 ? idx[i++] : idx[j++];
    }
    while (i < h) {
        tmp[k++] = idx[i++];
    }
    while (j < n) {
        tmp[k++] = idx[j++];
    }
    memcpy(idx, tmp, n * sizeof *idx);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

// From the packets in decode order, build the display order and the timing facts of info.
static dfd_status build_display(dfd_video *v, dfd_error *err)
{
    vid_index *ix = &v->index;
    const AVStream *st = v->fmt->streams[v->stream];
    double tb = av_q2d(st->time_base);
    size_t n = 0;
    bool all_pts = true;
    for (size_t i = 0; i < ix->n_pkts; i++) {
        if (ix->pkts[i].display >= 0) {
            n++;
            if (ix->pkts[i].pts == AV_NOPTS_VALUE) {
                all_pts = false;
            }
        }
    }
    if (n == 0) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: the video stream has no frames", v->path);
    }
    ix->display_to_pkt = dfd_malloc(n * sizeof *ix->display_to_pkt);
    int32_t *tmp = dfd_malloc(n * sizeof *tmp);
    ix->display_pts = dfd_malloc(n * sizeof *ix->display_pts);
    ix->display_t = dfd_malloc(n * sizeof *ix->display_t);
    ix->display_key = dfd_malloc(n * sizeof *ix->display_key);
    int64_t *deltas = dfd_malloc(n * sizeof *deltas);
    dfd_status status = DFD_OK;
    if (!ix->display_to_pkt || !tmp || !ix->display_pts || !ix->display_t || !ix->display_key ||
        !deltas) {
        status = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory indexing frames", v->path);
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < ix->n_pkts; i++) {
        if (ix->pkts[i].display >= 0) {
            ix->display_to_pkt[k++] = (int32_t)i;
        }
    }
    if (all_pts) {
        sort_display(ix->display_to_pkt, tmp, n, ix->pkts);
    }
    ix->n_frames = n;
    ix->pts_usable = all_pts;
    for (size_t d = 0; d < n; d++) {
        vid_packet *p = &ix->pkts[ix->display_to_pkt[d]];
        p->display = (int32_t)d;
        ix->display_key[d] = p->is_key;
        ix->display_pts[d] = all_pts ? p->pts : (int64_t)d;
        if (d > 0 && all_pts && ix->display_pts[d] == ix->display_pts[d - 1]) {
            ix->pts_usable = false; // duplicate timestamps: cannot tell frames apart by pts
        }
    }

    // Timing. With usable timestamps the frame durations come from pts differences; otherwise
    // from the nominal frame rate.
    dfd_video_info *in = &v->info;
    if (ix->pts_usable && n >= 2) {
        for (size_t d = 1; d < n; d++) {
            deltas[d - 1] = ix->display_pts[d] - ix->display_pts[d - 1];
        }
        qsort(deltas, n - 1, sizeof *deltas, cmp_i64);
        int64_t median = deltas[(n - 1) / 2];
        // Timestamps are rounded to the time base (1 ms in Matroska): allow 1.5 ticks or 2%.
        double tol = fmax(1.5, 0.02 * (double)median);
        in->is_vfr = (double)(deltas[n - 2] - median) > tol || (double)(median - deltas[0]) > tol;
        // The last frame lasts its packet duration when that is plausible; muxers often write
        // 0 or 1 tick, so otherwise it lasts as long as the frame before it.
        int64_t last_dur = ix->pkts[ix->display_to_pkt[n - 1]].duration;
        int64_t prev_dur = ix->display_pts[n - 1] - ix->display_pts[n - 2];
        if (last_dur <= 0 || last_dur * 4 < prev_dur || last_dur > prev_dur * 4) {
            last_dur = prev_dur;
        }
        int64_t first = ix->display_pts[0];
        for (size_t d = 0; d < n; d++) {
            ix->display_t[d] = (double)(ix->display_pts[d] - first) * tb;
        }
        in->start_s = (double)first * tb;
        in->duration_s = (double)(ix->display_pts[n - 1] - first + last_dur) * tb;
        in->fps = in->is_vfr ? (double)n / in->duration_s : 1.0 / ((double)median * tb);
        // Prefer the exact nominal rate (30000/1001) when it agrees with the measured one.
        AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
        if (!in->is_vfr && fr.num > 0 && fr.den > 0 &&
            fabs(av_q2d(fr) - in->fps) < 0.01 * in->fps) {
            in->fps = av_q2d(fr);
        }
    } else {
        double fps = in->fps > 0 ? in->fps : 25.0;
        for (size_t d = 0; d < n; d++) {
            ix->display_t[d] = (double)d / fps;
        }
        in->fps = fps;
        in->duration_s = (double)n / fps;
    }
    in->n_frames = (int64_t)n;
    in->n_frames_source = DFD_COUNT_SCANNED;
    in->n_keyframes = 0;
    for (size_t d = 0; d < n; d++) {
        in->n_keyframes += ix->display_key[d];
    }
done:
    dfd_free(tmp);
    dfd_free(deltas);
    return status;
}

dfd_status vid_scan(dfd_video *v, dfd_error *err)
{
    if (v->scanned) {
        return DFD_OK;
    }
    vid_index *ix = &v->index;
    vid_index_free(ix);
    AVStream *st = v->fmt->streams[v->stream];
    enum AVCodecID codec = st->codecpar->codec_id;
    AVPacket *pkt = av_packet_alloc();
    size_t cap = 0;
    dfd_status status = DFD_OK;
    char eb[128];
    if (!pkt) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", v->path);
    }
    // Pass 1 reads packets; HEVC disposability needs the stream's highest temporal layer, which is
    // only known at the end, so HEVC packets keep their temporal id for a second look.
    int *hevc_tid = NULL;
    for (;;) {
        int rc = av_read_frame(v->fmt, pkt);
        if (rc == AVERROR_EOF) {
            break;
        }
        if (rc < 0) {
            status = dfd_error_set(err, DFD_ERR_FORMAT,
                                   "%s: damaged or truncated: read error after %zu frames (%s)",
                                   v->path, ix->n_pkts, vid_averror_str(rc, eb, sizeof eb));
            goto done;
        }
        if (pkt->stream_index != v->stream) {
            av_packet_unref(pkt);
            continue;
        }
        if ((long long)ix->n_pkts >= MAX_PACKETS) {
            status = dfd_error_set(err, DFD_ERR_LIMIT, "%s: more than %lld video frames", v->path,
                                   (long long)MAX_PACKETS);
            goto done;
        }
        if (ix->n_pkts == cap) {
            size_t ncap = cap ? cap * 2 : 1024, bytes;
            bool ok = false;
            if (dfd_size_mul(&bytes, ncap, sizeof *ix->pkts)) {
                vid_packet *np = dfd_realloc(ix->pkts, bytes);
                if (np) {
                    ix->pkts = np;
                    ok = true;
                }
            }
            if (ok && codec == AV_CODEC_ID_HEVC) {
                int *nt = dfd_realloc(hevc_tid, ncap * sizeof *nt);
                ok = nt != NULL;
                if (ok) {
                    hevc_tid = nt;
                }
            }
            if (!ok) {
                status = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory indexing packets",
                                       v->path);
                goto done;
            }
            cap = ncap;
        }
        vid_packet *p = &ix->pkts[ix->n_pkts];
        p->pts = pkt->pts;
        p->dts = pkt->dts;
        p->duration = pkt->duration;
        p->is_key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
        p->display = (pkt->flags & AV_PKT_FLAG_DISCARD) ? -1 : 0;
        p->is_disposable = false;
        if (codec == AV_CODEC_ID_H264 && !p->is_key) {
            p->is_disposable =
                vid_h264_is_disposable(pkt->data, (size_t)pkt->size, v->nal_length_size);
        } else if (codec == AV_CODEC_ID_HEVC) {
            int tid = 0;
            // First pass with max_tid 0; re-evaluated below if higher layers exist.
            p->is_disposable = !p->is_key && vid_hevc_is_disposable(pkt->data, (size_t)pkt->size,
                                                                    v->nal_length_size, 0, &tid);
            hevc_tid[ix->n_pkts] = tid;
            if (tid > ix->max_temporal_id) {
                ix->max_temporal_id = tid;
            }
        }
        ix->n_pkts++;
        av_packet_unref(pkt);
    }
    if (codec == AV_CODEC_ID_HEVC && ix->max_temporal_id > 0) {
        // Only non-reference pictures of the top layer are safe to drop. A packet judged at
        // max_tid 0 was disposable only with tid 0 >= 0; require the top layer now.
        for (size_t i = 0; i < ix->n_pkts; i++) {
            if (hevc_tid[i] < ix->max_temporal_id) {
                ix->pkts[i].is_disposable = false;
            }
        }
    }
    // A container that states its frame count (MP4) lets us detect a cut-off file.
    if (st->nb_frames > 0 && (int64_t)ix->n_pkts < st->nb_frames) {
        status = dfd_error_set(err, DFD_ERR_FORMAT,
                               "%s: truncated: the header lists %lld frames but only %zu are "
                               "present",
                               v->path, (long long)st->nb_frames, ix->n_pkts);
        goto done;
    }
    status = build_display(v, err);
    if (status == DFD_OK) {
        v->scanned = true;
    }
done:
    dfd_free(hevc_tid);
    av_packet_free(&pkt);
    if (status) {
        vid_index_free(ix);
    }
    return status;
}
