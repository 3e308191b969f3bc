// Overflow-checked size arithmetic. Every size that comes from outside (a file header, a video's
// dimensions, a Content-Length) passes through these before it reaches an allocator.
#ifndef DFD_UTIL_SIZE_H
#define DFD_UTIL_SIZE_H

#include <stdbool.h>
#include <stddef.h>

// *out = a * b; false (and *out untouched) on overflow.
static inline bool dfd_size_mul(size_t *out, size_t a, size_t b)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
}

// *out = a + b; false (and *out untouched) on overflow.
static inline bool dfd_size_add(size_t *out, size_t a, size_t b)
{
    size_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        return false;
    }
    *out = r;
    return true;
}

// *out = a * b * c; false on overflow.
static inline bool dfd_size_mul3(size_t *out, size_t a, size_t b, size_t c)
{
    size_t ab;
    return dfd_size_mul(&ab, a, b) && dfd_size_mul(out, ab, c);
}

#endif
