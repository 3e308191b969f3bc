// Every heap allocation of the library goes through these functions (like redis zmalloc): they
// count live bytes, and tests can make the Nth allocation fail to exercise out-of-memory paths
// (SQLite-style). All are thread-safe.
#ifndef DFD_UTIL_ALLOC_H
#define DFD_UTIL_ALLOC_H

#include <stddef.h>

// Alignment of dfd_aligned_alloc blocks: one cache line, and the widest SIMD register (AVX-512).
#define DFD_ALIGN 64

// malloc/calloc/realloc equivalents aligned for any scalar type. Return NULL on failure (or on an
// injected failure); n == 0 allocates a minimal block. Free with dfd_free.
void *dfd_malloc(size_t n);
void *dfd_calloc(size_t count, size_t size); // NULL when count*size overflows
void *dfd_realloc(void *p, size_t n);        // p may be NULL; on failure p is left untouched
void dfd_free(void *p);                      // accepts NULL

// A copy of `s` that the caller frees with dfd_free; NULL on failure or when s is NULL.
char *dfd_strdup(const char *s);

// A DFD_ALIGN-aligned block of at least n bytes (rounded up to a multiple of DFD_ALIGN), for
// tensor and image data. Free with dfd_aligned_free (never dfd_free).
// Blocks of 4 MiB and more are mapped with transparent huge pages and populated at once, which
// makes their first use several times cheaper than faulting 4 KiB pages in one by one.
void *dfd_aligned_alloc(size_t n);
void dfd_aligned_free(void *p); // accepts NULL

// As dfd_aligned_alloc, with the first n bytes zeroed (free for mapped blocks).
void *dfd_aligned_calloc(size_t n);

// Bytes currently allocated through these functions (requested sizes, not counting headers).
size_t dfd_alloc_bytes_in_use(void);

// Fault injection for tests: after `n` more successful allocations, every allocation fails until
// this is called again; n < 0 turns injection off (the default).
void dfd_alloc_fail_after(long n);

#endif
