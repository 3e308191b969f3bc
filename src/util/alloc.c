// Counting allocator with fault injection. Each block carries a small header holding its size so
// frees can be counted; aligned blocks use a header of DFD_ALIGN bytes to keep the payload aligned.
// Large aligned blocks (decoded frames, tensors) are mapped directly with transparent huge pages
// and populated up front: first-touch page faults on 4 KiB pages cost more than decoding the
// frames (measured in bench/decode, docs/PERFORMANCE.md). Freed ones are kept for reuse up to a
// bound, so a long-lived process (the server, a scan of many files, training, the benches) gets
// the next video's frames without page faults or zeroing.

// mmap's MAP_ANONYMOUS and madvise's Linux advice are outside POSIX 2008.
#define _DEFAULT_SOURCE
#include "dfdetect/util/alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dfdetect/util/size.h"

// 16 bytes keeps the payload aligned like malloc's result (max_align_t on x86-64 and arm64).
#define HEADER 16
_Static_assert(HEADER >= sizeof(size_t), "header must hold the block size");
_Static_assert(DFD_ALIGN >= sizeof(size_t) && DFD_ALIGN % HEADER == 0, "bad alignment");

static atomic_size_t g_in_use;
static atomic_long g_fail_after = -1; // successful allocations left before failing; <0: never

// One allocation is about to happen: false when the fault injector says it must fail.
static bool allocation_allowed(void)
{
    long left = atomic_load(&g_fail_after);
    while (left >= 0) {
        if (left == 0) {
            return false;
        }
        if (atomic_compare_exchange_weak(&g_fail_after, &left, left - 1)) {
            return true;
        }
    }
    return true;
}

void dfd_alloc_fail_after(long n)
{
    atomic_store(&g_fail_after, n < 0 ? -1 : n);
}

size_t dfd_alloc_bytes_in_use(void)
{
    return atomic_load(&g_in_use);
}

void *dfd_malloc(size_t n)
{
    size_t total;
    if (!dfd_size_add(&total, n, HEADER) || !allocation_allowed()) {
        return NULL;
    }
    unsigned char *base = malloc(total);
    if (!base) {
        return NULL;
    }
    memcpy(base, &n, sizeof n);
    atomic_fetch_add(&g_in_use, n);
    return base + HEADER;
}

void *dfd_calloc(size_t count, size_t size)
{
    size_t n;
    if (!dfd_size_mul(&n, count, size)) {
        return NULL;
    }
    void *p = dfd_malloc(n);
    if (p) {
        memset(p, 0, n);
    }
    return p;
}

void *dfd_realloc(void *p, size_t n)
{
    if (!p) {
        return dfd_malloc(n);
    }
    size_t total;
    if (!dfd_size_add(&total, n, HEADER) || !allocation_allowed()) {
        return NULL;
    }
    unsigned char *base = (unsigned char *)p - HEADER;
    size_t old;
    memcpy(&old, base, sizeof old);
    unsigned char *nb = realloc(base, total);
    if (!nb) {
        return NULL;
    }
    memcpy(nb, &n, sizeof n);
    atomic_fetch_sub(&g_in_use, old);
    atomic_fetch_add(&g_in_use, n);
    return nb + HEADER;
}

void dfd_free(void *p)
{
    if (!p) {
        return;
    }
    unsigned char *base = (unsigned char *)p - HEADER;
    size_t n;
    memcpy(&n, base, sizeof n);
    atomic_fetch_sub(&g_in_use, n);
    free(base);
}

char *dfd_strdup(const char *s)
{
    if (!s) {
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *d = dfd_malloc(n);
    if (d) {
        memcpy(d, s, n);
    }
    return d;
}

// Blocks from this size up are mapped (see the file comment).
#define BIG_BLOCK ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

// Header of an aligned block, in the DFD_ALIGN bytes before the payload.
typedef struct aligned_header {
    size_t n;        // requested bytes
    void *base;      // what to free or unmap
    size_t map_size; // 0: from aligned_alloc; else the length of the mapping
} aligned_header;
_Static_assert(sizeof(aligned_header) <= DFD_ALIGN, "aligned header too large");

// ---- big blocks: mapped, and kept for reuse ----

// Freed mappings wait here for an allocation of the same mapping size, oldest first out when
// room is needed. Reused memory is not zero.
#define CACHE_SLOTS 64
#define CACHE_BYTES ((size_t)384 << 20)

typedef struct cached_map {
    void *base;
    size_t size;
} cached_map;

static cached_map g_cache[CACHE_SLOTS]; // oldest first
static size_t g_cache_n, g_cache_bytes;
static pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static void *cache_take(size_t map_size)
{
    void *base = NULL;
    pthread_mutex_lock(&g_cache_lock);
    for (size_t i = g_cache_n; i-- > 0;) { // newest first: its pages are the warmest
        if (g_cache[i].size == map_size) {
            base = g_cache[i].base;
            g_cache_bytes -= map_size;
            memmove(&g_cache[i], &g_cache[i + 1], (g_cache_n - i - 1) * sizeof g_cache[0]);
            g_cache_n--;
            break;
        }
    }
    pthread_mutex_unlock(&g_cache_lock);
    return base;
}

// Keep a freed mapping, evicting the oldest to make room; unmap it when it cannot fit at all.
static void cache_put(void *base, size_t map_size)
{
    cached_map evicted[CACHE_SLOTS];
    size_t n_evicted = 0;
    bool kept = false;
    pthread_mutex_lock(&g_cache_lock);
    if (map_size <= CACHE_BYTES) {
        while (g_cache_n > 0 &&
               (g_cache_n == CACHE_SLOTS || g_cache_bytes + map_size > CACHE_BYTES)) {
            evicted[n_evicted++] = g_cache[0];
            g_cache_bytes -= g_cache[0].size;
            memmove(&g_cache[0], &g_cache[1], (g_cache_n - 1) * sizeof g_cache[0]);
            g_cache_n--;
        }
        g_cache[g_cache_n++] = (cached_map){ base, map_size };
        g_cache_bytes += map_size;
        kept = true;
    }
    pthread_mutex_unlock(&g_cache_lock);
    for (size_t i = 0; i < n_evicted; i++) {
        munmap(evicted[i].base, evicted[i].size);
    }
    if (!kept) {
        munmap(base, map_size);
    }
}

// A mapping of at least `len` payload bytes starting on a huge-page boundary: a kept one of the
// same size, or a fresh one with huge pages requested and populated in one go. NULL when mapping
// fails. *fresh tells whether the memory is known to be zero.
static unsigned char *map_big(size_t len, void **base_out, size_t *map_size_out, bool *fresh)
{
    size_t map_size;
    if (!dfd_size_add(&map_size, len, HUGE_PAGE)) {
        return NULL;
    }
    unsigned char *base = cache_take(map_size);
    *fresh = base == NULL;
    if (!base) {
        base = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) {
            return NULL;
        }
    }
    uintptr_t a = ((uintptr_t)base + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    unsigned char *start = (unsigned char *)a;
    if (*fresh) {
#ifdef MADV_HUGEPAGE
        (void)madvise(start, len, MADV_HUGEPAGE); // advice only: fine if THP is off
#endif
#ifndef MADV_POPULATE_WRITE
#    define MADV_POPULATE_WRITE 23 // Linux 5.14; older kernels answer EINVAL and we fault lazily
#endif
        (void)madvise(start, len, MADV_POPULATE_WRITE);
    }
    *base_out = base;
    *map_size_out = map_size;
    return start;
}

static void *aligned_alloc_impl(size_t n, bool zero)
{
    size_t rounded, total;
    if (!dfd_size_add(&rounded, n, DFD_ALIGN - 1)) {
        return NULL;
    }
    rounded -= rounded % DFD_ALIGN;
    if (rounded == 0) {
        rounded = DFD_ALIGN;
    }
    if (!dfd_size_add(&total, rounded, DFD_ALIGN) || !allocation_allowed()) {
        return NULL;
    }
    aligned_header h = { n, NULL, 0 };
    unsigned char *block = NULL;
    if (total >= BIG_BLOCK) {
        bool fresh = false;
        block = map_big(total, &h.base, &h.map_size, &fresh);
        if (block && zero && !fresh) {
            memset(block + DFD_ALIGN, 0, rounded); // fresh mappings are already zero
        }
    }
    if (!block) {
        block = aligned_alloc(DFD_ALIGN, total);
        if (!block) {
            return NULL;
        }
        h.base = block;
        if (zero) {
            memset(block + DFD_ALIGN, 0, rounded);
        }
    }
    memcpy(block, &h, sizeof h);
    atomic_fetch_add(&g_in_use, n);
    return block + DFD_ALIGN;
}

void *dfd_aligned_alloc(size_t n)
{
    return aligned_alloc_impl(n, false);
}

void *dfd_aligned_calloc(size_t n)
{
    return aligned_alloc_impl(n, true);
}

void dfd_aligned_free(void *p)
{
    if (!p) {
        return;
    }
    aligned_header h;
    memcpy(&h, (unsigned char *)p - DFD_ALIGN, sizeof h);
    atomic_fetch_sub(&g_in_use, h.n);
    if (h.map_size) {
        cache_put(h.base, h.map_size);
    } else {
        free(h.base);
    }
}
