// Small helpers the benchmarks share: the median of a sample (timings on a shared machine are
// noisy, so every figure we report is a median of several runs), and the output of a helper
// program (the PyTorch baselines print JSON on stdout).
#ifndef DFD_BENCH_UTIL_H
#define DFD_BENCH_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median of v[0, n) (sorts v in place); n >= 1.
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Run the shell command `cmd` and keep up to cap - 1 bytes of its stdout in buf (NUL-terminated;
// stderr passes through). False when it could not be started or did not exit with status 0.
static inline bool bench_capture(char *buf, size_t cap, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p) {
        return false;
    }
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = '\0';
    return pclose(p) == 0;
}

// Make the clip `path` with the ffmpeg program unless it exists: `ffmpeg_args` are the inputs,
// filters and encoder options (written to path.tmp, then renamed). 0 on success.
static inline int bench_make_clip(const char *path, const char *what, const char *ffmpeg_args)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && sb.st_size > 0) {
        return 0;
    }
    fprintf(stderr, "making %s (%s)...\n", path, what);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "mkdir -p bench/out && ffmpeg -nostdin -v error -y %s -f mp4 '%s.tmp' && "
             "mv '%s.tmp' '%s'",
             ffmpeg_args, path, path, path);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
