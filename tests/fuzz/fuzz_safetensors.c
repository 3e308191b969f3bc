// Fuzz target for the safetensors reader and the checkpoint loader: any bytes must open (and
// load into a small model with its optimiser) or fail with one line naming the file, never crash.
// libFuzzer target with -DDFD_FUZZ=ON (clang); otherwise main() replays the files it is given,
// and `fuzz_safetensors --seeds DIR` writes the hand-made seeds of the corpus into DIR.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/model/checkpoint.h"
#include "dfdetect/model/safetensors.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

// The model the inputs are loaded into: "w" (2, 3) in group 0 and "b" (3) in group 1.
typedef struct toy {
    float w[6], gw[6], b[3], gb[3];
    dfd_param p[2];
    dfd_param *ps[2];
} toy;

static void toy_init(toy *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 6; i++) {
        t->w[i] = 0.25f * (float)i - 0.5f;
        t->gw[i] = 0.1f * (float)(i % 3) - 0.1f;
    }
    for (int i = 0; i < 3; i++) {
        t->b[i] = (float)i;
        t->gb[i] = 0.5f;
    }
    t->p[0] =
        (dfd_param){ .name = "w", .value = t->w, .grad = t->gw, .rank = 2, .shape = { 2, 3 } };
    t->p[1] = (dfd_param){
        .name = "b", .value = t->b, .grad = t->gb, .rank = 1, .shape = { 3 }, .group = 1
    };
    t->ps[0] = &t->p[0];
    t->ps[1] = &t->p[1];
}

// A failure returns nothing and says so in one line naming the input.
static void check_failure(dfd_status s, const void *out, const dfd_error *err)
{
    if (s != DFD_OK && (out || strchr(err->msg, '\n') || strncmp(err->msg, "fuzz: ", 6) != 0)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    dfd_safetensors *st = NULL;
    dfd_error err;
    dfd_status s = dfd_safetensors_open_buffer(&st, data, size, "fuzz", &err);
    check_failure(s, st, &err);
    if (s != DFD_OK) {
        return 0;
    }
    // Read the last byte of every tensor: a view past the buffer shows under ASan.
    unsigned sum = 0;
    for (size_t i = 0; i < dfd_safetensors_count(st); i++) {
        const dfd_st_tensor *t = dfd_safetensors_tensor(st, i);
        size_t n = dfd_st_tensor_numel(t) * dfd_st_dtype_size(t->dtype);
        sum += n ? ((const unsigned char *)t->data)[n - 1] : 0u;
    }
    // As a checkpoint: its metadata, then resuming a toy model and its optimiser from it, and
    // one step (whatever the restored state holds, the step must not crash).
    check_failure(dfd_checkpoint_check(st, &err), NULL, &err);
    toy m;
    toy_init(&m);
    dfd_optim *opt = NULL;
    s = dfd_checkpoint_resume(&opt, st, m.ps, 2, &err);
    check_failure(s, opt, &err);
    if (s == DFD_OK) {
        dfd_optim_step(opt, NULL);
        dfd_optim_destroy(opt);
    }
    check_failure(dfd_checkpoint_load(st, m.ps, 2, NULL, &err), NULL, &err);
    dfd_safetensors_close(st);
    return (int)(sum & 0u);
}

#ifndef DFD_LIBFUZZER
// ---- seeds ----

// Valid checkpoints of the toy model (each optimiser, with and without a schedule, weights
// only) and hand-made hostile headers, as files under dir.
static int write_seeds(const char *dir)
{
    char path[1024];
    int n_files = 0;
    const dfd_st_meta meta[2] = { { DFD_CKPT_ARCHITECTURE, "{\"type\":\"toy\"}" },
                                  { DFD_CKPT_TRAINING, "{\"epoch\":1}" } };
    for (int kind = -1; kind < DFD_OPTIM_KIND_COUNT; kind++) {
        toy m;
        toy_init(&m);
        dfd_optim *opt = NULL;
        if (kind >= 0) {
            dfd_optim_opts o = dfd_optim_opts_default((dfd_optim_kind)kind);
            o.clip_norm = 1.0f;
            o.schedule = (dfd_lr_schedule){
                .kind = DFD_LR_COSINE, .warmup_steps = 2, .decay_steps = 10, .min_factor = 0.1f
            };
            if (dfd_optim_create(&opt, m.ps, 2, &o, NULL) != DFD_OK) {
                return 1;
            }
            dfd_optim_step(opt, NULL);
        }
        snprintf(path, sizeof path, "%s/seed_checkpoint_%s.safetensors", dir,
                 kind < 0    ? "weights"
                 : kind == 0 ? "sgd"
                 : kind == 1 ? "adam"
                             : "adamw");
        dfd_status s = dfd_checkpoint_save(path, m.ps, 2, opt, meta, 2, NULL);
        dfd_optim_destroy(opt);
        if (s != DFD_OK) {
            return 1;
        }
        n_files++;
    }
    static const char *const headers[] = {
        "{\"__metadata__\":{\"dfdetect\":\"1\",\"optimiser\":\"{\\\"kind\\\":\\\"adam\\\","
        "\\\"schedule\\\":{\\\"kind\\\":\\\"step\\\",\\\"step_size\\\":0}}\"}}",
        "{\"__metadata__\":{\"checksum\":\"crc32:00000000\",\"architecture\":\"[]\"}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,1e400]}}",
        "{\"a\":{\"dtype\":\"F4\",\"shape\":[1],\"data_offsets\":[0,1]}}",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}",
        "{\"\xc0\xaf\":1}",
        "{\"__metadata__\":{\"k\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"
        "}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        const size_t len = strlen(headers[i]);
        unsigned char *b = dfd_malloc(8 + len + 16);
        if (!b) {
            return 1;
        }
        for (int k = 0; k < 8; k++) {
            b[k] = (unsigned char)((uint64_t)len >> (8 * k));
        }
        memcpy(b + 8, headers[i], len);
        memset(b + 8 + len, 0x3f, 16);
        snprintf(path, sizeof path, "%s/seed_hostile_%02zu.safetensors", dir, i);
        dfd_status s = dfd_file_write_atomic(path, b, 8 + len + 12, NULL);
        dfd_free(b);
        if (s != DFD_OK) {
            return 1;
        }
        n_files++;
    }
    // A header length far beyond the file.
    const unsigned char huge[12] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}' };
    snprintf(path, sizeof path, "%s/seed_hostile_length.safetensors", dir);
    if (dfd_file_write_atomic(path, huge, sizeof huge, NULL) != DFD_OK) {
        return 1;
    }
    printf("fuzz_safetensors: %d seeds written to %s\n", n_files + 1, dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0) {
        return write_seeds(argv[2]);
    }
    for (int i = 1; i < argc; i++) {
        void *data;
        size_t size;
        if (dfd_file_read_all(&data, &size, argv[i], 1 << 24, NULL) != DFD_OK) {
            fprintf(stderr, "fuzz_safetensors: cannot read %s\n", argv[i]);
            return 1;
        }
        LLVMFuzzerTestOneInput(data, size);
        dfd_free(data);
    }
    printf("fuzz_safetensors: %d inputs replayed\n", argc - 1);
    return 0;
}
#endif
