// Fine-tuning the faceres backbone on face crops (stage 1 of issue 6's training).
//
//   items (each one identity's crops, a label and its side of the grouped train/validation split
//   that stage 2 uses too) -> per epoch up to crops_per_item random crops of each training item,
//   each seeded-augmented (data/augment.h) -> faceres (fuse = true, fuse_dwpw = false; the last
//   tune_layers parameterised layers trainable, the rest frozen) -> `global_pooling/Mean`,
//   standardised with statistics of the untuned backbone on the first training crops -> a linear
//   frame classifier (1024 -> 1), optionally first fitted alone on the frozen features (linear
//   probing: probe_steps full-batch steps, the one with the lowest validation loss kept) -> BCE
//   with logits -> AdamW (backbone lr lower than the classifier's) -> early stopping on the
//   validation loss (fixed, unaugmented crops), the best epoch's backbone weights written back
//   into the graph (after probing, the untuned backbone competes as epoch 0).
// The classifier is thrown away: stage 2 (head_train.h) embeds with the tuned graph.
// With one thread and a fixed seed the tuned weights are the same on every run.
#ifndef DFD_TRAIN_BACKBONE_TRAIN_H
#define DFD_TRAIN_BACKBONE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/data/dataset.h"
#include "dfdetect/data/facecache.h"
#include "dfdetect/image/image.h"
#include "dfdetect/nn/autograd.h"
#include "dfdetect/nn/graph.h"
#include "dfdetect/util/status.h"

typedef struct dfd_backbone_train_opts {
    int epochs;         // most epochs (3)
    int batch;          // crops per update (16)
    float lr;           // AdamW learning rate of the backbone (1e-4)
    float head_lr;      // ... and of the linear frame classifier (1e-3)
    int tune_layers;    // parameterised layers trained, counted from the output (4: the last
                        // two depthwise-separable blocks); the others stay frozen
    int crops_per_item; // random crops of an item per training epoch, and fixed crops per
                        // item for validation (8)
    bool augment;       // seeded augmentation per crop per epoch (true)
    int patience;       // epochs without a better validation loss before stopping (2)
    uint64_t seed;      // crop choice, augmentation, shuffling (1)
    int probe_steps;    // linear probing first: full-batch steps fitting the classifier on the
                        // frozen features before any backbone update (0, the default: none,
                        // the classifier starts at zero weights and learns with the backbone)
    float probe_lr;     // ... their AdamW learning rate (1e-2)
    float probe_weight_decay; // ... and decoupled weight decay (1e-2)
    int n_threads;            // kernel threads (0: one per CPU)
    // Called after each update (stage "stage1") and each epoch ("stage1-epoch"); may be NULL.
    void (*progress)(void *ctx, const char *stage, size_t done, size_t total);
    void *progress_ctx;
} dfd_backbone_train_opts;

dfd_backbone_train_opts dfd_backbone_train_opts_default(void);

// One item: the crops of one identity (RGB, any size; borrowed), its label and its side of the
// split: part 0 trains, part 1 validates, anything else (or n 0) is left out.
typedef struct dfd_backbone_train_item {
    const dfd_image *crops;
    size_t n;
    dfd_label label;
    int part;
} dfd_backbone_train_item;

typedef struct dfd_backbone_train_epoch {
    int epoch;                            // 1-based
    double train_loss, val_loss, val_auc; // frame level (crops)
    double seconds;                       // wall time of the epoch's training and validation
} dfd_backbone_train_epoch;

typedef struct dfd_backbone_train_result {
    size_t n_train, n_val;      // items on each side
    size_t n_val_crops;         // validation crops
    size_t n_tuned;             // trainable backbone parameter tensors
    size_t n_tuned_values;      // ... and their floats
    int epochs_run, best_epoch; // best_epoch 0 after probing: no epoch beat the untuned
                                // backbone's validation loss, whose weights are kept
    dfd_backbone_train_epoch best;
    int probe_best_step;                  // linear probing: the step kept (0: none taken)
    double probe_val_loss, probe_val_auc; // ... and its validation figures (0 without probing)
    dfd_backbone_train_epoch *history;    // epochs_run entries (owned; free with _result_free)
} dfd_backbone_train_result;

void dfd_backbone_train_result_free(dfd_backbone_train_result *r); // accepts NULL

// Freeze every parameter of the autograd session s over faceres graph g but those of the last
// tune_layers nodes that own parameters (weights, biases, PReLU slopes) among the nodes the
// embedding DFD_BACKBONE_OUT depends on (faceres's age and gender heads past it never train).
// tune_layers <= 0 freezes everything. Returns how many parameters stay trainable. Out of memory:
// everything frozen, 0.
size_t dfd_backbone_tune_select(dfd_autograd *s, const dfd_graph *g, int tune_layers);

// The parameters of g that stage 1 tunes with tune_layers (dfd_backbone_tune_select), as views
// for saving them (detect/model.h dfd_detector_model_save): *params (n_params entries, free with
// dfd_free) point into *session (free with dfd_autograd_free after use). Errors: those of
// dfd_autograd_create, DFD_ERR_NOMEM.
dfd_status dfd_backbone_tuned_params(dfd_autograd **session, dfd_param ***params, size_t *n_params,
                                     dfd_graph *g, int tune_layers, dfd_error *err);

// Fine-tune g (faceres, finalized with fuse = true, fuse_dwpw = false: model/tfjs.h
// dfd_tfjs_load_opts) on the items. On success g holds the best epoch's weights. *res is
// overwritten (free it with dfd_backbone_train_result_free, also on error). Errors, one line:
// DFD_ERR_INVALID (options out of range; fewer than 2 items with crops on a side or one label only
// on a side), those of dfd_autograd_create (the graph), dfd_optim_create, augmentation and
// DFD_ERR_NOMEM.
dfd_status dfd_backbone_train(dfd_backbone_train_result *res, dfd_graph *g,
                              const dfd_backbone_train_item *items, size_t n,
                              const dfd_backbone_train_opts *opts, dfd_error *err);

// Stage 1 on a dataset: item i is the longest identity's first `frames` crops of ds->items[i]
// in the face cache (opened by the caller at the model's preprocessing, filled or not: misses are
// built) on side part[i] of the split every stage uses (data/split.h dfd_split_holdout); items
// without a face or that the cache cannot give are left out. Errors: those of
// dfd_backbone_train, DFD_ERR_NOMEM.
dfd_status dfd_backbone_train_dataset(dfd_backbone_train_result *res, dfd_graph *g,
                                      const dfd_dataset *ds, const int *part, dfd_face_cache *cache,
                                      size_t frames, const dfd_backbone_train_opts *opts,
                                      dfd_error *err);

#endif
