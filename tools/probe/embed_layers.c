// Dev-time measurement (docs/ACCURACY.md, "Intermediate layers"): per-channel mean and standard
// deviation over the map of five faceres layers (after ReLU6: 112x112x64, 56x56x128, 28x28x256,
// 14x14x512, 7x7x1024) for the image files listed on stdin, written as raw float32 [n][3968]
// (per layer: C means, then C deviations) to argv[1]. Preprocessing as the backbone's (BGR minus
// the Caffe means, 224x224).
//   usage: embed_layers OUT.bin < list.txt        Build: see tools/probe/README.md.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/session.h"
static const char *L[] = { "conv_pw_1_relu/clip_by_value", "conv_pw_3_relu/clip_by_value",
                           "conv_pw_5_relu/clip_by_value", "conv_pw_11_relu/clip_by_value",
                           "conv_pw_13_relu/clip_by_value" };
#define NL 5
int main(int argc, char **argv)
{
    dfd_error err;
    dfd_graph *g;
    if (dfd_tfjs_load_outputs(&g, "models/faceres.json", NULL, L, NL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int B = 8;
    dfd_session *s;
    dfd_session_opts so = dfd_session_opts_default();
    so.n_threads = 2;
    if (dfd_session_create(&s, g, B, &so, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FILE *out = fopen(argv[1], "wb");
    char line[4096];
    int nb = 0;
    long total = 0;
    dfd_tensor *in = dfd_session_input(s, 0);
    int printed = 0;
    for (;;) {
        int eof = !fgets(line, sizeof line, stdin);
        if (!eof) {
            line[strcspn(line, "\n")] = 0;
            dfd_image im, r;
            if (dfd_image_read(&im, line, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            dfd_image_alloc(&r, 224, 224, 3);
            dfd_image_resize(&r, &im, DFD_RESIZE_AREA);
            float *d = in->data + (size_t)nb * 224 * 224 * 3;
            for (int i = 0; i < 224 * 224; i++) {
                const unsigned char *p =
                    r.data + (size_t)(i / 224) * r.stride + (size_t)(i % 224) * 3;
                d[3 * i] = p[2] - 103.939f;
                d[3 * i + 1] = p[1] - 116.779f;
                d[3 * i + 2] = p[0] - 123.68f;
            }
            dfd_image_free(&im);
            dfd_image_free(&r);
            nb++;
        }
        if (nb == B || (eof && nb > 0)) {
            dfd_session_run(s, &err);
            for (int b = 0; b < nb; b++) {
                for (int l = 0; l < NL; l++) {
                    const dfd_tensor *o = dfd_session_output_by_name(s, L[l]);
                    size_t hw = (size_t)o->shape[1] * o->shape[2], c = (size_t)o->shape[3];
                    if (!printed)
                        fprintf(stderr, "%s %zu x %zu\n", L[l], hw, c);
                    const float *x = o->data + b * hw * c;
                    double *m = calloc(c, sizeof *m), *q = calloc(c, sizeof *q);
                    for (size_t i = 0; i < hw; i++)
                        for (size_t k = 0; k < c; k++) {
                            m[k] += x[i * c + k];
                            q[k] += (double)x[i * c + k] * x[i * c + k];
                        }
                    float *f = malloc(2 * c * sizeof *f);
                    for (size_t k = 0; k < c; k++) {
                        double mu = m[k] / hw;
                        f[k] = (float)mu;
                        f[c + k] = (float)sqrt(fmax(q[k] / hw - mu * mu, 0));
                    }
                    fwrite(f, sizeof(float), 2 * c, out);
                    free(f), free(m), free(q);
                }
                printed = 1;
            }
            total += nb;
            nb = 0;
            if (total % 640 == 0)
                fprintf(stderr, "%ld\n", total);
        }
        if (eof)
            break;
    }
    fclose(out);
    return 0;
}
