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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/00_data_and_tokenization.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/00_data_and_tokenization.ipynb)
#
# # 00 · Data and tokenization
#
# A language model learns to continue text. Before any model, we need the text itself, a way to turn it
# into numbers, and a way to cut it into training examples.
#
# **You will learn**
# - how big Tiny Shakespeare is and what it looks like;
# - the character vocabulary, and `encode` / `decode` between text and integer ids;
# - why we hold out the *end* of the text for validation;
# - what a **context** and a **target** are, and how one window of `block_size + 1` characters holds
#   `block_size` training examples; how a batch of windows is drawn, as a picture;
# - how much a longer context tells about the next character, measured on the corpus.
#
# **You need** Python and a first look at PyTorch tensors. This is the first notebook of the series.

# %%
# In Colab, install nanogpt_lib from the project's repository; locally it is already installed.
import sys

if "google.colab" in sys.modules:
    # %pip install -q "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"

from nanogpt_lib.notebook import setup

setup()  # seeds, small inline figures; loads the corpus (downloads it the first time)

# %% [markdown]
# ## The corpus
#
# `load_text()` returns Tiny Shakespeare: about 40,000 lines of plays in one 1.1 MB file. It looks for a
# local copy first and downloads it otherwise.

# %%
from nanogpt_lib import load_text

text = load_text()
print(f"{len(text):,} characters, {len(text.splitlines()):,} lines")
print(text[:400])

# %% [markdown]
# ## The vocabulary
#
# The simplest tokenizer treats every distinct character as a token. Sorting the characters gives each one
# a fixed id.

# %%
# NBVAL_CHECK_OUTPUT
chars = sorted(set(text))
vocab_size = len(chars)
print(vocab_size)
print(repr("".join(chars)))

# %% [markdown]
# A few characters do most of the work. Here are the most frequent ones (`␣` is the space, `\n` the
# newline):

# %%
from collections import Counter

import matplotlib.pyplot as plt

top = Counter(text).most_common(30)
fig, ax = plt.subplots(figsize=(10, 2.8))
label = {" ": "␣", "\n": "\\n"}  # characters that would otherwise print as blank labels
ax.bar([label.get(c, c) for c, _ in top], [n for _, n in top], color="tab:blue")
ax.set(title="The 30 most frequent characters", ylabel="count")
plt.show()

# %% [markdown]
# ## Encode and decode
#
# Two lookup tables turn characters into ids (`stoi`, "string to integer") and back (`itos`).

# %%
# NBVAL_CHECK_OUTPUT
stoi = {c: i for i, c in enumerate(chars)}
itos = {i: c for i, c in enumerate(chars)}


def encode(s: str) -> list[int]:
    return [stoi[c] for c in s]


def decode(ids) -> str:
    return "".join(itos[int(i)] for i in ids)


print(encode("hii there"))
print(decode(encode("hii there")))

# %% [markdown]
# Real tokenizers (GPT-2's BPE, SentencePiece) trade a bigger vocabulary for shorter sequences; notebook 06
# builds one. Characters keep everything visible, so we start with them.
#
# The whole corpus becomes one long tensor of ids:

# %%
import torch

data = torch.tensor(encode(text), dtype=torch.long)
print(data.shape, data.dtype)
print(data[:60])

# %% [markdown]
# ## Train / validation split
#
# We keep the first 90% for training and the last 10% for validation. No shuffling: text is sequential, and
# a contiguous stretch the model has never seen is an honest test of whether it learned *Shakespeare* or
# just memorised lines.

# %%
# NBVAL_CHECK_OUTPUT
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]
print(f"train {len(train_data):,} tokens, val {len(val_data):,} tokens")

# %% [markdown]
# ## Contexts and targets
#
# A language model assigns a probability to a whole text $x_1 x_2 \dots x_N$ one character at a time. The
# chain rule of probability says that this loses nothing:
#
# $$p(x_1, \dots, x_N) = \prod_{t=1}^{N} p(x_t \mid x_1, \dots, x_{t-1}).$$
#
# So a model only ever has to answer one question: *given the characters so far (the **context**), what
# is the next one (the **target**)?* In practice the context is cut to the last `block_size` characters.
#
# We never feed the whole text at once. We take a window of `block_size + 1` ids. Inside it, every prefix
# is a context and the character right after it is its target: one window gives `block_size`
# examples, with contexts from 1 to `block_size` characters long. That is also why a model trained like
# this can start generating from a single character.

# %%
# NBVAL_CHECK_OUTPUT
block_size = 8
x = train_data[:block_size]
y = train_data[1 : block_size + 1]
for t in range(block_size):
    context, target = x[: t + 1], y[t]
    print(f"context {decode(context)!r:12} -> target {decode([target])!r}")

# %% [markdown]
# ## Batches
#
# To keep the CPU (or GPU) busy we process many windows at once: `batch_size` random starting points, each
# giving one row of `x` and the same row shifted by one in `y`. So `y[b, t]` is the target for the context
# `x[b, : t + 1]`.

# %%
batch_size = 4


def get_batch_by_hand(data: torch.Tensor, batch_size: int, block_size: int, generator=None):
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[i : i + block_size] for i in starts])
    y = torch.stack([data[i + 1 : i + block_size + 1] for i in starts])
    return x, y


xb, yb = get_batch_by_hand(train_data, batch_size, block_size, torch.Generator().manual_seed(0))
print("x =", xb, "y =", yb, sep="\n")
for row in range(batch_size):
    print(f"{decode(xb[row])!r:14} -> {decode(yb[row])!r}")

# %% [markdown]
# The same batch as a picture. Each row `b` is one window; `y` is `x` moved one place to the left. The
# coloured cells show one of the $B \times T$ examples the batch holds: the context `x[b, :t+1]` and its
# target `y[b, t]`.

# %%
from nanogpt_lib.plot import diagrams

diagrams.batch_windows([decode(row) for row in xb], [decode(row) for row in yb], row=1, t=3)

# %% [markdown]
# From now on the library does this: `nanogpt_lib.CharTokenizer` is the vocabulary with `encode`/`decode`,
# `Corpus.from_text` encodes and splits, and `get_batch` draws the windows (with one indexing operation
# instead of a Python loop).
#
# ## Check
#
# The hand-built pieces must agree with the library's.

# %%
from nanogpt_lib import CharTokenizer, Corpus, get_batch

tok = CharTokenizer.from_text(text)
assert vocab_size == tok.vocab_size == 65
assert encode(text[:5000]) == tok.encode(text[:5000])
assert decode(encode(text[:5000])) == text[:5000] == tok.decode(tok.encode(text[:5000]))

corpus = Corpus.from_text(text)
torch.testing.assert_close(corpus.train, train_data)
torch.testing.assert_close(corpus.val, val_data)

# Same random generator state -> the same windows from both implementations.
x_hand, y_hand = get_batch_by_hand(train_data, 16, 32, torch.Generator().manual_seed(1))
x_lib, y_lib = get_batch(corpus.train, 16, 32, torch.Generator().manual_seed(1))
torch.testing.assert_close(x_hand, x_lib)
torch.testing.assert_close(y_hand, y_lib)
assert torch.equal(y_lib[:, :-1], x_lib[:, 1:])  # targets are the inputs shifted by one
print("all checks passed")

# %% [markdown]
# ## Exercises
#
# **1. What follows a character?** Write `followers(ids, ch)`: given a 1-D tensor of ids and a character
# `ch`, return a dict mapping each character to how often it comes right after `ch` in `ids` (only
# characters that do occur, so the counts are all positive). Then look at `followers(train_data, "q")`.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex00-followers", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def followers(ids: torch.Tensor, ch: str) -> dict[str, int]: ...
### BEGIN SOLUTION
def followers(ids: torch.Tensor, ch: str) -> dict[str, int]:
    after = ids[1:][ids[:-1] == stoi[ch]]
    return dict(Counter(decode(after)))
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex00-followers-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
got = followers(torch.tensor(encode("qua qui quo qa")), "q")
assert isinstance(got, dict), f"followers should return a dict, got {type(got).__name__}"
assert all(isinstance(c, str) for c in got), f"the keys should be characters (decode the ids), got {list(got)}"
assert all(n > 0 for n in got.values()), "only characters that do occur: leave out the zero counts"
assert "q" not in got, f"got {got}: that counts ch itself; count the character right *after* each ch"
assert " " not in got, f"got {got}: those are the characters *before* ch; count the ones after it"
assert got == {"u": 3, "a": 1}, f"in 'qua qui quo qa', 'u' follows 'q' 3 times and 'a' once; got {got}"
try:
    assert followers(torch.tensor(encode("abc")), "c") == {}, "nothing follows the last character"
except IndexError as e:
    raise AssertionError(f"reads past the end ({e}): the last character has no follower") from None
train_text = text[: len(train_data)]
for ch in "qzK:":
    after = followers(train_data, ch)
    # every count is the number of times the two-character string occurs (no overlaps: ch != next)
    assert all(train_text.count(ch + nxt) == n for nxt, n in after.items() if nxt != ch), ch
    assert sum(after.values()) == train_text[:-1].count(ch), ch
assert max(followers(train_data, "q"), key=followers(train_data, "q").get) == "u"


# %% [markdown]
# Such next-character statistics are exactly what the model of the next notebook learns.
#
# **2. Unknown characters.** `encode("café")` fails: `é` is not in the vocabulary. Write `safe_encode(s)`
# that maps every unknown character to the id of a space.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex00-safe-encode", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def safe_encode(s: str) -> list[int]: ...
### BEGIN SOLUTION
def safe_encode(s: str) -> list[int]:
    return [stoi.get(c, stoi[" "]) for c in s]
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex00-safe-encode-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
encoded = safe_encode("café au lait")
assert all(isinstance(i, int) for i in encoded), f"safe_encode must return ids (ints), got {encoded}"
assert len(encoded) == len("café au lait"), "one id per character: unknown characters become a space, not dropped"
assert encoded[3] == stoi[" "], (f"'é' became id {encoded[3]} ({decode([encoded[3]])!r}); unknown characters "
                                 "should become the id of a space, stoi[' ']")
assert decode(encoded) == "caf  au lait", f"known characters must keep their own ids: got {decode(encoded)!r}"
assert safe_encode("ROMEO:") == encode("ROMEO:"), "a string without unknown characters encodes as encode does"

# %% [markdown]
# **3. Experiment (a little harder): how much does a longer context tell?** Measure how uncertain the next
# character is once you know the previous $k$ characters, for $k = 0, 1, \dots, 8$. From the counts of
# `train_data`, the *conditional entropy* (in nats, the unit of the losses in the next notebooks) is
#
# $$H_k = -\sum_{c,\,n} p(c, n) \ln p(n \mid c) = H(\text{context}, \text{next}) - H(\text{context}),$$
#
# where $c$ ranges over the $k$-character contexts, $n$ over next characters, and each $H$ is
# $-\sum p \ln p$ over the counted frequencies. Also measure `seen[k]`: the fraction of positions of
# `val_data` whose $k$-character context occurs somewhere in `train_data`.
#
# The next cell gives you the counting machinery. `context_codes(ids, k)` turns the $k$ characters before
# each position into **one integer**: $k$ ids below 65 are the $k$ digits of a number in base 65, so equal
# contexts get equal codes and different contexts different ones ($k = 0$ gives 0 everywhere).
# It starts at position 8 for every $k$, so that all the numbers use the same positions. A (context, next)
# pair is one more base-65 digit: `codes * vocab_size + ids[K:]`. `plug_in_entropy(values)` is
# $-\sum p \ln p$ of the frequencies of the values in a tensor, and `plot_entropy` draws the result.

# %%
K = 8


def context_codes(ids: torch.Tensor, k: int) -> torch.Tensor:
    """One integer per position t >= K: the k ids before t, as a number in base vocab_size (0 for k = 0)."""
    codes = torch.zeros(len(ids) - K, dtype=torch.long)
    for j in range(1, k + 1):
        codes = codes * vocab_size + ids[K - j : len(ids) - j]
    return codes


def plug_in_entropy(values: torch.Tensor) -> float:
    """-sum p ln p over the frequencies p of the distinct values in `values`."""
    p = torch.unique(values, return_counts=True)[1].double() / len(values)
    return -(p * p.log()).sum().item()


def plot_entropy(entropy: list[float], seen: list[float]) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(range(len(entropy)), entropy, "o-", label="H(next | k previous), train counts (nats)")
    ax.set(xlabel="k, characters of context", ylabel="nats")
    ax2 = ax.twinx()
    ax2.plot(range(len(seen)), seen, "s--", color="tab:red", label="val contexts seen in train")
    ax2.set(ylabel="fraction", ylim=(0, 1.05))
    fig.legend(loc="lower left", bbox_to_anchor=(0.1, 0.15), fontsize=8)
    plt.show()


# %% [markdown]
# Your part: for each $k$, the two entropies and their difference, and `seen[k]`. Store the lists `entropy`
# and `seen` (9 floats each), print them, and call `plot_entropy(entropy, seen)`. Hint: `torch.isin(a, b)`
# tells, for each value of `a`, whether it occurs in `b`.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex00-context-entropy", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# entropy: list[float] (nats), seen: list[float] (fractions), for k = 0..8; then plot_entropy(entropy, seen)
### BEGIN SOLUTION
entropy, seen = [], []
for k in range(K + 1):
    ctx = context_codes(train_data, k)
    entropy.append(plug_in_entropy(ctx * vocab_size + train_data[K:]) - plug_in_entropy(ctx))
    seen.append(torch.isin(context_codes(val_data, k), ctx).double().mean().item())
print("entropy", [round(h, 3) for h in entropy])
print("seen   ", [round(f, 3) for f in seen])
plot_entropy(entropy, seen)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex00-context-entropy-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
import math

assert len(entropy) == len(seen) == K + 1, "one value of entropy and of seen for each k = 0, 1, ..., 8"
for k in range(K + 1):
    ctx = context_codes(train_data, k)
    h_joint, h_ctx = plug_in_entropy(ctx * vocab_size + train_data[K:]), plug_in_entropy(ctx)
    if abs(entropy[k] - (h_joint - h_ctx)) > 1e-6:
        if abs(entropy[k] - h_joint) < 1e-6:
            raise AssertionError(f"H_{k} = H(context, next): subtract H(context) to get the conditional entropy")
        if abs(entropy[k] - (h_joint - plug_in_entropy(train_data[K:]))) < 1e-6:
            raise AssertionError(f"H_{k}: you subtracted H(next); the conditional entropy subtracts H(context)")
        raise AssertionError(
            f"H_{k} is {entropy[k]:.4f}, expected {h_joint - h_ctx:.4f}: is the joint code ctx * vocab_size + next, "
            "so that each (context, next) pair gets its own integer?")
    val_ctx = context_codes(val_data, k)
    expected = torch.isin(val_ctx, ctx).double().mean().item()
    distinct = torch.isin(val_ctx.unique(), ctx).double().mean().item()
    if abs(seen[k] - distinct) < 1e-9 and abs(distinct - expected) > 1e-6:
        raise AssertionError(f"seen[{k}] counts distinct contexts: count every position of val_data")
    assert abs(seen[k] - expected) < 1e-9, (
        f"seen[{k}] is {seen[k]:.4f}, expected {expected:.4f}: the fraction of *val* positions whose context "
        "occurs in train, torch.isin(val codes, train codes), not the other way round")
# k = 0 and k = 2 once more, with Python strings instead of codes
unigram = Counter(text[K : len(train_data)])
p = torch.tensor(list(unigram.values()), dtype=torch.float64) / sum(unigram.values())
assert abs(entropy[0] + (p * p.log()).sum().item()) < 1e-6, "k = 0: the entropy of the character frequencies"
train_text = text[: len(train_data)]
pairs, triples = Counter(), Counter()
for t in range(K, len(train_text)):
    pairs[train_text[t - 2 : t]] += 1
    triples[train_text[t - 2 : t + 1]] += 1
n_positions = len(train_text) - K
h2 = sum(c / n_positions * math.log(pairs[s[:2]] / c) for s, c in triples.items())
assert abs(entropy[2] - h2) < 1e-6, f"H_2 is {entropy[2]:.4f}, expected {h2:.4f}"
assert all(a >= b - 1e-9 for a, b in zip(entropy, entropy[1:])), "knowing more can only lower counted entropy"

# %% [markdown]
# What to look for: the first curve falls with every character of context: the more you know, the less
# uncertain the next character. But look at the second curve before you celebrate. The counts for long
# contexts are counts of contexts that occur only a handful of times, so they partly *memorise* the training
# text; and a growing share of the validation contexts never occurs in training at all (at $k = 8$, the
# fraction `1 - seen[8]`), where a table of counts has nothing to say. A model must *generalise* from the
# contexts it has seen to similar ones it has not: that is what the learned vectors and attention of the next notebooks are for.
#
# ## What's next
#
# In **01_bigram** we train the simplest possible language model on these batches: a table that predicts
# the next character from the current one alone.
