// bench/nodes: where one model's inference time goes, node by node (the profile behind every
// kernel decision in docs/PERFORMANCE.md).
//   usage: nodes MODEL.json [--threads T] [--batch B] [--runs R] [--min-us U]
// Runs the model R times on a fixed pattern with per-node timing on and prints the total per run
// and every node above U microseconds (default 20): its op, input and output shapes (H x W x C),
// the kernel that ran it (fast or the reference), its time and share of the total, and its name.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/graph.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/util/fileio.h"

static int usage(void)
{
    fprintf(stderr, "usage: nodes MODEL.json [--threads T] [--batch B] [--runs R] [--min-us U]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int threads = 1, batch = 1, runs = 200;
    double min_us = 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 < argc && !strcmp(a, "--threads")) {
            threads = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(a, "--batch")) {
            batch = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(a, "--runs")) {
            runs = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(a, "--min-us")) {
            min_us = atof(argv[++i]);
        } else if (a[0] != '-' && !path) {
            path = a;
        } else {
            return usage();
        }
    }
    if (!path || threads < 1 || batch < 1 || runs < 1) {
        return usage();
    }
    dfd_error err;
    dfd_graph *g;
    if (dfd_tfjs_load(&g, path, &err)) {
        fprintf(stderr, "nodes: %s\n", err.msg);
        return 1;
    }
    dfd_session_opts so = dfd_session_opts_default();
    so.n_threads = threads;
    so.profile = true;
    dfd_session *s;
    if (dfd_session_create(&s, g, (size_t)batch, &so, &err)) {
        fprintf(stderr, "nodes: %s\n", err.msg);
        dfd_graph_free(g);
        return 1;
    }
    dfd_tensor *in = dfd_session_input(s, 0);
    for (size_t i = 0; i < dfd_tensor_numel(in); i++) {
        in->data[i] = (float)((i * 7919) % 255) / 127.5f - 1;
    }
    // The first run (page faults, packing) is counted too, spread over the R runs.
    double t0 = dfd_now();
    for (int r = 0; r < runs; r++) {
        if (dfd_session_run(s, &err)) {
            fprintf(stderr, "nodes: %s\n", err.msg);
            return 1;
        }
    }
    double wall = (dfd_now() - t0) / runs;
    size_t n = dfd_graph_n_nodes(g);
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        bool fast;
        total += dfd_session_node_seconds(s, i, &fast);
    }
    total /= runs;
    printf("%s: batch %d, %d thread(s), %d runs: %.3f ms per run in nodes (%.3f ms wall)\n", path,
           batch, threads, runs, total * 1e3, wall * 1e3);
    for (size_t i = 0; i < n; i++) {
        bool fast;
        double t = dfd_session_node_seconds(s, i, &fast) / runs;
        if (t * 1e6 < min_us) {
            continue;
        }
        const dfd_node *nd = dfd_graph_node(g, i);
        const dfd_value *vi = dfd_graph_value(g, nd->in[0]), *vo = dfd_graph_value(g, nd->out);
        char shape[64];
        snprintf(shape, sizeof shape, "%dx%dx%d -> %dx%dx%d", vi->shape[1], vi->shape[2],
                 vi->shape[3], vo->shape[1], vo->shape[2], vo->shape[3]);
        printf("%4zu %-8s %-26s %-9s %8.1f us %5.1f%%  %.36s\n", i, dfd_op_name(nd->op), shape,
               dfd_session_node_kernel(s, i), t * 1e6, 100 * t / total, nd->name);
    }
    dfd_session_free(s);
    dfd_graph_free(g);
    return 0;
}
