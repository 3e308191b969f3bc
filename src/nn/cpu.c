// CPU feature checks that pick kernels (done once; the answers never change).
#include "nn_internal.h"

bool nn_dwpw_fast_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
}
