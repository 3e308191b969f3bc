#!/usr/bin/python3
"""Dev-time measurement (docs/ACCURACY.md): grouped 5-fold probe of frozen faceres embeddings of
../shared/data/dfdc_faces. usage: probe.py EMBEDDINGS.bin [HIDDEN] (0: logistic regression)."""
import numpy as np, torch, sys
from probe_data import load, auc
feat, y, grp, fold = load(sys.argv[1])
X = torch.tensor(feat); Y = torch.tensor(y)
aucs = []; lls = []
for f in range(5):
    tr = torch.tensor(fold != f); te = torch.tensor(fold == f)
    mu = X[tr].mean(0); sd = X[tr].std(0) + 1e-6
    Xtr = (X[tr]-mu)/sd; Xte = (X[te]-mu)/sd
    hidden = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if hidden:
        m = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(1024, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(hidden, 1))
    else:
        m = torch.nn.Sequential(torch.nn.Linear(1024, 1))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=1e-2 if hidden else 1.0)
    for ep in range(300):
        m.train(); opt.zero_grad(); l = torch.nn.functional.binary_cross_entropy_with_logits(m(Xtr)[:, 0], Y[tr]); l.backward(); opt.step()
    m.eval()
    with torch.no_grad(): p = torch.sigmoid(m(Xte)[:, 0]).numpy()
    t = y[fold == f]; aucs.append(auc(p, t)); lls.append(-np.mean(t*np.log(np.clip(p,1e-15,1))+(1-t)*np.log(np.clip(1-p,1e-15,1))))
print('n', len(feat), 'AUC per fold', np.round(aucs, 3), 'mean', np.mean(aucs).round(3), 'logloss', np.mean(lls).round(3))
