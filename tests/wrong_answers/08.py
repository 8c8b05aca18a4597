"""Typical wrong answers to notebook 08's exercises (tests/test_exercises.py runs each self-check against them)."""

WRONG = {
    "ex08-rope-real": [
        ("ignores start: positions always from 0", """\
def rope_real(x, start=0, base=10000.0):
    T, d = x.size(-2), x.size(-1)
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    angles = torch.outer(torch.arange(T, dtype=torch.float32), theta)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
""", r"start"),
        ("signs of the sin terms swapped: rotates by -mθ", """\
def rope_real(x, start=0, base=10000.0):
    T, d = x.size(-2), x.size(-1)
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    angles = torch.outer(torch.arange(start, start + T, dtype=torch.float32), theta)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return torch.cat((x1 * cos + x2 * sin, -x1 * sin + x2 * cos), dim=-1)
""", r"wrong way.*sin"),
        ("rotates neighbouring features (x_0, x_1) instead of the two halves", """\
def rope_real(x, start=0, base=10000.0):
    T, d = x.size(-2), x.size(-1)
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    angles = torch.outer(torch.arange(start, start + T, dtype=torch.float32), theta)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
""", r"neighbours.*halves"),
        ("frequencies without the factor 2: θ_i = base^(-i/d)", """\
def rope_real(x, start=0, base=10000.0):
    T, d = x.size(-2), x.size(-1)
    theta = base ** (-torch.arange(d // 2, dtype=torch.float32) / d)
    angles = torch.outer(torch.arange(start, start + T, dtype=torch.float32), theta)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
""", r"frequencies"),
        ("not a rotation: the sign of the second half's cos term", """\
def rope_real(x, start=0, base=10000.0):
    T, d = x.size(-2), x.size(-1)
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    angles = torch.outer(torch.arange(start, start + T, dtype=torch.float32), theta)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin - x2 * cos), dim=-1)
""", r"not a rotation|lengths changed"),
    ],
    "ex08-classic-newton-schulz": [
        ("no normalisation by the Frobenius norm first", """\
def steps_to_orthogonal(G, tol, max_steps=200):
    X = G.clone()
    for step in range(1, max_steps + 1):
        X = 1.5 * X - 0.5 * (X @ X.T) @ X
        if (torch.linalg.svdvals(X) - 1).abs().max() <= tol:
            return step
    return max_steps
""", r"G / ‖G‖_F"),
        ("off by one: counts from 0", """\
def steps_to_orthogonal(G, tol, max_steps=200):
    X = G / G.norm()
    for step in range(max_steps):
        X = 1.5 * X - 0.5 * (X @ X.T) @ X
        if (torch.linalg.svdvals(X) - 1).abs().max() <= tol:
            return step
    return max_steps
""", r"off by one"),
        ("the tuned coefficients instead of the classic 3/2, -1/2", """\
def steps_to_orthogonal(G, tol, max_steps=200):
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G / G.norm()
    for step in range(1, max_steps + 1):
        A = X @ X.T
        X = a * X + b * A @ X + c * A @ A @ X
        if (torch.linalg.svdvals(X) - 1).abs().max() <= tol:
            return step
    return max_steps
""", r"tuned coefficients|classic"),
        ("stops when one singular value is close to 1, not every one", """\
def steps_to_orthogonal(G, tol, max_steps=200):
    X = G / G.norm()
    for step in range(1, max_steps + 1):
        X = 1.5 * X - 0.5 * (X @ X.T) @ X
        if (torch.linalg.svdvals(X) - 1).abs().min() <= tol:
            return step
    return max_steps
""", r"every one"),
    ],
    "ex08-muon-lr": [
        ("a sweep that ignores the learning rate", """\
def muon_lr_sweep(lrs, seeds):
    out = {}
    for lr in lrs:
        out[lr] = []
        for seed in seeds:
            cfg = notebook_config("modern", seed=seed, **SWEEP)
            out[lr].append(train(cfg, corpus, progress=False, verbose=False).history.eval_val_loss[-1])
    return out


sweep = muon_lr_sweep(muon_lrs, sweep_seeds)
""", r"same loss at every muon_lr"),
        ("one seed for every run", """\
def muon_lr_sweep(lrs, seeds):
    out = {}
    for lr in lrs:
        out[lr] = []
        for _ in seeds:
            cfg = notebook_config("modern", muon_lr=lr, **SWEEP)
            out[lr].append(train(cfg, corpus, progress=False, verbose=False).history.eval_val_loss[-1])
    return out


sweep = muon_lr_sweep(muon_lrs, sweep_seeds)
""", r"is seed passed"),
        ("AdamW's learning_rate swept instead of muon_lr", """\
def muon_lr_sweep(lrs, seeds):
    out = {}
    for lr in lrs:
        out[lr] = []
        for seed in seeds:
            cfg = notebook_config("modern", learning_rate=lr, seed=seed, **SWEEP)
            out[lr].append(train(cfg, corpus, progress=False, verbose=False).history.eval_val_loss[-1])
    return out


sweep = muon_lr_sweep(muon_lrs, sweep_seeds)
""", r"learning_rate is AdamW's"),
        ("the first evaluation's loss, before training", """\
def muon_lr_sweep(lrs, seeds):
    out = {}
    for lr in lrs:
        out[lr] = []
        for seed in seeds:
            cfg = notebook_config("modern", muon_lr=lr, seed=seed, **SWEEP)
            out[lr].append(train(cfg, corpus, progress=False, verbose=False).history.eval_val_loss[0])
    return out


sweep = muon_lr_sweep(muon_lrs, sweep_seeds)
""", r"eval_val_loss\[-1\]"),
        ("one loss per rate (the seeds' mean), not one per seed", """\
def muon_lr_sweep(lrs, seeds):
    out = {}
    for lr in lrs:
        losses = [train(notebook_config("modern", muon_lr=lr, seed=seed, **SWEEP), corpus, progress=False,
                        verbose=False).history.eval_val_loss[-1] for seed in seeds]
        out[lr] = sum(losses) / len(losses)
    return out


sweep = muon_lr_sweep(muon_lrs, sweep_seeds)
""", r"one final val loss per seed"),
    ],
}
