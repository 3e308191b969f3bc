// Training the detector's head on frozen backbone embeddings (stage 2 of issue 6's training).
//
//   dataset -> face cache (the scan's face stage at the model's prep: frames, sampling, crop size,
//   margin) -> per item the longest identity's crops -> faceres embeddings (once, kept in memory)
//   -> grouped stratified train/validation split -> standardisation fitted on the training split
//   -> AdamW on BCE(sequence logit) + 0.5 x masked mean BCE(frame logits) -> early stopping on
//   the validation loss after temperature scaling, keeping the best weights -> temperature and
//   frame temperature fitted on the validation logits -> the model file (detect/model.h,
//   backbone_tuned false), written atomically, a per-epoch metrics CSV and a loss/AUC curve PNG.
// With backbone_epochs > 0, stage 1 (train/backbone_train.h) first fine-tunes faceres on the
// same split's training crops; the embeddings then come from the tuned graph and the model file
// carries its tuned layers ("backbone/<param>", backbone_tuned true; detect/tuned.h loads them).
// With one thread and a fixed seed the model file is the same bytes on every run.
#ifndef DFD_TRAIN_HEAD_TRAIN_H
#define DFD_TRAIN_HEAD_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/data/dataset.h"
#include "dfdetect/face/faces.h"
#include "dfdetect/train/backbone_train.h"
#include "dfdetect/util/status.h"
#include "dfdetect/video/video.h"

typedef struct dfd_head_train_opts {
    const char *arch;           // "gru" (default), "lstm", "bilstm", "bigru"
    int frames;                 // frames per video (32)
    dfd_sampling_kind sampling; // which frames of a video (bursts)
    float margin;               // face crop side / face size (1.3)
    dfd_image_faces images;     // how images become faces (auto); both recorded in
                                // the model, so scanning prepares files the same way
    int epochs;                 // most epochs (150)
    int batch;                  // sequences per update (512)
    float lr;                   // AdamW learning rate (1e-3)
    float weight_decay;         // AdamW decoupled weight decay (1e-2)
    float dropout;              // the head's dropout, 0 <= d < 1 (0.3)
    float input_dropout;        // dropout on the standardised embeddings, 0 <= d < 1 (0.2)
    double val_split;           // validation share, 0 < v < 1 (0.2)
    int cv_folds, cv_fold;      // cv_folds > 0: hold out fold cv_fold of a grouped k-fold
                                // (data/split.h dfd_split_holdout); 0: no held-out part (default)
    const char *const *data_paths; // the dataset paths as given, recorded in the model (may
    size_t n_data_paths;           // be NULL / 0)
    // Several datasets (--data twice: dfd_dataset_item.part): each training item of dataset p is
    // seen r_p = round((n_max / n_p) ^ balance) times per epoch, n_p being p's training items and
    // n_max the largest's. 0: every item once (default); 1: every dataset weighs the same.
    float balance;
    int patience;  // epochs without a better validation loss before stopping (15)
    uint64_t seed; // split, initial weights, shuffling and dropout (1)
    // Stage 1 (train/backbone_train.h), before the head: fine-tune faceres on the training
    // split's crops (the same split), then embed with the tuned backbone and save it in the
    // model (backbone_tuned true). backbone_epochs 0: frozen pretrained backbone, no stage 1.
    int backbone_epochs; // most stage-1 epochs (0)
    float backbone_lr;   // stage-1 backbone learning rate (1e-4; its classifier's is 1e-3)
    int tune_layers;     // parameterised layers tuned, from the output (4)
    int probe_steps;     // stage 1 linear probing steps before tuning (0: none, the default)
    bool augment;        // stage-1 augmentation (true)
    int n_threads;       // threads for the face stage, the backbone and the head (0: per CPU)
    // Checkpoints of the head's training, "<out>.ckpt" (train/head_resume.h): written after an
    // epoch when checkpoint_every_s seconds have passed since the last one, and after the last
    // epoch (< 0: never; default 30; none when stage 1 runs). resume: start from that file instead
    // of from scratch (the same settings but epochs and patience; a finished run goes on to more
    // epochs). Not with backbone_epochs > 0 (stage 1 is not checkpointed).
    double checkpoint_every_s;
    bool resume;
    const char *cache_dir;   // face cache folder; NULL: dfd_face_cache_dir_default()
    const char *models_dir;  // pretrained models; NULL: dfd_models_dir_default()
    const char *name;        // the model's name; NULL: "dfdetect-head-<arch>" (at most 63 bytes)
    const char *version;     // its version; NULL: "1" (at most 31 bytes)
    const char *metrics_csv; // per-epoch metrics; NULL: "<out>.metrics.csv"
    const char *curve_png;   // loss/AUC curves; NULL: "<out>.curves.png"
    // Called at each stage step (may be NULL): stage is "faces", "embed" or "epoch".
    void (*progress)(void *ctx, const char *stage, size_t done, size_t total);
    void *progress_ctx;
} dfd_head_train_opts;

dfd_head_train_opts dfd_head_train_opts_default(void);

typedef struct dfd_head_train_epoch {
    int epoch; // 1-based
    double train_loss, val_loss, val_auc, val_accuracy;
    double val_calibrated_loss; // the sequence log loss after temperature scaling: early
                                // stopping keeps the epoch where it is lowest
} dfd_head_train_epoch;

typedef struct dfd_head_train_result {
    size_t n_train, n_val; // items used on each side
    size_t n_epoch;        // training sequences per epoch (n_train unless balance repeats some)
    size_t n_skipped;      // items without a usable face (or unreadable)
    size_t n_heldout;      // items of the held-out fold (never trained or validated on)
    int epochs_run, best_epoch;
    dfd_head_train_epoch best; // the metrics of the kept epoch
    float temperature, frame_temperature;
    dfd_head_train_epoch *history;    // epochs_run entries (owned; dfd_head_train_result_free)
    dfd_backbone_train_result stage1; // stage 1's figures (zero when it did not run)
} dfd_head_train_result;

void dfd_head_train_result_free(dfd_head_train_result *r); // accepts NULL

// Train on ds and write the model to out_path. *res is overwritten (free it with
// dfd_head_train_result_free, also on error). Errors, one line: DFD_ERR_INVALID (options out of
// range; fewer than two usable items on a side or one label only in training), those of the face
// cache, the backbone, the split and of writing the files.
dfd_status dfd_head_train(dfd_head_train_result *res, const dfd_dataset *ds, const char *out_path,
                          const dfd_head_train_opts *opts, dfd_error *err);

#endif
