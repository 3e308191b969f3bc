// TF.js graph models (model.json + .bin shards) -> dfd_graph. The JSON holds a TensorFlow
// GraphDef as JSON: nodes with op, inputs ("name", "name:0", "^control") and attributes in
// protobuf JSON form ({"i": "2"}, {"f": 0.2}, {"b": true}, {"s": base64}, {"list": {...}}). Const
// nodes carry no data: their values are the manifest weights of the same name (tfjs_weights.c).
// Every op of ../shared/MODELS.md's four face models is translated; anything else fails the load
// with one line naming the op and the node.
#include "dfdetect/model/tfjs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "model_internal.h"

#define MAX_JSON_BYTES  ((size_t)64 << 20)
#define MAX_NODES       100000
#define MAX_ALIAS_DEPTH 64

typedef struct importer {
    const char *path;
    const cJSON *nodes;
    int n_tf;
    const cJSON **tf; // TF nodes by index
    unsigned *hash;   // open addressing: TF node index + 1, 0 empty
    size_t hash_cap;
    int *value_of; // TF node -> value id (-1 none yet)
    tfjs_weights weights;
    dfd_graph *g;
    dfd_error *err;
} importer;

// ---- names ----

static unsigned long hash_str(const char *s, size_t n)
{
    unsigned long h = 1469598103934665603UL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)s[i]) * 1099511628211UL;
    }
    return h;
}

static const char *tf_name(const cJSON *node)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(node, "name");
    return cJSON_IsString(n) ? n->valuestring : NULL;
}

static const char *tf_op(const cJSON *node)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(node, "op");
    return cJSON_IsString(n) ? n->valuestring : "";
}

// TF node index of a name (len bytes), or -1.
static int find_tf(const importer *im, const char *name, size_t len)
{
    size_t mask = im->hash_cap - 1;
    for (size_t i = hash_str(name, len) & mask;; i = (i + 1) & mask) {
        unsigned k = im->hash[i];
        if (k == 0) {
            return -1;
        }
        const char *nm = tf_name(im->tf[k - 1]);
        if (strlen(nm) == len && memcmp(nm, name, len) == 0) {
            return (int)k - 1;
        }
    }
}

static dfd_status index_nodes(importer *im)
{
    im->n_tf = cJSON_GetArraySize(im->nodes);
    if (im->n_tf < 1 || im->n_tf > MAX_NODES) {
        return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: %d nodes in the graph", im->path,
                             im->n_tf);
    }
    im->hash_cap = 1;
    while (im->hash_cap < (size_t)im->n_tf * 2) {
        im->hash_cap *= 2;
    }
    im->tf = dfd_calloc((size_t)im->n_tf, sizeof *im->tf);
    im->hash = dfd_calloc(im->hash_cap, sizeof *im->hash);
    im->value_of = dfd_malloc((size_t)im->n_tf * sizeof *im->value_of);
    if (!im->tf || !im->hash || !im->value_of) {
        return dfd_error_set(im->err, DFD_ERR_NOMEM, "%s: out of memory", im->path);
    }
    int i = 0;
    const cJSON *node;
    cJSON_ArrayForEach(node, im->nodes)
    {
        const char *nm = tf_name(node);
        if (!nm || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(node, "op"))) {
            return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node %d has no name or op", im->path,
                                 i);
        }
        if (find_tf(im, nm, strlen(nm)) >= 0) {
            return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: two nodes named '%s'", im->path, nm);
        }
        im->tf[i] = node;
        im->value_of[i] = -1;
        size_t mask = im->hash_cap - 1, h = hash_str(nm, strlen(nm)) & mask;
        while (im->hash[h]) {
            h = (h + 1) & mask;
        }
        im->hash[h] = (unsigned)i + 1;
        i++;
    }
    return DFD_OK;
}

// ---- attributes ----

static const cJSON *attr(const cJSON *node, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "attr"), key);
}

// Integer list attribute ({"list": {"i": ["1","2","2","1"]}}); returns the count (-1 if absent).
static int attr_ints(const cJSON *node, const char *key, long *out, int max)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(attr(node, key), "list"), "i");
    if (!cJSON_IsArray(l)) {
        return -1;
    }
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, l)
    {
        if (n >= max) {
            return -1;
        }
        // Out-of-range doubles would convert with undefined behaviour: clamp first (the
        // callers check the values).
        double d = cJSON_IsString(v) ? (double)strtol(v->valuestring, NULL, 10) : v->valuedouble;
        out[n++] = d > 1e9 || d != d ? 1000000000L : (d < -1e9 ? -1000000000L : (long)d);
    }
    return n;
}

static double attr_float(const cJSON *node, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attr(node, key), "f");
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static bool attr_bool(const cJSON *node, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(attr(node, key), "b"));
}

// String attribute, base64-decoded into buf ("" if absent).
static bool attr_str(const cJSON *node, const char *key, char *buf, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attr(node, key), "s");
    if (!cJSON_IsString(v)) {
        buf[0] = '\0';
        return true;
    }
    return tfjs_base64_decode(buf, n, v->valuestring);
}

// String list attribute (fused_ops); returns the count, -1 on a bad entry.
static int attr_strs(const cJSON *node, const char *key, char out[][32], int max)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(attr(node, key), "list"), "s");
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, l)
    {
        if (n >= max || !cJSON_IsString(v) || !tfjs_base64_decode(out[n], 32, v->valuestring)) {
            return -1;
        }
        n++;
    }
    return n;
}

// ---- inputs ----

static int n_inputs(const cJSON *node)
{
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(node, "input"))
    {
        n += cJSON_IsString(v) && v->valuestring[0] != '^'; // control inputs do not count
    }
    return n;
}

// The k-th data input reference of a node.
static const char *input_ref(const cJSON *node, int k)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(node, "input"))
    {
        if (cJSON_IsString(v) && v->valuestring[0] != '^' && k-- == 0) {
            return v->valuestring;
        }
    }
    return NULL;
}

// TF node index an input reference points to, following Identity chains. -1 with an error set.
static int resolve(importer *im, const char *ref, const cJSON *user)
{
    for (int depth = 0; depth < MAX_ALIAS_DEPTH; depth++) {
        size_t len = strlen(ref);
        const char *colon = strrchr(ref, ':');
        if (colon) {
            if (strcmp(colon, ":0") != 0) {
                dfd_error_set(im->err, DFD_ERR_UNSUPPORTED,
                              "%s: node '%s' reads output '%s' (only first outputs are supported)",
                              im->path, tf_name(user), ref);
                return -1;
            }
            len = (size_t)(colon - ref);
        }
        int i = find_tf(im, ref, len);
        if (i < 0) {
            dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s' reads '%s', which does not exist",
                          im->path, tf_name(user), ref);
            return -1;
        }
        const char *op = tf_op(im->tf[i]);
        if (strcmp(op, "Identity") != 0 && strcmp(op, "StopGradient") != 0) {
            return i;
        }
        ref = input_ref(im->tf[i], 0);
        if (!ref) {
            dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: Identity '%s' has no input", im->path,
                          tf_name(im->tf[i]));
            return -1;
        }
    }
    dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: Identity chain too long at '%s'", im->path,
                  tf_name(user));
    return -1;
}

// The constant weight behind input k of node, or NULL (error set) if it is not a constant.
static const tfjs_weight *const_input(importer *im, const cJSON *node, int k)
{
    const char *ref = input_ref(node, k);
    if (!ref) {
        dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s' lacks input %d", im->path,
                      tf_name(node), k);
        return NULL;
    }
    int i = resolve(im, ref, node);
    if (i < 0) {
        return NULL;
    }
    if (strcmp(tf_op(im->tf[i]), "Const") != 0) {
        dfd_error_set(im->err, DFD_ERR_UNSUPPORTED,
                      "%s: node '%s' (%s) needs a constant as input %d, got %s '%s'", im->path,
                      tf_name(node), tf_op(node), k, tf_op(im->tf[i]), tf_name(im->tf[i]));
        return NULL;
    }
    const tfjs_weight *w = tfjs_weights_find(&im->weights, tf_name(im->tf[i]));
    if (!w) {
        dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: constant '%s' is missing from the weights",
                      im->path, tf_name(im->tf[i]));
    }
    return w;
}

// Value id of input k (constants become graph constants on first use). -1 with error set.
static int value_input(importer *im, const cJSON *node, int k)
{
    const char *ref = input_ref(node, k);
    if (!ref) {
        dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s' lacks input %d", im->path,
                      tf_name(node), k);
        return -1;
    }
    int i = resolve(im, ref, node);
    if (i < 0) {
        return -1;
    }
    if (im->value_of[i] >= 0) {
        return im->value_of[i];
    }
    if (strcmp(tf_op(im->tf[i]), "Const") != 0) {
        dfd_error_set(im->err, DFD_ERR_UNSUPPORTED, "%s: unsupported op '%s' at node '%s'",
                      im->path, tf_op(im->tf[i]), tf_name(im->tf[i]));
        return -1;
    }
    const tfjs_weight *w = tfjs_weights_find(&im->weights, tf_name(im->tf[i]));
    dfd_tensor t = { 0 };
    if (!w || dfd_tensor_copy(&t, &w->value) != DFD_OK ||
        dfd_graph_add_const(im->g, tf_name(im->tf[i]), &t, &im->value_of[i]) != DFD_OK) {
        dfd_tensor_free(&t);
        dfd_error_set(im->err, w ? DFD_ERR_NOMEM : DFD_ERR_FORMAT, "%s: constant '%s' %s", im->path,
                      tf_name(im->tf[i]), w ? "cannot be stored" : "has no weights");
        return -1;
    }
    return im->value_of[i];
}

// ---- translation helpers ----

// Integer constants (axes, shapes, paddings, sizes) arrive as floats decoded from the weights
// file; a float outside int range converts with undefined behaviour, so every one goes through
// this check first. Values outside [-65536, 65536] are refused.
static bool int_const(const tfjs_weight *w, size_t i, int *out)
{
    float v = w->value.data[i];
    if (!(v >= -65536.0f && v <= 65536.0f) || v != (float)(int)v) {
        return false;
    }
    *out = (int)v;
    return true;
}

static dfd_status bad_int_const(importer *im, const cJSON *node)
{
    return dfd_error_set(im->err, DFD_ERR_FORMAT,
                         "%s: node '%s': an integer constant is out of range or not an integer",
                         im->path, tf_name(node));
}

static int out_value(importer *im, const cJSON *node)
{
    const char *nm = tf_name(node);
    return im->value_of[find_tf(im, nm, strlen(nm))];
}

static dfd_status add_node(importer *im, const cJSON *node, dfd_op op, const int *in, int n_in,
                           dfd_node **out)
{
    dfd_status st =
        dfd_graph_add_node(im->g, op, tf_name(node), in, n_in, out_value(im, node), out);
    if (st) {
        return dfd_error_set(im->err, st, "%s: node '%s': %s", im->path, tf_name(node),
                             dfd_status_str(st));
    }
    return DFD_OK;
}

// Copy a constant into a parameter tensor flattened to [n] (bias, PReLU slopes).
static dfd_status vector_param(importer *im, dfd_tensor *dst, const tfjs_weight *w,
                               const cJSON *node)
{
    int n = (int)dfd_tensor_numel(&w->value);
    dfd_status st = dfd_tensor_alloc(dst, 1, &n);
    if (st) {
        return dfd_error_set(im->err, st, "%s: node '%s': out of memory", im->path, tf_name(node));
    }
    memcpy(dst->data, w->value.data, (size_t)n * sizeof(float));
    return DFD_OK;
}

static dfd_status padding_attr(importer *im, const cJSON *node, dfd_window *win)
{
    char pad[32];
    if (!attr_str(node, "padding", pad, sizeof pad)) {
        return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s': bad padding attribute",
                             im->path, tf_name(node));
    }
    if (strcmp(pad, "SAME") == 0) {
        win->padding = DFD_PAD_SAME;
    } else if (strcmp(pad, "VALID") == 0) {
        win->padding = DFD_PAD_VALID;
    } else if (strcmp(pad, "EXPLICIT") == 0) {
        long p[8];
        if (attr_ints(node, "explicit_paddings", p, 8) != 8 || p[0] || p[1] || p[6] || p[7]) {
            return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED,
                                 "%s: node '%s': explicit padding other than spatial", im->path,
                                 tf_name(node));
        }
        win->padding = DFD_PAD_EXPLICIT;
        for (int i = 0; i < 4; i++) {
            if (p[2 + i] < 0 || p[2 + i] > 4096) {
                return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s': bad padding %ld",
                                     im->path, tf_name(node), p[2 + i]);
            }
            win->pads[i] = (int)p[2 + i];
        }
    } else {
        return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED, "%s: node '%s': padding '%s'", im->path,
                             tf_name(node), pad);
    }
    char fmt[16];
    if (attr_str(node, "data_format", fmt, sizeof fmt) && fmt[0] && strcmp(fmt, "NHWC") != 0) {
        return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED, "%s: node '%s': data format %s",
                             im->path, tf_name(node), fmt);
    }
    return DFD_OK;
}

// Strides, dilations and kernel size of a window; strides/ksize as [1, h, w, 1].
static dfd_status window_attrs(importer *im, const cJSON *node, dfd_window *win, int kh, int kw)
{
    long s[4] = { 1, 1, 1, 1 }, d[4] = { 1, 1, 1, 1 }, k[4] = { 1, kh, kw, 1 };
    if (attr_ints(node, "strides", s, 4) < 0 && attr(node, "strides")) {
        return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s': bad strides", im->path,
                             tf_name(node));
    }
    attr_ints(node, "dilations", d, 4);
    if (kh == 0) {
        attr_ints(node, "ksize", k, 4);
    }
    if (s[0] != 1 || s[3] != 1 || d[0] != 1 || d[3] != 1 || k[0] != 1 || k[3] != 1) {
        return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED,
                             "%s: node '%s': strides, dilations or window over N or C", im->path,
                             tf_name(node));
    }
    win->kh = (int)k[1];
    win->kw = (int)k[2];
    win->sh = (int)s[1];
    win->sw = (int)s[2];
    win->dh = (int)d[1];
    win->dw = (int)d[2];
    return padding_attr(im, node, win);
}

// Activation named like TF ("Relu", "Relu6", ...). false if unknown.
static bool act_of(const char *op, const cJSON *node, dfd_act *act)
{
    memset(act, 0, sizeof *act);
    if (strcmp(op, "Relu") == 0) {
        act->kind = DFD_ACT_RELU;
    } else if (strcmp(op, "Relu6") == 0) {
        act->kind = DFD_ACT_CLIP;
        act->lo = 0;
        act->hi = 6;
    } else if (strcmp(op, "Elu") == 0) {
        act->kind = DFD_ACT_ELU;
        act->alpha = 1;
    } else if (strcmp(op, "LeakyRelu") == 0) {
        act->kind = DFD_ACT_LEAKY_RELU;
        // Standalone LeakyRelu says "alpha", the fused form "leakyrelu_alpha".
        act->alpha = (float)attr_float(node, "alpha", attr_float(node, "leakyrelu_alpha", 0.2));
    } else if (strcmp(op, "Sigmoid") == 0) {
        act->kind = DFD_ACT_SIGMOID;
    } else if (strcmp(op, "Tanh") == 0) {
        act->kind = DFD_ACT_TANH;
    } else if (strcmp(op, "Prelu") == 0) {
        act->kind = DFD_ACT_PRELU;
    } else {
        return false;
    }
    return true;
}

// The fused_ops of _FusedConv2D / _FusedMatMul / FusedDepthwiseConv2dNative: bias or batch norm,
// then an activation; their extra inputs (num_args) start at input `first_arg`.
static dfd_status fused_epilogue(importer *im, const cJSON *node, dfd_node *n, int first_arg)
{
    char ops[4][32];
    int n_ops = attr_strs(node, "fused_ops", ops, 4);
    if (n_ops < 0) {
        return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s': bad fused_ops", im->path,
                             tf_name(node));
    }
    int arg = first_arg;
    const int oc = n->weight.shape[n->weight.rank - 1];
    for (int k = 0; k < n_ops; k++) {
        if (strcmp(ops[k], "BiasAdd") == 0) {
            const tfjs_weight *b = const_input(im, node, arg++);
            if (!b) {
                return im->err->code;
            }
            if ((int)dfd_tensor_numel(&b->value) != oc) {
                return dfd_error_set(im->err, DFD_ERR_FORMAT,
                                     "%s: node '%s': bias of %zu for %d "
                                     "channels",
                                     im->path, tf_name(node), dfd_tensor_numel(&b->value), oc);
            }
            dfd_status st = vector_param(im, &n->bias, b, node);
            if (st) {
                return st;
            }
        } else if (strcmp(ops[k], "FusedBatchNorm") == 0 ||
                   strcmp(ops[k], "FusedBatchNormV3") == 0) {
            // y = (conv - mean) * scale / sqrt(var + eps) + offset, folded into weight and bias.
            const tfjs_weight *p[4];
            for (int j = 0; j < 4; j++) {
                if (!(p[j] = const_input(im, node, arg++))) {
                    return im->err->code;
                }
                if ((int)dfd_tensor_numel(&p[j]->value) != oc) {
                    return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s': batch norm size",
                                         im->path, tf_name(node));
                }
            }
            double eps = attr_float(node, "epsilon", 0.001);
            dfd_status st = dfd_tensor_alloc(&n->bias, 1, &oc);
            if (st) {
                return dfd_error_set(im->err, st, "%s: out of memory", im->path);
            }
            size_t nw = dfd_tensor_numel(&n->weight);
            for (int c = 0; c < oc; c++) {
                double s = (double)p[0]->value.data[c] / sqrt((double)p[3]->value.data[c] + eps);
                n->bias.data[c] =
                    (float)((double)p[1]->value.data[c] - (double)p[2]->value.data[c] * s);
                for (size_t i = (size_t)c; i < nw; i += (size_t)oc) {
                    n->weight.data[i] = (float)((double)n->weight.data[i] * s);
                }
            }
        } else if (act_of(ops[k], node, &n->act)) {
            if (n->act.kind == DFD_ACT_PRELU) {
                const tfjs_weight *a = const_input(im, node, arg++);
                if (!a) {
                    return im->err->code;
                }
                dfd_status st = vector_param(im, &n->alpha, a, node);
                if (st) {
                    return st;
                }
            }
        } else {
            return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED,
                                 "%s: unsupported fused op '%s' at node '%s'", im->path, ops[k],
                                 tf_name(node));
        }
    }
    return DFD_OK;
}

// ---- ops ----

static dfd_status tr_conv(importer *im, const cJSON *node, bool depthwise, bool fused)
{
    int x = value_input(im, node, 0);
    const tfjs_weight *f = x >= 0 ? const_input(im, node, 1) : NULL;
    if (!f) {
        return im->err->code;
    }
    if (f->value.rank != 4) {
        return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s': filter is not 4-D", im->path,
                             tf_name(node));
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, DFD_OP_CONV2D, &x, 1, &n);
    if (st) {
        return st;
    }
    st = window_attrs(im, node, &n->a.conv.win, f->value.shape[0], f->value.shape[1]);
    if (st) {
        return st;
    }
    // TF filters are HWIO; depthwise [KH, KW, C, M] is the same memory as grouped [KH, KW, 1, C*M].
    int shape[4] = { f->value.shape[0], f->value.shape[1], f->value.shape[2], f->value.shape[3] };
    n->a.conv.groups = 1;
    if (depthwise) {
        n->a.conv.groups = shape[2];
        shape[3] *= shape[2];
        shape[2] = 1;
    }
    st = dfd_tensor_alloc_uninit(&n->weight, 4, shape);
    if (st) {
        return dfd_error_set(im->err, st, "%s: node '%s': out of memory", im->path, tf_name(node));
    }
    memcpy(n->weight.data, f->value.data, dfd_tensor_numel(&n->weight) * sizeof(float));
    return fused ? fused_epilogue(im, node, n, 2) : DFD_OK;
}

static dfd_status tr_matmul(importer *im, const cJSON *node, bool fused)
{
    if (attr_bool(node, "transpose_a")) {
        return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED, "%s: node '%s': transpose_a", im->path,
                             tf_name(node));
    }
    int x = value_input(im, node, 0);
    const tfjs_weight *w = x >= 0 ? const_input(im, node, 1) : NULL;
    if (!w) {
        return im->err->code;
    }
    if (w->value.rank != 2) {
        return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s': weights are not 2-D",
                             im->path, tf_name(node));
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, DFD_OP_MATMUL, &x, 1, &n);
    if (st) {
        return st;
    }
    bool tb = attr_bool(node, "transpose_b");
    int r = w->value.shape[0], c = w->value.shape[1];
    int shape[2] = { tb ? c : r, tb ? r : c };
    st = dfd_tensor_alloc(&n->weight, 2, shape);
    if (st) {
        return dfd_error_set(im->err, st, "%s: out of memory", im->path);
    }
    for (int i = 0; i < r; i++) {
        for (int j = 0; j < c; j++) {
            float v = w->value.data[(size_t)i * c + j];
            n->weight.data[tb ? (size_t)j * r + i : (size_t)i * c + j] = v;
        }
    }
    return fused ? fused_epilogue(im, node, n, 2) : DFD_OK;
}

static dfd_status tr_binary(importer *im, const cJSON *node, dfd_op op)
{
    int in[2] = { value_input(im, node, 0), -1 };
    if (in[0] >= 0) {
        in[1] = value_input(im, node, 1);
    }
    if (in[1] < 0) {
        return im->err->code;
    }
    dfd_node *n;
    return add_node(im, node, op, in, 2, &n);
}

static dfd_status tr_act(importer *im, const cJSON *node, const char *op)
{
    int x = value_input(im, node, 0);
    if (x < 0) {
        return im->err->code;
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, DFD_OP_ACT, &x, 1, &n);
    if (st) {
        return st;
    }
    act_of(op, node, &n->act);
    if (n->act.kind == DFD_ACT_PRELU) {
        const tfjs_weight *a = const_input(im, node, 1);
        if (!a) {
            return im->err->code;
        }
        return vector_param(im, &n->alpha, a, node);
    }
    return DFD_OK;
}

static dfd_status tr_pool(importer *im, const cJSON *node, dfd_op op)
{
    int x = value_input(im, node, 0);
    if (x < 0) {
        return im->err->code;
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, op, &x, 1, &n);
    return st ? st : window_attrs(im, node, &n->a.pool, 0, 0);
}

static dfd_status tr_pad(importer *im, const cJSON *node)
{
    int x = value_input(im, node, 0);
    const tfjs_weight *p = x >= 0 ? const_input(im, node, 1) : NULL;
    if (!p) {
        return im->err->code;
    }
    int rank = p->value.shape[0];
    if (p->value.rank != 2 || p->value.shape[1] != 2 || rank > DFD_MAX_RANK) {
        return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s': bad paddings", im->path,
                             tf_name(node));
    }
    float value = 0;
    if (strcmp(tf_op(node), "PadV2") == 0) {
        const tfjs_weight *v = const_input(im, node, 2);
        if (!v) {
            return im->err->code;
        }
        value = v->value.data[0];
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, DFD_OP_PAD, &x, 1, &n);
    if (st) {
        return st;
    }
    for (int i = 0; i < rank; i++) {
        if (!int_const(p, 2 * (size_t)i, &n->a.pad.before[i]) ||
            !int_const(p, 2 * (size_t)i + 1, &n->a.pad.after[i])) {
            return bad_int_const(im, node);
        }
    }
    n->a.pad.value = value;
    return DFD_OK;
}

// Reshape: every computed tensor has the batch first, so a leading 1 or -1 means "the batch"
// (BlazeFace's constants say 1 although the model runs at any batch size); another -1 is the
// size left over.
static dfd_status tr_reshape(importer *im, const cJSON *node)
{
    int x = value_input(im, node, 0);
    const tfjs_weight *s = x >= 0 ? const_input(im, node, 1) : NULL;
    if (!s) {
        return im->err->code;
    }
    int rank = (int)dfd_tensor_numel(&s->value);
    if (s->value.rank != 1 || rank < 1 || rank > DFD_MAX_RANK) {
        return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED, "%s: node '%s': reshape to rank %d",
                             im->path, tf_name(node), rank);
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, DFD_OP_RESHAPE, &x, 1, &n);
    if (st) {
        return st;
    }
    n->a.reshape.rank = rank;
    for (int i = 0; i < rank; i++) {
        int d;
        if (!int_const(s, (size_t)i, &d)) {
            return bad_int_const(im, node);
        }
        n->a.reshape.shape[i] = i == 0 && (d == 1 || d == -1) ? DFD_BATCH : (d == -1 ? -2 : d);
    }
    return DFD_OK;
}

static dfd_status tr_squeeze(importer *im, const cJSON *node)
{
    int x = value_input(im, node, 0);
    if (x < 0) {
        return im->err->code;
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, DFD_OP_RESHAPE, &x, 1, &n);
    if (st) {
        return st;
    }
    long dims[DFD_MAX_RANK];
    int k = attr_ints(node, "squeeze_dims", dims, DFD_MAX_RANK);
    if (k < 0) {
        k = attr_ints(node, "axis", dims, DFD_MAX_RANK);
    }
    n->a.reshape.squeeze = DFD_SQUEEZE_ALL;
    if (k > 0) {
        n->a.reshape.squeeze = 0;
        for (int i = 0; i < k; i++) {
            if (dims[i] <= 0 || dims[i] >= DFD_MAX_RANK) {
                return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED,
                                     "%s: node '%s': squeeze of dimension %ld", im->path,
                                     tf_name(node), dims[i]);
            }
            n->a.reshape.squeeze |= 1u << dims[i];
        }
    }
    return DFD_OK;
}

static dfd_status tr_mean(importer *im, const cJSON *node)
{
    int x = value_input(im, node, 0);
    const tfjs_weight *ax = x >= 0 ? const_input(im, node, 1) : NULL;
    if (!ax) {
        return im->err->code;
    }
    unsigned mask = 0;
    for (size_t i = 0; i < dfd_tensor_numel(&ax->value); i++) {
        int a;
        if (!int_const(ax, i, &a) || a < -4 || a > 3) {
            return bad_int_const(im, node);
        }
        mask |= 1u << (a < 0 ? a + 4 : a);
    }
    if (mask != 6u) {
        return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED,
                             "%s: node '%s': mean over axes other than H and W", im->path,
                             tf_name(node));
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, DFD_OP_MEAN, &x, 1, &n);
    if (!st) {
        n->a.mean.keep_dims = attr_bool(node, "keep_dims");
    }
    return st;
}

static dfd_status tr_concat(importer *im, const cJSON *node)
{
    int k = n_inputs(node) - 1; // the last input is the axis
    if (k < 1 || k > DFD_NODE_MAX_INPUTS) {
        return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED, "%s: node '%s': concat of %d inputs",
                             im->path, tf_name(node), k);
    }
    int in[DFD_NODE_MAX_INPUTS];
    for (int i = 0; i < k; i++) {
        if ((in[i] = value_input(im, node, i)) < 0) {
            return im->err->code;
        }
    }
    const tfjs_weight *ax = const_input(im, node, k);
    if (!ax) {
        return im->err->code;
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, DFD_OP_CONCAT, in, k, &n);
    if (!st) {
        if (!int_const(ax, 0, &n->a.concat.axis)) {
            return bad_int_const(im, node);
        }
    }
    return st;
}

static dfd_status tr_resize(importer *im, const cJSON *node)
{
    int x = value_input(im, node, 0);
    const tfjs_weight *sz = x >= 0 ? const_input(im, node, 1) : NULL;
    if (!sz) {
        return im->err->code;
    }
    if (dfd_tensor_numel(&sz->value) != 2) {
        return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: node '%s': bad resize size", im->path,
                             tf_name(node));
    }
    dfd_node *n;
    dfd_status st = add_node(im, node, DFD_OP_RESIZE_BILINEAR, &x, 1, &n);
    if (!st) {
        if (!int_const(sz, 0, &n->a.resize.out_h) || !int_const(sz, 1, &n->a.resize.out_w)) {
            return bad_int_const(im, node);
        }
        n->a.resize.align_corners = attr_bool(node, "align_corners");
        n->a.resize.half_pixel_centers = attr_bool(node, "half_pixel_centers");
    }
    return st;
}

static dfd_status translate(importer *im, const cJSON *node)
{
    const char *op = tf_op(node);
    dfd_act act;
    if (strcmp(op, "Const") == 0 || strcmp(op, "Placeholder") == 0 || strcmp(op, "Identity") == 0 ||
        strcmp(op, "StopGradient") == 0 || strcmp(op, "NoOp") == 0) {
        return DFD_OK;
    }
    if (strcmp(op, "Conv2D") == 0) {
        return tr_conv(im, node, false, false);
    }
    if (strcmp(op, "_FusedConv2D") == 0) {
        return tr_conv(im, node, false, true);
    }
    if (strcmp(op, "DepthwiseConv2dNative") == 0) {
        return tr_conv(im, node, true, false);
    }
    if (strcmp(op, "FusedDepthwiseConv2dNative") == 0) {
        return tr_conv(im, node, true, true);
    }
    if (strcmp(op, "MatMul") == 0) {
        return tr_matmul(im, node, false);
    }
    if (strcmp(op, "_FusedMatMul") == 0) {
        return tr_matmul(im, node, true);
    }
    if (strcmp(op, "Add") == 0 || strcmp(op, "AddV2") == 0 || strcmp(op, "BiasAdd") == 0) {
        return tr_binary(im, node, DFD_OP_ADD);
    }
    if (strcmp(op, "Sub") == 0) {
        return tr_binary(im, node, DFD_OP_SUB);
    }
    if (strcmp(op, "Mul") == 0) {
        return tr_binary(im, node, DFD_OP_MUL);
    }
    if (strcmp(op, "Maximum") == 0) {
        return tr_binary(im, node, DFD_OP_MAXIMUM);
    }
    if (strcmp(op, "Minimum") == 0) {
        return tr_binary(im, node, DFD_OP_MINIMUM);
    }
    if (act_of(op, node, &act)) {
        return tr_act(im, node, op);
    }
    if (strcmp(op, "Softmax") == 0) {
        int x = value_input(im, node, 0);
        dfd_node *n;
        return x < 0 ? im->err->code : add_node(im, node, DFD_OP_SOFTMAX, &x, 1, &n);
    }
    if (strcmp(op, "MaxPool") == 0) {
        return tr_pool(im, node, DFD_OP_MAXPOOL);
    }
    if (strcmp(op, "AvgPool") == 0) {
        return tr_pool(im, node, DFD_OP_AVGPOOL);
    }
    if (strcmp(op, "Pad") == 0 || strcmp(op, "PadV2") == 0) {
        return tr_pad(im, node);
    }
    if (strcmp(op, "Reshape") == 0) {
        return tr_reshape(im, node);
    }
    if (strcmp(op, "Squeeze") == 0) {
        return tr_squeeze(im, node);
    }
    if (strcmp(op, "Mean") == 0) {
        return tr_mean(im, node);
    }
    if (strcmp(op, "ConcatV2") == 0) {
        return tr_concat(im, node);
    }
    if (strcmp(op, "ResizeBilinear") == 0) {
        return tr_resize(im, node);
    }
    return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED, "%s: unsupported op '%s' at node '%s'",
                         im->path, op, tf_name(node));
}

// ---- inputs, outputs, values ----

static dfd_status add_placeholder(importer *im, int i)
{
    const cJSON *node = im->tf[i];
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(attr(node, "shape"), "shape"), "dim");
    int rank = cJSON_GetArraySize(dims), shape[DFD_MAX_RANK];
    if (!cJSON_IsArray(dims) || rank < 1 || rank > DFD_MAX_RANK) {
        return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED, "%s: input '%s' has no usable shape",
                             im->path, tf_name(node));
    }
    for (int k = 0; k < rank; k++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(dims, k), "size");
        long v = cJSON_IsString(s) ? strtol(s->valuestring, NULL, 10)
                                   : (cJSON_IsNumber(s) ? (long)s->valuedouble : -1);
        if (k > 0 && (v < 1 || v > 65536)) {
            return dfd_error_set(im->err, DFD_ERR_UNSUPPORTED,
                                 "%s: input '%s' has an unknown or absurd dimension %d", im->path,
                                 tf_name(node), k);
        }
        shape[k] = k == 0 ? DFD_BATCH : (int)v; // the first dimension is the batch
    }
    dfd_status st = dfd_graph_add_value(im->g, tf_name(node), rank, shape, &im->value_of[i]);
    if (!st) {
        st = dfd_graph_add_input(im->g, im->value_of[i]);
    }
    return st ? dfd_error_set(im->err, st, "%s: out of memory", im->path) : DFD_OK;
}

// Outputs: the signature's, in its order, findable by key and by tensor name; without a
// signature, every computed node that nothing reads.
static dfd_status add_outputs(importer *im, const cJSON *sig)
{
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(sig, "outputs");
    const cJSON *o;
    if (cJSON_IsObject(outs) && cJSON_GetArraySize(outs) > 0) {
        cJSON_ArrayForEach(o, outs)
        {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
            const char *ref = cJSON_IsString(nm) ? nm->valuestring : o->string;
            int i = resolve(im, ref, o);
            if (i < 0) {
                return im->err->code;
            }
            if (im->value_of[i] < 0) {
                return dfd_error_set(im->err, DFD_ERR_FORMAT, "%s: output '%s' is not computed",
                                     im->path, ref);
            }
            const char *aliases[2] = { o->string, ref };
            dfd_status st = dfd_graph_add_output(im->g, im->value_of[i], aliases, 2);
            if (st) {
                return dfd_error_set(im->err, st, "%s: out of memory", im->path);
            }
        }
        return DFD_OK;
    }
    char *read = dfd_calloc((size_t)im->n_tf, 1);
    if (!read) {
        return dfd_error_set(im->err, DFD_ERR_NOMEM, "%s: out of memory", im->path);
    }
    for (int i = 0; i < im->n_tf; i++) {
        for (int k = 0; k < n_inputs(im->tf[i]); k++) {
            const char *ref = input_ref(im->tf[i], k);
            const char *colon = strrchr(ref, ':');
            int j = find_tf(im, ref, colon ? (size_t)(colon - ref) : strlen(ref));
            if (j >= 0) {
                read[j] = 1;
            }
        }
    }
    dfd_status st = DFD_OK;
    for (int i = 0; i < im->n_tf && !st; i++) {
        if (!read[i] && strcmp(tf_op(im->tf[i]), "Const") != 0) {
            int r = resolve(im, tf_name(im->tf[i]), im->tf[i]);
            if (r >= 0 && im->value_of[r] >= 0) {
                const char *alias = tf_name(im->tf[i]);
                st = dfd_graph_add_output(im->g, im->value_of[r], &alias, 1);
            }
        }
    }
    dfd_free(read);
    return st ? dfd_error_set(im->err, st, "%s: out of memory", im->path) : DFD_OK;
}

static const cJSON *find_signature(const cJSON *root)
{
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(root, "signature");
    if (!sig) {
        sig = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(root, "userDefinedMetadata"), "signature");
    }
    return sig;
}

dfd_status dfd_tfjs_load(dfd_graph **out, const char *path, dfd_error *err)
{
    return dfd_tfjs_load_opts(out, path, NULL, err);
}

dfd_status dfd_tfjs_load_opts(dfd_graph **out, const char *path, const dfd_finalize_opts *opts,
                              dfd_error *err)
{
    return dfd_tfjs_load_outputs(out, path, opts, NULL, 0, err);
}

// The named values as outputs after the file's own (those already outputs are skipped).
static dfd_status add_extra_outputs(importer *im, const char *const *names, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const char *colon = strrchr(names[k], ':');
        int i = find_tf(im, names[k], colon ? (size_t)(colon - names[k]) : strlen(names[k]));
        int r = i >= 0 ? resolve(im, names[k], im->tf[i]) : -1;
        if (r < 0 || im->value_of[r] < 0) {
            return dfd_error_set(im->err, DFD_ERR_NOT_FOUND, "%s: no computed value '%s'", im->path,
                                 names[k]);
        }
        if (dfd_graph_find_output(im->g, names[k]) >= 0) {
            continue;
        }
        dfd_status st = dfd_graph_add_output(im->g, im->value_of[r], &names[k], 1);
        if (st) {
            return dfd_error_set(im->err, st, "%s: out of memory", im->path);
        }
    }
    return DFD_OK;
}

dfd_status dfd_tfjs_load_outputs(dfd_graph **out, const char *path, const dfd_finalize_opts *opts,
                                 const char *const *extra_outputs, size_t n_extra, dfd_error *err)
{
    *out = NULL;
    void *text = NULL;
    size_t n;
    dfd_status st = dfd_file_read_all(&text, &n, path, MAX_JSON_BYTES, err);
    if (st) {
        return st;
    }
    importer im = { .path = path, .err = err };
    cJSON *root = cJSON_ParseWithLength(text, n);
    dfd_free(text);
    if (!root) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "%s: not valid JSON (truncated or damaged)",
                             path);
    }
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *topo = cJSON_GetObjectItemCaseSensitive(root, "modelTopology");
    im.nodes = cJSON_GetObjectItemCaseSensitive(topo, "node");
    if (cJSON_IsString(fmt) && strcmp(fmt->valuestring, "graph-model") != 0) {
        st = dfd_error_set(err, DFD_ERR_UNSUPPORTED, "%s: a TF.js %s, not a graph model", path,
                           fmt->valuestring);
        goto done;
    }
    if (!cJSON_IsArray(im.nodes)) {
        st = dfd_error_set(err, DFD_ERR_FORMAT, "%s: no modelTopology.node list", path);
        goto done;
    }
    st = index_nodes(&im);
    if (!st) {
        st = tfjs_weights_load(
            &im.weights, cJSON_GetObjectItemCaseSensitive(root, "weightsManifest"), path, err);
    }
    if (!st && dfd_graph_create(&im.g) != DFD_OK) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", path);
    }
    // Pass 1: a value for every placeholder and every computed node.
    for (int i = 0; !st && i < im.n_tf; i++) {
        const char *op = tf_op(im.tf[i]);
        if (strcmp(op, "Placeholder") == 0) {
            st = add_placeholder(&im, i);
        } else if (strcmp(op, "Const") && strcmp(op, "Identity") && strcmp(op, "StopGradient") &&
                   strcmp(op, "NoOp")) {
            st = dfd_graph_add_value(im.g, tf_name(im.tf[i]), 0, NULL, &im.value_of[i]);
            if (st) {
                st = dfd_error_set(err, st, "%s: node '%s': %s", path, tf_name(im.tf[i]),
                                   dfd_status_str(st));
            }
        }
    }
    // Pass 2: the nodes.
    for (int i = 0; !st && i < im.n_tf; i++) {
        st = translate(&im, im.tf[i]);
    }
    if (!st) {
        st = add_outputs(&im, find_signature(root));
    }
    if (!st) {
        st = add_extra_outputs(&im, extra_outputs, n_extra);
    }
    if (!st) {
        dfd_finalize_opts fo = opts ? *opts : dfd_finalize_opts_default();
        st = dfd_graph_finalize(im.g, &fo, path, err);
    }
done:
    tfjs_weights_free(&im.weights);
    dfd_free(im.tf);
    dfd_free(im.hash);
    dfd_free(im.value_of);
    cJSON_Delete(root);
    if (st) {
        dfd_graph_free(im.g);
        return st;
    }
    *out = im.g;
    return DFD_OK;
}
