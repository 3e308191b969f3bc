"""Shared by the probe scripts: frozen faceres embeddings of ../shared/data/dfdc_faces with
their labels, grouped 5-fold assignment (groups: a fake with its original; seed 0), and AUC."""
import csv
import numpy as np


def load(path, dim=1024):
    """(feat [n, dim], y [n] 1 = FAKE, grp [n] group names, fold [n] 0..4) for EMBEDDINGS.bin."""
    feat = np.fromfile(path, dtype=np.float32).reshape(-1, dim)
    rows = list(csv.DictReader(open('../shared/data/dfdc_faces/labels.csv')))[:len(feat)]
    y = np.array([r['label'] == 'FAKE' for r in rows], dtype=np.float32)
    grp = [(r['original'] or r['file'].replace('.jpg', '.mp4')) for r in rows]
    ug = sorted(set(grp)); perm = np.random.default_rng(0).permutation(len(ug))
    fold_of = {g: perm[i] % 5 for i, g in enumerate(ug)}
    return feat, y, grp, np.array([fold_of[g] for g in grp])


def auc(s, t):
    """Rank AUC of scores s for 0/1 labels t (ties ignored: continuous scores)."""
    o = np.argsort(s); r = np.empty(len(s)); r[o] = np.arange(1, len(s) + 1)
    npos = t.sum(); nneg = len(t) - npos
    return (r[t == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)
