// A scratch directory for the model tests that write files: made on first use under /tmp,
// removed by test_tmpdir_remove (the last test of a program).
#ifndef DFD_TESTS_MODEL_TEST_TMPDIR_H
#define DFD_TESTS_MODEL_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

#include "dfdetect/util/dirs.h"

static char test_tmpdir_[64];

// "<scratch dir>/<name>", in a static buffer valid until the next call.
static inline const char *test_tmp_path(const char *name)
{
    static char path[128];
    if (!test_tmpdir_[0]) {
        snprintf(test_tmpdir_, sizeof test_tmpdir_, "/tmp/dfd_test_model_XXXXXX");
        if (!mkdtemp(test_tmpdir_)) {
            test_tmpdir_[0] = '\0';
        }
    }
    snprintf(path, sizeof path, "%s/%s", test_tmpdir_, name);
    return path;
}

static inline dfd_status test_tmpdir_remove(void)
{
    return test_tmpdir_[0] ? dfd_remove_tree(test_tmpdir_, NULL) : DFD_OK;
}

#endif
