// Helpers shared by the image and report tests: deterministic test images, pixel comparisons and
// a scratch directory that is removed at the end. Header-only (static functions) so that each test
// program stays one file plus this header.
#ifndef DFD_TESTS_IMAGE_TEST_UTIL_H
#define DFD_TESTS_IMAGE_TEST_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/image/image.h"

// Fill img with a deterministic pattern: smooth gradients plus hashed noise, different per channel.
static inline void fill_pattern(dfd_image *img, unsigned seed)
{
    for (int y = 0; y < img->h; y++) {
        for (int x = 0; x < img->w; x++) {
            uint8_t *p = dfd_image_px(img, x, y);
            for (int ch = 0; ch < img->c; ch++) {
                unsigned h = (unsigned)x * 73856093u ^ (unsigned)y * 19349663u ^
                             (unsigned)ch * 83492791u ^ seed;
                h ^= h >> 13;
                h *= 0x5bd1e995u;
                h ^= h >> 15;
                p[ch] = (uint8_t)((x * 255 / (img->w > 1 ? img->w - 1 : 1) + y * 3 + ch * 50 +
                                   (int)(h % 32u)) &
                                  0xff);
            }
        }
    }
}

// Fill every pixel with the same bytes (first img->c of v).
static inline void fill_const(dfd_image *img, const uint8_t v[4])
{
    for (int y = 0; y < img->h; y++) {
        for (int x = 0; x < img->w; x++) {
            memcpy(dfd_image_px(img, x, y), v, (size_t)img->c);
        }
    }
}

// True when a and b have the same size, channels and pixels (strides may differ).
static inline bool images_equal(const dfd_image *a, const dfd_image *b)
{
    if (a->w != b->w || a->h != b->h || a->c != b->c) {
        return false;
    }
    for (int y = 0; y < a->h; y++) {
        if (memcmp(dfd_image_px(a, 0, y), dfd_image_px(b, 0, y), (size_t)a->w * (size_t)a->c)) {
            return false;
        }
    }
    return true;
}

// Largest absolute difference between corresponding samples (same-sized images).
static inline int images_max_diff(const dfd_image *a, const dfd_image *b)
{
    int worst = 0;
    for (int y = 0; y < a->h; y++) {
        const uint8_t *p = dfd_image_px(a, 0, y), *q = dfd_image_px(b, 0, y);
        for (int i = 0; i < a->w * a->c; i++) {
            int d = abs((int)p[i] - (int)q[i]);
            worst = d > worst ? d : worst;
        }
    }
    return worst;
}

// ---- scratch directory ----

// Create a fresh directory under $TMPDIR (or /tmp); writes its path into dir (>= 256 bytes).
static inline bool tmpdir_create(char *dir, size_t n)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, n, "%s/dfd_test_XXXXXX", base && base[0] ? base : "/tmp");
    return mkdtemp(dir) != NULL;
}

// Join dir and name into out.
static inline const char *tmpdir_path(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
    return out;
}

// Number of entries (other than . and ..) in dir; -1 if it cannot be read.
static inline int tmpdir_count(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        return -1;
    }
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

// Remove the files in dir (the tests create no subdirectories) and dir itself.
static inline void tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char p[512];
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

#endif
