// Training checkpoints and trained models: a model's parameters, its optimiser's whole state and
// its settings in one safetensors file, so that the file alone says what to build, how to feed
// it and how it was trained, and training resumes from it bit for bit. Parameters are stored
// under their own names (as dfd_safetensors_save_params), the optimiser's state under
// "optim/..." (nn/optim.h lists the names), so a checkpoint also loads as plain weights, in
// PyTorch too.
//
// "__metadata__" of a checkpoint (safetensors allows string values only; the settings are JSON
// objects written as text):
//   "dfdetect"       "1": the version of this layout, written by dfd_checkpoint_save
//   "checksum"       "crc32:89abcdef": CRC-32 (IEEE, as zlib's crc32) of every tensor's bytes,
//                    tensors in name order (strcmp), written by dfd_checkpoint_save and checked
//                    on open, so that damaged tensor data is an error instead of a bad model
//   "architecture"   JSON object: what to build ({"type": "gru_head", "input_size": 64, ...});
//                    its schema belongs to the code that builds the model
//   "preprocessing"  JSON object: how inputs are made (face crop size, normalisation, frames)
//   "training"       JSON object: how it was trained (data, epochs, batch size, best metric)
//   "optimiser"      JSON object: the optimiser's options, written by dfd_checkpoint_save when
//                    it saves an optimiser; dfd_checkpoint_resume rebuilds the optimiser from it
//                    {"kind": "adamw", "lr": 1e-4, "momentum": 0.9, "nesterov": false,
//                     "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01,
//                     "clip_norm": 1, "schedule": {"kind": "cosine", "warmup_steps": 100,
//                     "step_size": 1, "gamma": 1, "decay_steps": 1000, "min_factor": 0},
//                     "group_lr_scale": [8 numbers], "group_wd_scale": [8 numbers]}
//                    (numbers are the float options printed exactly, so they read back bit for
//                    bit; kinds "sgd", "adam", "adamw"; schedules "constant", "step", "cosine")
// Other keys are free for callers.
#ifndef DFD_MODEL_CHECKPOINT_H
#define DFD_MODEL_CHECKPOINT_H

#include <stddef.h>

#include "dfdetect/model/safetensors.h"
#include "dfdetect/nn/optim.h"
#include "dfdetect/nn/param.h"
#include "dfdetect/util/status.h"

// Metadata keys (see above) and the layout version this build writes and reads.
#define DFD_CKPT_VERSION_KEY   "dfdetect"
#define DFD_CKPT_VERSION       "1"
#define DFD_CKPT_CHECKSUM      "checksum"
#define DFD_CKPT_ARCHITECTURE  "architecture"
#define DFD_CKPT_PREPROCESSING "preprocessing"
#define DFD_CKPT_TRAINING      "training"
#define DFD_CKPT_OPTIMISER     "optimiser"

// Write the values of n parameters, the state and options of `optim` (NULL: none) and the
// caller's metadata (plus "dfdetect", "checksum", and "optimiser" with an optimiser) to `path`,
// atomically: a reader, or a crash, sees the old file or the whole new one, never a mix.
// Errors: as dfd_safetensors_write, and DFD_ERR_INVALID for a parameter or state name clashing
// with another, a metadata key "dfdetect", "checksum" or "optimiser" (written here), or an
// "architecture", "preprocessing" or "training" value that is not a JSON object.
dfd_status dfd_checkpoint_save(const char *path, dfd_param *const *params, size_t n,
                               const dfd_optim *optim, const dfd_st_meta *meta, size_t n_meta,
                               dfd_error *err);

// dfd_safetensors_open, then dfd_checkpoint_check; on failure *out is NULL.
dfd_status dfd_checkpoint_open(dfd_safetensors **out, const char *path, dfd_error *err);

// Check an open file as a checkpoint: a "dfdetect" version this build reads, the checksum (when
// there is one) against the tensors, the settings keys (when present) JSON objects, the
// optimiser options (when present) valid. A plain safetensors file (no "dfdetect" key, as
// PyTorch writes them) passes. Errors, one line naming the file and the key:
// DFD_ERR_UNSUPPORTED (another version), DFD_ERR_FORMAT (checksum mismatch or malformed, a
// settings value that is not a JSON object, invalid optimiser options).
dfd_status dfd_checkpoint_check(const dfd_safetensors *st, dfd_error *err);

// The optimiser options stored in an open checkpoint's "optimiser" metadata.
// Errors naming the file: DFD_ERR_NOT_FOUND (no optimiser was saved), DFD_ERR_FORMAT (not a
// JSON object, an unknown key, a value of the wrong type or out of range).
dfd_status dfd_checkpoint_optim_opts(dfd_optim_opts *out, const dfd_safetensors *st,
                                     dfd_error *err);

// Restore the parameter values and, when optim is not NULL, the optimiser state (which must be
// of the kind that saved it, over parameters of the same names and shapes) from an open file;
// its metadata stays readable through `st`. Everything is checked before anything is written,
// so a failure leaves the parameters and the optimiser untouched. Errors, one line naming the
// file and the tensor: DFD_ERR_NOT_FOUND (a parameter or state array missing: e.g. the file was
// saved without an optimiser, or by SGD), DFD_ERR_FORMAT (wrong dtype or shape, a negative step
// counter, saved by another kind of optimiser, invalid "optimiser" metadata), DFD_ERR_INVALID
// (NULL arguments).
dfd_status dfd_checkpoint_load(const dfd_safetensors *st, dfd_param *const *params, size_t n,
                               dfd_optim *optim, dfd_error *err);

// Resume training from the file alone: create an optimiser over the n parameters with the
// options the file stores, and restore the parameters and the optimiser's state into it, so that
// the next steps are exactly those the saved run would have taken. The parameters' group and
// frozen flags are the caller's (they are not saved). *out is freed with dfd_optim_destroy.
// Errors: those of dfd_checkpoint_optim_opts, dfd_optim_create and dfd_checkpoint_load; on
// failure *out is NULL and the parameters are untouched.
dfd_status dfd_checkpoint_resume(dfd_optim **out, const dfd_safetensors *st,
                                 dfd_param *const *params, size_t n, dfd_error *err);

#endif
