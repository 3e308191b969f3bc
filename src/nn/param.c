// Parameter views: sizes and gradient reset.
#include "dfdetect/nn/param.h"

#include <string.h>

size_t dfd_param_numel(const dfd_param *p)
{
    size_t n = p->rank > 0 ? 1 : 0;
    for (int i = 0; i < p->rank; i++) {
        n *= (size_t)p->shape[i];
    }
    return n;
}

void dfd_params_zero_grad(dfd_param *const *params, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (params[i]->grad) {
            memset(params[i]->grad, 0, dfd_param_numel(params[i]) * sizeof(float));
        }
    }
}
