// Loading the networks a scan borrows, once per process: see networks.h.
#include "dfdetect/detect/networks.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dfdetect/detect/scan.h"
#include "dfdetect/detect/tuned.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"

// The face models and the backbone file's digest (dfd_scan_networks_load's other half).
typedef struct side_load {
    dfd_scan_networks *n;
    const char *dir;
    bool same;
    dfd_status st;
    dfd_error err;
} side_load;

static void *load_side(void *arg)
{
    side_load *s = arg;
    s->same = true;
    s->st = dfd_face_models_load(&s->n->faces, s->dir, &s->err);
    if (!s->st) {
        s->st = dfd_scan_backbone_matches(&s->same, s->n->model, s->n->backbone_path, &s->err);
    }
    return NULL;
}

dfd_status dfd_scan_networks_load(dfd_scan_networks *n, const char *models_dir, dfd_error *err)
{
    if (!n || !n->model) {
        return dfd_error_set(err, DFD_ERR_INVALID, "scan networks: no detector model loaded");
    }
    char dir[4096];
    if (models_dir) {
        snprintf(dir, sizeof dir, "%s", models_dir);
    } else {
        dfd_models_dir_default(dir, sizeof dir);
    }
    // Two halves of about equal time run side by side (a one-shot scan waits for all of it): the
    // face models and the backbone file's digest on a helper thread, the backbone here.
    side_load side = { .n = n, .dir = dir };
    dfd_error_clear(&side.err);
    dfd_status st =
        dfd_model_path(n->backbone_path, sizeof n->backbone_path, dir, DFD_ROLE_BACKBONE, err);
    if (st) {
        return st;
    }
    pthread_t helper;
    const bool threaded = pthread_create(&helper, NULL, load_side, &side) == 0;
    if (!threaded) {
        load_side(&side);
    }
    st = dfd_backbone_load_for_model(&n->backbone, n->model, n->backbone_path, err);
    if (threaded) {
        pthread_join(helper, NULL);
    }
    n->backbone_mismatch = !side.same;
    if (side.st) { // the face models' error first, as when they were loaded first
        return dfd_error_set(err, side.st, "%s", dfd_error_message(&side.err));
    }
    return st;
}

static bool has_dwpw(const dfd_graph *g)
{
    for (size_t i = 0; i < dfd_graph_n_nodes(g); i++) {
        if (dfd_graph_node(g, i)->op == DFD_OP_DWPW) {
            return true;
        }
    }
    return false;
}

dfd_status dfd_scan_networks_load_explain(dfd_scan_networks *n, dfd_error *err)
{
    if (!n || !n->backbone) {
        return dfd_error_set(err, DFD_ERR_INVALID, "scan networks: no backbone loaded");
    }
    if (n->explain) {
        return DFD_OK;
    }
    if (!has_dwpw(n->backbone)) {
        n->explain = n->backbone;
        return DFD_OK;
    }
    const dfd_finalize_opts fo = { .fuse = true, .fuse_dwpw = false };
    return dfd_tfjs_load_opts(&n->explain, n->backbone_path, &fo, err);
}

void dfd_scan_networks_free(dfd_scan_networks *n)
{
    if (!n) {
        return;
    }
    if (n->explain != n->backbone) {
        dfd_graph_free(n->explain);
    }
    dfd_detector_model_free(n->model);
    dfd_face_models_free(n->faces);
    dfd_graph_free(n->backbone);
    memset(n, 0, sizeof *n);
}
