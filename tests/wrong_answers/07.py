"""Typical wrong answers to notebook 07's exercises (tests/test_exercises.py runs each self-check against them)."""

WRONG = {
    "gpt2-translate-key": [
        ("skips every key ending in attn.bias, c_attn.bias included (suffix without its dot)", """\
if key.endswith(("attn.bias", "attn.masked_bias")) or key == "lm_head.weight":
    return None
if not key.startswith("transformer."):
    key = "transformer." + key
return key, key.endswith(CONV1D)
""", r"c_attn\.bias is a weight"),
        ("adds the prefix even when the key has it", """\
if key.endswith((".attn.bias", ".attn.masked_bias")) or key == "lm_head.weight":
    return None
key = "transformer." + key
return key, key.endswith(CONV1D)
""", r"already"),
        ("never adds the missing transformer. prefix", """\
if key.endswith((".attn.bias", ".attn.masked_bias")) or key == "lm_head.weight":
    return None
return key, key.endswith(CONV1D)
""", r"no 'transformer\.' prefix"),
        ("transposes every weight matrix, not only the four Conv1D ones", """\
if key.endswith((".attn.bias", ".attn.masked_bias")) or key == "lm_head.weight":
    return None
if not key.startswith("transformer."):
    key = "transformer." + key
return key, key.endswith(".weight")
""", r"Conv1D"),
        ("keeps lm_head.weight, which is tied to wte", """\
if key.endswith((".attn.bias", ".attn.masked_bias")):
    return None
if not key.startswith("transformer.") and not key.startswith("lm_head"):
    key = "transformer." + key
return key, key.endswith(CONV1D)
""", r"tied"),
    ],
    "gpt2-bits-per-char": [
        ("stays in nats (no division by ln 2)", """\
return loss * n_tokens / n_chars
""", r"nats"),
        ("multiplies by ln 2 instead of dividing", """\
return loss * n_tokens * math.log(2) / n_chars
""", r"multiplied by ln 2"),
        ("bits per token, not per character", """\
return loss / math.log(2)
""", r"per token"),
        ("tokens and characters swapped", """\
return loss * n_chars / math.log(2) / n_tokens
""", r"swapped"),
    ],
    "gpt2-loss-by-position": [
        ("targets not shifted: the model is asked for the token it was given", """\
def loss_by_position(model, ids, T):
    n = (len(ids) - 1) // T
    x = ids[: n * T].view(n, T)
    with torch.no_grad():
        logits = model(x)[0]
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), x, reduction="none").mean(0)
""", r"shift"),
        ("mean over positions (dim 1) instead of over windows", """\
def loss_by_position(model, ids, T):
    n = (len(ids) - 1) // T
    x, y = ids[: n * T].view(n, T), ids[1 : n * T + 1].view(n, T)
    with torch.no_grad():
        logits = model(x)[0]
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)
""", r"over the windows"),
        ("sum over the windows instead of the mean", """\
def loss_by_position(model, ids, T):
    n = (len(ids) - 1) // T
    x, y = ids[: n * T].view(n, T), ids[1 : n * T + 1].view(n, T)
    with torch.no_grad():
        logits = model(x)[0]
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").sum(0)
""", r"sum"),
        ("in bits instead of nats", """\
def loss_by_position(model, ids, T):
    n = (len(ids) - 1) // T
    x, y = ids[: n * T].view(n, T), ids[1 : n * T + 1].view(n, T)
    with torch.no_grad():
        logits = model(x)[0]
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(0) / math.log(2)
""", r"nats"),
    ],
}
