// Fuzz target for the TF.js model loader: the input is a model.json; small weights files
// ("w.bin", "h.bin", see write_weights) sit beside it, so seed models load completely and
// mutations explore everything after the file reads.
// Built two ways: with clang -fsanitize=fuzzer (cmake -DDFD_FUZZ=ON) it is a libFuzzer target;
// otherwise the main() below replays every file given on the command line (the CTest 'fuzz'
// label replays tests/fuzz/corpus/tfjs), so crashes once found stay fixed.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/model/tfjs.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static char g_dir[64];

// Two 64-byte weights files the seed models name: "w.bin" holds int32 axes {1, 2}, then six
// float32 weights, three float32 biases and five padding floats; "h.bin" the same with the six
// weights as float16 and eight padding floats.
static int write_weights(const char *name, bool half)
{
    unsigned char b[64];
    memset(b, 0, sizeof b);
    int32_t axes[2] = { 1, 2 };
    memcpy(b, axes, 8);
    size_t at = 8;
    for (int i = 0; i < 6; i++) {
        if (half) {
            uint16_t h = (uint16_t)(0x3c00 + 0x400 * (i % 3)); // 1, 2, 4
            memcpy(b + at, &h, 2);
            at += 2;
        } else {
            float v = 0.5f * (float)(i + 1);
            memcpy(b + at, &v, 4);
            at += 4;
        }
    }
    for (int i = 0; i < 3; i++) {
        float v = 0.1f * (float)i;
        memcpy(b + at, &v, 4);
        at += 4;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return dfd_file_write_atomic(path, b, sizeof b, NULL) == DFD_OK ? 0 : -1;
}

static int setup(void)
{
    if (g_dir[0]) {
        return 0;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/dfd_fuzz_tfjs_XXXXXX");
    if (!mkdtemp(g_dir)) {
        return -1;
    }
    return write_weights("w.bin", false) || write_weights("h.bin", true) ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (setup() != 0) {
        abort();
    }
    char path[128];
    snprintf(path, sizeof path, "%s/model.json", g_dir);
    FILE *f = fopen(path, "wb");
    if (!f) {
        abort();
    }
    if (size) {
        fwrite(data, 1, size, f);
    }
    fclose(f);
    dfd_graph *g = NULL;
    dfd_error err;
    if (dfd_tfjs_load(&g, path, &err) == DFD_OK) {
        dfd_graph_free(g);
    } else if (g != NULL || strchr(err.msg, '\n')) {
        abort(); // a failed load returns nothing, and its message is one line
    }
    return 0;
}

#ifndef DFD_LIBFUZZER
int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        void *data;
        size_t size;
        if (dfd_file_read_all(&data, &size, argv[i], 1 << 24, NULL) != DFD_OK) {
            fprintf(stderr, "fuzz_tfjs: cannot read %s\n", argv[i]);
            return 1;
        }
        LLVMFuzzerTestOneInput(data, size);
        dfd_free(data);
        n++;
    }
    printf("fuzz_tfjs: %d inputs replayed\n", n);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : 1;
}
#endif
