// Dispatch and threads for the FMA peak measurement.
#include "peak.h"

#include <pthread.h>
#include <stdbool.h>

#include "dfdetect/util/fileio.h"

typedef struct peak_arg {
    bool avx512;
    long iters;
    double flops, seconds;
} peak_arg;

static void *peak_thread(void *p)
{
    peak_arg *a = p;
    double t0 = dfd_now();
    a->flops = a->avx512 ? peak_loop_avx512(a->iters) : peak_loop_avx2(a->iters);
    a->seconds = dfd_now() - t0;
    return NULL;
}

double peak_gflops(int n_threads, const char **isa)
{
    __builtin_cpu_init();
    bool avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !__builtin_cpu_supports("avx2")) {
        *isa = "none";
        return 0;
    }
    *isa = avx512 ? "avx512" : "avx2";
    if (n_threads > 16) {
        n_threads = 16;
    }
    double best = 0;
    for (int rep = 0; rep < 5; rep++) { // best of 5: the peak is what the core can do
        peak_arg args[16];
        pthread_t th[16];
        for (int t = 0; t < n_threads; t++) {
            args[t] = (peak_arg){ avx512, 20000000L, 0, 0 };
            pthread_create(&th[t], NULL, peak_thread, &args[t]);
        }
        double flops = 0, slowest = 0;
        for (int t = 0; t < n_threads; t++) {
            pthread_join(th[t], NULL);
            flops += args[t].flops;
            slowest = args[t].seconds > slowest ? args[t].seconds : slowest;
        }
        double g = flops / slowest / 1e9;
        best = g > best ? g : best;
    }
    return best;
}
