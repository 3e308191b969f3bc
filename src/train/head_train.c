// Training the head on frozen embeddings: see include/dfdetect/train/head_train.h.
#include "dfdetect/train/head_train.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/data/facecache.h"
#include "dfdetect/data/split.h"
#include "dfdetect/detect/backbone.h"
#include "dfdetect/detect/calibrate.h"
#include "dfdetect/detect/head.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/autograd.h"
#include "dfdetect/nn/loss.h"
#include "dfdetect/nn/optim.h"
#include "dfdetect/report/chart.h"
#include "dfdetect/train/metrics.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "dfdetect/util/sha256.h"
#include "head_resume.h"

#define FRAME_WEIGHT 0.5f

dfd_head_train_opts dfd_head_train_opts_default(void)
{
    dfd_head_train_opts o;
    memset(&o, 0, sizeof o);
    o.arch = "gru";
    o.frames = 32;
    o.sampling = DFD_SAMPLING_BURSTS;
    o.margin = 1.3f;
    o.images = DFD_IMAGE_FACES_AUTO;
    // Batch 512, long patience and input dropout: the measured recipe (docs/ACCURACY.md,
    // "Training regime"): +0.02-0.05 held-out AUC on DFDC crops, FF++ unchanged.
    o.epochs = 150;
    o.batch = 512;
    o.lr = 1e-3f;
    o.weight_decay = 1e-2f;
    o.dropout = 0.3f;
    o.input_dropout = 0.2f;
    o.balance = 0.f;
    o.val_split = 0.2;
    o.patience = 15;
    o.seed = 1;
    o.backbone_lr = 1e-4f;
    o.tune_layers = 4;
    o.probe_steps = 0;
    o.augment = true;
    o.checkpoint_every_s = 30;
    return o;
}

void dfd_head_train_result_free(dfd_head_train_result *r)
{
    if (r) {
        dfd_free(r->history);
        dfd_backbone_train_result_free(&r->stage1);
        memset(r, 0, sizeof *r);
    }
}

// The embeddings of every item: feats [n][frames][DIM], len[i] = 0 for items without a face.
typedef struct embeds {
    float *feats;
    int *len;
    size_t n;
    int t;
} embeds;

static void progress(const dfd_head_train_opts *o, const char *stage, size_t done, size_t total)
{
    if (o->progress) {
        o->progress(o->progress_ctx, stage, done, total);
    }
}

static void fill_progress(void *ctx, size_t done, size_t total)
{
    progress(ctx, "faces", done, total);
}

// Open the face cache at the model's preprocessing and fill it with the dataset's files
// (status per file into sts).
static dfd_status cache_fill(dfd_face_cache **cache, dfd_status *sts, const dfd_dataset *ds,
                             const char **paths, const dfd_detector_prep *prep,
                             const dfd_head_train_opts *o, const char *models_dir, dfd_error *err)
{
    dfd_face_cache_opts fo = dfd_face_cache_opts_default();
    fo.face.crop_size = prep->crop_size;
    fo.face.margin = prep->margin;
    fo.sampling = prep->sampling;
    fo.frames = prep->frames;
    fo.image_faces = prep->images;
    fo.models_dir = models_dir;
    // Files run side by side (o->n_threads jobs, 0: one per CPU), so each job's networks get one
    // thread: jobs with all the CPUs each oversubscribe the cores and stall at each other's
    // OpenMP barriers.
    fo.face.n_threads = 1;
    fo.face.detector.n_threads = 1;
    char cache_dir[4096];
    if (o->cache_dir) {
        snprintf(cache_dir, sizeof cache_dir, "%s", o->cache_dir);
    } else {
        dfd_face_cache_dir_default(cache_dir, sizeof cache_dir);
    }
    dfd_head_train_opts oc = *o; // the fill's progress context
    dfd_status st = dfd_face_cache_open(cache, cache_dir, &fo, err);
    for (size_t i = 0; i < ds->n; i++) {
        paths[i] = ds->items[i].path;
    }
    if (!st) {
        st = dfd_face_cache_fill(*cache, paths, ds->n, o->n_threads, sts, NULL, fill_progress, &oc,
                                 err);
    }
    return st;
}

// The embeddings of every item through `tuned` (borrowed), or the pretrained faceres when NULL.
static dfd_status embed_all(embeds *e, const dfd_dataset *ds, const dfd_detector_prep *prep,
                            const dfd_head_train_opts *o, const char *models_dir,
                            const dfd_graph *tuned, dfd_error *err)
{
    char path[4096];
    dfd_face_cache *cache = NULL;
    dfd_graph *g = NULL;
    dfd_backbone *bb = NULL;
    const char **paths = dfd_calloc(ds->n ? ds->n : 1, sizeof *paths);
    dfd_status *sts = dfd_calloc(ds->n ? ds->n : 1, sizeof *sts);
    e->n = ds->n;
    e->t = prep->frames;
    e->len = dfd_calloc(ds->n ? ds->n : 1, sizeof *e->len);
    e->feats = dfd_calloc(ds->n * (size_t)e->t * DFD_BACKBONE_DIM + 1, sizeof *e->feats);
    if (!paths || !sts || !e->len || !e->feats) {
        dfd_free(paths);
        dfd_free(sts);
        return dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory for embeddings");
    }
    dfd_status st = cache_fill(&cache, sts, ds, paths, prep, o, models_dir, err);
    if (!st && !tuned) {
        st = dfd_model_path(path, sizeof path, models_dir, DFD_ROLE_BACKBONE, err);
    }
    if (!st && !tuned) {
        st = dfd_tfjs_load(&g, path, err);
    }
    if (!st) {
        st = dfd_backbone_create(&bb, tuned ? tuned : g, 16, o->n_threads, err);
    }
    dfd_image *crops = dfd_calloc((size_t)e->t, sizeof *crops);
    if (!st && !crops) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    for (size_t i = 0; !st && i < ds->n; i++) {
        progress(o, "embed", i, ds->n);
        if (sts[i]) {
            continue; // unreadable: skipped, counted by the caller
        }
        dfd_face_entry fe;
        memset(&fe, 0, sizeof fe);
        if (dfd_face_cache_get(&fe, cache, paths[i], NULL) || fe.n_ids == 0) {
            dfd_face_entry_free(&fe);
            continue;
        }
        const dfd_cached_identity *id = &fe.ids[0]; // the longest track
        size_t m = id->n < (size_t)e->t ? id->n : (size_t)e->t;
        for (size_t k = 0; k < m; k++) {
            crops[k] = id->faces[k].crop;
        }
        if (m > 0) {
            st = dfd_backbone_embed(e->feats + i * (size_t)e->t * DFD_BACKBONE_DIM, bb, crops, m,
                                    err);
            e->len[i] = (int)m;
        }
        dfd_face_entry_free(&fe);
    }
    progress(o, "embed", ds->n, ds->n);
    dfd_free(crops);
    dfd_backbone_free(bb);
    dfd_graph_free(g);
    dfd_face_cache_close(cache);
    dfd_free(paths);
    dfd_free(sts);
    return st;
}

// Deterministic shuffle (splitmix64).
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void shuffle(size_t *idx, size_t n, uint64_t *s)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next(s) % i);
        size_t tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
}

// Working buffers for one batch.
typedef struct batch_buf {
    float *x, *frame, *seq, *d_frame, *d_seq, *frame_t, *frame_w, *seq_t;
    int *len;
} batch_buf;

static void batch_free(batch_buf *b)
{
    dfd_free(b->x);
    dfd_free(b->frame);
    dfd_free(b->seq);
    dfd_free(b->d_frame);
    dfd_free(b->d_seq);
    dfd_free(b->frame_t);
    dfd_free(b->frame_w);
    dfd_free(b->seq_t);
    dfd_free(b->len);
}

static bool batch_alloc(batch_buf *b, size_t n, int t)
{
    size_t nt = n * (size_t)t;
    b->x = dfd_malloc(nt * DFD_BACKBONE_DIM * sizeof *b->x);
    b->frame = dfd_malloc(nt * sizeof *b->frame);
    b->d_frame = dfd_malloc(nt * sizeof *b->d_frame);
    b->frame_t = dfd_malloc(nt * sizeof *b->frame_t);
    b->frame_w = dfd_malloc(nt * sizeof *b->frame_w);
    b->seq = dfd_malloc(n * sizeof *b->seq);
    b->d_seq = dfd_malloc(n * sizeof *b->d_seq);
    b->seq_t = dfd_malloc(n * sizeof *b->seq_t);
    b->len = dfd_malloc(n * sizeof *b->len);
    return b->x && b->frame && b->d_frame && b->frame_t && b->frame_w && b->seq && b->d_seq &&
           b->seq_t && b->len;
}

// Gather items idx[0..n) into the batch buffers (targets and frame masks too), as sequences of
// the longest item's length: the steps returned. A batch of one-frame items (images) runs one
// step, not the dataset's longest sequence.
static int batch_fill(batch_buf *b, const embeds *e, const dfd_dataset *ds, const size_t *idx,
                      size_t n)
{
    int t = 1;
    for (size_t k = 0; k < n; k++) {
        t = e->len[idx[k]] > t ? e->len[idx[k]] : t;
    }
    const size_t row = (size_t)t * DFD_BACKBONE_DIM, stride = (size_t)e->t * DFD_BACKBONE_DIM;
    for (size_t k = 0; k < n; k++) {
        size_t i = idx[k];
        memcpy(b->x + k * row, e->feats + i * stride, row * sizeof *b->x);
        b->len[k] = e->len[i];
        float y = ds->items[i].label == DFD_LABEL_FAKE ? 1.f : 0.f;
        b->seq_t[k] = y;
        for (int s = 0; s < t; s++) {
            b->frame_t[k * (size_t)t + (size_t)s] = y;
            b->frame_w[k * (size_t)t + (size_t)s] = s < e->len[i] ? 1.f : 0.f;
        }
    }
    return t;
}

// How many of idx[0..n) (at most bs) form the next batch: items of the same length as the first.
static size_t same_length_run(const embeds *e, const size_t *idx, size_t n, size_t bs)
{
    size_t m = 1;
    while (m < n && m < bs && e->len[idx[m]] == e->len[idx[0]]) {
        m++;
    }
    return m;
}

// The loss of the last forward of n items, and (when grads) its gradients into d_seq, d_frame.
static double batch_loss(batch_buf *b, size_t n, int t, bool grads)
{
    dfd_bce_opts fo;
    memset(&fo, 0, sizeof fo);
    fo.sample_weight = b->frame_w;
    float ls = dfd_loss_bce_logits(grads ? b->d_seq : NULL, b->seq, b->seq_t, n, 1, NULL);
    float lf =
        dfd_loss_bce_logits(grads ? b->d_frame : NULL, b->frame, b->frame_t, n * (size_t)t, 1, &fo);
    if (grads) {
        for (size_t k = 0; k < n * (size_t)t; k++) {
            b->d_frame[k] *= FRAME_WEIGHT;
        }
    }
    return (double)ls + (double)FRAME_WEIGHT * (double)lf;
}

typedef struct val_out {
    double loss, auc, acc;
    double cal_loss; // sequence log loss after temperature scaling fitted on these logits
    float *seq;      // n_val sequence logits
    float *frame;    // n_val x t frame logits
} val_out;

static dfd_status evaluate(val_out *v, dfd_head *h, batch_buf *b, const embeds *e,
                           const dfd_dataset *ds, const size_t *idx, size_t n, size_t bs,
                           dfd_error *err)
{
    dfd_head_set_training(h, false);
    double sum = 0;
    for (size_t s = 0, m; s < n; s += m) {
        m = same_length_run(e, idx + s, n - s, bs); // idx is sorted by length (sort_by_length)
        int tb = batch_fill(b, e, ds, idx + s, m);
        dfd_status st = dfd_head_forward(h, b->frame, b->seq, b->x, b->len, (int)m, tb, 0, err);
        if (st) {
            return st;
        }
        sum += batch_loss(b, m, tb, false) * (double)m;
        memcpy(v->seq + s, b->seq, m * sizeof *b->seq);
        for (size_t k = 0; k < m; k++) {
            float *dst = v->frame + (s + k) * (size_t)e->t;
            memcpy(dst, b->frame + k * (size_t)tb, (size_t)tb * sizeof *dst);
            memset(dst + tb, 0, (size_t)(e->t - tb) * sizeof *dst);
        }
    }
    v->loss = sum / (double)n;
    double *p = dfd_malloc(n * sizeof *p);
    uint8_t *y = dfd_malloc(n * sizeof *y);
    if (!p || !y) {
        dfd_free(p);
        dfd_free(y);
        return dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    size_t right = 0;
    for (size_t k = 0; k < n; k++) {
        p[k] = 1.0 / (1.0 + exp(-(double)v->seq[k]));
        y[k] = ds->items[idx[k]].label == DFD_LABEL_FAKE;
        right += (p[k] >= 0.5) == (y[k] == 1);
    }
    v->acc = (double)right / (double)n;
    if (dfd_metrics_auc(&v->auc, p, y, n, NULL)) {
        v->auc = NAN;
    }
    // What the model file will score after calibration: the temperature that suits this epoch's
    // logits, then their log loss. (One label only: no temperature; the raw loss stands in.)
    float *yf = (float *)p, temp = 1.0f; // reuse p's storage: n floats fit in n doubles
    for (size_t k = 0; k < n; k++) {
        yf[k] = (float)y[k];
    }
    v->cal_loss = dfd_temperature_fit(&temp, v->seq, yf, n, NULL) == DFD_OK
                      ? dfd_log_loss_at(v->seq, yf, n, temp)
                      : v->loss;
    dfd_free(p);
    dfd_free(y);
    return DFD_OK;
}

static void fit_norm(dfd_head *h, const embeds *e, const size_t *idx, size_t n)
{
    double *sum = dfd_calloc(2 * DFD_BACKBONE_DIM, sizeof *sum);
    float *mean = dfd_malloc(2 * DFD_BACKBONE_DIM * sizeof *mean);
    if (!sum || !mean) {
        dfd_free(sum);
        dfd_free(mean);
        return; // keeps the identity standardisation
    }
    double cnt = 0;
    for (size_t k = 0; k < n; k++) {
        const float *f = e->feats + idx[k] * (size_t)e->t * DFD_BACKBONE_DIM;
        for (int s = 0; s < e->len[idx[k]]; s++, f += DFD_BACKBONE_DIM) {
            for (int d = 0; d < DFD_BACKBONE_DIM; d++) {
                sum[d] += (double)f[d];
                sum[DFD_BACKBONE_DIM + d] += (double)f[d] * (double)f[d];
            }
            cnt += 1;
        }
    }
    for (int d = 0; d < DFD_BACKBONE_DIM; d++) {
        double m = sum[d] / cnt;
        double var = sum[DFD_BACKBONE_DIM + d] / cnt - m * m;
        mean[d] = (float)m;
        mean[DFD_BACKBONE_DIM + d] = (float)sqrt(var > 0 ? var : 0);
    }
    dfd_head_set_norm(h, mean, mean + DFD_BACKBONE_DIM);
    dfd_free(sum);
    dfd_free(mean);
}

static dfd_status write_metrics(const char *csv, const char *png, const dfd_head_train_result *r,
                                dfd_error *err)
{
    dfd_atomic_file *f = NULL;
    dfd_status st = dfd_atomic_file_open(&f, csv, err);
    if (st) {
        return st;
    }
    FILE *fp = dfd_atomic_file_stream(f);
    fprintf(fp, "epoch,train_loss,val_loss,val_calibrated_loss,val_auc,val_accuracy\n");
    for (int i = 0; i < r->epochs_run; i++) {
        const dfd_head_train_epoch *h = &r->history[i];
        fprintf(fp, "%d,%.6f,%.6f,%.6f,%.6f,%.6f\n", h->epoch, h->train_loss, h->val_loss,
                h->val_calibrated_loss, h->val_auc, h->val_accuracy);
    }
    st = dfd_atomic_file_commit(f, err);
    if (st) {
        return st;
    }
    size_t n = (size_t)r->epochs_run;
    double *v = dfd_malloc(4 * n * sizeof *v);
    if (!v) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        v[i] = (double)r->history[i].epoch;
        v[n + i] = r->history[i].train_loss;
        v[2 * n + i] = r->history[i].val_loss;
        v[3 * n + i] = isfinite(r->history[i].val_auc) ? r->history[i].val_auc : 0.5;
    }
    dfd_line_series s[3] = {
        { .name = "train loss", .x = v, .y = v + n, .n = n, .markers = true },
        { .name = "val loss", .x = v, .y = v + 2 * n, .n = n, .dashed = true, .markers = true },
        { .name = "val AUC", .x = v, .y = v + 3 * n, .n = n, .right_axis = true, .markers = true },
    };
    dfd_line_chart c = dfd_line_chart_default();
    c.series = s;
    c.n_series = 3;
    c.x_integer = true;
    c.y2_min = 0;
    c.y2_max = 1;
    double best = (double)r->best_epoch;
    c.marks = &best;
    c.n_marks = 1;
    c.marks_label = "best epoch";
    dfd_chart_opts co = dfd_chart_opts_default();
    co.title = "dfdetect train: head";
    co.x_label = "epoch";
    co.y_label = "loss";
    co.y2_label = "AUC";
    st = dfd_chart_line_png(png, &c, &co, err);
    dfd_free(v);
    return st;
}

static dfd_status fit_temperatures(dfd_head_train_result *r, const val_out *v, const embeds *e,
                                   const dfd_dataset *ds, const size_t *idx, size_t n)
{
    r->temperature = 1.f;
    r->frame_temperature = 1.f;
    float *y = dfd_malloc(n * (size_t)e->t * sizeof *y);
    float *lf = dfd_malloc(n * (size_t)e->t * sizeof *lf);
    if (!y || !lf) {
        dfd_free(y);
        dfd_free(lf);
        return DFD_ERR_NOMEM;
    }
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        y[k] = ds->items[idx[k]].label == DFD_LABEL_FAKE ? 1.f : 0.f;
    }
    if (dfd_temperature_fit(&r->temperature, v->seq, y, n, NULL)) {
        r->temperature = 1.f; // one class only: leave the logits as they are
    }
    for (size_t k = 0; k < n; k++) {
        float yk = ds->items[idx[k]].label == DFD_LABEL_FAKE ? 1.f : 0.f;
        for (int s = 0; s < e->len[idx[k]]; s++) {
            lf[m] = v->frame[k * (size_t)e->t + (size_t)s];
            y[m++] = yk;
        }
    }
    if (dfd_temperature_fit(&r->frame_temperature, lf, y, m, NULL)) {
        r->frame_temperature = 1.f;
    }
    dfd_free(y);
    dfd_free(lf);
    return DFD_OK;
}

typedef struct trainer {
    const dfd_dataset *ds;
    const dfd_head_train_opts *o;
    embeds e;
    size_t *tr, *va; // item indices of each side
    size_t n_tr, n_va;
    size_t *ep, n_ep; // one epoch's training items: tr with smaller datasets' items repeated
    size_t *batch_at; // where each of an epoch's batches starts in ep
    dfd_head *head;
    dfd_optim *opt;
    dfd_param *const *params;
    size_t n_params;
    float **best; // the best epoch's parameter values
    batch_buf b;
    val_out v;
    int *part;        // the split every stage uses (dfd_split_holdout)
    dfd_graph *tuned; // stage 1's tuned faceres, or NULL
} trainer;

static void trainer_free(trainer *t)
{
    dfd_free(t->e.feats);
    dfd_free(t->e.len);
    dfd_free(t->tr);
    dfd_free(t->va);
    dfd_free(t->ep);
    dfd_free(t->batch_at);
    if (t->best) {
        for (size_t i = 0; i < t->n_params; i++) {
            dfd_free(t->best[i]);
        }
        dfd_free(t->best);
    }
    dfd_optim_destroy(t->opt);
    dfd_head_free(t->head);
    batch_free(&t->b);
    dfd_free(t->v.seq);
    dfd_free(t->v.frame);
    dfd_free(t->part);
    dfd_graph_free(t->tuned);
}

static void params_copy(trainer *t, bool save)
{
    for (size_t i = 0; i < t->n_params; i++) {
        size_t bytes = dfd_param_numel(t->params[i]) * sizeof(float);
        if (save) {
            memcpy(t->best[i], t->params[i]->value, bytes);
        } else {
            memcpy(t->params[i]->value, t->best[i], bytes);
        }
    }
}

static dfd_status split_items(trainer *t, dfd_head_train_result *r, dfd_error *err)
{
    const dfd_dataset *ds = t->ds;
    const int *part = t->part;
    t->tr = dfd_malloc(ds->n * sizeof *t->tr);
    t->va = dfd_malloc(ds->n * sizeof *t->va);
    if (!t->tr || !t->va) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    dfd_status st = DFD_OK;
    size_t n_lab[DFD_LABEL_COUNT] = { 0 };
    for (size_t i = 0; !st && i < ds->n; i++) {
        if (part[i] == DFD_SPLIT_HELDOUT) {
            r->n_heldout++;
        } else if (t->e.len[i] == 0) {
            r->n_skipped++;
        } else if (part[i] == 0) {
            t->tr[t->n_tr++] = i;
            n_lab[ds->items[i].label]++;
        } else {
            t->va[t->n_va++] = i;
        }
    }
    if (t->n_tr < 2 || t->n_va < 2 || !n_lab[0] || !n_lab[1]) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "train: %zu training and %zu validation items with faces (%zu REAL, "
                             "%zu FAKE in training): need at least 2 each and both labels",
                             t->n_tr, t->n_va, n_lab[0], n_lab[1]);
    }
    r->n_train = t->n_tr;
    r->n_val = t->n_va;
    return DFD_OK;
}

// Stable sort of idx[0..n) by sequence length (a counting sort: lengths are 1..e->t).
static bool sort_by_length(size_t *idx, size_t n, const embeds *e)
{
    size_t *count = dfd_calloc((size_t)e->t + 2, sizeof *count);
    size_t *tmp = dfd_malloc((n ? n : 1) * sizeof *tmp);
    if (!count || !tmp) {
        dfd_free(count);
        dfd_free(tmp);
        return false;
    }
    for (size_t k = 0; k < n; k++) {
        count[e->len[idx[k]] + 1]++;
    }
    for (int l = 1; l <= e->t + 1; l++) {
        count[l] += count[l - 1];
    }
    for (size_t k = 0; k < n; k++) {
        tmp[count[e->len[idx[k]]]++] = idx[k];
    }
    memcpy(idx, tmp, n * sizeof *idx);
    dfd_free(count);
    dfd_free(tmp);
    return true;
}

// One epoch's training items (opts.balance): every item of the training side, those of the
// smaller datasets repeated.
static dfd_status epoch_items(trainer *t, dfd_error *err)
{
    size_t n_parts = 1;
    for (size_t k = 0; k < t->n_tr; k++) {
        size_t p = t->ds->items[t->tr[k]].part;
        n_parts = p + 1 > n_parts ? p + 1 : n_parts;
    }
    size_t *count = dfd_calloc(n_parts, sizeof *count), *reps = dfd_calloc(n_parts, sizeof *reps);
    size_t n_max = 0, n_ep = 0;
    for (size_t k = 0; count && k < t->n_tr; k++) {
        size_t c = ++count[t->ds->items[t->tr[k]].part];
        n_max = c > n_max ? c : n_max;
    }
    for (size_t p = 0; count && reps && p < n_parts; p++) {
        double r = count[p] ? pow((double)n_max / (double)count[p], (double)t->o->balance) : 1;
        reps[p] = r < 1.5 ? 1 : (size_t)lround(r);
        n_ep += reps[p] * count[p];
    }
    t->ep = count && reps ? dfd_malloc((n_ep ? n_ep : 1) * sizeof *t->ep) : NULL;
    t->batch_at = t->ep ? dfd_malloc((n_ep ? n_ep : 1) * sizeof *t->batch_at) : NULL;
    for (size_t k = 0; t->ep && k < t->n_tr; k++) {
        for (size_t j = 0; j < reps[t->ds->items[t->tr[k]].part]; j++) {
            t->ep[t->n_ep++] = t->tr[k];
        }
    }
    dfd_free(count);
    dfd_free(reps);
    bool ok = t->batch_at && sort_by_length(t->va, t->n_va, &t->e); // evaluate() wants it
    return ok ? DFD_OK : dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
}

static dfd_status setup(trainer *t, dfd_error *err)
{
    const dfd_head_train_opts *o = t->o;
    dfd_head_opts ho = dfd_head_opts_default();
    ho.seed = o->seed;
    ho.n_threads = o->n_threads;
    ho.dropout = o->dropout;
    ho.input_dropout = o->input_dropout;
    dfd_status st = dfd_head_arch_parse(&ho, o->arch ? o->arch : "gru");
    if (st) {
        return dfd_error_set(err, st, "train: unknown --arch '%s' (gru, lstm, bilstm)", o->arch);
    }
    st = dfd_head_create(&t->head, &ho, err);
    if (st) {
        return st;
    }
    fit_norm(t->head, &t->e, t->tr, t->n_tr);
    st = epoch_items(t, err);
    if (st) {
        return st;
    }
    t->params = dfd_head_params(t->head, &t->n_params);
    dfd_optim_opts oo = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
    oo.lr = o->lr;
    oo.weight_decay = o->weight_decay;
    oo.clip_norm = 5.f;
    st = dfd_optim_create(&t->opt, t->params, t->n_params, &oo, err);
    if (st) {
        return st;
    }
    size_t bs = (size_t)o->batch > t->n_va ? (size_t)o->batch : t->n_va;
    t->best = dfd_calloc(t->n_params, sizeof *t->best);
    t->v.seq = dfd_malloc(t->n_va * sizeof *t->v.seq);
    t->v.frame = dfd_malloc(t->n_va * (size_t)t->e.t * sizeof *t->v.frame);
    if (!t->best || !t->v.seq || !t->v.frame || !batch_alloc(&t->b, bs, t->e.t)) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    for (size_t i = 0; i < t->n_params; i++) {
        t->best[i] = dfd_malloc(dfd_param_numel(t->params[i]) * sizeof(float));
        if (!t->best[i]) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
        }
    }
    return DFD_OK;
}

// One epoch. Batches hold sequences of one length (shuffled, then grouped by length, and the
// batches visited in a shuffled order): a batch of images runs one step of the recurrent
// layer, not the longest video's 32.
static dfd_status train_epoch(trainer *t, double *loss, uint64_t *rng, int epoch, dfd_error *err)
{
    size_t bs = (size_t)t->o->batch, n_b = 0;
    shuffle(t->ep, t->n_ep, rng);
    if (!sort_by_length(t->ep, t->n_ep, &t->e)) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    for (size_t s = 0; s < t->n_ep; s += same_length_run(&t->e, t->ep + s, t->n_ep - s, bs)) {
        t->batch_at[n_b++] = s;
    }
    shuffle(t->batch_at, n_b, rng);
    dfd_head_set_training(t->head, true);
    double sum = 0;
    for (size_t j = 0; j < n_b; j++) {
        size_t s = t->batch_at[j], m = same_length_run(&t->e, t->ep + s, t->n_ep - s, bs);
        int tb = batch_fill(&t->b, &t->e, t->ds, t->ep + s, m);
        uint64_t fseed = t->o->seed * 1000003u + (uint64_t)epoch * 7919u + s;
        dfd_status st = dfd_head_forward(t->head, t->b.frame, t->b.seq, t->b.x, t->b.len, (int)m,
                                         tb, fseed, err);
        if (st) {
            return st;
        }
        sum += batch_loss(&t->b, m, tb, true) * (double)m;
        dfd_params_zero_grad(t->params, t->n_params);
        st = dfd_head_backward(t->head, NULL, t->b.d_frame, t->b.d_seq, err);
        if (st) {
            return st;
        }
        dfd_optim_step(t->opt, NULL);
    }
    *loss = sum / (double)t->n_ep;
    return DFD_OK;
}

// The split every stage uses: made once, before stage 1.
static dfd_status make_split(trainer *t, dfd_error *err)
{
    t->part = dfd_malloc((t->ds->n ? t->ds->n : 1) * sizeof *t->part);
    if (!t->part) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    return dfd_split_holdout(t->part, t->ds, t->o->val_split, t->o->cv_folds, t->o->cv_fold,
                             t->o->seed, err);
}

// Stage 1: fine-tune faceres on the training side's crops into t->tuned.
static dfd_status stage1(trainer *t, dfd_head_train_result *r, const dfd_detector_prep *prep,
                         const char *models_dir, dfd_error *err)
{
    const dfd_head_train_opts *o = t->o;
    const dfd_dataset *ds = t->ds;
    char path[4096];
    dfd_face_cache *cache = NULL;
    const char **paths = dfd_calloc(ds->n ? ds->n : 1, sizeof *paths);
    dfd_status *sts = dfd_calloc(ds->n ? ds->n : 1, sizeof *sts);
    dfd_status st =
        paths && sts ? DFD_OK : dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    if (!st) {
        st = cache_fill(&cache, sts, ds, paths, prep, o, models_dir, err);
    }
    if (!st) {
        st = dfd_model_path(path, sizeof path, models_dir, DFD_ROLE_BACKBONE, err);
    }
    if (!st) {
        dfd_finalize_opts fo = { .fuse = true, .fuse_dwpw = false };
        st = dfd_tfjs_load_opts(&t->tuned, path, &fo, err);
    }
    if (!st) {
        dfd_backbone_train_opts bo = dfd_backbone_train_opts_default();
        bo.epochs = o->backbone_epochs;
        bo.lr = o->backbone_lr;
        bo.head_lr = 10.f * o->backbone_lr;
        bo.tune_layers = o->tune_layers;
        bo.probe_steps = o->probe_steps;
        bo.augment = o->augment;
        bo.seed = o->seed;
        bo.n_threads = o->n_threads;
        bo.progress = o->progress;
        bo.progress_ctx = o->progress_ctx;
        st = dfd_backbone_train_dataset(&r->stage1, t->tuned, ds, t->part, cache,
                                        (size_t)prep->frames, &bo, err);
    }
    dfd_face_cache_close(cache);
    dfd_free(paths);
    dfd_free(sts);
    return st;
}

static dfd_status check_opts(const dfd_head_train_opts *o, dfd_error *err)
{
    if (o->frames < 1 || o->frames > 1024 || o->epochs < 1 || o->batch < 1 || o->patience < 1 ||
        !(o->lr > 0) || !(o->val_split > 0 && o->val_split < 1) || !(o->weight_decay >= 0) ||
        !(o->dropout >= 0 && o->dropout < 1) || !(o->input_dropout >= 0 && o->input_dropout < 1) ||
        !(o->balance >= 0 && o->balance <= 4)) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "train: options out of range (frames 1..1024, epochs, batch and "
                             "patience >= 1, lr > 0, 0 < val split < 1, weight decay >= 0, "
                             "0 <= dropouts < 1, 0 <= balance <= 4)");
    }
    if ((o->name && (!o->name[0] || strlen(o->name) > 63)) ||
        (o->version && (!o->version[0] || strlen(o->version) > 31))) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "train: the model's name must have 1 to 63 bytes and its version 1 "
                             "to 31");
    }
    if (!(o->margin >= 1 && o->margin <= 4) || (unsigned)o->images > DFD_IMAGE_FACES_AUTO ||
        (o->sampling != DFD_SAMPLING_UNIFORM && o->sampling != DFD_SAMPLING_BURSTS)) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "train: preprocessing out of range (margin 1..4, a known image mode "
                             "and sampling policy)");
    }
    if (o->backbone_epochs < 0 || (o->backbone_epochs > 0 && !(o->backbone_lr > 0))) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "train: backbone epochs must be >= 0 and backbone lr > 0");
    }
    if (o->resume && o->backbone_epochs > 0) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "train: --resume continues the head's training only; a run with "
                             "--backbone-epochs starts anew (stage 1 is not checkpointed)");
    }
    if (o->cv_folds != 0 &&
        (o->cv_folds < 2 || o->cv_folds > 1000 || o->cv_fold < 0 || o->cv_fold >= o->cv_folds)) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "train: held-out fold %d of %d folds does not exist (folds 2..1000, "
                             "fold 0..folds-1)",
                             o->cv_fold, o->cv_folds);
    }
    return DFD_OK;
}

// The "training" metadata: how the model was made, and which items it never saw (`dfdetect
// eval --holdout` selects them again from "data" and "holdout").
static char *training_json(const trainer *t, const dfd_head_train_result *r)
{
    const dfd_head_train_opts *o = t->o;
    cJSON *j = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(j, "data");
    for (size_t i = 0; data && i < o->n_data_paths; i++) {
        cJSON_AddItemToArray(data, cJSON_CreateString(o->data_paths[i]));
    }
    cJSON_AddStringToObject(j, "stage", t->tuned ? "backbone+head" : "head");
    if (t->tuned) {
        cJSON *b = cJSON_AddObjectToObject(j, "backbone");
        cJSON_AddNumberToObject(b, "epochs", r->stage1.epochs_run);
        cJSON_AddNumberToObject(b, "best_epoch", r->stage1.best_epoch);
        cJSON_AddNumberToObject(b, "lr", (double)o->backbone_lr);
        cJSON_AddNumberToObject(b, "tune_layers", o->tune_layers);
        cJSON_AddNumberToObject(b, "probe_steps", o->probe_steps);
        cJSON_AddBoolToObject(b, "augment", o->augment);
        cJSON_AddNumberToObject(b, "val_frame_loss", r->stage1.best.val_loss);
        cJSON_AddNumberToObject(b, "val_frame_auc",
                                isfinite(r->stage1.best.val_auc) ? r->stage1.best.val_auc : 0.5);
    }
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    if (o->cv_folds > 0) {
        cJSON *h = cJSON_AddObjectToObject(j, "holdout");
        cJSON_AddNumberToObject(h, "folds", o->cv_folds);
        cJSON_AddNumberToObject(h, "fold", o->cv_fold);
        cJSON_AddNumberToObject(h, "seed", (double)o->seed);
        cJSON_AddNumberToObject(h, "n", (double)r->n_heldout);
    }
    cJSON_AddNumberToObject(j, "epochs", r->epochs_run);
    cJSON_AddNumberToObject(j, "best_epoch", r->best_epoch);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "lr", (double)o->lr);
    cJSON_AddNumberToObject(j, "weight_decay", (double)o->weight_decay);
    cJSON_AddNumberToObject(j, "dropout", (double)o->dropout);
    cJSON_AddNumberToObject(j, "input_dropout", (double)o->input_dropout);
    cJSON_AddNumberToObject(j, "balance", (double)o->balance);
    cJSON_AddNumberToObject(j, "val_split", o->val_split);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    cJSON_AddNumberToObject(j, "n_train", (double)r->n_train);
    cJSON_AddNumberToObject(j, "n_val", (double)r->n_val);
    cJSON_AddNumberToObject(j, "val_loss", r->best.val_loss);
    cJSON_AddNumberToObject(j, "val_calibrated_loss", r->best.val_calibrated_loss);
    cJSON_AddNumberToObject(j, "val_auc", isfinite(r->best.val_auc) ? r->best.val_auc : 0.5);
    cJSON_AddNumberToObject(j, "val_accuracy", r->best.val_accuracy);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static dfd_status save_model(const trainer *t, const dfd_head_train_result *r,
                             const dfd_detector_prep *prep, const char *models_dir,
                             const char *out_path, dfd_error *err)
{
    char path[4096];
    uint8_t dig[DFD_SHA256_BYTES];
    dfd_detector_model m;
    memset(&m, 0, sizeof m);
    dfd_status st = dfd_model_path(path, sizeof path, models_dir, DFD_ROLE_BACKBONE, err);
    if (!st) {
        st = dfd_sha256_file(dig, NULL, path, err);
    }
    if (st) {
        return st;
    }
    dfd_sha256_hex(m.backbone_sha256, dig);
    m.head = t->head;
    m.prep = *prep;
    m.temperature = r->temperature;
    m.frame_temperature = r->frame_temperature;
    m.threshold = 0.5f;
    const dfd_head_train_opts *o = t->o;
    if (o->name) {
        snprintf(m.name, sizeof m.name, "%s", o->name);
    } else {
        snprintf(m.name, sizeof m.name, "dfdetect-head-%s",
                 dfd_head_arch_name(dfd_head_opts_of(t->head)));
    }
    snprintf(m.version, sizeof m.version, "%s", o->version ? o->version : "1");
    dfd_autograd *ag = NULL;
    dfd_param **bp = NULL;
    size_t n_bp = 0;
    m.backbone_tuned = t->tuned != NULL;
    if (t->tuned) {
        st = dfd_backbone_tuned_params(&ag, &bp, &n_bp, t->tuned, t->o->tune_layers, err);
    }
    char *json = st ? NULL : training_json(t, r);
    if (!st && !json) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    if (!st) {
        st = dfd_detector_model_save(out_path, &m, bp, n_bp, json, err);
    }
    cJSON_free(json);
    dfd_free(bp);
    dfd_autograd_free(ag);
    return st;
}

// What a resumed run must share with the run that wrote the checkpoint: everything that decides
// the split, the items, the model and the updates (not epochs, patience, threads or names).
static void fingerprint(char *out, size_t cap, const trainer *t)
{
    const dfd_head_train_opts *o = t->o;
    int k = snprintf(out, cap,
                     "arch=%s frames=%d sampling=%d margin=%.9g images=%d batch=%d lr=%.9g "
                     "wd=%.9g dropout=%.9g input_dropout=%.9g val_split=%.17g cv=%d/%d "
                     "balance=%.9g seed=%" PRIu64 " items=%zu train=%zu val=%zu epoch_items=%zu "
                     "params=%zu data=",
                     o->arch ? o->arch : "gru", o->frames, (int)o->sampling, (double)o->margin,
                     (int)o->images, o->batch, (double)o->lr, (double)o->weight_decay,
                     (double)o->dropout, (double)o->input_dropout, o->val_split, o->cv_fold,
                     o->cv_folds, (double)o->balance, o->seed, t->ds->n, t->n_tr, t->n_va, t->n_ep,
                     t->n_params);
    for (size_t i = 0; i < o->n_data_paths && k > 0 && (size_t)k < cap; i++) {
        k += snprintf(out + k, cap - (size_t)k, "%s%s", i ? "," : "", o->data_paths[i]);
    }
}

static dfd_status run_epochs(trainer *t, dfd_head_train_result *r, const char *out_path,
                             dfd_error *err)
{
    const dfd_head_train_opts *o = t->o;
    r->history = dfd_calloc((size_t)o->epochs, sizeof *r->history);
    if (!r->history) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    uint64_t rng = o->seed ^ 0x5EED5EEDull;
    size_t bs = (size_t)o->batch > t->n_va ? (size_t)o->batch : t->n_va;
    double best = INFINITY;
    char ckpt[4096], fp[8192];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", out_path);
    fingerprint(fp, sizeof fp, t);
    const head_loop_tensors lt = { t->params, t->best, t->n_params, t->opt, t->ep, t->n_ep };
    int first = 1;
    if (o->resume) {
        head_loop_state s = { .hist = r->history };
        dfd_status st = head_resume_load(ckpt, fp, &lt, &s, o->epochs, err);
        if (st) {
            return st;
        }
        rng = s.rng;
        best = s.best_loss;
        r->best_epoch = s.best_epoch;
        r->best = s.best;
        r->epochs_run = s.epochs_done;
        first = s.epochs_done + 1;
        if (r->best_epoch > 0 && s.epochs_done - r->best_epoch >= o->patience) {
            first = o->epochs + 1; // it had stopped early already: nothing more to learn
        }
    }
    double last_save = dfd_now();
    for (int ep = first; ep <= o->epochs; ep++) {
        dfd_head_train_epoch *h = &r->history[ep - 1];
        h->epoch = ep;
        dfd_status st = train_epoch(t, &h->train_loss, &rng, ep, err);
        if (!st) {
            st = evaluate(&t->v, t->head, &t->b, &t->e, t->ds, t->va, t->n_va, bs, err);
        }
        if (st) {
            return st;
        }
        h->val_loss = t->v.loss;
        h->val_calibrated_loss = t->v.cal_loss;
        h->val_auc = t->v.auc;
        h->val_accuracy = t->v.acc;
        r->epochs_run = ep;
        progress(o, "epoch", (size_t)ep, (size_t)o->epochs);
        // Early stopping on the calibrated validation loss: the raw loss rises as soon as the
        // logits grow over-confident, long before their ranking stops improving (measured on
        // ffpp_c23 + dfdc_faces: raw-loss stopping kept epoch 4 at AUC 0.83 while AUC climbed
        // to 0.85), and temperature scaling removes that over-confidence in the model file.
        bool stop = false;
        if (h->val_calibrated_loss < best) {
            best = h->val_calibrated_loss;
            r->best_epoch = ep;
            r->best = *h;
            params_copy(t, true);
        } else if (ep - r->best_epoch >= o->patience) {
            stop = true;
        }
        const bool last = stop || ep == o->epochs;
        if (o->checkpoint_every_s >= 0 && !t->tuned && // stage 1 is not checkpointed
            (last || dfd_now() - last_save >= o->checkpoint_every_s)) {
            const head_loop_state s = { ep, rng, best, r->best_epoch, r->best, r->history };
            st = head_resume_save(ckpt, fp, &lt, &s, err);
            if (st) {
                return st;
            }
            last_save = dfd_now();
        }
        if (stop) {
            break;
        }
    }
    if (r->best_epoch == 0) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "train: no epoch reached a finite validation loss");
    }
    params_copy(t, false);
    return evaluate(&t->v, t->head, &t->b, &t->e, t->ds, t->va, t->n_va, bs, err);
}

dfd_status dfd_head_train(dfd_head_train_result *res, const dfd_dataset *ds, const char *out_path,
                          const dfd_head_train_opts *opts, dfd_error *err)
{
    memset(res, 0, sizeof *res);
    dfd_status st = check_opts(opts, err);
    if (st) {
        return st;
    }
    char models_dir[4096], csv[4096], png[4096];
    if (opts->models_dir) {
        snprintf(models_dir, sizeof models_dir, "%s", opts->models_dir);
    } else {
        dfd_models_dir_default(models_dir, sizeof models_dir);
    }
    snprintf(csv, sizeof csv, "%s%s", opts->metrics_csv ? opts->metrics_csv : out_path,
             opts->metrics_csv ? "" : ".metrics.csv");
    snprintf(png, sizeof png, "%s%s", opts->curve_png ? opts->curve_png : out_path,
             opts->curve_png ? "" : ".curves.png");
    dfd_detector_prep prep = dfd_detector_prep_default();
    prep.frames = opts->frames;
    prep.sampling.kind = opts->sampling;
    prep.margin = opts->margin;
    prep.images = opts->images;
    trainer t;
    memset(&t, 0, sizeof t);
    t.ds = ds;
    t.o = opts;
    st = make_split(&t, err);
    if (!st && opts->backbone_epochs > 0) {
        st = stage1(&t, res, &prep, models_dir, err);
    }
    if (!st) {
        st = embed_all(&t.e, ds, &prep, opts, models_dir, t.tuned, err);
    }
    if (!st) {
        st = split_items(&t, res, err);
    }
    if (!st) {
        st = setup(&t, err);
        res->n_epoch = t.n_ep;
    }
    if (!st) {
        st = run_epochs(&t, res, out_path, err);
    }
    if (!st && fit_temperatures(res, &t.v, &t.e, ds, t.va, t.n_va)) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "train: out of memory");
    }
    if (!st) {
        st = save_model(&t, res, &prep, models_dir, out_path, err);
    }
    if (!st) {
        st = write_metrics(csv, png, res, err);
    }
    trainer_free(&t);
    return st;
}
