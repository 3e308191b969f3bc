// Fully connected layer: plain loops (the heads are small), inner loops contiguous.
#include "dfdetect/nn/linear.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/util/alloc.h"

// splitmix64 -> [0, 1)
static double next_uniform(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

void dfd_linear_free(dfd_linear *l)
{
    if (!l) {
        return;
    }
    dfd_free(l->weight.value);
    dfd_free(l->weight.grad);
    dfd_free(l->bias.value);
    dfd_free(l->bias.grad);
    dfd_free(l->names);
    memset(l, 0, sizeof *l);
}

dfd_status dfd_linear_init(dfd_linear *l, const char *prefix, int in, int out, uint64_t seed,
                           dfd_error *err)
{
    memset(l, 0, sizeof *l);
    if (in < 1 || out < 1 || in > (1 << 20) || out > (1 << 20)) {
        return dfd_error_set(err, DFD_ERR_INVALID, "linear %s: sizes %d -> %d out of range", prefix,
                             in, out);
    }
    size_t nw = (size_t)in * (size_t)out, len = strlen(prefix) + 8;
    l->in = in;
    l->out = out;
    l->names = dfd_malloc(2 * len);
    l->weight.value = dfd_malloc(nw * sizeof(float));
    l->weight.grad = dfd_calloc(nw, sizeof(float));
    l->bias.value = dfd_malloc((size_t)out * sizeof(float));
    l->bias.grad = dfd_calloc((size_t)out, sizeof(float));
    if (!l->names || !l->weight.value || !l->weight.grad || !l->bias.value || !l->bias.grad) {
        dfd_linear_free(l);
        return dfd_error_set(err, DFD_ERR_NOMEM, "linear %s: out of memory", prefix);
    }
    snprintf(l->names, len, "%s/weight", prefix);
    snprintf(l->names + len, len, "%s/bias", prefix);
    l->weight.name = l->names;
    l->weight.rank = 2;
    l->weight.shape[0] = out;
    l->weight.shape[1] = in;
    l->bias.name = l->names + len;
    l->bias.rank = 1;
    l->bias.shape[0] = out;
    double bound = 1.0 / sqrt((double)in);
    uint64_t s = seed;
    for (size_t i = 0; i < nw; i++) {
        l->weight.value[i] = (float)((2 * next_uniform(&s) - 1) * bound);
    }
    for (int o = 0; o < out; o++) {
        l->bias.value[o] = (float)((2 * next_uniform(&s) - 1) * bound);
    }
    return DFD_OK;
}

void dfd_linear_forward(float *y, const dfd_linear *l, const float *x, size_t n)
{
    const size_t in = (size_t)l->in, out = (size_t)l->out;
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * in;
        for (size_t o = 0; o < out; o++) {
            const float *w = l->weight.value + o * in;
            float s = 0;
            for (size_t i = 0; i < in; i++) {
                s += w[i] * xr[i];
            }
            y[r * out + o] = s + l->bias.value[o];
        }
    }
}

void dfd_linear_backward(float *dx, dfd_linear *l, const float *x, const float *dy, size_t n)
{
    const size_t in = (size_t)l->in, out = (size_t)l->out;
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * in, *dyr = dy + r * out;
        for (size_t o = 0; o < out; o++) {
            float g = dyr[o];
            if (g == 0) {
                continue;
            }
            if (!l->weight.frozen) {
                float *gw = l->weight.grad + o * in;
                for (size_t i = 0; i < in; i++) {
                    gw[i] += g * xr[i];
                }
            }
            if (!l->bias.frozen) {
                l->bias.grad[o] += g;
            }
            if (dx) {
                const float *w = l->weight.value + o * in;
                float *dxr = dx + r * in;
                for (size_t i = 0; i < in; i++) {
                    dxr[i] += g * w[i];
                }
            }
        }
    }
}
