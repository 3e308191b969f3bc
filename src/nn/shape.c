// Shape inference and parameter checks, one rule per op. Shapes carry DFD_BATCH in dimension 0
// for everything computed from the inputs; spatial sizes are static, so TF SAME padding is
// resolved here once.
#include <stdio.h>
#include <string.h>

#include "nn_internal.h"

#define FAIL(...) dfd_error_set(err, DFD_ERR_FORMAT, __VA_ARGS__)

void nn_window_pads(dfd_window *win, int h, int w)
{
    if (win->padding == DFD_PAD_EXPLICIT) {
        return;
    }
    memset(win->pads, 0, sizeof win->pads);
    if (win->padding != DFD_PAD_SAME) {
        return;
    }
    // TensorFlow: out = ceil(in / s); total = max((out - 1) * s + effective_k - in, 0);
    // before = total / 2 (rounded down), after = the rest.
    int ekh = (win->kh - 1) * win->dh + 1, ekw = (win->kw - 1) * win->dw + 1;
    int oh = (h + win->sh - 1) / win->sh, ow = (w + win->sw - 1) / win->sw;
    int th = (oh - 1) * win->sh + ekh - h, tw = (ow - 1) * win->sw + ekw - w;
    th = th > 0 ? th : 0;
    tw = tw > 0 ? tw : 0;
    win->pads[0] = th / 2;
    win->pads[1] = th - th / 2;
    win->pads[2] = tw / 2;
    win->pads[3] = tw - tw / 2;
}

void nn_window_out(const dfd_window *win, int h, int w, int *oh, int *ow)
{
    int ekh = (win->kh - 1) * win->dh + 1, ekw = (win->kw - 1) * win->dw + 1;
    int ph = h + win->pads[0] + win->pads[1], pw = w + win->pads[2] + win->pads[3];
    *oh = ph >= ekh ? (ph - ekh) / win->sh + 1 : 0;
    *ow = pw >= ekw ? (pw - ekw) / win->sw + 1 : 0;
}

static void set_shape(dfd_value *v, int rank, const int *shape)
{
    v->rank = rank;
    for (int i = 0; i < DFD_MAX_RANK; i++) {
        v->shape[i] = i < rank ? shape[i] : 1;
    }
}

static bool window_ok(const dfd_window *w)
{
    return w->kh >= 1 && w->kw >= 1 && w->sh >= 1 && w->sw >= 1 && w->dh >= 1 && w->dw >= 1 &&
           w->kh <= 64 && w->kw <= 64 && w->sh <= 64 && w->sw <= 64 && w->dh <= 64 && w->dw <= 64;
}

// Channel-vector parameter (bias, PReLU slopes) of length c, or absent.
static bool channel_param_ok(const dfd_tensor *t, int c)
{
    return t->rank == 0 || (t->rank == 1 && t->shape[0] == c);
}

static dfd_status infer_window(dfd_graph *g, dfd_node *n, const char *what, dfd_error *err)
{
    const dfd_value *x = &g->values[n->in[0]];
    char sb[64];
    dfd_window *win = n->op == DFD_OP_CONV2D ? &n->a.conv.win : &n->a.pool;
    if (x->rank != 4) {
        return FAIL("%s: node '%s' (%s) needs a 4-D NHWC input, got %s", what, n->name,
                    dfd_op_name(n->op), dfd_shape_str(sb, sizeof sb, x->rank, x->shape));
    }
    if (!window_ok(win)) {
        return FAIL("%s: node '%s' has an invalid kernel, stride or dilation", what, n->name);
    }
    int c = x->shape[3];
    int oc = c;
    if (n->op == DFD_OP_CONV2D) {
        const dfd_tensor *wt = &n->weight;
        int gr = n->a.conv.groups;
        if (gr < 1 || c % gr != 0 || wt->rank != 4 || wt->shape[0] != win->kh ||
            wt->shape[1] != win->kw || wt->shape[2] != c / gr || wt->shape[3] % gr != 0) {
            return FAIL("%s: node '%s': weights %s do not fit input %s with %d group(s)", what,
                        n->name, dfd_shape_str(sb, sizeof sb, wt->rank, wt->shape),
                        dfd_shape_str(sb + 32, 32, x->rank, x->shape), gr);
        }
        oc = wt->shape[3];
        if (!channel_param_ok(&n->bias, oc) ||
            (n->act.kind == DFD_ACT_PRELU && !channel_param_ok(&n->alpha, oc))) {
            return FAIL("%s: node '%s': bias or PReLU slopes do not have %d channels", what,
                        n->name, oc);
        }
    }
    nn_window_pads(win, x->shape[1], x->shape[2]);
    int oh, ow;
    nn_window_out(win, x->shape[1], x->shape[2], &oh, &ow);
    if (oh < 1 || ow < 1) {
        return FAIL("%s: node '%s': the %dx%d window does not fit the %dx%d input", what, n->name,
                    win->kh, win->kw, x->shape[1], x->shape[2]);
    }
    int shape[4] = { x->shape[0], oh, ow, oc };
    set_shape(&g->values[n->out], 4, shape);
    return DFD_OK;
}

static dfd_status infer_matmul(dfd_graph *g, dfd_node *n, const char *what, dfd_error *err)
{
    const dfd_value *x = &g->values[n->in[0]];
    const dfd_tensor *wt = &n->weight;
    char sb[64];
    if (x->rank != 2 || wt->rank != 2 || wt->shape[0] != x->shape[1]) {
        return FAIL("%s: node '%s': matmul of %s by weights %s", what, n->name,
                    dfd_shape_str(sb, 32, x->rank, x->shape),
                    dfd_shape_str(sb + 32, 32, wt->rank, wt->shape));
    }
    if (!channel_param_ok(&n->bias, wt->shape[1]) ||
        (n->act.kind == DFD_ACT_PRELU && !channel_param_ok(&n->alpha, wt->shape[1]))) {
        return FAIL("%s: node '%s': bias or PReLU slopes do not have %d channels", what, n->name,
                    wt->shape[1]);
    }
    int shape[2] = { x->shape[0], wt->shape[1] };
    set_shape(&g->values[n->out], 2, shape);
    return DFD_OK;
}

// NumPy broadcasting of two shapes aligned on the right; DFD_BATCH broadcasts like an unknown
// size that may only meet 1 or another DFD_BATCH.
static bool broadcast(int *out_rank, int *out, const dfd_value *a, const dfd_value *b)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int da = i < r - a->rank ? 1 : a->shape[i - (r - a->rank)];
        int db = i < r - b->rank ? 1 : b->shape[i - (r - b->rank)];
        if (da == db || db == 1) {
            out[i] = da;
        } else if (da == 1) {
            out[i] = db;
        } else {
            return false;
        }
    }
    *out_rank = r;
    return true;
}

static dfd_status infer_binary(dfd_graph *g, dfd_node *n, const char *what, dfd_error *err)
{
    if (n->n_in != 2) {
        return FAIL("%s: node '%s' (%s) needs 2 inputs", what, n->name, dfd_op_name(n->op));
    }
    const dfd_value *a = &g->values[n->in[0]], *b = &g->values[n->in[1]];
    int rank, shape[DFD_MAX_RANK];
    char sa[32], sb[32];
    if (!broadcast(&rank, shape, a, b)) {
        return FAIL("%s: node '%s' (%s): shapes %s and %s do not broadcast", what, n->name,
                    dfd_op_name(n->op), dfd_shape_str(sa, sizeof sa, a->rank, a->shape),
                    dfd_shape_str(sb, sizeof sb, b->rank, b->shape));
    }
    set_shape(&g->values[n->out], rank, shape);
    return DFD_OK;
}

// Squeeze becomes a plain reshape once the input shape is known.
static dfd_status resolve_squeeze(const dfd_value *x, dfd_node *n, const char *what, dfd_error *err)
{
    unsigned m = n->a.reshape.squeeze;
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        bool drop = (m & DFD_SQUEEZE_ALL) ? (i > 0 && x->shape[i] == 1) : ((m >> i) & 1u);
        if (drop && x->shape[i] != 1) {
            return FAIL("%s: node '%s': cannot squeeze dimension %d of size %d", what, n->name, i,
                        x->shape[i]);
        }
        if (!drop) {
            n->a.reshape.shape[r++] = x->shape[i];
        }
    }
    n->a.reshape.rank = r;
    n->a.reshape.squeeze = 0;
    return DFD_OK;
}

static dfd_status infer_reshape(dfd_graph *g, dfd_node *n, const char *what, dfd_error *err)
{
    const dfd_value *x = &g->values[n->in[0]];
    if (n->a.reshape.squeeze) {
        dfd_status st = resolve_squeeze(x, n, what, err);
        if (st) {
            return st;
        }
    }
    int *t = n->a.reshape.shape;
    int r = n->a.reshape.rank;
    char sa[32], sb[32];
    // Elements per batch item of the input (or in total when it has no batch dimension).
    long in_items = 1;
    for (int i = x->shape[0] == DFD_BATCH ? 1 : 0; i < x->rank; i++) {
        in_items *= x->shape[i];
    }
    bool batched = x->shape[0] == DFD_BATCH;
    if (r < 1 || r > DFD_MAX_RANK || batched != (t[0] == DFD_BATCH)) {
        return FAIL("%s: node '%s': cannot reshape %s to %s", what, n->name,
                    dfd_shape_str(sa, sizeof sa, x->rank, x->shape),
                    dfd_shape_str(sb, sizeof sb, r, t));
    }
    long known = 1;
    int wild = -1;
    for (int i = batched ? 1 : 0; i < r; i++) {
        if (t[i] == -2 && wild < 0) {
            wild = i;
        } else if (t[i] >= 1) {
            known *= t[i];
        } else {
            return FAIL("%s: node '%s': bad target shape %s", what, n->name,
                        dfd_shape_str(sb, sizeof sb, r, t));
        }
    }
    int shape[DFD_MAX_RANK];
    memcpy(shape, t, sizeof shape);
    if (wild >= 0) {
        if (known == 0 || in_items % known != 0) {
            return FAIL("%s: node '%s': %ld elements do not fit %s", what, n->name, in_items,
                        dfd_shape_str(sb, sizeof sb, r, t));
        }
        shape[wild] = (int)(in_items / known);
    } else if (known != in_items) {
        return FAIL("%s: node '%s': cannot reshape %s to %s", what, n->name,
                    dfd_shape_str(sa, sizeof sa, x->rank, x->shape),
                    dfd_shape_str(sb, sizeof sb, r, t));
    }
    set_shape(&g->values[n->out], r, shape);
    return DFD_OK;
}

static dfd_status infer_pad(dfd_graph *g, dfd_node *n, const char *what, dfd_error *err)
{
    const dfd_value *x = &g->values[n->in[0]];
    int shape[DFD_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        int b = n->a.pad.before[i], e = n->a.pad.after[i];
        if (b < 0 || e < 0 || b > 65536 || e > 65536 || (x->shape[i] == DFD_BATCH && (b || e))) {
            return FAIL("%s: node '%s': unsupported padding of dimension %d", what, n->name, i);
        }
        shape[i] = x->shape[i] == DFD_BATCH ? DFD_BATCH : x->shape[i] + b + e;
    }
    set_shape(&g->values[n->out], x->rank, shape);
    return DFD_OK;
}

static dfd_status infer_concat(dfd_graph *g, dfd_node *n, const char *what, dfd_error *err)
{
    const dfd_value *x0 = &g->values[n->in[0]];
    int axis = n->a.concat.axis;
    if (axis < 0) {
        axis += x0->rank;
    }
    if (axis < 0 || axis >= x0->rank || (axis == 0 && x0->shape[0] == DFD_BATCH)) {
        return FAIL("%s: node '%s': bad concat axis %d", what, n->name, n->a.concat.axis);
    }
    n->a.concat.axis = axis;
    int shape[DFD_MAX_RANK];
    memcpy(shape, x0->shape, sizeof shape);
    for (int k = 1; k < n->n_in; k++) {
        const dfd_value *x = &g->values[n->in[k]];
        bool ok = x->rank == x0->rank;
        for (int i = 0; ok && i < x->rank; i++) {
            ok = i == axis || x->shape[i] == x0->shape[i];
        }
        if (!ok) {
            return FAIL("%s: node '%s': concat inputs do not match", what, n->name);
        }
        shape[axis] += x->shape[axis];
    }
    set_shape(&g->values[n->out], x0->rank, shape);
    return DFD_OK;
}

// Batch norm over the last axis: gamma, beta and both running statistics are [C] vectors.
static dfd_status infer_batchnorm(dfd_graph *g, dfd_node *n, const char *what, dfd_error *err)
{
    const dfd_value *x = &g->values[n->in[0]];
    const int c = x->shape[x->rank - 1];
    const float eps = n->a.bn.eps, m = n->a.bn.momentum;
    if (x->rank != 2 && x->rank != 4) {
        return FAIL("%s: node '%s': batch norm needs [N,C] or [N,H,W,C]", what, n->name);
    }
    if (n->weight.rank != 1 || n->weight.shape[0] != c || n->bias.rank != 1 ||
        n->bias.shape[0] != c || n->running_mean.rank != 1 || n->running_mean.shape[0] != c ||
        n->running_var.rank != 1 || n->running_var.shape[0] != c) {
        return FAIL("%s: node '%s': batch norm parameters must all have %d channels", what, n->name,
                    c);
    }
    if (!(eps > 0) || !(m > 0 && m <= 1)) {
        return FAIL("%s: node '%s': batch norm needs eps > 0 and momentum in (0, 1]", what,
                    n->name);
    }
    set_shape(&g->values[n->out], x->rank, x->shape);
    return DFD_OK;
}

dfd_status nn_infer_node(dfd_graph *g, dfd_node *n, const char *what, dfd_error *err)
{
    for (int k = 0; k < n->n_in; k++) {
        if (g->values[n->in[k]].rank == 0) {
            return FAIL("%s: node '%s' reads '%s' before it has a shape", what, n->name,
                        g->values[n->in[k]].name);
        }
    }
    if (n->n_in < 1) {
        return FAIL("%s: node '%s' has no input", what, n->name);
    }
    const dfd_value *x = &g->values[n->in[0]];
    dfd_value *out = &g->values[n->out];
    switch (n->op) {
    case DFD_OP_CONV2D:
    case DFD_OP_MAXPOOL:
    case DFD_OP_AVGPOOL:
        return infer_window(g, n, what, err);
    case DFD_OP_DWPW: {
        // The depthwise stage keeps the channels; the pointwise maps them to OC.
        const dfd_tensor *w2 = &n->weight2, *w = &n->weight;
        if (x->rank != 4 || w2->rank != 4 || w->rank != 4 || w2->shape[2] != 1 ||
            w2->shape[3] != x->shape[3] || w->shape[0] != 1 || w->shape[1] != 1 ||
            w->shape[2] != x->shape[3] || x->shape[3] > 1024 ||
            !channel_param_ok(&n->bias2, x->shape[3])) {
            return FAIL("%s: node '%s': inconsistent depthwise-pointwise parameters", what,
                        n->name);
        }
        dfd_window *win = &n->a.conv.win;
        nn_window_pads(win, x->shape[1], x->shape[2]);
        int oh, ow;
        nn_window_out(win, x->shape[1], x->shape[2], &oh, &ow);
        if (oh < 1 || ow < 1) {
            return FAIL("%s: node '%s': window does not fit", what, n->name);
        }
        int shape[4] = { x->shape[0], oh, ow, w->shape[3] };
        set_shape(out, 4, shape);
        return DFD_OK;
    }
    case DFD_OP_MATMUL:
        return infer_matmul(g, n, what, err);
    case DFD_OP_ADD:
    case DFD_OP_SUB:
    case DFD_OP_MUL:
    case DFD_OP_MAXIMUM:
    case DFD_OP_MINIMUM:
        return infer_binary(g, n, what, err);
    case DFD_OP_ACT:
        if (n->act.kind == DFD_ACT_PRELU && !channel_param_ok(&n->alpha, x->shape[x->rank - 1])) {
            return FAIL("%s: node '%s': PReLU slopes do not match %d channels", what, n->name,
                        x->shape[x->rank - 1]);
        }
        set_shape(out, x->rank, x->shape);
        return DFD_OK;
    case DFD_OP_SOFTMAX:
        set_shape(out, x->rank, x->shape);
        return DFD_OK;
    case DFD_OP_PAD:
        return infer_pad(g, n, what, err);
    case DFD_OP_RESHAPE:
        return infer_reshape(g, n, what, err);
    case DFD_OP_MEAN: {
        if (x->rank != 4) {
            return FAIL("%s: node '%s': mean over H, W needs a 4-D input", what, n->name);
        }
        int s4[4] = { x->shape[0], 1, 1, x->shape[3] }, s2[2] = { x->shape[0], x->shape[3] };
        if (n->a.mean.keep_dims) {
            set_shape(out, 4, s4);
        } else {
            set_shape(out, 2, s2);
        }
        return DFD_OK;
    }
    case DFD_OP_CONCAT:
        return infer_concat(g, n, what, err);
    case DFD_OP_RESIZE_BILINEAR: {
        int oh = n->a.resize.out_h, ow = n->a.resize.out_w;
        if (x->rank != 4 || oh < 1 || ow < 1 || oh > 16384 || ow > 16384) {
            return FAIL("%s: node '%s': bad bilinear resize", what, n->name);
        }
        int s[4] = { x->shape[0], oh, ow, x->shape[3] };
        set_shape(out, 4, s);
        return DFD_OK;
    }
    case DFD_OP_DROPOUT:
        if (!(n->a.dropout.rate >= 0 && n->a.dropout.rate < 1)) {
            return FAIL("%s: node '%s': dropout rate must be in [0, 1)", what, n->name);
        }
        set_shape(out, x->rank, x->shape);
        return DFD_OK;
    case DFD_OP_BATCHNORM:
        return infer_batchnorm(g, n, what, err);
    case DFD_OP_COUNT:
        break;
    }
    return FAIL("%s: node '%s' has an unknown op", what, n->name);
}
