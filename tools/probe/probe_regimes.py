#!/usr/bin/python3
"""Dev-time measurement (docs/ACCURACY.md, "Training regime"): the head's frame MLP
(1024-256-1, ReLU, dropout on inputs and hidden units, AdamW) replicated in numpy on frozen
faceres embeddings of ../shared/data/dfdc_faces, trained under different regimes and scored on
the probe's grouped folds (seed 0). numpy because Debian's python3-torch runs on a generic BLAS
here (1.4 s per full-batch step). usage:
  probe_regimes.py EMBEDDINGS.bin "'name', in_drop, hid_drop, batch, lr, wd, epochs, patience[, val[, folds]]" ...
val: hold out 20% of the training folds' groups for early stopping (patience 0: no early
stopping, keep the last epoch); folds: e.g. range(1)."""
import numpy as np, sys, time
from probe_data import load, auc
feat, y, grp, fold = load(sys.argv[1])
gidx = {g: i for i, g in enumerate(sorted(set(grp)))}; gid = np.array([gidx[g] for g in grp])
class MLP:
    def __init__(s, rng, H=256):
        s.p = {'W1': (rng.standard_normal((1024, H)) / np.sqrt(1024)).astype(np.float32), 'b1': np.zeros(H, np.float32),
               'w2': (rng.standard_normal((H, 1)) / np.sqrt(H)).astype(np.float32), 'b2': np.zeros(1, np.float32)}
        s.m = {k: np.zeros_like(v) for k, v in s.p.items()}; s.v = {k: np.zeros_like(v) for k, v in s.p.items()}; s.t = 0
    def fwd(s, X, din=0.0, dh=0.0, rng=None):
        if din > 0: mi = (rng.random(X.shape) >= din).astype(np.float32) / (1 - din); X = X * mi
        a = X @ s.p['W1'] + s.p['b1']; h = np.maximum(a, 0)
        if dh > 0: mh = (rng.random(h.shape) >= dh).astype(np.float32) / (1 - dh); h2 = h * mh
        else: mh = None; h2 = h
        z = (h2 @ s.p['w2'] + s.p['b2'])[:, 0]
        s.cache = (X, a, h2, mh); return z
    def bwd(s, z, Y):
        X, a, h2, mh = s.cache; n = len(Y)
        dz = (1 / (1 + np.exp(-z)) - Y)[:, None] / n
        g = {'w2': h2.T @ dz, 'b2': dz.sum(0)}
        dh = dz @ s.p['w2'].T
        if mh is not None: dh = dh * mh
        da = dh * (a > 0)
        g['W1'] = X.T @ da; g['b1'] = da.sum(0); return g
    def step(s, g, lr, wd, b1=0.9, b2=0.999, eps=1e-8):
        s.t += 1
        for k in s.p:
            s.p[k] *= (1 - lr * wd)
            s.m[k] = b1 * s.m[k] + (1 - b1) * g[k]; s.v[k] = b2 * s.v[k] + (1 - b2) * g[k] ** 2
            mh = s.m[k] / (1 - b1 ** s.t); vh = s.v[k] / (1 - b2 ** s.t)
            s.p[k] -= lr * mh / (np.sqrt(vh) + eps)
def bce(z, Y): return float(np.mean(np.maximum(z, 0) - z * Y + np.log1p(np.exp(-np.abs(z)))))
def run(name, din, dh, batch, lr, wd, epochs, patience, val=True, folds=range(2), H=256):
    aucs = []; eps = []; t0 = time.time()
    for f in folds:
        rng = np.random.default_rng(1)
        tr_idx = np.where(fold != f)[0]
        if val:
            g = np.unique(gid[tr_idx]); vg = set(np.random.default_rng(1).choice(g, len(g)//5, replace=False).tolist())
            isv = np.array([gid[i] in vg for i in tr_idx]); v_idx = tr_idx[isv]; t_idx = tr_idx[~isv]
        else: t_idx = tr_idx
        mu = feat[t_idx].mean(0); sd = feat[t_idx].std(0) + 1e-6
        Xt = (feat[t_idx] - mu) / sd; Yt = y[t_idx]; Xte = (feat[fold == f] - mu) / sd
        if val: Xv = (feat[v_idx] - mu) / sd; Yv = y[v_idx]
        m = MLP(rng, H); best = (1e9, None, 0); bad = 0
        for ep in range(epochs):
            p = rng.permutation(len(Xt))
            for i in range(0, len(Xt), batch):
                b = p[i:i+batch]; z = m.fwd(Xt[b], din, dh, rng); m.step(m.bwd(z, Yt[b]), lr, wd)
            if val and patience > 0:
                vl = bce(m.fwd(Xv), Yv)
                if vl < best[0]: best = (vl, {k: v.copy() for k, v in m.p.items()}, ep + 1); bad = 0
                else:
                    bad += 1
                    if bad >= patience: break
        if val and patience > 0: m.p = best[1]; eps.append(best[2])
        aucs.append(auc(m.fwd(Xte), y[fold == f]))
    print('%-44s AUC %s mean %.3f  best ep %s  (%.0f s)' % (name, np.round(aucs, 3), np.mean(aucs), eps, time.time() - t0), flush=True)
for spec in sys.argv[2:]:
    eval('run(' + spec + ')')
