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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/02_self_attention.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/02_self_attention.ipynb)
#
# # 02 · Self-attention
#
# A token should be able to use everything before it, never anything after it. Self-attention does this
# with a weighted average of the past, where the weights are computed from the tokens themselves.
#
# **You will learn**
# - the "mathematical trick": averaging over past tokens with a loop, with a lower-triangular matrix
#   multiplication, and with a masked softmax, all equal;
# - one causal attention head, $\operatorname{softmax}\!\big(QK^\top/\sqrt{d}\big)V$: queries, keys, values, the
#   causal mask, and the $1/\sqrt{d}$ scaling (with the variance argument behind it);
# - what a trained head looks at, as an attention-map picture, and how to measure it.
#
# **You need** from 01: logits, cross-entropy and a training loop. We now train with the library's
# `train` (the same loop plus evaluation; notebook 04 trains the GPT with it and explains its pieces briefly,
# and notebook 05 goes through training at scale).

# %%
# In Colab, install nanogpt_lib from the project's repository; locally it is already installed.
import sys

if "google.colab" in sys.modules:
    # %pip install -q "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"

from nanogpt_lib.notebook import setup

setup()  # seeds, small inline figures; loads the corpus (downloads it the first time)

# %% [markdown]
# ## The trick: averaging the past
#
# Take a toy batch: `B` sequences of `T` tokens, each token a vector of `C` channels. The simplest way for
# token `t` to gather information from its past is the mean of tokens `0..t`. Version 1, a loop:

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from torch.nn import functional as F

torch.manual_seed(1337)
B, T, C = 4, 8, 2
x = torch.randn(B, T, C)

xbow = torch.zeros(B, T, C)  # "bag of words": the mean of everything so far
for b in range(B):
    for t in range(T):
        xbow[b, t] = x[b, : t + 1].mean(dim=0)
print(x[0], xbow[0], sep="\n")

# %% [markdown]
# Version 2: the same averages as **one matrix multiplication**. The output at position $t$ is
# $\bar{x}_t = \frac{1}{t+1} \sum_{s \le t} x_s = \sum_s W_{ts}\, x_s$ with the averaging matrix
#
# $$W_{ts} = \begin{cases} \frac{1}{t+1} & s \le t \\ 0 & s > t \end{cases}
# \qquad\text{e.g. for } T = 3:\quad W = \begin{pmatrix} 1 & 0 & 0 \\ \frac12 & \frac12 & 0 \\
# \frac13 & \frac13 & \frac13 \end{pmatrix}.$$
#
# In code: row `t` of a lower-triangular matrix of ones has ones at columns `0..t`; dividing each row by its
# sum gives $W$. `wei @ x` is then `(T, T) @ (B, T, C) → (B, T, C)`, broadcast over the batch.

# %%
tril = torch.tril(torch.ones(T, T))
wei = tril / tril.sum(dim=1, keepdim=True)
xbow2 = wei @ x
print(wei)

# %% [markdown]
# Version 3: start from **scores** $a_{ts}$ (all zero here), set the future to $-\infty$, and take a softmax
# per row — a **masked softmax**:
#
# $$W_{ts} = \frac{e^{a_{ts}}}{\sum_{s' \le t} e^{a_{ts'}}} \text{ for } s \le t, \qquad W_{ts} = 0
# \text{ for } s > t \quad (\text{because } e^{-\infty} = 0).$$
#
# With all scores equal, the past shares the weight equally: $W$ is the averaging matrix again. This is the
# form attention uses: once the scores depend on the data, tokens can decide *how much* each past token
# matters.

# %%
scores = torch.zeros(T, T)
scores = scores.masked_fill(tril == 0, float("-inf"))
wei3 = F.softmax(scores, dim=-1)
xbow3 = wei3 @ x

torch.testing.assert_close(xbow, xbow2)
torch.testing.assert_close(xbow, xbow3)
print("loop == triangular matmul == masked softmax")

# %% [markdown]
# The three steps on scores that are *not* all equal (random numbers standing in for $q \cdot k$): each row
# is one query position $t$; masking blanks out the keys after it; the softmax turns what is left of the row
# into weights that sum to 1.

# %%
from nanogpt_lib.plot import diagrams

diagrams.causal_mask(torch.randn(5, 5, generator=torch.Generator().manual_seed(3)))


# %% [markdown]
# ## One head of self-attention
#
# Every token emits three vectors of size `head_size`, through three linear maps:
# - a **query**: what am I looking for?
# - a **key**: what do I contain?
# - a **value**: what do I pass on if you attend to me?
#
# In matrix form, for the $T$ tokens of one sequence $X \in \mathbb{R}^{T \times C}$, with learned
# $W_Q, W_K, W_V \in \mathbb{R}^{C \times d}$ ($d$ = `head_size`):
#
# $$Q = X W_Q, \quad K = X W_K, \quad V = X W_V, \qquad
# \operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\Big(\frac{Q K^\top}{\sqrt{d}} + M\Big) V,$$
#
# where the mask $M$ has $0$ at $s \le t$ and $-\infty$ at $s > t$ and the softmax runs along each row. The
# score of token $t$ for token $s$ is the dot product $q_t \cdot k_s$ (scaled: see below); the output of
# token $t$ is the weighted sum of the values of tokens $0..t$. With a batch, every tensor gets a leading
# $B$ dimension and each sequence is processed on its own:

# %%
diagrams.attention_flow(B=4, T=8, C=32, head_size=16)

# %% [markdown]
# The same in code:

# %%
class Head(nn.Module):
    """One head of causal self-attention."""

    def __init__(self, n_embd: int, head_size: int, block_size: int):
        super().__init__()
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        mask = torch.tril(torch.ones(block_size, block_size, dtype=torch.bool))
        self.register_buffer("tril", mask, persistent=False)

    def attention_weights(self, x):
        T, head_size = x.size(1), self.key.out_features
        scores = self.query(x) @ self.key(x).transpose(-2, -1) / math.sqrt(head_size)  # (B, T, T)
        scores = scores.masked_fill(~self.tril[:T, :T], float("-inf"))
        return F.softmax(scores, dim=-1)

    def forward(self, x):
        return self.attention_weights(x) @ self.value(x)  # (B, T, head_size)


head = Head(n_embd=C, head_size=16, block_size=T)
print(head(x).shape)
print(head.attention_weights(x)[0].detach().numpy().round(2))

# %% [markdown]
# Unlike version 3, the rows are no longer exactly uniform: each token weighs its past differently. The
# head is untrained and its scores are small, so the weights are still close to an average; training is
# what makes them sharp (see the trained head below).
#
# ## Why divide by √head_size?
#
# Suppose the entries of $q$ and $k$ are independent, with mean 0 and variance 1. Each product $q_i k_i$ then has mean 0 and variance $\mathbb{E}[q_i^2]\,\mathbb{E}[k_i^2] = 1$,
# and the dot product sums $d$ of them:
#
# $$\operatorname{Var}(q \cdot k) = \operatorname{Var}\Big(\sum_{i=1}^{d} q_i k_i\Big) = d, \qquad
# \operatorname{Var}\Big(\frac{q \cdot k}{\sqrt{d}}\Big) = \frac{d}{d} = 1.$$
#
# Without the scaling, scores grow like $\sqrt{d}$, and large scores make the softmax nearly one-hot: every
# token would attend to a single other token, and the softmax's gradient, $p_j(\delta_{jk} - p_k)$, would be
# almost 0 everywhere. Dividing by $\sqrt{d}$ keeps the scores at unit variance whatever the head size.
#
# The next cell checks this for $d = 64$ on 100,000 independent pairs of standard-normal $q$ and $k$ (a
# large sample, so that the estimate is close to the true variance): expect a variance near 64 before the
# scaling and near 1 after. It also shows a softmax of scores made 8 times larger putting most of the weight
# on one entry.
#
# Unit variance *after* the scaling needs unit-variance entries of $q$ and $k$, as drawn here. In general,
# $\operatorname{Var}(q \cdot k / \sqrt{d}) = \operatorname{Var}(q_i)\operatorname{Var}(k_i)$: the scaling
# removes the growth with $d$, whatever the variances are. In a real model $q = x W_Q$, and its variance comes
# from the initialisation. With GPT-2's initialisation (weights of standard deviation 0.02, used from
# notebook 04 on) the entries of $q$ and $k$ start much smaller than 1, so the first scores are close to 0
# and the softmax starts nearly uniform; the $1/\sqrt{d}$ keeps the scores from growing with the head size as
# training makes $q$ and $k$ larger.

# %%
head_size, pairs = 64, 100_000
q, k = torch.randn(pairs, head_size), torch.randn(pairs, head_size)
raw = (q * k).sum(dim=-1)  # one score q·k per pair
scaled = raw / math.sqrt(head_size)
print(f"var(q) {q.var():.2f}, var(k) {k.var():.2f}, var(q·k) {raw.var():.1f}, var(q·k/√hs) {scaled.var():.2f}")

logits = torch.tensor([0.1, -0.2, 0.3, -0.2, 0.5])
print("softmax(scores)     ", F.softmax(logits, dim=-1).numpy().round(3))
print("softmax(scores * 8) ", F.softmax(logits * 8, dim=-1).numpy().round(3), "<- almost one-hot")

# %% [markdown]
# ## What does a trained head look at?
#
# A language model with a single head: token embeddings plus position embeddings (attention itself has no
# notion of order), one `Head`, and a linear layer to logits. We train it for a short while with the
# library's `train`, then draw its attention weights on a line of the validation text.

# %%
from nanogpt_lib import get_batch, load_corpus, notebook_config, plot_attention, train


class OneHeadLM(nn.Module):
    def __init__(self, vocab_size: int, n_embd: int, block_size: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, n_embd)
        self.position_embedding = nn.Embedding(block_size, n_embd)
        self.head = Head(n_embd, n_embd, block_size)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def embed(self, idx):
        return self.token_embedding(idx) + self.position_embedding(torch.arange(idx.size(1), device=idx.device))

    def forward(self, idx, targets=None):
        logits = self.lm_head(self.head(self.embed(idx)))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


corpus = load_corpus()
cfg = notebook_config("cpu", n_embd=64, block_size=32, max_iters=1000, eval_interval=250, sample_tokens=0)
torch.manual_seed(0)
one_head = OneHeadLM(corpus.vocab_size, cfg.n_embd, cfg.block_size)
result = train(cfg, corpus, model=one_head, progress=False, verbose=False)
print(f"one head, {cfg.max_iters} steps of AdamW (peak lr {cfg.learning_rate}, {cfg.lr_schedule} schedule), "
      f"batches of {cfg.batch_size} windows of {cfg.block_size} characters")
print(f"val loss {result.history.eval_val_loss[-1]:.3f} (mean over {cfg.eval_iters} random validation batches)")

# %%
lines = corpus.tokenizer.decode(corpus.val[:2000].tolist()).split("\n")
snippet = next(line for line in lines if len(line) >= cfg.block_size)[: cfg.block_size]
one_head.cpu()  # if training ran on a GPU: the picture is drawn from CPU tensors
idx = torch.tensor([corpus.tokenizer.encode(snippet)])
with torch.no_grad():
    learned = one_head.head.attention_weights(one_head.embed(idx))[0]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 7.5), gridspec_kw={"width_ratios": [1, 1.5]})
plot_attention(wei3, title="version 3: uniform average of the past", ax=ax1)
plot_attention(learned, tokens=list(snippet), title="a trained head", ax=ax2)
ax2.tick_params(labelsize=11, labelrotation=0)  # one character per row and column, upright
for ax in (ax1, ax2):
    ax.title.set_fontsize(14)
    ax.xaxis.label.set_fontsize(12)
    ax.yaxis.label.set_fontsize(12)
fig.tight_layout()
plt.show()

# %% [markdown]
# Each row is one query position and sums to 1; everything above the diagonal is 0 (the future is masked).
# The trained head does not average uniformly. Rather than read the picture by eye, measure where its
# weight goes, averaged over many windows of the validation text: on the query's own position (the
# diagonal), on the character just before it, and on everything further back.

# %%
with torch.no_grad():
    xv, _ = get_batch(corpus.val, 64, cfg.block_size, torch.Generator().manual_seed(0))
    w = one_head.head.attention_weights(one_head.embed(xv))  # (64, T, T)
rows = torch.arange(1, cfg.block_size)  # queries that have a previous character
on_self = w.diagonal(dim1=-2, dim2=-1)[:, 1:].mean().item()
on_previous = w[:, rows, rows - 1].mean().item()
further = 1 - on_self - on_previous
print(f"mean attention weight: own position {on_self:.2f}, previous character {on_previous:.2f}, "
      f"further back {further:.2f}")
largest = max([("its own position", on_self), ("the previous character", on_previous),
               ("the characters further back", further)], key=lambda kv: kv[1])[0]
print(f"Most of the weight goes to {largest}.")

# %% [markdown]
# Why would a head spend weight on its own position? In this model the head's output is the *only* path
# from the input to the logits: there is no residual connection yet (notebook 03 adds one). To predict the
# next character the model first needs the current one, which is all the bigram model knew, and the only
# way to get it is to attend to itself. Whatever weight goes to earlier positions is what lets this model
# beat the bigram: compare the validation loss printed above with the one notebook 01 printed for its bigram
# run (3000 steps of AdamW at a constant learning rate of 0.01 on windows of 8 characters, evaluated on 50
# fixed batches). The two runs differ in steps, learning rate, context length and evaluation batches, so
# compare them only roughly; notebook 04 trains the bigram again with its own settings and gets another,
# equally valid number. Once residual connections hand
# every token its own vector directly, heads are free to
# spend their weight on other positions.
#
# ## Check
#
# `nanogpt_lib.Head` is the same head. With our weights it must give the same attention weights and
# outputs, and changing a future token must never change an earlier output (causality).

# %%
from nanogpt_lib import Head as LibHead

n_embd, head_size, block_size = 32, 16, 8
ours = Head(n_embd, head_size, block_size)
theirs = LibHead(n_embd, head_size, block_size)
theirs.load_state_dict(ours.state_dict())
x = torch.randn(B, block_size, n_embd)
torch.testing.assert_close(ours(x), theirs(x))
torch.testing.assert_close(ours.attention_weights(x), theirs.attention_weights(x))

w = theirs.attention_weights(x)
torch.testing.assert_close(w.sum(dim=-1), torch.ones(B, block_size))
assert (w.triu(diagonal=1) == 0).all()

x_changed = x.clone()
x_changed[:, -1] = torch.randn(B, n_embd)  # change only the last token
torch.testing.assert_close(ours(x)[:, :-1], ours(x_changed)[:, :-1])
print("all checks passed")


# %% [markdown]
# ## Exercises
#
# **1. A causality detector.** Write `is_causal(f, x)`: it returns `True` if, for every position `t`,
# changing the tokens after `t` leaves the output at `t` unchanged. (Try changing the last token only,
# then every suffix.)

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex02-is-causal", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def is_causal(f, x: torch.Tensor) -> bool: ...
### BEGIN SOLUTION
def is_causal(f, x):
    with torch.no_grad():
        out = f(x)
        for t in range(x.size(1) - 1):
            x_changed = x.clone()
            x_changed[:, t + 1 :] = torch.randn_like(x_changed[:, t + 1 :])
            if not torch.allclose(f(x_changed)[:, : t + 1], out[:, : t + 1], atol=1e-6):
                return False
    return True
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex02-is-causal-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
def peeks_ahead_in_the_middle(x):
    """Causal except at position 3, which also reads position 5 (not the last one)."""
    y = x.clone()
    y[:, 3] = y[:, 3] + x[:, 5]
    return y


def reads_the_next_token(x):
    """Position t reads t+1, except for the last two positions: changing only the last token hides it."""
    y = x.clone()
    y[:, :-2] = x[:, 1:-1]
    return y


def reads_only_earlier_positions(x):
    """Position t gets the token at t - 1 (position 0 gets zeros): causal."""
    return F.pad(x[:, :-1], (0, 0, 1, 0))


x = torch.randn(2, block_size, n_embd)
x_before = x.clone()
causal = is_causal(reads_only_earlier_positions, x)
assert torch.equal(x, x_before), "is_causal changed the caller's x: change a clone of it"
assert causal, (
    "is_causal(a function that reads only earlier positions) is False: change the tokens *after* t, and compare "
    "only the outputs at positions ≤ t (those after t may change)")
assert is_causal(lambda x: x * 2, x), (
    "is_causal(x * 2) is False: the output at t may use the token at t itself; change only tokens t+1 and later")
assert is_causal(theirs, x), "is_causal(an attention head) is False"
assert is_causal(lambda x: x.cumsum(dim=1), x), "is_causal(a running sum, which reads only the past) is False"
assert not is_causal(lambda x: x.mean(dim=1, keepdim=True).expand_as(x), x), "the mean of all positions looks ahead"
assert not is_causal(lambda x: x.flip(1), x), "flipping the sequence looks ahead"
assert not is_causal(reads_the_next_token, x), (
    "missed position t reading t+1 (not the last token): changing only the last token is not enough, "
    "change every suffix")
assert not is_causal(peeks_ahead_in_the_middle, x), "missed position 3 reading position 5: check every position t"

# %% [markdown]
# **2. Attention as one function.** PyTorch has a fused kernel,
# `F.scaled_dot_product_attention(q, k, v, is_causal=True)`, which the library's `CausalSelfAttention`
# uses. Compute the same thing by hand into `out`, from the tensors `q`, `k`, `v` below (shape
# `(B, T, head_size)`).

# %%
q, k, v = torch.randn(3, B, T, 16).unbind(0)

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex02-sdpa", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# out: (B, T, head_size)
### BEGIN SOLUTION
scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
scores = scores.masked_fill(torch.tril(torch.ones(T, T, dtype=torch.bool)).logical_not(), float("-inf"))
out = F.softmax(scores, dim=-1) @ v
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex02-sdpa-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
d = q.size(-1)
raw = q @ k.transpose(-2, -1)
future = torch.ones(T, T, dtype=torch.bool).triu(1)


def is_(wrong: torch.Tensor) -> bool:
    return out.shape == wrong.shape and torch.allclose(out, wrong, atol=1e-5)


assert out.shape == (B, T, d), f"out has shape {tuple(out.shape)}, expected (B, T, head_size) = {(B, T, d)}"
assert not is_(F.softmax(raw.masked_fill(future, float("-inf")), dim=-1) @ v), (
    "the scores are not scaled: divide q @ k^T by √head_size")
assert not is_(F.softmax(raw.masked_fill(future, float("-inf")) / d, dim=-1) @ v), (
    "scaled by head_size: divide by its square root, √head_size")
assert not is_(F.softmax(raw.masked_fill(future, float("-inf")) / math.sqrt(d), dim=-2) @ v), (
    "softmax over the wrong dimension: each query's row of weights (dim=-1) must sum to 1")
assert not is_(F.softmax(raw / math.sqrt(d), dim=-1) @ v), (
    "no causal mask: position t sees the positions after it; mask the scores above the diagonal with -inf "
    "before the softmax")
assert not is_(F.softmax(raw / math.sqrt(d), dim=-1).masked_fill(future, 0) @ v), (
    "the mask is applied after the softmax: the weights of a row no longer sum to 1; mask the scores before it")
assert torch.allclose(out[:, 0], v[:, 0], atol=1e-5), (
    "position 0 sees later positions: it may only see itself, so its output must be v[:, 0]; is the mask "
    "tril (the future set to -inf), applied before the softmax?")
torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))

# %% [markdown]
# **3. Experiment: what the scaling buys.** For head sizes $d$ in `head_sizes` below, draw `q` and `k` of
# shape `(64, 32, d)` with standard-normal entries (use `gen`), compute the causal attention weights once
# with the $1/\sqrt{d}$ scaling and once without, and measure how *peaked* they are: the mean, over the
# batch and over query positions $t \ge 8$ (rows with enough keys to choose from), of the largest weight in
# the row. Store the lists `peak_scaled` and `peak_raw` (one float per head size) and plot both against $d$
# (log scale on the $x$ axis).

# %%
head_sizes = [4, 16, 64, 256]
gen = torch.Generator().manual_seed(0)

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex02-scaling", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# peak_scaled, peak_raw: list[float], one per head size; then a plot
### BEGIN SOLUTION
def mean_peak(scores: torch.Tensor) -> float:
    T = scores.size(-1)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
    return weights[:, 8:].max(dim=-1).values.mean().item()


peak_scaled, peak_raw = [], []
for d in head_sizes:
    q, k = torch.randn(2, 64, 32, d, generator=gen).unbind(0)
    scores = q @ k.transpose(-2, -1)
    peak_raw.append(mean_peak(scores))
    peak_scaled.append(mean_peak(scores / math.sqrt(d)))

fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(head_sizes, peak_raw, "o-", label="q·k (no scaling)")
ax.plot(head_sizes, peak_scaled, "s-", label="q·k / √d")
ax.set(xscale="log", xlabel="head size d", ylabel="mean largest weight in a row", ylim=(0, 1.05))
ax.set_xticks(head_sizes, [str(d) for d in head_sizes])
ax.legend()
ax.grid(alpha=0.3)
plt.show()
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex02-scaling-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
assert len(peak_scaled) == len(peak_raw) == len(head_sizes), "one value per head size, in both lists"
assert all(0 < p <= 1 for p in peak_scaled + peak_raw), "a softmax weight lies in (0, 1]"


def reference_peaks(scale, mask=True, first_row=8, dim=-1, largest=True):
    """The mean largest weight per head size, on a fresh sample (the numbers agree to about 0.01)."""
    g = torch.Generator().manual_seed(1234)
    peaks = []
    for d in head_sizes:
        q_, k_ = torch.randn(2, 64, 32, d, generator=g).unbind(0)
        scores = (q_ @ k_.transpose(-2, -1)) * scale(d)
        if mask:
            scores = scores.masked_fill(torch.ones(32, 32, dtype=torch.bool).triu(1), float("-inf"))
        w = scores.softmax(dim=dim)[:, first_row:]
        peaks.append((w.max(dim=-1).values if largest else w.mean(dim=-1)).mean().item())
    return peaks


def near(ours, theirs, tol=0.03):
    return all(abs(a - b) < tol for a, b in zip(ours, theirs))


scaled_ref, raw_ref = reference_peaks(lambda d: d**-0.5), reference_peaks(lambda d: 1.0)
if near(peak_scaled, raw_ref) and near(peak_raw, scaled_ref):
    raise AssertionError("peak_scaled and peak_raw are swapped")
if not near(peak_scaled, scaled_ref):
    if near(peak_scaled, reference_peaks(lambda d: d**0.5)):
        raise AssertionError("peak_scaled grows with d: divide the scores by √d, don't multiply")
    if near(peak_scaled, reference_peaks(lambda d: d**-0.5, mask=False)):
        raise AssertionError("no causal mask: each row must see only keys s ≤ t (mask the future with -inf)")
    if near(peak_scaled, reference_peaks(lambda d: d**-0.5, first_row=0)):
        raise AssertionError("averaged over all query positions: keep the rows t ≥ 8 only")
    if near(peak_scaled, reference_peaks(lambda d: d**-0.5, dim=-2)):
        raise AssertionError("softmax over the wrong dimension: each query's row (dim=-1) must sum to 1")
    raise AssertionError(f"peak_scaled is {[round(p, 3) for p in peak_scaled]}, expected about "
                         f"{[round(p, 3) for p in scaled_ref]}: the mean over batch and rows t ≥ 8 of each "
                         "row's largest weight")
assert near(peak_raw, raw_ref), (
    f"peak_raw is {[round(p, 3) for p in peak_raw]}, expected about {[round(p, 3) for p in raw_ref]}: the same "
    "measure without the 1/√d")
assert all(a < b for a, b in zip(peak_raw, peak_raw[1:])), "without scaling, bigger heads give peakier rows"
assert peak_raw[-1] > 0.8, "at d = 256 the unscaled softmax should be nearly one-hot"
assert max(peak_scaled) - min(peak_scaled) < 0.1, "with scaling, the head size should hardly matter"

# %% [markdown]
# What to look for: without the scaling, the larger the head, the closer each row gets to one-hot, so a
# freshly initialised wide head would already "decide" to read a single token, and learn slowly. With the
# scaling the curve is flat: the softmax starts equally soft whatever the head size.
#
# ## What's next
#
# One head can look for one kind of thing. In **03_multihead_and_blocks** several heads work side by side,
# a feed-forward layer processes what they found, and residual connections and LayerNorm let us stack
# such blocks deep.
