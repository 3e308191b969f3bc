// Frame and identity aggregation rules.
#include "dfdetect/detect/aggregate.h"

#include <math.h>
#include <string.h>

static const char *const NAMES[DFD_AGG_COUNT] = { "mean", "vote", "confident" };

dfd_status dfd_aggregate_parse(dfd_aggregate *out, const char *name)
{
    for (int i = 0; i < DFD_AGG_COUNT; i++) {
        if (strcmp(name, NAMES[i]) == 0) {
            *out = (dfd_aggregate)i;
            return DFD_OK;
        }
    }
    return DFD_ERR_INVALID;
}

const char *dfd_aggregate_name(dfd_aggregate how)
{
    return how >= 0 && how < DFD_AGG_COUNT ? NAMES[how] : "unknown";
}

// Mean of the p[i] with lo < p[i] < hi, and how many there are.
static double mean_between(size_t *count, const float *p, size_t n, float lo, float hi)
{
    double s = 0;
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] > lo && p[i] < hi) {
            s += (double)p[i];
            c++;
        }
    }
    *count = c;
    return c ? s / (double)c : 0;
}

float dfd_aggregate_frames(dfd_aggregate how, const float *p, size_t n)
{
    if (n == 0) {
        return NAN;
    }
    size_t c;
    double all = mean_between(&c, p, n, -INFINITY, INFINITY);
    switch (how) {
    case DFD_AGG_VOTE: {
        size_t fake = 0;
        for (size_t i = 0; i < n; i++) {
            fake += p[i] > 0.5f;
        }
        return (float)fake / (float)n;
    }
    case DFD_AGG_CONFIDENT: {
        size_t n_fake, n_real;
        double fake = mean_between(&n_fake, p, n, 0.8f, INFINITY);
        double real = mean_between(&n_real, p, n, -INFINITY, 0.2f);
        if ((double)n_fake > 0.4 * (double)n && (double)n_fake > 11.0 * (double)n / 32.0) {
            return (float)fake;
        }
        if ((double)n_real > 0.9 * (double)n) {
            return (float)real;
        }
        return (float)all;
    }
    case DFD_AGG_MEAN:
    default:
        return (float)all;
    }
}

float dfd_aggregate_identities(const float *p, size_t n)
{
    if (n == 0) {
        return NAN;
    }
    float m = p[0];
    for (size_t i = 1; i < n; i++) {
        m = fmaxf(m, p[i]);
    }
    return m;
}
