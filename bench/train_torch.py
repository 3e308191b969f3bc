#!/usr/bin/python3
"""PyTorch baseline for bench/train: one training step (forward + backward + AdamW update) of a
TF.js graph model, by default faceres at batch 16 on 2 threads.

The model is bench/nn_torch.py's translation of the model.json (convolutions with their batch
norms folded into weight and bias and the clip fused, as dfdetect trains it), with every weight
made a leaf that requires a gradient. The loss is sum(r * output) over the outputs with fixed
random r, as in bench/train, and torch.optim.AdamW with its defaults updates every weight
(gradients zeroed with set_to_none, torch's fastest). Timed in eager mode (what training uses)
in two memory layouts: default NCHW and channels_last. Prints a table, or with --json
{layout: {forward_ms, backward_ms, optimiser_ms, step_ms, best_step_ms}}.

    /usr/bin/python3 bench/train_torch.py [--models DIR] [--model faceres] [--batch 16]
                                          [--threads 2] [--steps 10] [--json]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nn_torch import TFGraph, set_threads, tune_malloc  # noqa: E402


def make_trainable(g):
    """Every float tensor a step closes over (conv and matmul weights and biases) as a leaf
    that requires a gradient; returns them."""
    params = []
    for _, fn, _ in g.steps:
        for d in getattr(fn, "__defaults__", None) or ():
            if isinstance(d, torch.Tensor) and d.is_floating_point() and d.dim() > 0:
                d.requires_grad_(True)
                params.append(d)
    return params


def time_steps(g, x, r, params, steps):
    """Median forward, backward, optimiser and step seconds over `steps` steps (after 2 warm-up
    steps), and the fastest step."""
    opt = torch.optim.AdamW(params)
    fwd, bwd, upd, whole = [], [], [], []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        outs = g(x)
        loss = sum((o * r[k]).sum() for k, o in outs.items())
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= 2:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
            upd.append(t3 - t2)
            whole.append(t3 - t0)
    return tuple(statistics.median(t) for t in (fwd, bwd, upd, whole)) + (min(whole),)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default=os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), 'models'))
    ap.add_argument('--model', default='faceres')
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    tune_malloc()
    set_threads(a.threads)
    torch.manual_seed(0)
    results = {}
    for layout in ('nchw', 'channels_last'):
        g = TFGraph(os.path.join(a.models, a.model + '.json'),
                    channels_last=layout == 'channels_last', fold=True)
        params = make_trainable(g)
        x = g.make_input(a.batch)
        with torch.no_grad():
            shapes = {k: o.shape for k, o in g(x).items()}
        gen = torch.Generator().manual_seed(1)
        r = {k: torch.rand(s, generator=gen) - 0.5 for k, s in shapes.items()}
        f, b, u, s, best = time_steps(g, x, r, params, a.steps)
        results[layout] = {'forward_ms': round(f * 1e3, 2), 'backward_ms': round(b * 1e3, 2),
                           'optimiser_ms': round(u * 1e3, 2), 'step_ms': round(s * 1e3, 2),
                           'best_step_ms': round(best * 1e3, 2), 'n_params': len(params)}
        if not a.json:
            print(f'{layout:14s} forward {f * 1e3:8.1f} ms  backward {b * 1e3:8.1f} ms  '
                  f'AdamW {u * 1e3:6.1f} ms  step {s * 1e3:8.1f} ms  {a.batch / s:6.1f} images/s')
    if a.json:
        print(json.dumps(results))


if __name__ == '__main__':
    main()
