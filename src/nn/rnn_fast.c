// Recurrent layers, the fast path: the input projection of all steps at once (one GEMM
// [N*T, I] x [I, G*H] per layer and direction), then per step a hidden GEMM over the sequences
// still running and the cell's element-wise part; backward mirrors it, and the weight gradients
// are again one GEMM each over all steps. GEMMs are oneDNN's dnnl_sgemm (row-major, JIT
// AVX-512/AVX2). oneDNN's own RNN primitives are not used (measured: bench/rnn --onednn): 2.6
// has only its reference implementation for them on this CPU, which trains no faster than this
// file; they know nothing of per-sequence lengths (padded steps would cost full price and move
// the state), and they want their own weight layouts, reordered after every optimiser step.
//
// Sequences are sorted by length (longest first), as PyTorch's packed sequences are, so the ones
// still running at step t are the rows [0, n_active[t]) of the state: the step GEMMs shrink with
// the batch and padded steps cost nothing.
#include <dnnl.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/size.h"
#include "rnn_impl.h"

// Below this many state elements per step the cell runs on one thread (a fork costs more).
#define CELL_PARALLEL_MIN 8192

// The cells' row functions are plain C that the compiler vectorises. On x86-64 each is also
// built for AVX-512 (function multi-versioning: the loader picks the clone the CPU supports once,
// through an ifunc), which took the element-wise share of a GRU step from about 15 % to 5 %.
// Results are the same either way: no reductions, and ISO C mode does not contract into FMAs.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(DFD_NO_TARGET_CLONES)
#    define CELL_CLONES __attribute__((target_clones("avx512f", "default")))
#else
#    define CELL_CLONES
#endif

// ---- buffers ----

static bool reserve(rnn_buf *b, size_t a, size_t c, size_t d)
{
    size_t n, bytes;
    if (!dfd_size_mul3(&n, a, c, d) || !dfd_size_mul(&bytes, n, sizeof(float))) {
        return false;
    }
    if (n <= b->cap && b->p) {
        return true;
    }
    float *p = dfd_aligned_alloc(bytes);
    if (!p) {
        return false;
    }
    dfd_aligned_free(b->p);
    b->p = p;
    b->cap = n;
    return true;
}

static bool reserve_ints(int **p, size_t *cap, size_t n)
{
    if (n <= *cap && *p) {
        return true;
    }
    int *q = dfd_calloc(n, sizeof *q);
    if (!q) {
        return false;
    }
    dfd_free(*p);
    *p = q;
    *cap = n;
    return true;
}

void rnn_fast_ws_free(rnn_fast_ws *ws)
{
    rnn_buf *bufs[] = { &ws->gates, &ws->hprev, &ws->io,   &ws->gx,   &ws->gh, &ws->h,  &ws->c,
                        &ws->dgx,   &ws->dgh,   &ws->dy_a, &ws->dy_b, &ws->dh, &ws->dc, &ws->acc };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        dfd_aligned_free(bufs[i]->p);
    }
    dfd_free(ws->perm);
    dfd_free(ws->n_active);
    memset(ws, 0, sizeof *ws);
}

// ---- helpers ----

// C[M, N] = op(A) op(B) + beta C, row-major; op(X) = X, or X transposed when its flag is 'T'.
static void gemm(char ta, char tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                 const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    if (M == 0 || N == 0) {
        return;
    }
    dnnl_status_t s = dnnl_sgemm(ta, tb, (dnnl_dim_t)M, (dnnl_dim_t)N, (dnnl_dim_t)K, 1.0f, A,
                                 (dnnl_dim_t)lda, B, (dnnl_dim_t)ldb, beta, C, (dnnl_dim_t)ldc);
    DFD_ASSERT(s == dnnl_success);
}

// dst[j] += sum over rows of src[row][j], rows in order (deterministic).
static void add_colsum(float *dst, float *acc, const float *src, size_t rows, size_t cols)
{
    memset(acc, 0, cols * sizeof *acc);
    for (size_t i = 0; i < rows; i++) {
        const float *s = src + i * cols;
        for (size_t j = 0; j < cols; j++) {
            acc[j] += s[j];
        }
    }
    for (size_t j = 0; j < cols; j++) {
        dst[j] += acc[j];
    }
}

// Sequences by length, longest first, ties in index order (a stable counting sort), and how
// many are still running at each step.
static void sort_by_length(int *perm, int *n_active, const int *lengths, int N, int T)
{
    int i = 0;
    for (int len = T; len >= 0; len--) {
        for (int n = 0; n < N; n++) {
            if ((lengths ? lengths[n] : T) == len) {
                perm[i++] = n;
            }
        }
    }
    for (int t = 0; t < T; t++) {
        int k = 0;
        while (k < N && (lengths ? lengths[perm[k]] : T) > t) {
            k++;
        }
        n_active[t] = k;
    }
}

// State rows in sorted order from [N, H] rows in sequence order (src NULL: zeros).
static void gather_rows(float *dst, const float *src, const int *perm, int N, int H)
{
    for (int i = 0; i < N; i++) {
        if (src) {
            memcpy(dst + (size_t)i * H, src + (size_t)perm[i] * H, (size_t)H * sizeof *dst);
        } else {
            memset(dst + (size_t)i * H, 0, (size_t)H * sizeof *dst);
        }
    }
}

// dst (sequence order) = or += src (sorted rows).
static void scatter_rows(float *dst, const float *src, const int *perm, int N, int H, bool add)
{
    for (int i = 0; i < N; i++) {
        float *d = dst + (size_t)perm[i] * H;
        const float *s = src + (size_t)i * H;
        for (int j = 0; j < H; j++) {
            d[j] = add ? d[j] + s[j] : s[j];
        }
    }
}

// ---- the cells, one step, rows [0, n) ----

// One step's data for rows of the sorted state.
typedef struct step {
    int n, t, N, T, H, DH, d; // running rows, step, sizes; d: direction (output column block)
    const int *perm;
    const float *b_ih, *b_hh; // [G*H]
    float *gates;             // [N][S] this step's cache
    float *hprev;             // [N][H]
    float *h, *c;             // state [N][H]
    const float *gx;          // [N*T][G*H] input projections (no bias), sequence order
    const float *gh;          // [N][G*H] hidden projections (no bias), sorted rows
    float *y;                 // [N*T][D*H]
} step;

// v[0, n) = sigmoid or tanh of itself (vectorised: see rnn_impl.h).
static inline void sigmoid_rows(float *v, int n)
{
#pragma omp simd
    for (int j = 0; j < n; j++) {
        v[j] = rnn_sigmoidf(v[j]);
    }
}

static inline void tanh_rows(float *v, int n)
{
#pragma omp simd
    for (int j = 0; j < n; j++) {
        v[j] = rnn_tanhf(v[j]);
    }
}

// Gate pre-activations of one row: (W_i x + b_i) + (W_h h + b_h), for the first n gate values.
static inline void preact(float *a, const float *gx, const float *b_ih, const float *gh,
                          const float *b_hh, int n)
{
#pragma omp simd
    for (int j = 0; j < n; j++) {
        a[j] = (gx[j] + b_ih[j]) + (gh[j] + b_hh[j]);
    }
}

// Row i (a sequence, in sorted order) of one GRU step: gates, new state, output, cache.
CELL_CLONES static void gru_row(const step *s, int i)
{
    const int H = s->H, GH = 3 * H;
    size_t row = (size_t)s->perm[i] * s->T + (size_t)s->t;
    const float *gx = s->gx + row * GH, *gh = s->gh + (size_t)i * GH;
    float *h = s->h + (size_t)i * H, *hp = s->hprev + (size_t)i * H;
    float *y = s->y + row * s->DH + (size_t)s->d * H;
    // cache row: r z n hn
    float *g = s->gates + (size_t)i * 4 * H, *r = g, *z = g + H, *n = g + 2 * H;
    float *hn = g + 3 * H;
    preact(r, gx, s->b_ih, gh, s->b_hh, 2 * H);
    sigmoid_rows(r, 2 * H);
#pragma omp simd
    for (int j = 0; j < H; j++) {
        hn[j] = gh[2 * H + j] + s->b_hh[2 * H + j];
        n[j] = (gx[2 * H + j] + s->b_ih[2 * H + j]) + r[j] * hn[j];
    }
    tanh_rows(n, H);
#pragma omp simd
    for (int j = 0; j < H; j++) {
        hp[j] = h[j];
        h[j] = n[j] + z[j] * (h[j] - n[j]);
        y[j] = h[j];
    }
}

// Row i of one LSTM step.
CELL_CLONES static void lstm_row(const step *s, int i)
{
    const int H = s->H, GH = 4 * H;
    size_t row = (size_t)s->perm[i] * s->T + (size_t)s->t;
    const float *gx = s->gx + row * GH, *gh = s->gh + (size_t)i * GH;
    float *h = s->h + (size_t)i * H, *c = s->c + (size_t)i * H;
    float *hp = s->hprev + (size_t)i * H, *y = s->y + row * s->DH + (size_t)s->d * H;
    // cache row: i f g o c_prev tanh(c)
    float *g = s->gates + (size_t)i * 6 * H, *ig = g, *fg = g + H, *gg = g + 2 * H;
    float *og = g + 3 * H, *cp = g + 4 * H, *tc = g + 5 * H;
    preact(g, gx, s->b_ih, gh, s->b_hh, 4 * H);
    sigmoid_rows(ig, 2 * H);
    tanh_rows(gg, H);
    sigmoid_rows(og, H);
#pragma omp simd
    for (int j = 0; j < H; j++) {
        cp[j] = c[j];
        c[j] = fg[j] * c[j] + ig[j] * gg[j];
        tc[j] = c[j];
    }
    tanh_rows(tc, H);
#pragma omp simd
    for (int j = 0; j < H; j++) {
        hp[j] = h[j];
        h[j] = og[j] * tc[j];
        y[j] = h[j];
    }
}

// One step of the cells for rows [0, s->n).
static void step_forward(const step *s, bool lstm)
{
#pragma omp parallel for schedule(static) if (s->n * s->H >= CELL_PARALLEL_MIN)
    for (int i = 0; i < s->n; i++) {
        if (lstm) {
            lstm_row(s, i);
        } else {
            gru_row(s, i);
        }
    }
}

// ---- forward ----

dfd_status rnn_fast_forward(dfd_rnn *r, float *y, float *h_n, float *c_n)
{
    rnn_fast_ws *ws = &r->ws;
    const int N = r->N, T = r->T, H = r->o.hidden_size, D = r->D, L = r->o.n_layers;
    const bool lstm = r->o.cell == DFD_RNN_LSTM;
    const size_t NT = (size_t)N * (size_t)T, GH = (size_t)r->G * (size_t)H, DH = (size_t)D * H;
    const size_t S = (size_t)(lstm ? 6 : 4) * (size_t)H, LD = (size_t)L * (size_t)D;
    if (!reserve_ints(&ws->perm, &ws->cap_perm, (size_t)N) ||
        !reserve_ints(&ws->n_active, &ws->cap_active, (size_t)T) ||
        !reserve(&ws->gates, LD, NT, S) || !reserve(&ws->hprev, LD, NT, (size_t)H) ||
        !reserve(&ws->io, (size_t)(L - 1) + 1, NT, DH) || !reserve(&ws->gx, 1, NT, GH) ||
        !reserve(&ws->gh, 1, (size_t)N, GH) || !reserve(&ws->h, 1, (size_t)N, (size_t)H) ||
        !reserve(&ws->c, 1, (size_t)N, (size_t)H)) {
        return DFD_ERR_NOMEM;
    }
    sort_by_length(ws->perm, ws->n_active, r->lengths, N, T);
    for (int l = 0; l < L; l++) {
        const int I = rnn_layer_in(r, l);
        const float *X = l == 0 ? r->x : ws->io.p + (size_t)(l - 1) * NT * DH;
        float *out = l == L - 1 ? y : ws->io.p + (size_t)l * NT * DH;
        for (int d = 0; d < D; d++) {
            size_t idx = (size_t)l * D + (size_t)d;
            const float *w_ih = rnn_param(r, l, d, 0)->value, *w_hh = rnn_param(r, l, d, 1)->value;
            gemm('N', 'T', NT, GH, (size_t)I, X, (size_t)I, w_ih, (size_t)I, 0.0f, ws->gx.p, GH);
            gather_rows(ws->h.p, r->h0 ? r->h0 + idx * N * H : NULL, ws->perm, N, H);
            gather_rows(ws->c.p, r->c0 ? r->c0 + idx * N * H : NULL, ws->perm, N, H);
            step s = { .N = N,
                       .T = T,
                       .H = H,
                       .DH = (int)DH,
                       .d = d,
                       .perm = ws->perm,
                       .b_ih = rnn_param(r, l, d, 2)->value,
                       .b_hh = rnn_param(r, l, d, 3)->value,
                       .h = ws->h.p,
                       .c = ws->c.p,
                       .gx = ws->gx.p,
                       .gh = ws->gh.p,
                       .y = out };
            for (int k = 0; k < T; k++) {
                s.t = d ? T - 1 - k : k;
                s.n = ws->n_active[s.t];
                s.gates = ws->gates.p + (idx * T + (size_t)s.t) * N * S;
                s.hprev = ws->hprev.p + (idx * T + (size_t)s.t) * N * H;
                gemm('N', 'T', (size_t)s.n, GH, (size_t)H, ws->h.p, (size_t)H, w_hh, (size_t)H,
                     0.0f, ws->gh.p, GH);
                step_forward(&s, lstm);
                // Finished sequences: zero output, and finite rows for the weight-gradient GEMM.
                for (int i = s.n; i < N; i++) {
                    memset(s.hprev + (size_t)i * H, 0, (size_t)H * sizeof(float));
                    memset(out + ((size_t)ws->perm[i] * T + (size_t)s.t) * DH + (size_t)d * H, 0,
                           (size_t)H * sizeof(float));
                }
            }
            if (h_n) {
                scatter_rows(h_n + idx * N * H, ws->h.p, ws->perm, N, H, false);
            }
            if (c_n) {
                scatter_rows(c_n + idx * N * H, ws->c.p, ws->perm, N, H, false);
            }
        }
        if (r->dropout_on && l < L - 1) {
            for (size_t e = 0; e < NT * DH; e++) {
                out[e] *= rnn_dropout_scale(r->dropout_seed, l, e, r->o.dropout);
            }
        }
    }
    return DFD_OK;
}

// ---- backward ----

typedef struct bstep {
    int n, t, N, T, H, DH, d;
    const int *perm;
    const float *gates, *hprev; // this step's cache
    const float *dy;            // [N*T][D*H] or NULL
    float *dgx;                 // [N*T][G*H] sequence order
    float *dgh;                 // [N][G*H] this step, sorted rows
    float *dh, *dc;             // running state gradients [N][H]
} bstep;

// Row i of one GRU step back: gate gradients (input and hidden side) and the direct part of the
// state's gradient.
CELL_CLONES static void gru_row_back(const bstep *s, int i)
{
    const int H = s->H, GH = 3 * H;
    size_t row = (size_t)s->perm[i] * s->T + (size_t)s->t;
    const float *g = s->gates + (size_t)i * 4 * H, *hp = s->hprev + (size_t)i * H;
    const float *dy = s->dy ? s->dy + row * s->DH + (size_t)s->d * H : NULL;
    float *dgx = s->dgx + row * GH, *dgh = s->dgh + (size_t)i * GH, *dh = s->dh + (size_t)i * H;
    for (int j = 0; j < H; j++) {
        float r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];
        float dhv = dh[j] + (dy ? dy[j] : 0.0f);
        float dan = dhv * (1.0f - z) * (1.0f - n * n);
        float dar = dan * hn * r * (1.0f - r);
        float daz = dhv * (hp[j] - n) * z * (1.0f - z);
        dgx[j] = dgh[j] = dar;
        dgx[H + j] = dgh[H + j] = daz;
        dgx[2 * H + j] = dan;
        dgh[2 * H + j] = dan * r;
        dh[j] = dhv * z; // the direct path h -> h'; the GEMM adds the gates' paths
    }
}

// Row i of one LSTM step back.
CELL_CLONES static void lstm_row_back(const bstep *s, int i)
{
    const int H = s->H, GH = 4 * H;
    size_t row = (size_t)s->perm[i] * s->T + (size_t)s->t;
    const float *g = s->gates + (size_t)i * 6 * H;
    const float *dy = s->dy ? s->dy + row * s->DH + (size_t)s->d * H : NULL;
    float *dgx = s->dgx + row * GH, *dgh = s->dgh + (size_t)i * GH;
    float *dh = s->dh + (size_t)i * H, *dc = s->dc + (size_t)i * H;
    for (int j = 0; j < H; j++) {
        float ig = g[j], fg = g[H + j], gg = g[2 * H + j], og = g[3 * H + j];
        float cp = g[4 * H + j], tc = g[5 * H + j];
        float dhv = dh[j] + (dy ? dy[j] : 0.0f);
        float dcv = dc[j] + dhv * og * (1.0f - tc * tc);
        float da[4] = { dcv * gg * ig * (1.0f - ig), dcv * cp * fg * (1.0f - fg),
                        dcv * ig * (1.0f - gg * gg), dhv * tc * og * (1.0f - og) };
        for (int k = 0; k < 4; k++) {
            dgx[k * H + j] = dgh[k * H + j] = da[k];
        }
        dc[j] = dcv * fg;
        dh[j] = 0.0f; // h reaches h' only through the gates: the GEMM adds that
    }
}

// One step back through the cells of rows [0, s->n).
static void step_back(const bstep *s, bool lstm)
{
#pragma omp parallel for schedule(static) if (s->n * s->H >= CELL_PARALLEL_MIN)
    for (int i = 0; i < s->n; i++) {
        if (lstm) {
            lstm_row_back(s, i);
        } else {
            gru_row_back(s, i);
        }
    }
}

// Parameter gradients of one layer and direction from its gate gradients (all steps at once).
static void param_grads(dfd_rnn *r, int l, int d, const float *X, const float *hprev)
{
    rnn_fast_ws *ws = &r->ws;
    const size_t NT = (size_t)r->N * (size_t)r->T, H = (size_t)r->o.hidden_size;
    const size_t GH = (size_t)r->G * H, I = (size_t)rnn_layer_in(r, l);
    dfd_param *p[4] = { rnn_param(r, l, d, 0), rnn_param(r, l, d, 1), rnn_param(r, l, d, 2),
                        rnn_param(r, l, d, 3) };
    if (!p[0]->frozen) {
        gemm('T', 'N', GH, I, NT, ws->dgx.p, GH, X, I, 1.0f, p[0]->grad, I);
    }
    if (!p[1]->frozen) {
        gemm('T', 'N', GH, H, NT, ws->dgh.p, GH, hprev, H, 1.0f, p[1]->grad, H);
    }
    if (!p[2]->frozen) {
        add_colsum(p[2]->grad, ws->acc.p, ws->dgx.p, NT, GH);
    }
    if (!p[3]->frozen) {
        add_colsum(p[3]->grad, ws->acc.p, ws->dgh.p, NT, GH);
    }
}

dfd_status rnn_fast_backward(dfd_rnn *r, float *dx, float *dh0, float *dc0, const float *dy,
                             const float *dh_n, const float *dc_n)
{
    rnn_fast_ws *ws = &r->ws;
    const int N = r->N, T = r->T, H = r->o.hidden_size, D = r->D, L = r->o.n_layers;
    const bool lstm = r->o.cell == DFD_RNN_LSTM;
    const size_t NT = (size_t)N * (size_t)T, GH = (size_t)r->G * (size_t)H, DH = (size_t)D * H;
    const size_t S = (size_t)(lstm ? 6 : 4) * (size_t)H;
    if (!reserve(&ws->dgx, 1, NT, GH) || !reserve(&ws->dgh, 1, NT, GH) ||
        !reserve(&ws->dy_a, 1, L > 1 ? NT : 1, DH) || !reserve(&ws->dy_b, 1, L > 2 ? NT : 1, DH) ||
        !reserve(&ws->dh, 1, (size_t)N, (size_t)H) || !reserve(&ws->dc, 1, (size_t)N, (size_t)H) ||
        !reserve(&ws->acc, 1, 1, GH)) {
        return DFD_ERR_NOMEM;
    }
    const float *dY = dy; // gradient of this layer's output, or NULL
    for (int l = L - 1; l >= 0; l--) {
        const int I = rnn_layer_in(r, l);
        const float *X = l == 0 ? r->x : ws->io.p + (size_t)(l - 1) * NT * DH;
        // The gradient of this layer's input: the caller's dx, or the layer below's output.
        float *dX = l == 0 ? dx : ((L - 1 - l) % 2 == 0 ? ws->dy_a.p : ws->dy_b.p);
        if (l > 0) {
            memset(dX, 0, NT * DH * sizeof(float));
        }
        for (int d = 0; d < D; d++) {
            size_t idx = (size_t)l * D + (size_t)d;
            const float *w_ih = rnn_param(r, l, d, 0)->value, *w_hh = rnn_param(r, l, d, 1)->value;
            const float *hprev = ws->hprev.p + idx * NT * H;
            memset(ws->dgx.p, 0, NT * GH * sizeof(float));
            memset(ws->dgh.p, 0, NT * GH * sizeof(float));
            gather_rows(ws->dh.p, dh_n ? dh_n + idx * N * H : NULL, ws->perm, N, H);
            gather_rows(ws->dc.p, dc_n ? dc_n + idx * N * H : NULL, ws->perm, N, H);
            bstep s = { .N = N,
                        .T = T,
                        .H = H,
                        .DH = (int)DH,
                        .d = d,
                        .perm = ws->perm,
                        .dy = dY,
                        .dgx = ws->dgx.p,
                        .dh = ws->dh.p,
                        .dc = ws->dc.p };
            for (int k = 0; k < T; k++) {
                s.t = d ? k : T - 1 - k; // the forward's steps in reverse
                s.n = ws->n_active[s.t];
                s.gates = ws->gates.p + (idx * T + (size_t)s.t) * N * S;
                s.hprev = hprev + (size_t)s.t * N * H;
                s.dgh = ws->dgh.p + (size_t)s.t * N * GH;
                step_back(&s, lstm);
                gemm('N', 'N', (size_t)s.n, (size_t)H, GH, s.dgh, GH, w_hh, (size_t)H, 1.0f,
                     ws->dh.p, (size_t)H);
            }
            if (dh0) {
                scatter_rows(dh0 + idx * N * H, ws->dh.p, ws->perm, N, H, true);
            }
            if (dc0) {
                scatter_rows(dc0 + idx * N * H, ws->dc.p, ws->perm, N, H, true);
            }
            param_grads(r, l, d, X, hprev);
            if (dX) {
                gemm('N', 'N', NT, (size_t)I, GH, ws->dgx.p, GH, w_ih, (size_t)I, 1.0f, dX,
                     (size_t)I);
            }
        }
        if (l > 0 && r->dropout_on) {
            for (size_t e = 0; e < NT * DH; e++) {
                dX[e] *= rnn_dropout_scale(r->dropout_seed, l - 1, e, r->o.dropout);
            }
        }
        dY = dX;
    }
    return DFD_OK;
}
