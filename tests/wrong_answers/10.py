"""Typical wrong answers to notebook 10's exercises (tests/test_exercises.py runs each self-check against them)."""

WRONG = {
    "ex10-last-reply": [
        ("every assistant turn counts, not only the last", """\
def last_reply_targets(messages):
    return conversation_tensors(tok, messages)
""", r"every assistant turn counts"),
        ("<|assistant|> counted as a target", """\
def last_reply_targets(messages):
    ids, written = tok.render_with_mask(messages)
    start = len(ids) - 1
    while ids[start] != tok.assistant_id:
        start -= 1
    x = torch.tensor(ids[:-1])
    y = torch.tensor([s if i + 1 >= start else -1 for i, s in enumerate(ids[1:])])
    return x, y
""", r"<\|assistant\|> is a target"),
        ("the reply's <|end|> left out", """\
def last_reply_targets(messages):
    ids, written = tok.render_with_mask(messages)
    start = len(ids) - 1
    while ids[start - 1] != tok.assistant_id:
        start -= 1
    x = torch.tensor(ids[:-1])
    y = torch.tensor([s if (w and i + 1 >= start and s != tok.end_id) else -1
                      for i, (s, w) in enumerate(zip(ids[1:], written[1:]))])
    return x, y
""", r"<\|end\|> must be a target"),
        ("the mask aligned with the inputs, not the targets (shifted by one)", """\
def last_reply_targets(messages):
    ids, written = tok.render_with_mask(messages)
    start = len(ids) - 1
    while ids[start - 1] != tok.assistant_id:
        start -= 1
    x = torch.tensor(ids[:-1])
    y = torch.tensor([s if (written[i] and i >= start) else -1 for i, s in enumerate(ids[1:])])
    return x, y
""", r"shifted by one"),
        ("x is every id, not ids[:-1]", """\
def last_reply_targets(messages):
    ids, written = tok.render_with_mask(messages)
    start = len(ids) - 1
    while ids[start - 1] != tok.assistant_id:
        start -= 1
    y = torch.tensor([s if (w and i + 1 >= start) else -1 for i, (s, w) in enumerate(zip(ids[1:], written[1:]))])
    return torch.tensor(ids), y
""", r"ids\[:-1\]"),
    ],
    "ex10-rloo": [
        ("GRPO's group mean, which includes the reply itself", """\
def rloo_advantages(rewards):
    return rewards - rewards.mean(dim=1, keepdim=True)
""", r"includes the reply itself"),
        ("one baseline for the whole batch", """\
def rloo_advantages(rewards):
    n = rewards.numel()
    return rewards - (rewards.sum() - rewards) / (n - 1)
""", r"whole batch"),
        ("the groups taken along the wrong dimension", """\
def rloo_advantages(rewards):
    P = rewards.size(0)
    return rewards - (rewards.sum(dim=0, keepdim=True) - rewards) / (P - 1)
""", r"over the prompts"),
        ("divides the sum of the others by G", """\
def rloo_advantages(rewards):
    G = rewards.size(1)
    return rewards - (rewards.sum(dim=1, keepdim=True) - rewards) / G
""", r"G - 1 others"),
        ("baseline minus reward", """\
def rloo_advantages(rewards):
    G = rewards.size(1)
    return (rewards.sum(dim=1, keepdim=True) - rewards) / (G - 1) - rewards
""", r"sign is reversed"),
    ],
    "ex10-exact-kl": [
        ("KL(π_ref ‖ π): weighted by the reference", """\
def exact_kl(logp_all, ref_all, mask):
    kl = (ref_all.exp() * (ref_all - logp_all)).sum(dim=-1)
    return (kl * mask).sum().item() / mask.sum().item()
""", r"KL\(π_ref ‖ π\)"),
        ("averaged over every position, the prompt's and padding included", """\
def exact_kl(logp_all, ref_all, mask):
    return (logp_all.exp() * (logp_all - ref_all)).sum(dim=-1).mean().item()
""", r"every position"),
        ("summed over the positions instead of averaged", """\
def exact_kl(logp_all, ref_all, mask):
    return ((logp_all.exp() * (logp_all - ref_all)).sum(dim=-1) * mask).sum().item()
""", r"take the mean"),
        ("log-ratios summed without the weights π(v)", """\
def exact_kl(logp_all, ref_all, mask):
    kl = (logp_all - ref_all).sum(dim=-1)
    return (kl * mask).sum().item() / mask.sum().item()
""", r"weighted by π\(v\)"),
        ("returns a tensor, not a float", """\
def exact_kl(logp_all, ref_all, mask):
    kl = (logp_all.exp() * (logp_all - ref_all)).sum(dim=-1)
    return (kl * mask).sum() / mask.sum()
""", r"return a float"),
    ],
    "ex10-pass-at-k": [
        ("the share of correct samples, not whether any is correct", """\
def pass_at_k(sample, examples, k):
    prompts = [tok.render_prompt(e.conversation(with_answer=False)) for e in examples for _ in range(k)]
    replies = sample(prompts)
    right = {}
    for i, e in enumerate(examples):
        group = replies[i * k : (i + 1) * k]
        right.setdefault(e.task, []).extend(done and check(e, tok.decode(ids)) for ids, done in group)
    return {task: sum(v) / len(v) for task, v in right.items()}
""", r"ANY of its k replies"),
        ("a reply without <|end|> counted as correct", """\
def pass_at_k(sample, examples, k):
    prompts = [tok.render_prompt(e.conversation(with_answer=False)) for e in examples for _ in range(k)]
    replies = sample(prompts)
    solved = {}
    for i, e in enumerate(examples):
        group = replies[i * k : (i + 1) * k]
        solved.setdefault(e.task, []).append(any(check(e, tok.decode(ids)) for ids, _ in group))
    return {task: sum(v) / len(v) for task, v in solved.items()}
""", r"never reached <\|end\|>"),
        ("one sample per question: k ignored", """\
def pass_at_k(sample, examples, k):
    replies = sample([tok.render_prompt(e.conversation(with_answer=False)) for e in examples])
    solved = {}
    for e, (ids, done) in zip(examples, replies):
        solved.setdefault(e.task, []).append(done and check(e, tok.decode(ids)))
    return {task: sum(v) / len(v) for task, v in solved.items()}
""", r"k samples per question"),
        ("one number for all tasks", """\
def pass_at_k(sample, examples, k):
    prompts = [tok.render_prompt(e.conversation(with_answer=False)) for e in examples for _ in range(k)]
    replies = sample(prompts)
    solved = [any(done and check(e, tok.decode(ids)) for ids, done in replies[i * k : (i + 1) * k])
              for i, e in enumerate(examples)]
    return sum(solved) / len(solved)
""", r"one share per task"),
    ],
}
