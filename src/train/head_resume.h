// Resumable head training (internal to src/train): the state of dfd_head_train's epoch loop
// saved to and restored from a checkpoint (model/checkpoint.h), so that a run interrupted after
// epoch k and resumed goes on exactly as the uninterrupted run would have (bit for bit with one
// thread), and a finished run can be extended to more epochs.
//
// The file holds the head's parameters, the optimiser's state, the best epoch's parameters (as
// "best/<name>"), the current order of the epoch's items ("resume/order", floats: the shuffle
// permutes it in place every epoch) and, in the metadata key "resume", a JSON object: the
// settings fingerprint, the epochs done, the shuffle RNG, the best calibrated loss and epoch,
// and every epoch's metrics.
#ifndef DFD_TRAIN_HEAD_RESUME_H
#define DFD_TRAIN_HEAD_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "dfdetect/nn/optim.h"
#include "dfdetect/nn/param.h"
#include "dfdetect/train/head_train.h"
#include "dfdetect/util/status.h"

// The epoch loop's state besides the tensors.
typedef struct head_loop_state {
    int epochs_done;
    uint64_t rng;               // the shuffle generator
    double best_loss;           // the best calibrated validation loss so far
    int best_epoch;             // 0: none yet
    dfd_head_train_epoch best;  // its metrics
    dfd_head_train_epoch *hist; // epochs_done entries (capacity: the caller's)
} head_loop_state;

// The tensors: n parameters with their optimiser, their best values, and the epoch order.
typedef struct head_loop_tensors {
    dfd_param *const *params;
    float *const *best; // n arrays, each of its parameter's size
    size_t n;
    dfd_optim *opt;
    size_t *order; // n_order item indices
    size_t n_order;
} head_loop_tensors;

// Write the state to `path` atomically. `fingerprint`: the settings a resumed run must share.
// Errors: those of dfd_checkpoint_save, DFD_ERR_NOMEM.
dfd_status head_resume_save(const char *path, const char *fingerprint, const head_loop_tensors *t,
                            const head_loop_state *s, dfd_error *err);

// Restore from `path` into the tensors and *s (s->hist must hold max_epochs entries). Nothing of
// the tensors is changed on failure. Errors, one line naming the file: DFD_ERR_NOT_FOUND (no such
// file), DFD_ERR_FORMAT (not a checkpoint of head training, damaged, other tensors),
// DFD_ERR_INVALID (made with other settings; more epochs done than max_epochs), those of reading
// it.
dfd_status head_resume_load(const char *path, const char *fingerprint, const head_loop_tensors *t,
                            head_loop_state *s, int max_epochs, dfd_error *err);

#endif
