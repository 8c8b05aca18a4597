"""Typical wrong answers to notebook 00's exercises (tests/test_exercises.py runs each self-check against them)."""

WRONG = {
    "ex00-followers": [
        ("counts the characters before ch, not after", """\
def followers(ids: torch.Tensor, ch: str) -> dict[str, int]:
    before = ids[:-1][ids[1:] == stoi[ch]]
    return dict(Counter(decode(before)))
""", r"before"),
        ("counts ch itself", """\
def followers(ids: torch.Tensor, ch: str) -> dict[str, int]:
    return dict(Counter(decode(ids[ids == stoi[ch]])))
""", r"counts ch itself"),
        ("keeps zero counts for characters that never follow", """\
def followers(ids: torch.Tensor, ch: str) -> dict[str, int]:
    after = ids[1:][ids[:-1] == stoi[ch]]
    return {c: int((after == stoi[c]).sum()) for c in chars}
""", r"zero counts"),
        ("ids as keys instead of characters", """\
def followers(ids: torch.Tensor, ch: str) -> dict[str, int]:
    after = ids[1:][ids[:-1] == stoi[ch]]
    return dict(Counter(after.tolist()))
""", r"keys should be characters"),
        ("a loop that reads past the end", """\
def followers(ids: torch.Tensor, ch: str) -> dict[str, int]:
    out = {}
    for i in range(len(ids)):
        if ids[i] == stoi[ch]:
            nxt = itos[int(ids[i + 1])]
            out[nxt] = out.get(nxt, 0) + 1
    return out
""", r"past the end"),
    ],
    "ex00-safe-encode": [
        ("drops unknown characters", """\
def safe_encode(s: str) -> list[int]:
    return [stoi[c] for c in s if c in stoi]
""", r"not dropped"),
        ("maps unknown characters to id 0 (the newline)", """\
def safe_encode(s: str) -> list[int]:
    return [stoi.get(c, 0) for c in s]
""", r"id of a space"),
        ("puts the character ' ' in the list instead of its id", """\
def safe_encode(s: str) -> list[int]:
    return [stoi.get(c, " ") for c in s]
""", r"ids \(ints\)"),
        ("turns the whole string into spaces when one character is unknown", """\
def safe_encode(s: str) -> list[int]:
    try:
        return encode(s)
    except KeyError:
        return [stoi[" "]] * len(s)
""", r"keep their own ids"),
    ],
    "ex00-context-entropy": [
        ("the joint entropy, without subtracting H(context)", """\
entropy, seen = [], []
for k in range(K + 1):
    ctx = context_codes(train_data, k)
    entropy.append(plug_in_entropy(ctx * vocab_size + train_data[K:]))
    seen.append(torch.isin(context_codes(val_data, k), ctx).double().mean().item())
""", r"subtract H\(context\)"),
        ("subtracts H(next) instead of H(context)", """\
entropy, seen = [], []
for k in range(K + 1):
    ctx = context_codes(train_data, k)
    entropy.append(plug_in_entropy(ctx * vocab_size + train_data[K:]) - plug_in_entropy(train_data[K:]))
    seen.append(torch.isin(context_codes(val_data, k), ctx).double().mean().item())
""", r"subtracted H\(next\)"),
        ("joint code without the base: ctx + next collides", """\
entropy, seen = [], []
for k in range(K + 1):
    ctx = context_codes(train_data, k)
    entropy.append(plug_in_entropy(ctx + train_data[K:]) - plug_in_entropy(ctx))
    seen.append(torch.isin(context_codes(val_data, k), ctx).double().mean().item())
""", r"ctx \* vocab_size \+ next"),
        ("seen over distinct validation contexts, not positions", """\
entropy, seen = [], []
for k in range(K + 1):
    ctx = context_codes(train_data, k)
    entropy.append(plug_in_entropy(ctx * vocab_size + train_data[K:]) - plug_in_entropy(ctx))
    seen.append(torch.isin(context_codes(val_data, k).unique(), ctx).double().mean().item())
""", r"distinct contexts"),
        ("isin the wrong way round: train positions seen in val", """\
entropy, seen = [], []
for k in range(K + 1):
    ctx = context_codes(train_data, k)
    entropy.append(plug_in_entropy(ctx * vocab_size + train_data[K:]) - plug_in_entropy(ctx))
    seen.append(torch.isin(ctx, context_codes(val_data, k)).double().mean().item())
""", r"not the other way round"),
    ],
}
