#!/usr/bin/python3
"""Dev-time measurement (docs/ACCURACY.md, "Intermediate layers of the backbone"): an MLP (hidden
256, input dropout 0.2, hidden dropout 0.3, 300 full-batch AdamW steps, numpy) on the features of
`embed OUT.bin layers`. A spec names layers 0-4 with m (means), s (deviations) or a (both): '4m'
is the backbone's embedding, '0m+1m+2m+3m+4m' every layer's means.
  probe_layers.py FEATURES.bin "'SPEC'[, folds=range(2)]" ...
      DFDC crops (the list of tools/probe/README.md): the probe's grouped folds (seed 0), AUC and
      log loss per held-out fold.
  probe_layers.py --ffpp FEATURES.bin LIST.txt "'SPEC'" ...
      FF++ face crops of `dfdetect faces ... --out DIR` (LIST: their paths, DIR/<video>/face<k>/
      <n>.png): trained on frames, a video scored by the mean of its frames' logits, grouped
      5-fold over the identity groups (joined through `original`), three fold assignments."""
import csv, os, sys, time
import numpy as np
from probe_data import load, auc

C = [64, 128, 256, 512, 1024]  # channels of the five layers
D = 2 * sum(C)                  # per layer: C means, then C deviations
OFF = np.cumsum([0] + [2 * c for c in C])


def cols(raw, spec):
    parts = []
    for tok in spec.split('+'):
        l, kind = int(tok[:-1]), tok[-1]
        a, c = OFF[l], C[l]
        if kind in 'ma': parts.append(raw[:, a:a + c])
        if kind in 'sa': parts.append(raw[:, a + c:a + 2 * c])
    return np.concatenate(parts, 1)


def mlp_logits(X, Y, Xe, din=0.2, dh=0.3, H=256, steps=300, lr=1e-3, wd=1e-2):
    """Train on (X, Y) standardised on X; logits of Xe."""
    rng = np.random.default_rng(1)
    mu = X.mean(0); sd = X.std(0) + 1e-6
    Xt = ((X - mu) / sd).astype(np.float32); Xe = ((Xe - mu) / sd).astype(np.float32)
    n = X.shape[1]
    p = {'W1': (rng.standard_normal((n, H)) / np.sqrt(n)).astype(np.float32), 'b1': np.zeros(H, np.float32),
         'w2': (rng.standard_normal((H, 1)) / np.sqrt(H)).astype(np.float32), 'b2': np.zeros(1, np.float32)}
    m = {k: np.zeros_like(v) for k, v in p.items()}; v = {k: np.zeros_like(v) for k, v in p.items()}
    for t in range(1, steps + 1):
        Xi = Xt * ((rng.random(Xt.shape, dtype=np.float32) >= din) / (1 - din)).astype(np.float32)
        a = Xi @ p['W1'] + p['b1']; h = np.maximum(a, 0)
        mh = ((rng.random(h.shape, dtype=np.float32) >= dh) / (1 - dh)).astype(np.float32); h2 = h * mh
        z = (h2 @ p['w2'] + p['b2'])[:, 0]
        dz = ((1 / (1 + np.exp(-z)) - Y) / len(Y))[:, None].astype(np.float32)
        g = {'w2': h2.T @ dz, 'b2': dz.sum(0)}
        da = (dz @ p['w2'].T) * mh * (a > 0)
        g['W1'] = Xi.T @ da; g['b1'] = da.sum(0)
        for k in p:
            p[k] *= (1 - lr * wd)
            m[k] = 0.9 * m[k] + 0.1 * g[k]; v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            p[k] -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    return (np.maximum(Xe @ p['W1'] + p['b1'], 0) @ p['w2'] + p['b2'])[:, 0]


def dfdc(path, spec, folds=range(5), **kw):
    raw, y, _, fold = load(path, D)
    X = cols(raw, spec); aucs = []; lls = []; t0 = time.time()
    for f in folds:
        z = mlp_logits(X[fold != f], y[fold != f], X[fold == f], **kw)
        t = y[fold == f]; pr = np.clip(1 / (1 + np.exp(-z)), 1e-7, 1 - 1e-7)
        aucs.append(auc(z, t)); lls.append(-np.mean(t * np.log(pr) + (1 - t) * np.log(1 - pr)))
    print('%-24s dim %5d AUC %s mean %.3f ll %.3f (%.0f s)' % (spec, X.shape[1], np.round(aucs, 3),
          np.mean(aucs), np.mean(lls), time.time() - t0), flush=True)


def ffpp(path, listing, spec, seeds=range(3), **kw):
    raw = np.fromfile(path, dtype=np.float32).reshape(-1, D)
    vid = [os.path.basename(os.path.dirname(os.path.dirname(l.strip()))) + '.mp4' for l in open(listing)]
    rows = {r['file']: r for r in csv.DictReader(open('../shared/data/ffpp_c23/labels.csv'))}
    vids = sorted(rows); index = {v: i for i, v in enumerate(vids)}
    fv = np.array([index[v] for v in vid]); yv = np.array([rows[v]['label'] == 'FAKE' for v in vids], np.float32)
    parent = {}
    def find(a):
        while parent.setdefault(a, a) != a: a = parent[a]
        return a
    for v in vids:  # groups: the identity group, joined through original
        parent[find(v)] = find(rows[v]['identity_group'])
        if rows[v]['original']: parent[find(v)] = find(rows[v]['original'])
    group = [find(v) for v in vids]; groups = sorted(set(group))
    X = cols(raw, spec); res = []; t0 = time.time()
    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(len(groups))
        fold_of = {g: perm[i] % 5 for i, g in enumerate(groups)}
        ff = np.array([fold_of[g] for g in group])[fv]
        score = np.zeros(len(vids))
        for f in range(5):
            z = mlp_logits(X[ff != f], yv[fv[ff != f]], X[ff == f], **kw)
            np.add.at(score, fv[ff == f], z)
        score /= np.maximum(np.bincount(fv, minlength=len(vids)), 1)
        res.append(auc(score, yv))
    print('%-24s dim %5d video AUC per fold assignment %s mean %.3f (%d groups, %.0f s)' % (
          spec, X.shape[1], np.round(res, 3), np.mean(res), len(groups), time.time() - t0), flush=True)


if sys.argv[1] == '--ffpp':
    for spec in sys.argv[4:]:
        eval('ffpp(sys.argv[2], sys.argv[3], ' + spec + ')')
else:
    for spec in sys.argv[2:]:
        eval('dfdc(sys.argv[1], ' + spec + ')')
