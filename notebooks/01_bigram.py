# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/01_bigram.ipynb)
#
# # 01 · The bigram model
#
# The simplest language model looks only at the current character to guess the next one. It is a single
# table, yet it already has everything a GPT has around it: logits, a cross-entropy loss, a training
# loop, and sampling.
#
# **You will learn**
# - the bigram model: an embedding table used directly as next-token logits;
# - cross-entropy, and why the loss of a clueless model is ln(vocab_size);
# - a training loop written by hand, with a live loss curve;
# - sampling text, before and after training.
#
# **You need** from 00: the character vocabulary, train/val split and `get_batch`
# (now `nanogpt_lib.Corpus` and `nanogpt_lib.get_batch`).

# %%
# In Colab, install nanogpt_lib from the project's repository; locally it is already installed.
import sys

if "google.colab" in sys.modules:
    # %pip install -q "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"

from nanogpt_lib.notebook import setup

setup()  # seeds, small inline figures; loads the corpus (downloads it the first time)

# %%
# NBVAL_CHECK_OUTPUT
import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from nanogpt_lib import Corpus, History, LiveLossPlot, get_batch, load_text
from nanogpt_lib.notebook import pick

corpus = Corpus.from_text(load_text())
encode, decode = corpus.tokenizer.encode, corpus.tokenizer.decode
vocab_size = corpus.vocab_size
xb, yb = get_batch(corpus.train, 4, 8, torch.Generator().manual_seed(0))
print(vocab_size, xb.shape, yb.shape)


# %% [markdown]
# ## The model
#
# An `nn.Embedding(vocab_size, vocab_size)` is a table with one row per character. We read the row of the
# current character and use it **as the logits** (unnormalised log-probabilities) of the next one.
# Softmax turns logits into probabilities; the loss is the cross-entropy, the mean of
# −log p(correct next character) over every position of every window.

# %%
class BigramLanguageModel(nn.Module):
    """Next-character logits straight from a (vocab_size x vocab_size) table."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
        logits = self.token_embedding_table(idx)  # (B, T, vocab_size)
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        return logits, F.cross_entropy(logits.reshape(B * T, C), targets.reshape(B * T))

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, generator=None):
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -1:])  # only the last character matters
            probs = F.softmax(logits[:, -1, :], dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


torch.manual_seed(1337)
model = BigramLanguageModel(vocab_size)
logits, loss = model(xb, yb)
print(logits.shape, f"loss {loss.item():.3f}")

# %% [markdown]
# ## The loss at initialisation
#
# A model that knows nothing spreads its bet evenly: p = 1/65 for every character, so the loss is
# −ln(1/65) = ln(65). Our random table does slightly *worse*: its logits are random numbers, so it is
# confidently wrong about some characters. With all-zero logits we get ln(65) exactly.

# %%
# NBVAL_CHECK_OUTPUT
print(f"ln(vocab_size) = {math.log(vocab_size):.4f}")
zeros = torch.zeros(4, 8, vocab_size)
print(f"loss of all-zero logits = {F.cross_entropy(zeros.view(-1, vocab_size), yb.reshape(-1)).item():.4f}")

# %% [markdown]
# Samples from the untrained model are random characters:

# %%
start = torch.zeros((1, 1), dtype=torch.long)  # id 0 is the newline character
print(decode(model.generate(start, 200, generator=torch.Generator().manual_seed(0))[0].tolist()))

# %% [markdown]
# ## Training by hand
#
# The loop is always the same: draw a batch, compute the loss, backpropagate, let the optimizer nudge the
# weights. Every `eval_interval` steps we measure the mean loss over several batches of *both* splits, in
# evaluation mode and without gradients: a single batch's loss is too noisy to compare.
#
# `LiveLossPlot` redraws the curve in place while the loop runs; we record the steps in a `History`,
# the same record the library's `train` keeps.

# %%
max_iters = pick(real=3000, fast=100)
eval_interval = pick(real=300, fast=50)
eval_iters = pick(real=50, fast=5)
batch_size, block_size, learning_rate = 32, 8, 1e-2


@torch.no_grad()
def evaluate(model: nn.Module) -> dict:
    """Mean loss over `eval_iters` batches of each split (the same batches every time)."""
    model.eval()
    out = {}
    for split, data in (("train", corpus.train), ("val", corpus.val)):
        gen = torch.Generator().manual_seed(1)
        losses = [model(*get_batch(data, batch_size, block_size, gen))[1] for _ in range(eval_iters)]
        out[split] = torch.stack(losses).mean().item()
    model.train()
    return out


init_losses = evaluate(model)
optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
history, live = History(), LiveLossPlot("Bigram, trained by hand")
gen = torch.Generator().manual_seed(1337)
for step in range(max_iters):
    xb, yb = get_batch(corpus.train, batch_size, block_size, gen)
    logits, loss = model(xb, yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    history.step.append(step)
    history.train_loss.append(loss.item())
    history.lr.append(learning_rate)
    if (step + 1) % eval_interval == 0:
        losses = evaluate(model)
        history.eval_step.append(step + 1)
        history.eval_train_loss.append(losses["train"])
        history.eval_val_loss.append(losses["val"])
        live(step + 1, history)
print(f"before: {init_losses}\nafter:  {evaluate(model)}")

# %% [markdown]
# The loss falls from about 4.7 to about 2.5 and stops there: that is as good as a table of
# character-pair statistics gets. The learning rate is constant here (the right panel); notebook 05 shows
# why real runs warm it up and then decay it.
#
# Now the samples have the *shape* of Shakespeare (names, line breaks, short words) but no sense: each
# character only knows its predecessor.

# %%
print(decode(model.generate(start, 300, generator=torch.Generator().manual_seed(0))[0].tolist()))

# %% [markdown]
# ## Check
#
# `nanogpt_lib.BigramLanguageModel` is the same model. Given our weights, it must compute the same logits
# and loss, and sample the same text from the same random generator.

# %%
import nanogpt_lib

lib_model = nanogpt_lib.BigramLanguageModel(vocab_size)
lib_model.load_state_dict(model.state_dict())
xb, yb = get_batch(corpus.val, 8, 16, torch.Generator().manual_seed(2))
ours, theirs = model(xb, yb), lib_model(xb, yb)
torch.testing.assert_close(ours[0], theirs[0])
torch.testing.assert_close(ours[1], theirs[1])

ours_text = model.generate(start, 100, generator=torch.Generator().manual_seed(3))
lib_text = lib_model.generate(start, 100, generator=torch.Generator().manual_seed(3))
assert torch.equal(ours_text, lib_text)

final = evaluate(model)
assert final["val"] < init_losses["val"] - 0.1, "training should lower the validation loss"
print("all checks passed")

# %% [markdown]
# ## Exercises
#
# **1. Count instead of train.** A bigram table can also be *counted*. Build `counts`, a
# `(vocab_size, vocab_size)` tensor where `counts[i, j]` is how often id `j` follows id `i` in
# `corpus.train`. Turn it into probabilities `probs` (add 1 to every count first, so nothing has
# probability 0), and compute `count_val_loss`, the mean −log p of every next character in `corpus.val`.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex01-count-bigram", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# counts, probs: (vocab_size, vocab_size) tensors; count_val_loss: float
### BEGIN SOLUTION
pairs = corpus.train[:-1] * vocab_size + corpus.train[1:]
counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
probs = (counts + 1).float()
probs = probs / probs.sum(dim=1, keepdim=True)
count_val_loss = -probs[corpus.val[:-1], corpus.val[1:]].log().mean().item()
### END SOLUTION

# %% tags=["self-check"]
assert counts.shape == probs.shape == (vocab_size, vocab_size)
assert counts.sum() == len(corpus.train) - 1
torch.testing.assert_close(probs.sum(dim=1), torch.ones(vocab_size))
q, u = encode("qu")
assert probs[q].argmax() == u
print(f"counted bigram: val loss {count_val_loss:.4f}; trained: {evaluate(model)['val']:.4f}")
assert count_val_loss < math.log(vocab_size) - 1.0


# %% [markdown]
# Trained long enough, gradient descent finds (almost) the same table as counting: the loss of the counted
# model is the floor for any bigram model.
#
# **2. Greedy decoding.** Write `greedy(model, idx, max_new_tokens)` that always appends the *most likely*
# next token instead of sampling. Look at its output: why does greedy decoding get stuck in a loop?

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex01-greedy", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def greedy(model, idx, max_new_tokens) -> torch.Tensor: ...
### BEGIN SOLUTION
@torch.no_grad()
def greedy(model, idx, max_new_tokens):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -1:])
        idx = torch.cat((idx, logits[:, -1, :].argmax(dim=-1, keepdim=True)), dim=1)
    return idx
### END SOLUTION


# %% tags=["self-check"]
prompt = torch.tensor([encode("ROMEO")])
out = greedy(model, prompt, 40)
assert out.shape == (1, 45)
# temperature 0 in the library means "always the most likely token" (a bigram only needs the last one)
assert torch.equal(out[:, 4:], lib_model.generate(prompt[:, -1:], 40, temperature=0))
print(repr(decode(out[0].tolist())))

# %% [markdown]
# ## What's next
#
# The bigram model ignores everything but the last character. In **02_self_attention** the characters of a
# context start to talk to each other: first by plain averaging, then by *attention*.
