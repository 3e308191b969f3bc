// Delivering sampled frames: plan the display indices, then for each group of wanted frames that
// share a run of decoding, seek to the keyframe before the group, decode forward, drop the
// non-reference packets nobody wants before they reach the decoder (and tell the decoder to skip
// the ones we cannot see into), and convert to RGB only the wanted frames. With two threads and
// groups that split evenly, two one-thread decoders take half the groups each.
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <libavutil/imgutils.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/log.h"
#include "dfdetect/util/threads.h"
#include "video_internal.h"

#define MAX_SAMPLE 100000 // frames one call may deliver

// ---- policy names ----

dfd_status dfd_sampling_parse(dfd_sampling_kind *out, const char *name)
{
    if (name && strcmp(name, "uniform") == 0) {
        *out = DFD_SAMPLING_UNIFORM;
        return DFD_OK;
    }
    if (name && strcmp(name, "bursts") == 0) {
        *out = DFD_SAMPLING_BURSTS;
        return DFD_OK;
    }
    return DFD_ERR_INVALID;
}

const char *dfd_sampling_name(dfd_sampling_kind kind)
{
    return kind == DFD_SAMPLING_BURSTS ? "bursts" : "uniform";
}

void dfd_frame_set_free(dfd_frame_set *set)
{
    if (!set) {
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        dfd_image_free(&set->frames[i].image);
    }
    dfd_free(set->frames);
    set->frames = NULL;
    set->n = 0;
}

// ---- planning ----

dfd_status dfd_video_plan(int64_t *indices, size_t *n_out, dfd_video *v, const dfd_sampling *policy,
                          size_t n, dfd_error *err)
{
    *n_out = 0;
    if (!policy || n == 0 || n > MAX_SAMPLE) {
        return dfd_error_set(err, DFD_ERR_INVALID, "frame count must be between 1 and %d",
                             MAX_SAMPLE);
    }
    dfd_status st = vid_scan(v, err);
    if (st) {
        return st;
    }
    const vid_index *ix = &v->index;
    size_t got;
    switch (policy->kind) {
    case DFD_SAMPLING_UNIFORM:
        got = vid_plan_uniform(indices, n, ix->display_t, ix->n_frames, v->info.duration_s);
        break;
    case DFD_SAMPLING_BURSTS:
        got = vid_plan_bursts(indices, n, ix->display_key, ix->n_frames,
                              policy->burst_len > 0 ? policy->burst_len : 8);
        if (got == 0) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory planning", v->path);
        }
        break;
    default:
        return dfd_error_set(err, DFD_ERR_INVALID, "unknown sampling policy %d", (int)policy->kind);
    }
    *n_out = got;
    return DFD_OK;
}

// ---- the decoding job ----

typedef struct job {
    dfd_video *v;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    struct SwsContext *sws;
    const int64_t *want; // display indices, ascending
    size_t n_want;
    dfd_frame *frames; // one slot per wanted index
    size_t n_filled;
    int64_t n_output; // frames the decoder returned (forward mode without timestamps)
    bool by_output_order;
    dfd_video_progress_fn progress; // called on the calling thread only, once per frame
    void *progress_ctx;
    atomic_size_t *delivered;     // frames delivered by every job of this call
    size_t reported;              // frames reported through progress
    dfd_status failure;           // a conversion ran out of memory
    int threads;                  // decoder threads
    const AVCodecParameters *par; // the decoder's parameters; NULL: the stream's
} job;

// Report every frame delivered so far that was not reported yet, one call each.
static void report(job *j)
{
    if (!j->progress) {
        return;
    }
    const size_t done = atomic_load(j->delivered);
    while (j->reported < done) {
        j->progress(j->progress_ctx, ++j->reported, j->n_want);
    }
}

// Position of x in the ascending array a[0..n), or -1.
static long find_sorted(const int64_t *a, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return (lo < n && a[lo] == x) ? (long)lo : -1;
}

// Slot of display index d in the wanted list, or -1.
static long want_slot(const job *j, int64_t d)
{
    return find_sorted(j->want, j->n_want, d);
}

// Display index of a timestamp, or -1.
static int64_t display_of_pts(const vid_index *ix, int64_t pts)
{
    return find_sorted(ix->display_pts, ix->n_frames, pts);
}

static dfd_status open_decoder(job *j, dfd_error *err)
{
    dfd_video *v = j->v;
    const AVStream *st = v->fmt->streams[v->stream];
    char eb[128];
    j->dec = avcodec_alloc_context3(v->codec);
    j->pkt = av_packet_alloc();
    j->frame = av_frame_alloc();
    if (!j->dec || !j->pkt || !j->frame) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", v->path);
    }
    int rc = avcodec_parameters_to_context(j->dec, j->par ? j->par : st->codecpar);
    if (rc < 0) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: bad codec parameters (%s)", v->path,
                             vid_averror_str(rc, eb, sizeof eb));
    }
    j->dec->pkt_timebase = st->time_base;
    j->dec->thread_count = j->threads;
    j->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    rc = avcodec_open2(j->dec, v->codec, NULL);
    if (rc < 0) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: cannot open the %s decoder (%s)",
                             v->path, v->codec->name, vid_averror_str(rc, eb, sizeof eb));
    }
    return DFD_OK;
}

static void close_job(job *j)
{
    sws_freeContext(j->sws);
    av_frame_free(&j->frame);
    av_packet_free(&j->pkt);
    avcodec_free_context(&j->dec);
}

// Convert a decoded frame to RGB (display orientation) into `out`.
static dfd_status frame_to_rgb(dfd_image *out, job *j, const AVFrame *f)
{
    const int w = f->width, h = f->height;
    j->sws = sws_getCachedContext(j->sws, w, h, (enum AVPixelFormat)f->format, w, h,
                                  AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!j->sws) {
        return DFD_ERR_UNSUPPORTED;
    }
    // Matrix and range as the stream declares them; unlabelled streams get BT.709 when HD and
    // BT.601 otherwise (what players assume).
    int cs = f->colorspace;
    if (cs == AVCOL_SPC_UNSPECIFIED || cs == AVCOL_SPC_RGB || cs >= AVCOL_SPC_NB) {
        cs = h >= 720 ? AVCOL_SPC_BT709 : AVCOL_SPC_BT470BG;
    }
    const enum AVPixelFormat pf = (enum AVPixelFormat)f->format;
    int full_range = f->color_range == AVCOL_RANGE_JPEG || pf == AV_PIX_FMT_YUVJ420P ||
                     pf == AV_PIX_FMT_YUVJ422P || pf == AV_PIX_FMT_YUVJ444P;
    const int *coef = sws_getCoefficients(cs);
    sws_setColorspaceDetails(j->sws, coef, full_range, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                             1 << 16, 1 << 16);
    // One row more than the frame: swscale's SIMD writers store whole blocks of pixels, up to
    // 45 bytes past the end of a row, which on the last row would leave the allocation.
    dfd_image rgb;
    dfd_status st = dfd_image_alloc(&rgb, w, h + 1, 3);
    if (st) {
        return st;
    }
    rgb.h = h;
    uint8_t *dst[4] = { rgb.data, NULL, NULL, NULL };
    int dst_stride[4] = { (int)rgb.stride, 0, 0, 0 };
    sws_scale(j->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, dst_stride);
    int rot = j->v->info.rotation;
    if (rot == 0) {
        *out = rgb;
        return DFD_OK;
    }
    st = dfd_image_rotate(out, &rgb, rot);
    dfd_image_free(&rgb);
    return st;
}

// A frame came out of the decoder: keep it if it is wanted and not yet delivered.
static void take_frame(job *j, const AVFrame *f)
{
    const vid_index *ix = &j->v->index;
    j->v->stats.frames_decoded++;
    int64_t d;
    if (j->by_output_order) {
        d = j->n_output++;
    } else {
        int64_t pts = f->pts != AV_NOPTS_VALUE ? f->pts : f->best_effort_timestamp;
        d = display_of_pts(ix, pts);
    }
    long slot = d >= 0 ? want_slot(j, d) : -1;
    if (slot < 0 || j->frames[slot].image.data) {
        return;
    }
    dfd_frame *fr = &j->frames[slot];
    dfd_status st = frame_to_rgb(&fr->image, j, f);
    if (st) {
        j->failure = st;
        return;
    }
    fr->index = d;
    fr->pts_s = ix->display_t[d];
    fr->is_keyframe = ix->display_key[d];
    j->n_filled++;
    j->v->stats.frames_converted++;
    atomic_fetch_add(j->delivered, 1);
    report(j);
}

static void receive_all(job *j)
{
    while (avcodec_receive_frame(j->dec, j->frame) >= 0) {
        take_frame(j, j->frame);
        av_frame_unref(j->frame);
    }
}

// Give one packet (NULL: drain) to the decoder and collect what comes out.
static void decode_packet(job *j, const AVPacket *pkt)
{
    int rc = avcodec_send_packet(j->dec, pkt);
    if (rc == AVERROR(EAGAIN)) {
        receive_all(j);
        rc = avcodec_send_packet(j->dec, pkt);
    }
    if (rc < 0 && rc != AVERROR_EOF) {
        char eb[128];
        dfd_log(DFD_LOG_DEBUG, "%s: decoder rejected a packet (%s)", j->v->path,
                vid_averror_str(rc, eb, sizeof eb));
    }
    if (pkt) {
        j->v->stats.packets_sent++;
    }
    receive_all(j);
}

static void drain(job *j)
{
    decode_packet(j, NULL);
    avcodec_flush_buffers(j->dec);
}

// Decoding decisions for one packet at position `i` of the index: send it (and whether the
// decoder may skip it), or drop it.
static void feed(job *j, size_t i)
{
    const vid_index *ix = &j->v->index;
    const vid_packet *p = &ix->pkts[i];
    bool wanted = p->display >= 0 && want_slot(j, p->display) >= 0;
    if (!wanted && p->is_disposable && !j->by_output_order) {
        j->v->stats.packets_dropped++;
        return;
    }
    // Frames identified by output order must all come out; otherwise the decoder may skip
    // non-reference frames we do not want (codecs we cannot parse ourselves).
    j->dec->skip_frame = (wanted || j->by_output_order) ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
    decode_packet(j, j->pkt);
}

// Position of a demuxed packet in the index: the expected next one if its timestamps match,
// else a search by pts (then by dts for packets never displayed). -1 if unknown.
static long locate_packet(const vid_index *ix, const AVPacket *pkt, long expected)
{
    if (expected >= 0 && (size_t)expected < ix->n_pkts && ix->pkts[expected].pts == pkt->pts &&
        ix->pkts[expected].dts == pkt->dts) {
        return expected;
    }
    if (pkt->pts != AV_NOPTS_VALUE) {
        int64_t d = display_of_pts(ix, pkt->pts);
        if (d >= 0) {
            return ix->display_to_pkt[d];
        }
    }
    for (size_t i = 0; i < ix->n_pkts; i++) {
        if (ix->pkts[i].pts == pkt->pts && ix->pkts[i].dts == pkt->dts) {
            return (long)i;
        }
    }
    return -1;
}

// Read the next packet of the video stream into j->pkt; false at the end or on a read error.
static bool read_video_packet(job *j)
{
    for (;;) {
        int rc = av_read_frame(j->v->fmt, j->pkt);
        if (rc < 0) {
            return false;
        }
        if (j->pkt->stream_index == j->v->stream) {
            j->v->stats.packets_read++;
            return true;
        }
        av_packet_unref(j->pkt);
    }
}

// Seek so that the next packets read include index position `ks`. Returns false when the
// container cannot seek there.
static bool seek_to(job *j, size_t ks)
{
    const vid_packet *p = &j->v->index.pkts[ks];
    int64_t ts = p->pts;
    if (ts == AV_NOPTS_VALUE || (p->dts != AV_NOPTS_VALUE && p->dts < ts)) {
        ts = p->dts;
    }
    if (ts == AV_NOPTS_VALUE) {
        return false;
    }
    j->v->stats.seeks++;
    return av_seek_frame(j->v->fmt, j->v->stream, ts, AVSEEK_FLAG_BACKWARD) >= 0;
}

// Decode index positions [ks, last] after seeking to ks, feeding what is needed. Returns false if
// the seek failed or landed after ks (the caller then falls back to a forward scan).
static bool run_group(job *j, size_t ks, size_t last)
{
    const vid_index *ix = &j->v->index;
    if (!seek_to(j, ks)) {
        return false;
    }
    long expected = -1;
    bool started = false;
    while (read_video_packet(j)) {
        long i = locate_packet(ix, j->pkt, expected);
        if (i < 0) {
            av_packet_unref(j->pkt);
            continue; // not in the index (should not happen); ignore
        }
        expected = i + 1;
        if (!started && (size_t)i > ks) {
            av_packet_unref(j->pkt);
            return false; // the seek overshot the keyframe we need
        }
        if ((size_t)i < ks) {
            av_packet_unref(j->pkt);
            continue; // before our keyframe: the demuxer landed earlier, skip cheaply
        }
        started = true;
        if ((size_t)i > last) {
            av_packet_unref(j->pkt);
            break;
        }
        feed(j, (size_t)i);
        av_packet_unref(j->pkt);
        if ((size_t)i == last) {
            break;
        }
    }
    drain(j);
    return started;
}

// Reopen the file and decode from the start, without seeking.
static dfd_status run_forward(job *j, dfd_error *err)
{
    dfd_video *v = j->v;
    char eb[128];
    j->v->stats.forward_scan = true;
    // Reopening is the one way back to the start that every container supports.
    avformat_close_input(&v->fmt);
    int rc = avformat_open_input(&v->fmt, v->path, NULL, NULL);
    if (rc >= 0) {
        rc = avformat_find_stream_info(v->fmt, NULL);
    }
    if (rc < 0) {
        return dfd_error_set(err, DFD_ERR_IO, "%s: cannot reopen (%s)", v->path,
                             vid_averror_str(rc, eb, sizeof eb));
    }
    for (unsigned i = 0; i < v->fmt->nb_streams; i++) {
        if ((int)i != v->stream) {
            v->fmt->streams[i]->discard = AVDISCARD_ALL;
        }
    }
    avcodec_flush_buffers(j->dec);
    j->n_output = 0;
    long expected = 0;
    int64_t last_wanted = j->want[j->n_want - 1];
    while (j->n_filled < j->n_want && read_video_packet(j)) {
        long i = j->by_output_order ? expected : locate_packet(&v->index, j->pkt, expected);
        if (i >= 0 && (size_t)i < v->index.n_pkts) {
            expected = i + 1;
            feed(j, (size_t)i);
        }
        av_packet_unref(j->pkt);
        if (j->by_output_order && j->n_output > last_wanted) {
            break;
        }
    }
    drain(j);
    return DFD_OK;
}

// Keyframe position from which index position `i` can be decoded.
static size_t start_keyframe(const vid_index *ix, size_t i)
{
    size_t k = i;
    while (k > 0 && !ix->pkts[k].is_key) {
        k--;
    }
    // A leading picture (shown before its keyframe, open GOP) may reference the previous GOP.
    if (ix->pkts[i].display >= 0 && ix->pkts[k].display > ix->pkts[i].display && k > 0) {
        k--;
        while (k > 0 && !ix->pkts[k].is_key) {
            k--;
        }
    }
    return k;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

// A run of decoding: index positions [ks, last], from a keyframe to the last wanted frame that
// decoding from it reaches.
typedef struct group {
    size_t ks, last;
} group;

// The groups of the wanted frames, in decode order: wanted frames whose keyframe lies before
// the end of the previous one share its run; the next group starts with a seek. Returns the
// count (0: out of memory); *out is owned by the caller.
static size_t plan_groups(group **out, const job *j)
{
    const vid_index *ix = &j->v->index;
    size_t *pos = dfd_malloc(j->n_want * sizeof *pos);
    group *g = dfd_malloc(j->n_want * sizeof *g);
    if (!pos || !g) {
        dfd_free(pos);
        dfd_free(g);
        return 0;
    }
    for (size_t k = 0; k < j->n_want; k++) {
        pos[k] = (size_t)ix->display_to_pkt[j->want[k]];
    }
    qsort(pos, j->n_want, sizeof *pos, cmp_size); // decode order
    size_t n = 0;
    for (size_t k = 0; k < j->n_want;) {
        size_t ks = start_keyframe(ix, pos[k]), last = pos[k], e = k + 1;
        while (e < j->n_want && start_keyframe(ix, pos[e]) <= last) {
            last = pos[e];
            e++;
        }
        g[n++] = (group){ ks, last };
        k = e;
    }
    dfd_free(pos);
    *out = g;
    return n;
}

// Run groups [g0, g1); false when a seek failed (decode forward from the start instead).
static bool run_groups(job *j, const group *g, size_t g0, size_t g1)
{
    for (size_t k = g0; k < g1 && j->failure == DFD_OK; k++) {
        if (!run_group(j, g[k].ks, g[k].last)) {
            return false;
        }
    }
    return true;
}

// The second decoder of a parallel run: its own demuxer and one-thread decoder over the same
// index, filling its groups' slots of the shared frame array (the groups' packet ranges are
// disjoint, so no slot is written twice).
typedef struct helper {
    job j;
    dfd_video v;
    const group *g;
    size_t g0, g1;
    bool opened, seek_failed;
} helper;

static void *helper_main(void *arg)
{
    helper *h = arg;
    if (avformat_open_input(&h->v.fmt, h->v.path, NULL, NULL) < 0) {
        h->v.fmt = NULL;
        return NULL;
    }
    // Not probed again (that decodes frames): the stream must be where the caller found it, and
    // the decoder's parameters come from the caller's probed stream (h->j.par). Otherwise the
    // caller runs these groups itself.
    if ((unsigned)h->v.stream >= h->v.fmt->nb_streams ||
        h->v.fmt->streams[h->v.stream]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) {
        return NULL;
    }
    for (unsigned i = 0; i < h->v.fmt->nb_streams; i++) {
        if ((int)i != h->v.stream) {
            h->v.fmt->streams[i]->discard = AVDISCARD_ALL;
        }
    }
    if (open_decoder(&h->j, NULL) != DFD_OK) {
        return NULL;
    }
    h->opened = true;
    h->seek_failed = !run_groups(&h->j, h->g, h->g0, h->g1);
    return NULL;
}

static void add_stats(dfd_video_stats *a, const dfd_video_stats *b)
{
    a->packets_read += b->packets_read;
    a->packets_sent += b->packets_sent;
    a->packets_dropped += b->packets_dropped;
    a->frames_decoded += b->frames_decoded;
    a->frames_converted += b->frames_converted;
    a->seeks += b->seeks;
}

// Groups [0, split) here, [split, n) on a helper thread with its own decoder, each decoder with
// half the threads (one on two cores): two independent decoders keep two cores busy where one
// decoder's frame threads wait on each other (measured in docs/PERFORMANCE.md). The helper's groups
// that did not run (it could not open the file or decoder) run here afterwards.
static bool run_parallel(job *j, const group *g, size_t n, size_t split)
{
    helper h = { .j = *j, .v = *j->v, .g = g, .g0 = split, .g1 = n };
    h.v.fmt = NULL;
    memset(&h.v.stats, 0, sizeof h.v.stats);
    h.j.v = &h.v;
    h.j.dec = NULL;
    h.j.pkt = NULL;
    h.j.frame = NULL;
    h.j.sws = NULL;
    h.j.n_filled = 0;
    h.j.progress = NULL; // this thread reports the helper's frames too
    AVCodecParameters *par = avcodec_parameters_alloc();
    if (!par || avcodec_parameters_copy(par, j->v->fmt->streams[j->v->stream]->codecpar) < 0) {
        avcodec_parameters_free(&par);
        return run_groups(j, g, 0, n);
    }
    h.j.par = par;
    pthread_t t;
    bool threaded = pthread_create(&t, NULL, helper_main, &h) == 0;
    bool ok = run_groups(j, g, 0, split);
    if (threaded) {
        pthread_join(t, NULL);
    }
    close_job(&h.j);
    avcodec_parameters_free(&par);
    if (h.v.fmt) {
        avformat_close_input(&h.v.fmt);
    }
    add_stats(&j->v->stats, &h.v.stats);
    j->n_filled += h.j.n_filled;
    if (h.j.failure) {
        j->failure = h.j.failure;
    }
    report(j);
    if (!threaded || !h.opened) {
        ok = ok && run_groups(j, g, split, n);
    } else if (h.seek_failed) {
        ok = false;
    }
    return ok;
}

// Where to split groups between two decoders: the first group from which the packets to decode
// reach half of the total (at least one group each side). 0 when the larger side would still
// hold more than two thirds of the packets: one decoder with frame threads does better then
// (uniform sampling of a clip with keyframes 8 s apart: 240 packets against 45).
static size_t split_point(const group *g, size_t n)
{
    size_t total = 0, acc = 0;
    for (size_t k = 0; k < n; k++) {
        total += g[k].last - g[k].ks + 1;
    }
    size_t k = 0;
    while (k + 1 < n && 2 * (acc + g[k].last - g[k].ks + 1) <= total) {
        acc += g[k].last - g[k].ks + 1;
        k++;
    }
    if (k == 0) {
        acc = g[0].last - g[0].ks + 1;
        k = 1;
    }
    const size_t larger = acc > total - acc ? acc : total - acc;
    return n >= 2 && 3 * larger <= 2 * total ? k : 0;
}

static dfd_status run_seeking(job *j, const group *g, size_t n, size_t split, dfd_error *err)
{
    bool ok = split ? run_parallel(j, g, n, split) : run_groups(j, g, 0, n);
    if (!ok && j->failure == DFD_OK) {
        dfd_log(DFD_LOG_DEBUG, "%s: seeking failed, decoding from the start", j->v->path);
        return run_forward(j, err);
    }
    return DFD_OK;
}

dfd_status dfd_video_sample(dfd_frame_set *out, dfd_video *v, const dfd_sampling *policy, size_t n,
                            dfd_video_progress_fn progress, void *progress_ctx, dfd_error *err)
{
    out->frames = NULL;
    out->n = 0;
    if (!v || !policy) {
        return dfd_error_set(err, DFD_ERR_INVALID, "dfd_video_sample: NULL argument");
    }
    memset(&v->stats, 0, sizeof v->stats);
    int64_t *want = NULL;
    size_t n_want = 0, n_groups = 0;
    group *groups = NULL;
    atomic_size_t delivered = 0;
    job j = { .v = v, .progress = progress, .progress_ctx = progress_ctx, .delivered = &delivered };
    dfd_status st = DFD_OK;
    if (n == 0 || n > MAX_SAMPLE) {
        return dfd_error_set(err, DFD_ERR_INVALID, "frame count must be between 1 and %d",
                             MAX_SAMPLE);
    }
    want = dfd_malloc(n * sizeof *want);
    if (!want) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", v->path);
    }
    st = dfd_video_plan(want, &n_want, v, policy, n, err);
    if (st) {
        goto done;
    }
    j.want = want;
    j.n_want = n_want;
    j.frames = dfd_calloc(n_want, sizeof *j.frames);
    if (!j.frames) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", v->path);
        goto done;
    }
    // Groups that split evenly and two or more threads: two decoders side by side, each with half
    // the threads.
    const int threads = v->opts.n_threads > 0 ? v->opts.n_threads : dfd_cpu_count();
    size_t split = 0;
    if (v->index.pts_usable) {
        n_groups = plan_groups(&groups, &j);
        if (n_groups == 0) {
            st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", v->path);
            goto done;
        }
        split = threads >= 2 ? split_point(groups, n_groups) : 0;
    }
    j.threads = split ? threads / 2 : threads;
    st = open_decoder(&j, err);
    if (st) {
        goto done;
    }
    if (v->index.pts_usable) {
        st = run_seeking(&j, groups, n_groups, split, err);
    } else {
        j.by_output_order = true; // frames can only be told apart by their order
        st = run_forward(&j, err);
    }
    if (!st && j.failure) {
        st = dfd_error_set(err, j.failure, "%s: cannot convert a frame to RGB (%s)", v->path,
                           dfd_status_str(j.failure));
    }
    if (!st && j.n_filled < n_want) {
        size_t first = 0;
        while (first < n_want && j.frames[first].image.data) {
            first++;
        }
        st = dfd_error_set(err, DFD_ERR_FORMAT,
                           "%s: damaged: %zu of the %zu wanted frames could not be decoded "
                           "(first at %.2f s)",
                           v->path, n_want - j.n_filled, n_want, v->index.display_t[want[first]]);
    }
done:
    close_job(&j);
    if (st) {
        dfd_frame_set set = { j.frames, j.frames ? n_want : 0 };
        dfd_frame_set_free(&set);
    } else {
        out->frames = j.frames;
        out->n = n_want;
    }
    dfd_free(want);
    dfd_free(groups);
    return st;
}
