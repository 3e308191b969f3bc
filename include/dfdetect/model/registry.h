// Which model file plays which role in the pipeline, and where the models live. The pretrained
// face models are fetched by scripts/setup.sh into <repo>/models (see ../shared/MODELS.md).
#ifndef DFD_MODEL_REGISTRY_H
#define DFD_MODEL_REGISTRY_H

#include <stddef.h>

#include "dfdetect/util/status.h"

typedef enum dfd_model_role {
    DFD_ROLE_DETECTOR = 0, // BlazeFace 256 (face boxes and 6 keypoints)
    DFD_ROLE_LANDMARKS,    // FaceMesh (468 landmarks and a face-presence score)
    DFD_ROLE_BACKBONE,     // faceres (1024-d face features)
    DFD_ROLE_ANTISPOOF,    // antispoof (a "real face" score)
    DFD_ROLE_COUNT
} dfd_model_role;

// File name of a role inside the models directory ("blazeface.json", ...); static string.
const char *dfd_model_role_file(dfd_model_role role);

// The models directory to use when the caller names none: $DFD_MODELS if set, else the
// "models" directory of the repository the running program was built in (found from
// /proc/self/exe: <repo>/build/dfdetect -> <repo>/models), else "./models". Writes into out.
void dfd_models_dir_default(char *out, size_t n);

// The detector `dfdetect scan` uses when given no --model: the repository's shipped default
// (share/models/, trained by `dfdetect train`, described in docs/MODEL_CARD.md).
#define DFD_DETECTOR_DEFAULT "share/models/dfdetect-default.safetensors"

// Its path: $DFD_DETECTOR if set, else DFD_DETECTOR_DEFAULT under the repository the running
// program was built in (found as for dfd_models_dir_default), else DFD_DETECTOR_DEFAULT relative
// to the working folder. Writes into out; does not check that the file exists.
void dfd_detector_default_path(char *out, size_t n);

// <dir>/<file of role> into out. DFD_ERR_LIMIT if it does not fit, DFD_ERR_NOT_FOUND (with a
// message telling to run scripts/setup.sh) if the file is missing.
dfd_status dfd_model_path(char *out, size_t n, const char *dir, dfd_model_role role,
                          dfd_error *err);

#endif
