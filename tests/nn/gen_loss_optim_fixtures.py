#!/usr/bin/python3
"""PyTorch references for the losses and optimisers of src/nn (dev-time only; tests read the
JSON it writes and never need Python). Run from the repository root:

    /usr/bin/python3 tests/nn/gen_loss_optim_fixtures.py

writes tests/nn/fixtures/loss_torch.json and tests/nn/fixtures/optim_torch.json. Inputs are
float32 values (so C reads them exactly); losses are computed in float64 from them, optimiser
trajectories in float32 as torch users run them."""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def seed_of(name):
    """A seed that does not change between runs (str hash() does)."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(name))


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def f32(t):
    """Round to float32 values (kept as float64 tensors for the float64 reference)."""
    return t.to(torch.float32).to(torch.float64)


def bce_case(name, n, c, smoothing=0.0, pos_weight=False, class_weight=False,
             sample_weight=False, scale=3.0, extreme=False):
    g = torch.Generator().manual_seed(seed_of(name))
    x = f32(torch.randn(n, c, generator=g, dtype=torch.float64) * scale)
    if extreme:
        x[0, 0], x[1, 0], x[0, 1 % c] = 1e4, -1e4, -60.0
    t = f32(torch.randint(0, 2, (n, c), generator=g).to(torch.float64))
    t[n - 1, :] = f32(torch.rand(c, generator=g, dtype=torch.float64))  # soft targets
    pw = f32(torch.rand(c, generator=g, dtype=torch.float64) * 3 + 0.2) if pos_weight else None
    cw = f32(torch.rand(c, generator=g, dtype=torch.float64) * 2 + 0.1) if class_weight else None
    sw = None
    if sample_weight:
        sw = f32(torch.rand(n, generator=g, dtype=torch.float64))
        sw[1] = 0.0
    xg = x.clone().requires_grad_(True)
    ts = t * (1 - smoothing) + 0.5 * smoothing
    if sw is None:
        loss = torch.nn.BCEWithLogitsLoss(weight=cw, pos_weight=pw)(xg, ts)
    else:  # the masked/weighted mean of nn/loss.h: sum sw[n] l(n, c) / (C sum sw)
        l = torch.nn.BCEWithLogitsLoss(weight=cw, pos_weight=pw, reduction="none")(xg, ts)
        loss = (l * sw[:, None]).sum() / (c * sw.sum())
    loss.backward()
    case = {"name": name, "kind": "bce", "n": n, "c": c, "label_smoothing": smoothing,
            "logits": flat(x), "targets": flat(t), "loss": loss.item(), "grad": flat(xg.grad)}
    for key, v in (("pos_weight", pw), ("class_weight", cw), ("sample_weight", sw)):
        if v is not None:
            case[key] = flat(v)
    return case


def ce_case(name, n, c, smoothing=0.0, class_weight=False, mask=False, scale=3.0,
            extreme=False):
    g = torch.Generator().manual_seed(seed_of(name))
    x = f32(torch.randn(n, c, generator=g, dtype=torch.float64) * scale)
    if extreme:
        x[0, 0], x[1, 2], x[2, :] = 1e4, -1e4, 1e4
    y = torch.randint(0, c, (n,), generator=g)
    cw = f32(torch.rand(c, generator=g, dtype=torch.float64) * 2 + 0.1) if class_weight else None
    sw = None
    yt = y.clone()
    if mask:  # a 0/1 sample weight in C is torch's ignore_index
        sw = torch.ones(n, dtype=torch.float64)
        sw[0] = sw[n - 1] = 0.0
        yt[0] = yt[n - 1] = -100
    xg = x.clone().requires_grad_(True)
    loss = torch.nn.CrossEntropyLoss(weight=cw, label_smoothing=smoothing)(xg, yt)
    loss.backward()
    case = {"name": name, "kind": "ce", "n": n, "c": c, "label_smoothing": smoothing,
            "logits": flat(x), "labels": [int(v) for v in y.tolist()], "loss": loss.item(),
            "grad": flat(xg.grad)}
    for key, v in (("class_weight", cw), ("sample_weight", sw)):
        if v is not None:
            case[key] = flat(v)
    return case


def losses():
    return [
        bce_case("bce_plain", 5, 1),
        bce_case("bce_pos_weight", 6, 3, pos_weight=True),
        bce_case("bce_class_weight_smoothing", 6, 3, smoothing=0.1, class_weight=True),
        bce_case("bce_all_options", 7, 4, smoothing=0.2, pos_weight=True, class_weight=True,
                 sample_weight=True),
        bce_case("bce_extreme_logits", 4, 2, pos_weight=True, extreme=True),
        ce_case("ce_plain", 6, 5),
        ce_case("ce_weight_smoothing", 8, 4, smoothing=0.1, class_weight=True),
        ce_case("ce_masked", 7, 3, smoothing=0.05, class_weight=True, mask=True),
        ce_case("ce_extreme_logits", 4, 3, smoothing=0.1, extreme=True),
    ]


# ---- optimisers ----

STEPS = 6


def optim_case(name, kind, lr, momentum=0.0, nesterov=False, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=0.0, clip_norm=0.0, group1_lr_scale=1.0, group1_wd_scale=1.0,
               schedule=None, grad_scale=1.0):
    g = torch.Generator().manual_seed(seed_of(name))
    w = torch.randn(3, 4, generator=g)
    b = torch.randn(5, generator=g)
    grads = [[torch.randn(3, 4, generator=g) * grad_scale, torch.randn(5, generator=g) * grad_scale]
             for _ in range(STEPS)]
    params = [w.clone().requires_grad_(True), b.clone().requires_grad_(True)]
    groups = [{"params": [params[0]]},
              {"params": [params[1]], "lr": lr * group1_lr_scale,
               "weight_decay": weight_decay * group1_wd_scale}]
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov,
                              weight_decay=weight_decay)
    elif kind == "adam":
        opt = torch.optim.Adam(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    else:
        opt = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    sched = None
    if schedule and schedule["kind"] == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=schedule["step_size"],
                                                gamma=schedule["gamma"])
    elif schedule and schedule["kind"] == "cosine":  # torch's rises again after T_max: stop there
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=schedule["decay_steps"], eta_min=0.0)
    elif schedule and schedule["kind"] == "warmup":
        W = schedule["warmup_steps"]
        sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0 / W, end_factor=1.0,
                                                  total_iters=W - 1)
    trajectory = []
    for s in range(STEPS):
        opt.zero_grad()
        for p, gr in zip(params, grads[s]):
            p.grad = gr.clone()
        if clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        opt.step()
        if sched:
            sched.step()
        trajectory.append([flat(p) for p in params])
    return {"name": name, "kind": kind, "lr": lr, "momentum": momentum, "nesterov": nesterov,
            "beta1": betas[0], "beta2": betas[1], "eps": eps, "weight_decay": weight_decay,
            "clip_norm": clip_norm, "group1_lr_scale": group1_lr_scale,
            "group1_wd_scale": group1_wd_scale, "schedule": schedule or {"kind": "constant"},
            "shapes": [[3, 4], [5]], "init": [flat(w), flat(b)],
            "grads": [[flat(x) for x in step] for step in grads], "trajectory": trajectory}


def optims():
    return [
        optim_case("sgd_plain", "sgd", 0.1),
        optim_case("sgd_momentum_l2", "sgd", 0.1, momentum=0.9, weight_decay=0.01),
        optim_case("sgd_nesterov_groups", "sgd", 0.05, momentum=0.8, nesterov=True,
                   group1_lr_scale=0.25),
        optim_case("adam", "adam", 0.01),
        optim_case("adam_l2_betas", "adam", 0.02, betas=(0.8, 0.99), eps=1e-6,
                   weight_decay=0.05),
        optim_case("adamw_groups", "adamw", 0.01, weight_decay=0.1, group1_lr_scale=0.5,
                   group1_wd_scale=0.0),
        optim_case("adam_clipped", "adam", 0.01, clip_norm=1.0, grad_scale=10.0),
        optim_case("sgd_clipped_not_reached", "sgd", 0.1, momentum=0.9, clip_norm=100.0),
        optim_case("sgd_step_schedule", "sgd", 0.1, momentum=0.5,
                   schedule={"kind": "step", "step_size": 2, "gamma": 0.5}),
        optim_case("adamw_cosine_schedule", "adamw", 0.01, weight_decay=0.01,
                   schedule={"kind": "cosine", "decay_steps": STEPS - 1}),
        optim_case("adam_warmup", "adam", 0.01, schedule={"kind": "warmup", "warmup_steps": 3}),
    ]


def main():
    os.makedirs(OUT, exist_ok=True)
    header = {"generator": "tests/nn/gen_loss_optim_fixtures.py", "torch": torch.__version__}
    with open(os.path.join(OUT, "loss_torch.json"), "w") as f:
        json.dump(dict(header, cases=losses()), f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(OUT, "optim_torch.json"), "w") as f:
        json.dump(dict(header, cases=optims()), f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
