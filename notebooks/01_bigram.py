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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/01_bigram.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/01_bigram.ipynb)
#
# # 01 · The bigram model
#
# The simplest language model looks only at the current character to guess the next one. It is a single
# table, yet it already has everything a GPT has around it: logits, a cross-entropy loss, a training
# loop, and sampling.
#
# **You will learn**
# - the bigram model: an embedding table used directly as next-token logits, and why looking up a row
#   is the same as multiplying a one-hot vector by the table;
# - softmax and cross-entropy, why the loss of a clueless model is $\ln V$, and why a randomly initialised
#   model starts *above* it;
# - a training loop written by hand, with a loss curve redrawn as it trains, and the learned table as a picture;
# - sampling text, before and after training, and what temperature does to the distribution.
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

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from torch.nn import functional as F

from nanogpt_lib import Corpus, History, get_batch, load_text, plot_runs
from nanogpt_lib.notebook import pick
from nanogpt_lib.plot import diagrams

corpus = Corpus.from_text(load_text())
encode, decode = corpus.tokenizer.encode, corpus.tokenizer.decode
vocab_size = corpus.vocab_size
xb, yb = get_batch(corpus.train, 4, 8, torch.Generator().manual_seed(0))
print(vocab_size, xb.shape, yb.shape)


# %% [markdown]
# ## The model
#
# An `nn.Embedding(vocab_size, vocab_size)` is a table $W$ with one row per character. We read the row of
# the current character and use it **as the logits** $z$ (unnormalised log-probabilities) of the next one.
# **Softmax** turns the $V$ logits into probabilities,
#
# $$p_j = \operatorname{softmax}(z)_j = \frac{e^{z_j}}{\sum_{k=1}^{V} e^{z_k}},$$
#
# and the loss is the **cross-entropy**: the mean, over all $N = B \cdot T$ positions of a batch, of minus
# the log-probability the model gave to the character that actually came next,
#
# $$\mathcal{L} = -\frac{1}{N} \sum_{i=1}^{N} \ln p_{y_i}(x_i) = \frac{1}{N} \sum_{i=1}^{N}
# \Big( \ln \sum_{k} e^{z_k(x_i)} - z_{y_i}(x_i) \Big).$$
#
# A perfect model has loss 0 ($p_{y} = 1$); a model that gives the right answer probability $e^{-2.5}$,
# about 1 in 12, has loss 2.5. `F.cross_entropy` computes exactly this from the logits.

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
# ## An embedding is a one-hot vector times a matrix
#
# Reading row $i$ of a table looks like a different operation from the matrix products of a neural
# network, but it is one. Write character $i$ as a **one-hot** vector $e_i \in \{0, 1\}^V$ (a 1 at position
# $i$, 0 elsewhere). Then
#
# $$e_i^\top W = W_{i,:}:$$
#
# the product keeps row $i$ and multiplies every other row by 0. `nn.Embedding` is a `Linear` layer without
# bias whose input is one-hot; it just skips the multiplications by zero. So the gradient of the loss
# reaches only the rows of the characters in the batch. Here is the product on a toy vocabulary of six
# characters with vectors of size 4:

# %%
toy_vocab = list("abcdef")
toy_table = torch.randn(len(toy_vocab), 4, generator=torch.Generator().manual_seed(0))
diagrams.one_hot_lookup(toy_table, toy_vocab.index("c"), toy_vocab)

# %% [markdown]
# And on the real model: one-hot vectors of the whole batch, times the table, give the logits.

# %%
one_hot = F.one_hot(xb, vocab_size).float()  # (B, T, V)
torch.testing.assert_close(one_hot @ model.token_embedding_table.weight, logits)
print(tuple(one_hot.shape), "@", tuple(model.token_embedding_table.weight.shape), "->", tuple(logits.shape))

# %% [markdown]
# ## The loss at initialisation
#
# A model that knows nothing spreads its bet evenly: $p_j = 1/V$ for every character, so the loss is
# $-\ln(1/V) = \ln V$, with $V = 65$ here. All-zero logits give exactly that.
#
# Our random table starts *above* $\ln V$, and by a predictable amount. `nn.Embedding` draws every logit
# from a standard normal, $z_k \sim \mathcal{N}(0, 1)$. In the loss $\ln \sum_k e^{z_k} - z_y$, the second
# term averages to 0, and for large $V$ the sum is close to its expectation,
# $\sum_k e^{z_k} \approx V\, \mathbb{E}[e^{z}] = V e^{\sigma^2/2}$. So
#
# $$\mathbb{E}[\mathcal{L}_{\text{init}}] \approx \ln V + \frac{\sigma^2}{2} = \ln V + \frac{1}{2}.$$
#
# Random logits make the model confidently wrong: it is sure of characters it knows nothing about. (This is
# why GPTs initialise their weights small, so that the first logits are close to 0 and the loss starts near
# $\ln V$: notebook 04 shows why when it sets up GPT-2's initialisation.) Measured on 512 windows of 8
# characters, 4,096 positions:

# %%
# NBVAL_CHECK_OUTPUT
print(f"ln(vocab_size)            = {math.log(vocab_size):.4f}")
zeros = torch.zeros(4, 8, vocab_size)
print(f"loss of all-zero logits   = {F.cross_entropy(zeros.view(-1, vocab_size), yb.reshape(-1)).item():.4f}")
print(f"ln(vocab_size) + 1/2      = {math.log(vocab_size) + 0.5:.4f}")
with torch.no_grad():
    xs, ys = get_batch(corpus.train, 512, 8, torch.Generator().manual_seed(1))
    init_loss = model(xs, ys)[1].item()
print(f"loss of the random table  = {init_loss:.2f} (4,096 positions)")

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
# We record the steps in a `History`, the same record the library's `train` keeps, and redraw the curve in
# place at every evaluation with `plot_runs` (smoothed training loss per step, validation loss at each
# evaluation).

# %%
from IPython.display import display

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
history, live = History(), None
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
        fig = plot_runs({"bigram": history}, title=f"Bigram, trained by hand: step {step + 1}")
        if live is None:
            live = display(fig, display_id=True)
        else:
            live.update(fig)
        plt.close(fig)
trained_losses = evaluate(model)
print(f"{max_iters} steps of AdamW at lr {learning_rate}, batches of {batch_size} windows of {block_size} characters;")
print(f"mean loss over the same {eval_iters} batches of each split, before and after:")
print(f"  before  train {init_losses['train']:.3f}  val {init_losses['val']:.3f}")
print(f"  after   train {trained_losses['train']:.3f}  val {trained_losses['val']:.3f}")

# %% [markdown]
# Compare the printed lines: both losses fall far below their starting value, and train and validation
# stay close to each other: a table of character pairs has too few parameters to memorise the training
# text. In a full run the curve flattens out: that plateau is as good as a table of character-pair
# statistics gets (exercise 1 computes that limit directly). The learning rate stays at `learning_rate`
# for every step here; notebook 05 shows why real runs warm it up and then decay it.
#
# **Which bigram loss?** The validation loss printed above belongs to *this* run: the steps, learning rate
# and batch shape on its first line, evaluated on the same fixed batches of the validation text every time.
# Notebook 02 compares its one-head model with this number. Notebook 04 trains the bigram model again, with
# the library's `train` and the settings of its GPT (another step count, context length and evaluation
# batches), so it prints a somewhat different bigram loss; so does any other run. Different runs, not a
# contradiction: a comparison between two models is fair only when their runs share the settings.
#
# ## What the table learned
#
# Row $i$ of the trained table, after a softmax, is the model's distribution of the character after
# character $i$. Here are the rows and columns of a few characters (the full table is $65 \times 65$). What
# to look for after a full run: the row of `q` is a single dark cell (guess which before you read the
# next cell); the rows of `.`
# and `,` put nearly all their weight on the space and newline columns; letters that often end a word give
# the space column a large share; the row of the space spreads its weight over letters that start words.
# (After the short fast-mode run the table is still mostly noise.)

# %%
probs_learned = F.softmax(model.token_embedding_table.weight.detach(), dim=-1)
diagrams.bigram_table(probs_learned, corpus.tokenizer.chars, show="\n .,aeiouhnrstmqw",
                      title="P(next | current), learned")

# %% [markdown]
# The most likely next character after a few of them, read from the same table:

# %%
for ch in "q.ht":
    p_next, i_next = probs_learned[encode(ch)[0]].max(dim=0)
    print(f"after {ch!r} the most likely next character is {decode([i_next])!r} (p = {p_next:.2f})")

# %% [markdown]
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

# %% nbgrader={"grade": true, "grade_id": "ex01-count-bigram-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
assert counts.shape == probs.shape == (vocab_size, vocab_size)
assert counts.sum() == len(corpus.train) - 1, (
    f"counts sums to {int(counts.sum())}, not len(corpus.train) - 1: one count per pair of neighbours, "
    "each id paired with the next one (corpus.train[:-1] with corpus.train[1:])")
train_text = decode(corpus.train.tolist())
for pair in ("qu", "th", "e ", "\nK", "O:"):  # two different characters: str.count cannot overlap
    i, j = encode(pair)
    if counts[i, j] != train_text.count(pair) and counts[j, i] == train_text.count(pair):
        raise AssertionError(f"counts is transposed: {pair!r} is counted at counts[{j}, {i}]; the row is the "
                             "current character, the column the next one")
    assert counts[i, j] == train_text.count(pair), f"counts[{i}, {j}] should count {pair!r} in the training text"
assert (probs > 0).all(), "some probabilities are 0 (or NaN): add 1 to every count before normalising"
assert torch.allclose(probs.sum(dim=1), torch.ones(vocab_size)), (
    "each row of probs must sum to 1: normalise over dim=1, the next characters of one current character")
torch.testing.assert_close(probs, (counts + 1) / (counts + 1).sum(dim=1, keepdim=True), check_dtype=False,
                           msg="probs should be (counts + 1), each row divided by its sum")
log_probs = probs.log()
loss_from_probs = F.nll_loss(log_probs[corpus.val[:-1]], corpus.val[1:]).item()
on_train = F.nll_loss(log_probs[corpus.train[:-1]], corpus.train[1:]).item()
assert count_val_loss > 0, "a loss is the mean of -log p: positive (did you forget the minus sign?)"
assert abs(count_val_loss - on_train) > 1e-4, "count_val_loss is measured on corpus.train: use corpus.val"
assert abs(count_val_loss - loss_from_probs) < 1e-4, (
    f"count_val_loss is {count_val_loss:.4f}, expected {loss_from_probs:.4f}: the mean of "
    "-log probs[current, next] over corpus.val (current = val[:-1], next = val[1:])")


# %% [markdown]
# Counting (without the +1) gives the table that minimises the training loss of *any* bigram model: for
# each current character, the best distribution of the next one is the observed frequencies. Gradient descent
# can only approach it. Compare your `count_val_loss` with the validation loss the trained model printed
# above.
#
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


# %% nbgrader={"grade": true, "grade_id": "ex01-greedy-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
prompt = torch.tensor([encode("ROMEO")])
torch.manual_seed(0)
out = greedy(model, prompt, 40)
assert out.dim() == 2 and out.size(1) == 45, (
    f"out has shape {tuple(out.shape)}, not (1, 45): the 5 prompt tokens followed by 40 new ones, one per step "
    "(the argmax over the vocabulary, dim=-1)")
assert torch.equal(out[:, :5], prompt), "out must start with the prompt: append the new tokens to idx"
torch.manual_seed(1)
assert torch.equal(out, greedy(model, prompt, 40)), "greedy gave two different texts: take the argmax, don't sample"
first = model.token_embedding_table.weight[encode("O")[0]].argmax()
assert out[0, 5] == first, (
    f"the first new token is {decode([out[0, 5]])!r}, not {decode([first])!r}: it must be the most likely "
    "after the prompt's *last* character (the logits at position -1)")
# temperature 0 in the library means "always the most likely token" (a bigram only needs the last one)
assert torch.equal(out[:, 4:], lib_model.generate(prompt[:, -1:], 40, temperature=0)), (
    "each new token must be the most likely after the token before it")
print(repr(decode(out[0].tolist())))

# %% [markdown]
# **3. Experiment: temperature.** Sampling divides the logits by a **temperature** $\tau$ before the
# softmax, $p_j \propto e^{z_j / \tau}$: $\tau < 1$ sharpens the distribution (at $\tau \to 0$ it becomes the
# greedy choice), $\tau > 1$ flattens it towards uniform. Measure what this does to the model's
# validation loss: for every $\tau$ in `taus` below, compute `val_loss_at[tau]`, the cross-entropy on
# `corpus.val` (every position) of the trained `model`'s logits divided by $\tau$. Plot the loss against
# $\tau$, and print a 100-character sample at $\tau = 0.5$ and at $\tau = 2$ (`generate(..., temperature=...)`
# of `lib_model`, which has our weights).

# %%
taus = [0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0]

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex01-temperature", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# val_loss_at: dict[float, float], one entry per tau; a plot; two samples
### BEGIN SOLUTION
with torch.no_grad():
    val_logits = model.token_embedding_table.weight[corpus.val[:-1]]  # (N, V): the bigram looks up rows
    val_loss_at = {tau: F.cross_entropy(val_logits / tau, corpus.val[1:]).item() for tau in taus}
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(taus, list(val_loss_at.values()), "o-")
ax.set(xlabel="temperature τ", ylabel="validation loss", title="Dividing the logits by τ")
ax.grid(alpha=0.3)
plt.show()
for tau in (0.5, 2.0):
    sample = lib_model.generate(start, 100, temperature=tau, generator=torch.Generator().manual_seed(0))
    print(f"τ = {tau}: {decode(sample[0].tolist())!r}")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex01-temperature-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
assert sorted(val_loss_at) == taus, f"one entry per τ of taus, keyed by the float τ; got keys {list(val_loss_at)}"
with torch.no_grad():
    logits_val = lib_model(corpus.val[None, :-1])[0][0]
targets = corpus.val[1:]
for tau in (0.5, 2.0):
    expected = F.cross_entropy(logits_val / tau, targets).item()
    got = val_loss_at[tau]
    if abs(got - expected) > 1e-3:
        if abs(got - F.cross_entropy(logits_val * tau, targets).item()) < 1e-3:
            raise AssertionError(f"τ = {tau}: you multiplied the logits by τ; divide them by τ")
        if abs(got - F.cross_entropy(logits_val, targets).item() / tau) < 1e-3:
            raise AssertionError(f"τ = {tau}: you divided the loss by τ; divide the logits, before the softmax")
        if abs(got - F.cross_entropy(logits_val / tau, corpus.val[:-1]).item()) < 1e-3:
            raise AssertionError(f"τ = {tau}: the targets are the current characters; use the next ones, "
                                 "corpus.val[1:]")
        raise AssertionError(f"τ = {tau}: loss {got:.4f}, expected {expected:.4f}: the cross-entropy of the "
                             "logits / τ at every position of corpus.val, with the next characters as targets")
best = min(val_loss_at, key=val_loss_at.get)
assert 0.85 <= best <= 1.2, "the loss should be lowest near the temperature the model was trained at"

# %% [markdown]
# What to look for: the loss is lowest at (or next to) $\tau = 1$, and rises on both sides. Training with
# cross-entropy makes the model's probabilities *calibrated*: sharpening them makes it over-confident where
# it is wrong, flattening them makes it timid where it is right. Temperature is therefore not a way to make
# a model better; it is a dial between safe, repetitive text (low $\tau$) and varied, error-prone text
# (high $\tau$), as the two samples show.
#
# ## What's next
#
# The bigram model ignores everything but the last character. In **02_self_attention** the characters of a
# context start to talk to each other: first by plain averaging, then by *attention*.
