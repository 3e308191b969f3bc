// Dev-time measurement (docs/ACCURACY.md, "frozen embeddings"): faceres embeddings of the image
// files listed on stdin, written as raw float32 [n][1024] to argv[1].
//   usage: embed OUT.bin [MODE [OUTPUT]] < list.txt   (MODE 0: BGR minus Caffe means, 1: RGB
//   0..255)
// Build: see tools/probe/README.md.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dfdetect/image/imageio.h"
#include "dfdetect/image/resize.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/session.h"
int main(int argc, char **argv)
{
    dfd_error err;
    dfd_graph *g;
    if (dfd_tfjs_load(&g, "models/faceres.json", &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int B = 16;
    dfd_session *s;
    dfd_session_opts so = dfd_session_opts_default();
    so.n_threads = 2;
    if (dfd_session_create(&s, g, B, &so, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int mode = argc > 2 ? atoi(argv[2]) : 0; // 0 upstream BGR-caffe, 1 RGB 0..255
    FILE *out = fopen(argv[1], "wb");
    char line[4096];
    char names[16][4096];
    int nb = 0;
    long total = 0;
    dfd_tensor *in = dfd_session_input(s, 0);
    for (;;) {
        int eof = !fgets(line, sizeof line, stdin);
        if (!eof) {
            line[strcspn(line, "\n")] = 0;
            strcpy(names[nb], line);
            dfd_image im, r;
            if (dfd_image_read(&im, line, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            if (dfd_image_alloc(&r, 224, 224, 3))
                return 1;
            dfd_image_resize(&r, &im, DFD_RESIZE_AREA);
            float *d = in->data + (size_t)nb * 224 * 224 * 3;
            for (int i = 0; i < 224 * 224; i++) {
                const unsigned char *p =
                    r.data + (size_t)(i / 224) * r.stride + (size_t)(i % 224) * 3;
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
            nb++;
        }
        if (nb == B || (eof && nb > 0)) {
            if (dfd_session_run(s, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            const dfd_tensor *o =
                dfd_session_output_by_name(s, argc > 3 ? argv[3] : "global_pooling/Mean");
            if (!o) {
                fprintf(stderr, "no output\n");
                return 1;
            }
            fwrite(o->data, sizeof(float), (size_t)nb * 1024, out);
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
