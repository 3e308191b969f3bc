// Recurrent layers for the temporal head: GRU and LSTM, stacked, optionally bidirectional, over
// padded batches of sequences with per-sequence lengths; forward and backpropagation through time.
// A layer owns its weights and hands them out as dfd_param views named and shaped exactly as
// PyTorch's nn.GRU / nn.LSTM state_dict (so a PyTorch checkpoint maps onto it 1:1):
//   weight_ih_l{k}[_reverse]  [G*H, I_k]   I_0 = input size, I_k = H * D for k > 0
//   weight_hh_l{k}[_reverse]  [G*H, H]
//   bias_ih_l{k}[_reverse]    [G*H]
//   bias_hh_l{k}[_reverse]    [G*H]
// with gate blocks in PyTorch's order: GRU (G = 3) r, z, n; LSTM (G = 4) i, f, g, o. The cells:
//   GRU:  r = s(Wir x + bir + Whr h + bhr)   z = s(Wiz x + biz + Whz h + bhz)
//         n = tanh(Win x + bin + r * (Whn h + bhn))   h' = (1 - z) * n + z * h
//   LSTM: i, f, o = s(Wi* x + bi* + Wh* h + bh*)   g = tanh(Wig x + big + Whg h + bhg)
//         c' = f * c + i * g   h' = o * tanh(c')
// Letters: N sequences, T steps (padded), I input size, H hidden size, L layers, D directions.
//
// Padding follows PyTorch's packed sequences: sequence n has lengths[n] valid steps (0..T);
// steps past it neither change its state nor produce output (their outputs are 0), the reverse
// direction starts at its own last valid step, and the final states are taken at its true
// length. A sequence of length 0 keeps its initial state and outputs zeros.
//
// Thread-safety: a dfd_rnn is used by one thread at a time (forward keeps what backward needs
// inside the layer); distinct layers may run on distinct threads. Kernels run on opts.n_threads
// OpenMP threads; the caller's OpenMP thread count is restored before each call returns.
#ifndef DFD_NN_RNN_H
#define DFD_NN_RNN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfdetect/nn/param.h"
#include "dfdetect/nn/session.h"
#include "dfdetect/nn/tensor.h"
#include "dfdetect/util/status.h"

typedef enum dfd_rnn_cell {
    DFD_RNN_GRU = 0,
    DFD_RNN_LSTM,
} dfd_rnn_cell;

typedef struct dfd_rnn_opts {
    dfd_rnn_cell cell;
    int input_size;      // I, 1..65536
    int hidden_size;     // H, 1..8192
    int n_layers;        // L, 1..16
    bool bidirectional;  // D = 2 when set, else 1
    float dropout;       // in [0, 1): inverted dropout on each layer's output except the last,
                         // in training mode only (as PyTorch's `dropout` argument)
    const char *prefix;  // parameter names are "<prefix>/weight_ih_l0", ...; NULL or "": bare
                         // PyTorch names. Copied.
    uint64_t seed;       // initial weights: uniform in [-1/sqrt(H), 1/sqrt(H)] (PyTorch's default
                         // distribution, our own generator), a function of this seed only
    int n_threads;       // OpenMP threads inside forward and backward; 0: the calling thread's
                         // OpenMP setting (one per CPU unless the caller changed it). With a
                         // fixed count, results repeat bit for bit; another count may round
                         // differently inside oneDNN's GEMMs (within 1e-5 relative, tested)
    dfd_backend backend; // DFD_BACKEND_FAST: GEMMs on oneDNN (dnnl_sgemm), length-sorted
                         // batches; DFD_BACKEND_REF: the plain per-sequence reference in double
                         // precision (slow; for tests)
} dfd_rnn_opts;

// GRU, 1 layer, unidirectional, no dropout, seed 0, all CPUs, fast backend; the caller sets
// input_size and hidden_size.
dfd_rnn_opts dfd_rnn_opts_default(void);

typedef struct dfd_rnn dfd_rnn;

// Create a layer with initialised weights and zeroed gradients, in inference mode.
// Errors: DFD_ERR_INVALID (a size or the dropout out of range, unknown cell; err says which),
// DFD_ERR_NOMEM.
dfd_status dfd_rnn_create(dfd_rnn **out, const dfd_rnn_opts *opts, dfd_error *err);
void dfd_rnn_free(dfd_rnn *r); // accepts NULL

// The layer's parameters: *n_params = 4 * L * D views in PyTorch's state_dict order (for each
// layer, for each direction: weight_ih, weight_hh, bias_ih, bias_hh). Owned by the layer and
// valid for its life; callers may change value, grad (contents), group and frozen, not the
// pointers or shapes. Frozen parameters receive no gradient from dfd_rnn_backward.
dfd_param *dfd_rnn_params(dfd_rnn *r, size_t *n_params);

// Training mode turns dropout between layers on (when opts.dropout > 0); inference mode (the
// default) turns it off. The recurrence itself is the same in both.
void dfd_rnn_set_training(dfd_rnn *r, bool is_training);

// Forward over a padded batch.
//   y:   [N, T, D*H] out (the last layer's outputs, forward direction in [0, H), reverse in
//        [H, 2H)); zeros past each sequence's length
//   h_n: [L*D, N, H] out, final hidden state per layer and direction (PyTorch's h_n); may be NULL
//   c_n: [L*D, N, H] out, final cell state (LSTM only; NULL for GRU or when not wanted)
//   x:   [N, T, I]
//   lengths: [N] valid steps per sequence, each in 0..T; NULL: all T
//   h0, c0: [L*D, N, H] initial states; NULL: zeros (c0 must be NULL for GRU)
//   dropout_seed: in training mode the dropout masks are a function of this value (and of the
//        shapes) only, so a run is reproducible bit for bit; vary it from step to step
// x, lengths, h0 and c0 are borrowed until the next dfd_rnn_forward or dfd_rnn_free: backward
// reads them, so they must stay valid and unchanged until then.
// Errors: DFD_ERR_INVALID (a shape that does not match the layer, a length out of range, c0 or
// c_n given to a GRU; err names the argument), DFD_ERR_NOMEM (the layer's activation cache could
// not grow; the layer stays usable). On error no backward is possible until the next forward.
dfd_status dfd_rnn_forward(dfd_tensor *y, dfd_tensor *h_n, dfd_tensor *c_n, dfd_rnn *r,
                           const dfd_tensor *x, const int *lengths, const dfd_tensor *h0,
                           const dfd_tensor *c0, uint64_t dropout_seed, dfd_error *err);

// Backpropagation through time for the last forward, given the gradients of its outputs
// (each may be NULL, meaning zero): dy [N, T, D*H], dh_n and dc_n [L*D, N, H] (dc_n LSTM only).
// ADDS the gradients of the inputs into dx [N, T, I], dh0 and dc0 [L*D, N, H] (each may be NULL
// when not wanted; zero them first for plain gradients) and into the grad of every parameter
// that is not frozen. The weights must not change between the forward and its backward (step
// the optimiser after). May be called again for the same forward: each call adds once more.
// Errors: DFD_ERR_INVALID (no successful forward before, a shape mismatch; err names the
// argument), DFD_ERR_NOMEM (nothing was added then).
dfd_status dfd_rnn_backward(dfd_tensor *dx, dfd_tensor *dh0, dfd_tensor *dc0, dfd_rnn *r,
                            const dfd_tensor *dy, const dfd_tensor *dh_n, const dfd_tensor *dc_n,
                            dfd_error *err);

#endif
