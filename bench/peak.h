// The machine's FP32 peak, measured with a loop of independent fused multiply-adds (enough
// accumulators to hide the FMA latency). Per-ISA loops live in peak_avx512.c and peak_avx2.c,
// compiled with their -m flags; peak.c picks one at run time.
#ifndef DFD_BENCH_PEAK_H
#define DFD_BENCH_PEAK_H

// FLOPs done by `iters` iterations of the loop of each ISA (2 per FMA lane).
double peak_loop_avx512(long iters);
double peak_loop_avx2(long iters);

// Measured GFLOP/s on n_threads threads (each running the widest loop the CPU supports), and
// the name of the ISA used.
double peak_gflops(int n_threads, const char **isa);

#endif
