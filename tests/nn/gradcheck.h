// Helpers for autograd tests: graphs built in code (one call per node) and a gradient check of
// every parameter and input of a graph against central finite differences.
//
// The loss is L = sum over outputs and elements of r * y, with r fixed random weights (so every
// output element matters with its own weight), summed in double. The forward runs in float, so
// the differences have noise of about 1e-7 * sum|r y| / eps; tests keep graphs small and eps
// around 1e-2 so that it stays well under the 1% tolerance, and the checker is shown to reject
// a gradient off by a few percent (test_autograd.c).
#ifndef DFD_TESTS_NN_GRADCHECK_H
#define DFD_TESTS_NN_GRADCHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "dfdetect/nn/autograd.h"
#include "nn_test_util.h"

// ---- building graphs ----

typedef struct gb {
    dfd_graph *g;
    int n; // values made so far (for names)
    dfd_status st;
} gb;

static inline void gb_begin(gb *b)
{
    memset(b, 0, sizeof *b);
    b->st = dfd_graph_create(&b->g);
}

// A graph input of shape [N, dims...] (rank counts N).
static inline int gb_input(gb *b, int rank, const int *dims)
{
    int shape[DFD_MAX_RANK] = { DFD_BATCH, 1, 1, 1 }, id = -1;
    char name[32];
    for (int i = 1; i < rank; i++) {
        shape[i] = dims[i - 1];
    }
    snprintf(name, sizeof name, "in%d", b->n++);
    if (!b->st) {
        b->st = dfd_graph_add_value(b->g, name, rank, shape, &id);
    }
    if (!b->st) {
        b->st = dfd_graph_add_input(b->g, id);
    }
    return id;
}

// A constant (filled by the caller through the returned pointer, valid until the next add).
static inline int gb_const(gb *b, int rank, const int *shape, float **data)
{
    dfd_tensor t;
    int id = -1;
    char name[32];
    snprintf(name, sizeof name, "c%d", b->n++);
    if (!b->st) {
        b->st = dfd_tensor_alloc(&t, rank, shape);
    }
    if (!b->st) {
        b->st = dfd_graph_add_const(b->g, name, &t, &id);
    }
    *data = b->st ? NULL : (float *)dfd_graph_value(b->g, id)->constant.data;
    return id;
}

// A node named "n<k>" computing value "v<k>"; returns the node (valid until the next add) and
// its output id in *out.
static inline dfd_node *gb_node(gb *b, dfd_op op, const int *in, int n_in, int *out)
{
    char name[32], vname[32];
    int k = b->n++;
    dfd_node *n = NULL;
    snprintf(name, sizeof name, "n%d", k);
    snprintf(vname, sizeof vname, "v%d", k);
    *out = -1;
    if (!b->st) {
        b->st = dfd_graph_add_value(b->g, vname, 0, NULL, out);
    }
    if (!b->st) {
        b->st = dfd_graph_add_node(b->g, op, name, in, n_in, *out, &n);
    }
    return b->st ? NULL : n;
}

// A random parameter tensor of the given shape, scaled.
static inline void gb_param(gb *b, dfd_tensor *t, int rank, const int *shape, float scale)
{
    if (!b->st) {
        b->st = dfd_tensor_alloc(t, rank, shape);
    }
    if (!b->st) {
        test_fill(t, scale);
    }
}

// ---- the usual layers: each adds one node reading x and returns its output value ----

// Convolution k x k, stride s, SAME padding, ic -> oc channels in `groups`, then `act`; weights
// uniform in +-w_scale, a bias in +-b_scale (none when b_scale < 0).
static inline int gb_conv(gb *b, int x, int k, int s, int ic, int oc, int groups, dfd_act_kind act,
                          float w_scale, float b_scale)
{
    int y;
    dfd_node *n = gb_node(b, DFD_OP_CONV2D, &x, 1, &y);
    if (n) {
        n->a.conv.win = (dfd_window){ k, k, s, s, 1, 1, DFD_PAD_SAME, { 0, 0, 0, 0 } };
        n->a.conv.groups = groups;
        n->act.kind = act;
        int ws[4] = { k, k, ic / groups, oc };
        gb_param(b, &n->weight, 4, ws, w_scale);
        if (b_scale >= 0) {
            gb_param(b, &n->bias, 1, &oc, b_scale);
        }
    }
    return y;
}

// x [N, k] times a weight [k, oc] (uniform in +-w_scale), + bias (as gb_conv), then `act`.
static inline int gb_matmul(gb *b, int x, int k, int oc, dfd_act_kind act, float w_scale,
                            float b_scale)
{
    int y;
    dfd_node *n = gb_node(b, DFD_OP_MATMUL, &x, 1, &y);
    if (n) {
        n->act.kind = act;
        int ws[2] = { k, oc };
        gb_param(b, &n->weight, 2, ws, w_scale);
        if (b_scale >= 0) {
            gb_param(b, &n->bias, 1, &oc, b_scale);
        }
    }
    return y;
}

// x [N, ...] as [N, features].
static inline int gb_flatten(gb *b, int x, int features)
{
    int y;
    dfd_node *n = gb_node(b, DFD_OP_RESHAPE, &x, 1, &y);
    if (n) {
        n->a.reshape.rank = 2;
        n->a.reshape.shape[0] = DFD_BATCH;
        n->a.reshape.shape[1] = features;
    }
    return y;
}

// Batch norm over c channels: gamma 1 +- 0.3, beta +- 0.3, running mean 0 and variance 1.
static inline int gb_batchnorm(gb *b, int x, int c, float momentum)
{
    int y;
    dfd_node *n = gb_node(b, DFD_OP_BATCHNORM, &x, 1, &y);
    if (n) {
        n->a.bn.eps = 1e-3f;
        n->a.bn.momentum = momentum;
        gb_param(b, &n->weight, 1, &c, 0.3f);
        gb_param(b, &n->bias, 1, &c, 0.3f);
        gb_param(b, &n->running_mean, 1, &c, 0.0f);
        gb_param(b, &n->running_var, 1, &c, 0.0f);
        for (int i = 0; !b->st && i < c; i++) {
            n->weight.data[i] += 1.0f;
            n->running_var.data[i] = 1.0f;
        }
    }
    return y;
}

static inline dfd_status gb_finish(gb *b, const int *outputs, int n_out, bool fuse)
{
    for (int i = 0; !b->st && i < n_out; i++) {
        b->st = dfd_graph_add_output(b->g, outputs[i], NULL, 0);
    }
    dfd_finalize_opts fo = { .fuse = fuse, .fuse_dwpw = false };
    dfd_error err;
    if (!b->st) {
        b->st = dfd_graph_finalize(b->g, &fo, "test", &err);
        if (b->st) {
            fprintf(stderr, "    finalize: %s\n", err.msg);
        }
    }
    return b->st;
}

// ---- the check ----

typedef struct gc_opts {
    bool training;     // forward passes in training mode
    float eps;         // central difference step (default 1e-2)
    int max_coords;    // per tensor: all coordinates up to this many, else a random sample
    bool allow_kinks;  // skip coordinates where the two one-sided differences disagree (a kink
                       // of ReLU, clip or max between the samples); at most 1 in 5
    double rtol;       // default 1e-2
    double grad_scale; // multiplies the analytic gradient (1; the negative control uses 1.03)
    dfd_backend backend;
    void (*fill)(dfd_tensor *x, size_t input); // inputs; NULL: uniform in [-1, 1)
} gc_opts;

typedef struct gc_result {
    int checked, skipped, failed;
    double worst; // largest |error| / (rtol * max(|a|, |n|) + atol), 1 = at the tolerance
} gc_result;

static inline gc_opts gc_defaults(void)
{
    gc_opts o = { false, 1e-2f, 48, false, 1e-2, 1.0, DFD_BACKEND_REF, NULL };
    return o;
}

typedef struct gc_ctx {
    dfd_autograd *s;
    const dfd_graph *g;
    float **r; // per output: the loss weights
    bool training;
} gc_ctx;

static inline double gc_loss(gc_ctx *c)
{
    dfd_autograd_set_seed(c->s, 1234); // the same Dropout masks at every evaluation
    if (dfd_autograd_forward(c->s, c->training, NULL) != DFD_OK) {
        return (double)NAN;
    }
    double l = 0;
    for (size_t o = 0; o < dfd_graph_n_outputs(c->g); o++) {
        const dfd_tensor *y = dfd_autograd_output(c->s, o);
        for (size_t i = 0; i < dfd_tensor_numel(y); i++) {
            l += (double)c->r[o][i] * (double)y->data[i];
        }
    }
    return l;
}

// One tensor's coordinates: value pointer, analytic gradient, numel, name.
typedef struct gc_target {
    float *value;
    const float *grad;
    size_t n;
    const char *name;
} gc_target;

static inline gc_result gradcheck(dfd_graph *g, int batch, const gc_opts *o)
{
    gc_result res = { 0, 0, 0, 0 };
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.n_threads = 1;
    ao.backend = o->backend;
    gc_ctx c = { NULL, g, NULL, o->training };
    dfd_error err;
    size_t n_out = dfd_graph_n_outputs(g), n_in = dfd_graph_n_inputs(g);
    gc_target *t = NULL;
    double *ga = NULL, *gp = NULL, *gm = NULL;
    float **ig = NULL;
    size_t n_t = 0, total = 0;
    if (dfd_autograd_create(&c.s, g, batch, &ao, &err) != DFD_OK) {
        fprintf(stderr, "    autograd: %s\n", err.msg);
        res.failed = 1;
        return res;
    }
    c.r = calloc(n_out, sizeof *c.r);
    ig = calloc(n_in, sizeof *ig);
    for (size_t i = 0; i < n_in; i++) {
        dfd_tensor *x = dfd_autograd_input(c.s, i);
        if (o->fill) {
            o->fill(x, i);
        } else {
            test_fill(x, 1.0f);
        }
        dfd_autograd_watch(c.s, dfd_graph_value(g, dfd_graph_input(g, i))->name, NULL);
    }
    // The analytic gradients (this first forward gives the outputs' shapes; no loss yet).
    dfd_autograd_set_seed(c.s, 1234);
    if (dfd_autograd_forward(c.s, c.training, &err) != DFD_OK) {
        fprintf(stderr, "    forward: %s\n", err.msg);
        res.failed = 1;
        goto done;
    }
    for (size_t k = 0; k < n_out; k++) {
        const dfd_tensor *y = dfd_autograd_output(c.s, k);
        c.r[k] = malloc(dfd_tensor_numel(y) * sizeof(float));
        for (size_t i = 0; i < dfd_tensor_numel(y); i++) {
            c.r[k][i] = test_rand();
        }
        dfd_autograd_set_grad(c.s, dfd_graph_output_name(g, k), c.r[k], NULL);
    }
    if (dfd_autograd_backward(c.s, &err) != DFD_OK) {
        fprintf(stderr, "    backward: %s\n", err.msg);
        res.failed = 1;
        goto done;
    }
    size_t np = dfd_autograd_n_params(c.s);
    dfd_param *const *ps = dfd_autograd_params(c.s);
    t = calloc(np + n_in, sizeof *t);
    for (size_t p = 0; p < np; p++) {
        t[n_t++] = (gc_target){ ps[p]->value, ps[p]->grad, dfd_param_numel(ps[p]), ps[p]->name };
    }
    for (size_t i = 0; i < n_in; i++) {
        const char *name = dfd_graph_value(g, dfd_graph_input(g, i))->name;
        const dfd_tensor *d = dfd_autograd_grad(c.s, name);
        size_t n = dfd_tensor_numel(d);
        ig[i] = malloc(n * sizeof(float));
        memcpy(ig[i], d->data, n * sizeof(float));
        t[n_t++] = (gc_target){ dfd_autograd_input(c.s, i)->data, ig[i], n, name };
    }
    for (size_t k = 0; k < n_t; k++) {
        total += t[k].n < (size_t)o->max_coords ? t[k].n : (size_t)o->max_coords;
    }
    ga = calloc(total, sizeof *ga);
    gp = calloc(total, sizeof *gp);
    gm = calloc(total, sizeof *gm);
    size_t *at = calloc(total, sizeof *at), *which = calloc(total, sizeof *which);
    const double l0 = gc_loss(&c);
    const double eps = (double)o->eps;
    size_t m = 0;
    for (size_t k = 0; k < n_t; k++) {
        bool all = t[k].n <= (size_t)o->max_coords;
        size_t count = all ? t[k].n : (size_t)o->max_coords;
        for (size_t j = 0; j < count; j++, m++) {
            size_t i = all ? j : (size_t)test_rand_int(0, (int)t[k].n - 1);
            float v = t[k].value[i];
            t[k].value[i] = v + o->eps;
            double lp = gc_loss(&c);
            t[k].value[i] = v - o->eps;
            double lm = gc_loss(&c);
            t[k].value[i] = v;
            ga[m] = (double)t[k].grad[i] * o->grad_scale;
            gp[m] = (lp - l0) / eps; // one-sided differences; their mean is the central one
            gm[m] = (l0 - lm) / eps;
            at[m] = i;
            which[m] = k;
        }
    }
    double scale = 1e-30;
    for (size_t j = 0; j < total; j++) {
        scale = fmax(scale, fmax(fabs(ga[j]), fabs(0.5 * (gp[j] + gm[j]))));
    }
    const double atol = 2e-3 * scale;
    for (size_t j = 0; j < total; j++) {
        double num = 0.5 * (gp[j] + gm[j]);
        if (o->allow_kinks &&
            fabs(gp[j] - gm[j]) > o->rtol * fmax(fabs(gp[j]), fabs(gm[j])) + atol) {
            res.skipped++;
            continue;
        }
        double tol = o->rtol * fmax(fabs(ga[j]), fabs(num)) + atol;
        double e = fabs(ga[j] - num) / tol;
        res.worst = fmax(res.worst, e);
        res.checked++;
        if (!(e <= 1)) {
            if (res.failed++ < 5 && o->grad_scale == 1.0) {
                fprintf(stderr, "    %s[%zu]: analytic %.7g, numeric %.7g (+ %.7g, - %.7g)\n",
                        t[which[j]].name, at[j], ga[j], num, gp[j], gm[j]);
            }
        }
    }
    free(at);
    free(which);
done:
    for (size_t k = 0; k < n_out; k++) {
        free(c.r[k]);
    }
    for (size_t i = 0; i < n_in; i++) {
        free(ig[i]);
    }
    free(c.r);
    free(ig);
    free(t);
    free(ga);
    free(gp);
    free(gm);
    dfd_autograd_free(c.s);
    return res;
}

// The verdict most tests want: something was checked, nothing failed, few kinks skipped.
#define CHECK_GRADS(res)                                                                           \
    do {                                                                                           \
        gc_result r_ = (res);                                                                      \
        if (r_.failed || r_.checked == 0 || r_.skipped * 4 > r_.checked) {                         \
            DFD_TEST_FAIL_("gradcheck: %d checked, %d failed, %d skipped, worst %.3g", r_.checked, \
                           r_.failed, r_.skipped, r_.worst);                                       \
        }                                                                                          \
    } while (0)

#endif
