// bench/nn: latency and throughput of the four face models on our engine, at batch 1 and 8 on 1
// and 2 threads, as achieved GFLOP/s and as a fraction of the FP32 peak measured by an FMA loop
// in the same run; resident memory with all four loaded; and, with --torch, the same
// architectures in PyTorch (bench/nn_torch.py, random weights) run by the same program.
//   usage: nn [--models DIR] [--torch] [--min-time SECONDS]
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "peak.h"

static const char *const models[4] = { "blazeface", "facemesh", "faceres", "antispoof" };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median seconds per run of a session, after warm-up, over at least min_time seconds.
static double time_session(dfd_session *s, double min_time)
{
    for (int i = 0; i < 3; i++) {
        dfd_session_run(s, NULL);
    }
    double t[2000];
    int n = 0;
    double start = dfd_now();
    while (n < 2000 && (n < 10 || dfd_now() - start < min_time)) {
        double t0 = dfd_now();
        dfd_session_run(s, NULL);
        t[n++] = dfd_now() - t0;
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return t[n / 2];
}

// VmRSS and VmHWM of this process in MB.
static void memory_mb(double *rss, double *hwm)
{
    *rss = *hwm = 0;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        long kb;
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
            *rss = kb / 1024.0;
        } else if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) {
            *hwm = kb / 1024.0;
        }
    }
    if (f) {
        fclose(f);
    }
}

static void fill_input(dfd_session *s)
{
    dfd_tensor *x = dfd_session_input(s, 0);
    for (size_t i = 0; i < dfd_tensor_numel(x); i++) {
        x->data[i] = (float)((i * 2654435761u) % 997) / 498.5f - 1.0f;
    }
}

// The four models loaded with one batch-1 session each, run once: what a scan keeps resident.
static int measure_memory(const char *dir)
{
    double rss0, hwm0, rss1, hwm1;
    memory_mb(&rss0, &hwm0);
    dfd_graph *g[4] = { NULL };
    dfd_session *s[4] = { NULL };
    int rc = 0;
    for (int m = 0; m < 4 && !rc; m++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.json", dir, models[m]);
        dfd_error err;
        if (dfd_tfjs_load(&g[m], path, &err) || dfd_session_create(&s[m], g[m], 1, NULL, &err)) {
            fprintf(stderr, "nn: %s\n", err.msg);
            rc = 1;
            break;
        }
        fill_input(s[m]);
        dfd_session_run(s[m], NULL);
    }
    memory_mb(&rss1, &hwm1);
    if (!rc) {
        printf("memory: four models loaded, one batch-1 session each: %.0f MB resident "
               "(peak %.0f MB; %.0f MB before loading)\n\n",
               rss1, hwm1, rss0);
    }
    for (int m = 0; m < 4; m++) {
        dfd_session_free(s[m]);
        dfd_graph_free(g[m]);
    }
    return rc;
}

// PyTorch timings from bench/nn_torch.py --json: {model: {"batch1_threads1_ms": ...}}.
// Two configurations: "plain" is what a notebook gets (eager mode, default NCHW layout, glibc
// malloc defaults); "tuned" is the best PyTorch can do here (TorchScript frozen and optimized
// for inference, BN folded, channels-last, malloc tuned).
static cJSON *run_torch(const char *dir, bool tuned)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/nn_torch.py --json --models '%s' %s", dir,
             tuned ? "--mode jit" : "--mode eager --layout nchw --no-fold --no-malloc-tune");
    fprintf(stderr, "running PyTorch: %s\n", cmd);
    FILE *p = popen(cmd, "r");
    if (!p) {
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                break;
            }
            buf = nb;
        }
    }
    pclose(p);
    if (!buf) {
        return NULL;
    }
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

static double torch_ms(const cJSON *torch, const char *model, int batch, int threads)
{
    char key[64];
    snprintf(key, sizeof key, "batch%d_threads%d_ms", batch, threads);
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(torch, model), key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int main(int argc, char **argv)
{
    const char *dir = "models";
    bool with_torch = false;
    double min_time = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--torch") == 0) {
            with_torch = true;
        } else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
            min_time = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: nn [--models DIR] [--torch] [--min-time SECONDS]\n");
            return 2;
        }
    }
    const char *isa;
    double peak[3] = { 0, peak_gflops(1, &isa), peak_gflops(2, &isa) };
    printf("FP32 peak (%s FMA loop, this run): %.0f GFLOP/s on 1 thread, %.0f on 2\n", isa, peak[1],
           peak[2]);
    if (measure_memory(dir)) {
        return 1;
    }
    cJSON *plain = with_torch ? run_torch(dir, false) : NULL;
    cJSON *tuned = with_torch ? run_torch(dir, true) : NULL;
    if (with_torch && (!plain || !tuned)) {
        fprintf(stderr, "nn: PyTorch run failed (is python3-torch installed?)\n");
    }
    printf("%-10s %5s %7s %10s %9s %8s %7s", "model", "batch", "threads", "ms/batch", "ms/item",
           "GFLOP/s", "%peak");
    if (plain && tuned) {
        printf("  %-20s %-20s", "torch plain (x)", "torch tuned (x)");
    }
    printf("\n");
    for (int m = 0; m < 4; m++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.json", dir, models[m]);
        dfd_graph *g;
        dfd_error err;
        if (dfd_tfjs_load(&g, path, &err)) {
            fprintf(stderr, "nn: %s\n", err.msg);
            return 1;
        }
        dfd_graph_stats st;
        dfd_graph_stats_get(&st, g);
        for (int threads = 1; threads <= 2; threads++) {
            for (int batch = 1; batch <= 8; batch *= 8) {
                dfd_session_opts so = dfd_session_opts_default();
                so.n_threads = threads;
                dfd_session *s;
                if (dfd_session_create(&s, g, batch, &so, &err)) {
                    fprintf(stderr, "nn: %s\n", err.msg);
                    return 1;
                }
                fill_input(s);
                double sec = time_session(s, min_time);
                double gflops = 2 * st.macs * batch / sec / 1e9;
                printf("%-10s %5d %7d %10.2f %9.2f %8.1f %6.1f%%", models[m], batch, threads,
                       sec * 1e3, sec * 1e3 / batch, gflops, 100 * gflops / peak[threads]);
                for (int k = 0; plain && tuned && k < 2; k++) {
                    double tms = torch_ms(k ? tuned : plain, models[m], batch, threads);
                    char cell[32];
                    snprintf(cell, sizeof cell, "%.2f ms (%.2fx)", tms, tms / (sec * 1e3));
                    printf("  %-20s", tms > 0 ? cell : "-");
                }
                printf("\n");
                fflush(stdout);
                dfd_session_free(s);
            }
        }
        dfd_graph_free(g);
    }
    cJSON_Delete(plain);
    cJSON_Delete(tuned);
    return 0;
}
