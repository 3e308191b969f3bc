#!/usr/bin/python3
"""Dev-time measurement (docs/ACCURACY.md, "Intermediate layers"): the probe's grouped 5-fold
MLP (1024-256-1 shape, input dropout 0.2, 300 full-batch AdamW steps, numpy) on features of
embed_layers.c. A spec names layers 0-4 with m (means), s (deviations) or a (both): '4m' is the
backbone's embedding, '0m+1m+2m+3m+4m' every layer's means.
usage: probe_layers.py FEATURES.bin "'SPEC'[, folds=range(2)][, din=0.2]" ..."""
import numpy as np, sys, time
from probe_data import load, auc
# layout per item: for each layer (C): mean[C], std[C]
C = [64, 128, 256, 512, 1024]
D = 2 * sum(C)
raw, y, grp, fold = load(sys.argv[1], D)
off = {}; o = 0
for i, c in enumerate(C): off[i] = (o, o + c, o + 2 * c); o += 2 * c
def cols(spec):
    parts = []
    for tok in spec.split('+'):
        l, kind = int(tok[:-1]), tok[-1]
        a, b, c = off[l]
        if kind in 'ma': parts.append(raw[:, a:b])
        if kind in 'sa': parts.append(raw[:, b:c])
    return np.concatenate(parts, 1)
def run(spec, din=0.2, dh=0.3, H=256, steps=300, lr=1e-3, wd=1e-2, folds=range(5)):
    X = cols(spec); aucs = []; lls = []; t0 = time.time()
    for f in folds:
        rng = np.random.default_rng(1)
        tr = fold != f; te = fold == f
        mu = X[tr].mean(0); sd = X[tr].std(0) + 1e-6
        Xt = ((X[tr] - mu) / sd).astype(np.float32); Yt = y[tr]; Xe = ((X[te] - mu) / sd).astype(np.float32)
        Din = X.shape[1]
        p = {'W1': (rng.standard_normal((Din, H)) / np.sqrt(Din)).astype(np.float32), 'b1': np.zeros(H, np.float32),
             'w2': (rng.standard_normal((H, 1)) / np.sqrt(H)).astype(np.float32), 'b2': np.zeros(1, np.float32)}
        m = {k: np.zeros_like(v) for k, v in p.items()}; v = {k: np.zeros_like(v) for k, v in p.items()}
        for t in range(1, steps + 1):
            Xi = Xt * ((rng.random(Xt.shape, dtype=np.float32) >= din) / (1 - din)).astype(np.float32)
            a = Xi @ p['W1'] + p['b1']; h = np.maximum(a, 0)
            mh = ((rng.random(h.shape, dtype=np.float32) >= dh) / (1 - dh)).astype(np.float32); h2 = h * mh
            z = (h2 @ p['w2'] + p['b2'])[:, 0]
            dz = ((1 / (1 + np.exp(-z)) - Yt) / len(Yt))[:, None].astype(np.float32)
            g = {'w2': h2.T @ dz, 'b2': dz.sum(0)}
            da = (dz @ p['w2'].T) * mh * (a > 0)
            g['W1'] = Xi.T @ da; g['b1'] = da.sum(0)
            for k in p:
                p[k] *= (1 - lr * wd)
                m[k] = 0.9 * m[k] + 0.1 * g[k]; v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
                p[k] -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
        z = (np.maximum(Xe @ p['W1'] + p['b1'], 0) @ p['w2'] + p['b2'])[:, 0]
        t_ = y[te]; aucs.append(auc(z, t_)); pr = 1 / (1 + np.exp(-z))
        lls.append(-np.mean(t_ * np.log(np.clip(pr, 1e-7, 1)) + (1 - t_) * np.log(np.clip(1 - pr, 1e-7, 1))))
    print('%-24s dim %5d AUC %s mean %.3f ll %.3f (%.0f s)' % (spec, X.shape[1], np.round(aucs, 3), np.mean(aucs), np.mean(lls), time.time() - t0), flush=True)
for spec in sys.argv[2:]:
    eval('run(' + spec + ')')
