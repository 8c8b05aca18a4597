"""Typical wrong answers to notebook 04's exercises (tests/test_exercises.py runs each self-check against them)."""
WRONG = {
    "ex04-top-k": [
        ("<= instead of <: the k-th largest itself dropped", """\
def top_k_logits(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits <= kth, float("-inf"))
""", r"4 tokens kept"),
        ("the largest value as the threshold, not the k-th", """\
def top_k_logits(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[:, :1]
    return logits.masked_fill(logits < kth, float("-inf"))
""", r"only the largest"),
        ("one threshold for the whole batch", """\
def top_k_logits(logits, k):
    kth = torch.topk(logits.flatten(), k).values[-1]
    return logits.masked_fill(logits < kth, float("-inf"))
""", r"each row's own"),
        ("dropped tokens set to 0 instead of -inf", """\
def top_k_logits(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, 0.0)
""", r"no -inf"),
        ("probabilities returned instead of logits", """\
def top_k_logits(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return F.softmax(logits.masked_fill(logits < kth, float("-inf")), dim=-1)
""", r"not probabilities"),
    ],
    "ex04-params-with-bias": [
        ("lm_head counted as a matrix of its own", """\
def gpt_params_with_bias(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    per_block = 12 * C * C + 9 * C + 4 * C
    return 2 * vocab_size * C + block_size * C + n_layer * per_block + 2 * C
""", r"tied"),
        ("the final LayerNorm's bias forgotten", """\
def gpt_params_with_bias(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    per_block = 12 * C * C + 9 * C + 4 * C
    return vocab_size * C + block_size * C + n_layer * per_block + C
""", r"final LayerNorm"),
        ("the MLP's biases forgotten", """\
def gpt_params_with_bias(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    per_block = 12 * C * C + 4 * C + 4 * C
    return vocab_size * C + block_size * C + n_layer * per_block + 2 * C
""", r"MLP's two Linear layers have biases"),
        ("c_attn's bias counted as C, not 3C", """\
def gpt_params_with_bias(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    per_block = 12 * C * C + 7 * C + 4 * C
    return vocab_size * C + block_size * C + n_layer * per_block + 2 * C
""", r"c_attn's bias"),
    ],
    "ex04-nucleus-sizes": [
        ("one token short: the token that crosses p is left out", """\
def nucleus_sizes(logits, p):
    ranked = F.softmax(logits, dim=-1).sort(dim=-1, descending=True).values
    return (ranked.cumsum(dim=-1) < p).sum(dim=-1)


sizes = nucleus_sizes(val_logits, 0.9)
share_sure = (sizes == 1).float().mean().item()
share_wider = (sizes > 5).float().mean().item()
""", r"one token short"),
        ("probabilities not sorted", """\
def nucleus_sizes(logits, p):
    probs = F.softmax(logits, dim=-1)
    return ((probs.cumsum(dim=-1) - probs) < p).sum(dim=-1)


sizes = nucleus_sizes(val_logits, 0.9)
share_sure = (sizes == 1).float().mean().item()
share_wider = (sizes > 5).float().mean().item()
""", r"not sorted"),
        ("sorted smallest first", """\
def nucleus_sizes(logits, p):
    ranked = F.softmax(logits, dim=-1).sort(dim=-1).values
    return ((ranked.cumsum(dim=-1) - ranked) < p).sum(dim=-1)


sizes = nucleus_sizes(val_logits, 0.9)
share_sure = (sizes == 1).float().mean().item()
share_wider = (sizes > 5).float().mean().item()
""", r"smallest first"),
        ("no softmax: logits summed as if they were probabilities", """\
def nucleus_sizes(logits, p):
    ranked = logits.sort(dim=-1, descending=True).values
    return ((ranked.cumsum(dim=-1) - ranked) < p).sum(dim=-1).clamp(min=1)


sizes = nucleus_sizes(val_logits, 0.9)
share_sure = (sizes == 1).float().mean().item()
share_wider = (sizes > 5).float().mean().item()
""", r"probabilities first"),
        ("share_wider counts the positions where top-p keeps fewer than 5", """\
def nucleus_sizes(logits, p):
    ranked = F.softmax(logits, dim=-1).sort(dim=-1, descending=True).values
    return ((ranked.cumsum(dim=-1) - ranked) < p).sum(dim=-1)


sizes = nucleus_sizes(val_logits, 0.9)
share_sure = (sizes == 1).float().mean().item()
share_wider = (sizes < 5).float().mean().item()
""", r"more than 5 tokens"),
    ],
}
