// Fast training kernels on oneDNN (C API) for CONV2D (depthwise and grouped as grouped
// convolution) and MATMUL (inner product): one forward-training primitive carrying the fused
// epilogue as post-ops (bias, + residual through 'sum', activation), and the two backward
// primitives, backward-data (the input's gradient) and backward-weights (the weights' and bias'
// gradients), all on NHWC activations as the rest of the engine. Nodes that are plain matrix
// products (matmuls, 1x1 stride-1 convolutions: is_gemm) skip the backward primitives: their
// backward is two oneDNN sgemm calls, measured faster.
//
// Training changes the weights between steps, so unlike the inference kernels (kernels_dnnl.c)
// nothing is copied once: each forward reorders the node's weights into the forward primitive's
// layout and each backward into the backward-data one (a few MB for faceres, against hundreds of
// MB of activations). The weights' gradient comes out in the backward-weights primitive's layout
// and a reorder with a 'sum' post-op adds it into the parameter's gradient, which keeps the
// accumulate-in-place contract without a pass of our own. The activation's derivative and the
// residual's gradient are the reference code (nn_epilogue_backward): one pass over the output.
//
// Thread-safety: a prepared kernel belongs to one autograd session (own stream, memory objects
// and user-mode scratchpad, shared by its primitives, which run one after the other).
#include <dnnl.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/log.h"
#include "kernels_dnnl_act.h"
#include "nn_internal.h"

// One primitive with the memory objects it reads and writes.
typedef struct prim {
    dnnl_primitive_t p;
    dnnl_exec_arg_t args[8];
    int n_args;
} prim;

// Reorder of the node's weights (or of a gradient) between two layouts; `p` NULL when the
// layouts are equal and a copy (or an add) does.
typedef struct wreorder {
    prim r;
    dnnl_memory_t from, to;
    size_t bytes;
} wreorder;

struct nn_train_fast {
    const dfd_node *node;
    bool act_in_primitive; // the activation is an eltwise post-op; else a pass from a->pre
    bool gemm_bwd;         // backward as plain GEMMs (is_gemm); no backward primitives
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    prim fwd, bwd_data, bwd_weights;
    dnnl_memory_t src, dst, diff_src, diff_dst, src_bw, diff_dst_bw; // data handles set per run
    dnnl_memory_t w_fwd, w_bwd, dw, db, bias, scratch;
    wreorder to_fwd, to_bwd, add_dw; // user weights -> each layout; dw -> the param's gradient
    void *w_fwd_buf, *w_bwd_buf, *dw_buf, *scratch_buf;
    float *db_buf; // [OC]
    bool has_bias;
};

static void prim_free(prim *p)
{
    if (p->p) {
        dnnl_primitive_destroy(p->p);
    }
}

static void wreorder_free(wreorder *w)
{
    prim_free(&w->r);
    if (w->from) {
        dnnl_memory_destroy(w->from);
    }
    if (w->to) {
        dnnl_memory_destroy(w->to);
    }
}

void nn_train_fast_free(nn_train_fast *f)
{
    if (!f) {
        return;
    }
    prim_free(&f->fwd);
    prim_free(&f->bwd_data);
    prim_free(&f->bwd_weights);
    wreorder_free(&f->to_fwd);
    wreorder_free(&f->to_bwd);
    wreorder_free(&f->add_dw);
    dnnl_memory_t mems[] = { f->src,    f->dst,         f->diff_src, f->diff_dst,
                             f->src_bw, f->diff_dst_bw, f->w_fwd,    f->w_bwd,
                             f->dw,     f->db,          f->bias,     f->scratch };
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++) {
        if (mems[i]) {
            dnnl_memory_destroy(mems[i]);
        }
    }
    if (f->stream) {
        dnnl_stream_destroy(f->stream);
    }
    if (f->engine) {
        dnnl_engine_destroy(f->engine);
    }
    dfd_aligned_free(f->w_fwd_buf);
    dfd_aligned_free(f->w_bwd_buf);
    dfd_aligned_free(f->dw_buf);
    dfd_aligned_free(f->scratch_buf);
    dfd_aligned_free(f->db_buf);
    dfd_free(f);
}

static void arg(prim *p, int which, dnnl_memory_t m)
{
    p->args[p->n_args].arg = which;
    p->args[p->n_args].memory = m;
    p->n_args++;
}

static dnnl_status_t mem(dnnl_memory_t *m, const dnnl_memory_desc_t *md, dnnl_engine_t e,
                         void *data)
{
    return dnnl_memory_create(m, md, e, data ? data : DNNL_MEMORY_NONE);
}

// A buffer and memory object in the layout `md`.
static dnnl_status_t owned_mem(dnnl_memory_t *m, void **buf, const dnnl_memory_desc_t *md,
                               dnnl_engine_t e)
{
    *buf = dfd_aligned_alloc(dnnl_memory_desc_get_size(md) + DFD_ALIGN);
    return *buf ? mem(m, md, e, *buf) : dnnl_out_of_memory;
}

// A user-mode-scratchpad primitive from an op descriptor (post-ops optional); grows the shared
// scratchpad size to fit.
static dnnl_status_t make_pd(dnnl_primitive_desc_t *pd, const void *op_desc,
                             const_dnnl_post_ops_t po, dnnl_engine_t e,
                             const_dnnl_primitive_desc_t hint, size_t *scratch_bytes)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success) {
        s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    }
    if (s == dnnl_success && po) {
        s = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_desc_create(pd, op_desc, attr, e, hint);
    }
    if (s == dnnl_success) {
        const dnnl_memory_desc_t *sp =
            dnnl_primitive_desc_query_md(*pd, dnnl_query_scratchpad_md, 0);
        size_t b = sp ? dnnl_memory_desc_get_size(sp) : 0;
        *scratch_bytes = b > *scratch_bytes ? b : *scratch_bytes;
    }
    if (attr) {
        dnnl_primitive_attr_destroy(attr);
    }
    return s;
}

// A reorder from layout `from_md` to `to_md`, adding into the destination when `sum`.
static dnnl_status_t make_reorder(wreorder *w, nn_train_fast *f, const dnnl_memory_desc_t *from_md,
                                  const dnnl_memory_desc_t *to_md, bool sum)
{
    dnnl_status_t s = mem(&w->from, from_md, f->engine, NULL);
    if (s == dnnl_success) {
        s = mem(&w->to, to_md, f->engine, NULL);
    }
    w->bytes = dnnl_memory_desc_get_size(to_md);
    if (s != dnnl_success || (!sum && dnnl_memory_desc_equal(from_md, to_md))) {
        return s; // a plain copy does
    }
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success && sum) {
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success) {
            s = dnnl_post_ops_append_sum(po, 1.f);
        }
        if (s == dnnl_success) {
            s = dnnl_primitive_attr_set_post_ops(attr, po);
        }
    }
    if (s == dnnl_success) {
        s = dnnl_reorder_primitive_desc_create(&pd, from_md, f->engine, to_md, f->engine, attr);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_create(&w->r.p, pd);
    }
    if (s == dnnl_success) {
        arg(&w->r, DNNL_ARG_FROM, w->from);
        arg(&w->r, DNNL_ARG_TO, w->to);
    }
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

// Descriptors of one node's tensors as oneDNN sees them.
typedef struct descs {
    dnnl_memory_desc_t src, dst, bias, w_any, w_user;
} descs;

// x: (N, H, W, IC) NHWC; weight (KH, KW, IC/G, OC) = oneDNN hwio, or for groups
// (G, OC/G, IC/G, KH, KW) in tag hwigo (the same memory).
static dnnl_status_t conv_descs(descs *d, const nn_args *a)
{
    const dfd_node *n = a->node;
    const dfd_tensor *x = a->in[0], *y = a->out;
    const dfd_window *w = &n->a.conv.win;
    const int G = n->a.conv.groups, IC = x->shape[3], OC = y->shape[3];
    dnnl_dims_t sd = { x->shape[0], IC, x->shape[1], x->shape[2] };
    dnnl_dims_t dd = { y->shape[0], OC, y->shape[1], y->shape[2] };
    dnnl_dims_t bd = { OC };
    dnnl_dims_t wd = { OC, IC, w->kh, w->kw }, gwd = { G, OC / G, IC / G, w->kh, w->kw };
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(&d->src, 4, sd, dnnl_f32, dnnl_nhwc)) ||
        (s = dnnl_memory_desc_init_by_tag(&d->dst, 4, dd, dnnl_f32, dnnl_nhwc)) ||
        (s = dnnl_memory_desc_init_by_tag(&d->bias, 1, bd, dnnl_f32, dnnl_a))) {
        return s;
    }
    if (G == 1) {
        s = dnnl_memory_desc_init_by_tag(&d->w_any, 4, wd, dnnl_f32, dnnl_format_tag_any);
        return s ? s : dnnl_memory_desc_init_by_tag(&d->w_user, 4, wd, dnnl_f32, dnnl_hwio);
    }
    s = dnnl_memory_desc_init_by_tag(&d->w_any, 5, gwd, dnnl_f32, dnnl_format_tag_any);
    return s ? s : dnnl_memory_desc_init_by_tag(&d->w_user, 5, gwd, dnnl_f32, dnnl_hwigo);
}

// x: (M, K); weight (K, OC) is oneDNN's {OC, K} in tag ba.
static dnnl_status_t matmul_descs(descs *d, const nn_args *a)
{
    const int M = a->in[0]->shape[0], K = a->in[0]->shape[1], OC = a->out->shape[1];
    dnnl_dims_t sd = { M, K }, dd = { M, OC }, wd = { OC, K }, bd = { OC };
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_tag(&d->src, 2, sd, dnnl_f32, dnnl_ab)) ||
        (s = dnnl_memory_desc_init_by_tag(&d->dst, 2, dd, dnnl_f32, dnnl_ab)) ||
        (s = dnnl_memory_desc_init_by_tag(&d->bias, 1, bd, dnnl_f32, dnnl_a)) ||
        (s = dnnl_memory_desc_init_by_tag(&d->w_any, 2, wd, dnnl_f32, dnnl_format_tag_any))) {
        return s;
    }
    return dnnl_memory_desc_init_by_tag(&d->w_user, 2, wd, dnnl_f32, dnnl_ba);
}

// The three operation descriptors of a node (one union per direction).
typedef union op_desc {
    dnnl_convolution_desc_t conv;
    dnnl_inner_product_desc_t ip;
} op_desc;

static dnnl_status_t op_descs(op_desc *fwd, op_desc *bwd_d, op_desc *bwd_w, const nn_args *a,
                              const descs *d)
{
    const dfd_node *n = a->node;
    const dnnl_memory_desc_t *bias = n->bias.rank ? &d->bias : NULL;
    dnnl_status_t s;
    if (n->op == DFD_OP_MATMUL) {
        if ((s = dnnl_inner_product_forward_desc_init(&fwd->ip, dnnl_forward_training, &d->src,
                                                      &d->w_any, bias, &d->dst)) ||
            (s = dnnl_inner_product_backward_data_desc_init(&bwd_d->ip, &d->src, &d->w_any,
                                                            &d->dst))) {
            return s;
        }
        return dnnl_inner_product_backward_weights_desc_init(&bwd_w->ip, &d->src, &d->w_any, bias,
                                                             &d->dst);
    }
    const dfd_window *w = &n->a.conv.win;
    dnnl_dims_t strides = { w->sh, w->sw }, dil = { w->dh - 1, w->dw - 1 };
    dnnl_dims_t pad_l = { w->pads[0], w->pads[2] }, pad_r = { w->pads[1], w->pads[3] };
    if ((s = dnnl_dilated_convolution_forward_desc_init(
             &fwd->conv, dnnl_forward_training, dnnl_convolution_direct, &d->src, &d->w_any, bias,
             &d->dst, strides, dil, pad_l, pad_r)) ||
        (s = dnnl_dilated_convolution_backward_data_desc_init(&bwd_d->conv, dnnl_convolution_direct,
                                                              &d->src, &d->w_any, &d->dst, strides,
                                                              dil, pad_l, pad_r))) {
        return s;
    }
    return dnnl_dilated_convolution_backward_weights_desc_init(
        &bwd_w->conv, dnnl_convolution_direct, &d->src, &d->w_any, bias, &d->dst, strides, dil,
        pad_l, pad_r);
}

// The backward primitives' memory: their weights' layout (a reorder from ours at each run),
// the weights' gradient in theirs (a reorder adds it into the parameter's), the bias gradient.
static dnnl_status_t prepare_backward(nn_train_fast *f, const descs *d,
                                      const_dnnl_primitive_desc_t dpd,
                                      const_dnnl_primitive_desc_t wpd)
{
    const dnnl_memory_desc_t *w_bwd = dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dw = dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0);
    dnnl_status_t s;
    if ((s = owned_mem(&f->w_bwd, &f->w_bwd_buf, w_bwd, f->engine)) ||
        (s = owned_mem(&f->dw, &f->dw_buf, dw, f->engine)) ||
        (s = make_reorder(&f->to_bwd, f, &d->w_user, w_bwd, false)) ||
        (s = make_reorder(&f->add_dw, f, dw, &d->w_user, true)) ||
        (s = mem(&f->diff_src, &d->src, f->engine, NULL)) ||
        (s = mem(&f->diff_dst, &d->dst, f->engine, NULL)) ||
        (s = mem(&f->src_bw, &d->src, f->engine, NULL)) ||
        (s = mem(&f->diff_dst_bw, &d->dst, f->engine, NULL))) {
        return s;
    }
    if (f->has_bias) {
        f->db_buf = dfd_aligned_alloc(f->node->bias.shape[0] * sizeof(float));
        if (!f->db_buf) {
            return dnnl_out_of_memory;
        }
        return mem(&f->db, &d->bias, f->engine, f->db_buf);
    }
    return dnnl_success;
}

static void backward_args(nn_train_fast *f)
{
    arg(&f->bwd_data, DNNL_ARG_DIFF_DST, f->diff_dst);
    arg(&f->bwd_data, DNNL_ARG_WEIGHTS, f->w_bwd);
    arg(&f->bwd_data, DNNL_ARG_DIFF_SRC, f->diff_src);
    arg(&f->bwd_weights, DNNL_ARG_SRC, f->src_bw);
    arg(&f->bwd_weights, DNNL_ARG_DIFF_DST, f->diff_dst_bw);
    arg(&f->bwd_weights, DNNL_ARG_DIFF_WEIGHTS, f->dw);
    if (f->has_bias) {
        arg(&f->bwd_weights, DNNL_ARG_DIFF_BIAS, f->db);
    }
    if (f->scratch) {
        arg(&f->bwd_data, DNNL_ARG_SCRATCHPAD, f->scratch);
        arg(&f->bwd_weights, DNNL_ARG_SCRATCHPAD, f->scratch);
    }
}

// A MATMUL, or a CONV2D that is one: 1x1, stride 1, no padding, one group, so that over the
// rows M (N*H*W pixels, or the batch) y = x [M, IC] . W [IC, OC] with the weights in our own
// layout. Its backward is then two GEMMs and a GEMV, which oneDNN's sgemm runs near the
// machine's peak, faster than its convolution backward primitives on these shapes (on faceres
// at batch 16, one thread: 1x1 layers 1.3-3x faster), and they add into the parameter's and the
// input's gradients in place (beta = 1): no reorders, no temporary. The bias gradient is a
// per-channel sum (nn_bias_backward).
static bool is_gemm(const dfd_node *n)
{
    const dfd_window *w = &n->a.conv.win;
    return n->op == DFD_OP_MATMUL ||
           (n->op == DFD_OP_CONV2D && n->a.conv.groups == 1 && w->kh == 1 && w->kw == 1 &&
            w->sh == 1 && w->sw == 1 && !w->pads[0] && !w->pads[1] && !w->pads[2] && !w->pads[3]);
}

static dnnl_status_t prepare(nn_train_fast *f, const nn_args *a)
{
    const dfd_node *n = a->node;
    descs d;
    op_desc fwd, bwd_d, bwd_w;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
    size_t scratch = 0;
    dnnl_status_t s = n->op == DFD_OP_CONV2D ? conv_descs(&d, a) : matmul_descs(&d, a);
    if (s == dnnl_success) {
        s = op_descs(&fwd, &bwd_d, &bwd_w, a, &d);
    }
    // Forward epilogue: bias in the primitive, the residual through 'sum' (the forward copies
    // it into the destination first), then the activation unless it needs the pre-activation.
    f->act_in_primitive = n->act.kind != DFD_ACT_NONE && !nn_act_needs_pre(&n->act);
    if (s == dnnl_success) {
        s = dnnl_post_ops_create(&po);
    }
    if (s == dnnl_success && n->residual >= 0) {
        s = dnnl_post_ops_append_sum(po, 1.f);
    }
    if (s == dnnl_success && f->act_in_primitive) {
        s = nn_dnnl_append_eltwise(po, &n->act);
    }
    if (s == dnnl_success) {
        s = make_pd(&fpd, &fwd, po, f->engine, NULL, &scratch);
    }
    f->gemm_bwd = is_gemm(n);
    if (s == dnnl_success && !f->gemm_bwd) {
        s = make_pd(&dpd, &bwd_d, NULL, f->engine, fpd, &scratch);
    }
    if (s == dnnl_success && !f->gemm_bwd) {
        s = make_pd(&wpd, &bwd_w, NULL, f->engine, fpd, &scratch);
    }
    if (s == dnnl_success) {
        s = dnnl_primitive_create(&f->fwd.p, fpd);
    }
    if (s == dnnl_success && !f->gemm_bwd) {
        s = dnnl_primitive_create(&f->bwd_data.p, dpd);
    }
    if (s == dnnl_success && !f->gemm_bwd) {
        s = dnnl_primitive_create(&f->bwd_weights.p, wpd);
    }
    if (s != dnnl_success) {
        goto done;
    }
    const dnnl_memory_desc_t *w_fwd = dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0);
    f->has_bias = n->bias.rank > 0;
    if ((s = owned_mem(&f->w_fwd, &f->w_fwd_buf, w_fwd, f->engine)) ||
        (s = make_reorder(&f->to_fwd, f, &d.w_user, w_fwd, false)) ||
        (s = mem(&f->src, &d.src, f->engine, NULL)) ||
        (s = mem(&f->dst, &d.dst, f->engine, NULL)) ||
        (f->has_bias && (s = mem(&f->bias, &d.bias, f->engine, n->bias.data)))) {
        goto done;
    }
    if (!f->gemm_bwd && (s = prepare_backward(f, &d, dpd, wpd))) {
        goto done;
    }
    if (scratch) {
        dnnl_memory_desc_t sp;
        dnnl_dims_t sd = { (dnnl_dim_t)scratch };
        if ((s = dnnl_memory_desc_init_by_tag(&sp, 1, sd, dnnl_u8, dnnl_a)) ||
            (s = owned_mem(&f->scratch, &f->scratch_buf, &sp, f->engine))) {
            goto done;
        }
    }
    arg(&f->fwd, DNNL_ARG_SRC, f->src);
    arg(&f->fwd, DNNL_ARG_WEIGHTS, f->w_fwd);
    arg(&f->fwd, DNNL_ARG_DST, f->dst);
    if (f->has_bias) {
        arg(&f->fwd, DNNL_ARG_BIAS, f->bias);
    }
    if (f->scratch) {
        arg(&f->fwd, DNNL_ARG_SCRATCHPAD, f->scratch);
    }
    if (!f->gemm_bwd) {
        backward_args(f);
    }
    if (dfd_log_enabled(DFD_LOG_DEBUG)) {
        const char *impl[3] = { "", "sgemm", "sgemm" };
        dnnl_primitive_desc_query(fpd, dnnl_query_impl_info_str, 0, &impl[0]);
        if (!f->gemm_bwd) {
            dnnl_primitive_desc_query(dpd, dnnl_query_impl_info_str, 0, &impl[1]);
            dnnl_primitive_desc_query(wpd, dnnl_query_impl_info_str, 0, &impl[2]);
        }
        dfd_log(DFD_LOG_DEBUG, "train '%s': forward %s, backward data %s, backward weights %s",
                n->name, impl[0], impl[1], impl[2]);
    }
done:
    if (po) {
        dnnl_post_ops_destroy(po);
    }
    if (fpd) {
        dnnl_primitive_desc_destroy(fpd);
    }
    if (dpd) {
        dnnl_primitive_desc_destroy(dpd);
    }
    if (wpd) {
        dnnl_primitive_desc_destroy(wpd);
    }
    return s;
}

dfd_status nn_train_fast_prepare(nn_train_fast **out, const nn_args *a, dfd_error *err)
{
    *out = NULL;
    if (a->node->op != DFD_OP_CONV2D && a->node->op != DFD_OP_MATMUL) {
        return DFD_OK;
    }
    nn_train_fast *f = dfd_calloc(1, sizeof *f);
    if (!f) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory", a->node->name);
    }
    f->node = a->node;
    dnnl_status_t s = dnnl_engine_create(&f->engine, dnnl_cpu, 0);
    if (s == dnnl_success) {
        s = dnnl_stream_create(&f->stream, f->engine, dnnl_stream_default_flags);
    }
    if (s == dnnl_success) {
        s = prepare(f, a);
    }
    if (s == dnnl_out_of_memory) {
        nn_train_fast_free(f);
        return dfd_error_set(err, DFD_ERR_NOMEM, "%s: out of memory preparing oneDNN",
                             a->node->name);
    }
    if (s != dnnl_success) {
        dfd_log(DFD_LOG_DEBUG, "oneDNN declined to train node '%s' (status %d): reference kernels",
                a->node->name, (int)s);
        nn_train_fast_free(f);
        return DFD_OK;
    }
    *out = f;
    return DFD_OK;
}

// ---- running ----

static void run(nn_train_fast *f, const prim *p)
{
    dnnl_status_t s = dnnl_primitive_execute(p->p, f->stream, p->n_args, p->args);
    if (s == dnnl_success) {
        s = dnnl_stream_wait(f->stream);
    }
    DFD_ASSERT(s == dnnl_success); // shapes were fixed at preparation: a failure here is a bug
}

// Copy (or add) `from` into `to` through reorder w.
static void reorder(nn_train_fast *f, wreorder *w, const void *from, void *to)
{
    if (!w->r.p) {
        memcpy(to, from, w->bytes);
        return;
    }
    dnnl_memory_set_data_handle(w->from, (void *)(uintptr_t)from);
    dnnl_memory_set_data_handle(w->to, to);
    run(f, &w->r);
}

void nn_train_fast_forward(nn_train_fast *f, const nn_args *a)
{
    const dfd_node *n = a->node;
    // Without the activation in the primitive, it writes the pre-activation (kept when the
    // backward needs it, else straight into the output) and a pass applies the activation.
    dfd_tensor *dst = a->pre ? a->pre : a->out;
    const size_t total = dfd_tensor_numel(a->out);
    reorder(f, &f->to_fwd, n->weight.data, f->w_fwd_buf);
    if (a->residual) {
        memcpy(dst->data, a->residual->data, total * sizeof(float));
    }
    dnnl_memory_set_data_handle(f->src, a->in[0]->data);
    dnnl_memory_set_data_handle(f->dst, dst->data);
    run(f, &f->fwd);
    if (f->act_in_primitive || n->act.kind == DFD_ACT_NONE) {
        return;
    }
    const int c = a->out->shape[a->out->rank - 1];
    const long rows = (long)(total / (size_t)c);
#pragma omp parallel for num_threads(a->n_threads) schedule(static) if (total >= NN_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        float *y = a->out->data + r * c;
        if (dst != a->out) {
            memcpy(y, dst->data + r * c, (size_t)c * sizeof(float));
        }
        nn_act_apply(y, (size_t)c, c, &n->act, n->alpha.data);
    }
}

// The backward of an is_gemm node from dz [M, OC]: dbias += the sums of dz's columns,
// dW [IC, OC] += x' dz, dx [M, IC] (+)= dz W'.
static void gemm_backward(const nn_train_fast *f, const nn_args *a, const float *dz)
{
    const dfd_tensor *x = a->in[0], *y = a->out;
    const dnnl_dim_t oc = y->shape[y->rank - 1], ic = x->shape[x->rank - 1];
    const dnnl_dim_t m = (dnnl_dim_t)(dfd_tensor_numel(y) / (size_t)oc);
    dnnl_status_t s = dnnl_success;
    if (a->dbias) {
        nn_bias_backward(a->dbias, dz, (size_t)m, (int)oc, a->n_threads);
    }
    if (a->dweight) {
        s = dnnl_sgemm('T', 'N', ic, oc, m, 1.0f, x->data, ic, dz, oc, 1.0f, a->dweight, oc);
    }
    if (s == dnnl_success && a->din[0]) {
        s = dnnl_sgemm('N', 'T', m, ic, oc, 1.0f, dz, oc, f->node->weight.data, oc,
                       a->din_acc[0] ? 1.0f : 0.0f, a->din[0]->data, ic);
    }
    DFD_ASSERT(s == dnnl_success); // sizes were checked when the graph was finalized
}

void nn_train_fast_backward(nn_train_fast *f, const nn_args *a)
{
    const float *dz = nn_epilogue_backward(a);
    if (f->gemm_bwd) {
        gemm_backward(f, a, dz);
        nn_residual_backward(a, dz);
        return;
    }
    const dfd_tensor *y = a->out;
    const int oc = y->shape[y->rank - 1];
    if (a->dweight) {
        dnnl_memory_set_data_handle(f->src_bw, a->in[0]->data);
        dnnl_memory_set_data_handle(f->diff_dst_bw, (void *)(uintptr_t)dz);
        run(f, &f->bwd_weights);
        reorder(f, &f->add_dw, f->dw_buf, a->dweight);
        if (a->dbias) {
            for (int o = 0; o < oc; o++) {
                a->dbias[o] += f->db_buf[o];
            }
        }
    } else if (a->dbias) {
        nn_bias_backward(a->dbias, dz, dfd_tensor_numel(y) / (size_t)oc, oc, a->n_threads);
    }
    if (a->din[0]) {
        dfd_tensor *dx = a->din[0];
        const size_t nx = dfd_tensor_numel(dx);
        float *to = a->din_acc[0] ? a->scratch + dfd_tensor_numel(y) : dx->data;
        reorder(f, &f->to_bwd, f->node->weight.data, f->w_bwd_buf);
        dnnl_memory_set_data_handle(f->diff_dst, (void *)(uintptr_t)dz);
        dnnl_memory_set_data_handle(f->diff_src, to);
        run(f, &f->bwd_data);
        if (to != dx->data) {
#pragma omp parallel for num_threads(a->n_threads) schedule(static) if (nx >= NN_PAR_MIN)
            for (size_t i = 0; i < nx; i++) {
                dx->data[i] += to[i];
            }
        }
    }
    nn_residual_backward(a, dz);
}
