#!/usr/bin/python3
"""PyTorch baseline for bench/rnn: the same recurrent heads, timed the same way.

Run by `bench/rnn --torch` (or by hand; torch imports only in Debian's python):

    /usr/bin/python3 bench/rnn_torch.py --threads 2 --config gru,1024,128,1,0,32,32,0 [...]

Each --config is cell,input,hidden,layers,bidirectional,batch,steps,masked (masked: lengths
steps, steps-1, ... cycling down to steps/4, through pack_padded_sequence). Prints one JSON object
on stdout: {config: {"fwd_ms", "train_ms", "train_nodx_ms"}}, medians in milliseconds of
  fwd:        forward only, under inference_mode
  train:      zero_grad + forward + backward with d input (x.requires_grad)
  train_nodx: the same without d input (a head on fixed features)
Upstream gradients of the outputs and of h_n are fixed random tensors (torch.autograd.backward).
"""
import argparse
import json
import statistics
import sys
import time

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nn_torch import set_threads, tune_malloc  # bench/nn_torch.py: glibc heap, thread pools


def lengths_of(n, t, masked):
    """The lengths bench/rnn.c uses (keep in sync)."""
    if not masked:
        return [t] * n
    lo = max(t // 4, 1)
    return [t - (i % (t - lo + 1)) for i in range(n)]


def median_ms(fn, min_time, min_runs=10):
    t_end = time.perf_counter() + 0.2
    for _ in range(3):
        fn()
    while time.perf_counter() < t_end:
        fn()
    times = []
    while len(times) < min_runs or sum(times) < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def run(cfg, min_time):
    cell, i, h, layers, bidir, n, t, masked = cfg.split(',')
    i, h, layers, n, t = int(i), int(h), int(layers), int(n), int(t)
    bidir, masked = bidir == '1', masked == '1'
    torch.manual_seed(0)
    cls = torch.nn.GRU if cell == 'gru' else torch.nn.LSTM
    m = cls(i, h, num_layers=layers, bidirectional=bidir, batch_first=True)
    dirs = 2 if bidir else 1
    x = torch.rand(n, t, i) * 2 - 1
    dy = torch.rand(n, t, dirs * h) * 2 - 1
    dh = torch.rand(layers * dirs, n, h) * 2 - 1
    lengths = torch.tensor(lengths_of(n, t, masked))

    def forward(inp):
        if not masked:
            y, hs = m(inp)
        else:
            out, hs = m(pack_padded_sequence(inp, lengths, batch_first=True, enforce_sorted=False))
            y, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        return y, (hs if cell == 'gru' else hs[0])

    def fwd():
        with torch.inference_mode():
            forward(x)

    def train(with_dx):
        xs = x.clone().requires_grad_(True) if with_dx else x
        m.zero_grad(set_to_none=False)
        y, hn = forward(xs)
        torch.autograd.backward([y, hn], [dy, dh])

    return {'fwd_ms': median_ms(fwd, min_time),
            'train_ms': median_ms(lambda: train(True), min_time),
            'train_nodx_ms': median_ms(lambda: train(False), min_time)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--min-time', type=float, default=1.0)
    ap.add_argument('--config', action='append', required=True)
    a = ap.parse_args()
    tune_malloc()
    set_threads(a.threads)
    out = {}
    for cfg in a.config:
        out[cfg] = run(cfg, a.min_time)
        print(cfg, out[cfg], file=sys.stderr)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
