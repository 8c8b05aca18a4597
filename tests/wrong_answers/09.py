"""Typical wrong answers to notebook 09's exercises (tests/test_exercises.py runs each self-check against them)."""

WRONG = {
    "ex09-newline-score": [
        ("averaged over every query, also those with no newline before them", """\
def newline_scores(attention, idx, newline_id):
    is_newline = idx == newline_id
    return torch.stack([(a * is_newline[:, None, None, :]).sum(-1).mean(dim=(0, 2)) for a in attention])
""", r"every query"),
        ("the first window only", """\
def newline_scores(attention, idx, newline_id):
    is_newline = idx[:1] == newline_id
    counted = (is_newline.cumsum(dim=-1) > 0)[:, None, :]
    rows = []
    for a in attention:
        mass = (a[:1] * is_newline[:, None, None, :]).sum(-1)
        counted_here = counted.expand_as(mass)
        rows.append((mass * counted_here).sum(dim=(0, 2)) / counted_here.sum(dim=(0, 2)))
    return torch.stack(rows)
""", r"first window"),
        ("heads as rows, layers as columns", """\
def newline_scores(attention, idx, newline_id):
    is_newline = idx == newline_id
    counted = (is_newline.cumsum(dim=-1) > 0)[:, None, :]
    rows = []
    for a in attention:
        mass = (a * is_newline[:, None, None, :]).sum(-1)
        counted_here = counted.expand_as(mass)
        rows.append((mass * counted_here).sum(dim=(0, 2)) / counted_here.sum(dim=(0, 2)))
    return torch.stack(rows, dim=1)
""", r"transposed"),
        ("sums over the queries (dim -2) instead of the keys", """\
def newline_scores(attention, idx, newline_id):
    is_newline = idx == newline_id
    counted = (is_newline.cumsum(dim=-1) > 0)[:, None, :]
    rows = []
    for a in attention:
        mass = (a * is_newline[:, None, :, None]).sum(-2)
        counted_here = counted.expand_as(mass)
        rows.append((mass * counted_here).sum(dim=(0, 2)) / counted_here.sum(dim=(0, 2)))
    return torch.stack(rows)
""", r"queries\* give"),
    ],
    "ex09-worst-head": [
        ("argmin: the head that matters least", """\
worst = divmod(int(ablation.argmin()), c.n_head)
worst_kind = max(scores, key=lambda name: scores[name][worst] / baseline[name])
""", r"argmax of the rises"),
        ("a flat index, not (layer, head)", """\
worst = int(ablation.argmax())
worst_kind = "previous token"
""", r"\(layer, head\) tuple"),
        ("the score on which the head stands out least", """\
worst = divmod(int(ablation.argmax()), c.n_head)
worst_kind = min(scores, key=lambda name: scores[name][worst] / baseline[name])
""", r"stands out most"),
        ("a name that is not a key of scores", """\
worst = divmod(int(ablation.argmax()), c.n_head)
worst_kind = "previous-token"
""", r"not a key of scores"),
    ],
    "ex09-shakespeare-copies": [
        ("targets not shifted", """\
length = c.block_size // 2
repeated = interpret.repeated_random_tokens(16, length, c.vocab_size, torch.Generator().manual_seed(0))
with torch.no_grad():
    losses = F.cross_entropy(model(repeated)[0].transpose(1, 2), repeated, reduction="none")
loss_first_half = losses[:, : length - 1].mean().item()
loss_second_half = losses[:, length:].mean().item()
shakespeare_induction = interpret.induction_scores(model, length, generator=torch.Generator().manual_seed(1))
""", r"not shifted"),
        ("second half starts one target early (the first symbol of the repeat)", """\
length = c.block_size // 2
repeated = interpret.repeated_random_tokens(16, length, c.vocab_size, torch.Generator().manual_seed(0))
with torch.no_grad():
    losses = F.cross_entropy(model(repeated[:, :-1])[0].transpose(1, 2), repeated[:, 1:], reduction="none")
loss_first_half = losses[:, : length - 1].mean().item()
loss_second_half = losses[:, length - 1 :].mean().item()
shakespeare_induction = interpret.induction_scores(model, length, generator=torch.Generator().manual_seed(1))
""", r"off by one"),
        ("first half includes the target at length - 1", """\
length = c.block_size // 2
repeated = interpret.repeated_random_tokens(16, length, c.vocab_size, torch.Generator().manual_seed(0))
with torch.no_grad():
    losses = F.cross_entropy(model(repeated[:, :-1])[0].transpose(1, 2), repeated[:, 1:], reduction="none")
loss_first_half = losses[:, :length].mean().item()
loss_second_half = losses[:, length:].mean().item()
shakespeare_induction = interpret.induction_scores(model, length, generator=torch.Generator().manual_seed(1))
""", r"off by one"),
        ("the toy model's induction scores", """\
length = c.block_size // 2
repeated = interpret.repeated_random_tokens(16, length, c.vocab_size, torch.Generator().manual_seed(0))
with torch.no_grad():
    losses = F.cross_entropy(model(repeated[:, :-1])[0].transpose(1, 2), repeated[:, 1:], reduction="none")
loss_first_half = losses[:, : length - 1].mean().item()
loss_second_half = losses[:, length:].mean().item()
shakespeare_induction = interpret.induction_scores(toy, L, generator=torch.Generator().manual_seed(1))
""", r"toy model's"),
    ],
    "ex09-capitals": [
        ("lowercase rows for the capitals too (forgot .upper())", """\
letters = "abcdefghijklmnopqrstuvwxyz"
lower = [tokenizer.encode(ch)[0] for ch in letters]
cosine = F.normalize(E[lower], dim=1) @ F.normalize(E[lower], dim=1).T
nearest = "".join(letters[i] for i in cosine.argmax(dim=1))
capital_match = sum(a == b for a, b in zip(nearest, letters)) / 26
""", r"upper"),
        ("a count, not a fraction", """\
letters = "abcdefghijklmnopqrstuvwxyz"
lower = [tokenizer.encode(ch)[0] for ch in letters]
upper = [tokenizer.encode(ch.upper())[0] for ch in letters]
cosine = F.normalize(E[upper], dim=1) @ F.normalize(E[lower], dim=1).T
nearest = "".join(letters[i] for i in cosine.argmax(dim=1))
capital_match = sum(a == b for a, b in zip(nearest, letters))
""", r"fraction"),
        ("dot product instead of cosine similarity", """\
letters = "abcdefghijklmnopqrstuvwxyz"
lower = [tokenizer.encode(ch)[0] for ch in letters]
upper = [tokenizer.encode(ch.upper())[0] for ch in letters]
nearest = "".join(letters[i] for i in (E[upper] @ E[lower].T).argmax(dim=1))
capital_match = sum(a == b for a, b in zip(nearest, letters)) / 26
""", r"dot product"),
        ("argmax over the wrong dimension: each lowercase letter's nearest capital", """\
letters = "abcdefghijklmnopqrstuvwxyz"
lower = [tokenizer.encode(ch)[0] for ch in letters]
upper = [tokenizer.encode(ch.upper())[0] for ch in letters]
cosine = F.normalize(E[upper], dim=1) @ F.normalize(E[lower], dim=1).T
nearest = "".join(letters[i] for i in cosine.argmax(dim=0))
capital_match = sum(a == b for a, b in zip(nearest, letters)) / 26
""", r"dim 0"),
    ],
}
