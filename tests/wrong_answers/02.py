"""Typical wrong answers to notebook 02's exercises (tests/test_exercises.py runs each self-check against them)."""

WRONG = {
    "ex02-is-causal": [
        ("changes only the last token", """\
def is_causal(f, x):
    with torch.no_grad():
        x_changed = x.clone()
        x_changed[:, -1] = torch.randn_like(x_changed[:, -1])
        return torch.allclose(f(x_changed)[:, :-1], f(x)[:, :-1], atol=1e-6)
""", r"every suffix"),
        ("compares the whole output, also the positions after t", """\
def is_causal(f, x):
    with torch.no_grad():
        out = f(x)
        for t in range(x.size(1) - 1):
            x_changed = x.clone()
            x_changed[:, t + 1 :] = torch.randn_like(x_changed[:, t + 1 :])
            if not torch.allclose(f(x_changed), out, atol=1e-6):
                return False
    return True
""", r"only the outputs at positions ≤ t"),
        ("changes the token at t too (off by one)", """\
def is_causal(f, x):
    with torch.no_grad():
        out = f(x)
        for t in range(x.size(1)):
            x_changed = x.clone()
            x_changed[:, t:] = torch.randn_like(x_changed[:, t:])
            if not torch.allclose(f(x_changed)[:, : t + 1], out[:, : t + 1], atol=1e-6):
                return False
    return True
""", r"token at t itself"),
        ("changes the past instead of the future", """\
def is_causal(f, x):
    with torch.no_grad():
        out = f(x)
        for t in range(x.size(1) - 1):
            x_changed = x.clone()
            x_changed[:, : t + 1] = torch.randn_like(x_changed[:, : t + 1])
            if not torch.allclose(f(x_changed)[:, t + 1 :], out[:, t + 1 :], atol=1e-6):
                return False
    return True
""", r"after\* t"),
        ("changes x in place (no clone)", """\
def is_causal(f, x):
    with torch.no_grad():
        out = f(x)
        for t in range(x.size(1) - 1):
            x_changed = x
            x_changed[:, t + 1 :] = torch.randn_like(x_changed[:, t + 1 :])
            if not torch.allclose(f(x_changed)[:, : t + 1], out[:, : t + 1], atol=1e-6):
                return False
    return True
""", r"clone"),
    ],
    "ex02-sdpa": [
        ("no 1/√d scaling", """\
scores = q @ k.transpose(-2, -1)
scores = scores.masked_fill(torch.tril(torch.ones(T, T, dtype=torch.bool)).logical_not(), float("-inf"))
out = F.softmax(scores, dim=-1) @ v
""", r"not scaled"),
        ("scaled by d instead of √d", """\
scores = q @ k.transpose(-2, -1) / q.size(-1)
scores = scores.masked_fill(torch.tril(torch.ones(T, T, dtype=torch.bool)).logical_not(), float("-inf"))
out = F.softmax(scores, dim=-1) @ v
""", r"square root"),
        ("softmax over the wrong dimension", """\
scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
scores = scores.masked_fill(torch.tril(torch.ones(T, T, dtype=torch.bool)).logical_not(), float("-inf"))
out = F.softmax(scores, dim=1) @ v
""", r"wrong dimension"),
        ("no causal mask", """\
scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
out = F.softmax(scores, dim=-1) @ v
""", r"no causal mask"),
        ("mask applied after the softmax", """\
scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
wei = F.softmax(scores, dim=-1)
wei = wei.masked_fill(torch.tril(torch.ones(T, T, dtype=torch.bool)).logical_not(), 0.0)
out = wei @ v
""", r"after the softmax"),
        ("triu instead of tril: the past is masked, the future seen", """\
scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool)).logical_not(), float("-inf"))
out = F.softmax(scores, dim=-1) @ v
""", r"position 0 sees later positions"),
    ],
    "ex02-scaling": [
        ("multiplies by √d instead of dividing", """\
def mean_peak(scores):
    T = scores.size(-1)
    weights = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(dim=-1)
    return weights[:, 8:].max(dim=-1).values.mean().item()


peak_scaled, peak_raw = [], []
for d in head_sizes:
    q, k = torch.randn(2, 64, 32, d, generator=gen).unbind(0)
    scores = q @ k.transpose(-2, -1)
    peak_raw.append(mean_peak(scores))
    peak_scaled.append(mean_peak(scores * math.sqrt(d)))
""", r"don't multiply"),
        ("no causal mask", """\
def mean_peak(scores):
    return scores.softmax(dim=-1)[:, 8:].max(dim=-1).values.mean().item()


peak_scaled, peak_raw = [], []
for d in head_sizes:
    q, k = torch.randn(2, 64, 32, d, generator=gen).unbind(0)
    scores = q @ k.transpose(-2, -1)
    peak_raw.append(mean_peak(scores))
    peak_scaled.append(mean_peak(scores / math.sqrt(d)))
""", r"no causal mask"),
        ("every query position, also t < 8", """\
def mean_peak(scores):
    T = scores.size(-1)
    weights = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(dim=-1)
    return weights.max(dim=-1).values.mean().item()


peak_scaled, peak_raw = [], []
for d in head_sizes:
    q, k = torch.randn(2, 64, 32, d, generator=gen).unbind(0)
    scores = q @ k.transpose(-2, -1)
    peak_raw.append(mean_peak(scores))
    peak_scaled.append(mean_peak(scores / math.sqrt(d)))
""", r"t ≥ 8"),
        ("softmax over the query dimension", """\
def mean_peak(scores):
    T = scores.size(-1)
    weights = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(dim=-2)
    return weights[:, 8:].max(dim=-1).values.mean().item()


peak_scaled, peak_raw = [], []
for d in head_sizes:
    q, k = torch.randn(2, 64, 32, d, generator=gen).unbind(0)
    scores = q @ k.transpose(-2, -1)
    peak_raw.append(mean_peak(scores))
    peak_scaled.append(mean_peak(scores / math.sqrt(d)))
""", r"wrong dimension"),
        ("the two lists swapped", """\
def mean_peak(scores):
    T = scores.size(-1)
    weights = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(dim=-1)
    return weights[:, 8:].max(dim=-1).values.mean().item()


peak_scaled, peak_raw = [], []
for d in head_sizes:
    q, k = torch.randn(2, 64, 32, d, generator=gen).unbind(0)
    scores = q @ k.transpose(-2, -1)
    peak_scaled.append(mean_peak(scores))
    peak_raw.append(mean_peak(scores / math.sqrt(d)))
""", r"swapped"),
    ],
}
