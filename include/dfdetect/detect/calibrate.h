// Temperature scaling: one scalar T > 0 fitted on held-out logits so that sigmoid(logit / T) is
// a calibrated probability (minimum log loss). It rescales confidence without reordering, so AUC
// and accuracy at 0.5 are unchanged.
#ifndef DFD_DETECT_CALIBRATE_H
#define DFD_DETECT_CALIBRATE_H

#include <stddef.h>

#include "dfdetect/util/status.h"

#define DFD_TEMPERATURE_MIN 0.05f
#define DFD_TEMPERATURE_MAX 100.f

// The T in [DFD_TEMPERATURE_MIN, DFD_TEMPERATURE_MAX] minimising the mean binary cross-entropy of
// sigmoid(logits[i] / T) against labels[i] (0 or 1; fractional labels allowed). Perfectly
// separated logits would want T -> 0: the bound is returned. Errors: DFD_ERR_INVALID (n == 0,
// a non-finite logit, a label outside [0, 1], or labels all equal).
dfd_status dfd_temperature_fit(float *t, const float *logits, const float *labels, size_t n,
                               dfd_error *err);

// sigmoid(logit / t), computed without overflow.
float dfd_calibrated(float logit, float t);

// Mean binary cross-entropy of sigmoid(logits[i] / t) (natural log), for reports.
double dfd_log_loss_at(const float *logits, const float *labels, size_t n, float t);

#endif
