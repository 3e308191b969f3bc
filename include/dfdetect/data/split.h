// Splitting a dataset for training and evaluation: grouped (no group on two sides, so no face and
// no fake's source is seen in training and again in testing), stratified by label (each part
// gets about its share of REAL and FAKE), seeded and reproducible (the same seed and data give the
// same split on every machine; another seed gives another split).
//
// Method: groups are shuffled with the seed, then taken largest first (ties in shuffled order)
// and each is put in the part where it increases sum over parts and labels of
// (count - target)^2 / target the least, target being the part's share of that label's total.
// This is a greedy, chi-square version of scikit-learn's StratifiedGroupKFold: big groups are
// placed while there is room, small ones even out the label ratios.
#ifndef DFD_DATA_SPLIT_H
#define DFD_DATA_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/data/dataset.h"
#include "dfdetect/util/status.h"

// The general form: split n items with labels[i] and group ids groups[i] (any values; equal
// values are one group) into n_parts parts of relative sizes weights[p] (> 0; they need not sum
// to 1). Writes part[i] in 0..n_parts-1. A part may stay empty only when a few groups hold most
// of the items.
// Errors: DFD_ERR_INVALID (n_parts < 2, a weight not > 0 or not finite, fewer groups than
// parts, a label out of range), DFD_ERR_NOMEM. Thread-safe.
dfd_status dfd_split_assign(int *part, const dfd_label *labels, const size_t *groups, size_t n,
                            const double *weights, int n_parts, uint64_t seed, dfd_error *err);

// k-fold cross-validation over a dataset: fold[i] in 0..k-1 for each item (k >= 2, equal
// weights). Test on fold f, train on the others. Errors as dfd_split_assign.
dfd_status dfd_split_kfold(int *fold, const dfd_dataset *ds, int k, uint64_t seed, dfd_error *err);

// One train/validation split: part[i] = 0 (train) or 1 (validation), the validation part
// holding about val_frac of each label (0 < val_frac < 1). Errors as dfd_split_assign.
dfd_status dfd_split_train_val(int *part, const dfd_dataset *ds, double val_frac, uint64_t seed,
                               dfd_error *err);

// Cross-validation with early stopping: the items of fold `fold` of the grouped k-fold
// (dfd_split_kfold with `folds` and `seed`) are held out, part[i] = DFD_SPLIT_HELDOUT (2), never
// trained or validated on; the other items are split into training (0) and validation (1) as
// dfd_split_train_val does, by group and label. folds = 0: no held-out part, exactly
// dfd_split_train_val. Every stage of a training run and `dfdetect eval --holdout` call this
// with the same arguments, so they agree on which item is where.
// Errors: DFD_ERR_INVALID (fold outside 0..folds-1, val_frac outside (0, 1)), those of the splits.
#define DFD_SPLIT_HELDOUT 2
dfd_status dfd_split_holdout(int *part, const dfd_dataset *ds, double val_frac, int folds, int fold,
                             uint64_t seed, dfd_error *err);

#endif
