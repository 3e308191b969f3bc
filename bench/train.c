// bench/train: one training step (forward in training mode, backward, AdamW update) of a TF.js
// model, by default the faceres backbone at 224x224, batch 16, 2 threads, on our engine (oneDNN
// forward and backward kernels) and, with --torch, the same architecture in PyTorch
// (bench/train_torch.py), alternating runs of the two, as images per second and a ratio.
// The loss is sum(r * output) over every output with fixed random r, so every head trains.
// A step is: zero the gradients, forward, backward, AdamW (PyTorch's defaults) on every weight.
//   usage: train [--models DIR] [--model faceres] [--batch 16] [--threads 2] [--steps 10]
//                [--rounds 3] [--torch] [--profile] [--ref] [--verbose]
#ifdef _OPENMP
#    include <omp.h>
#endif
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/autograd.h"
#include "dfdetect/nn/optim.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/log.h"

typedef struct bench_opts {
    const char *dir, *model;
    int batch, threads, steps, rounds;
    bool torch, profile, ref;
} bench_opts;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

// Loss weights for every output (fixed), set as the outputs' gradients before each backward.
typedef struct seeds {
    float *r[8];
    size_t n;
} seeds;

static int make_seeds(seeds *sd, dfd_autograd *s, const dfd_graph *g)
{
    sd->n = dfd_graph_n_outputs(g) < 8 ? dfd_graph_n_outputs(g) : 8;
    unsigned x = 12345;
    for (size_t o = 0; o < sd->n; o++) {
        size_t n = dfd_tensor_numel(dfd_autograd_output(s, o));
        if (!(sd->r[o] = malloc(n * sizeof(float)))) {
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            sd->r[o][i] = (float)(x >> 8) / 16777216.0f - 0.5f;
        }
    }
    return 0;
}

// Median forward, backward, optimiser (zeroing the gradients and the update) and whole step
// seconds over `steps` steps, and the fastest whole step (out[4]).
static int time_steps(dfd_autograd *s, dfd_optim *opt, const dfd_graph *g, const seeds *sd,
                      int steps, double out[5])
{
    double *t[4];
    for (int k = 0; k < 4; k++) {
        t[k] = malloc((size_t)steps * sizeof(double));
    }
    int rc = !t[0] || !t[1] || !t[2] || !t[3];
    for (int i = 0; !rc && i < steps; i++) {
        double t0 = dfd_now();
        dfd_params_zero_grad(dfd_autograd_params(s), dfd_autograd_n_params(s));
        rc |= dfd_autograd_forward(s, true, NULL) != DFD_OK;
        double t1 = dfd_now();
        for (size_t o = 0; o < sd->n; o++) {
            rc |= dfd_autograd_set_grad(s, dfd_graph_output_name(g, o), sd->r[o], NULL) != DFD_OK;
        }
        rc |= dfd_autograd_backward(s, NULL) != DFD_OK;
        double t2 = dfd_now();
        dfd_optim_step(opt, NULL);
        double t3 = dfd_now();
        t[0][i] = t1 - t0;
        t[1][i] = t2 - t1;
        t[2][i] = t3 - t2;
        t[3][i] = t3 - t0;
    }
    for (int k = 0; k < 4; k++) {
        out[k] = rc ? 0 : median(t[k], steps);
    }
    out[4] = rc ? 0 : t[3][0]; // sorted by median()
    for (int k = 0; k < 4; k++) {
        free(t[k]);
    }
    return rc;
}

// bench/train_torch.py --json: {"nchw": {"step_ms": ...}, "channels_last": {...}}.
static cJSON *run_torch(const bench_opts *o)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 bench/train_torch.py --json --models '%s' --model '%s' "
             "--batch %d --threads %d --steps %d",
             o->dir, o->model, o->batch, o->threads, o->steps);
    FILE *p = popen(cmd, "r");
    if (!p) {
        return NULL;
    }
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    pclose(p);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

static double torch_ms(const cJSON *j, const char *layout, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, layout), key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_profile(const dfd_autograd *s, const dfd_graph *g, int steps)
{
    printf("\nper node, ms per step (forward, backward):\n");
    double tf = 0, tb = 0;
    for (size_t i = 0; i < dfd_graph_n_nodes(g); i++) {
        const dfd_node *n = dfd_graph_node(g, i);
        double b, f = dfd_autograd_node_seconds(s, i, &b);
        tf += f;
        tb += b;
        char shape[64];
        const dfd_value *v = dfd_graph_value(g, n->out);
        dfd_shape_str(shape, sizeof shape, v->rank, v->shape);
        printf("  %-8s g%-4d %-22s %8.2f %8.2f  %s\n", dfd_op_name(n->op),
               n->op == DFD_OP_CONV2D ? n->a.conv.groups : 0, shape, f * 1e3 / steps,
               b * 1e3 / steps, n->name);
    }
    printf("  total                                   %8.2f %8.2f\n", tf * 1e3 / steps,
           tb * 1e3 / steps);
}

int main(int argc, char **argv)
{
    bench_opts o = { "models", "faceres", 16, 2, 10, 3, false, false, false };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--models") == 0 && v) {
            o.dir = argv[++i];
        } else if (strcmp(a, "--model") == 0 && v) {
            o.model = argv[++i];
        } else if (strcmp(a, "--batch") == 0 && v) {
            o.batch = atoi(argv[++i]);
        } else if (strcmp(a, "--threads") == 0 && v) {
            o.threads = atoi(argv[++i]);
        } else if (strcmp(a, "--steps") == 0 && v) {
            o.steps = atoi(argv[++i]);
        } else if (strcmp(a, "--rounds") == 0 && v) {
            o.rounds = atoi(argv[++i]);
        } else if (strcmp(a, "--torch") == 0) {
            o.torch = true;
        } else if (strcmp(a, "--profile") == 0) {
            o.profile = true;
        } else if (strcmp(a, "--ref") == 0) {
            o.ref = true;
        } else if (strcmp(a, "--verbose") == 0) { // which oneDNN kernels were chosen
            dfd_log_set(dfd_log_sink_file, stderr, DFD_LOG_DEBUG);
        } else {
            fprintf(stderr, "usage: train [--models DIR] [--model NAME] [--batch N] [--threads N] "
                            "[--steps N] [--rounds N] [--torch] [--profile] [--ref] [--verbose]\n");
            return 2;
        }
    }
    if (o.steps < 1 || o.rounds < 1 || o.batch < 1 || o.threads < 1) {
        fprintf(stderr, "train: --steps, --rounds, --batch and --threads must be positive\n");
        return 2;
    }
#ifdef _OPENMP
    omp_set_num_threads(o.threads); // the optimiser's team (the session sets its own)
#endif
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.json", o.dir, o.model);
    dfd_finalize_opts fo = { .fuse = true, .fuse_dwpw = false };
    dfd_graph *g;
    dfd_autograd *s;
    dfd_error err;
    if (dfd_tfjs_load_opts(&g, path, &fo, &err)) {
        fprintf(stderr, "train: %s\n", err.msg);
        return 1;
    }
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.n_threads = o.threads;
    ao.profile = o.profile;
    ao.backend = o.ref ? DFD_BACKEND_REF : DFD_BACKEND_FAST;
    if (dfd_autograd_create(&s, g, o.batch, &ao, &err)) {
        fprintf(stderr, "train: %s\n", err.msg);
        dfd_graph_free(g);
        return 1;
    }
    dfd_tensor *x = dfd_autograd_input(s, 0);
    for (size_t i = 0; i < dfd_tensor_numel(x); i++) {
        x->data[i] = (float)((i * 2654435761u) % 997) / 498.5f - 1.0f;
    }
    seeds sd = { { NULL }, 0 };
    dfd_optim *opt = NULL;
    dfd_optim_opts oo = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
    int rc = dfd_optim_create(&opt, dfd_autograd_params(s), dfd_autograd_n_params(s), &oo, &err);
    if (rc) {
        fprintf(stderr, "train: %s\n", err.msg);
    }
    rc = rc || dfd_autograd_forward(s, true, NULL) != DFD_OK || make_seeds(&sd, s, g);
    double warm[5];
    rc = rc || time_steps(s, opt, g, &sd, 2, warm); // warm-up (and the gradient plan)
    printf("%s, batch %d, %d threads, %zu of %zu nodes on oneDNN, %.0f MB of activations and "
           "gradients; medians of %d steps per round\n",
           path, o.batch, o.threads, dfd_autograd_n_fast(s), dfd_graph_n_nodes(g),
           (double)dfd_autograd_bytes(s) / 1048576.0, o.steps);
    printf("%-6s %-19s %10s %10s %10s %10s %10s\n", "round", "engine", "forward", "backward",
           "optimiser", "step", "images/s");
    // Per round: median step, and over all rounds the fastest step (on a shared machine the
    // least disturbed; medians are what we report, the best tells how noisy they were).
    double *ours = malloc((size_t)o.rounds * sizeof(double)), best = 1e30;
    double *th[2] = { malloc((size_t)o.rounds * sizeof(double)),
                      malloc((size_t)o.rounds * sizeof(double)) };
    double th_best[2] = { 1e30, 1e30 };
    static const char *const layouts[2] = { "nchw", "channels_last" };
    for (int r = 0; !rc && r < o.rounds; r++) {
        double t[5];
        rc = time_steps(s, opt, g, &sd, o.steps, t);
        ours[r] = t[3];
        best = t[4] < best ? t[4] : best;
        printf("%-6d %-19s %7.1f ms %7.1f ms %7.1f ms %7.1f ms %10.1f\n", r, "dfdetect", t[0] * 1e3,
               t[1] * 1e3, t[2] * 1e3, t[3] * 1e3, o.batch / t[3]);
        fflush(stdout);
        cJSON *j = o.torch ? run_torch(&o) : NULL;
        for (int k = 0; o.torch && k < 2; k++) {
            double f = torch_ms(j, layouts[k], "forward_ms"),
                   b = torch_ms(j, layouts[k], "backward_ms"),
                   u = torch_ms(j, layouts[k], "optimiser_ms");
            th[k][r] = torch_ms(j, layouts[k], "step_ms");
            double tb = torch_ms(j, layouts[k], "best_step_ms");
            th_best[k] = tb > 0 && tb < th_best[k] ? tb : th_best[k];
            printf("%-6d torch %-13s %7.1f ms %7.1f ms %7.1f ms %7.1f ms %10.1f\n", r, layouts[k],
                   f, b, u, th[k][r], th[k][r] > 0 ? 1e3 * o.batch / th[k][r] : 0);
        }
        cJSON_Delete(j);
        fflush(stdout);
    }
    if (!rc) {
        double m = median(ours, o.rounds);
        printf("\nmedian step: dfdetect %.1f ms (%.1f images/s)", m * 1e3, o.batch / m);
        for (int k = 0; o.torch && k < 2; k++) {
            double tm = median(th[k], o.rounds);
            printf("; torch %s %.1f ms (%.1f images/s; dfdetect/torch %.2fx)", layouts[k], tm,
                   1e3 * o.batch / tm, tm / (m * 1e3));
        }
        printf("\nbest step:   dfdetect %.1f ms (%.1f images/s)", best * 1e3, o.batch / best);
        for (int k = 0; o.torch && k < 2; k++) {
            printf("; torch %s %.1f ms (%.1f images/s; dfdetect/torch %.2fx)", layouts[k],
                   th_best[k], 1e3 * o.batch / th_best[k], th_best[k] / (best * 1e3));
        }
        printf("\n");
    }
    if (!rc && o.profile) {
        print_profile(s, g, o.steps * o.rounds + 2);
    }
    for (size_t k = 0; k < sd.n; k++) {
        free(sd.r[k]);
    }
    free(ours);
    free(th[0]);
    free(th[1]);
    dfd_optim_destroy(opt);
    dfd_autograd_free(s);
    dfd_graph_free(g);
    if (rc) {
        fprintf(stderr, "train: a step failed\n");
    }
    return rc;
}
