// bench/rnn: recurrent heads (nn/rnn.h) on our layer: forward alone, and the training step
// (zero grads + forward + backpropagation through time, with and without d input), in ms; with
// --torch, the same layers in PyTorch (bench/rnn_torch.py) on the same thread count, and with
// --onednn, oneDNN's own RNN primitives (LBR-GRU, LSTM; the choice issue 5 asks us to measure),
// each as a ratio (their ms / ours: above 1 means we are faster). --rounds R alternates our
// measurement, oneDNN's and PyTorch's R times and reports medians (the machine is shared and
// noisy). Also: the input-projection GEMM on dnnl_sgemm against a plain C loop, and, with --ref,
// the reference backend (double precision, per sequence) on the first configuration.
//   usage: rnn [--torch] [--onednn] [--threads N] [--rounds R] [--min-time SECONDS]
//              [--config I]... [--ref]      (--config: rows of the table below, from 0; default
//              all)
#include <cjson/cJSON.h>
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#    include <omp.h>
#endif

#include "bench_util.h"
#include "dfdetect/nn/rnn.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"

#define MAX_ROUNDS 9

typedef struct config {
    const char *what;
    dfd_rnn_cell cell;
    int I, H, L;
    bool bidir;
    int N, T;
    bool masked; // lengths T, T-1, ... down to T/4 (as bench/rnn_torch.py)
} config;

static const config configs[] = {
    { "GRU 1024->128, 32 x 32 steps (issue 5)", DFD_RNN_GRU, 1024, 128, 1, false, 32, 32, false },
    { "  same, lengths 8..32", DFD_RNN_GRU, 1024, 128, 1, false, 32, 32, true },
    { "GRU 2048->64, 16 x 20 steps", DFD_RNN_GRU, 2048, 64, 1, false, 16, 20, false },
    { "LSTM 1024->128, 32 x 32 steps", DFD_RNN_LSTM, 1024, 128, 1, false, 32, 32, false },
    { "BiLSTM 128->64 x2, 32 x 32 steps", DFD_RNN_LSTM, 128, 64, 2, true, 32, 32, false },
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

// The configurations measured (--config I picks some; default all).
static bool use_config[N_CONFIGS];

enum {
    FWD,
    TRAIN,
    TRAIN_NODX,
    N_KINDS
};
static const char *const kind_keys[N_KINDS] = { "fwd_ms", "train_ms", "train_nodx_ms" };

// ---- our layer ----

typedef struct run {
    const config *c;
    dfd_rnn *r;
    dfd_tensor x, y, h_n, dy, dh_n, dx;
    int *lengths;
} run;

static void run_free(run *u)
{
    dfd_rnn_free(u->r);
    dfd_tensor *t[] = { &u->x, &u->y, &u->h_n, &u->dy, &u->dh_n, &u->dx };
    for (int i = 0; i < 6; i++) {
        dfd_tensor_free(t[i]);
    }
    dfd_free(u->lengths);
}

static void fill(dfd_tensor *t)
{
    for (size_t i = 0; i < dfd_tensor_numel(t); i++) {
        t->data[i] = (float)((i * 2654435761u) % 997) / 498.5f - 1.0f;
    }
}

static dfd_status run_init(run *u, const config *c, int threads, dfd_backend backend)
{
    memset(u, 0, sizeof *u);
    u->c = c;
    dfd_rnn_opts o = dfd_rnn_opts_default();
    o.cell = c->cell;
    o.input_size = c->I;
    o.hidden_size = c->H;
    o.n_layers = c->L;
    o.bidirectional = c->bidir;
    o.n_threads = threads;
    o.backend = backend;
    int D = c->bidir ? 2 : 1;
    int xs[3] = { c->N, c->T, c->I }, ys[3] = { c->N, c->T, D * c->H };
    int ss[3] = { c->L * D, c->N, c->H };
    dfd_status st = dfd_rnn_create(&u->r, &o, NULL);
    st = st ? st : dfd_tensor_alloc(&u->x, 3, xs);
    st = st ? st : dfd_tensor_alloc(&u->dx, 3, xs);
    st = st ? st : dfd_tensor_alloc(&u->y, 3, ys);
    st = st ? st : dfd_tensor_alloc(&u->dy, 3, ys);
    st = st ? st : dfd_tensor_alloc(&u->h_n, 3, ss);
    st = st ? st : dfd_tensor_alloc(&u->dh_n, 3, ss);
    u->lengths = dfd_calloc((size_t)c->N, sizeof *u->lengths);
    if (!st && !u->lengths) {
        st = DFD_ERR_NOMEM;
    }
    if (!st) {
        fill(&u->x);
        fill(&u->dy);
        fill(&u->dh_n);
        int lo = c->T / 4 > 1 ? c->T / 4 : 1;
        for (int n = 0; n < c->N; n++) {
            u->lengths[n] = c->masked ? c->T - n % (c->T - lo + 1) : c->T;
        }
    }
    return st;
}

// One call of the measured kind.
static void run_once(run *u, int kind)
{
    dfd_rnn_set_training(u->r, kind != FWD);
    if (kind != FWD) {
        size_t n;
        dfd_param *p = dfd_rnn_params(u->r, &n);
        for (size_t i = 0; i < n; i++) {
            memset(p[i].grad, 0, dfd_param_numel(&p[i]) * sizeof(float));
        }
    }
    dfd_status st =
        dfd_rnn_forward(&u->y, &u->h_n, NULL, u->r, &u->x, u->lengths, NULL, NULL, 1, NULL);
    if (!st && kind != FWD) {
        st = dfd_rnn_backward(kind == TRAIN ? &u->dx : NULL, NULL, NULL, u->r, &u->dy, &u->dh_n,
                              NULL, NULL);
    }
    if (st) {
        fprintf(stderr, "rnn: %s failed: %s\n", u->c->what, dfd_status_str(st));
        exit(1);
    }
}

// Median ms of `fn(ctx)` after warm-up, over at least min_time seconds and 10 runs.
// A function to time: fn(ctx, kind) runs one call of the measured kind.
typedef struct timed {
    void (*fn)(void *, int);
    void *ctx;
    double ms; // out: median
} timed;

#define MAX_CALLS 4000

// Median ms of each of the n (1 or 2) functions, called in turn (a, b, a, b, ...) after a
// warm-up, for at least min_time seconds and 10 calls each: a change of load on the shared
// machine hits both alike.
static void time_interleaved(timed *f, int n, int kind, double min_time)
{
    double start = dfd_now();
    for (int i = 0; i < 3 || dfd_now() - start < 0.2 * min_time; i++) {
        for (int k = 0; k < n; k++) {
            f[k].fn(f[k].ctx, kind);
        }
    }
    static double t[2][MAX_CALLS];
    int calls = 0;
    start = dfd_now();
    while (calls < MAX_CALLS && (calls < 10 || dfd_now() - start < min_time * n)) {
        for (int k = 0; k < n; k++) {
            double t0 = dfd_now();
            f[k].fn(f[k].ctx, kind);
            t[k][calls] = (dfd_now() - t0) * 1e3;
        }
        calls++;
    }
    for (int k = 0; k < n; k++) {
        f[k].ms = bench_median(t[k], calls);
    }
}

static void run_fn(void *ctx, int kind)
{
    run_once(ctx, kind);
}

// ---- GEMM: dnnl_sgemm against a plain loop, on the input projection's shape ----

typedef struct gemm_case {
    int M, N, K;
    float *A, *B, *C;
} gemm_case;

static void gemm_dnnl(void *ctx, int kind)
{
    (void)kind;
    gemm_case *g = ctx;
    dnnl_sgemm('N', 'T', g->M, g->N, g->K, 1.0f, g->A, g->K, g->B, g->K, 0.0f, g->C, g->N);
}

// C = A B^T, rows of A against rows of B (both contiguous in k: the loop the compiler
// vectorises best without -ffast-math is still a dependent sum, hence the 8 partial sums).
static void gemm_plain(void *ctx, int kind)
{
    (void)kind;
    gemm_case *g = ctx;
    for (int i = 0; i < g->M; i++) {
        const float *a = g->A + (size_t)i * g->K;
        for (int j = 0; j < g->N; j++) {
            const float *b = g->B + (size_t)j * g->K;
            float s[8] = { 0 };
            int k = 0;
            for (; k + 8 <= g->K; k += 8) {
                for (int q = 0; q < 8; q++) {
                    s[q] += a[k + q] * b[k + q];
                }
            }
            float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
            for (; k < g->K; k++) {
                sum += a[k] * b[k];
            }
            g->C[(size_t)i * g->N + j] = sum;
        }
    }
}

static void bench_gemm(double min_time)
{
    gemm_case g = { 1024, 384, 1024, NULL, NULL, NULL };
    g.A = dfd_aligned_alloc((size_t)g.M * g.K * sizeof(float));
    g.B = dfd_aligned_alloc((size_t)g.N * g.K * sizeof(float));
    g.C = dfd_aligned_alloc((size_t)g.M * g.N * sizeof(float));
    if (!g.A || !g.B || !g.C) {
        return;
    }
    for (size_t i = 0; i < (size_t)g.M * g.K; i++) {
        g.A[i] = (float)(i % 17) * 0.01f;
    }
    for (size_t i = 0; i < (size_t)g.N * g.K; i++) {
        g.B[i] = (float)(i % 13) * 0.01f;
    }
    double gflop = 2.0 * g.M * g.N * g.K / 1e9;
    timed f[2] = { { gemm_plain, &g, 0 }, { gemm_dnnl, &g, 0 } };
    time_interleaved(f, 2, 0, min_time);
    printf("input projection GEMM [%d x %d] x [%d x %d]^T: plain C loop %.2f ms (%.0f GFLOP/s, "
           "1 thread), dnnl_sgemm %.2f ms (%.0f GFLOP/s, this thread count)\n\n",
           g.M, g.K, g.N, g.K, f[0].ms, gflop / f[0].ms * 1e3, f[1].ms, gflop / f[1].ms * 1e3);
    dfd_aligned_free(g.A);
    dfd_aligned_free(g.B);
    dfd_aligned_free(g.C);
}

// ---- oneDNN's RNN primitive: the alternative to our kernels, measured on the same layers ----
// LBR-GRU is PyTorch's GRU cell (r multiplies Whn h + bhn); LSTM is the plain one. One layer,
// one direction, full-length sequences only (the primitive has no per-sequence lengths). A
// training step is forward_training + backward (diff weights, bias, input, initial state).
// Weights stay in the layouts the primitives pick (format "any"); the reorders a real training
// loop would need when they differ are left out, in oneDNN's favour. Values are not checked.

#define ONEDNN_MAX_MEMS 24

typedef struct onednn_rnn {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t mems[ONEDNN_MAX_MEMS];
    int n_mems;
    dnnl_exec_arg_t fargs[ONEDNN_MAX_MEMS], bargs[ONEDNN_MAX_MEMS];
    int n_fargs, n_bargs;
} onednn_rnn;

static void onednn_free(onednn_rnn *g)
{
    for (int i = 0; i < g->n_mems; i++) {
        dnnl_memory_destroy(g->mems[i]);
    }
    dnnl_primitive_destroy(g->fwd);
    dnnl_primitive_destroy(g->bwd);
    dnnl_primitive_desc_destroy(g->fpd);
    dnnl_primitive_desc_destroy(g->bpd);
    dnnl_stream_destroy(g->strm);
    dnnl_engine_destroy(g->eng);
}

// Bind execution argument `arg` of pd: reuse the forward's memory when the backward wants the
// same argument in the same layout, else allocate one (filled with small values).
static dnnl_status_t onednn_bind(onednn_rnn *g, dnnl_exec_arg_t *args, int *n,
                                 const_dnnl_primitive_desc_t pd, int arg)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    if (!md || md->ndims == 0) {
        return dnnl_success; // not used by this primitive
    }
    for (int i = 0; args == g->bargs && i < g->n_fargs; i++) {
        const dnnl_memory_desc_t *have;
        if (g->fargs[i].arg == arg && !dnnl_memory_get_memory_desc(g->fargs[i].memory, &have) &&
            dnnl_memory_desc_equal(have, md)) {
            args[(*n)++] = g->fargs[i];
            return dnnl_success;
        }
    }
    if (g->n_mems == ONEDNN_MAX_MEMS) {
        return dnnl_out_of_memory;
    }
    dnnl_memory_t m;
    dnnl_status_t s = dnnl_memory_create(&m, md, g->eng, DNNL_MEMORY_ALLOCATE);
    if (s != dnnl_success) {
        return s;
    }
    g->mems[g->n_mems++] = m;
    void *p = NULL;
    dnnl_memory_get_data_handle(m, &p);
    size_t nf = dnnl_memory_desc_get_size(md) / sizeof(float);
    for (size_t i = 0; p && i < nf; i++) {
        ((float *)p)[i] = (float)(i % 7) * 0.01f - 0.03f;
    }
    args[(*n)++] = (dnnl_exec_arg_t){ arg, m };
    return dnnl_success;
}

static dnnl_status_t onednn_init(onednn_rnn *g, const config *c)
{
    memset(g, 0, sizeof *g);
    const bool lstm = c->cell == DFD_RNN_LSTM;
    const int G = lstm ? 4 : 3;
    dnnl_status_t s = dnnl_engine_create(&g->eng, dnnl_cpu, 0);
    if (s == dnnl_success) {
        s = dnnl_stream_create(&g->strm, g->eng, dnnl_stream_default_flags);
    }
    if (s != dnnl_success) {
        return s;
    }
    dnnl_memory_desc_t src, it, w_l, w_i, bias, dst, dsrc, dit, dw_l, dw_i, dbias, ddst;
    dnnl_dims_t d_src = { c->T, c->N, c->I }, d_dst = { c->T, c->N, c->H };
    dnnl_dims_t d_it = { 1, 1, c->N, c->H }, d_wl = { 1, 1, c->I, G, c->H };
    dnnl_dims_t d_wi = { 1, 1, c->H, G, c->H }, d_b = { 1, 1, lstm ? G : G + 1, c->H };
    dnnl_memory_desc_t *fixed[] = { &src, &it, &bias, &dst, &dsrc, &dit, &dbias, &ddst };
    const dnnl_dim_t *dims[] = { d_src, d_it, d_b, d_dst, d_src, d_it, d_b, d_dst };
    const dnnl_format_tag_t tags[] = { dnnl_tnc, dnnl_ldnc, dnnl_ldgo, dnnl_tnc };
    const int ndims[] = { 3, 4, 4, 3 };
    for (int i = 0; i < 8 && s == dnnl_success; i++) {
        s = dnnl_memory_desc_init_by_tag(fixed[i], ndims[i % 4], dims[i], dnnl_f32, tags[i % 4]);
    }
    dnnl_memory_desc_t *weights[] = { &w_l, &w_i, &dw_l, &dw_i };
    const dnnl_dim_t *wdims[] = { d_wl, d_wi, d_wl, d_wi };
    for (int i = 0; i < 4 && s == dnnl_success; i++) {
        s = dnnl_memory_desc_init_by_tag(weights[i], 5, wdims[i], dnnl_f32, dnnl_format_tag_any);
    }
    dnnl_rnn_desc_t fd, bd;
    const dnnl_rnn_direction_t dir = dnnl_unidirectional_left2right;
    if (s == dnnl_success) {
        s = lstm ? dnnl_lstm_forward_desc_init(&fd, dnnl_forward_training, dir, &src, &it, &it,
                                               &w_l, &w_i, &bias, &dst, &it, &it, 0)
                 : dnnl_lbr_gru_forward_desc_init(&fd, dnnl_forward_training, dir, &src, &it, &w_l,
                                                  &w_i, &bias, &dst, &it, 0);
    }
    if (s == dnnl_success) {
        s = lstm ? dnnl_lstm_backward_desc_init(&bd, dnnl_backward, dir, &src, &it, &it, &w_l, &w_i,
                                                &bias, &dst, &it, &it, &dsrc, &dit, &dit, &dw_l,
                                                &dw_i, &dbias, &ddst, &dit, &dit, 0)
                 : dnnl_lbr_gru_backward_desc_init(&bd, dnnl_backward, dir, &src, &it, &w_l, &w_i,
                                                   &bias, &dst, &it, &dsrc, &dit, &dw_l, &dw_i,
                                                   &dbias, &ddst, &dit, 0);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_desc_create(&g->fpd, &fd, NULL, g->eng, NULL);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_desc_create(&g->bpd, &bd, NULL, g->eng, g->fpd);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_create(&g->fwd, g->fpd);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_create(&g->bwd, g->bpd);
    }
    static const int fwd_args[] = { DNNL_ARG_SRC_LAYER,    DNNL_ARG_SRC_ITER,
                                    DNNL_ARG_SRC_ITER_C,   DNNL_ARG_WEIGHTS_LAYER,
                                    DNNL_ARG_WEIGHTS_ITER, DNNL_ARG_BIAS,
                                    DNNL_ARG_DST_LAYER,    DNNL_ARG_DST_ITER,
                                    DNNL_ARG_DST_ITER_C,   DNNL_ARG_WORKSPACE };
    static const int bwd_only[] = { DNNL_ARG_DIFF_SRC_LAYER,    DNNL_ARG_DIFF_SRC_ITER,
                                    DNNL_ARG_DIFF_SRC_ITER_C,   DNNL_ARG_DIFF_WEIGHTS_LAYER,
                                    DNNL_ARG_DIFF_WEIGHTS_ITER, DNNL_ARG_DIFF_BIAS,
                                    DNNL_ARG_DIFF_DST_LAYER,    DNNL_ARG_DIFF_DST_ITER,
                                    DNNL_ARG_DIFF_DST_ITER_C };
    const size_t n_fwd = sizeof fwd_args / sizeof fwd_args[0];
    for (size_t i = 0; i < n_fwd && s == dnnl_success; i++) {
        s = onednn_bind(g, g->fargs, &g->n_fargs, g->fpd, fwd_args[i]);
    }
    for (size_t i = 0; i < n_fwd && s == dnnl_success; i++) {
        s = onednn_bind(g, g->bargs, &g->n_bargs, g->bpd, fwd_args[i]);
    }
    for (size_t i = 0; i < sizeof bwd_only / sizeof bwd_only[0] && s == dnnl_success; i++) {
        s = onednn_bind(g, g->bargs, &g->n_bargs, g->bpd, bwd_only[i]);
    }
    return s;
}

// One training step (kind TRAIN) or a forward_training alone (FWD).
static void onednn_fn(void *ctx, int kind)
{
    onednn_rnn *g = ctx;
    dnnl_status_t s = dnnl_primitive_execute(g->fwd, g->strm, g->n_fargs, g->fargs);
    if (s == dnnl_success && kind != FWD) {
        s = dnnl_primitive_execute(g->bwd, g->strm, g->n_bargs, g->bargs);
    }
    if (s == dnnl_success) {
        s = dnnl_stream_wait(g->strm);
    }
    if (s != dnnl_success) {
        fprintf(stderr, "rnn: oneDNN execute failed (status %d)\n", (int)s);
        exit(1);
    }
}

static bool onednn_supports(const config *c)
{
    return c->L == 1 && !c->bidir && !c->masked;
}

// oneDNN's primitives for c, when they can run it; `impl` receives the implementations oneDNN
// picked for forward and backward (their names say "ref" when it fell back to its reference
// code). False (and g freed) when it cannot.
static bool onednn_setup(onednn_rnn *g, const config *c, char *impl, size_t impl_n)
{
    dnnl_status_t s = onednn_supports(c) ? onednn_init(g, c) : dnnl_unimplemented;
    if (s != dnnl_success) {
        snprintf(impl, impl_n, "unavailable (status %d)", (int)s);
        if (onednn_supports(c)) {
            onednn_free(g);
        }
        return false;
    }
    const char *f = NULL, *b = NULL;
    dnnl_primitive_desc_query(g->fpd, dnnl_query_impl_info_str, 0, &f);
    dnnl_primitive_desc_query(g->bpd, dnnl_query_impl_info_str, 0, &b);
    snprintf(impl, impl_n, "forward %s, backward %s", f ? f : "?", b ? b : "?");
    return true;
}

// ---- PyTorch ----

static void config_arg(char *buf, size_t n, const config *c)
{
    snprintf(buf, n, "%s,%d,%d,%d,%d,%d,%d,%d", c->cell == DFD_RNN_GRU ? "gru" : "lstm", c->I, c->H,
             c->L, c->bidir, c->N, c->T, c->masked);
}

// {config: {kind: ms}} from bench/rnn_torch.py, or NULL.
static cJSON *run_torch(int threads, double min_time)
{
    char cmd[2048];
    int len =
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/rnn_torch.py --threads %d --min-time %g",
                 threads, min_time);
    for (size_t i = 0; i < N_CONFIGS; i++) {
        char arg[128];
        if (!use_config[i]) {
            continue;
        }
        config_arg(arg, sizeof arg, &configs[i]);
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " --config %s", arg);
    }
    fprintf(stderr, "running PyTorch: %s\n", cmd);
    static char buf[1 << 16];
    return bench_capture(buf, sizeof buf, cmd) ? cJSON_Parse(buf) : NULL;
}

static double torch_ms(const cJSON *j, const config *c, int kind)
{
    char arg[128];
    config_arg(arg, sizeof arg, c);
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, arg), kind_keys[kind]);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int main(int argc, char **argv)
{
    bool with_torch = false, with_ref = false, with_onednn = false, some_config = false;
    int threads = 2, rounds = 1;
    double min_time = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--torch") == 0) {
            with_torch = true;
        } else if (strcmp(argv[i], "--ref") == 0) {
            with_ref = true;
        } else if (strcmp(argv[i], "--onednn") == 0) {
            with_onednn = true;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
            min_time = atof(argv[++i]);
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc &&
                   (size_t)atoi(argv[i + 1]) < N_CONFIGS) {
            use_config[atoi(argv[++i])] = some_config = true;
        } else {
            fprintf(stderr,
                    "usage: rnn [--torch] [--onednn] [--threads N] [--rounds R] "
                    "[--min-time SECONDS] [--config 0..%zu]... [--ref]\n",
                    N_CONFIGS - 1);
            return 2;
        }
    }
    for (size_t i = 0; i < N_CONFIGS; i++) {
        use_config[i] = use_config[i] || !some_config;
    }
    if (threads < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "rnn: threads must be >= 1, rounds 1..%d\n", MAX_ROUNDS);
        return 2;
    }
#ifdef _OPENMP
    omp_set_num_threads(threads); // for the GEMM comparison (the layer sets its own)
#endif
    printf("threads: %d; medians of %d round(s), ours, oneDNN's and PyTorch's alternating\n",
           threads, rounds);
    bench_gemm(min_time);

    static double ours[N_CONFIGS][N_KINDS][MAX_ROUNDS], theirs[N_CONFIGS][N_KINDS][MAX_ROUNDS];
    static double dnnl[N_CONFIGS][N_KINDS][MAX_ROUNDS];
    static char dnnl_impl[N_CONFIGS][128];
    for (int k = 0; k < rounds; k++) {
        for (size_t i = 0; i < N_CONFIGS; i++) {
            run u;
            if (!use_config[i]) {
                continue;
            }
            if (run_init(&u, &configs[i], threads, DFD_BACKEND_FAST)) {
                fprintf(stderr, "rnn: out of memory\n");
                return 1;
            }
            onednn_rnn g;
            bool has_dnnl =
                with_onednn && onednn_setup(&g, &configs[i], dnnl_impl[i], sizeof dnnl_impl[i]);
            for (int kind = 0; kind < N_KINDS; kind++) {
                timed f[2] = { { run_fn, &u, 0 }, { onednn_fn, &g, 0 } };
                time_interleaved(f, has_dnnl && kind <= TRAIN ? 2 : 1, kind, min_time);
                ours[i][kind][k] = f[0].ms;
                dnnl[i][kind][k] = f[1].ms;
            }
            run_free(&u);
            if (has_dnnl) {
                onednn_free(&g);
            }
        }
        cJSON *j = with_torch ? run_torch(threads, min_time) : NULL;
        if (with_torch && !j) {
            fprintf(stderr, "rnn: PyTorch run failed (is python3-torch installed?)\n");
            with_torch = false;
        }
        for (size_t i = 0; j && i < N_CONFIGS; i++) {
            for (int kind = 0; use_config[i] && kind < N_KINDS; kind++) {
                theirs[i][kind][k] = torch_ms(j, &configs[i], kind);
            }
        }
        cJSON_Delete(j);
    }

    printf("%-38s %-13s %9s", "layer", "step", "ours ms");
    if (with_torch) {
        printf(" %10s %8s", "torch ms", "ratio");
    }
    if (with_onednn) {
        printf(" %10s %8s", "oneDNN ms", "ratio");
    }
    printf("\n");
    static const char *const kind_names[N_KINDS] = { "forward", "train", "train, no dx" };
    for (size_t i = 0; i < N_CONFIGS; i++) {
        for (int kind = 0; use_config[i] && kind < N_KINDS; kind++) {
            double o = bench_median(ours[i][kind], rounds);
            printf("%-38s %-13s %9.2f", kind ? "" : configs[i].what, kind_names[kind], o);
            if (with_torch) {
                double t = bench_median(theirs[i][kind], rounds);
                printf(" %10.2f %7.2fx", t, t / o);
            }
            if (with_onednn && onednn_supports(&configs[i]) && kind <= TRAIN) {
                double t = bench_median(dnnl[i][kind], rounds);
                printf(" %10.2f %7.2fx", t, t / o);
            }
            printf("\n");
        }
    }
    if (with_onednn) {
        printf("\noneDNN train = forward_training + backward; implementations:\n");
    }
    for (size_t i = 0; with_onednn && i < N_CONFIGS; i++) {
        if (use_config[i] && onednn_supports(&configs[i])) {
            printf("oneDNN %s: %s\n", configs[i].what, dnnl_impl[i]);
        }
    }
    if (with_ref) {
        run u;
        if (run_init(&u, &configs[0], threads, DFD_BACKEND_REF)) {
            return 1;
        }
        double t0 = dfd_now();
        run_once(&u, TRAIN);
        printf("\nreference backend (double, per sequence, 1 run), %s: train %.0f ms\n",
               configs[0].what, (dfd_now() - t0) * 1e3);
        run_free(&u);
    }
    return 0;
}
