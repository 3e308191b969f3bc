// Just enough H.264/HEVC bitstream parsing to tell, per packet and without decoding, whether any
// later frame can reference it: non-reference frames that the sample does not want are dropped
// before they reach the decoder, which is most of the saving when B-frames are not references.
#include <string.h>

#include "video_internal.h"

// Iterate over NAL units. Length-prefixed (MP4/MKV) when nal_length_size > 0, else Annex B
// (00 00 01 / 00 00 00 01 start codes). Calls visit(nal, size, ctx) for each NAL; stops early
// and returns false when visit returns false or the packet is malformed.
typedef bool (*nal_visit_fn)(const uint8_t *nal, size_t size, void *ctx);

static bool for_each_nal(const uint8_t *p, size_t n, int nal_length_size, nal_visit_fn visit,
                         void *ctx)
{
    if (nal_length_size > 0) {
        size_t i = 0;
        while (i < n) {
            if (n - i < (size_t)nal_length_size) {
                return false;
            }
            size_t len = 0;
            for (int k = 0; k < nal_length_size; k++) {
                len = (len << 8) | p[i + (size_t)k];
            }
            i += (size_t)nal_length_size;
            if (len == 0 || len > n - i) {
                return false;
            }
            if (!visit(p + i, len, ctx)) {
                return false;
            }
            i += len;
        }
        return true;
    }
    // Annex B: find each start code; a NAL runs to the next start code or the end.
    size_t i = 0, start = SIZE_MAX;
    bool any = false;
    while (i + 3 <= n) {
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1) {
            if (start != SIZE_MAX) {
                size_t end = i;
                while (end > start && p[end - 1] == 0) {
                    end--; // trailing zero bytes belong to the next start code
                }
                if (end > start && !visit(p + start, end - start, ctx)) {
                    return false;
                }
                any = true;
            }
            i += 3;
            start = i;
        } else {
            i++;
        }
    }
    if (start != SIZE_MAX && start < n) {
        any = true;
        if (!visit(p + start, n - start, ctx)) {
            return false;
        }
    }
    return any;
}

typedef struct nal_state {
    bool has_slice;
    bool disposable; // so far
    int max_tid;     // HEVC
    int tid_seen;
} nal_state;

static bool h264_visit(const uint8_t *nal, size_t size, void *ctx)
{
    nal_state *s = ctx;
    (void)size;
    int ref_idc = (nal[0] >> 5) & 3;
    int type = nal[0] & 0x1f;
    switch (type) {
    case 1: // non-IDR slice
    case 2: // slice data partition A
    case 5: // IDR slice (always a reference)
        s->has_slice = true;
        if (ref_idc != 0) {
            s->disposable = false;
        }
        return true;
    case 6:  // SEI
    case 9:  // access unit delimiter
    case 10: // end of sequence
    case 11: // end of stream
    case 12: // filler
        return true;
    default: // parameter sets, partitions B/C, extensions: keep the packet
        s->disposable = false;
        return true;
    }
}

bool vid_h264_is_disposable(const uint8_t *data, size_t n, int nal_length_size)
{
    nal_state s = { .has_slice = false, .disposable = true };
    if (!data || n == 0 || !for_each_nal(data, n, nal_length_size, h264_visit, &s)) {
        return false;
    }
    return s.has_slice && s.disposable;
}

static bool hevc_visit(const uint8_t *nal, size_t size, void *ctx)
{
    nal_state *s = ctx;
    if (size < 2) {
        s->disposable = false;
        return false;
    }
    int type = (nal[0] >> 1) & 0x3f;
    int tid = (nal[1] & 7) - 1;
    if (tid > s->tid_seen) {
        s->tid_seen = tid;
    }
    if (type <= 31) { // VCL
        s->has_slice = true;
        // Even types below 16 are sub-layer non-reference pictures.
        bool sub_layer_nonref = type < 16 && type % 2 == 0;
        if (!sub_layer_nonref || tid < s->max_tid) {
            s->disposable = false;
        }
        return true;
    }
    // 35 AUD, 36 EOS, 37 EOB, 38 FD, 39/40 SEI: harmless; VPS/SPS/PPS and others: keep.
    if (type < 35 || type > 40) {
        s->disposable = false;
    }
    return true;
}

bool vid_hevc_is_disposable(const uint8_t *data, size_t n, int nal_length_size, int max_tid,
                            int *tid_out)
{
    nal_state s = { .has_slice = false, .disposable = true, .max_tid = max_tid, .tid_seen = 0 };
    bool ok = data && n > 0 && for_each_nal(data, n, nal_length_size, hevc_visit, &s);
    if (tid_out) {
        *tid_out = s.tid_seen;
    }
    return ok && s.has_slice && s.disposable;
}

int vid_nal_length_size(enum AVCodecID codec, const uint8_t *extradata, int size)
{
    if (!extradata || size < 1) {
        return 0;
    }
    // Annex B extradata starts with a start code.
    if (size >= 3 && extradata[0] == 0 && extradata[1] == 0 &&
        (extradata[2] == 1 || (size >= 4 && extradata[2] == 0 && extradata[3] == 1))) {
        return 0;
    }
    if (codec == AV_CODEC_ID_H264 && size >= 7 && extradata[0] == 1) {
        return (extradata[4] & 3) + 1; // avcC: lengthSizeMinusOne
    }
    if (codec == AV_CODEC_ID_HEVC && size >= 23 && (extradata[0] == 1 || extradata[0] == 0)) {
        return (extradata[21] & 3) + 1; // hvcC: lengthSizeMinusOne
    }
    return 0;
}
