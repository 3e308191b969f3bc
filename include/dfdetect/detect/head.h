// The detector's head: from the backbone's per-frame embeddings of one identity to a logit per
// frame and a logit for the whole sequence.
//
//   e_t [1024] -> standardise (mean/std fitted on the training set) -> z_t
//   h_t = dropout(relu(W1 dropout_in(z_t) + b1))     [frame_hidden]   "head/fc1"
//   frame logit f_t = w2 . h_t + b2                                   "head/frame"
//   GRU/LSTM over h_1..h_T (masks by length) -> final state(s) at the true length
//   sequence logit s = w3 . dropout(final) + b3                       "head/seq"
//
// The frame logits are the per-frame evidence (which frames look fake) and train the shared
// layer directly; the sequence logit reads the frames together (flicker, inconsistency) and is
// the identity's answer. Losses (the caller's): BCE on s plus frame_weight x the mean BCE on the
// valid f_t. Parameters are named "head/..." (the RNN's "head/rnn/weight_ih_l0", ...); the
// standardisation is two frozen parameters "head/norm/mean" and "head/norm/std" so checkpoints
// carry it.
#ifndef DFD_DETECT_HEAD_H
#define DFD_DETECT_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/nn/param.h"
#include "dfdetect/nn/rnn.h"
#include "dfdetect/util/status.h"

typedef struct dfd_head_opts {
    int input_dim;       // embedding size (1024 for faceres)
    int frame_hidden;    // width of the shared per-frame layer (256)
    dfd_rnn_cell cell;   // GRU (default) or LSTM
    bool bidirectional;  // BiLSTM / BiGRU
    int hidden;          // recurrent state size (64)
    int layers;          // stacked recurrent layers (1)
    float dropout;       // on the shared layer and on the final state, training only (0.3)
    float input_dropout; // on the standardised embeddings, training only (0)
    uint64_t seed;       // initial weights
    int n_threads;       // threads of the recurrent kernels (0: OpenMP's default)
} dfd_head_opts;

dfd_head_opts dfd_head_opts_default(void);

// "gru", "lstm", "bigru", "bilstm" into cell and bidirectional. DFD_ERR_INVALID otherwise.
dfd_status dfd_head_arch_parse(dfd_head_opts *o, const char *name);
const char *dfd_head_arch_name(const dfd_head_opts *o);

typedef struct dfd_head dfd_head;

// Errors: DFD_ERR_INVALID (a size out of range, a dropout outside [0, 1)), DFD_ERR_NOMEM.
dfd_status dfd_head_create(dfd_head **out, const dfd_head_opts *opts, dfd_error *err);
void dfd_head_free(dfd_head *h); // accepts NULL
const dfd_head_opts *dfd_head_opts_of(const dfd_head *h);

// Every parameter (the standardisation's two frozen ones included), in a fixed order; owned by
// the head.
dfd_param *const *dfd_head_params(dfd_head *h, size_t *n);

// Set the standardisation from the training set's per-dimension mean and standard deviation
// (input_dim values each; a deviation under 1e-6 is taken as 1e-6).
void dfd_head_set_norm(dfd_head *h, const float *mean, const float *std);

// Training mode: dropout on (masks are a function of the forward's seed only).
void dfd_head_set_training(dfd_head *h, bool on);

// Forward over n sequences padded to t steps: feats [n][t][input_dim], lengths [n] (1..t).
// Writes frame_logits [n][t] (0 past each length; may be NULL) and seq_logits [n]. Keeps what
// backward needs until the next forward. Errors: DFD_ERR_INVALID (n or t < 1, a length outside
// 1..t), DFD_ERR_NOMEM; err names the head.
dfd_status dfd_head_forward(dfd_head *h, float *frame_logits, float *seq_logits, const float *feats,
                            const int *lengths, int n, int t, uint64_t seed, dfd_error *err);

// Backward of the last forward, given the loss's gradients with respect to its outputs:
// d_frame [n][t] (entries past a length are ignored; NULL: zero) and d_seq [n] (NULL: zero).
// ADDS into the gradients of the non-frozen parameters and, when d_feats is not NULL, into
// d_feats [n][t][input_dim] (for fine-tuning the backbone through the head).
dfd_status dfd_head_backward(dfd_head *h, float *d_feats, const float *d_frame, const float *d_seq,
                             dfd_error *err);

#endif
