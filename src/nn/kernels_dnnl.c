// Fast kernels on oneDNN (C API): CONV2D (depthwise as grouped convolution) and MATMUL (inner
// product), each one primitive with its whole fused epilogue as post-ops, in this order:
// bias, + residual (binary add of a full-shape tensor), activation (eltwise or PReLU); and
// MAXPOOL / AVGPOOL.
// Measured on this machine (docs/PERFORMANCE.md): 1x1 and 3x3 convolutions at 95-100% of the
// FP32 peak, depthwise at 20-35% (memory-bound, 3% of faceres' FLOPs).
//
// Thread-safety: a prepared kernel belongs to one session; each has its own stream, memory
// objects and scratchpad (scratchpad_mode user), so sessions on different threads share nothing
// mutable. Weights are reordered once, at preparation, into the layout the primitive chose.
#include <dnnl.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/log.h"
#include "kernels_dnnl_act.h"
#include "nn_internal.h"

#define MAX_ARGS 8

struct nn_fast {
    const dfd_node *node;
    nn_dwpw_packed *dwpw;      // the fused AVX-512 kernel (no oneDNN primitive then)
    nn_dwpw_packed *im2col;    // the few-input-channels AVX-512 kernel (no primitive either)
    nn_dwpw_packed *firstconv; // the large-kernel few-channel AVX-512 kernel
    bool prelu_after;          // PReLU as a pass over the output after the primitive (see build)
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst, residual; // data handles set at each run
    dnnl_memory_t weights, bias, slopes, scratch;
    void *weights_buf, *scratch_buf;
    dnnl_exec_arg_t args[MAX_ARGS];
    int n_args;
};

const char *nn_fast_kernel(const nn_fast *f)
{
    return f->dwpw ? "dwpw" : f->im2col ? "im2col" : f->firstconv ? "firstconv" : "onednn";
}

void nn_fast_free(nn_fast *f)
{
    if (!f) {
        return;
    }
    dnnl_memory_t mems[7] = { f->src,  f->dst,    f->residual, f->weights,
                              f->bias, f->slopes, f->scratch };
    for (int i = 0; i < 7; i++) {
        if (mems[i]) {
            dnnl_memory_destroy(mems[i]);
        }
    }
    if (f->prim) {
        dnnl_primitive_destroy(f->prim);
    }
    if (f->stream) {
        dnnl_stream_destroy(f->stream);
    }
    if (f->engine) {
        dnnl_engine_destroy(f->engine);
    }
    dfd_aligned_free(f->weights_buf);
    dfd_aligned_free(f->scratch_buf);
    nn_dwpw_packed_free(f->dwpw);
    nn_dwpw_packed_free(f->im2col);
    nn_dwpw_packed_free(f->firstconv);
    dfd_free(f);
}

dnnl_status_t nn_dnnl_append_eltwise(dnnl_post_ops_t po, const dfd_act *a)
{
    switch (a->kind) {
    case DFD_ACT_NONE:
    case DFD_ACT_COUNT:
        return dnnl_success;
    case DFD_ACT_RELU:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f);
    case DFD_ACT_LEAKY_RELU:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, a->alpha, 0.f);
    case DFD_ACT_CLIP:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip,
                                            isinf(a->lo) ? -FLT_MAX : a->lo,
                                            isinf(a->hi) ? FLT_MAX : a->hi);
    case DFD_ACT_ELU:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_elu, a->alpha, 0.f);
    case DFD_ACT_SIGMOID:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_logistic, 0.f, 0.f);
    case DFD_ACT_TANH:
        return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_tanh, 0.f, 0.f);
    case DFD_ACT_PRELU:
        break;
    }
    return dnnl_unimplemented;
}

// The activation of a node as post-ops; `slope_idx` receives the post-op index of a PReLU.
static dnnl_status_t append_act(dnnl_post_ops_t po, const dfd_act *a, int *slope_idx)
{
    if (a->kind == DFD_ACT_PRELU) {
        *slope_idx = dnnl_post_ops_len(po);
        return dnnl_post_ops_append_prelu(po, 1 << 1); // one slope per channel (dimension 1)
    }
    return nn_dnnl_append_eltwise(po, a);
}

static void add_arg(nn_fast *f, int arg, dnnl_memory_t m)
{
    f->args[f->n_args].arg = arg;
    f->args[f->n_args].memory = m;
    f->n_args++;
}

// A memory object over caller data (handle set later when data is NULL).
static dnnl_status_t make_mem(dnnl_memory_t *m, const dnnl_memory_desc_t *md, dnnl_engine_t e,
                              void *data)
{
    return dnnl_memory_create(m, md, e, data ? data : DNNL_MEMORY_NONE);
}

// Copy `user` (in layout user_md) into a new buffer in the layout the primitive wants.
static dnnl_status_t reorder_weights(nn_fast *f, const dnnl_memory_desc_t *want,
                                     const dnnl_memory_desc_t *user_md, const float *user)
{
    dnnl_status_t s;
    size_t bytes = dnnl_memory_desc_get_size(want);
    f->weights_buf = dfd_aligned_alloc(bytes);
    if (!f->weights_buf) {
        return dnnl_out_of_memory;
    }
    if ((s = make_mem(&f->weights, want, f->engine, f->weights_buf)) != dnnl_success) {
        return s;
    }
    if (dnnl_memory_desc_equal(want, user_md)) {
        memcpy(f->weights_buf, user, bytes);
        return dnnl_success;
    }
    dnnl_memory_t from = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    s = make_mem(&from, user_md, f->engine, (void *)(uintptr_t)user);
    if (s == dnnl_success) {
        s = dnnl_reorder_primitive_desc_create(&rpd, user_md, f->engine, want, f->engine, NULL);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_create(&r, rpd);
    }
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, f->weights } };
        s = dnnl_primitive_execute(r, f->stream, 2, args);
    }
    if (s == dnnl_success) {
        s = dnnl_stream_wait(f->stream);
    }
    if (r) {
        dnnl_primitive_destroy(r);
    }
    if (rpd) {
        dnnl_primitive_desc_destroy(rpd);
    }
    if (from) {
        dnnl_memory_destroy(from);
    }
    return s;
}

// Build the primitive from an operation descriptor, with post-ops for n's epilogue, and bind
// every constant argument. `user_w` is the node's weight layout as oneDNN sees it.
// Residual: when the session put the output in the residual's own buffer (the residual dies
// here), the 'sum' post-op adds what is already in dst and keeps the fastest (brgconv) kernels;
// otherwise a binary add of a full-shape tensor, which oneDNN 2.6 runs on older kernels.
// PReLU: oneDNN 2.6 has the post-op but runs every f32 convolution that uses it on its generic
// reference implementation (400-600x slower, measured), so it is a separate pass instead.
static dnnl_status_t build(nn_fast *f, const void *op_desc, const dfd_node *n, bool in_place,
                           const dnnl_memory_desc_t *user_w, const dnnl_memory_desc_t *dst_md,
                           const dnnl_memory_desc_t *bias_md)
{
    dnnl_status_t s;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int residual_idx = -1, slope_idx = -1;
    if ((s = dnnl_primitive_attr_create(&attr)) != dnnl_success ||
        (s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) !=
            dnnl_success ||
        (s = dnnl_post_ops_create(&po)) != dnnl_success) {
        goto done;
    }
    if (n->residual >= 0 && in_place) {
        s = dnnl_post_ops_append_sum(po, 1.f);
    } else if (n->residual >= 0) {
        residual_idx = dnnl_post_ops_len(po);
        s = dnnl_post_ops_append_binary(po, dnnl_binary_add, dst_md);
    }
    if (s != dnnl_success) {
        goto done;
    }
    f->prelu_after = n->act.kind == DFD_ACT_PRELU;
    if ((s = f->prelu_after ? dnnl_success : append_act(po, &n->act, &slope_idx)) != dnnl_success ||
        (s = dnnl_primitive_attr_set_post_ops(attr, po)) != dnnl_success ||
        (s = dnnl_primitive_desc_create(&pd, op_desc, attr, f->engine, NULL)) != dnnl_success ||
        (s = dnnl_primitive_create(&f->prim, pd)) != dnnl_success) {
        goto done;
    }
    // Weights in the primitive's layout; bias and slopes straight from the node.
    s = reorder_weights(f, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), user_w,
                        n->weight.data);
    if (s == dnnl_success && n->bias.rank) {
        s = make_mem(&f->bias, bias_md, f->engine, n->bias.data);
    }
    if (s == dnnl_success && slope_idx >= 0) {
        dnnl_dims_t d = { 1, n->alpha.shape[0], 1, 1 };
        dnnl_memory_desc_t md;
        s = dnnl_memory_desc_init_by_tag(&md, 4, d, dnnl_f32, dnnl_nhwc);
        if (s == dnnl_success) {
            s = make_mem(&f->slopes, &md, f->engine, n->alpha.data);
        }
    }
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sp_bytes = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (s == dnnl_success && sp_bytes) {
        f->scratch_buf = dfd_aligned_alloc(sp_bytes);
        s = f->scratch_buf ? make_mem(&f->scratch, sp, f->engine, f->scratch_buf)
                           : dnnl_out_of_memory;
    }
    if (s != dnnl_success) {
        goto done;
    }
    add_arg(f, DNNL_ARG_SRC, f->src);
    add_arg(f, DNNL_ARG_WEIGHTS, f->weights);
    add_arg(f, DNNL_ARG_DST, f->dst);
    if (f->bias) {
        add_arg(f, DNNL_ARG_BIAS, f->bias);
    }
    if (f->scratch) {
        add_arg(f, DNNL_ARG_SCRATCHPAD, f->scratch);
    }
    if (residual_idx >= 0) {
        if ((s = make_mem(&f->residual, dst_md, f->engine, NULL)) != dnnl_success) {
            goto done;
        }
        add_arg(f, DNNL_ARG_ATTR_MULTIPLE_POST_OP(residual_idx) | DNNL_ARG_SRC_1, f->residual);
    }
    if (slope_idx >= 0) {
        add_arg(f, DNNL_ARG_ATTR_MULTIPLE_POST_OP(slope_idx) | DNNL_ARG_WEIGHTS, f->slopes);
    }
done:
    if (pd) {
        dnnl_primitive_desc_destroy(pd);
    }
    if (po) {
        dnnl_post_ops_destroy(po);
    }
    if (attr) {
        dnnl_primitive_attr_destroy(attr);
    }
    return s;
}

// x: (N, H, W, IC) NHWC; weight (KH, KW, IC/G, OC) = oneDNN hwio, or for groups
// (G, OC/G, IC/G, KH, KW) in tag hwigo (the same memory as TF's depthwise [KH, KW, C, M]).
static dnnl_status_t prepare_conv(nn_fast *f, const nn_args *a)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0], *y = a->out;
    const dfd_window *w = &n->a.conv.win;
    const int G = n->a.conv.groups, IC = x->shape[3], OC = y->shape[3];
    dnnl_memory_desc_t src_md, dst_md, bias_md, w_any, w_user;
    dnnl_dims_t sd = { x->shape[0], IC, x->shape[1], x->shape[2] };
    dnnl_dims_t dd = { y->shape[0], OC, y->shape[1], y->shape[2] };
    dnnl_dims_t bd = { OC };
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(&src_md, 4, sd, dnnl_f32, dnnl_nhwc)) ||
        (s = dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, dnnl_f32, dnnl_nhwc)) ||
        (s = dnnl_memory_desc_init_by_tag(&bias_md, 1, bd, dnnl_f32, dnnl_a))) {
        return s;
    }
    if (G == 1) {
        dnnl_dims_t wd = { OC, IC, w->kh, w->kw };
        s = dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any);
        if (s == dnnl_success) {
            s = dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_hwio);
        }
    } else {
        dnnl_dims_t wd = { G, OC / G, IC / G, w->kh, w->kw };
        s = dnnl_memory_desc_init_by_tag(&w_any, 5, wd, dnnl_f32, dnnl_format_tag_any);
        if (s == dnnl_success) {
            s = dnnl_memory_desc_init_by_tag(&w_user, 5, wd, dnnl_f32, dnnl_hwigo);
        }
    }
    if (s) {
        return s;
    }
    dnnl_dims_t strides = { w->sh, w->sw }, dil = { w->dh - 1, w->dw - 1 };
    dnnl_dims_t pad_l = { w->pads[0], w->pads[2] }, pad_r = { w->pads[1], w->pads[3] };
    dnnl_convolution_desc_t cd;
    s = dnnl_dilated_convolution_forward_desc_init(
        &cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md, &w_any,
        n->bias.rank ? &bias_md : NULL, &dst_md, strides, dil, pad_l, pad_r);
    if (s == dnnl_success) {
        s = make_mem(&f->src, &src_md, f->engine, NULL);
    }
    if (s == dnnl_success) {
        s = make_mem(&f->dst, &dst_md, f->engine, NULL);
    }
    bool in_place = a->residual && a->residual->data == a->out->data;
    return s ? s : build(f, &cd, n, in_place, &w_user, &dst_md, &bias_md);
}

// x: (M, K); weight (K, OC) is oneDNN's {OC, K} in tag ba.
static dnnl_status_t prepare_matmul(nn_fast *f, const nn_args *a)
{
    const dfd_node *n = a->node;
    const int M = a->in[0]->shape[0], K = a->in[0]->shape[1], OC = a->out->shape[1];
    dnnl_memory_desc_t src_md, dst_md, bias_md, w_any, w_user;
    dnnl_dims_t sd = { M, K }, dd = { M, OC }, wd = { OC, K }, bd = { OC };
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_f32, dnnl_ab)) ||
        (s = dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab)) ||
        (s = dnnl_memory_desc_init_by_tag(&bias_md, 1, bd, dnnl_f32, dnnl_a)) ||
        (s = dnnl_memory_desc_init_by_tag(&w_any, 2, wd, dnnl_f32, dnnl_format_tag_any)) ||
        (s = dnnl_memory_desc_init_by_tag(&w_user, 2, wd, dnnl_f32, dnnl_ba))) {
        return s;
    }
    dnnl_inner_product_desc_t ipd;
    s = dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src_md, &w_any,
                                             n->bias.rank ? &bias_md : NULL, &dst_md);
    if (s == dnnl_success) {
        s = make_mem(&f->src, &src_md, f->engine, NULL);
    }
    if (s == dnnl_success) {
        s = make_mem(&f->dst, &dst_md, f->engine, NULL);
    }
    bool in_place = a->residual && a->residual->data == a->out->data;
    return s ? s : build(f, &ipd, n, in_place, &w_user, &dst_md, &bias_md);
}

// x: (N, H, W, C) NHWC -> y: (N, OH, OW, C). TF semantics: padded cells never win a max and
// are not counted in an average (oneDNN's avg_exclude_padding).
static dnnl_status_t prepare_pool(nn_fast *f, const nn_args *a)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0], *y = a->out;
    const dfd_window *w = &n->a.pool;
    dnnl_memory_desc_t src_md, dst_md;
    dnnl_dims_t sd = { x->shape[0], x->shape[3], x->shape[1], x->shape[2] };
    dnnl_dims_t dd = { y->shape[0], y->shape[3], y->shape[1], y->shape[2] };
    dnnl_dims_t strides = { w->sh, w->sw }, kernel = { w->kh, w->kw }, dil = { 0, 0 };
    dnnl_dims_t pad_l = { w->pads[0], w->pads[2] }, pad_r = { w->pads[1], w->pads[3] };
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(&src_md, 4, sd, dnnl_f32, dnnl_nhwc)) ||
        (s = dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, dnnl_f32, dnnl_nhwc))) {
        return s;
    }
    dnnl_pooling_v2_desc_t pd_desc;
    s = dnnl_pooling_v2_forward_desc_init(
        &pd_desc, dnnl_forward_inference,
        n->op == DFD_OP_MAXPOOL ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding, &src_md,
        &dst_md, strides, kernel, dil, pad_l, pad_r);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success) {
        s = dnnl_primitive_attr_create(&attr);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_desc_create(&pd, &pd_desc, attr, f->engine, NULL);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_create(&f->prim, pd);
    }
    const dnnl_memory_desc_t *sp =
        s == dnnl_success ? dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) : NULL;
    size_t sp_bytes = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (s == dnnl_success && sp_bytes) {
        f->scratch_buf = dfd_aligned_alloc(sp_bytes);
        s = f->scratch_buf ? make_mem(&f->scratch, sp, f->engine, f->scratch_buf)
                           : dnnl_out_of_memory;
    }
    if (s == dnnl_success) {
        s = make_mem(&f->src, &src_md, f->engine, NULL);
    }
    if (s == dnnl_success) {
        s = make_mem(&f->dst, &dst_md, f->engine, NULL);
    }
    if (s == dnnl_success) {
        add_arg(f, DNNL_ARG_SRC, f->src);
        add_arg(f, DNNL_ARG_DST, f->dst);
        if (f->scratch) {
            add_arg(f, DNNL_ARG_SCRATCHPAD, f->scratch);
        }
    }
    if (pd) {
        dnnl_primitive_desc_destroy(pd);
    }
    if (attr) {
        dnnl_primitive_attr_destroy(attr);
    }
    return s;
}

dfd_status nn_fast_prepare(nn_fast **out, const nn_args *a, dfd_error *err)
{
    *out = NULL;
    const dfd_op op = a->node->op;
    if (op == DFD_OP_DWPW) {
        if (!nn_dwpw_fast_available()) {
            return DFD_OK; // the reference kernel runs
        }
        nn_fast *f = dfd_calloc(1, sizeof *f);
        if (!f) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", a->node->name);
        }
        f->node = a->node;
        f->dwpw = nn_dwpw_pack(a->node);
        if (!f->dwpw) {
            dfd_free(f);
            return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", a->node->name);
        }
        *out = f;
        return DFD_OK;
    }
    const bool first = nn_dwpw_fast_available() && nn_firstconv_suits(a->node, a->in[0], a->out);
    if (first || (nn_dwpw_fast_available() && nn_im2col_suits(a->node, a->in[0]))) {
        nn_fast *f = dfd_calloc(1, sizeof *f);
        nn_dwpw_packed *p = f ? (first ? nn_firstconv_pack : nn_im2col_pack)(a->node) : NULL;
        if (!p) {
            dfd_free(f);
            return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", a->node->name);
        }
        *(first ? &f->firstconv : &f->im2col) = p;
        f->node = a->node;
        *out = f;
        return DFD_OK;
    }
    if (op != DFD_OP_CONV2D && op != DFD_OP_MATMUL && op != DFD_OP_MAXPOOL &&
        op != DFD_OP_AVGPOOL) {
        return DFD_OK; // no fast kernel: the reference one runs
    }
    nn_fast *f = dfd_calloc(1, sizeof *f);
    if (!f) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", a->node->name);
    }
    f->node = a->node;
    dnnl_status_t s = dnnl_engine_create(&f->engine, dnnl_cpu, 0);
    if (s == dnnl_success) {
        s = dnnl_stream_create(&f->stream, f->engine, dnnl_stream_default_flags);
    }
    if (s == dnnl_success) {
        s = op == DFD_OP_CONV2D   ? prepare_conv(f, a)
            : op == DFD_OP_MATMUL ? prepare_matmul(f, a)
                                  : prepare_pool(f, a);
    }
    if (s == dnnl_out_of_memory) {
        nn_fast_free(f);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory preparing oneDNN",
                             a->node->name);
    }
    if (s != dnnl_success) {
        // A shape or epilogue oneDNN does not implement: fall back to the reference kernel.
        dfd_log(DFD_LOG_DEBUG, "oneDNN declined node '%s' (status %d); using the reference kernel",
                a->node->name, (int)s);
        nn_fast_free(f);
        return DFD_OK;
    }
    *out = f;
    return DFD_OK;
}

void nn_fast_run(nn_fast *f, const nn_args *a)
{
    if (f->dwpw) {
        nn_dwpw_avx512(a, f->dwpw);
        return;
    }
    if (f->im2col) {
        nn_im2col_avx512(a, f->im2col);
        return;
    }
    if (f->firstconv) {
        nn_firstconv_avx512(a, f->firstconv);
        return;
    }
    dnnl_memory_set_data_handle(f->src, a->in[0]->data);
    dnnl_memory_set_data_handle(f->dst, a->out->data);
    if (f->residual) {
        dnnl_memory_set_data_handle(f->residual, a->residual->data);
    }
    dnnl_status_t s = dnnl_primitive_execute(f->prim, f->stream, f->n_args, f->args);
    if (s == dnnl_success) {
        s = dnnl_stream_wait(f->stream);
    }
    DFD_ASSERT(s == dnnl_success); // shapes were fixed at preparation: a failure here is a bug
    if (f->prelu_after) {
        const dfd_tensor *y = a->out;
        const int c = y->shape[y->rank - 1];
        const long rows = (long)(dfd_tensor_numel(y) / (size_t)c);
#pragma omp parallel for num_threads(a->n_threads) schedule(static)
        for (long r = 0; r < rows; r++) {
            nn_act_apply(y->data + r * c, (size_t)c, c, &f->node->act, f->node->alpha.data);
        }
    }
}
