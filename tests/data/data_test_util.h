// Helpers of the data tests: a scratch folder per test program and small files written into it.
#ifndef DFD_TESTS_DATA_TEST_UTIL_H
#define DFD_TESTS_DATA_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfdetect/util/dirs.h"
#include "dfdetect/util/fileio.h"

static char test_dir_buf[512];

// A fresh folder under /tmp (removed and recreated by each call with the same name). The name
// lives in a static buffer that the next call overwrites.
static inline const char *test_dir(const char *name)
{
    snprintf(test_dir_buf, sizeof test_dir_buf, "/tmp/dfd_data_test_%d_%s", (int)getpid(), name);
    dfd_remove_tree(test_dir_buf, NULL);
    if (dfd_mkdir_p(test_dir_buf, NULL) != DFD_OK) {
        return NULL;
    }
    return test_dir_buf;
}

// The name test_dir gave last.
static inline const char *test_dir_last(void)
{
    return test_dir_buf;
}

// Write `text` to dir/name (creating the parent folders). Returns 0 on success.
static inline int write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    if (dfd_mkdir_p(path, NULL) != DFD_OK) {
        return -1;
    }
    *slash = '/';
    return dfd_file_write_atomic(path, text, strlen(text), NULL) == DFD_OK ? 0 : -1;
}

#endif
