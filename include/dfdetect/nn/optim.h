// Optimisers: SGD (momentum, Nesterov), Adam and AdamW over dfd_param views, with L2 or decoupled
// weight decay, gradient clipping by global norm, parameter groups with their own learning-rate
// and weight-decay multipliers, and learning-rate schedules (constant, step, cosine, each after
// an optional linear warm-up). The update rules are PyTorch's (torch.optim.SGD, Adam, AdamW and
// torch.nn.utils.clip_grad_norm_), so hyperparameters carry over. The whole state (moments and
// step counters) is exported as named arrays, so a checkpoint restores it and training resumes
// bit for bit.
#ifndef DFD_NN_OPTIM_H
#define DFD_NN_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/nn/param.h"
#include "dfdetect/util/status.h"

// Parameter groups are 0..DFD_OPTIM_MAX_GROUPS-1 (dfd_param.group).
#define DFD_OPTIM_MAX_GROUPS 8

typedef enum dfd_optim_kind {
    DFD_OPTIM_SGD,   // v = momentum * v + g; w -= lr * (nesterov ? g + momentum * v : v)
    DFD_OPTIM_ADAM,  // weight decay is L2: g += wd * w before the moments
    DFD_OPTIM_ADAMW, // weight decay is decoupled: w *= 1 - lr * wd before the Adam update
    DFD_OPTIM_KIND_COUNT
} dfd_optim_kind;

// ---- learning-rate schedules ----

typedef enum dfd_lr_kind {
    DFD_LR_CONSTANT, // factor 1
    DFD_LR_STEP,     // gamma ^ floor(s / step_size)
    DFD_LR_COSINE,   // min_factor + (1 - min_factor) * (1 + cos(pi * min(s, decay_steps) /
                     // decay_steps)) / 2: from 1 down to min_factor, then flat
    DFD_LR_KIND_COUNT
} dfd_lr_kind;

// The learning rate of update number t (t = 0 for the first) is lr * factor(t). During a warm-up
// (t < warmup_steps) the factor rises linearly, (t + 1) / warmup_steps, reaching 1 on its last
// step; afterwards the schedule runs on s = t - warmup_steps.
typedef struct dfd_lr_schedule {
    dfd_lr_kind kind;
    long warmup_steps; // >= 0; 0 for none
    long step_size;    // DFD_LR_STEP: >= 1
    float gamma;       // DFD_LR_STEP: > 0 (0.1 divides the rate by 10 every step_size steps)
    long decay_steps;  // DFD_LR_COSINE: >= 1
    float min_factor;  // DFD_LR_COSINE: 0..1, the final fraction of lr
} dfd_lr_schedule;

// The learning-rate multiplier of update number `step` (>= 0) under a valid schedule.
double dfd_lr_factor(const dfd_lr_schedule *s, long step);

// ---- options ----

typedef struct dfd_optim_opts {
    dfd_optim_kind kind;
    float lr;           // >= 0: base learning rate, before the schedule and the group scale
    float momentum;     // SGD: 0..1 (0: plain SGD, no state)
    bool nesterov;      // SGD: Nesterov momentum (needs momentum > 0)
    float beta1, beta2; // Adam(W): 0..1
    float eps;          // Adam(W): > 0, added to sqrt of the bias-corrected second moment
    float weight_decay; // >= 0: L2 (SGD, Adam) or decoupled (AdamW)
    float clip_norm;    // > 0: scale all gradients by clip_norm / (norm + 1e-6) when their
                        // global L2 norm exceeds it (the norm over every parameter the step
                        // updates); 0: no clipping
    dfd_lr_schedule schedule;
    float group_lr_scale[DFD_OPTIM_MAX_GROUPS]; // >= 0: multiplies lr for the group (0.1 for a
                                                // slower backbone)
    float group_wd_scale[DFD_OPTIM_MAX_GROUPS]; // >= 0: multiplies weight_decay (0 for biases
                                                // and norms)
} dfd_optim_opts;

// PyTorch's defaults for `kind`: lr 1e-3 (Adam, AdamW) or 1e-2 (SGD), momentum 0.9 (torch: 0),
// betas 0.9 and 0.999, eps 1e-8, weight decay 0 (AdamW: 1e-2), no clipping, constant schedule,
// every group scale 1.
dfd_optim_opts dfd_optim_opts_default(dfd_optim_kind kind);

// Check options as dfd_optim_create does. Errors: DFD_ERR_INVALID, the message naming the
// option ("optimiser: invalid lr").
dfd_status dfd_optim_opts_check(const dfd_optim_opts *opts, dfd_error *err);

// ---- the optimiser ----

typedef struct dfd_optim dfd_optim;

// An optimiser over n parameters. It copies the array of pointers, but the dfd_param structs
// and their value and grad arrays stay the caller's and must outlive the optimiser; `frozen` is
// read at every step, so freezing and unfreezing between steps works. State (zeroed) is
// allocated for every parameter, frozen ones included.
// Errors (message naming the option or parameter): DFD_ERR_INVALID (an option out of range; a
// parameter with no name, a name used twice, NULL value, rank outside 1..4, a dimension < 1, a
// group outside 0..DFD_OPTIM_MAX_GROUPS-1), DFD_ERR_NOMEM. Not thread-safe: one owner.
dfd_status dfd_optim_create(dfd_optim **out, dfd_param *const *params, size_t n,
                            const dfd_optim_opts *opts, dfd_error *err);

// Free the optimiser and its state (not the parameters). Accepts NULL.
void dfd_optim_destroy(dfd_optim *o);

// One update of every parameter that is not frozen and has a gradient (grad != NULL), from its
// current gradient, which it reads and never changes. Each updated parameter's own step counter
// advances (it sets Adam's bias correction), and so does the optimiser's (it sets the schedule).
// When clipping is on and the gradient norm is not finite, nothing at all changes (parameters,
// state, counters) and the caller sees the norm. *grad_norm (may be NULL) receives the global L2
// norm of the gradients before clipping; it is computed only when clipping is on or grad_norm is
// not NULL. Results do not depend on the number of threads.
void dfd_optim_step(dfd_optim *o, float *grad_norm);

// Updates taken so far (restored by loading the state).
long dfd_optim_step_count(const dfd_optim *o);

// The options the optimiser was created with (its own copy, valid until destroy).
const dfd_optim_opts *dfd_optim_options(const dfd_optim *o);

// The learning rate of the next update for group 0 (lr x schedule, x group 0's scale).
float dfd_optim_lr(const dfd_optim *o);

// Global L2 norm of the gradients of the non-frozen parameters that have one, summed in double
// in parameter order.
double dfd_params_grad_norm(dfd_param *const *params, size_t n);

// ---- state, for checkpoints ----

// One named array of optimiser state: a view of the optimiser's own storage (writable through
// a const optimiser too: restoring a state writes into it).
//   "optim/step"                int64 scalar: updates taken (dfd_optim_step_count)
//   "optim/<param>/step"        int64 scalar: updates of that parameter
//   "optim/<param>/m", "/v"     float, the parameter's shape: Adam(W) first and second moments
//   "optim/<param>/momentum"    float, the parameter's shape: SGD momentum buffer (momentum > 0)
typedef struct dfd_optim_state {
    const char *name; // owned by the optimiser
    bool is_int64;    // data holds int64_t (counters); else float
    void *data;       // numel elements, owned by the optimiser
    int rank;         // 0 for a scalar (one element)
    int shape[DFD_MAX_RANK];
} dfd_optim_state;

// Number of state arrays, and the i-th (i < count), in a fixed order: "optim/step", then for
// each parameter in creation order its moments and its step. Views stay valid until destroy.
size_t dfd_optim_state_count(const dfd_optim *o);
dfd_optim_state dfd_optim_state_at(const dfd_optim *o, size_t i);

#endif
