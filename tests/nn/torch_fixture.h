// Reading the PyTorch reference fixtures of tests/nn/fixtures (written by
// gen_loss_optim_fixtures.py and gen_rnn_fixtures.py) in tests: a JSON document with a "cases"
// array; inputs are float32 values printed exactly, so they read back bit for bit.
#ifndef DFD_TESTS_NN_TORCH_FIXTURE_H
#define DFD_TESTS_NN_TORCH_FIXTURE_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"

// The parsed fixture tests/nn/fixtures/<name> (found through DFD_SOURCE_DIR, else next to this
// header), or NULL. Free with cJSON_Delete.
static inline cJSON *torch_fixture_load(const char *name)
{
    char path[1200];
    const char *src = getenv("DFD_SOURCE_DIR");
    if (src) {
        snprintf(path, sizeof path, "%s/tests/nn/fixtures/%s", src, name);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dir = slash ? (int)(slash - __FILE__) : 1;
        snprintf(path, sizeof path, "%.*s/fixtures/%s", dir, slash ? __FILE__ : ".", name);
    }
    void *text;
    size_t n;
    if (dfd_file_read_all(&text, &n, path, 1 << 24, NULL) != DFD_OK) {
        return NULL;
    }
    cJSON *doc = cJSON_ParseWithLength(text, n);
    dfd_free(text);
    return doc;
}

static inline double torch_fixture_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

// The numbers of array `a` as floats in a new dfd_malloc'd array (NULL for no array, or when
// its length is not `expect`; an expect of 0 takes any length, stored in *n when n is given).
static inline float *torch_fixture_floats_of(const cJSON *a, size_t expect, size_t *n)
{
    if (!cJSON_IsArray(a)) {
        return NULL;
    }
    size_t len = (size_t)cJSON_GetArraySize(a);
    if (expect && len != expect) {
        return NULL;
    }
    float *out = dfd_malloc((len ? len : 1) * sizeof *out);
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a)
    {
        out[i++] = (float)v->valuedouble;
    }
    if (n) {
        *n = len;
    }
    return out;
}

static inline float *torch_fixture_floats(const cJSON *o, const char *key, size_t expect)
{
    return torch_fixture_floats_of(cJSON_GetObjectItemCaseSensitive(o, key), expect, NULL);
}

#endif
