// Sampling policies: which display-order frames a sample delivers. Pure functions of the packet
// index (times and keyframe flags), so they are tested on synthetic timelines.
#include <math.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "video_internal.h"

// Largest i with t[i] <= x (0 when x < t[0]); t ascending.
static size_t last_at_or_before(const double *t, size_t n, double x)
{
    size_t lo = 0, hi = n; // answer in [lo, hi)
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid] <= x) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// Make out[0..n) strictly ascending within [0, n_frames), moving as few entries as possible:
// a forward pass pushes duplicates right, a backward pass pulls overflow left. Needs n <= n_frames.
static void make_distinct(int64_t *out, size_t n, size_t n_frames)
{
    for (size_t i = 1; i < n; i++) {
        if (out[i] <= out[i - 1]) {
            out[i] = out[i - 1] + 1;
        }
    }
    for (size_t k = n; k-- > 0;) {
        int64_t cap = (int64_t)(n_frames - (n - k)); // leave room for the ones after k
        if (out[k] > cap) {
            out[k] = cap;
        }
        if (k + 1 < n && out[k] >= out[k + 1]) {
            out[k] = out[k + 1] - 1;
        }
    }
}

static size_t take_all(int64_t *out, size_t n_frames)
{
    for (size_t i = 0; i < n_frames; i++) {
        out[i] = (int64_t)i;
    }
    return n_frames;
}

size_t vid_plan_uniform(int64_t *out, size_t n, const double *t, size_t n_frames, double duration)
{
    if (n == 0 || n_frames == 0) {
        return 0;
    }
    if (n >= n_frames) {
        return take_all(out, n_frames);
    }
    // The frame on screen at the middle of each of n equal slices of the duration.
    for (size_t i = 0; i < n; i++) {
        double x = ((double)i + 0.5) * duration / (double)n;
        out[i] = (int64_t)last_at_or_before(t, n_frames, x);
    }
    make_distinct(out, n, n_frames);
    return n;
}

// Index into keys[lo..hi] of the key nearest to x (keys ascending, lo <= hi).
static size_t nearest_key(const int64_t *keys, size_t lo, size_t hi, double x)
{
    size_t best = lo;
    double best_d = fabs((double)keys[lo] - x);
    for (size_t i = lo + 1; i <= hi; i++) {
        double d = fabs((double)keys[i] - x);
        if (d < best_d) {
            best = i;
            best_d = d;
        } else if ((double)keys[i] > x) {
            break; // keys ascend: distances only grow from here
        }
    }
    return best;
}

size_t vid_plan_bursts(int64_t *out, size_t n, const bool *is_key, size_t n_frames, int burst_len)
{
    if (n == 0 || n_frames == 0) {
        return 0;
    }
    if (n >= n_frames) {
        return take_all(out, n_frames);
    }
    size_t len = burst_len < 1 ? 1 : (size_t)burst_len;
    if (len > n) {
        len = n;
    }
    size_t n_runs = (n + len - 1) / len;

    int64_t *keys = dfd_malloc(n_frames * sizeof *keys);
    int64_t *starts = dfd_malloc(n_runs * sizeof *starts);
    bool *taken = dfd_calloc(n_frames, sizeof *taken);
    size_t count = 0;
    if (!keys || !starts || !taken) {
        goto done; // returns 0: the caller reports out of memory
    }
    size_t n_keys = 0;
    for (size_t i = 0; i < n_frames; i++) {
        if (is_key[i]) {
            keys[n_keys++] = (int64_t)i;
        }
    }
    if (n_keys == 0) {
        keys[n_keys++] = 0; // no keyframe flags at all: decoding starts at the beginning anyway
    }

    // Runs start at keyframes. With enough keyframes, pick for each run the keyframe nearest to
    // where an evenly spread run would start, keeping the choice ascending and distinct.
    size_t n_starts;
    if (n_keys >= n_runs) {
        size_t lo = 0;
        for (size_t r = 0; r < n_runs; r++) {
            double ideal = ((double)r + 0.5) * (double)n_frames / (double)n_runs - (double)len / 2;
            size_t hi = n_keys - (n_runs - r);
            size_t k = nearest_key(keys, lo, hi, ideal);
            starts[r] = keys[k];
            lo = k + 1;
        }
        n_starts = n_runs;
    } else {
        memcpy(starts, keys, n_keys * sizeof *keys);
        n_starts = n_keys;
    }

    // Split the n frames among the runs as evenly as possible, walking forward from each start
    // over frames not taken yet.
    int64_t *run_end = keys; // reuse: keys are no longer needed; run_end[r] = last frame + 1
    for (size_t r = 0; r < n_starts; r++) {
        size_t want = n / n_starts + (r < n % n_starts ? 1 : 0);
        size_t f = (size_t)starts[r];
        while (want > 0 && f < n_frames) {
            if (!taken[f]) {
                taken[f] = true;
                count++;
                want--;
            }
            f++;
        }
        run_end[r] = (int64_t)f;
    }
    // Runs cut short by the end of the video: extend earlier runs forward (the decoder is
    // already there), then take whatever is left from the start.
    for (size_t r = 0; r < n_starts && count < n; r++) {
        for (size_t f = (size_t)run_end[r]; f < n_frames && count < n; f++) {
            if (taken[f]) {
                break;
            }
            taken[f] = true;
            count++;
        }
    }
    for (size_t f = 0; f < n_frames && count < n; f++) {
        if (!taken[f]) {
            taken[f] = true;
            count++;
        }
    }
    size_t k = 0;
    for (size_t f = 0; f < n_frames && k < count; f++) {
        if (taken[f]) {
            out[k++] = (int64_t)f;
        }
    }
done:
    dfd_free(keys);
    dfd_free(starts);
    dfd_free(taken);
    return count;
}
