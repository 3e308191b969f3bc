// The four face models against TF.js itself: tests/nn/golden holds TF.js's outputs (pure-JS CPU
// backend) on two fixed inputs per model (tools/golden/generate.js wrote them). Each input is
// rebuilt here bit for bit (checked by its FNV-1a hash), the model runs on the reference and the
// fast kernels at batch 1, and at batch 2 with both inputs stacked, and every output must match
// within 1e-4 of the tensor's largest magnitude (plus 1e-6). Skips when models/ is absent.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/image/imageio.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/fileio.h"
#include "test.h"

#define REL_TOL 1e-4
#define ABS_TOL 1e-6

static char g_src[1024];

static cJSON *load_manifest(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/nn/golden/manifest.json", g_src);
    void *text;
    size_t n;
    if (dfd_file_read_all(&text, &n, path, 1 << 20, NULL) != DFD_OK) {
        return NULL;
    }
    cJSON *m = cJSON_ParseWithLength(text, n);
    dfd_free(text);
    return m;
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int int_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

// The input of one golden file, exactly as README.md defines it.
static bool build_input(float *in, const cJSON *file, const dfd_image *astronaut)
{
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(file, "input_shape");
    const int S = cJSON_GetArrayItem(shape, 1)->valueint;
    const cJSON *formula = cJSON_GetObjectItemCaseSensitive(file, "input_formula");
    const char *source = str_of(formula, "source"), *pre = str_of(formula, "preprocess");
    const cJSON *crop = cJSON_GetObjectItemCaseSensitive(file, "crop");
    int x0 = crop ? int_of(crop, "x0") : 0, y0 = crop ? int_of(crop, "y0") : 0;
    bool pattern = strcmp(source, "pattern") == 0;
    if (!pattern && !astronaut) {
        return false;
    }
    for (int y = 0; y < S; y++) {
        for (int x = 0; x < S; x++) {
            double P[3];
            for (int c = 0; c < 3; c++) {
                if (pattern) {
                    P[c] = 255.0 * (0.5 + 0.3 * sin(0.07 * x + 0.05 * y + 1.3 * c) +
                                    0.2 * cos(0.0021 * x * y + 0.9 * c));
                } else {
                    P[c] = dfd_image_px(astronaut, x0 + x, y0 + y)[c];
                }
            }
            float *o = in + ((size_t)y * S + x) * 3;
            for (int k = 0; k < 3; k++) {
                if (strcmp(pre, "pm1") == 0) {
                    o[k] = (float)(P[k] / 127.5 - 1.0);
                } else if (strcmp(pre, "unit") == 0) {
                    o[k] = (float)(P[k] / 255.0);
                } else {
                    static const double mean[3] = { 103.939, 116.779, 123.68 };
                    o[k] = (float)(P[2 - k] - mean[k]); // caffe_bgr
                }
            }
        }
    }
    return true;
}

static uint32_t fnv1a(const float *v, size_t n)
{
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) {
        unsigned char b[4];
        memcpy(b, &v[i], 4);
        for (int k = 0; k < 4; k++) {
            h ^= b[k];
            h *= 0x01000193u;
        }
    }
    return h;
}

static float *read_golden(const char *name, size_t *n)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/nn/golden/%s", g_src, name);
    void *data = NULL;
    size_t bytes;
    if (dfd_file_read_all(&data, &bytes, path, 1 << 20, NULL) != DFD_OK) {
        return NULL;
    }
    *n = bytes / 4;
    return data;
}

// Worst error of `got` against `want`, relative to the largest |want| (0 = identical).
static double compare(const float *got, const float *want, size_t n, size_t *bad)
{
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs((double)want[i]));
    }
    *bad = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)want[i]);
        if (!(e <= REL_TOL * scale + ABS_TOL)) {
            (*bad)++;
        }
        worst = fmax(worst, scale > 0 ? e / scale : e);
    }
    return worst;
}

// Run one model on its golden files: 2 inputs x {ref, fast} at batch 1, then fast at batch 2.
static void check_model(const char *model)
{
    cJSON *m = load_manifest();
    REQUIRE(m);
    char path[1200];
    snprintf(path, sizeof path, "%s/models/%s.json", g_src, model);
    dfd_graph *g = NULL;
    dfd_error err;
    if (dfd_file_check_regular(path, NULL, NULL) != DFD_OK) {
        cJSON_Delete(m);
        TEST_SKIP("%s absent (scripts/setup.sh fetches it)", path);
    }
    dfd_status st = dfd_tfjs_load(&g, path, &err);
    if (st) {
        fprintf(stderr, "    %s\n", err.msg);
    }
    CHECK_OK(st);
    snprintf(path, sizeof path, "%s/assets/astronaut.png", g_src);
    dfd_image astro = { 0 };
    bool have_astro = dfd_image_read(&astro, path, NULL) == DFD_OK;

    const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files"), *f;
    const cJSON *mine[2] = { NULL, NULL };
    int n_mine = 0;
    cJSON_ArrayForEach(f, files)
    {
        if (strcmp(str_of(f, "model"), model) == 0 && n_mine < 2) {
            mine[n_mine++] = f;
        }
    }
    REQUIRE(n_mine == 2);
    float *inputs[2] = { NULL, NULL }, *gold[2] = { NULL, NULL };
    size_t in_n = 0, gold_n[2];
    for (int k = 0; k < 2; k++) {
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(mine[k], "input_shape");
        int S = cJSON_GetArrayItem(shape, 1)->valueint;
        in_n = (size_t)S * S * 3;
        inputs[k] = malloc(in_n * sizeof(float));
        gold[k] = read_golden(str_of(mine[k], "file"), &gold_n[k]);
        REQUIRE(inputs[k] && gold[k]);
        if (!build_input(inputs[k], mine[k], have_astro ? &astro : NULL)) {
            TEST_SKIP("astronaut.png absent");
        }
        char hash[16];
        snprintf(hash, sizeof hash, "0x%08x", fnv1a(inputs[k], in_n));
        CHECK(strcmp(hash, str_of(mine[k], "input_fnv1a32")) == 0); // same input as TF.js saw
    }
    struct {
        dfd_backend backend;
        int batch;
    } runs[3] = { { DFD_BACKEND_REF, 1 }, { DFD_BACKEND_FAST, 1 }, { DFD_BACKEND_FAST, 2 } };
    for (int r = 0; r < 3; r++) {
        dfd_session_opts so = dfd_session_opts_default();
        so.backend = runs[r].backend;
        dfd_session *s;
        CHECK_OK(dfd_session_create(&s, g, runs[r].batch, &so, &err));
        for (int k = 0; k < 2; k += runs[r].batch == 2 ? 2 : 1) {
            dfd_tensor *in = dfd_session_input(s, 0);
            memcpy(in->data, inputs[k], in_n * sizeof(float));
            if (runs[r].batch == 2) {
                memcpy(in->data + in_n, inputs[1], in_n * sizeof(float));
            }
            CHECK_OK(dfd_session_run(s, &err));
            for (int item = 0; item < runs[r].batch; item++) {
                int which = runs[r].batch == 2 ? item : k;
                const cJSON *t;
                cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(mine[which], "tensors"))
                {
                    if (strcmp(str_of(t, "role"), "output") != 0) {
                        continue;
                    }
                    const dfd_tensor *o = dfd_session_output_by_name(s, str_of(t, "name"));
                    REQUIRE(o);
                    size_t count = (size_t)int_of(t, "count"), off = (size_t)int_of(t, "offset");
                    REQUIRE(count * (size_t)runs[r].batch == dfd_tensor_numel(o) &&
                            off + count <= gold_n[which]);
                    size_t bad;
                    double worst = compare(o->data + item * count, gold[which] + off, count, &bad);
                    if (bad || getenv("DFD_TEST_VERBOSE")) {
                        fprintf(stderr,
                                "    %s %s %s batch %d: %zu of %zu values off, worst %.2e\n", model,
                                str_of(mine[which], "input_kind"), str_of(t, "name"), runs[r].batch,
                                bad, count, worst);
                    }
                    CHECK_EQ_INT(bad, 0);
                }
            }
        }
        dfd_session_free(s);
    }
    for (int k = 0; k < 2; k++) {
        free(inputs[k]);
        dfd_free(gold[k]);
    }
    dfd_image_free(&astro);
    dfd_graph_free(g);
    cJSON_Delete(m);
}

static void blazeface_matches_tfjs(void)
{
    check_model("blazeface");
}

static void facemesh_matches_tfjs(void)
{
    check_model("facemesh");
}

static void faceres_matches_tfjs(void)
{
    check_model("faceres");
}

static void antispoof_matches_tfjs(void)
{
    check_model("antispoof");
}

int main(int argc, char **argv)
{
    const char *src = getenv("DFD_SOURCE_DIR");
    snprintf(g_src, sizeof g_src, "%s", src ? src : ".");
    static const dfd_test_case cases[] = {
        { "blazeface_matches_tfjs", blazeface_matches_tfjs },
        { "facemesh_matches_tfjs", facemesh_matches_tfjs },
        { "faceres_matches_tfjs", faceres_matches_tfjs },
        { "antispoof_matches_tfjs", antispoof_matches_tfjs },
    };
    return dfd_test_run_(cases, sizeof cases / sizeof cases[0], argc, argv);
}
