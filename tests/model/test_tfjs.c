// The TF.js importer on a tiny model written by the test: weight encodings (float32, float16,
// uint8 affine, int32), and every way a model file can be broken: truncated JSON, truncated or
// oversized weights, an unknown op, a missing shard, allocation failures anywhere.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "model/model_internal.h"
#include "test.h"

// x [N,4,4,2] -> _FusedConv2D 1x1 (BiasAdd, Relu) -> Mean over H,W -> Identity "out".
// %s slots: the quantization of w (a ",\"quantization\":{...}" or ""), and the op of the conv.
static const char tiny_json[] =
    "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":["
    "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":["
    "{\"size\":\"-1\"},{\"size\":\"4\"},{\"size\":\"4\"},{\"size\":\"2\"}]}}}},"
    "{\"name\":\"w\",\"op\":\"Const\"},{\"name\":\"b\",\"op\":\"Const\"},"
    "{\"name\":\"axes\",\"op\":\"Const\"},"
    "{\"name\":\"conv\",\"op\":\"%s\",\"input\":[\"x\",\"w\",\"b\"],\"attr\":{"
    "\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}},\"padding\":{\"s\":\"U0FNRQ==\"},"
    "\"data_format\":{\"s\":\"TkhXQw==\"},\"num_args\":{\"i\":\"1\"},"
    "\"fused_ops\":{\"list\":{\"s\":[\"Qmlhc0FkZA==\",\"UmVsdQ==\"]}}}},"
    "{\"name\":\"mean\",\"op\":\"Mean\",\"input\":[\"conv\",\"axes\"],"
    "\"attr\":{\"keep_dims\":{\"b\":false}}},"
    "{\"name\":\"out\",\"op\":\"Identity\",\"input\":[\"mean\"]}]},"
    "\"weightsManifest\":[{\"paths\":[\"tiny.bin\"],\"weights\":["
    "{\"name\":\"w\",\"shape\":[1,1,2,3],\"dtype\":\"float32\"%s},"
    "{\"name\":\"b\",\"shape\":[3],\"dtype\":\"float32\"},"
    "{\"name\":\"axes\",\"shape\":[2],\"dtype\":\"int32\"}]}]}";

static const float tiny_w[6] = { 1, 2, 3, 4, 5, 6 }; // [ic][oc]
static const float tiny_b[3] = { 4, 2, 10 };

static char g_dir[64];

static void write_file(const char *name, const void *data, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

// Write tiny.json and tiny.bin with w encoded as `enc` (0 float32, 1 float16, 2 uint8);
// returns the .bin size.
static size_t write_tiny(int enc, const char *conv_op)
{
    unsigned char bin[64];
    size_t n = 0;
    for (int i = 0; i < 6; i++) {
        if (enc == 0) {
            uint32_t u;
            memcpy(&u, &tiny_w[i], 4);
            le32(bin + n, u);
            n += 4;
        } else if (enc == 1) { // small integers are exact in half precision: 1.0 = 0x3c00 ...
            static const uint16_t h[6] = { 0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600 };
            bin[n++] = (unsigned char)(h[i] & 0xff);
            bin[n++] = (unsigned char)(h[i] >> 8);
        } else { // q * 0.5 + (-1): q = (v + 1) * 2
            bin[n++] = (unsigned char)((tiny_w[i] + 1) * 2);
        }
    }
    for (int i = 0; i < 3; i++) {
        uint32_t u;
        memcpy(&u, &tiny_b[i], 4);
        le32(bin + n, u);
        n += 4;
    }
    le32(bin + n, 1);
    le32(bin + n + 4, 2);
    n += 8;
    const char *q = enc == 1   ? ",\"quantization\":{\"dtype\":\"float16\"}"
                    : enc == 2 ? ",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,\"min\":-1}"
                               : "";
    char json[4096];
    int len = snprintf(json, sizeof json, tiny_json, conv_op, q);
    write_file("tiny.json", json, (size_t)len);
    write_file("tiny.bin", bin, n);
    return n;
}

static const char *tiny_path(void)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/tiny.json", g_dir);
    return p;
}

static void tiny_model_runs_with_every_weight_encoding(void)
{
    for (int enc = 0; enc < 3; enc++) {
        write_tiny(enc, "_FusedConv2D");
        dfd_graph *g;
        dfd_error err;
        dfd_status st = dfd_tfjs_load(&g, tiny_path(), &err);
        if (st) {
            fprintf(stderr, "    %s\n", err.msg);
        }
        CHECK_OK(st);
        CHECK_EQ_INT(dfd_graph_n_outputs(g), 1);
        CHECK(dfd_graph_find_output(g, "out:0") == 0); // found by the Identity's name
        dfd_session *s;
        CHECK_OK(dfd_session_create(&s, g, 2, NULL, NULL));
        dfd_tensor *x = dfd_session_input(s, 0);
        for (size_t i = 0; i < dfd_tensor_numel(x); i += 2) {
            x->data[i] = 1;
            x->data[i + 1] = i < 32 ? -1.0f : 0.5f; // item 0: (1, -1); item 1: (1, 0.5)
        }
        CHECK_OK(dfd_session_run(s, NULL));
        const dfd_tensor *y = dfd_session_output_by_name(s, "out");
        REQUIRE(y && y->rank == 2 && y->shape[0] == 2 && y->shape[1] == 3);
        // item 0: relu((1-4, 2-5, 3-6) + b) = (1, 0, 7); item 1: relu((3, 4.5, 6) + b)
        const float want[6] = { 1, 0, 7, 7, 6.5f, 16 };
        for (int i = 0; i < 6; i++) {
            CHECK_NEAR(y->data[i], want[i], 1e-6);
        }
        dfd_session_free(s);
        dfd_graph_free(g);
    }
}

static void half_floats_and_base64_decode_exactly(void)
{
    CHECK(tfjs_half_to_float(0x3c00) == 1.0f);
    CHECK(tfjs_half_to_float(0xc000) == -2.0f);
    CHECK(tfjs_half_to_float(0x7bff) == 65504.0f);
    CHECK(tfjs_half_to_float(0x0001) == 5.9604644775390625e-8f); // smallest subnormal
    CHECK(tfjs_half_to_float(0x8000) == 0.0f);
    CHECK(tfjs_half_to_float(0x7c00) > 1e30f);
    float nan = tfjs_half_to_float(0x7e00);
    CHECK(nan != nan);
    // Every half against its definition: (-1)^s * 2^(e - 15) * (1 + m / 1024), subnormals
    // 2^-14 * m / 1024, e = 31 infinity or NaN; signed zeros kept.
    int wrong = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        const int e = (int)(h >> 10) & 0x1f, m = (int)(h & 0x3ff);
        const double mag = e == 0    ? ldexp(m, -24)
                           : e == 31 ? (m ? (double)NAN : (double)INFINITY)
                                     : ldexp(1024 + m, e - 25);
        const double want = h >> 15 ? -mag : mag;
        const float got = tfjs_half_to_float((uint16_t)h);
        wrong += isnan(want) ? !isnan(got) : (double)got != want || !signbit(got) != !(h >> 15);
    }
    CHECK_EQ_INT(wrong, 0);
    char buf[16];
    CHECK(tfjs_base64_decode(buf, sizeof buf, "Qmlhc0FkZA==") && strcmp(buf, "BiasAdd") == 0);
    CHECK(!tfjs_base64_decode(buf, sizeof buf, "bad*chars"));
    CHECK(!tfjs_base64_decode(buf, 4, "Qmlhc0FkZA==")); // does not fit
}

static void every_truncated_model_json_is_rejected(void)
{
    write_tiny(0, "_FusedConv2D");
    void *text;
    size_t n;
    CHECK_OK(dfd_file_read_all(&text, &n, tiny_path(), 1 << 20, NULL));
    char *full = malloc(n);
    REQUIRE(full);
    memcpy(full, text, n);
    dfd_free(text);
    size_t base = dfd_alloc_bytes_in_use();
    for (size_t cut = 0; cut < n; cut += 7) {
        write_file("tiny.json", full, cut);
        dfd_graph *g = NULL;
        dfd_error err;
        dfd_status st = dfd_tfjs_load(&g, tiny_path(), &err);
        CHECK(st == DFD_ERR_FORMAT);
        CHECK(g == NULL);
        CHECK(strchr(err.msg, '\n') == NULL && strstr(err.msg, "tiny.json"));
    }
    CHECK_EQ_INT(dfd_alloc_bytes_in_use(), base);
    free(full);
}

static void broken_weights_are_rejected_with_the_reason(void)
{
    size_t n = write_tiny(0, "_FusedConv2D");
    unsigned char bin[64];
    memset(bin, 0, sizeof bin);
    dfd_error err;
    dfd_graph *g = NULL;
    write_file("tiny.bin", bin, n - 1); // one byte short
    CHECK_EQ_INT(dfd_tfjs_load(&g, tiny_path(), &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "truncated weights");
    write_file("tiny.bin", bin, n + 4); // extra bytes
    CHECK_EQ_INT(dfd_tfjs_load(&g, tiny_path(), &err), DFD_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "manifest uses");
    char path[128];
    snprintf(path, sizeof path, "%s/tiny.bin", g_dir);
    unlink(path);
    CHECK_EQ_INT(dfd_tfjs_load(&g, tiny_path(), &err), DFD_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(err.msg, "tiny.bin");
    CHECK(g == NULL);
}

static void unsupported_op_names_the_op_and_the_node(void)
{
    write_tiny(0, "FancyConv3D");
    dfd_graph *g = NULL;
    dfd_error err;
    CHECK_EQ_INT(dfd_tfjs_load(&g, tiny_path(), &err), DFD_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(err.msg, "FancyConv3D");
    CHECK_STR_CONTAINS(err.msg, "'conv'");
    CHECK_STR_CONTAINS(err.msg, "tiny.json");
}

static void allocation_failures_anywhere_in_a_load_fail_cleanly(void)
{
    write_tiny(1, "_FusedConv2D");
    size_t base = dfd_alloc_bytes_in_use();
    int ok = 0, nomem = 0;
    for (long k = 0; k < 400 && !ok; k++) {
        dfd_alloc_fail_after(k);
        dfd_graph *g = NULL;
        dfd_status st = dfd_tfjs_load(&g, tiny_path(), NULL);
        dfd_alloc_fail_after(-1);
        if (st == DFD_OK) {
            ok++;
            dfd_graph_free(g);
        } else {
            nomem += st == DFD_ERR_NOMEM;
            CHECK(st == DFD_ERR_NOMEM);
            CHECK(g == NULL);
        }
        CHECK_EQ_INT(dfd_alloc_bytes_in_use(), base);
    }
    CHECK_EQ_INT(ok, 1);
    CHECK(nomem > 20);
}

int main(int argc, char **argv)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dfd_test_tfjs_XXXXXX");
    if (!mkdtemp(g_dir)) {
        return 1;
    }
    static const dfd_test_case cases[] = {
        { "tiny_model_runs_with_every_weight_encoding",
          tiny_model_runs_with_every_weight_encoding },
        { "half_floats_and_base64_decode_exactly", half_floats_and_base64_decode_exactly },
        { "every_truncated_model_json_is_rejected", every_truncated_model_json_is_rejected },
        { "broken_weights_are_rejected_with_the_reason",
          broken_weights_are_rejected_with_the_reason },
        { "unsupported_op_names_the_op_and_the_node", unsupported_op_names_the_op_and_the_node },
        { "allocation_failures_anywhere_in_a_load_fail_cleanly",
          allocation_failures_anywhere_in_a_load_fail_cleanly },
    };
    int rc = dfd_test_run_(cases, sizeof cases / sizeof cases[0], argc, argv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) {
        rc = 1;
    }
    return rc;
}
