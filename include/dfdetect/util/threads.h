// A small fixed thread pool that runs "parallel for" jobs: n tasks, each a call fn(ctx, i).
// Used for work coarser than a kernel (one face, one video, one file); kernels use OpenMP.
#ifndef DFD_UTIL_THREADS_H
#define DFD_UTIL_THREADS_H

#include <stddef.h>

#include "dfdetect/util/status.h"

typedef struct dfd_pool dfd_pool;

// One task: `i_task` in [0, n_tasks); `i_thread` in [0, dfd_pool_size) names the executing
// thread, so tasks can use per-thread scratch. Tasks of one job run concurrently and must write
// disjoint outputs.
typedef void (*dfd_pool_fn)(void *ctx, size_t i_task, int i_thread);

// Create a pool of `n_threads` threads in total, the caller of dfd_pool_run counting as one
// (so n_threads == 1 starts no thread). n_threads <= 0 means dfd_cpu_count().
// Errors: DFD_ERR_NOMEM, DFD_ERR_IO (the OS refused a thread).
dfd_status dfd_pool_create(dfd_pool **out, int n_threads, dfd_error *err);

// Stop and join the threads. Must not be called while a job runs. Accepts NULL.
void dfd_pool_destroy(dfd_pool *pool);

// Number of threads that execute tasks (including the caller).
int dfd_pool_size(const dfd_pool *pool);

// Run fn for every task and return when all have finished. The calling thread executes tasks
// too. Not reentrant: one job at a time per pool (callers serialise), and fn must not call
// dfd_pool_run on the same pool.
void dfd_pool_run(dfd_pool *pool, dfd_pool_fn fn, void *ctx, size_t n_tasks);

// Online CPUs of this machine (at least 1).
int dfd_cpu_count(void);

#endif
