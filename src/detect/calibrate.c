// Temperature scaling by bisection on the derivative of a convex loss.
#include "dfdetect/detect/calibrate.h"

#include <math.h>

static double sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

// log(1 + exp(x)) without overflow.
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

float dfd_calibrated(float logit, float t)
{
    return (float)sigmoid((double)logit / (double)t);
}

double dfd_log_loss_at(const float *logits, const float *labels, size_t n, float t)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double z = (double)logits[i] / (double)t, y = (double)labels[i];
        // BCE(sigmoid(z), y) = y softplus(-z) + (1 - y) softplus(z)
        s += y * softplus(-z) + (1 - y) * softplus(z);
    }
    return n ? s / (double)n : (double)NAN;
}

// d/da of the summed loss at scale a = 1/T: sum (sigmoid(a z) - y) z, increasing in a.
static double slope(const float *logits, const float *labels, size_t n, double a)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double z = (double)logits[i];
        s += (sigmoid(a * z) - (double)labels[i]) * z;
    }
    return s;
}

dfd_status dfd_temperature_fit(float *t, const float *logits, const float *labels, size_t n,
                               dfd_error *err)
{
    *t = 1.f;
    if (n == 0) {
        return dfd_error_set(err, DFD_ERR_INVALID, "calibration: no samples");
    }
    float lo_y = 1, hi_y = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(logits[i]) || !(labels[i] >= 0 && labels[i] <= 1)) {
            return dfd_error_set(err, DFD_ERR_INVALID,
                                 "calibration: sample %zu has a non-finite logit or a label "
                                 "outside [0, 1]",
                                 i);
        }
        lo_y = fminf(lo_y, labels[i]);
        hi_y = fmaxf(hi_y, labels[i]);
    }
    if (lo_y == hi_y) {
        return dfd_error_set(err, DFD_ERR_INVALID,
                             "calibration: every sample has the same label (%g); both classes "
                             "are needed",
                             (double)lo_y);
    }
    // The loss is convex in a = 1/T: bisect its derivative in log a.
    double lo = log(1.0 / (double)DFD_TEMPERATURE_MAX), hi = log(1.0 / (double)DFD_TEMPERATURE_MIN);
    if (slope(logits, labels, n, exp(lo)) >= 0) {
        *t = DFD_TEMPERATURE_MAX;
        return DFD_OK;
    }
    if (slope(logits, labels, n, exp(hi)) <= 0) {
        *t = DFD_TEMPERATURE_MIN;
        return DFD_OK;
    }
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi);
        if (slope(logits, labels, n, exp(mid)) < 0) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    *t = (float)(1.0 / exp(0.5 * (lo + hi)));
    return DFD_OK;
}
