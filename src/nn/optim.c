// Optimisers (nn/optim.h): SGD with momentum, Adam and AdamW over dfd_param views, learning-rate
// schedules and gradient clipping. The update rules and their order of operations are
// PyTorch's single-tensor implementations (torch 1.13), in float, with bias corrections in
// double as Python computes them. State lives in one contiguous block per kind (first moments,
// second moments) with each parameter's part as a view, so saving is one array per parameter.
#include "dfdetect/nn/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/size.h"

#define PI 3.14159265358979323846

// Elements per task of a threaded update; parameters of fewer than 4 chunks use one thread.
#define CHUNK 16384

// Element loops run in blocks of 8 with a fixed inner count, which GCC vectorises at -O2 (its
// cheapest cost model refuses loops of unknown count), then a scalar tail.
#define BLOCK 8

struct dfd_optim {
    dfd_optim_opts opts;
    dfd_param **params; // n borrowed pointers
    size_t n;
    size_t *offset;  // element offset of parameter i in the state blocks
    float *m;        // Adam(W) first moments or the SGD momentum buffer; NULL for plain SGD
    float *v;        // Adam(W) second moments; NULL for SGD
    int64_t *steps;  // [0]: updates taken (the schedule's clock); [1 + i]: of parameter i
    char **names;    // state names, per dfd_optim_state_count order
    size_t n_states; // state arrays
};

// ---- schedules ----

double dfd_lr_factor(const dfd_lr_schedule *s, long step)
{
    if (step < s->warmup_steps) {
        return (double)(step + 1) / (double)s->warmup_steps;
    }
    const long t = step - s->warmup_steps;
    switch (s->kind) {
    case DFD_LR_STEP:
        return pow((double)s->gamma, (double)(t / s->step_size));
    case DFD_LR_COSINE: {
        const double f = t < s->decay_steps ? (double)t / (double)s->decay_steps : 1.0;
        const double mf = (double)s->min_factor;
        return mf + (1.0 - mf) * 0.5 * (1.0 + cos(PI * f));
    }
    case DFD_LR_CONSTANT:
    default:
        return 1.0;
    }
}

// ---- options ----

dfd_optim_opts dfd_optim_opts_default(dfd_optim_kind kind)
{
    dfd_optim_opts o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.lr = kind == DFD_OPTIM_SGD ? 1e-2f : 1e-3f;
    o.momentum = 0.9f;
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    o.eps = 1e-8f;
    o.weight_decay = kind == DFD_OPTIM_ADAMW ? 1e-2f : 0.0f;
    o.schedule.kind = DFD_LR_CONSTANT;
    o.schedule.step_size = 1;
    o.schedule.gamma = 1.0f;
    o.schedule.decay_steps = 1;
    for (int g = 0; g < DFD_OPTIM_MAX_GROUPS; g++) {
        o.group_lr_scale[g] = 1.0f;
        o.group_wd_scale[g] = 1.0f;
    }
    return o;
}

// v is a finite number in [lo, hi] (NaN fails).
static bool in_range(float v, float lo, float hi)
{
    return v >= lo && v <= hi;
}

dfd_status dfd_optim_opts_check(const dfd_optim_opts *o, dfd_error *err)
{
    const dfd_lr_schedule *s = &o->schedule;
    const char *bad = NULL;
    if ((unsigned)o->kind >= DFD_OPTIM_KIND_COUNT) {
        bad = "kind";
    } else if (!in_range(o->lr, 0.0f, INFINITY) || isinf(o->lr)) {
        bad = "lr";
    } else if (!in_range(o->momentum, 0.0f, 1.0f) || (o->nesterov && !(o->momentum > 0))) {
        bad = "momentum";
    } else if (!in_range(o->beta1, 0.0f, 1.0f) || !in_range(o->beta2, 0.0f, 1.0f) ||
               o->beta1 == 1.0f || o->beta2 == 1.0f) {
        bad = "betas";
    } else if (!(o->eps > 0) || isinf(o->eps)) {
        bad = "eps";
    } else if (!in_range(o->weight_decay, 0.0f, 1e30f)) {
        bad = "weight_decay";
    } else if (!in_range(o->clip_norm, 0.0f, 1e30f)) {
        bad = "clip_norm";
    } else if ((unsigned)s->kind >= DFD_LR_KIND_COUNT || s->warmup_steps < 0 ||
               (s->kind == DFD_LR_STEP && (s->step_size < 1 || !in_range(s->gamma, 0, 1e30f))) ||
               (s->kind == DFD_LR_COSINE &&
                (s->decay_steps < 1 || !in_range(s->min_factor, 0.0f, 1.0f)))) {
        bad = "schedule";
    }
    for (int g = 0; !bad && g < DFD_OPTIM_MAX_GROUPS; g++) {
        if (!in_range(o->group_lr_scale[g], 0.0f, 1e30f) ||
            !in_range(o->group_wd_scale[g], 0.0f, 1e30f)) {
            bad = "group scale";
        }
    }
    if (bad) {
        return dfd_error_set(err, DFD_ERR_INVALID, "optimiser: invalid %s", bad);
    }
    return DFD_OK;
}

static dfd_status check_param(const dfd_param *p, size_t i, dfd_error *err)
{
    if (!p || !p->name || !p->name[0]) {
        return dfd_error_set(err, DFD_ERR_INVALID, "optimiser: parameter %zu has no name", i);
    }
    bool ok = p->value && p->rank >= 1 && p->rank <= DFD_MAX_RANK;
    for (int d = 0; ok && d < p->rank; d++) {
        ok = p->shape[d] >= 1;
    }
    if (!ok) {
        return dfd_error_set(err, DFD_ERR_INVALID, "optimiser: parameter '%s' has no values",
                             p->name);
    }
    if (p->group < 0 || p->group >= DFD_OPTIM_MAX_GROUPS) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "optimiser: parameter '%s' is in group %d, outside 0..%d", p->name,
                             p->group, DFD_OPTIM_MAX_GROUPS - 1);
    }
    return DFD_OK;
}

// ---- creation ----

// Moment arrays per parameter: 2 for Adam(W), 1 for SGD with momentum, 0 for plain SGD.
static int n_moments(const dfd_optim *o)
{
    if (o->opts.kind == DFD_OPTIM_SGD) {
        return o->opts.momentum > 0 ? 1 : 0;
    }
    return 2;
}

static char *state_name(const char *param, const char *what)
{
    size_t len = strlen("optim/") + strlen(param) + 1 + strlen(what) + 1;
    char *s = dfd_malloc(len);
    if (s) {
        snprintf(s, len, "optim/%s/%s", param, what);
    }
    return s;
}

// Names in dfd_optim_state_at order.
static dfd_status make_names(dfd_optim *o)
{
    const int k = n_moments(o);
    static const char *const adam[] = { "m", "v" }, *const sgd[] = { "momentum" };
    const char *const *moment = o->opts.kind == DFD_OPTIM_SGD ? sgd : adam;
    o->n_states = 1 + o->n * (size_t)(k + 1);
    o->names = dfd_calloc(o->n_states, sizeof *o->names);
    if (!o->names) {
        return DFD_ERR_NOMEM;
    }
    o->names[0] = dfd_strdup("optim/step");
    if (!o->names[0]) {
        return DFD_ERR_NOMEM;
    }
    size_t at = 1;
    for (size_t i = 0; i < o->n; i++) {
        for (int j = 0; j <= k; j++, at++) {
            o->names[at] = state_name(o->params[i]->name, j < k ? moment[j] : "step");
            if (!o->names[at]) {
                return DFD_ERR_NOMEM;
            }
        }
    }
    return DFD_OK;
}

// Order of parameter pointers by name, to find duplicates.
static int cmp_name(const void *a, const void *b)
{
    const dfd_param *const *pa = a, *const *pb = b;
    return strcmp((*pa)->name, (*pb)->name);
}

static dfd_status check_unique(dfd_param *const *params, size_t n, dfd_error *err)
{
    dfd_param **sorted = dfd_malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "optimiser: out of memory");
    }
    if (n) { // never hand memcpy or qsort a null pointer, even for 0 bytes
        memcpy(sorted, params, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_name);
    }
    dfd_status st = DFD_OK;
    for (size_t i = 1; i < n && !st; i++) {
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            st = dfd_error_set(err, DFD_ERR_INVALID, "optimiser: two parameters named '%s'",
                               sorted[i]->name);
        }
    }
    dfd_free(sorted);
    return st;
}

dfd_status dfd_optim_create(dfd_optim **out, dfd_param *const *params, size_t n,
                            const dfd_optim_opts *opts, dfd_error *err)
{
    if (!out || !opts || (n && !params)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "optimiser: NULL argument");
    }
    *out = NULL;
    dfd_status st = dfd_optim_opts_check(opts, err);
    for (size_t i = 0; !st && i < n; i++) {
        st = check_param(params[i], i, err);
    }
    if (st || (st = check_unique(params, n, err))) {
        return st;
    }
    dfd_optim *o = dfd_calloc(1, sizeof *o);
    if (!o) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "optimiser: out of memory");
    }
    o->opts = *opts;
    o->n = n;
    o->params = dfd_malloc((n ? n : 1) * sizeof *o->params);
    o->offset = dfd_malloc((n + 1) * sizeof *o->offset);
    o->steps = dfd_calloc(n + 1, sizeof *o->steps);
    if (!o->params || !o->offset || !o->steps) {
        goto nomem;
    }
    if (n) {
        memcpy(o->params, params, n * sizeof *o->params);
    }
    o->offset[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (!dfd_size_add(&o->offset[i + 1], o->offset[i], dfd_param_numel(params[i]))) {
            goto nomem;
        }
    }
    size_t bytes;
    if (!dfd_size_mul(&bytes, o->offset[n], sizeof(float))) {
        goto nomem;
    }
    const int k = n_moments(o);
    if (k >= 1 && !(o->m = dfd_aligned_calloc(bytes))) {
        goto nomem;
    }
    if (k >= 2 && !(o->v = dfd_aligned_calloc(bytes))) {
        goto nomem;
    }
    if (make_names(o)) {
        goto nomem;
    }
    *out = o;
    return DFD_OK;
nomem:
    dfd_optim_destroy(o);
    return dfd_error_set(err, DFD_ERR_NOMEM, "optimiser: out of memory for %zu parameters", n);
}

void dfd_optim_destroy(dfd_optim *o)
{
    if (!o) {
        return;
    }
    for (size_t i = 0; o->names && i < o->n_states; i++) {
        dfd_free(o->names[i]);
    }
    dfd_free(o->names);
    dfd_aligned_free(o->m);
    dfd_aligned_free(o->v);
    dfd_free(o->steps);
    dfd_free(o->offset);
    dfd_free(o->params);
    dfd_free(o);
}

// ---- updates ----

static bool is_updated(const dfd_param *p)
{
    return !p->frozen && p->grad;
}

// Sum of squares in double, in eight interleaved partial sums added in a fixed order: a
// reduction the compiler can vectorise, and the same result on every run and thread count.
static double sum_squares(const float *g, size_t n)
{
    double acc[BLOCK] = { 0 };
    size_t j = 0;
    for (; j + BLOCK <= n; j += BLOCK) {
        for (int k = 0; k < BLOCK; k++) {
            acc[k] += (double)g[j + k] * (double)g[j + k];
        }
    }
    for (; j < n; j++) {
        acc[0] += (double)g[j] * (double)g[j];
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double dfd_params_grad_norm(dfd_param *const *params, size_t n)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (is_updated(params[i])) {
            ss += sum_squares(params[i]->grad, dfd_param_numel(params[i]));
        }
    }
    return sqrt(ss);
}

// Per-step constants of one parameter's update, in the precision torch uses for them. Options
// that torch applies conditionally enter as neutral factors here (l2 = 0, decay = 1), so the
// loops have no branches and vectorise; for finite weights the results are those of the
// conditional forms.
typedef struct update {
    float lr;        // scheduled, group-scaled learning rate
    float clip;      // gradient multiplier (1: no clipping)
    float l2;        // SGD, Adam: weight decay added to the gradient (0: none)
    float decay;     // AdamW: 1 - lr wd (1: none)
    float mom;       // SGD momentum
    bool nesterov;   // SGD
    float b1, b2;    // Adam betas
    float eps;       // Adam
    float step_size; // Adam: lr / (1 - beta1^t)
    float bc2_sqrt;  // Adam: sqrt(1 - beta2^t)
} update;

// SGD (torch.optim.SGD, dampening 0) on element j: d = g + l2 w; b = mom b + d (b starts at 0,
// so the first step gives b = d as torch's clone); w -= lr (nesterov ? d + mom b : b).
static inline void sgd_plain(float *restrict w, const float *restrict grad, size_t j,
                             const update *u)
{
    w[j] -= u->lr * (grad[j] * u->clip + u->l2 * w[j]);
}

static inline void sgd_momentum(float *restrict w, float *restrict b, const float *restrict grad,
                                size_t j, const update *u)
{
    const float d = grad[j] * u->clip + u->l2 * w[j];
    b[j] = u->mom * b[j] + d;
    w[j] -= u->lr * b[j];
}

static inline void sgd_nesterov(float *restrict w, float *restrict b, const float *restrict grad,
                                size_t j, const update *u)
{
    const float d = grad[j] * u->clip + u->l2 * w[j];
    b[j] = u->mom * b[j] + d;
    w[j] -= u->lr * (d + u->mom * b[j]);
}

// b is NULL without momentum. Not inlined: inlined into the threaded loop, the restrict
// qualifiers no longer reach the vectoriser (GCC 12) and the loops stay scalar.
static __attribute__((noinline)) void sgd_span(float *restrict w, float *restrict b,
                                               const float *restrict grad, size_t n,
                                               const update *u)
{
    const update k = *u; // a local copy: stores to w cannot change it
    size_t j = 0;
    if (!b) {
        for (; j + BLOCK <= n; j += BLOCK) {
            for (size_t e = j; e < j + BLOCK; e++) {
                sgd_plain(w, grad, e, &k);
            }
        }
        for (; j < n; j++) {
            sgd_plain(w, grad, j, &k);
        }
    } else if (!k.nesterov) {
        for (; j + BLOCK <= n; j += BLOCK) {
            for (size_t e = j; e < j + BLOCK; e++) {
                sgd_momentum(w, b, grad, e, &k);
            }
        }
        for (; j < n; j++) {
            sgd_momentum(w, b, grad, j, &k);
        }
    } else {
        for (; j + BLOCK <= n; j += BLOCK) {
            for (size_t e = j; e < j + BLOCK; e++) {
                sgd_nesterov(w, b, grad, e, &k);
            }
        }
        for (; j < n; j++) {
            sgd_nesterov(w, b, grad, j, &k);
        }
    }
}

// Adam / AdamW (torch.optim.Adam, AdamW, amsgrad off) on element j: AdamW shrinks w by `decay`,
// Adam adds l2 w to the gradient; then m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
// w -= step_size m / (sqrt(v) / sqrt(1 - b2^t) + eps).
static inline void adam_elem(float *restrict w, float *restrict m, float *restrict v,
                             const float *restrict grad, size_t j, const update *u)
{
    const float g = grad[j] * u->clip + u->l2 * w[j];
    m[j] = u->b1 * m[j] + (1.0f - u->b1) * g;
    v[j] = u->b2 * v[j] + (1.0f - u->b2) * g * g;
    w[j] = w[j] * u->decay - u->step_size * (m[j] / (sqrtf(v[j]) / u->bc2_sqrt + u->eps));
}

static __attribute__((noinline)) void adam_span(float *restrict w, float *restrict m,
                                                float *restrict v, const float *restrict grad,
                                                size_t n, const update *u)
{
    const update k = *u;
    size_t j = 0;
    for (; j + BLOCK <= n; j += BLOCK) {
        for (size_t e = j; e < j + BLOCK; e++) {
            adam_elem(w, m, v, grad, e, &k);
        }
    }
    for (; j < n; j++) {
        adam_elem(w, m, v, grad, j, &k);
    }
}

// Run the update of one parameter in chunks, over threads when it is large. Every element's
// arithmetic is the same whichever thread does it.
static void update_param(float *w, float *m, float *v, const float *grad, size_t n, const update *u,
                         bool adam)
{
    const size_t n_chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n_chunks >= 4)
    for (size_t c = 0; c < n_chunks; c++) {
        const size_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
        if (adam) {
            adam_span(w + lo, m + lo, v + lo, grad + lo, len, u);
        } else {
            sgd_span(w + lo, m ? m + lo : NULL, grad + lo, len, u);
        }
    }
}

void dfd_optim_step(dfd_optim *o, float *grad_norm)
{
    DFD_ASSERT(o);
    const dfd_optim_opts *opt = &o->opts;
    float clip = 1.0f;
    if (opt->clip_norm > 0 || grad_norm) {
        const double norm = dfd_params_grad_norm(o->params, o->n);
        if (grad_norm) {
            *grad_norm = (float)norm;
        }
        if (opt->clip_norm > 0) {
            if (!isfinite(norm)) {
                return;
            }
            // torch.nn.utils.clip_grad_norm_: coefficient max / (norm + 1e-6), clamped to 1
            const double coef = (double)opt->clip_norm / (norm + 1e-6);
            clip = coef < 1.0 ? (float)coef : 1.0f;
        }
    }
    const double base_lr = (double)opt->lr * dfd_lr_factor(&opt->schedule, (long)o->steps[0]);
    for (size_t i = 0; i < o->n; i++) {
        dfd_param *p = o->params[i];
        if (!is_updated(p)) {
            continue;
        }
        const int64_t t = ++o->steps[1 + i];
        const double lr = base_lr * (double)opt->group_lr_scale[p->group];
        const double wd = (double)opt->weight_decay * (double)opt->group_wd_scale[p->group];
        const bool adam = opt->kind != DFD_OPTIM_SGD, decoupled = opt->kind == DFD_OPTIM_ADAMW;
        update u = { .lr = (float)lr,
                     .clip = clip,
                     .l2 = decoupled ? 0.0f : (float)wd,
                     .decay = decoupled ? (float)(1.0 - lr * wd) : 1.0f,
                     .mom = opt->momentum,
                     .nesterov = opt->nesterov,
                     .b1 = opt->beta1,
                     .b2 = opt->beta2,
                     .eps = opt->eps };
        if (adam) {
            // Bias corrections as Python floats (double), then used as float scalars.
            u.step_size = (float)(lr / (1.0 - pow((double)opt->beta1, (double)t)));
            u.bc2_sqrt = (float)sqrt(1.0 - pow((double)opt->beta2, (double)t));
        }
        const size_t at = o->offset[i];
        update_param(p->value, o->m ? o->m + at : NULL, o->v ? o->v + at : NULL, p->grad,
                     dfd_param_numel(p), &u, adam);
    }
    o->steps[0]++;
}

long dfd_optim_step_count(const dfd_optim *o)
{
    return (long)o->steps[0];
}

const dfd_optim_opts *dfd_optim_options(const dfd_optim *o)
{
    return &o->opts;
}

float dfd_optim_lr(const dfd_optim *o)
{
    const dfd_optim_opts *opt = &o->opts;
    return (float)((double)opt->lr * dfd_lr_factor(&opt->schedule, (long)o->steps[0]) *
                   (double)opt->group_lr_scale[0]);
}

// ---- state ----

size_t dfd_optim_state_count(const dfd_optim *o)
{
    return o->n_states;
}

dfd_optim_state dfd_optim_state_at(const dfd_optim *o, size_t i)
{
    DFD_ASSERT(i < o->n_states);
    dfd_optim_state s;
    memset(&s, 0, sizeof s);
    s.name = o->names[i];
    s.is_int64 = true;
    s.data = &o->steps[0];
    if (i == 0) {
        return s;
    }
    const size_t k = (size_t)n_moments(o), pi = (i - 1) / (k + 1), r = (i - 1) % (k + 1);
    if (r == k) {
        s.data = &o->steps[1 + pi];
        return s;
    }
    const dfd_param *p = o->params[pi];
    s.is_int64 = false;
    s.data = (r == 0 ? o->m : o->v) + o->offset[pi];
    s.rank = p->rank;
    memcpy(s.shape, p->shape, sizeof s.shape);
    return s;
}
