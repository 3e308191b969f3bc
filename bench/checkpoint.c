// bench/checkpoint: the costs around a training step that are not the network: one AdamW
// update over P parameters (threads: OMP_NUM_THREADS), saving a checkpoint of the parameters and
// the AdamW state (3 P floats, written to a temporary file, synced and renamed), and opening it
// again (read, parse, CRC-32 check) and restoring parameters and state. Medians of --rounds, in
// wall-clock time and in CPU time of the process (steadier on a shared machine; the save's
// fsync waits without CPU).
//   usage: checkpoint [--params 3500000] [--rounds 7] [--dir /tmp]
#include "dfdetect/model/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Wall and CPU seconds of one call, into w[r] and c[r].
#define TIME(w, c, r, call)           \
    do {                              \
        const double w0_ = dfd_now(); \
        const double c0_ = cpu_now(); \
        call;                         \
        (c)[r] = cpu_now() - c0_;     \
        (w)[r] = dfd_now() - w0_;     \
    } while (0)

int main(int argc, char **argv)
{
    long n_params = 3500000;
    int rounds = 7;
    const char *dir = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--params") == 0) {
            n_params = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--dir") == 0) {
            dir = argv[i + 1];
        }
    }
    if (n_params < 16 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "checkpoint: bad arguments\n");
        return 2;
    }
    // Four parameters: a large weight and three small ones, as a backbone layer list would end.
    enum {
        N = 4
    };
    const int sizes[N] = { (int)(n_params - 3 * 4), 4, 4, 4 };
    const char *names[N] = { "backbone/weight", "head/w", "head/b", "head/scale" };
    float *value[N], *grad[N];
    dfd_param p[N];
    dfd_param *ps[N];
    for (int i = 0; i < N; i++) {
        value[i] = dfd_malloc((size_t)sizes[i] * sizeof(float));
        grad[i] = dfd_malloc((size_t)sizes[i] * sizeof(float));
        if (!value[i] || !grad[i]) {
            return 1;
        }
        for (int j = 0; j < sizes[i]; j++) {
            value[i][j] = 0.01f * (float)(j % 97);
            grad[i][j] = 0.001f * (float)(j % 89) - 0.04f;
        }
        p[i] = (dfd_param){ .name = names[i], .value = value[i], .grad = grad[i], .rank = 1 };
        p[i].shape[0] = sizes[i];
        ps[i] = &p[i];
    }
    dfd_optim_opts o = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
    o.clip_norm = 1.0f;
    dfd_optim *opt;
    dfd_error err;
    if (dfd_optim_create(&opt, ps, N, &o, &err) != DFD_OK) {
        fprintf(stderr, "checkpoint: %s\n", err.msg);
        return 1;
    }
    double *w = calloc((size_t)rounds, sizeof *w), *c = calloc((size_t)rounds, sizeof *c);
    if (!w || !c) {
        return 1;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/dfd_bench_checkpoint.safetensors", dir);
    const double mb = (double)n_params * 3.0 * 4.0 / 1e6;
    const char *threads = getenv("OMP_NUM_THREADS");
    printf("%ld parameters, checkpoint of %.1f MB (values, AdamW m and v), OMP_NUM_THREADS=%s, "
           "median of %d\n",
           n_params, mb, threads ? threads : "-", rounds);
    printf("%-40s %9s %9s %9s\n", "", "wall ms", "CPU ms", "MB/s wall");

    dfd_optim_step(opt, NULL); // first touch of the state
    for (int r = 0; r < rounds; r++) {
        TIME(w, c, r, dfd_optim_step(opt, NULL));
    }
    printf("%-40s %9.2f %9.2f\n", "AdamW step (clip by norm)", 1e3 * bench_median(w, rounds),
           1e3 * bench_median(c, rounds));
    const dfd_st_meta meta[1] = { { DFD_CKPT_TRAINING, "{\"bench\":true}" } };
    dfd_status st = DFD_OK;
    for (int r = 0; r < rounds && !st; r++) {
        TIME(w, c, r, st = dfd_checkpoint_save(path, ps, N, opt, meta, 1, &err));
    }
    double m = bench_median(w, rounds);
    printf("%-40s %9.2f %9.2f %9.0f\n", "save (write, fsync, rename)", 1e3 * m,
           1e3 * bench_median(c, rounds), mb / m);
    for (int r = 0; r < rounds && !st; r++) {
        dfd_safetensors *f = NULL;
        TIME(
            w, c, r, st = dfd_checkpoint_open(&f, path, &err);
            if (!st) { st = dfd_checkpoint_load(f, ps, N, opt, &err); });
        dfd_safetensors_close(f);
    }
    m = bench_median(w, rounds);
    printf("%-40s %9.2f %9.2f %9.0f\n", "open, check, load (file in page cache)", 1e3 * m,
           1e3 * bench_median(c, rounds), mb / m);
    if (st) {
        fprintf(stderr, "checkpoint: %s\n", err.msg);
        return 1;
    }
    remove(path);
    dfd_optim_destroy(opt);
    for (int i = 0; i < N; i++) {
        dfd_free(value[i]);
        dfd_free(grad[i]);
    }
    free(w);
    free(c);
    return 0;
}
