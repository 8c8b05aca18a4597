"""Typical wrong answers to notebook 01's exercises (tests/test_exercises.py runs each self-check against them)."""

WRONG = {
    "ex01-count-bigram": [
        ("targets not shifted: each id paired with itself", """\
pairs = corpus.train * vocab_size + corpus.train
counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
probs = (counts + 1).float()
probs = probs / probs.sum(dim=1, keepdim=True)
count_val_loss = -probs[corpus.val[:-1], corpus.val[1:]].log().mean().item()
""", r"paired with the next one"),
        ("counts transposed: next * V + current", """\
pairs = corpus.train[1:] * vocab_size + corpus.train[:-1]
counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
probs = (counts + 1).float()
probs = probs / probs.sum(dim=1, keepdim=True)
count_val_loss = -probs[corpus.val[:-1], corpus.val[1:]].log().mean().item()
""", r"transposed"),
        ("normalised over the wrong dimension (columns)", """\
pairs = corpus.train[:-1] * vocab_size + corpus.train[1:]
counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
probs = (counts + 1).float()
probs = probs / probs.sum(dim=0, keepdim=True)
count_val_loss = -probs[corpus.val[:-1], corpus.val[1:]].log().mean().item()
""", r"dim=1"),
        ("no +1 smoothing", """\
pairs = corpus.train[:-1] * vocab_size + corpus.train[1:]
counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
probs = counts.float() / counts.sum(dim=1, keepdim=True)
count_val_loss = -probs[corpus.val[:-1], corpus.val[1:]].log().mean().item()
""", r"add 1"),
        ("loss measured on the training text", """\
pairs = corpus.train[:-1] * vocab_size + corpus.train[1:]
counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
probs = (counts + 1).float()
probs = probs / probs.sum(dim=1, keepdim=True)
count_val_loss = -probs[corpus.train[:-1], corpus.train[1:]].log().mean().item()
""", r"corpus\.train: use corpus\.val"),
        ("forgot the minus sign", """\
pairs = corpus.train[:-1] * vocab_size + corpus.train[1:]
counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
probs = (counts + 1).float()
probs = probs / probs.sum(dim=1, keepdim=True)
count_val_loss = probs[corpus.val[:-1], corpus.val[1:]].log().mean().item()
""", r"minus sign"),
    ],
    "ex01-greedy": [
        ("samples instead of taking the most likely token", """\
@torch.no_grad()
def greedy(model, idx, max_new_tokens):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -1:])
        probs = F.softmax(logits[:, -1, :], dim=-1)
        idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
    return idx
""", r"don't sample"),
        ("argmax over the batch dimension", """\
@torch.no_grad()
def greedy(model, idx, max_new_tokens):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -1:])
        idx = torch.cat((idx, logits[:, -1, :].argmax(dim=0, keepdim=True)), dim=1)
    return idx
""", r"dim=-1"),
        ("the next token from the first position's logits", """\
@torch.no_grad()
def greedy(model, idx, max_new_tokens):
    for _ in range(max_new_tokens):
        logits, _ = model(idx)
        idx = torch.cat((idx, logits[:, 0, :].argmax(dim=-1, keepdim=True)), dim=1)
    return idx
""", r"last|token before it"),
        ("returns only the new tokens", """\
@torch.no_grad()
def greedy(model, idx, max_new_tokens):
    new = []
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -1:])
        idx = torch.cat((idx, logits[:, -1, :].argmax(dim=-1, keepdim=True)), dim=1)
        new.append(idx[:, -1:])
    return torch.cat(new, dim=1)
""", r"prompt"),
    ],
    "ex01-temperature": [
        ("multiplies the logits by τ", """\
with torch.no_grad():
    val_logits = model.token_embedding_table.weight[corpus.val[:-1]]
    val_loss_at = {tau: F.cross_entropy(val_logits * tau, corpus.val[1:]).item() for tau in taus}
""", r"multiplied the logits"),
        ("divides the loss instead of the logits", """\
with torch.no_grad():
    val_logits = model.token_embedding_table.weight[corpus.val[:-1]]
    val_loss_at = {tau: F.cross_entropy(val_logits, corpus.val[1:]).item() / tau for tau in taus}
""", r"divided the loss"),
        ("targets not shifted", """\
with torch.no_grad():
    val_logits = model.token_embedding_table.weight[corpus.val[:-1]]
    val_loss_at = {tau: F.cross_entropy(val_logits / tau, corpus.val[:-1]).item() for tau in taus}
""", r"next ones"),
        ("keys are strings", """\
with torch.no_grad():
    val_logits = model.token_embedding_table.weight[corpus.val[:-1]]
    val_loss_at = {str(tau): F.cross_entropy(val_logits / tau, corpus.val[1:]).item() for tau in taus}
""", r"keyed by the float"),
    ],
}
