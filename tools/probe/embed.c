// Dev-time measurements (docs/ACCURACY.md): faceres features of the image files listed on stdin
// (one path a line), written as raw float32 rows to OUT.bin.
//   embed OUT.bin [MODE [OUTPUT]] < list.txt
//       "Frozen embeddings": the 1024 values of OUTPUT (default global_pooling/Mean) per image;
//       MODE 0: BGR minus the Caffe means (the backbone's preprocessing), 1: RGB 0..255.
//   embed OUT.bin layers < list.txt
//       "Intermediate layers": per-channel mean, then standard deviation, over the map of five
//       layers after ReLU6 (112x112x64, 56x56x128, 28x28x256, 14x14x512, 7x7x1024): 3968 values
//       per image, BGR minus the Caffe means.
// Build: see tools/probe/README.md.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/session.h"

#define SIDE  224
#define BATCH 8

static const char *const LAYERS[] = {
    "conv_pw_1_relu/clip_by_value", "conv_pw_3_relu/clip_by_value", "conv_pw_5_relu/clip_by_value",
    "conv_pw_11_relu/clip_by_value", "conv_pw_13_relu/clip_by_value"
};
#define N_LAYERS 5

// The image at path, resized to SIDE x SIDE, into d (mode 0: BGR minus Caffe means; 1: RGB).
static int fill(float *d, const char *path, int mode)
{
    dfd_error err;
    dfd_image im, r;
    if (dfd_image_read(&im, path, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (dfd_image_alloc(&r, SIDE, SIDE, 3) || dfd_image_resize(&r, &im, DFD_RESIZE_AREA)) {
        fprintf(stderr, "%s: out of memory\n", path);
        dfd_image_free(&im);
        return 1;
    }
    for (int i = 0; i < SIDE * SIDE; i++) {
        const unsigned char *p = r.data + (size_t)(i / SIDE) * r.stride + (size_t)(i % SIDE) * 3;
        if (mode == 0) {
            d[3 * i] = p[2] - 103.939f;
            d[3 * i + 1] = p[1] - 116.779f;
            d[3 * i + 2] = p[0] - 123.68f;
        } else {
            d[3 * i] = p[0];
            d[3 * i + 1] = p[1];
            d[3 * i + 2] = p[2];
        }
    }
    dfd_image_free(&im);
    dfd_image_free(&r);
    return 0;
}

// Per-channel mean and standard deviation of item b of a [N, H, W, C] map.
static void moments(FILE *out, const dfd_tensor *o, int b)
{
    const size_t hw = (size_t)o->shape[1] * o->shape[2], c = (size_t)o->shape[3];
    const float *x = o->data + (size_t)b * hw * c;
    float f[2 * 1024];
    for (size_t k = 0; k < c; k++) {
        double m = 0, q = 0;
        for (size_t i = 0; i < hw; i++) {
            m += x[i * c + k];
            q += (double)x[i * c + k] * x[i * c + k];
        }
        m /= (double)hw;
        f[k] = (float)m;
        f[c + k] = (float)sqrt(fmax(q / (double)hw - m * m, 0));
    }
    fwrite(f, sizeof(float), 2 * c, out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: embed OUT.bin [MODE [OUTPUT]] | embed OUT.bin layers < list.txt\n");
        return 2;
    }
    const int layers = argc > 2 && strcmp(argv[2], "layers") == 0;
    const int mode = argc > 2 && !layers ? atoi(argv[2]) : 0;
    const char *output = argc > 3 ? argv[3] : "global_pooling/Mean";
    dfd_error err;
    dfd_graph *g;
    dfd_session *s;
    dfd_session_opts so = dfd_session_opts_default();
    so.n_threads = 2;
    if (dfd_tfjs_load_outputs(&g, "models/faceres.json", NULL, layers ? LAYERS : NULL,
                              layers ? N_LAYERS : 0, &err) ||
        dfd_session_create(&s, g, BATCH, &so, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FILE *out = fopen(argv[1], "wb");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    dfd_tensor *in = dfd_session_input(s, 0);
    char line[4096];
    int nb = 0;
    long total = 0;
    for (;;) {
        const int eof = !fgets(line, sizeof line, stdin);
        if (!eof) {
            line[strcspn(line, "\n")] = 0;
            if (fill(in->data + (size_t)nb * SIDE * SIDE * 3, line, mode)) {
                return 1;
            }
            nb++;
        }
        if (nb == BATCH || (eof && nb > 0)) {
            if (dfd_session_run(s, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            for (int b = 0; b < nb; b++) {
                if (layers) {
                    for (int l = 0; l < N_LAYERS; l++) {
                        moments(out, dfd_session_output_by_name(s, LAYERS[l]), b);
                    }
                } else {
                    const dfd_tensor *o = dfd_session_output_by_name(s, output);
                    if (!o) {
                        fprintf(stderr, "no output '%s'\n", output);
                        return 1;
                    }
                    fwrite(o->data + (size_t)b * 1024, sizeof(float), 1024, out);
                }
            }
            total += nb;
            nb = 0;
            if (total % 640 == 0) {
                fprintf(stderr, "%ld\n", total);
            }
        }
        if (eof) {
            break;
        }
    }
    if (fclose(out)) {
        perror(argv[1]);
        return 1;
    }
    dfd_session_free(s);
    dfd_graph_free(g);
    return 0;
}
