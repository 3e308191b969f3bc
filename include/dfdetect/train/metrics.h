// Binary classification metrics for evaluation and training: ROC curve, AUC, log loss, accuracy,
// balanced accuracy, equal error rate, FPR at a target TPR, confusion matrix, the best threshold
// and a bootstrap confidence interval for AUC. `dfdetect train` and `dfdetect eval` report these at
// video and frame level; report/chart.h draws them.
//
// Conventions (the same as scikit-learn's):
// - labels[i] is 1 for the positive class (FAKE) and 0 for the negative class (REAL); any other
//   value is DFD_ERR_INVALID. scores[i] is the predicted probability (or any score) of the positive
//   class; NaN and infinite scores are DFD_ERR_INVALID.
// - A sample is predicted positive when score >= threshold.
// - Metrics that need both classes (ROC, AUC, EER, FPR at TPR, balanced accuracy, the AUC interval)
//   return DFD_ERR_INVALID with a message saying which class is missing when the labels hold one
//   class only, and then set their outputs to NaN (so a caller that reports anyway prints "nan",
//   never a made-up number). Log loss, accuracy and the confusion matrix are defined for one class.
// - n == 0 is DFD_ERR_INVALID everywhere, more than UINT32_MAX samples DFD_ERR_LIMIT. Inputs are
//   borrowed for the call. Errors name the function and the offending sample ("auc: score[7] =
//   nan is not finite"). Thread-safe.
#ifndef DFD_TRAIN_METRICS_H
#define DFD_TRAIN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/util/status.h"

// Clipping of probabilities in log loss: p is clamped to [eps, 1 - eps] (scikit-learn's historic
// default), so a confident wrong answer costs at most -log(1e-15) = 34.5 instead of infinity.
#define DFD_METRICS_LOG_LOSS_EPS 1e-15

// ---- ROC curve ----

// The ROC curve at every distinct score: point 0 is (0, 0) with threshold +infinity (nothing
// predicted positive), then one point per distinct score in decreasing order, with thresholds[i]
// that score and (fpr[i], tpr[i]) the rates when predicting score >= thresholds[i]; the last point
// is (1, 1). Like scikit-learn's roc_curve(drop_intermediate=False). Owning: free with
// dfd_roc_free.
typedef struct dfd_roc {
    double *fpr;        // n points, non-decreasing, fpr[0] = 0, fpr[n-1] = 1
    double *tpr;        // n points, non-decreasing, tpr[0] = 0, tpr[n-1] = 1
    double *thresholds; // n thresholds, decreasing, thresholds[0] = +INFINITY
    size_t n;           // number of distinct scores + 1
    size_t n_pos, n_neg;
} dfd_roc;

// Compute the ROC curve of n samples into *roc (overwritten; left empty on error).
// Errors: DFD_ERR_INVALID (n == 0, bad label or score, a single class), DFD_ERR_NOMEM.
dfd_status dfd_metrics_roc(dfd_roc *roc, const double *scores, const uint8_t *labels, size_t n,
                           dfd_error *err);

// Free the arrays of *roc and reset it to empty. Accepts NULL and empty curves.
void dfd_roc_free(dfd_roc *roc);

// ---- scalar metrics ----

// Area under the ROC curve, exactly: the Mann-Whitney U statistic with tied scores given average
// ranks, AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg), where R_pos is the sum of the
// positives' ranks (1-based, ascending scores). Equals the trapezoidal area under dfd_metrics_roc
// and scikit-learn's roc_auc_score. 1 for a perfect ranking, 0 for an inverted one, 0.5 when all
// scores are equal. Single class: DFD_ERR_INVALID and *auc = NaN.
// Errors: DFD_ERR_INVALID, DFD_ERR_NOMEM (it sorts a copy).
dfd_status dfd_metrics_auc(double *auc, const double *scores, const uint8_t *labels, size_t n,
                           dfd_error *err);

// Mean binary cross-entropy -mean(y log p + (1 - y) log(1 - p)) in nats with p clamped to
// [DFD_METRICS_LOG_LOSS_EPS, 1 - DFD_METRICS_LOG_LOSS_EPS]; scores must lie in [0, 1].
// Errors: DFD_ERR_INVALID (n == 0, bad label, score outside [0, 1] or NaN).
dfd_status dfd_metrics_log_loss(double *loss, const double *probs, const uint8_t *labels, size_t n,
                                dfd_error *err);

// Confusion matrix at `threshold`: counts[t][p] = number of samples of true class t predicted as
// class p (0 = negative/REAL, 1 = positive/FAKE), so counts[1][1] are true positives and
// counts[0][1] false positives. threshold must not be NaN.
// Errors: DFD_ERR_INVALID.
dfd_status dfd_metrics_confusion(long long counts[2][2], const double *scores,
                                 const uint8_t *labels, size_t n, double threshold, dfd_error *err);

// Everything one evaluation reports, at a given threshold.
typedef struct dfd_metrics {
    size_t n, n_pos, n_neg;
    double threshold;         // the threshold the threshold-dependent fields use
    double auc;               // NaN when one class is missing (as every field marked "2 classes")
    double log_loss;          // NaN when a score lies outside [0, 1] (not probabilities)
    double accuracy;          // (TP + TN) / n
    double balanced_accuracy; // (TPR + TNR) / 2; 2 classes
    double tpr, fpr;          // at the threshold; tpr NaN without positives, fpr without negatives
    double eer;               // equal error rate, 2 classes (see dfd_metrics_eer)
    double eer_threshold;
    double fpr_at_tpr90;       // FPR at 90% TPR (see dfd_metrics_fpr_at_tpr), 2 classes
    long long confusion[2][2]; // as dfd_metrics_confusion
} dfd_metrics;

// Fill *m with every metric at `threshold` (e.g. 0.5). Unlike the single-metric functions, a
// single-class input is not an error here: the 2-class fields are NaN and the rest are filled, so
// a report on a one-class subset still shows accuracy.
// Errors: DFD_ERR_INVALID (n == 0, bad label or score, NaN threshold), DFD_ERR_NOMEM.
dfd_status dfd_metrics_compute(dfd_metrics *m, const double *scores, const uint8_t *labels,
                               size_t n, double threshold, dfd_error *err);

// ---- metrics read off a ROC curve ----

// Equal error rate: the rate where the false-positive rate equals the false-negative rate
// (1 - TPR), with linear interpolation between the two ROC points where FNR - FPR changes sign
// (as scipy's brentq over interp1d(fpr, tpr) in the usual EER recipe). *threshold (may be NULL)
// gets the threshold of the first point where FPR >= FNR. 0 for a perfect ranking, 1 for an
// inverted one, 0.5 for constant scores.
void dfd_metrics_eer(double *eer, double *threshold, const dfd_roc *roc);

// The lowest FPR among ROC points with TPR >= target_tpr (0..1), i.e. the best real operating
// point that catches at least that share of positives (no interpolation). *threshold (may be
// NULL) gets that point's threshold.
double dfd_metrics_fpr_at_tpr(const dfd_roc *roc, double target_tpr, double *threshold);

// ---- threshold choice ----

typedef enum dfd_threshold_goal {
    DFD_THRESHOLD_ACCURACY,          // maximise accuracy
    DFD_THRESHOLD_BALANCED_ACCURACY, // maximise (TPR + TNR) / 2 (= Youden's J up to 2J - 1)
} dfd_threshold_goal;

// The threshold that maximises `goal` over all cuts between distinct scores, returned as the
// midpoint between the lowest score predicted positive and the highest score predicted negative
// (so new samples near the training scores are not decided by a hair); the smallest score when
// everything is predicted positive, just above the largest when nothing is. Among equally good
// cuts, the one whose threshold is closest to 0.5. *best (may be NULL) gets the goal's value.
// Errors: DFD_ERR_INVALID (as dfd_metrics_roc; a single class too for the balanced goal),
// DFD_ERR_NOMEM.
dfd_status dfd_metrics_best_threshold(double *threshold, double *best, const double *scores,
                                      const uint8_t *labels, size_t n, dfd_threshold_goal goal,
                                      dfd_error *err);

// ---- uncertainty ----

// Percentile bootstrap confidence interval for AUC: n_boot resamples of the n samples drawn with
// replacement (seeded, reproducible: the same seed gives the same interval on every machine),
// resamples with a single class are redrawn (at most 10 n_boot draws in all, then
// DFD_ERR_INVALID), and [*lo, *hi] are the (1 - level) / 2 and (1 + level) / 2 quantiles of the
// resampled AUCs (linear interpolation between order statistics, numpy's default). O(n log n +
// n_boot n) time. level in (0, 1), e.g. 0.95; n_boot 10..1000000.
// Errors: DFD_ERR_INVALID (bad arguments, a single class), DFD_ERR_NOMEM. Outputs NaN on error.
dfd_status dfd_metrics_auc_ci(double *lo, double *hi, const double *scores, const uint8_t *labels,
                              size_t n, size_t n_boot, double level, uint64_t seed, dfd_error *err);

#endif
