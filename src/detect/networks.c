// Loading the networks a scan borrows, once per process: see networks.h.
#include "dfdetect/detect/networks.h"

#include <stdio.h>
#include <string.h>

#include "dfdetect/detect/scan.h"
#include "dfdetect/detect/tuned.h"
#include "dfdetect/model/registry.h"
#include "dfdetect/model/tfjs.h"

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
    dfd_status st = dfd_face_models_load(&n->faces, dir, err);
    st =
        st ? st
           : dfd_model_path(n->backbone_path, sizeof n->backbone_path, dir, DFD_ROLE_BACKBONE, err);
    st = st ? st : dfd_backbone_load_for_model(&n->backbone, n->model, n->backbone_path, err);
    bool same = true;
    st = st ? st : dfd_scan_backbone_matches(&same, n->model, n->backbone_path, err);
    n->backbone_mismatch = !same;
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
