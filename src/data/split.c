// Grouped, stratified, seeded splits (k-fold and train/validation); the method is described in
// split.h. Used by training (validation for early stopping) and evaluation (grouped CV).
#include "dfdetect/data/split.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "dfdetect/util/alloc.h"

typedef struct group_info {
    size_t count[DFD_LABEL_COUNT];
    size_t total;
} group_info;

// Dense group ids 0..*n_groups-1 in `dense` for arbitrary group values, by sorting (value,
// index) pairs.
typedef struct pair {
    size_t value, index;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->value != y->value) {
        return x->value < y->value ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool dense_groups(size_t *dense, size_t *n_groups, const size_t *groups, size_t n)
{
    pair *p = dfd_malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        p[i] = (pair){ groups[i], i };
    }
    qsort(p, n, sizeof *p, cmp_pair);
    size_t g = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && p[i].value != p[i - 1].value) {
            g++;
        }
        dense[p[i].index] = g;
    }
    *n_groups = n ? g + 1 : 0;
    dfd_free(p);
    return true;
}

typedef struct placed {
    size_t group;
    size_t total;
    size_t order;
} placed;

static int cmp_placed(const void *a, const void *b)
{
    const placed *x = a, *y = b;
    if (x->total != y->total) {
        return x->total > y->total ? -1 : 1; // largest first
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

dfd_status dfd_split_assign(int *part, const dfd_label *labels, const size_t *groups, size_t n,
                            const double *weights, int n_parts, uint64_t seed, dfd_error *err)
{
    if (n_parts < 2 || n_parts > 1000) {
        return dfd_error_set(err, DFD_ERR_INVALID, "split: %d parts (need 2 to 1000)", n_parts);
    }
    double wsum = 0;
    for (int p = 0; p < n_parts; p++) {
        if (!(weights[p] > 0) || !isfinite(weights[p])) {
            return dfd_error_set(err, DFD_ERR_INVALID, "split: part %d has weight %g", p,
                                 weights[p]);
        }
        wsum += weights[p];
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)labels[i] >= DFD_LABEL_COUNT) {
            return dfd_error_set(err, DFD_ERR_INVALID, "split: item %zu has label %d", i,
                                 (int)labels[i]);
        }
    }
    size_t *dense = dfd_malloc((n ? n : 1) * sizeof *dense);
    group_info *gi = NULL;
    placed *order = NULL;
    double *fill = NULL; // n_parts x labels: items placed so far
    int *gpart = NULL;
    size_t n_groups = 0;
    dfd_status st = DFD_OK;
    if (!dense || !dense_groups(dense, &n_groups, groups, n)) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "split: out of memory");
        goto done;
    }
    if (n_groups < (size_t)n_parts) {
        st = dfd_error_set(err, DFD_ERR_INVALID,
                           "split: %d parts need at least %d groups; the data has %zu", n_parts,
                           n_parts, n_groups);
        goto done;
    }
    gi = dfd_calloc(n_groups, sizeof *gi);
    order = dfd_malloc(n_groups * sizeof *order);
    fill = dfd_calloc((size_t)n_parts * DFD_LABEL_COUNT, sizeof *fill);
    gpart = dfd_malloc(n_groups * sizeof *gpart);
    if (!gi || !order || !fill || !gpart) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "split: out of memory");
        goto done;
    }
    size_t total[DFD_LABEL_COUNT] = { 0 };
    for (size_t i = 0; i < n; i++) {
        gi[dense[i]].count[labels[i]]++;
        gi[dense[i]].total++;
        total[labels[i]]++;
    }
    // Shuffle (Fisher-Yates), then largest first with the shuffled position breaking ties.
    for (size_t g = 0; g < n_groups; g++) {
        order[g] = (placed){ g, gi[g].total, 0 };
    }
    data_rng rng = data_rng_seed(seed);
    for (size_t g = n_groups; g > 1; g--) {
        size_t j = (size_t)data_rng_below(&rng, g);
        placed t = order[g - 1];
        order[g - 1] = order[j];
        order[j] = t;
    }
    for (size_t g = 0; g < n_groups; g++) {
        order[g].order = g;
    }
    qsort(order, n_groups, sizeof *order, cmp_placed);
    for (size_t k = 0; k < n_groups; k++) {
        const group_info *g = &gi[order[k].group];
        int best = 0;
        double best_cost = INFINITY;
        for (int p = 0; p < n_parts; p++) {
            // Increase of sum_l (A - T)^2 / T when the group's counts c are added to part p:
            // sum_l c (2 (A - T) + c) / T.
            double cost = 0;
            for (int l = 0; l < DFD_LABEL_COUNT; l++) {
                double c = (double)g->count[l];
                if (c == 0) {
                    continue;
                }
                double t = fmax(weights[p] / wsum * (double)total[l], 1e-9);
                double a = fill[p * DFD_LABEL_COUNT + l];
                cost += c * (2 * (a - t) + c) / t;
            }
            if (cost < best_cost - 1e-12) {
                best_cost = cost;
                best = p;
            }
        }
        gpart[order[k].group] = best;
        for (int l = 0; l < DFD_LABEL_COUNT; l++) {
            fill[best * DFD_LABEL_COUNT + l] += (double)g->count[l];
        }
    }
    for (size_t i = 0; i < n; i++) {
        part[i] = gpart[dense[i]];
    }
done:
    dfd_free(dense);
    dfd_free(gi);
    dfd_free(order);
    dfd_free(fill);
    dfd_free(gpart);
    return st;
}

// Labels and group ids of a dataset as arrays, then the general split.
static dfd_status split_dataset(int *part, const dfd_dataset *ds, const double *weights,
                                int n_parts, uint64_t seed, dfd_error *err)
{
    dfd_label *labels = dfd_malloc((ds->n ? ds->n : 1) * sizeof *labels);
    size_t *groups = dfd_malloc((ds->n ? ds->n : 1) * sizeof *groups);
    dfd_status st;
    if (!labels || !groups) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "split: out of memory");
    } else {
        for (size_t i = 0; i < ds->n; i++) {
            labels[i] = ds->items[i].label;
            groups[i] = ds->items[i].i_group;
        }
        st = dfd_split_assign(part, labels, groups, ds->n, weights, n_parts, seed, err);
    }
    dfd_free(labels);
    dfd_free(groups);
    return st;
}

dfd_status dfd_split_kfold(int *fold, const dfd_dataset *ds, int k, uint64_t seed, dfd_error *err)
{
    if (k < 2 || k > 1000) {
        return dfd_error_set(err, DFD_ERR_INVALID, "split: %d folds (need 2 to 1000)", k);
    }
    double *w = dfd_malloc((size_t)k * sizeof *w);
    if (!w) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "split: out of memory");
    }
    for (int i = 0; i < k; i++) {
        w[i] = 1;
    }
    dfd_status st = split_dataset(fold, ds, w, k, seed, err);
    dfd_free(w);
    return st;
}

dfd_status dfd_split_train_val(int *part, const dfd_dataset *ds, double val_frac, uint64_t seed,
                               dfd_error *err)
{
    if (!(val_frac > 0 && val_frac < 1)) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "split: validation fraction %g is not between 0 and 1", val_frac);
    }
    const double w[2] = { 1 - val_frac, val_frac };
    return split_dataset(part, ds, w, 2, seed, err);
}

dfd_status dfd_split_holdout(int *part, const dfd_dataset *ds, double val_frac, int folds, int fold,
                             uint64_t seed, dfd_error *err)
{
    if (folds == 0) {
        return dfd_split_train_val(part, ds, val_frac, seed, err);
    }
    if (fold < 0 || fold >= folds) {
        return dfd_error_set(err, DFD_ERR_INVALID, "split: fold %d of %d does not exist", fold,
                             folds);
    }
    if (!(val_frac > 0 && val_frac < 1)) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "split: validation fraction %g is not between 0 and 1", val_frac);
    }
    dfd_status st = dfd_split_kfold(part, ds, folds, seed, err);
    if (st) {
        return st;
    }
    // The other folds' items, split into training and validation by group and label.
    size_t n = 0;
    dfd_label *labels = dfd_malloc((ds->n ? ds->n : 1) * sizeof *labels);
    size_t *groups = dfd_malloc((ds->n ? ds->n : 1) * sizeof *groups);
    int *sub = dfd_malloc((ds->n ? ds->n : 1) * sizeof *sub);
    if (!labels || !groups || !sub) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "split: out of memory");
    }
    for (size_t i = 0; !st && i < ds->n; i++) {
        if (part[i] != fold) {
            labels[n] = ds->items[i].label;
            groups[n++] = ds->items[i].i_group;
        }
    }
    const double w[2] = { 1 - val_frac, val_frac };
    if (!st) {
        st = dfd_split_assign(sub, labels, groups, n, w, 2, seed, err);
    }
    for (size_t i = 0, k = 0; !st && i < ds->n; i++) {
        part[i] = part[i] == fold ? DFD_SPLIT_HELDOUT : sub[k++];
    }
    dfd_free(labels);
    dfd_free(groups);
    dfd_free(sub);
    return st;
}
