// The backbone of a detector model: see include/dfdetect/detect/tuned.h.
#include "dfdetect/detect/tuned.h"

#include <stdio.h>
#include <string.h>

#include "dfdetect/model/safetensors.h"
#include "dfdetect/model/tfjs.h"
#include "dfdetect/nn/autograd.h"
#include "dfdetect/util/alloc.h"
#include "dfdetect/util/sha256.h"

// Copy the model's "backbone/<param>" tensors into g's parameters of those names.
static dfd_status apply_tuned(dfd_graph *g, const dfd_detector_model *m, dfd_error *err)
{
    dfd_autograd *s = NULL;
    dfd_autograd_opts ao = dfd_autograd_opts_default();
    ao.n_threads = 1;
    ao.backend = DFD_BACKEND_REF; // only the parameter views are used
    dfd_status st = dfd_autograd_create(&s, g, 1, &ao, err);
    if (st) {
        return st;
    }
    size_t n = dfd_autograd_n_params(s), k = 0;
    dfd_param *const *all = dfd_autograd_params(s);
    dfd_param **sel = dfd_malloc((n ? n : 1) * sizeof *sel);
    if (!sel) {
        dfd_autograd_free(s);
        return dfd_error_set(err, DFD_ERR_NOMEM, "model %s: out of memory", m->name);
    }
    for (size_t i = 0; i < n; i++) {
        char name[512];
        snprintf(name, sizeof name, "backbone/%s", all[i]->name);
        if (dfd_safetensors_find(m->file, name)) {
            sel[k++] = all[i];
        }
    }
    if (k == 0) {
        st = dfd_error_set(err, DFD_ERR_FORMAT,
                           "%s: the model says its backbone is tuned but holds no backbone/ "
                           "tensor of faceres",
                           dfd_safetensors_path(m->file));
    } else {
        st = dfd_detector_model_load_backbone(m, sel, k, err);
    }
    dfd_free(sel);
    dfd_autograd_free(s);
    return st;
}

dfd_status dfd_backbone_load_for_model(dfd_graph **out, const dfd_detector_model *m,
                                       const char *faceres_path, dfd_error *err)
{
    *out = NULL;
    if (!m->backbone_tuned) {
        return dfd_tfjs_load(out, faceres_path, err);
    }
    uint8_t dig[DFD_SHA256_BYTES];
    char hex[DFD_SHA256_HEX_LEN + 1];
    dfd_status st = dfd_sha256_file(dig, NULL, faceres_path, err);
    if (st) {
        return st;
    }
    dfd_sha256_hex(hex, dig);
    if (strcmp(hex, m->backbone_sha256) != 0) {
        return dfd_error_set(
            err, DFD_ERR_FORMAT,
            "%s: its tuned backbone was trained on a faceres with sha256 %.12s..., "
            "but %s has sha256 %.12s...",
            dfd_safetensors_path(m->file), m->backbone_sha256, faceres_path, hex);
    }
    dfd_finalize_opts fo = { .fuse = true, .fuse_dwpw = false };
    dfd_graph *g = NULL;
    st = dfd_tfjs_load_opts(&g, faceres_path, &fo, err);
    if (!st) {
        st = apply_tuned(g, m, err);
    }
    if (st) {
        dfd_graph_free(g);
        return st;
    }
    *out = g;
    return DFD_OK;
}
