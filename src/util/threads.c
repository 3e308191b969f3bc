// Fixed pthread pool. A job is published under the mutex with a generation number; workers and
// the caller claim task indices from an atomic counter, and the caller waits until every claimed
// task has finished.
#include "dfdetect/util/threads.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "dfdetect/util/alloc.h"

typedef struct worker {
    dfd_pool *pool;
    int index;
    pthread_t thread;
} worker;

struct dfd_pool {
    int n_threads; // including the caller of dfd_pool_run
    worker *workers;
    int n_started;

    pthread_mutex_t mu;
    pthread_cond_t job_cv;  // a new job (or shutdown) was published
    pthread_cond_t done_cv; // the last task of a job finished
    unsigned long generation;
    bool shutdown;

    dfd_pool_fn fn;
    void *ctx;
    size_t n_tasks;
    atomic_size_t next_task;
    size_t n_done; // guarded by mu
};

// Claim and run tasks of the current job until none is left; report how many ran.
static void run_tasks(dfd_pool *p, int i_thread)
{
    size_t ran = 0;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next_task, 1);
        if (i >= p->n_tasks) {
            break;
        }
        p->fn(p->ctx, i, i_thread);
        ran++;
    }
    if (ran > 0) {
        pthread_mutex_lock(&p->mu);
        p->n_done += ran;
        if (p->n_done == p->n_tasks) {
            pthread_cond_signal(&p->done_cv);
        }
        pthread_mutex_unlock(&p->mu);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    dfd_pool *p = w->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->shutdown && p->generation == seen) {
            pthread_cond_wait(&p->job_cv, &p->mu);
        }
        if (p->shutdown) {
            break;
        }
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_tasks(p, w->index);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int dfd_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

dfd_status dfd_pool_create(dfd_pool **out, int n_threads, dfd_error *err)
{
    *out = NULL;
    if (n_threads <= 0) {
        n_threads = dfd_cpu_count();
    }
    dfd_pool *p = dfd_calloc(1, sizeof *p);
    if (!p) {
        return dfd_error_set(err, DFD_ERR_NOMEM, "thread pool: out of memory");
    }
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->job_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    atomic_init(&p->next_task, 0);
    if (n_threads > 1) {
        p->workers = dfd_calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            dfd_pool_destroy(p);
            return dfd_error_set(err, DFD_ERR_NOMEM, "thread pool: out of memory");
        }
        for (int i = 0; i < n_threads - 1; i++) {
            worker *w = &p->workers[i];
            w->pool = p;
            w->index = i + 1; // the caller is thread 0
            int rc = pthread_create(&w->thread, NULL, worker_main, w);
            if (rc != 0) {
                dfd_pool_destroy(p);
                return dfd_error_set_errno(err, DFD_ERR_IO, rc, "thread pool: cannot start thread");
            }
            p->n_started++;
        }
    }
    *out = p;
    return DFD_OK;
}

void dfd_pool_destroy(dfd_pool *p)
{
    if (!p) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    pthread_cond_broadcast(&p->job_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) {
        pthread_join(p->workers[i].thread, NULL);
    }
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->job_cv);
    pthread_mutex_destroy(&p->mu);
    dfd_free(p->workers);
    dfd_free(p);
}

int dfd_pool_size(const dfd_pool *p)
{
    return p->n_threads;
}

void dfd_pool_run(dfd_pool *p, dfd_pool_fn fn, void *ctx, size_t n_tasks)
{
    if (n_tasks == 0) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->n_done = 0;
    atomic_store(&p->next_task, 0);
    p->generation++;
    pthread_cond_broadcast(&p->job_cv);
    pthread_mutex_unlock(&p->mu);

    run_tasks(p, 0);

    pthread_mutex_lock(&p->mu);
    while (p->n_done < p->n_tasks) {
        pthread_cond_wait(&p->done_cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}
