// Fine-tuning faceres with a linear frame classifier: see include/dfdetect/train/backbone_train.h.
#include "dfdetect/train/backbone_train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/data/augment.h"
#include "dfdetect/detect/backbone.h"
#include "dfdetect/nn/loss.h"
#include "dfdetect/nn/optim.h"
#include "dfdetect/train/metrics.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"

#define DIM          DFD_BACKBONE_DIM
#define PER_INPUT    ((size_t)DFD_BACKBONE_SIZE * DFD_BACKBONE_SIZE * 3)
#define NORM_BATCHES 4 // batches of training crops the standardisation is measured on
#define BACKBONE_GRP 0
#define CLASSIFY_GRP 1

dfd_backbone_train_opts dfd_backbone_train_opts_default(void)
{
    dfd_backbone_train_opts o;
    memset(&o, 0, sizeof o);
    o.epochs = 3;
    o.batch = 16;
    o.lr = 1e-4f;
    o.head_lr = 1e-3f;
    o.tune_layers = 4;
    o.crops_per_item = 8;
    o.augment = true;
    o.patience = 2;
    o.seed = 1;
    o.probe_steps = 0;
    o.probe_lr = 1e-2f;
    o.probe_weight_decay = 1e-2f;
    return o;
}

void dfd_backbone_train_result_free(dfd_backbone_train_result *r)
{
    if (r) {
        dfd_free(r->history);
        memset(r, 0, sizeof *r);
    }
}

// Whether parameter `name` ("<node>/weight") belongs to node `node`.
static bool owned_by(const char *name, const char *node)
{
    size_t n = strlen(node);
    return strncmp(name, node, n) == 0 && name[n] == '/' && !strchr(name + n + 1, '/');
}

// need[i]: node i feeds DFD_BACKBONE_OUT (faceres also has age and gender heads past it). NULL
// when out of memory.
static bool *embedding_nodes(const dfd_graph *g)
{
    size_t nv = dfd_graph_n_values(g), nn = dfd_graph_n_nodes(g);
    bool *need_v = dfd_calloc(nv ? nv : 1, sizeof *need_v);
    bool *need = dfd_calloc(nn ? nn : 1, sizeof *need);
    int o = dfd_graph_find_output(g, DFD_BACKBONE_OUT);
    if (!need_v || !need) {
        dfd_free(need_v);
        dfd_free(need);
        return NULL;
    }
    if (o >= 0) {
        need_v[dfd_graph_output(g, (size_t)o)] = true;
    }
    for (size_t i = nn; i-- > 0;) { // reverse topological order
        const dfd_node *n = dfd_graph_node(g, i);
        if (!need_v[n->out]) {
            continue;
        }
        need[i] = true;
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k] >= 0) {
                need_v[n->in[k]] = true;
            }
        }
        if (n->residual >= 0) {
            need_v[n->residual] = true;
        }
    }
    dfd_free(need_v);
    return need;
}

size_t dfd_backbone_tune_select(dfd_autograd *s, const dfd_graph *g, int tune_layers)
{
    size_t n = dfd_autograd_n_params(s), nn = dfd_graph_n_nodes(g), kept = 0;
    dfd_param *const *p = dfd_autograd_params(s);
    bool *need = embedding_nodes(g);
    int layers = 0;
    // Nodes are in topological order: walk back from the embedding, counting the nodes that own
    // parameters, and unfreeze those of the last tune_layers.
    for (size_t i = 0; i < n; i++) {
        p[i]->frozen = true;
        p[i]->group = BACKBONE_GRP;
    }
    for (size_t j = nn; need && j-- > 0 && layers < tune_layers;) {
        if (!need[j]) {
            continue;
        }
        const char *name = dfd_graph_node(g, j)->name;
        bool owns = false;
        for (size_t i = 0; i < n; i++) {
            if (owned_by(p[i]->name, name)) {
                p[i]->frozen = false;
                owns = true;
                kept++;
            }
        }
        layers += owns;
    }
    dfd_free(need);
    return kept;
}

dfd_status dfd_backbone_tuned_params(dfd_autograd **session, dfd_param ***params, size_t *n_params,
                                     dfd_graph *g, int tune_layers, dfd_error *err)
{
    *params = NULL;
    *n_params = 0;
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.n_threads = 1;
    ao.backend = DFD_BACKEND_REF; // only the parameter views are used
    dfd_status st = dfd_autograd_create(session, g, 1, &ao, err);
    if (st) {
        return st;
    }
    size_t n = dfd_autograd_n_params(*session);
    dfd_param *const *all = dfd_autograd_params(*session);
    dfd_backbone_tune_select(*session, g, tune_layers);
    *params = dfd_malloc((n ? n : 1) * sizeof **params);
    if (!*params) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (!all[i]->frozen) {
            (*params)[(*n_params)++] = all[i];
        }
    }
    return DFD_OK;
}

// splitmix64: per-sample seeds and shuffles.
static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ull;
    return mix(*s);
}

// A crop of an item.
typedef struct sample {
    size_t item, crop;
} sample;

typedef struct stage1 {
    const dfd_backbone_train_opts *o;
    const dfd_backbone_train_item *items;
    dfd_autograd *s;
    dfd_optim *opt;
    dfd_param **params; // the tuned backbone parameters, then the classifier's two
    size_t n_params, n_tuned;
    float **best; // the best epoch's tuned values
    dfd_param w, b;
    float *wv, *wg, bv, bg;
    float *mean, *inv_sd; // standardisation of the features
    float *xn;            // [batch][DIM] standardised features of the last forward
    float *dfeat;         // [batch][DIM]
    float *logit, *target, *weight, *dlogit;
    sample *train, *val;
    size_t *pick;              // scratch: crop indices of the longest training item
    size_t n_train_s, n_val_s; // samples: the epoch's training crops, the validation crops
    const size_t *tr;
    size_t n_tr;
    dfd_augment_opts aug;
    int batch;
} stage1;

static void stage1_free(stage1 *t)
{
    if (t->best) {
        for (size_t i = 0; i < t->n_tuned; i++) {
            dfd_free(t->best[i]);
        }
        dfd_free(t->best);
    }
    dfd_optim_destroy(t->opt);
    dfd_autograd_free(t->s);
    dfd_free(t->params);
    dfd_free(t->wv);
    dfd_free(t->wg);
    dfd_free(t->mean);
    dfd_free(t->inv_sd);
    dfd_free(t->xn);
    dfd_free(t->dfeat);
    dfd_free(t->logit);
    dfd_free(t->target);
    dfd_free(t->weight);
    dfd_free(t->dlogit);
    dfd_free(t->train);
    dfd_free(t->val);
    dfd_free(t->pick);
}

static void progress(const stage1 *t, const char *stage, size_t done, size_t total)
{
    if (t->o->progress) {
        t->o->progress(t->o->progress_ctx, stage, done, total);
    }
}

// Fill input slot k with sample sm, augmented with `seed` when aug is set.
static dfd_status fill_input(stage1 *t, size_t k, const sample *sm, bool aug, uint64_t seed,
                             dfd_error *err)
{
    float *dst = dfd_autograd_input(t->s, 0)->data + k * PER_INPUT;
    const dfd_image *crop = &t->items[sm->item].crops[sm->crop];
    dfd_status st;
    if (!aug) {
        st = dfd_backbone_input(dst, crop);
    } else {
        dfd_augment_params p;
        dfd_augment_sample(&p, &t->aug, seed);
        dfd_image out;
        memset(&out, 0, sizeof out);
        st = dfd_augment_apply(&out, crop, 1, &p, err);
        if (st) {
            return st;
        }
        st = dfd_backbone_input(dst, &out);
        dfd_image_free(&out);
    }
    if (st) {
        return dfd_error_set(err, st, "stage 1: crop %zu of item %zu is not usable (%s)", sm->crop,
                             sm->item, st == DFD_ERR_NOMEM ? "out of memory" : "not RGB");
    }
    return DFD_OK;
}

// Forward m samples (padding the batch) and compute standardised features and logits.
static dfd_status forward(stage1 *t, const sample *sm, size_t m, bool training, int epoch,
                          dfd_error *err)
{
    for (size_t k = 0; k < m; k++) {
        uint64_t seed =
            mix(t->o->seed ^ mix(((uint64_t)epoch << 40) ^ (sm[k].item << 12) ^ sm[k].crop));
        dfd_status st = fill_input(t, k, &sm[k], training && t->o->augment, seed, err);
        if (st) {
            return st;
        }
    }
    if (m < (size_t)t->batch) { // padding: zeros, masked out of the loss
        memset(dfd_autograd_input(t->s, 0)->data + m * PER_INPUT, 0,
               ((size_t)t->batch - m) * PER_INPUT * sizeof(float));
    }
    dfd_status st = dfd_autograd_forward(t->s, training, err);
    if (st) {
        return st;
    }
    const float *f = dfd_autograd_value(t->s, DFD_BACKBONE_OUT)->data;
    for (size_t k = 0; k < (size_t)t->batch; k++) {
        float z = t->bv;
        for (int d = 0; d < DIM; d++) {
            float x = (f[k * DIM + (size_t)d] - t->mean[d]) * t->inv_sd[d];
            t->xn[k * DIM + (size_t)d] = x;
            z += x * t->wv[d];
        }
        t->logit[k] = z;
        t->weight[k] = k < m ? 1.f : 0.f;
        t->target[k] = k < m && t->items[sm[k].item].label == DFD_LABEL_FAKE ? 1.f : 0.f;
    }
    return DFD_OK;
}

// Mean and standard deviation of the untuned features over the first training crops.
static dfd_status fit_norm(stage1 *t, dfd_error *err)
{
    size_t bs = (size_t)t->batch, n = 0;
    double *acc = dfd_calloc(2 * DIM, sizeof *acc);
    if (!acc) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
    }
    for (int d = 0; d < DIM; d++) {
        t->mean[d] = 0;
        t->inv_sd[d] = 1;
    }
    dfd_status st = DFD_OK;
    for (size_t s0 = 0; !st && s0 < t->n_train_s && s0 < NORM_BATCHES * bs; s0 += bs) {
        size_t m = t->n_train_s - s0 < bs ? t->n_train_s - s0 : bs;
        st = forward(t, t->train + s0, m, false, 0, err);
        for (size_t k = 0; !st && k < m; k++, n++) {
            for (int d = 0; d < DIM; d++) {
                double x = (double)t->xn[k * DIM + (size_t)d];
                acc[d] += x;
                acc[DIM + d] += x * x;
            }
        }
    }
    for (int d = 0; !st && d < DIM; d++) {
        double m = acc[d] / (double)n, var = acc[DIM + d] / (double)n - m * m;
        t->mean[d] = (float)m;
        t->inv_sd[d] = (float)(1.0 / sqrt((var > 0 ? var : 0) + 1e-6));
    }
    dfd_free(acc);
    return st;
}

// Pick the epoch's training samples: up to crops_per_item distinct random crops of each item,
// then shuffle them all.
static void draw_train(stage1 *t, uint64_t *rng)
{
    size_t cap = (size_t)t->o->crops_per_item;
    t->n_train_s = 0;
    size_t *idx = t->pick;
    for (size_t a = 0; a < t->n_tr; a++) {
        const dfd_backbone_train_item *it = &t->items[t->tr[a]];
        size_t n = it->n;
        size_t m = n < cap ? n : cap;
        for (size_t i = 0; i < n; i++) {
            idx[i] = i;
        }
        for (size_t i = 0; i < m; i++) { // partial Fisher-Yates
            size_t j = i + (size_t)(rng_next(rng) % (n - i));
            size_t tmp = idx[i];
            idx[i] = idx[j];
            idx[j] = tmp;
            t->train[t->n_train_s++] = (sample){ t->tr[a], idx[i] };
        }
    }
    for (size_t i = t->n_train_s; i > 1; i--) {
        size_t j = (size_t)(rng_next(rng) % i);
        sample tmp = t->train[i - 1];
        t->train[i - 1] = t->train[j];
        t->train[j] = tmp;
    }
}

// Loss of the last forward; with grads, backpropagate it and update.
static double step(stage1 *t, bool grads, dfd_error *err, dfd_status *st)
{
    dfd_bce_opts bo;
    memset(&bo, 0, sizeof bo);
    bo.sample_weight = t->weight;
    size_t bs = (size_t)t->batch;
    float loss = dfd_loss_bce_logits(grads ? t->dlogit : NULL, t->logit, t->target, bs, 1, &bo);
    if (!grads) {
        return (double)loss;
    }
    dfd_params_zero_grad(t->params, t->n_params);
    for (size_t k = 0; k < bs; k++) {
        float g = t->weight[k] > 0 ? t->dlogit[k] : 0.f;
        t->bg += g;
        for (int d = 0; d < DIM; d++) {
            t->wg[d] += g * t->xn[k * DIM + (size_t)d];
            t->dfeat[k * DIM + (size_t)d] = g * t->wv[d] * t->inv_sd[d];
        }
    }
    *st = t->n_tuned ? dfd_autograd_set_grad(t->s, DFD_BACKBONE_OUT, t->dfeat, err) : DFD_OK;
    if (!*st && t->n_tuned) {
        *st = dfd_autograd_backward(t->s, err);
    }
    if (!*st) {
        dfd_optim_step(t->opt, NULL);
    }
    return (double)loss;
}

static dfd_status train_epoch(stage1 *t, int epoch, uint64_t *rng, double *loss, dfd_error *err)
{
    draw_train(t, rng);
    size_t bs = (size_t)t->batch;
    double sum = 0;
    dfd_status st = DFD_OK;
    for (size_t s0 = 0; !st && s0 < t->n_train_s; s0 += bs) {
        size_t m = t->n_train_s - s0 < bs ? t->n_train_s - s0 : bs;
        st = forward(t, t->train + s0, m, true, epoch, err);
        if (!st) {
            sum += step(t, true, err, &st) * (double)m;
        }
        progress(t, "stage1", s0 + m, t->n_train_s);
    }
    *loss = sum / (double)t->n_train_s;
    return st;
}

static dfd_status validate(stage1 *t, double *loss, double *auc, dfd_error *err)
{
    size_t bs = (size_t)t->batch, n = t->n_val_s;
    double *p = dfd_malloc(n * sizeof *p);
    uint8_t *y = dfd_malloc(n * sizeof *y);
    dfd_status st = p && y ? DFD_OK : dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
    double sum = 0;
    for (size_t s0 = 0; !st && s0 < n; s0 += bs) {
        size_t m = n - s0 < bs ? n - s0 : bs;
        st = forward(t, t->val + s0, m, false, 0, err);
        if (!st) {
            sum += step(t, false, err, &st) * (double)m;
        }
        for (size_t k = 0; !st && k < m; k++) {
            p[s0 + k] = 1.0 / (1.0 + exp(-(double)t->logit[k]));
            y[s0 + k] = t->target[k] > 0.5f;
        }
    }
    *loss = sum / (double)n;
    if (!st && dfd_metrics_auc(auc, p, y, n, NULL)) {
        *auc = NAN;
    }
    dfd_free(p);
    dfd_free(y);
    return st;
}

static void tuned_copy(stage1 *t, bool save)
{
    for (size_t i = 0; i < t->n_tuned; i++) {
        size_t bytes = dfd_param_numel(t->params[i]) * sizeof(float);
        if (save) {
            memcpy(t->best[i], t->params[i]->value, bytes);
        } else {
            memcpy(t->params[i]->value, t->best[i], bytes);
        }
    }
}

static dfd_status check_opts(const dfd_backbone_train_opts *o, dfd_error *err)
{
    if (o->epochs < 1 || o->batch < 1 || o->batch > 256 || !(o->lr >= 0) || !(o->head_lr > 0) ||
        o->tune_layers < 0 || o->crops_per_item < 1 || o->patience < 1 || o->n_threads < 0 ||
        o->probe_steps < 0 || o->probe_steps > 100000 || !(o->probe_lr > 0) ||
        !(o->probe_weight_decay >= 0)) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "stage 1: options out of range (epochs, patience, crops per item >= "
                             "1, batch 1..256, lr >= 0, head lr > 0, tune layers >= 0, probe "
                             "steps 0..100000, probe lr > 0, probe weight decay >= 0)");
    }
    return DFD_OK;
}

// Index the two sides, and the validation samples (evenly spaced fixed crops).
static dfd_status index_items(stage1 *t, size_t *tr, dfd_backbone_train_result *r, size_t n,
                              dfd_error *err)
{
    size_t cap = (size_t)t->o->crops_per_item, n_lab[2][DFD_LABEL_COUNT] = { { 0 } };
    size_t n_val_s = 0;
    for (size_t i = 0; i < n; i++) {
        const dfd_backbone_train_item *it = &t->items[i];
        if (it->n == 0 || (it->part != 0 && it->part != 1) || it->label >= DFD_LABEL_COUNT) {
            continue;
        }
        n_lab[it->part][it->label]++;
        if (it->part == 0) {
            tr[t->n_tr++] = i;
        } else {
            r->n_val++;
            n_val_s += it->n < cap ? it->n : cap;
        }
    }
    r->n_train = t->n_tr;
    if (t->n_tr < 2 || r->n_val < 2 || !n_lab[0][0] || !n_lab[0][1] || !n_lab[1][0] ||
        !n_lab[1][1]) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "stage 1: %zu training and %zu validation items with faces: need at "
                             "least 2 each and both labels on each side",
                             t->n_tr, r->n_val);
    }
    size_t longest = 1;
    for (size_t a = 0; a < t->n_tr; a++) {
        longest = t->items[tr[a]].n > longest ? t->items[tr[a]].n : longest;
    }
    t->train = dfd_malloc(t->n_tr * cap * sizeof *t->train);
    t->val = dfd_malloc(n_val_s * sizeof *t->val);
    t->pick = dfd_malloc(longest * sizeof *t->pick);
    if (!t->train || !t->val || !t->pick) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const dfd_backbone_train_item *it = &t->items[i];
        if (it->n == 0 || it->part != 1 || it->label >= DFD_LABEL_COUNT) {
            continue;
        }
        size_t m = it->n < cap ? it->n : cap;
        for (size_t k = 0; k < m; k++) {
            t->val[t->n_val_s++] = (sample){ i, k * it->n / m };
        }
    }
    r->n_val_crops = t->n_val_s;
    return DFD_OK;
}

static dfd_status setup(stage1 *t, dfd_graph *g, dfd_backbone_train_result *r, dfd_error *err)
{
    const dfd_backbone_train_opts *o = t->o;
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.n_threads = o->n_threads;
    ao.seed = o->seed;
    dfd_status st = dfd_autograd_create(&t->s, g, o->batch, &ao, err);
    if (st) {
        return st;
    }
    if (!dfd_autograd_value(t->s, DFD_BACKBONE_OUT) ||
        dfd_tensor_numel(dfd_autograd_value(t->s, DFD_BACKBONE_OUT)) != (size_t)o->batch * DIM) {
        return dfd_error_set(err, DFD_ERR_FORMAT, "stage 1: the graph is not faceres (no %d-d %s)",
                             DIM, DFD_BACKBONE_OUT);
    }
    dfd_backbone_tune_select(t->s, g, o->tune_layers);
    size_t n_all = dfd_autograd_n_params(t->s);
    dfd_param *const *all = dfd_autograd_params(t->s);
    size_t bs = (size_t)o->batch;
    t->params = dfd_calloc(n_all + 2, sizeof *t->params);
    t->wv = dfd_calloc(DIM, sizeof *t->wv);
    t->wg = dfd_calloc(DIM, sizeof *t->wg);
    t->mean = dfd_malloc(DIM * sizeof *t->mean);
    t->inv_sd = dfd_malloc(DIM * sizeof *t->inv_sd);
    t->xn = dfd_malloc(bs * DIM * sizeof *t->xn);
    t->dfeat = dfd_malloc(bs * DIM * sizeof *t->dfeat);
    t->logit = dfd_malloc(bs * sizeof *t->logit);
    t->target = dfd_malloc(bs * sizeof *t->target);
    t->weight = dfd_malloc(bs * sizeof *t->weight);
    t->dlogit = dfd_malloc(bs * sizeof *t->dlogit);
    if (!t->params || !t->wv || !t->wg || !t->mean || !t->inv_sd || !t->xn || !t->dfeat ||
        !t->logit || !t->target || !t->weight || !t->dlogit) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
    }
    for (size_t i = 0; i < n_all; i++) {
        if (!all[i]->frozen) {
            t->params[t->n_tuned++] = all[i];
            r->n_tuned_values += dfd_param_numel(all[i]);
        }
    }
    r->n_tuned = t->n_tuned;
    t->w = (dfd_param){ .name = "classifier/weight",
                        .value = t->wv,
                        .grad = t->wg,
                        .rank = 2,
                        .shape = { 1, DIM },
                        .group = CLASSIFY_GRP };
    t->b = (dfd_param){ .name = "classifier/bias",
                        .value = &t->bv,
                        .grad = &t->bg,
                        .rank = 1,
                        .shape = { 1 },
                        .group = CLASSIFY_GRP };
    t->n_params = t->n_tuned;
    t->params[t->n_params++] = &t->w;
    t->params[t->n_params++] = &t->b;
    dfd_optim_opts oo = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
    oo.lr = o->head_lr;
    oo.clip_norm = 5.f;
    oo.group_lr_scale[BACKBONE_GRP] = o->lr / o->head_lr;
    st = dfd_optim_create(&t->opt, t->params, t->n_params, &oo, err);
    if (st) {
        return st;
    }
    t->best = dfd_calloc(t->n_tuned + 1, sizeof *t->best);
    for (size_t i = 0; t->best && i < t->n_tuned; i++) {
        t->best[i] = dfd_malloc(dfd_param_numel(t->params[i]) * sizeof(float));
        if (!t->best[i]) {
            return dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
        }
    }
    if (!t->best) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
    }
    // The classifier starts at zero weights and the training prior as bias.
    size_t n_fake = 0, n_crops = 0;
    for (size_t a = 0; a < t->n_tr; a++) {
        const dfd_backbone_train_item *it = &t->items[t->tr[a]];
        size_t m = it->n < (size_t)o->crops_per_item ? it->n : (size_t)o->crops_per_item;
        n_crops += m;
        n_fake += it->label == DFD_LABEL_FAKE ? m : 0;
    }
    t->bv = (float)log((double)n_fake / (double)(n_crops - n_fake));
    return DFD_OK;
}

// Standardised features of n samples, unaugmented, into x (n x DIM).
static dfd_status features_of(stage1 *t, const sample *sm, size_t n, float *x, dfd_error *err)
{
    size_t bs = (size_t)t->batch;
    dfd_status st = DFD_OK;
    for (size_t s0 = 0; !st && s0 < n; s0 += bs) {
        size_t m = n - s0 < bs ? n - s0 : bs;
        st = forward(t, sm + s0, m, false, 0, err);
        if (!st) {
            memcpy(x + s0 * DIM, t->xn, m * DIM * sizeof *x);
        }
        progress(t, "stage1-probe", s0 + m, n);
    }
    return st;
}

// Mean BCE of the linear classifier (wv, bv) on n feature rows; with grads, the gradient of the
// mean loss is added to its gradients (wg, bg). Probabilities into p when not NULL.
static double probe_loss(stage1 *t, const float *x, const uint8_t *y, size_t n, bool grads,
                         double *p)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * DIM;
        float z = t->bv;
        for (int d = 0; d < DIM; d++) {
            z += xi[d] * t->wv[d];
        }
        double q = 1.0 / (1.0 + exp(-(double)z));
        double zd = (double)z; // log(1 + e^z) - y z, computed stably
        sum += (zd > 0 ? zd + log1p(exp(-zd)) : log1p(exp(zd))) - (y[i] ? zd : 0.0);
        if (p) {
            p[i] = q;
        }
        if (grads) {
            float e = (float)((q - (double)y[i]) / (double)n);
            for (int d = 0; d < DIM; d++) {
                t->wg[d] += e * xi[d];
            }
            t->bg += e;
        }
    }
    return sum / (double)n;
}

// Linear probing before fine-tuning: fit the classifier on the frozen backbone's features of
// the training crops (full-batch AdamW, probe_steps at most, the step with the lowest validation
// loss kept), so that the first backbone updates follow a classifier that already separates the
// classes instead of the gradients of a zero one, which distort the pretrained features the
// most (Kumar et al., "Fine-Tuning can Distort Pretrained Features", 2022).
static dfd_status probe_classifier(stage1 *t, dfd_backbone_train_result *r, dfd_error *err)
{
    const dfd_backbone_train_opts *o = t->o;
    size_t ntr = t->n_train_s, nva = t->n_val_s;
    float *xtr = dfd_malloc(ntr * DIM * sizeof *xtr), *xva = dfd_malloc(nva * DIM * sizeof *xva);
    uint8_t *ytr = dfd_malloc(ntr), *yva = dfd_malloc(nva);
    float *best = dfd_malloc((DIM + 1) * sizeof *best);
    double *pva = dfd_malloc(nva * sizeof *pva);
    dfd_optim *opt = NULL;
    dfd_status st = xtr && xva && ytr && yva && best && pva
                        ? DFD_OK
                        : dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
    if (!st) {
        st = features_of(t, t->train, ntr, xtr, err);
    }
    if (!st) {
        st = features_of(t, t->val, nva, xva, err);
    }
    for (size_t i = 0; !st && i < ntr; i++) {
        ytr[i] = t->items[t->train[i].item].label == DFD_LABEL_FAKE;
    }
    for (size_t i = 0; !st && i < nva; i++) {
        yva[i] = t->items[t->val[i].item].label == DFD_LABEL_FAKE;
    }
    dfd_param *cls[2] = { &t->w, &t->b };
    if (!st) {
        dfd_optim_opts oo = dfd_optim_opts_default(DFD_OPTIM_ADAMW);
        oo.lr = o->probe_lr;
        oo.weight_decay = o->probe_weight_decay;
        st = dfd_optim_create(&opt, cls, 2, &oo, err);
    }
    double best_loss = INFINITY;
    for (int k = 0; !st && k <= o->probe_steps; k++) {
        double vl = probe_loss(t, xva, yva, nva, false, NULL);
        if (vl < best_loss) {
            best_loss = vl;
            r->probe_best_step = k;
            memcpy(best, t->wv, DIM * sizeof *best);
            best[DIM] = t->bv;
        }
        if (k == o->probe_steps) {
            break;
        }
        dfd_params_zero_grad(cls, 2);
        probe_loss(t, xtr, ytr, ntr, true, NULL);
        dfd_optim_step(opt, NULL);
    }
    if (!st) {
        memcpy(t->wv, best, DIM * sizeof *best);
        t->bv = best[DIM];
        r->probe_val_loss = probe_loss(t, xva, yva, nva, false, pva);
        if (dfd_metrics_auc(&r->probe_val_auc, pva, yva, nva, NULL)) {
            r->probe_val_auc = NAN;
        }
    }
    dfd_optim_destroy(opt);
    dfd_free(xtr);
    dfd_free(xva);
    dfd_free(ytr);
    dfd_free(yva);
    dfd_free(best);
    dfd_free(pva);
    return st;
}

static dfd_status run_epochs(stage1 *t, dfd_backbone_train_result *r, dfd_error *err)
{
    const dfd_backbone_train_opts *o = t->o;
    uint64_t rng = mix(o->seed ^ 0xB0CB0Eull);
    // After linear probing the untuned backbone is a candidate too ("epoch 0", with the probe's
    // validation loss): tuning that never beats it is undone.
    bool probed = r->probe_best_step > 0;
    double best = probed ? r->probe_val_loss : (double)INFINITY;
    if (probed) {
        tuned_copy(t, true);
        r->best = (dfd_backbone_train_epoch){ .val_loss = r->probe_val_loss,
                                              .val_auc = r->probe_val_auc };
    }
    dfd_status st = DFD_OK;
    for (int ep = 1; !st && ep <= o->epochs; ep++) {
        dfd_backbone_train_epoch *h = &r->history[ep - 1];
        double t0 = dfd_now();
        h->epoch = ep;
        st = train_epoch(t, ep, &rng, &h->train_loss, err);
        if (!st) {
            st = validate(t, &h->val_loss, &h->val_auc, err);
        }
        if (st) {
            break;
        }
        h->seconds = dfd_now() - t0;
        r->epochs_run = ep;
        progress(t, "stage1-epoch", (size_t)ep, (size_t)o->epochs);
        if (h->val_loss < best) {
            best = h->val_loss;
            r->best_epoch = ep;
            r->best = *h;
            tuned_copy(t, true);
        } else if (ep - r->best_epoch >= o->patience) {
            break;
        }
    }
    if (!st && (r->best_epoch > 0 || probed)) {
        tuned_copy(t, false);
    }
    return st;
}

dfd_status dfd_backbone_train(dfd_backbone_train_result *res, dfd_graph *g,
                              const dfd_backbone_train_item *items, size_t n,
                              const dfd_backbone_train_opts *opts, dfd_error *err)
{
    memset(res, 0, sizeof *res);
    dfd_status st = check_opts(opts, err);
    if (st) {
        return st;
    }
    stage1 t;
    memset(&t, 0, sizeof t);
    t.o = opts;
    t.items = items;
    t.batch = opts->batch;
    t.aug = dfd_augment_opts_default();
    size_t *tr = dfd_malloc((n ? n : 1) * sizeof *tr);
    res->history = dfd_calloc((size_t)opts->epochs, sizeof *res->history);
    if (!tr || !res->history) {
        dfd_free(tr);
        return dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
    }
    t.tr = tr;
    st = index_items(&t, tr, res, n, err);
    if (!st) {
        st = setup(&t, g, res, err);
    }
    if (!st) {
        uint64_t rng = mix(opts->seed ^ 0x4E0A11ull);
        draw_train(&t, &rng);
        st = fit_norm(&t, err);
    }
    if (!st && opts->probe_steps > 0) {
        st = probe_classifier(&t, res, err);
    }
    if (!st) {
        st = run_epochs(&t, res, err);
    }
    stage1_free(&t);
    dfd_free(tr);
    return st;
}

dfd_status dfd_backbone_train_dataset(dfd_backbone_train_result *res, dfd_graph *g,
                                      const dfd_dataset *ds, const int *part, dfd_face_cache *cache,
                                      size_t frames, const dfd_backbone_train_opts *opts,
                                      dfd_error *err)
{
    memset(res, 0, sizeof *res);
    size_t n = ds->n ? ds->n : 1;
    dfd_face_entry *fe = dfd_calloc(n, sizeof *fe);
    dfd_backbone_train_item *items = dfd_calloc(n, sizeof *items);
    dfd_image *crops = dfd_calloc(n * (frames ? frames : 1), sizeof *crops);
    dfd_status st = DFD_OK;
    if (!fe || !items || !crops) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "stage 1: out of memory");
    }
    for (size_t i = 0; !st && i < ds->n; i++) {
        items[i] = (dfd_backbone_train_item){ crops + i * frames, 0, ds->items[i].label, part[i] };
        if (dfd_face_cache_get(&fe[i], cache, ds->items[i].path, NULL) || fe[i].n_ids == 0) {
            dfd_face_entry_free(&fe[i]);
            continue; // no face, or unreadable: left out (stage 2 counts it)
        }
        const dfd_cached_identity *id = &fe[i].ids[0]; // the longest track, as stage 2 uses
        items[i].n = id->n < frames ? id->n : frames;
        for (size_t k = 0; k < items[i].n; k++) {
            crops[i * frames + k] = id->faces[k].crop;
        }
        if (opts->progress) {
            opts->progress(opts->progress_ctx, "stage1-faces", i + 1, ds->n);
        }
    }
    if (!st) {
        st = dfd_backbone_train(res, g, items, ds->n, opts, err);
    }
    for (size_t i = 0; fe && i < ds->n; i++) {
        dfd_face_entry_free(&fe[i]);
    }
    dfd_free(fe);
    dfd_free(items);
    dfd_free(crops);
    return st;
}
