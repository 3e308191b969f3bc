// A trained detector as one self-describing safetensors file (model/checkpoint.h): the head's
// weights ("head/..."), the fine-tuned backbone's weights when it was tuned ("backbone/<param>"),
// and in "__metadata__":
//   "architecture"   {"type": "dfdetect-detector", "backbone": "faceres",
//                     "backbone_sha256": "<sha256 of faceres.bin it was trained on>",
//                     "backbone_tuned": true|false,
//                     "head": {"arch": "gru", "input_dim": 1024, "frame_hidden": 256,
//                              "hidden": 64, "layers": 1, "dropout": 0.3}}
//   "preprocessing"  {"input": "bgr-caffe", "crop_size": 224, "margin": 1.3, "frames": 32,
//                     "sampling": "bursts", "burst_len": 8, "images": "detect_or_whole"}
//   "calibration"    {"temperature": T, "frame_temperature": Tf, "threshold": 0.5}
//   "training"       whatever the trainer records (data, seed, epochs, metrics)
//   "name", "version" the model's name and version, shown by `scan --json`
// A file alone says what to build and how to feed it, so `dfdetect scan --model FILE` needs
// nothing else but the pretrained face models.
#ifndef DFD_DETECT_MODEL_H
#define DFD_DETECT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "dfdetect/detect/head.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/model/safetensors.h"
#include "dfdetect/nn/param.h"
#include "dfdetect/util/status.h"
#include "dfdetect/video/video.h"

typedef struct dfd_detector_prep {
    int crop_size; // face crop side fed to the backbone (224)
    float margin;  // crop side / face size (1.3)
    int frames;    // frames sampled per video (32)
    dfd_sampling sampling;
    dfd_image_faces images; // how images become faces (absent from older files: detect_or_whole)
} dfd_detector_prep;

typedef struct dfd_detector_model {
    dfd_head *head;
    dfd_detector_prep prep;
    float temperature;       // sequence logits -> probability: sigmoid(logit / temperature)
    float frame_temperature; // the same for frame logits
    float threshold;         // probability at or above which a video is FAKE
    bool backbone_tuned;     // the file holds "backbone/..." weights
    char backbone_sha256[65];
    char name[64], version[32];
    char *training_json;   // the "training" metadata as stored (owned; NULL when absent); unused
                           // by dfd_detector_model_save, which takes its own training_json
    dfd_safetensors *file; // open while loaded: the backbone weights are read from it
} dfd_detector_model;

dfd_detector_prep dfd_detector_prep_default(void);

// Save atomically. backbone (n_backbone, may be 0) are the tuned backbone's parameters, stored
// as "backbone/<name>"; training_json (may be NULL) a JSON object text.
// Errors: those of dfd_checkpoint_save, DFD_ERR_NOMEM.
dfd_status dfd_detector_model_save(const char *path, const dfd_detector_model *m,
                                   dfd_param *const *backbone, size_t n_backbone,
                                   const char *training_json, dfd_error *err);

// Load a model file: its head (built from the architecture, weights loaded), settings,
// calibration and the "training" metadata text (m->training_json, a copy; NULL when the file has
// none). Errors, one line naming the file: those of dfd_checkpoint_open, DFD_ERR_FORMAT
// (not a dfdetect detector, a missing or malformed setting, a missing head tensor).
dfd_status dfd_detector_model_load(dfd_detector_model **out, const char *path, dfd_error *err);
void dfd_detector_model_free(dfd_detector_model *m); // accepts NULL

// Copy the tuned backbone weights into the n parameters of a backbone (each found as
// "backbone/<name>"). A model with backbone_tuned false leaves them alone. Errors naming the
// file and tensor: DFD_ERR_NOT_FOUND, DFD_ERR_FORMAT (shape or dtype).
dfd_status dfd_detector_model_load_backbone(const dfd_detector_model *m, dfd_param *const *backbone,
                                            size_t n, dfd_error *err);

#endif
