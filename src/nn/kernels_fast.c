// Fast kernels. Placeholder-free start: until the oneDNN path lands, no node has a fast kernel
// and every node runs its reference kernel.
#include "nn_internal.h"

dfd_status nn_fast_prepare(nn_fast **out, const nn_args *a, dfd_error *err)
{
    (void)a;
    (void)err;
    *out = NULL;
    return DFD_OK;
}

void nn_fast_run(nn_fast *f, const nn_args *a)
{
    (void)f;
    (void)a;
}

void nn_fast_free(nn_fast *f)
{
    (void)f;
}
