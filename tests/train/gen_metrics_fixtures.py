#!/usr/bin/python3
"""Reference values for tests/train/test_metrics.c, computed with brute-force definitions that
share no code path with src/train/metrics.c: AUC by counting every positive/negative pair, ROC by
thresholding at every distinct score, EER by bisection on the interpolated curve (the usual
brentq(1 - x - interp(fpr, tpr)(x)) recipe), the bootstrap by re-drawing with the same splitmix64
stream and counting pairs again, quantiles with numpy.percentile (linear).

    /usr/bin/python3 tests/train/gen_metrics_fixtures.py > tests/train/metrics_fixtures.h
    clang-format -i tests/train/metrics_fixtures.h   (aligns the #defines; arrays stay as written)
"""
import math

import numpy as np

M64 = (1 << 64) - 1


def auc_pairs(s, y, w=None):
    w = w if w is not None else [1] * len(s)
    num = den = 0.0
    for i in range(len(s)):
        if y[i] != 1 or w[i] == 0:
            continue
        for j in range(len(s)):
            if y[j] != 0 or w[j] == 0:
                continue
            k = w[i] * w[j]
            den += k
            num += k * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
    return num / den if den else float("nan")


def roc(s, y):
    P = sum(y)
    N = len(y) - P
    fpr, tpr, thr = [0.0], [0.0], [math.inf]
    for t in sorted(set(s), reverse=True):
        tp = sum(1 for a, b in zip(s, y) if a >= t and b == 1)
        fp = sum(1 for a, b in zip(s, y) if a >= t and b == 0)
        fpr.append(fp / N)
        tpr.append(tp / P)
        thr.append(t)
    return fpr, tpr, thr


def eer(fpr, tpr):
    f = lambda x: 1.0 - x - np.interp(x, fpr, tpr)
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def log_loss(p, y, eps=1e-15):
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def at_threshold(s, y, t):
    tp = sum(1 for a, b in zip(s, y) if a >= t and b == 1)
    fp = sum(1 for a, b in zip(s, y) if a >= t and b == 0)
    P = sum(y)
    N = len(y) - P
    tn = N - fp
    acc = (tp + tn) / len(y)
    bal = (tp / P + tn / N) / 2
    return acc, bal, tp, fp


def best_threshold(s, y, balanced):
    u = sorted(set(s), reverse=True)
    cands = [math.nextafter(u[0], math.inf)]
    for k in range(1, len(u)):
        cands.append((u[k - 1] + u[k]) / 2)
    cands.append(u[-1])
    best = None
    for t in cands:
        acc, bal, _, _ = at_threshold(s, y, t)
        v = bal if balanced else acc
        if best is None or v > best[0] + 1e-12 or (abs(v - best[0]) <= 1e-12 and abs(t - 0.5) < abs(best[1] - 0.5)):
            best = (v, t)
    return best


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def uniform_below(state, n):
    """Lemire's multiply-shift on the high 32 bits, as metrics.c draws."""
    state, x = splitmix64(state)
    m = (x >> 32) * n
    if (m & 0xFFFFFFFF) < n:
        t = (2**32 - n) % n
        while (m & 0xFFFFFFFF) < t:
            state, x = splitmix64(state)
            m = (x >> 32) * n
    return state, m >> 32


def bootstrap(s, y, n_boot, level, seed):
    n = len(s)
    # Draws pick positions in the order by decreasing score (ties by index), as metrics.c does.
    order = sorted(range(n), key=lambda i: (-s[i], i))
    state = seed
    aucs = []
    while len(aucs) < n_boot:
        w = [0] * n
        for _ in range(n):
            state, pos = uniform_below(state, n)
            w[order[pos]] += 1
        a = auc_pairs(s, y, w)
        if not math.isnan(a):
            aucs.append(a)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    lo, hi = np.percentile(np.array(aucs), q)
    return float(lo), float(hi)


def carr(name, vals, ctype="double", fmt=None):
    """A C array, wrapped at 100 columns, kept as written by clang-format."""
    lines, line = [], "   "
    for v in vals:
        item = " " + (repr(float(v)) if fmt is None else fmt % v) + ","  # repr: shortest exact
        if len(line) + len(item) > 100:
            lines.append(line)
            line = "   "
        line += item
    lines.append(line)
    return "// clang-format off\nstatic const %s %s[%d] = {\n%s\n};\n// clang-format on" % (
        ctype, name, len(vals), "\n".join(lines))


def main():
    rng = np.random.default_rng(20240611)
    n = 200
    y = [int(v) for v in (rng.random(n) < 0.6)]
    raw = [1 / (1 + math.exp(-(1.2 * (2 * b - 1) + rng.normal(0, 1.3)))) for b in y]
    s = [round(v, 2) for v in raw]  # two decimals: many ties
    fpr, tpr, thr = roc(s, y)
    acc, bal, tp, fp = at_threshold(s, y, 0.5)
    fpr90 = min(f for f, t in zip(fpr, tpr) if t >= 0.9)
    best_acc = best_threshold(s, y, False)
    best_bal = best_threshold(s, y, True)
    nb = 60
    lo, hi = bootstrap(s[:nb], y[:nb], 200, 0.9, 12345)
    print("// Generated by tests/train/gen_metrics_fixtures.py; do not edit.")
    print("#ifndef DFD_TESTS_TRAIN_METRICS_FIXTURES_H\n#define DFD_TESTS_TRAIN_METRICS_FIXTURES_H\n")
    print("#include <stdint.h>\n")
    print("#define FX_N %d" % n)
    print(carr("fx_scores", s))
    print(carr("fx_labels", y, "uint8_t", "%d"))
    print("#define FX_ROC_N %d" % len(fpr))
    print(carr("fx_roc_fpr", fpr))
    print(carr("fx_roc_tpr", tpr))
    print(carr("fx_roc_thr", thr[1:]))  # thresholds after the +infinity point
    print("#define FX_AUC %.17g" % auc_pairs(s, y))
    print("#define FX_LOG_LOSS %.17g" % log_loss(s, y))
    print("#define FX_ACC_05 %.17g" % acc)
    print("#define FX_BAL_05 %.17g" % bal)
    print("#define FX_TP_05 %d\n#define FX_FP_05 %d" % (tp, fp))
    print("#define FX_N_POS %d" % sum(y))
    print("#define FX_EER %.17g" % eer(fpr, tpr))
    print("#define FX_FPR_AT_TPR90 %.17g" % fpr90)
    print("#define FX_BEST_ACC %.17g\n#define FX_BEST_ACC_T %.17g" % best_acc)
    print("#define FX_BEST_BAL %.17g\n#define FX_BEST_BAL_T %.17g" % best_bal)
    print("#define FX_BOOT_N %d\n#define FX_BOOT_LO %.17g\n#define FX_BOOT_HI %.17g" % (nb, lo, hi))
    print("\n#endif")


if __name__ == "__main__":
    main()
