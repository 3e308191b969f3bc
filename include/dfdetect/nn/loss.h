// Losses of the detectors: binary cross-entropy on logits (the real/fake heads, one or several
// independent labels) and softmax cross-entropy over the last axis. Each returns the mean loss
// and writes d loss / d logits, the seed of the backward pass. Both are computed in double from
// softplus and log-sum-exp forms, so logits of any finite size (+-1e4 and beyond) give finite
// losses and gradients. Definitions follow PyTorch's BCEWithLogitsLoss and CrossEntropyLoss
// (reduction "mean"), so weights and smoothing mean the same thing there and here.
//
// Shapes: logits (N, C), row-major; N is every leading axis flattened (batch x time for
// sequences), C the last axis (classes or labels).
#ifndef DFD_NN_LOSS_H
#define DFD_NN_LOSS_H

#include <stddef.h>

// Options of dfd_loss_bce_logits; zero-initialised means none of them.
typedef struct dfd_bce_opts {
    const float *pos_weight;    // (C) or NULL: weight of the positive term of each class
                                // (torch pos_weight: > 1 raises recall of a rare positive)
    const float *class_weight;  // (C) or NULL: weight of each class's whole term (torch weight)
    const float *sample_weight; // (N) or NULL: weight of each row; 0 masks it out (padding)
    float label_smoothing;      // 0..1: targets become t (1 - s) + s / 2
} dfd_bce_opts;

// Binary cross-entropy with logits x and targets t in [0, 1] (soft targets allowed):
//   l(n, c) = cw[c] * (pw[c] * t' * softplus(-x) + (1 - t') * softplus(x)),  t' smoothed t
//   loss    = sum_n sw[n] sum_c l(n, c) / (C * sum_n sw[n])
// i.e. the mean over every element when sw is absent (torch's reduction), the mean over the
// unmasked rows under a 0/1 mask; class weights scale terms but do not enter the denominator
// (as torch). A total sample weight of 0 gives loss 0 and zero gradients.
// dlogits (N, C), may be NULL: overwritten with d loss / d logits. opts may be NULL.
// Returns the loss. Not for bad input: N, C >= 1 and non-negative weights are asserted.
float dfd_loss_bce_logits(float *dlogits, const float *logits, const float *targets, size_t n,
                          size_t c, const dfd_bce_opts *opts);

// Options of dfd_loss_softmax_ce; zero-initialised means none of them.
typedef struct dfd_ce_opts {
    const float *class_weight;  // (C) or NULL: weight of each class (torch weight)
    const float *sample_weight; // (N) or NULL: weight of each row; 0 masks it out (padding)
    float label_smoothing;      // 0..1: the target puts 1 - s on the label and s / C on every
                                // class (the label included), as torch's label_smoothing
} dfd_ce_opts;

// Softmax cross-entropy with integer labels y[n] in [0, C), log p = log_softmax(x) per row:
//   l(n)  = (1 - s) * w[y] * (-log p[y]) + (s / C) * sum_c w[c] * (-log p[c])
//   loss  = sum_n sw[n] l(n) / sum_n sw[n] w[y[n]]
// which is torch's weighted mean (weights absent: plain mean; a 0/1 mask: mean over unmasked
// rows, as ignore_index). A denominator of 0 gives loss 0 and zero gradients.
// dlogits (N, C), may be NULL: overwritten with d loss / d logits. opts may be NULL.
// Returns the loss. Labels outside [0, C), N or C < 1 and negative weights are asserted.
float dfd_loss_softmax_ce(float *dlogits, const float *logits, const int *labels, size_t n,
                          size_t c, const dfd_ce_opts *opts);

#endif
