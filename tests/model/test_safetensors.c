// Safetensors (model/safetensors.h): round trips of every dtype we use, the exact bytes of a
// small file against the layout of the reference implementation (built here by hand from the
// spec: Debian packages no python3-safetensors), parameters saved and loaded by name, and every
// way a file can be broken (truncated at each offset, each header byte flipped, bad offsets,
// overlaps, gaps, wrong sizes, hostile numbers, bad JSON): one clear error line, no leak.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/model/safetensors.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "test.h"
#include "test_tmpdir.h"

// A file image: 8-byte little-endian length of `json` (hlen bytes), the JSON, then data.
static unsigned char *make_file(size_t *n, const char *json, size_t hlen, const void *data,
                                size_t n_data)
{
    *n = 8 + hlen + n_data;
    unsigned char *b = dfd_malloc(*n);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    }
    memcpy(b + 8, json, hlen);
    if (n_data) {
        memcpy(b + 8 + hlen, data, n_data);
    }
    return b;
}

// Open a buffer that must fail with `code` and a message containing `needle` (or, for DFD_OK,
// open); the message must be one line that starts with the file's name, and nothing may leak.
static void expect_failure(const unsigned char *b, size_t n, dfd_status code, const char *needle)
{
    const size_t before = dfd_alloc_bytes_in_use();
    dfd_safetensors *st = NULL;
    dfd_error err;
    dfd_error_clear(&err);
    dfd_status s = dfd_safetensors_open_buffer(&st, b, n, "bad.safetensors", &err);
    bool good = s == code && (code == DFD_OK) == (st != NULL);
    if (code != DFD_OK) {
        good = good && strncmp(err.msg, "bad.safetensors: ", 17) == 0 && !strchr(err.msg, '\n') &&
               (!needle || strstr(err.msg, needle));
    }
    if (!good) {
        DFD_TEST_FAIL_("expected %s \"%s\", got %s \"%s\"", dfd_status_str(code),
                       needle ? needle : "", dfd_status_str(s), err.msg);
    }
    dfd_safetensors_close(st);
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
}

static void expect_json_failure(const char *json, size_t n_data, dfd_status code,
                                const char *needle)
{
    unsigned char data[64];
    memset(data, 0x41, sizeof data);
    size_t n;
    unsigned char *b = make_file(&n, json, strlen(json), data, n_data);
    expect_failure(b, n, code, needle);
    dfd_free(b);
}

// ---- round trips ----

static void test_round_trip_keeps_every_tensor_and_metadata(void)
{
    const float w[6] = { 1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f };
    const int64_t step = 1234567890123LL;
    const uint8_t mask[5] = { 1, 0, 1, 1, 0 };
    const double d = 0.1;
    dfd_st_tensor t[5] = {
        { .name = "head/w", .dtype = DFD_ST_F32, .rank = 2, .shape = { 2, 3 }, .data = w },
        { .name = "optim/step", .dtype = DFD_ST_I64, .rank = 0, .data = &step },
        { .name = "mask", .dtype = DFD_ST_U8, .rank = 1, .shape = { 5 }, .data = mask },
        { .name = "empty", .dtype = DFD_ST_F32, .rank = 2, .shape = { 0, 4 }, .data = NULL },
        { .name = "scalar \xc3\xa9", .dtype = DFD_ST_F64, .rank = 0, .data = &d },
    };
    const dfd_st_meta meta[2] = { { "arch", "{\"gru\": [16, 8]}" }, { "format", "pt" } };
    const char *path = test_tmp_path("round.safetensors");
    CHECK_OK(dfd_safetensors_write(path, t, 5, meta, 2, NULL));

    dfd_safetensors *st;
    dfd_error err;
    CHECK_OK(dfd_safetensors_open(&st, path, &err));
    CHECK_EQ_INT(dfd_safetensors_count(st), 5);
    // Name order: "empty" < "head/w" < "mask" < "optim/step" < "scalar é"
    const char *order[5] = { "empty", "head/w", "mask", "optim/step", "scalar \xc3\xa9" };
    for (size_t i = 0; i < 5; i++) {
        CHECK(strcmp(dfd_safetensors_tensor(st, i)->name, order[i]) == 0);
    }
    CHECK(dfd_safetensors_tensor(st, 5) == NULL);
    for (int i = 0; i < 5; i++) {
        const dfd_st_tensor *r = dfd_safetensors_find(st, t[i].name);
        REQUIRE(r);
        CHECK_EQ_INT(r->dtype, t[i].dtype);
        CHECK_EQ_INT(r->rank, t[i].rank);
        CHECK(memcmp(r->shape, t[i].shape, sizeof r->shape) == 0);
        const size_t bytes = dfd_st_tensor_numel(r) * dfd_st_dtype_size(r->dtype);
        CHECK(bytes == 0 || memcmp(r->data, t[i].data, bytes) == 0);
        // Aligned to the element size: the writer pads the header and stores widest first.
        CHECK_EQ_INT((uintptr_t)r->data % dfd_st_dtype_size(r->dtype), 0);
    }
    CHECK(dfd_safetensors_find(st, "nope") == NULL);
    CHECK(strcmp(dfd_safetensors_meta(st, "format"), "pt") == 0);
    CHECK(strcmp(dfd_safetensors_meta(st, "arch"), "{\"gru\": [16, 8]}") == 0);
    CHECK(dfd_safetensors_meta(st, "missing") == NULL);
    CHECK_EQ_INT(dfd_safetensors_meta_count(st), 2);
    const char *k, *v;
    CHECK(dfd_safetensors_meta_at(st, 1, &k, &v) && strcmp(k, "format") == 0);
    CHECK(!dfd_safetensors_meta_at(st, 2, &k, &v));
    CHECK(strcmp(dfd_safetensors_path(st), path) == 0);
    dfd_safetensors_close(st);
}

// The layout of the reference writer (safetensors' Rust core, behind its Python package), as
// its format description gives it: tensors sorted by dtype, widest first, then by name; compact
// JSON with "__metadata__" first and each entry's keys in the order dtype, shape, data_offsets;
// the header padded with spaces to a multiple of 8 bytes. Built here byte by byte for what
// save_file({"b": tensor([1., 2.]), "a": tensor([1, 2, 3], dtype=uint8), "step": tensor(7)},
// metadata={"format": "pt"}) stores (Debian has no python3-safetensors to produce it for us).
static void test_header_layout_is_byte_exact(void)
{
    const float b[2] = { 1.0f, 2.0f };
    const uint8_t a[3] = { 1, 2, 3 };
    const int64_t step = 7;
    const dfd_st_tensor t[3] = {
        { .name = "b", .dtype = DFD_ST_F32, .rank = 1, .shape = { 2 }, .data = b },
        { .name = "a", .dtype = DFD_ST_U8, .rank = 1, .shape = { 3 }, .data = a },
        { .name = "step", .dtype = DFD_ST_I64, .rank = 0, .data = &step },
    };
    const dfd_st_meta meta[1] = { { "format", "pt" } };
    const char *path = test_tmp_path("layout.safetensors");
    CHECK_OK(dfd_safetensors_write(path, t, 3, meta, 1, NULL));

    const char json[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                        "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                        "\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[16,19]}}";
    const size_t len = sizeof json - 1, padded = (len + 7) / 8 * 8;
    unsigned char want[512];
    memset(want, 0, sizeof want);
    want[0] = (unsigned char)padded; // < 256
    memcpy(want + 8, json, len);
    memset(want + 8 + len, ' ', padded - len);
    unsigned char *data = want + 8 + padded;
    const unsigned char payload[19] = { 7, 0, 0,    0,    0, 0, 0, 0, // I64 7
                                        0, 0, 0x80, 0x3f,             // F32 1.0
                                        0, 0, 0,    0x40,             // F32 2.0
                                        1, 2, 3 };
    memcpy(data, payload, sizeof payload);
    const size_t n_want = 8 + padded + sizeof payload;

    void *got;
    size_t n_got;
    CHECK_OK(dfd_file_read_all(&got, &n_got, path, 1 << 20, NULL));
    CHECK_EQ_INT(n_got, n_want);
    CHECK(n_got == n_want && memcmp(got, want, n_want) == 0);
    CHECK_EQ_INT(padded % 8, 0);
    CHECK_EQ_INT(padded - len, 5); // 195 bytes of JSON, 5 spaces
    dfd_free(got);
}

static void test_params_save_and_load_by_name(void)
{
    float w[6] = { 1, 2, 3, 4, 5, 6 }, b[3] = { -1, -2, -3 };
    dfd_param pw = { .name = "w", .value = w, .rank = 2, .shape = { 2, 3 } };
    dfd_param pb = { .name = "b", .value = b, .rank = 1, .shape = { 3 } };
    dfd_param *ps[2] = { &pw, &pb };
    const char *path = test_tmp_path("params.safetensors");
    const dfd_st_meta meta[1] = { { "arch", "tiny" } };
    CHECK_OK(dfd_safetensors_save_params(path, ps, 2, meta, 1, NULL));

    float w2[6] = { 0 }, b2[3] = { 0 };
    dfd_param qw = pw, qb = pb;
    qw.value = w2;
    qb.value = b2;
    dfd_param *qs[2] = { &qb, &qw }; // any order
    dfd_safetensors *st;
    CHECK_OK(dfd_safetensors_open(&st, path, NULL));
    CHECK_OK(dfd_safetensors_load_params(st, qs, 2, NULL));
    CHECK(memcmp(w, w2, sizeof w) == 0 && memcmp(b, b2, sizeof b) == 0);

    // Missing name, other shape, other dtype: one error naming file and tensor, nothing written.
    dfd_error err;
    float x[3] = { 9, 9, 9 };
    dfd_param missing = { .name = "gone", .value = x, .rank = 1, .shape = { 3 } };
    dfd_param *ms[2] = { &qw, &missing };
    memset(w2, 0, sizeof w2);
    CHECK_EQ_INT(dfd_safetensors_load_params(st, ms, 2, &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "params.safetensors: no tensor 'gone'");
    CHECK(w2[0] == 0.0f); // checked before anything is copied
    dfd_param reshaped = { .name = "w", .value = x, .rank = 2, .shape = { 3, 2 } };
    dfd_param *rs[1] = { &reshaped };
    CHECK_EQ_INT(dfd_safetensors_load_params(st, rs, 1, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "tensor 'w' has shape [2, 3], expected [3, 2]");
    dfd_safetensors_close(st);

    const uint8_t u[3] = { 1, 2, 3 };
    const dfd_st_tensor ut = {
        .name = "b", .dtype = DFD_ST_U8, .rank = 1, .shape = { 3 }, .data = u
    };
    CHECK_OK(dfd_safetensors_write(path, &ut, 1, NULL, 0, NULL));
    CHECK_OK(dfd_safetensors_open(&st, path, NULL));
    dfd_param *bs[1] = { &qb };
    CHECK_EQ_INT(dfd_safetensors_load_params(st, bs, 1, &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "tensor 'b' is U8, expected F32");
    dfd_safetensors_close(st);
}

static void test_writer_rejects_invalid_arguments(void)
{
    const float v[2] = { 1, 2 };
    dfd_st_tensor t[2] = {
        { .name = "x", .dtype = DFD_ST_F32, .rank = 1, .shape = { 2 }, .data = v },
        { .name = "x", .dtype = DFD_ST_F32, .rank = 1, .shape = { 2 }, .data = v },
    };
    const char *path = test_tmp_path("invalid.safetensors");
    dfd_error err;
    CHECK_EQ_INT(dfd_safetensors_write(path, t, 2, NULL, 0, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "two tensors named 'x'");
    t[1].name = "__metadata__";
    CHECK_EQ_INT(dfd_safetensors_write(path, t, 2, NULL, 0, &err), DFD_ERR_INVALID);
    t[1].name = "bad\xff";
    CHECK_EQ_INT(dfd_safetensors_write(path, t, 2, NULL, 0, &err), DFD_ERR_INVALID);
    t[1].name = "y";
    t[1].shape[0] = -1;
    CHECK_EQ_INT(dfd_safetensors_write(path, t, 2, NULL, 0, &err), DFD_ERR_INVALID);
    t[1].shape[0] = 2;
    t[1].data = NULL;
    CHECK_EQ_INT(dfd_safetensors_write(path, t, 2, NULL, 0, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "tensor 'y' has no data");
    t[1].data = v;
    t[1].rank = 2;
    t[1].shape[1] = 1 << 30;
    CHECK_EQ_INT(dfd_safetensors_write(path, t, 2, NULL, 0, &err), DFD_ERR_LIMIT);
    t[1].rank = 1;
    const dfd_st_meta meta[2] = { { "k", "1" }, { "k", "2" } };
    CHECK_EQ_INT(dfd_safetensors_write(path, t, 2, meta, 2, &err), DFD_ERR_INVALID);
    CHECK_STR_CONTAINS(err.msg, "metadata key 'k' given twice");
    CHECK_EQ_INT(dfd_safetensors_write("/nonexistent-dfd/x.safetensors", t, 2, NULL, 0, &err),
                 DFD_ERR_IO);
    CHECK_OK(dfd_safetensors_write(path, t, 2, meta, 1, &err));
    dfd_safetensors *st;
    CHECK_EQ_INT(dfd_safetensors_open(&st, test_tmp_path("absent.safetensors"), &err),
                 DFD_ERR_NOT_FOUND);
}

// ---- corrupt files ----

// A valid file of a few tensors whose data bytes are never JSON whitespace or NUL.
static unsigned char *sample_file(size_t *n, size_t *hlen)
{
    float w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = 1.5f + (float)i;
    }
    const int64_t s = 0x4141414141414141LL;
    const uint8_t m[3] = { 0x41, 0x42, 0x43 };
    const dfd_st_tensor t[3] = {
        { .name = "w", .dtype = DFD_ST_F32, .rank = 2, .shape = { 2, 3 }, .data = w },
        { .name = "optim/step", .dtype = DFD_ST_I64, .rank = 0, .data = &s },
        { .name = "mask", .dtype = DFD_ST_U8, .rank = 1, .shape = { 3 }, .data = m },
    };
    const dfd_st_meta meta[1] = { { "arch", "gru" } };
    const char *path = test_tmp_path("sample.safetensors");
    void *data = NULL;
    if (dfd_safetensors_write(path, t, 3, meta, 1, NULL) ||
        dfd_file_read_all(&data, n, path, 1 << 20, NULL)) {
        return NULL;
    }
    *hlen = ((unsigned char *)data)[0];
    return data;
}

static void test_every_truncation_is_rejected(void)
{
    size_t n, hlen;
    unsigned char *b = sample_file(&n, &hlen);
    REQUIRE(b);
    dfd_safetensors *st;
    CHECK_OK(dfd_safetensors_open_buffer(&st, b, n, "bad.safetensors", NULL));
    dfd_safetensors_close(st);
    for (size_t k = 0; k < n; k++) {
        expect_failure(b, k, DFD_ERR_FORMAT, NULL);
    }
    expect_failure(b, 3, DFD_ERR_FORMAT, "truncated: 3 bytes");
    expect_failure(b, 8 + hlen - 1, DFD_ERR_FORMAT, "truncated or corrupt: header length");
    expect_failure(b, n - 1, DFD_ERR_FORMAT, "outside the data area");
    dfd_free(b);
}

static void test_every_flipped_header_byte_is_rejected(void)
{
    size_t n, hlen;
    unsigned char *b = sample_file(&n, &hlen);
    REQUIRE(b);
    // Inverting any byte of the length or of the JSON (ASCII becomes a lone byte >= 0x80,
    // which is not UTF-8) must fail. Other replacements must fail or give a consistent file.
    for (size_t i = 0; i < 8 + hlen; i++) {
        b[i] ^= 0xff;
        dfd_safetensors *st = NULL;
        dfd_error err;
        dfd_status s = dfd_safetensors_open_buffer(&st, b, n, "bad.safetensors", &err);
        if (s == DFD_OK || !strstr(err.msg, "bad.safetensors: ")) {
            DFD_TEST_FAIL_("flipping byte %zu: %s", i, err.msg);
        }
        dfd_safetensors_close(st);
        b[i] ^= 0xff;
    }
    const char replace[] = "{}[],:\"0-9. \\eEuA\x01";
    size_t n_ok = 0;
    for (size_t i = 8; i < 8 + hlen; i++) {
        const unsigned char orig = b[i];
        for (size_t r = 0; r < sizeof replace - 1; r++) {
            b[i] = (unsigned char)replace[r];
            dfd_safetensors *st = NULL;
            dfd_error err;
            if (dfd_safetensors_open_buffer(&st, b, n, "bad.safetensors", &err) == DFD_OK) {
                // Still valid (a changed name or metadata): the tensors still tile the data.
                size_t total = 0;
                for (size_t t = 0; t < dfd_safetensors_count(st); t++) {
                    const dfd_st_tensor *x = dfd_safetensors_tensor(st, t);
                    total += dfd_st_tensor_numel(x) * dfd_st_dtype_size(x->dtype);
                }
                CHECK_EQ_INT(total, n - 8 - hlen);
                n_ok++;
            } else {
                CHECK(strncmp(err.msg, "bad.safetensors: ", 17) == 0 && !strchr(err.msg, '\n'));
            }
            dfd_safetensors_close(st);
        }
        b[i] = orig;
    }
    CHECK(n_ok > 0 && n_ok < hlen * 4);
    dfd_free(b);
}

#define ENTRY(name, dtype, shape, offsets) \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

// Headers with a problem each, the data area size, and the error they must give.
static const struct {
    const char *json;
    size_t n_data;
    dfd_status code;
    const char *needle;
} BAD_ENTRIES[] = {
    { "{" ENTRY("a", "F32", "[2]", "[0,8]") "}", 8, DFD_OK, NULL },
    // Sizes: dtype x shape must be exactly end - begin.
    { "{" ENTRY("a", "F32", "[2]", "[0,4]") "}", 4, DFD_ERR_FORMAT,
      "tensor 'a': F32 [2] needs 8 bytes but data_offsets hold 4" },
    { "{" ENTRY("a", "I16", "[2]", "[0,8]") "}", 8, DFD_ERR_FORMAT, "needs 4 bytes" },
    { "{" ENTRY("a", "F64", "[]", "[0,4]") "}", 4, DFD_ERR_FORMAT, "needs 8 bytes" },
    // Offsets: order, bounds, integers.
    { "{" ENTRY("a", "F32", "[2]", "[8,0]") "}", 8, DFD_ERR_FORMAT, "outside the data area" },
    { "{" ENTRY("a", "F32", "[4]", "[0,16]") "}", 8, DFD_ERR_FORMAT,
      "[0, 16] outside the data area of 8 bytes" },
    { "{" ENTRY("a", "F32", "[2]", "[-8,0]") "}", 8, DFD_ERR_FORMAT, "not two byte offsets" },
    { "{" ENTRY("a", "F32", "[2]", "[0.5,8.5]") "}", 9, DFD_ERR_FORMAT, "not two byte offsets" },
    { "{" ENTRY("a", "F32", "[2]", "[0,8,8]") "}", 8, DFD_ERR_FORMAT, "not two byte offsets" },
    { "{" ENTRY("a", "F32", "[2]", "[0,1e300]") "}", 8, DFD_ERR_FORMAT, "not two byte offsets" },
    { "{" ENTRY("a", "F32", "[2]", "[\"0\",8]") "}", 8, DFD_ERR_FORMAT, "not two byte offsets" },
    // Tiling: overlaps, gaps, bytes after the last tensor; zero-sized tensors may touch others.
    { "{" ENTRY("a", "F32", "[2]", "[0,8]") "," ENTRY("b", "F32", "[2]", "[4,12]") "}", 12,
      DFD_ERR_FORMAT, "tensors 'a' and 'b' overlap" },
    { "{" ENTRY("a", "F32", "[2]", "[0,8]") "," ENTRY("b", "F32", "[2]", "[0,8]") "}", 8,
      DFD_ERR_FORMAT, "overlap" },
    { "{" ENTRY("a", "F32", "[2]", "[0,8]") "," ENTRY("b", "U8", "[0]", "[4,4]") "}", 8,
      DFD_ERR_FORMAT, "overlap" },
    { "{" ENTRY("a", "F32", "[2]", "[0,8]") "," ENTRY("b", "F32", "[2]", "[12,20]") "}", 20,
      DFD_ERR_FORMAT, "bytes 8..12 of the data area belong to no tensor" },
    { "{" ENTRY("a", "F32", "[2]", "[0,8]") "}", 12, DFD_ERR_FORMAT,
      "4 bytes after the last tensor" },
    { "{}", 1, DFD_ERR_FORMAT, "1 bytes after the last tensor" },
    { "{" ENTRY("a", "F32", "[2]", "[0,8]") "," ENTRY("b", "U8", "[0, 5]", "[8,8]") "}", 8, DFD_OK,
      NULL },
    { "{}", 0, DFD_OK, NULL },
    // Shapes: sizes only, rank and element limits, overflow.
    { "{" ENTRY("a", "F32", "[-2]", "[0,8]") "}", 8, DFD_ERR_FORMAT,
      "shape holds something other than a size" },
    { "{" ENTRY("a", "F32", "[2.5]", "[0,8]") "}", 8, DFD_ERR_FORMAT, "shape holds" },
    { "{" ENTRY("a", "U8", "[4294967296]", "[0,8]") "}", 8, DFD_ERR_FORMAT, "shape holds" },
    { "{" ENTRY("a", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, DFD_ERR_LIMIT,
      "rank 9 above 8" },
    { "{" ENTRY("a", "U8", "[65536,65536]", "[0,8]") "}", 8, DFD_ERR_LIMIT,
      "more than 2147483647 elements" },
    { "{" ENTRY("a", "U8", "[2147483647,2147483647,2147483647,2147483647,2147483647]", "[0,8]") "}",
      8, DFD_ERR_LIMIT, "more than" },
    // Entry fields.
    { "{" ENTRY("a", "F4", "[2]", "[0,8]") "}", 8, DFD_ERR_UNSUPPORTED,
      "tensor 'a': unknown dtype 'F4'" },
    { "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, DFD_ERR_FORMAT, "needs a dtype string" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, DFD_ERR_FORMAT,
      "needs a dtype string" },
    { "{\"a\":5}", 0, DFD_ERR_FORMAT, "tensor 'a': not an object" },
    { "{" ENTRY("a", "F32", "[1]", "[0,4]") "," ENTRY("a", "F32", "[1]", "[4,8]") "}", 8,
      DFD_ERR_FORMAT, "two tensors named 'a'" },
    // Metadata.
    { "{\"__metadata__\":{\"k\":1}}", 0, DFD_ERR_FORMAT,
      "__metadata__ value of 'k' is not a string" },
    { "{\"__metadata__\":\"x\"}", 0, DFD_ERR_FORMAT, "is not an object" },
    { "{\"__metadata__\":{},\"__metadata__\":{}}", 0, DFD_ERR_FORMAT, "two __metadata__" },
    { "{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}}", 0, DFD_ERR_FORMAT,
      "__metadata__ key 'k' given twice" },
};

static void test_inconsistent_entries_are_rejected(void)
{
    for (size_t i = 0; i < sizeof BAD_ENTRIES / sizeof BAD_ENTRIES[0]; i++) {
        expect_json_failure(BAD_ENTRIES[i].json, BAD_ENTRIES[i].n_data, BAD_ENTRIES[i].code,
                            BAD_ENTRIES[i].needle);
    }
}

static void test_malformed_headers_are_rejected(void)
{
    expect_json_failure("[1]", 0, DFD_ERR_FORMAT, "header does not start with '{'");
    expect_json_failure(" {}", 0, DFD_ERR_FORMAT, "header does not start with '{'");
    expect_json_failure("", 0, DFD_ERR_FORMAT, "header does not start with '{'");
    expect_json_failure("{\"a\":", 0, DFD_ERR_FORMAT, "header is not valid JSON");
    expect_json_failure("{} x", 0, DFD_ERR_FORMAT, "text after the header JSON at byte 3");
    expect_json_failure("{}{}", 0, DFD_ERR_FORMAT, "text after the header JSON");
    expect_json_failure("{\"a\xff\":1}", 0, DFD_ERR_FORMAT, "header is not UTF-8");
    expect_json_failure("{\"\xed\xa0\x80\":1}", 0, DFD_ERR_FORMAT, "not UTF-8"); // surrogate
    expect_json_failure("{\"\xc0\xaf\":1}", 0, DFD_ERR_FORMAT, "not UTF-8");     // overlong
    expect_json_failure("{}  \t\n ", 0, DFD_OK, NULL);                           // padding
    // A NUL inside the header.
    size_t n;
    unsigned char *b = make_file(&n, "{\"a\0\":1}", 8, NULL, 0);
    expect_failure(b, n, DFD_ERR_FORMAT, "not UTF-8");
    dfd_free(b);
    // Header lengths beyond the file, huge and zero.
    const unsigned char huge[16] = { 0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}' };
    expect_failure(huge, 10, DFD_ERR_FORMAT, "header length 9223372036854775808 but 2 bytes");
    const unsigned char zero[8] = { 0 };
    expect_failure(zero, 8, DFD_ERR_FORMAT, "does not start with '{'");
    // Deep nesting stops at cJSON's limit instead of the stack.
    enum {
        DEPTH = 20000
    };
    char *deep = dfd_malloc(DEPTH * 2 + 32);
    REQUIRE(deep);
    size_t k = (size_t)sprintf(deep, "{\"__metadata__\":");
    memset(deep + k, '[', DEPTH);
    memset(deep + k + DEPTH, ']', DEPTH);
    strcpy(deep + k + 2 * DEPTH, "}");
    expect_json_failure(deep, 0, DFD_ERR_FORMAT, "header is not valid JSON");
    dfd_free(deep);
}

static void test_open_survives_every_allocation_failure(void)
{
    size_t n, hlen;
    unsigned char *b = sample_file(&n, &hlen);
    REQUIRE(b);
    const size_t before = dfd_alloc_bytes_in_use();
    int n_ok = 0;
    for (long k = 0; k < 30; k++) {
        dfd_safetensors *st = NULL;
        dfd_alloc_fail_after(k);
        dfd_status s = dfd_safetensors_open_buffer(&st, b, n, "oom.safetensors", NULL);
        dfd_alloc_fail_after(-1);
        CHECK(s == DFD_OK || (s == DFD_ERR_NOMEM && st == NULL));
        n_ok += s == DFD_OK;
        dfd_safetensors_close(st);
        CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);

        const float v[2] = { 1, 2 };
        const dfd_st_tensor t = {
            .name = "x", .dtype = DFD_ST_F32, .rank = 1, .shape = { 2 }, .data = v
        };
        dfd_alloc_fail_after(k);
        s = dfd_safetensors_write(test_tmp_path("oom.safetensors"), &t, 1, NULL, 0, NULL);
        dfd_alloc_fail_after(-1);
        CHECK(s == DFD_OK || s == DFD_ERR_NOMEM || s == DFD_ERR_IO);
        CHECK_EQ_INT(dfd_alloc_bytes_in_use(), before);
    }
    CHECK(n_ok > 0);
    dfd_free(b);
}

static void test_cleanup(void)
{
    CHECK_OK(test_tmpdir_remove());
}

DFD_TEST_MAIN({ "round_trip_keeps_every_tensor_and_metadata",
                test_round_trip_keeps_every_tensor_and_metadata },
              { "header_layout_is_byte_exact", test_header_layout_is_byte_exact },
              { "params_save_and_load_by_name", test_params_save_and_load_by_name },
              { "writer_rejects_invalid_arguments", test_writer_rejects_invalid_arguments },
              { "every_truncation_is_rejected", test_every_truncation_is_rejected },
              { "every_flipped_header_byte_is_rejected",
                test_every_flipped_header_byte_is_rejected },
              { "inconsistent_entries_are_rejected", test_inconsistent_entries_are_rejected },
              { "malformed_headers_are_rejected", test_malformed_headers_are_rejected },
              { "open_survives_every_allocation_failure",
                test_open_survives_every_allocation_failure },
              { "cleanup", test_cleanup })
