// Binary classification metrics (train/metrics.h). Everything threshold-free starts from the
// samples sorted by score and walked group by group (a group = samples with equal scores), which
// handles ties exactly: ROC points step once per group, AUC counts a tied positive/negative pair
// as half a win (Mann-Whitney with average ranks). The bootstrap reuses the one sort and only
// reweights samples, so each resample costs O(n).
#include "dfdetect/train/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"

typedef struct sample {
    double score;
    uint32_t index; // position in the caller's arrays (orders ties reproducibly)
    uint8_t label;
} sample;

// ---- input checks ----

// Check arrays, labels and scores; count the classes. `unit`: scores must lie in [0, 1].
static dfd_status check_input(size_t *n_pos, size_t *n_neg, const char *what, const double *scores,
                              const uint8_t *labels, size_t n, bool unit, dfd_error *err)
{
    *n_pos = *n_neg = 0;
    if (!scores || !labels || n == 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "%s: no samples", what);
    }
    if (n > UINT32_MAX) {
        return dfd_error_set(err, DFD_ERR_LIMIT, "%s: %zu samples (at most %u)", what, n,
                             (unsigned)UINT32_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if (labels[i] > 1) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: label[%zu] = %u is not 0 or 1", what, i,
                                 (unsigned)labels[i]);
        }
        if (!isfinite(scores[i]) || (unit && (scores[i] < 0.0 || scores[i] > 1.0))) {
            return dfd_error_set(err, DFD_ERR_INVALID, "%s: score[%zu] = %g is not %s", what, i,
                                 scores[i], unit ? "a probability in [0, 1]" : "finite");
        }
        *n_pos += labels[i];
    }
    *n_neg = n - *n_pos;
    return DFD_OK;
}

static dfd_status need_both(size_t n_pos, size_t n_neg, const char *what, dfd_error *err)
{
    if (n_pos == 0 || n_neg == 0) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "%s: undefined with one class only (%zu positive, %zu negative)", what,
                             n_pos, n_neg);
    }
    return DFD_OK;
}

// check_input, then both classes required.
static dfd_status check_two_class(size_t *n_pos, size_t *n_neg, const char *what,
                                  const double *scores, const uint8_t *labels, size_t n,
                                  dfd_error *err)
{
    dfd_status st = check_input(n_pos, n_neg, what, scores, labels, n, false, err);
    return st ? st : need_both(*n_pos, *n_neg, what, err);
}

// ---- sorting ----

static int by_score_desc(const void *a, const void *b)
{
    const sample *x = a, *y = b;
    if (x->score != y->score) {
        return x->score < y->score ? 1 : -1;
    }
    return x->index < y->index ? -1 : x->index > y->index; // stable order for equal scores
}

// A new array of the samples sorted by decreasing score (free with dfd_free); NULL on NOMEM.
static sample *sorted_desc(const double *scores, const uint8_t *labels, size_t n)
{
    sample *s = dfd_malloc(n * sizeof *s);
    if (!s) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        s[i] = (sample){ scores[i], (uint32_t)i, labels[i] };
    }
    qsort(s, n, sizeof *s, by_score_desc);
    return s;
}

// End (exclusive) of the group of equal scores starting at i.
static size_t group_end(const sample *s, size_t n, size_t i)
{
    size_t j = i + 1;
    while (j < n && s[j].score == s[i].score) {
        j++;
    }
    return j;
}

// AUC of samples sorted by decreasing score, s[i] counted w[i] times (w NULL: once). Walking
// from the highest score down, a negative loses to every positive above its group and ties with
// half of the positives in it: 2 wins = sum_groups neg_g * (2 pos_above_g + pos_g), counted in
// integers (exact: at most n^2 / 2 < 2^64 for n < 2^32) in one pass. NaN when a class has no
// weight.
static double auc_sorted(const sample *s, size_t n, const uint32_t *w)
{
    uint64_t pos_above = 0, n_neg = 0, pos_g = 0, neg_g = 0, wins2 = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && s[i].score != s[i - 1].score) { // a group ends
            wins2 += neg_g * (2 * pos_above + pos_g);
            pos_above += pos_g;
            n_neg += neg_g;
            pos_g = neg_g = 0;
        }
        const uint64_t c = w ? w[i] : 1;
        pos_g += c * s[i].label;
        neg_g += c * (1u - s[i].label);
    }
    wins2 += neg_g * (2 * pos_above + pos_g);
    pos_above += pos_g;
    n_neg += neg_g;
    if (pos_above == 0 || n_neg == 0) {
        return (double)NAN;
    }
    return (double)wins2 / (2.0 * (double)pos_above * (double)n_neg);
}

// ---- ROC ----

void dfd_roc_free(dfd_roc *roc)
{
    if (!roc) {
        return;
    }
    dfd_free(roc->fpr);
    dfd_free(roc->tpr);
    dfd_free(roc->thresholds);
    memset(roc, 0, sizeof *roc);
}

// The curve from already sorted samples with both classes present.
static dfd_status roc_from_sorted(dfd_roc *roc, const sample *s, size_t n, size_t n_pos,
                                  size_t n_neg)
{
    size_t groups = 0;
    for (size_t i = 0; i < n; i = group_end(s, n, i)) {
        groups++;
    }
    roc->fpr = dfd_malloc((groups + 1) * sizeof(double));
    roc->tpr = dfd_malloc((groups + 1) * sizeof(double));
    roc->thresholds = dfd_malloc((groups + 1) * sizeof(double));
    if (!roc->fpr || !roc->tpr || !roc->thresholds) {
        dfd_roc_free(roc);
        return DFD_ERR_NOMEM;
    }
    roc->n_pos = n_pos;
    roc->n_neg = n_neg;
    roc->fpr[0] = roc->tpr[0] = 0.0;
    roc->thresholds[0] = (double)INFINITY;
    size_t tp = 0, fp = 0, k = 1;
    for (size_t i = 0; i < n;) {
        size_t j = group_end(s, n, i);
        for (size_t q = i; q < j; q++) {
            tp += s[q].label;
            fp += !s[q].label;
        }
        roc->fpr[k] = (double)fp / (double)n_neg;
        roc->tpr[k] = (double)tp / (double)n_pos;
        roc->thresholds[k] = s[i].score;
        k++;
        i = j;
    }
    roc->n = k;
    return DFD_OK;
}

dfd_status dfd_metrics_roc(dfd_roc *roc, const double *scores, const uint8_t *labels, size_t n,
                           dfd_error *err)
{
    if (!roc) {
        return dfd_error_set(err, DFD_ERR_INVALID, "roc: NULL output");
    }
    memset(roc, 0, sizeof *roc);
    size_t n_pos, n_neg;
    dfd_status st = check_two_class(&n_pos, &n_neg, "roc", scores, labels, n, err);
    if (st) {
        return st;
    }
    sample *s = sorted_desc(scores, labels, n);
    st = s ? roc_from_sorted(roc, s, n, n_pos, n_neg) : DFD_ERR_NOMEM;
    dfd_free(s);
    return st ? dfd_error_set(err, st, "roc: out of memory for %zu samples", n) : DFD_OK;
}

// ---- scalar metrics ----

dfd_status dfd_metrics_auc(double *auc, const double *scores, const uint8_t *labels, size_t n,
                           dfd_error *err)
{
    *auc = (double)NAN;
    size_t n_pos, n_neg;
    dfd_status st = check_two_class(&n_pos, &n_neg, "auc", scores, labels, n, err);
    if (st) {
        return st;
    }
    sample *s = sorted_desc(scores, labels, n);
    if (!s) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "auc: out of memory for %zu samples", n);
    }
    *auc = auc_sorted(s, n, NULL);
    dfd_free(s);
    return DFD_OK;
}

static double log_loss_of(const double *probs, const uint8_t *labels, size_t n)
{
    const double eps = DFD_METRICS_LOG_LOSS_EPS;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double p = probs[i] < eps ? eps : probs[i] > 1.0 - eps ? 1.0 - eps : probs[i];
        sum -= labels[i] ? log(p) : log1p(-p);
    }
    return sum / (double)n;
}

dfd_status dfd_metrics_log_loss(double *loss, const double *probs, const uint8_t *labels, size_t n,
                                dfd_error *err)
{
    *loss = (double)NAN;
    size_t n_pos, n_neg;
    dfd_status st = check_input(&n_pos, &n_neg, "log loss", probs, labels, n, true, err);
    if (st) {
        return st;
    }
    *loss = log_loss_of(probs, labels, n);
    return DFD_OK;
}

static void confusion_of(long long counts[2][2], const double *scores, const uint8_t *labels,
                         size_t n, double threshold)
{
    memset(counts, 0, 4 * sizeof(long long));
    for (size_t i = 0; i < n; i++) {
        counts[labels[i]][scores[i] >= threshold]++;
    }
}

dfd_status dfd_metrics_confusion(long long counts[2][2], const double *scores,
                                 const uint8_t *labels, size_t n, double threshold, dfd_error *err)
{
    memset(counts, 0, 4 * sizeof(long long));
    size_t n_pos, n_neg;
    dfd_status st = check_input(&n_pos, &n_neg, "confusion", scores, labels, n, false, err);
    if (!st && isnan(threshold)) {
        st = dfd_error_set(err, DFD_ERR_INVALID, "confusion: threshold is NaN");
    }
    if (!st) {
        confusion_of(counts, scores, labels, n, threshold);
    }
    return st;
}

// ---- metrics read off a ROC curve ----

void dfd_metrics_eer(double *eer, double *threshold, const dfd_roc *roc)
{
    *eer = (double)NAN;
    if (threshold) {
        *threshold = (double)NAN;
    }
    if (!roc || roc->n < 2 || !roc->fpr || !roc->tpr) {
        return;
    }
    // f = FNR - FPR falls from 1 at (0, 0) to -1 at (1, 1); find where it reaches 0.
    double f_prev = 1.0;
    for (size_t i = 1; i < roc->n; i++) {
        double f = (1.0 - roc->tpr[i]) - roc->fpr[i];
        if (f <= 0.0) {
            double a = f_prev / (f_prev - f); // f_prev > 0 >= f, so 0 < a <= 1
            *eer = roc->fpr[i - 1] + a * (roc->fpr[i] - roc->fpr[i - 1]);
            if (threshold && roc->thresholds) {
                *threshold = roc->thresholds[i];
            }
            return;
        }
        f_prev = f;
    }
}

double dfd_metrics_fpr_at_tpr(const dfd_roc *roc, double target_tpr, double *threshold)
{
    if (threshold) {
        *threshold = (double)NAN;
    }
    if (!roc || !roc->fpr || !roc->tpr || !(target_tpr >= 0.0 && target_tpr <= 1.0)) {
        return (double)NAN;
    }
    // The curve is monotone: the first point reaching the target has the lowest FPR.
    for (size_t i = 0; i < roc->n; i++) {
        if (roc->tpr[i] >= target_tpr) {
            if (threshold && roc->thresholds) {
                *threshold = roc->thresholds[i];
            }
            return roc->fpr[i];
        }
    }
    return (double)NAN;
}

// ---- everything at once ----

static void set_nan_fields(dfd_metrics *m)
{
    m->auc = m->log_loss = m->accuracy = m->balanced_accuracy = (double)NAN;
    m->tpr = m->fpr = m->eer = m->eer_threshold = m->fpr_at_tpr90 = (double)NAN;
}

dfd_status dfd_metrics_compute(dfd_metrics *m, const double *scores, const uint8_t *labels,
                               size_t n, double threshold, dfd_error *err)
{
    memset(m, 0, sizeof *m);
    set_nan_fields(m);
    m->threshold = threshold;
    dfd_status st = check_input(&m->n_pos, &m->n_neg, "metrics", scores, labels, n, false, err);
    if (st) {
        return st;
    }
    if (isnan(threshold)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "metrics: threshold is NaN");
    }
    m->n = n;
    bool unit = true;
    for (size_t i = 0; i < n; i++) {
        unit = unit && scores[i] >= 0.0 && scores[i] <= 1.0;
    }
    if (unit) {
        m->log_loss = log_loss_of(scores, labels, n);
    }
    confusion_of(m->confusion, scores, labels, n, threshold);
    const long long tn = m->confusion[0][0], fp = m->confusion[0][1];
    const long long fn = m->confusion[1][0], tp = m->confusion[1][1];
    m->accuracy = (double)(tp + tn) / (double)n;
    if (m->n_pos) {
        m->tpr = (double)tp / (double)(tp + fn);
    }
    if (m->n_neg) {
        m->fpr = (double)fp / (double)(fp + tn);
    }
    if (!m->n_pos || !m->n_neg) {
        return DFD_OK; // the 2-class fields stay NaN
    }
    m->balanced_accuracy = (m->tpr + (1.0 - m->fpr)) / 2.0;
    sample *s = sorted_desc(scores, labels, n);
    dfd_roc roc = { 0 };
    st = s ? roc_from_sorted(&roc, s, n, m->n_pos, m->n_neg) : DFD_ERR_NOMEM;
    if (!st) {
        m->auc = auc_sorted(s, n, NULL);
        dfd_metrics_eer(&m->eer, &m->eer_threshold, &roc);
        m->fpr_at_tpr90 = dfd_metrics_fpr_at_tpr(&roc, 0.9, NULL);
    }
    dfd_roc_free(&roc);
    dfd_free(s);
    return st ? dfd_error_set(err, st, "metrics: out of memory for %zu samples", n) : DFD_OK;
}

// ---- threshold choice ----

// The threshold of the cut that predicts the first k groups positive (see the header).
static double cut_threshold(const sample *s, size_t n, size_t end_k, size_t k)
{
    if (k == 0) {
        return nextafter(s[0].score, (double)INFINITY);
    }
    if (end_k >= n) {
        return s[n - 1].score;
    }
    double a = s[end_k - 1].score, b = s[end_k].score; // lowest positive, highest negative
    double mid = a / 2.0 + b / 2.0;
    return mid > b ? mid : a;
}

dfd_status dfd_metrics_best_threshold(double *threshold, double *best, const double *scores,
                                      const uint8_t *labels, size_t n, dfd_threshold_goal goal,
                                      dfd_error *err)
{
    *threshold = (double)NAN;
    if (best) {
        *best = (double)NAN;
    }
    size_t n_pos, n_neg;
    dfd_status st = check_input(&n_pos, &n_neg, "best threshold", scores, labels, n, false, err);
    if (!st && goal != DFD_THRESHOLD_ACCURACY && goal != DFD_THRESHOLD_BALANCED_ACCURACY) {
        st = dfd_error_set(err, DFD_ERR_INVALID, "best threshold: unknown goal %d", (int)goal);
    }
    if (!st && goal == DFD_THRESHOLD_BALANCED_ACCURACY) {
        st = need_both(n_pos, n_neg, "best threshold (balanced accuracy)", err);
    }
    if (st) {
        return st;
    }
    sample *s = sorted_desc(scores, labels, n);
    if (!s) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "best threshold: out of memory");
    }
    // Scores compared exactly as integers: accuracy ~ tp + tn; balanced ~ tp * N + tn * P.
    const uint64_t P = n_pos, N = n_neg;
    uint64_t tp = 0, fp = 0, best_v = 0;
    double best_t = (double)NAN;
    size_t end = 0;
    for (size_t k = 0;; k++) {
        uint64_t tn = N - fp;
        uint64_t v = goal == DFD_THRESHOLD_ACCURACY ? tp + tn : tp * N + tn * P;
        double t = cut_threshold(s, n, end, k);
        if (isnan(best_t) || v > best_v || (v == best_v && fabs(t - 0.5) < fabs(best_t - 0.5))) {
            best_v = v;
            best_t = t;
        }
        if (end >= n) {
            break;
        }
        size_t j = group_end(s, n, end);
        for (size_t q = end; q < j; q++) {
            tp += s[q].label;
            fp += !s[q].label;
        }
        end = j;
    }
    dfd_free(s);
    *threshold = best_t;
    if (best) {
        *best = goal == DFD_THRESHOLD_ACCURACY ? (double)best_v / (double)n
                                               : (double)best_v / (2.0 * (double)P * (double)N);
    }
    return DFD_OK;
}

// ---- bootstrap ----

// splitmix64: a tiny, well-mixed generator, the same numbers on every platform.
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Uniform integer in [0, n) without bias, by Lemire's multiply-shift: the high half of a 32-bit
// random number times n, redrawing only in the rare case (probability < n / 2^32) that would
// favour some values. No division on the common path.
static uint32_t uniform_below(uint64_t *state, uint32_t n)
{
    uint64_t m = (splitmix64(state) >> 32) * n;
    if ((uint32_t)m < n) {
        const uint32_t t = (uint32_t)(0u - n) % n; // 2^32 mod n
        while ((uint32_t)m < t) {
            m = (splitmix64(state) >> 32) * n;
        }
    }
    return (uint32_t)(m >> 32);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Quantile q of sorted v[0..n) with linear interpolation (numpy's default method).
static double quantile(const double *v, size_t n, double q)
{
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (h - (double)lo) * (v[hi] - v[lo]);
}

dfd_status dfd_metrics_auc_ci(double *lo, double *hi, const double *scores, const uint8_t *labels,
                              size_t n, size_t n_boot, double level, uint64_t seed, dfd_error *err)
{
    *lo = *hi = (double)NAN;
    size_t n_pos, n_neg;
    dfd_status st = check_two_class(&n_pos, &n_neg, "auc interval", scores, labels, n, err);
    if (!st && (n_boot < 10 || n_boot > 1000000 || !(level > 0.0 && level < 1.0))) {
        st = dfd_error_set(err, DFD_ERR_INVALID,
                           "auc interval: %zu resamples at level %g (10..1000000, level in (0, 1))",
                           n_boot, level);
    }
    if (st) {
        return st;
    }
    sample *s = sorted_desc(scores, labels, n);
    uint32_t *w = dfd_malloc(n * sizeof *w);
    double *aucs = dfd_malloc(n_boot * sizeof *aucs);
    if (!s || !w || !aucs) {
        st = dfd_error_set(err, DFD_ERR_NOMEM, "auc interval: out of memory");
        goto done;
    }
    uint64_t state = seed;
    size_t got = 0, tries = 0;
    while (got < n_boot) {
        if (++tries > 10 * n_boot) {
            st = dfd_error_set(err, DFD_ERR_INVALID,
                               "auc interval: too many resamples hold one class only (%zu "
                               "positive, %zu negative)",
                               n_pos, n_neg);
            goto done;
        }
        memset(w, 0, n * sizeof *w);
        for (size_t i = 0; i < n; i++) {
            w[uniform_below(&state, (uint32_t)n)]++; // a position in the sorted order
        }
        double a = auc_sorted(s, n, w);
        if (!isnan(a)) {
            aucs[got++] = a;
        }
    }
    qsort(aucs, n_boot, sizeof *aucs, cmp_double);
    *lo = quantile(aucs, n_boot, (1.0 - level) / 2.0);
    *hi = quantile(aucs, n_boot, (1.0 + level) / 2.0);
done:
    dfd_free(s);
    dfd_free(w);
    dfd_free(aucs);
    return st;
}
