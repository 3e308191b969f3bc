// dfdetect model info FILE [--json]: inputs, outputs, op counts, parameters and MACs.
// dfdetect model run FILE --input IMAGE [--norm ...] [--output NAME]... [--json]: one image
// through a model.
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "cli.h"
#include "dfdetect/image/convert.h"
#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/util/fileio.h"

static const char model_help[] =
    "usage: dfdetect model info FILE [--json]\n"
    "       dfdetect model run FILE --input IMAGE [--norm NORM] [--output NAME]... [--threads N]\n"
    "                         [--ref] [--json]\n"
    "\n"
    "Inspect or run a neural network file (a TF.js graph model: model.json + .bin).\n"
    "\n"
    "info   inputs and outputs with shapes, operations after fusion, parameters and\n"
    "       multiply-accumulates (MACs) per item\n"
    "run    resize IMAGE (PNG or JPEG) to the model's input size, normalise it, run it and\n"
    "       print every output (a debugging aid)\n"
    "\n"
    "options:\n"
    "  --input IMAGE   image to run (run)\n"
    "  --norm NORM     input normalisation: unit (v/255), signed (v/127.5-1), raw (0..255),\n"
    "                  caffe-bgr (BGR minus the Caffe means). Default from the file name:\n"
    "                  blazeface signed, faceres caffe-bgr, others unit\n"
    "  --output NAME   also print the value the node NAME computes (run; repeatable, up to 16)\n"
    "  --threads N     threads (default: one per CPU)\n"
    "  --ref           use the reference kernels instead of the fast ones\n"
    "  --json          machine-readable output (run: every output value)\n"
    "  --help          this text\n";

static void print_shape(const dfd_value *v)
{
    printf("[");
    for (int i = 0; i < v->rank; i++) {
        if (v->shape[i] == DFD_BATCH) {
            printf("%sN", i ? ", " : "");
        } else {
            printf(i ? ", %d" : "%d", v->shape[i]);
        }
    }
    printf("]");
}

static cJSON *shape_json(const dfd_value *v)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < v->rank; i++) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v->shape[i] == DFD_BATCH ? -1 : v->shape[i]));
    }
    return a;
}

static void print_json_doc(cJSON *o)
{
    char *s = cJSON_Print(o);
    if (s) {
        printf("%s\n", s);
        cJSON_free(s);
    }
    cJSON_Delete(o);
}

static int model_info(const char *path, bool json)
{
    dfd_error err;
    dfd_graph *g;
    double t0 = dfd_now();
    if (dfd_tfjs_load(&g, path, &err)) {
        return cli_fail(&err);
    }
    double load_s = dfd_now() - t0;
    dfd_graph_stats s;
    dfd_graph_stats_get(&s, g);
    if (json) {
        cJSON *o = cJSON_CreateObject(), *ins = cJSON_AddArrayToObject(o, "inputs");
        cJSON *outs = cJSON_AddArrayToObject(o, "outputs"),
              *ops = cJSON_AddObjectToObject(o, "ops");
        cJSON_AddStringToObject(o, "file", path);
        for (size_t i = 0; i < dfd_graph_n_inputs(g); i++) {
            const dfd_value *v = dfd_graph_value(g, dfd_graph_input(g, i));
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", v->name);
            cJSON_AddItemToObject(e, "shape", shape_json(v));
            cJSON_AddItemToArray(ins, e);
        }
        for (size_t i = 0; i < dfd_graph_n_outputs(g); i++) {
            const dfd_value *v = dfd_graph_value(g, dfd_graph_output(g, i));
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", dfd_graph_output_name(g, i));
            cJSON_AddItemToObject(e, "shape", shape_json(v));
            cJSON_AddItemToArray(outs, e);
        }
        for (int k = 0; k < DFD_OP_COUNT; k++) {
            if (s.op_count[k]) {
                cJSON_AddNumberToObject(ops, dfd_op_name((dfd_op)k), (double)s.op_count[k]);
            }
        }
        cJSON_AddNumberToObject(o, "parameters", (double)s.n_params);
        cJSON_AddNumberToObject(o, "macs", s.macs);
        cJSON_AddNumberToObject(o, "load_s", load_s);
        print_json_doc(o);
    } else {
        printf("%s\n", path);
        for (size_t i = 0; i < dfd_graph_n_inputs(g); i++) {
            const dfd_value *v = dfd_graph_value(g, dfd_graph_input(g, i));
            printf("  input   %-40s ", v->name);
            print_shape(v);
            printf("\n");
        }
        for (size_t i = 0; i < dfd_graph_n_outputs(g); i++) {
            printf("  output  %-40s ", dfd_graph_output_name(g, i));
            print_shape(dfd_graph_value(g, dfd_graph_output(g, i)));
            printf("\n");
        }
        printf("  ops    ");
        for (int k = 0; k < DFD_OP_COUNT; k++) {
            if (s.op_count[k]) {
                printf(" %s x%zu", dfd_op_name((dfd_op)k), s.op_count[k]);
            }
        }
        printf("  (after fusion)\n");
        printf("  params  %zu (%.1f MB as float32)\n", s.n_params, (double)s.n_params * 4 / 1e6);
        printf("  MACs    %.1f M per item (%.2f GFLOP)\n", s.macs / 1e6, 2 * s.macs / 1e9);
        printf("  loaded  in %.3f s\n", load_s);
    }
    dfd_graph_free(g);
    return CLI_OK;
}

typedef enum {
    NORM_UNIT,
    NORM_SIGNED,
    NORM_RAW,
    NORM_CAFFE_BGR
} norm_kind;

static bool parse_norm(norm_kind *out, const char *s, const char *path)
{
    if (!s) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        *out = strstr(base, "blazeface") ? NORM_SIGNED
               : strstr(base, "faceres") ? NORM_CAFFE_BGR
                                         : NORM_UNIT;
        return true;
    }
    if (strcmp(s, "unit") == 0) {
        *out = NORM_UNIT;
    } else if (strcmp(s, "signed") == 0) {
        *out = NORM_SIGNED;
    } else if (strcmp(s, "raw") == 0) {
        *out = NORM_RAW;
    } else if (strcmp(s, "caffe-bgr") == 0) {
        *out = NORM_CAFFE_BGR;
    } else {
        return false;
    }
    return true;
}

// Resize and normalise an RGB image into the NHWC input tensor (batch 1).
static dfd_status fill_input(dfd_tensor *in, const dfd_image *img, norm_kind norm, dfd_error *err)
{
    if (in->rank != 4 || in->shape[3] != 3) {
        return dfd_error_set(err, DFD_ERR_UNSUPPORTED, "model input is not [N, H, W, 3]");
    }
    dfd_image sized = { 0 };
    dfd_status st = dfd_image_alloc(&sized, in->shape[2], in->shape[1], 3);
    if (!st) {
        st = dfd_image_resize(&sized, img, DFD_RESIZE_BILINEAR);
    }
    if (st) {
        dfd_image_free(&sized);
        return dfd_error_set(err, st, "cannot resize the input image");
    }
    static const float caffe[3] = { 103.939f, 116.779f, 123.68f }; // B, G, R
    for (int y = 0; y < sized.h; y++) {
        for (int x = 0; x < sized.w; x++) {
            const uint8_t *p = dfd_image_px(&sized, x, y);
            float *o = in->data + ((size_t)y * sized.w + x) * 3;
            for (int c = 0; c < 3; c++) {
                float v = p[c];
                switch (norm) {
                case NORM_UNIT:
                    o[c] = v / 255.0f;
                    break;
                case NORM_SIGNED:
                    o[c] = v / 127.5f - 1.0f;
                    break;
                case NORM_RAW:
                    o[c] = v;
                    break;
                case NORM_CAFFE_BGR:
                    o[2 - c] = v - caffe[2 - c];
                    break;
                }
            }
        }
    }
    dfd_image_free(&sized);
    return DFD_OK;
}

static void print_output(const char *name, const dfd_tensor *t)
{
    size_t n = dfd_tensor_numel(t);
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)t->data[i];
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        sum += v;
    }
    char sb[64];
    printf("%s %s  min %.6g  max %.6g  mean %.6g\n  ", name,
           dfd_shape_str(sb, sizeof sb, t->rank, t->shape), mn, mx, sum / (double)n);
    for (size_t i = 0; i < n && i < 8; i++) {
        printf(" %.6g", (double)t->data[i]);
    }
    printf(n > 8 ? " ...\n" : "\n");
}

static int model_run(const char *path, const char *image, const char *norm_s,
                     const cli_strings *extra, int threads, bool ref, bool json)
{
    norm_kind norm;
    if (!parse_norm(&norm, norm_s, path)) {
        cli_error("model: unknown --norm '%s' (unit, signed, raw or caffe-bgr)", norm_s);
        return CLI_USAGE;
    }
    if (!image) {
        cli_error("model run: --input IMAGE is required");
        return CLI_USAGE;
    }
    dfd_error err;
    dfd_graph *g = NULL;
    dfd_session *s = NULL;
    dfd_image img = { 0 };
    int rc = CLI_OK;
    dfd_session_opts so = dfd_session_opts_default();
    so.n_threads = threads;
    so.backend = ref ? DFD_BACKEND_REF : DFD_BACKEND_FAST;
    if (dfd_image_read(&img, image, &err) ||
        dfd_tfjs_load_outputs(&g, path, NULL, extra->v, extra->n, &err) ||
        dfd_session_create(&s, g, 1, &so, &err) ||
        fill_input(dfd_session_input(s, 0), &img, norm, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    double t0 = dfd_now();
    if (dfd_session_run(s, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    double run_s = dfd_now() - t0;
    if (json) {
        cJSON *o = cJSON_CreateObject(), *outs = cJSON_AddObjectToObject(o, "outputs");
        cJSON_AddStringToObject(o, "model", path);
        cJSON_AddStringToObject(o, "input", image);
        cJSON_AddNumberToObject(o, "run_s", run_s);
        for (size_t i = 0; i < dfd_graph_n_outputs(g); i++) {
            const dfd_tensor *t = dfd_session_output(s, i);
            cJSON *e = cJSON_CreateObject(), *shape = cJSON_AddArrayToObject(e, "shape");
            for (int k = 0; k < t->rank; k++) {
                cJSON_AddItemToArray(shape, cJSON_CreateNumber(t->shape[k]));
            }
            cJSON *vals = cJSON_AddArrayToObject(e, "values");
            for (size_t k = 0; vals && k < dfd_tensor_numel(t); k++) {
                cJSON_AddItemToArray(vals, cJSON_CreateNumber((double)t->data[k]));
            }
            cJSON_AddItemToObject(outs, dfd_graph_output_name(g, i), e);
        }
        print_json_doc(o);
    } else {
        for (size_t i = 0; i < dfd_graph_n_outputs(g); i++) {
            print_output(dfd_graph_output_name(g, i), dfd_session_output(s, i));
        }
        printf("ran in %.2f ms\n", run_s * 1e3);
    }
done:
    dfd_session_free(s);
    dfd_graph_free(g);
    dfd_image_free(&img);
    return rc;
}

static int run_model(int argc, char **argv)
{
    bool json = false, help = false, ref = false;
    int threads = 0;
    const char *input = NULL, *norm = NULL;
    cli_strings extra = { 0 };
    const cli_opt opts[] = {
        { "output", CLI_STRINGS, &extra, 0, 0 }, { "json", CLI_FLAG, &json, 0, 0 },
        { "ref", CLI_FLAG, &ref, 0, 0 },         { "input", CLI_STRING, &input, 0, 0 },
        { "norm", CLI_STRING, &norm, 0, 0 },     { "threads", CLI_INT, &threads, 0, 256 },
    };
    const char *pos[2];
    size_t n_pos;
    int rc = cli_parse(&cli_model, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 2, &n_pos,
                       &help);
    if (rc || help) {
        return rc;
    }
    if (n_pos != 2 || (strcmp(pos[0], "info") != 0 && strcmp(pos[0], "run") != 0)) {
        cli_error("model: usage: dfdetect model info|run FILE (see 'dfdetect help model')");
        return CLI_USAGE;
    }
    if (strcmp(pos[0], "info") == 0) {
        return model_info(pos[1], json);
    }
    return model_run(pos[1], input, norm, &extra, threads, ref, json);
}

const cli_command cli_model = {
    .name = "model",
    .summary = "inspect or run a neural network file (TF.js graph model)",
    .help = model_help,
    .run = run_model,
};
