// Losses: binary cross-entropy with logits and softmax cross-entropy (nn/loss.h), forward and
// gradient in one pass. Everything is computed in double: softplus and sigmoid in forms that
// never overflow, log-softmax after subtracting the row maximum.
#include "dfdetect/nn/loss.h"

#include <math.h>

#include "dfdetect/util/status.h"

// log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)).
static double softplus(double z)
{
    return (z > 0 ? z : 0.0) + log1p(exp(-fabs(z)));
}

// 1 / (1 + exp(-z)) without overflow in either direction.
static double sigmoid(double z)
{
    if (z >= 0) {
        return 1.0 / (1.0 + exp(-z));
    }
    double e = exp(z);
    return e / (1.0 + e);
}

static double weight_at(const float *w, size_t i)
{
    if (!w) {
        return 1.0;
    }
    DFD_ASSERT(w[i] >= 0.0f);
    return (double)w[i];
}

// ---- binary cross-entropy ----

float dfd_loss_bce_logits(float *dlogits, const float *logits, const float *targets, size_t n,
                          size_t c, const dfd_bce_opts *opts)
{
    static const dfd_bce_opts none = { 0 };
    const dfd_bce_opts *o = opts ? opts : &none;
    DFD_ASSERT(logits && targets && n >= 1 && c >= 1);
    DFD_ASSERT(o->label_smoothing >= 0.0f && o->label_smoothing <= 1.0f);
    const double s = (double)o->label_smoothing;

    double total_sw = 0.0;
    for (size_t i = 0; i < n; i++) {
        total_sw += weight_at(o->sample_weight, i);
    }
    // Each element's term carries sw[n] / (C * sum sw).
    const double denom = (double)c * total_sw;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double a = denom > 0 ? weight_at(o->sample_weight, i) / denom : 0.0;
        for (size_t j = 0; j < c; j++) {
            const size_t k = i * c + j;
            const double x = (double)logits[k];
            const double t = (double)targets[k] * (1.0 - s) + 0.5 * s;
            const double cw = weight_at(o->class_weight, j), pw = weight_at(o->pos_weight, j);
            // l = cw (pw t softplus(-x) + (1 - t) softplus(x))
            // dl/dx = cw (-pw t (1 - sigmoid(x)) + (1 - t) sigmoid(x)), 1 - sigmoid(x) =
            // sigmoid(-x)
            if (a > 0) {
                sum += a * cw * (pw * t * softplus(-x) + (1.0 - t) * softplus(x));
            }
            if (dlogits) {
                const double g = cw * (-pw * t * sigmoid(-x) + (1.0 - t) * sigmoid(x));
                dlogits[k] = (float)(a * g);
            }
        }
    }
    return (float)sum;
}

// ---- softmax cross-entropy ----

float dfd_loss_softmax_ce(float *dlogits, const float *logits, const int *labels, size_t n,
                          size_t c, const dfd_ce_opts *opts)
{
    static const dfd_ce_opts none = { 0 };
    const dfd_ce_opts *o = opts ? opts : &none;
    DFD_ASSERT(logits && labels && n >= 1 && c >= 1);
    DFD_ASSERT(o->label_smoothing >= 0.0f && o->label_smoothing <= 1.0f);
    const double s = (double)o->label_smoothing;

    double wsum = 0.0; // sum_c w[c], the smoothing term's total weight
    for (size_t j = 0; j < c; j++) {
        wsum += weight_at(o->class_weight, j);
    }
    double denom = 0.0;
    for (size_t i = 0; i < n; i++) {
        DFD_ASSERT(labels[i] >= 0 && (size_t)labels[i] < c);
        denom += weight_at(o->sample_weight, i) * weight_at(o->class_weight, (size_t)labels[i]);
    }
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *x = logits + i * c;
        const size_t y = (size_t)labels[i];
        const double a = denom > 0 ? weight_at(o->sample_weight, i) / denom : 0.0;
        const double wy = weight_at(o->class_weight, y);
        // log p[j] = x[j] - m - log(sum_k exp(x[k] - m)), m the row maximum
        double m = (double)x[0];
        for (size_t j = 1; j < c; j++) {
            m = fmax(m, (double)x[j]);
        }
        double se = 0.0;
        for (size_t j = 0; j < c; j++) {
            se += exp((double)x[j] - m);
        }
        const double lse = m + log(se);
        // l = (1 - s) wy (-log p[y]) + (s / C) sum_j w[j] (-log p[j])
        // dl/dx[j] = p[j] ((1 - s) wy + (s / C) W) - (1 - s) wy [j == y] - (s / C) w[j]
        double l = (1.0 - s) * wy * (lse - (double)x[y]);
        const double scale = (1.0 - s) * wy + s / (double)c * wsum;
        for (size_t j = 0; j < c; j++) {
            const double wj = weight_at(o->class_weight, j);
            l += s / (double)c * wj * (lse - (double)x[j]);
            if (dlogits) {
                double g = exp((double)x[j] - lse) * scale - s / (double)c * wj;
                if (j == y) {
                    g -= (1.0 - s) * wy;
                }
                dlogits[i * c + j] = (float)(a * g);
            }
        }
        if (a > 0) {
            sum += a * l;
        }
    }
    return (float)sum;
}
