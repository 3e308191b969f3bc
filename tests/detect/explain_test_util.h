// Helpers of the --explain tests (tests/detect/test_explain.c, tests/cli/test_scan_explain.c):
// what a published explanation folder holds.
#ifndef DFD_TESTS_EXPLAIN_TEST_UTIL_H
#define DFD_TESTS_EXPLAIN_TEST_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detector_test_model.h"
#include "dfdetect/detect/model.h"
#include "dfdetect/image/imageio.h"
#include "test.h"

// Entries of a folder, "." and ".." aside (0 when it cannot be read).
static inline int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));) {
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    }
    if (d) {
        closedir(d);
    }
    return n;
}

// Whether path is a PNG or JPEG of w x h pixels (0: any width or height).
static inline bool is_png_of(const char *path, int w, int h)
{
    dfd_image img = { 0 };
    bool ok = path && dfd_image_read(&img, path, NULL) == DFD_OK && (w == 0 || img.w == w) &&
              (h == 0 || img.h == h);
    dfd_image_free(&img);
    return ok;
}

// Save at `path` a random detector (default head sizes, `frames` uniform frames, T = 1.5,
// Tf = 2, threshold 0.5) trained, says its file, on the faceres whose model file has hash `sha`
// (NULL: $DFD_SOURCE_DIR/models/faceres.json's, the one scans use).
static inline void explain_test_model(const char *path, int frames, const char *sha)
{
    const test_model_spec s = { 31, frames, 1.5f, 2.0f, "explain-test", "1", NULL, sha };
    test_detector_model_save(path, &s);
}

#endif
