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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/06_bpe_tokenization.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/06_bpe_tokenization.ipynb)
#
# # 06 · BPE tokenization
#
# So far every token was one character: 65 tokens, and a model has to spend its context window and its
# capacity on spelling. GPT-2 reads **byte-pair encoded** (BPE) tokens instead: frequent byte sequences such as
# `" the"` or `"ing"` become single tokens. In this notebook we
#
# 1. build byte-level BPE by hand on one paragraph: split into chunks, count adjacent pairs, merge the most
#    frequent, repeat — and check our merges against the library's `BPETokenizer`;
# 2. train it on the training split of Tiny Shakespeare and encode the corpus fast through `tiktoken`;
# 3. recover GPT-2's own merges from its published token ranks and check that our pure-Python BPE then
#    produces exactly the ids of OpenAI's tokenizer: an independent test of our implementation;
# 4. compare characters, our BPE, SentencePiece and GPT-2's tokenizer on compression, and train the same small
#    GPT with the same compute on the first three, measured in **bits per character** so the numbers compare.
#
# Every tokenizer is trained on the training split only (the first 90% of the text); the last 10% is for
# measuring. Fast mode (`NANOGPT_FAST=1`, used by the tests) trains tiny models for a few steps; the committed
# outputs come from the full settings.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install the library (and this notebook's extras)
    # %pip install "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"
    # %pip install tiktoken sentencepiece regex

from nanogpt_lib.notebook import setup

setup();

# %% [markdown]
# ## Text is bytes
#
# A byte-level tokenizer starts from the UTF-8 bytes of the text, so every string can be encoded — there is no
# "unknown character". ASCII characters are one byte each; others take two to four.

# %%
import dataclasses
import math
import time

import matplotlib.pyplot as plt
import regex
import torch
from IPython.display import Markdown, display

from nanogpt_lib import Corpus, get_tokenizer, load_text, notebook_config, pick, train
from nanogpt_lib.evaluate import evaluate_text_ids
from nanogpt_lib.plot import diagrams
from nanogpt_lib.tokenizers import GPT2_RANKS_ENV, GPT2_SPLIT_PATTERN, BPETokenizer, TokenizerFilesMissing

text = load_text()
split = int(0.9 * len(text))
train_text, val_text = text[:split], text[split:]  # tokenizers and models learn from the first 90% only
for s in ["hello", "café", "🎭"]:
    print(f"{s!r:8} -> {list(s.encode('utf-8'))}")

# %% [markdown]
# ## Step 1: split into chunks first
#
# GPT-2 never merges across chunk boundaries: a regular expression first splits the text into words (with
# their leading space), numbers, punctuation runs and whitespace. Otherwise `"dog."`, `"dog!"` and `"dog?"`
# would each waste a vocabulary slot. Here is the pattern and what it does to the opening paragraph:

# %%
paragraph = text[:700]
chunks = regex.findall(GPT2_SPLIT_PATTERN, paragraph)
print(GPT2_SPLIT_PATTERN)
print(len(paragraph), "characters ->", len(chunks), "chunks:", chunks[:18])


# %% [markdown]
# ## Step 2: count adjacent pairs, merge the most frequent
#
# Write the text, after the split, as chunks $w$ with their counts $c(w)$, each chunk a sequence of token ids
# (its bytes, at first). A merge step counts every adjacent pair inside the chunks,
#
# $$n(a, b) = \sum_{w} c(w)\; \big|\{\, i : w_i = a,\ w_{i+1} = b \,\}\big| ,$$
#
# takes the most frequent one, $(a^*, b^*) = \arg\max_{(a,b)} n(a, b)$ (ties go to the smallest pair, so the
# result is deterministic), and gives it the next id: merge $k$ creates token $256 + k$, whose bytes are the
# bytes of $a^*$ followed by those of $b^*$. Every occurrence of $a^*\,b^*$ is then replaced, left to right, which
# shortens the text by $n(a^*, b^*)$ tokens (a little less where occurrences overlap, as in `aaa`).

# %%
def get_stats(words):
    """Count adjacent pairs over all chunks."""
    counts = {}
    for word in words:
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids, pair, new_id):
    """Replace every occurrence of `pair` in `ids` by `new_id`, scanning left to right."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


words = [list(chunk.encode("utf-8")) for chunk in chunks]
stats = get_stats(words)
top = sorted(stats.items(), key=lambda kv: -kv[1])[:8]
print("most frequent pairs:", [(bytes(p).decode(), n) for p, n in top])
print(merge([1, 2, 3, 1, 2], (1, 2), 256))

# %% [markdown]
# Now repeat: merge, recount, merge again. Each merge adds one token to the vocabulary.

# %%
num_merges = 40
vocab = {i: bytes([i]) for i in range(256)}
hand_merges, tokens_after = [], []
for i in range(num_merges):
    stats = get_stats(words)
    pair = min(stats, key=lambda p: (-stats[p], p))  # most frequent, ties -> smallest pair
    new_id = 256 + i
    words = [merge(w, pair, new_id) for w in words]
    vocab[new_id] = vocab[pair[0]] + vocab[pair[1]]
    hand_merges.append(pair)
    tokens_after.append(sum(len(w) for w in words))

rows = ["| id | merge | new token | tokens in paragraph |", "|---|---|---|---|"]
for i, (a, b) in enumerate(hand_merges[:15]):
    rows.append(f"| {256 + i} | {vocab[a]!r} + {vocab[b]!r} | {vocab[256 + i]!r} | {tokens_after[i]} |")
display(Markdown("\n".join(rows)))

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(range(0, num_merges + 1), [len(paragraph.encode())] + tokens_after, marker=".")
ax.set(xlabel="merges", ylabel="tokens for the paragraph", title="Every merge shortens the text")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## Check: hand-built == library
#
# `nanogpt_lib.tokenizers.BPETokenizer.train(text, vocab_size)` learns `vocab_size - 257` merges (256 byte tokens
# plus one `<|endoftext|>` token come for free). It must learn exactly our merges, in the same order.

# %%
lib = BPETokenizer.train(paragraph, vocab_size=257 + num_merges)
assert lib.merges == hand_merges, "the library learned different merges"
assert all(lib.vocab[i] == vocab[i] for i in range(256 + num_merges))
print(f"Check passed: the library's {len(lib.merges)} merges equal the hand-built ones")


# %% [markdown]
# ## Exercise 1: encode with the merges
#
# Training gave us an ordered list of merges. To **encode** new text, the merges are replayed in the order they
# were learned: split the text into chunks, turn each chunk into bytes, and in each round merge the adjacent pair
# whose merge came first,
#
# $$i^* = \arg\min_i\ \mathrm{rank}(w_i, w_{i+1}), \qquad \mathrm{rank}(a, b) = 256 + k \text{ for merge } k,$$
#
# stopping when no adjacent pair is a merge. Write `encode_hand(text, merges)`.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "bpe-encode-hand", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
def encode_hand(text, merges):
    """Token ids of `text` under `merges` (merge i creates id 256 + i)."""
    ### BEGIN SOLUTION
    ranks = {pair: 256 + i for i, pair in enumerate(merges)}
    out = []
    for chunk in regex.findall(GPT2_SPLIT_PATTERN, text):
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, float("inf")))
            if pair not in ranks:
                break
            ids = merge(ids, pair, ranks[pair])
        out.extend(ids)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bpe-encode-hand-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
a, b, c, e = (ord(ch) for ch in "abce")
assert encode_hand("ab", [(a, b)]) == [256], "merge k creates token id 256 + k (the first merge is 256)"
assert encode_hand("é", []) == list("é".encode()), "start from the UTF-8 bytes of each chunk, not code points"
assert encode_hand("abc", [(a, b), (256, c)]) == [257], \
    "'abc' with merges a+b -> 256, 256+c -> 257 should be one token: repeat until no adjacent pair is a merge"
assert encode_hand("abc", [(b, c), (a, b)]) == [a, 256] and encode_hand("abcbc", [(a, b), (b, c)]) == [256, c, 257], \
    "apply the merge with the lowest rank first (the order the merges were learned), not the leftmost or most frequent"
# 'e' + ' ' is never a merge GPT-2's training could learn, but encoding must not use it across a chunk boundary
assert encode_hand("the cat", [(e, ord(" "))]) == BPETokenizer([(e, ord(" "))]).encode("the cat"), \
    "a merge crossed a chunk boundary ('e' + ' ' in 'the cat'): split the text with GPT2_SPLIT_PATTERN first"
for sample in [paragraph, "Speak, speak! We are accounted poor citizens.", "naïve café 🎭"]:
    assert encode_hand(sample, hand_merges) == lib.encode(sample), f"different ids for {sample[:30]!r}"
print("encode_hand agrees with the library")

# %% [markdown]
# ## The training split, fast
#
# The hand-built loop recounts every pair of every chunk after every merge: fine for a paragraph, hopeless for
# a megabyte. The library computes the same merges cleverly. Most chunks repeat (the cell counts them), so each
# distinct chunk is stored once with its count, and after a merge only the chunks that contained the merged pair
# are recounted; a heap finds the most frequent pair.
#
# Encoding uses the same trick from the other side: the merges are exported to `tiktoken` (OpenAI's Rust BPE)
# as byte-string ranks. We check that it gives exactly the ids of the pure-Python `encode_slow`.

# %%
train_chunks = regex.findall(GPT2_SPLIT_PATTERN, train_text)
print(f"training split: {len(train_text):,} characters, {len(train_chunks):,} chunks, "
      f"{len(set(train_chunks)):,} of them distinct")
VOCAB = pick(real=1024, fast=512)
t0 = time.perf_counter()
bpe = BPETokenizer.train(train_text, VOCAB)
print(f"trained {len(bpe.merges)} merges in {time.perf_counter() - t0:.1f} s")

t0 = time.perf_counter()
ids = bpe.encode(text)
t_fast = time.perf_counter() - t0
t0 = time.perf_counter()
ids_slow = bpe.encode_slow(text)
t_slow = time.perf_counter() - t0
assert ids == ids_slow and bpe.decode(ids) == text
print(f"encode the whole text: tiktoken {t_fast:.2f} s, pure Python (with a chunk cache) {t_slow:.2f} s "
      "-> identical ids")
longest = sorted(range(256, len(bpe.vocab)), key=lambda i: len(bpe.vocab[i]), reverse=True)
print("longest tokens:", [bpe.vocab[i].decode() for i in longest[:12]])

# %% [markdown]
# Each token is a binary tree of merges, with its bytes as the leaves. Two of the longest tokens (every node
# shows its text and id; the higher a node, the later its merge):

# %%
diagrams.bpe_merge_tree(bpe.merges, bpe.vocab, longest[:2])


# %% [markdown]
# ## Exercise 2: decode
#
# Decoding is the easy direction: look up each id's bytes and join them, then decode UTF-8. Build the byte
# table from the merges yourself (ids 0–255 are single bytes; merge *i* is the concatenation of its two
# parts' bytes) and write `decode_hand(ids, merges)`.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "bpe-decode-hand", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
def decode_hand(ids, merges):
    """The text of token ids `ids` under `merges`."""
    ### BEGIN SOLUTION
    table = [bytes([i]) for i in range(256)]
    for a, b in merges:
        table.append(table[a] + table[b])
    return b"".join(table[i] for i in ids).decode("utf-8", errors="replace")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bpe-decode-hand-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
try:
    lone = decode_hand([255], [])
except UnicodeDecodeError as err:
    raise AssertionError("the byte 0xff alone is not valid UTF-8 and decoding failed: decode with "
                         "errors='replace', as the library does") from err
assert isinstance(lone, str), f"decode_hand returned {type(lone).__name__}: return text (str), the bytes as UTF-8"
assert decode_hand([256], [(ord("h"), ord("i"))]) == "hi", \
    "merge 256 = 'h' + 'i' should decode to 'hi': a merge's bytes are its first part's, then its second part's"
assert decode_hand(list("🎭".encode()), []) == "🎭", \
    "'🎭' is 4 bytes in 4 tokens: a character's bytes can be split across tokens, so join all bytes, then decode once"
sample = text[5000:6000]
assert decode_hand(bpe.encode(sample), bpe.merges) == sample
assert decode_hand(lib.encode("naïve café 🎭"), lib.merges) == "naïve café 🎭"
print("decode_hand round-trips")

# %% [markdown]
# ## GPT-2's tokenizer: an independent check of our BPE
#
# Our fast and slow encoders share our merges, so their agreement only shows that the two implementations of
# *encoding* agree. GPT-2's tokenizer was trained by OpenAI, with its own code. It is published as tiktoken
# *ranks*: a table from each token's bytes to its id. There is no list of merges in it, but the ranks determine
# one:
#
# - the 256 single bytes are ranks 0–255, but not in byte order (rank 0 is `!`: printable characters come
#   first), so token $i < 256$ is a byte $\pi(i)$ of a permutation $\pi$ that we read off the table;
# - every longer token of rank $r$ was made by merging two earlier tokens. Running BPE on its own bytes with
#   only the ranks below $r$ must stop at exactly two pieces: those are its merge.
#
# `BPETokenizer.from_tiktoken` does this. If our pure-Python `encode_slow` then reproduces tiktoken's ids on the
# whole corpus and on awkward text (accents, emoji built from several code points, runs of whitespace), our
# pre-split and merge loop are GPT-2's. Offline, the ranks come from a local copy of tiktoken's file
# `r50k_base.tiktoken` (`NANOGPT_GPT2_RANKS=/path/to/r50k_base.tiktoken`); online, tiktoken downloads it.

# %%
try:
    gpt2 = get_tokenizer("gpt2")
except TokenizerFilesMissing:
    gpt2 = None
    print(f"GPT-2's tokenizer is not available here (offline, no cached copy). Set {GPT2_RANKS_ENV} to a copy of "
          "tiktoken's r50k_base.tiktoken to include it; until then the cells that need it say so and skip.")

# %%
if gpt2 is None:
    print("skipped: GPT-2's tokenizer is not available")
else:
    t0 = time.perf_counter()
    gpt2_bpe = BPETokenizer.from_tiktoken(gpt2.encoding)
    print(f"recovered {len(gpt2_bpe.merges):,} merges in {time.perf_counter() - t0:.1f} s; "
          f"tokens 0-7 are the bytes {[t.decode() for t in gpt2_bpe.vocab[:8]]}")
    awkward = ["naïve café — “quotes”", "🎭👩‍👩‍👧‍👦👍🏽", "  two  spaces\t\ttabs\n\n\n", "I'M, they'll, 'tis",
               "1,234.56 and 7e-3", "日本語のテキスト", "trailing spaces   "]
    t0 = time.perf_counter()
    ours, theirs = gpt2_bpe.encode_slow(text), gpt2.encode(text)
    print(f"the corpus is {len(theirs):,} GPT-2 tokens; pure-Python BPE {time.perf_counter() - t0:.1f} s")
    assert ours == theirs and all(gpt2_bpe.encode_slow(s) == gpt2.encode(s) for s in awkward)
    print("our encode_slow with the recovered merges == tiktoken's GPT-2 ids, on the corpus and on every awkward "
          "string")

# %% [markdown]
# Two of GPT-2's tokens as merge trees (they need GPT-2's tokenizer), both a single token of GPT-2:

# %%
if gpt2 is None:
    print("skipped: GPT-2's tokenizer is not available")
else:
    trees = diagrams.bpe_merge_tree(gpt2_bpe.merges, gpt2_bpe.vocab, [gpt2.encode(w)[0] for w in (" Romeo", " thou")])
    width, height = trees.get_size_inches()
    trees.set_size_inches(min(width, 9.0), height)  # at most 9 inches wide: fits a page and a projector
    display(trees)

# %% [markdown]
# ## Four tokenizers, one sentence
#
# SentencePiece (used by T5, Llama 1/2 and many others) is another library for learning subword units. It
# offers two algorithms, BPE and a unigram language model; here it is trained with `model_type="bpe"`, so it
# learns merges like ours, with its own pre-split instead of GPT-2's regex (it splits at spaces and keeps each
# space with the word that follows). It is trained on the same training split with settings that make it lossless:
# no normalization, spaces kept as they are, and byte fallback for characters it has not seen. GPT-2's tokenizer was trained by OpenAI on web text,
# not on Shakespeare.

# %%
tokenizers = {"char": get_tokenizer("char", train_text), "bpe": bpe,
              "sentencepiece": get_tokenizer("sentencepiece", train_text, vocab_size=VOCAB)}
if gpt2 is not None:
    tokenizers["gpt2"] = gpt2

sentence = "ROMEO:\nBut, soft! what light through yonder window breaks?"
for name, tok in tokenizers.items():
    pieces = [tok.decode([i]) for i in tok.encode(sentence)]
    print(f"{name:>13} ({len(pieces):2} tokens): " + "|".join(p.replace("\n", "⏎") for p in pieces))

# %% [markdown]
# Compression on the validation text, which none of the tokenizers saw (bytes per token: higher means shorter
# sequences):

# %%
val_bytes = len(val_text.encode("utf-8"))
stats = {}
for name, tok in tokenizers.items():
    val_ids = tok.encode(val_text)
    assert tok.decode(val_ids) == val_text, f"{name} does not round-trip"
    stats[name] = {"vocab": tok.vocab_size, "tokens": len(val_ids), "bytes_per_token": val_bytes / len(val_ids)}
rows = ["| tokenizer | vocab size | tokens in val text | bytes per token |", "|---|---|---|---|"]
rows += [f"| {k} | {v['vocab']:,} | {v['tokens']:,} | {v['bytes_per_token']:.2f} |" for k, v in stats.items()]
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Exercise 3: how compression grows with the vocabulary
#
# **An experiment.** Train `BPETokenizer` on `train_text` for each vocabulary size in `sizes` and measure its
# bytes per token on `val_text`; plot bytes per token against the vocabulary size (log scale), with GPT-2's
# tokenizer as one more point if it is available. Interpret: how much does each doubling of the vocabulary buy?
# Why does GPT-2's much larger vocabulary do only so much better on this text?
#
# Hint: the merges of a smaller vocabulary are the first merges of a larger one (training stops earlier), so one
# training run is enough: `BPETokenizer(big.merges[: size - 257])` is the tokenizer of vocabulary `size`.
# Set `bytes_per_token` to the list of your measurements, in the order of `sizes`.

# %%
sizes = [320, 512, 1024, 2048, 4096]

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "bpe-vocab-sweep", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# bytes_per_token: list[float], one per entry of `sizes`
### BEGIN SOLUTION
big = BPETokenizer.train(train_text, max(sizes))
bytes_per_token = [val_bytes / len(BPETokenizer(big.merges[: size - 257]).encode(val_text)) for size in sizes]
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(sizes, bytes_per_token, "o-", label="our BPE (trained on the training split)")
if gpt2 is not None:
    ax.plot([gpt2.vocab_size], [stats["gpt2"]["bytes_per_token"]], "s", color="C3", label="GPT-2 (web text)")
ax.set(xscale="log", xlabel="vocabulary size", ylabel="val bytes per token", title="Compression vs vocabulary")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
# Interpretation: each doubling adds a similar amount of bytes per token, so the curve is roughly linear in
# log(vocabulary): every new merge saves less than the one before (merges are learned most frequent first).
# GPT-2's merges were learned on web text, so many of its tokens are rare in Shakespeare: on this text its
# huge vocabulary buys little more than the largest vocabulary learned here.
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bpe-vocab-sweep-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
assert len(bytes_per_token) == len(sizes), f"{len(bytes_per_token)} measurements for {len(sizes)} sizes"
assert all(v > 1 for v in bytes_per_token), "values below 1 are tokens per byte: divide the bytes by the tokens"
assert all(a < b for a, b in zip(bytes_per_token, bytes_per_token[1:])), \
    "bytes per token must grow with the vocabulary: does each size use its own merges[: size - 257]?"
smallest = BPETokenizer.train(train_text, sizes[0])
on_train = len(train_text.encode("utf-8")) / len(smallest.encode(train_text))
assert abs(bytes_per_token[0] - on_train) > 1e-9, \
    "measured on train_text, which the tokenizer learned from: measure on val_text"
one_more = val_bytes / len(BPETokenizer.train(train_text, sizes[0] + 1).encode(val_text))
assert abs(bytes_per_token[0] - one_more) > 1e-9, \
    "one merge too many: a vocabulary of `size` has size - 257 merges (256 bytes and <|endoftext|> come first)"
assert abs(bytes_per_token[0] - val_bytes / len(smallest.encode(val_text))) < 1e-9, \
    f"vocabulary {sizes[0]}: {bytes_per_token[0]:.4f} bytes per token, expected the bytes of val_text per token"
if VOCAB in sizes:
    assert abs(bytes_per_token[sizes.index(VOCAB)] - stats["bpe"]["bytes_per_token"]) < 1e-9, \
        f"vocabulary {VOCAB} should give the compression table's value for bpe"
print("bytes_per_token is right")

# %% [markdown]
# ## Which tokenizer lets a model predict text best, for the same compute?
#
# Per-token loss cannot be compared across tokenizers: a BPE token carries more text than a character, so it is
# naturally harder to predict. The fair unit is the **character**. Add up the loss over every validation token,
# convert nats to bits, and divide by the number of characters those tokens cover:
#
# $$\text{bits per character} = \frac{1}{N_{\text{chars}}} \sum_{t} -\log_2 p(x_t \mid x_{<t})
# = \frac{N_{\text{tokens}}}{N_{\text{chars}}} \cdot \frac{\mathcal{L}_{\text{token}}}{\ln 2},$$
#
# where $\mathcal{L}_{\text{token}}$ is the mean loss per token in nats. Lower is better.
#
# **Equal compute.** All models have the same shape (the `cpu` preset's blocks) and see the same number of
# tokens per step, but the output layer grows with the vocabulary. Training costs about 6 FLOPs per weight per
# token (a multiply-add forward, twice that backward) plus the attention scores, so with $L$ blocks of width
# $C$, context $T$ and vocabulary $V$
#
# $$\text{FLOPs per token} \approx 6\,\big(12 L C^2 + V C\big) + 12\, L\, T\, C .$$
#
# We give every model the same FLOP budget, so a model with a bigger vocabulary takes fewer steps. The budget
# is small, to keep the notebook short: none of these models is converged, and the cell prints how much each
# one's val loss fell between the evaluation nearest 3/4 of its budget and the last one. Each model is scored on the whole validation text (fast mode: its start)
# with non-overlapping windows (`nanogpt_lib.evaluate.evaluate_text_ids`).

# %%
def flops_per_token(cfg, vocab_size):
    """Training FLOPs per token: 6 per weight (forward + backward) of the blocks and the head, plus attention."""
    C, L, T = cfg.n_embd, cfg.n_layer, cfg.block_size
    return 6 * (12 * L * C * C + vocab_size * C) + 12 * L * T * C


base = notebook_config("cpu", batch_size=16, eval_iters=5, warmup_iters=20, sample_tokens=0)
budget = pick(real=150, fast=20) * base.tokens_per_step * flops_per_token(base, tokenizers["char"].vocab_size)
print(f"budget: {budget:.3g} FLOPs; each step is {base.batch_size} x {base.block_size} = {base.tokens_per_step:,} "
      "tokens")
for name, tok in tokenizers.items():
    head_share = 6 * tok.vocab_size * base.n_embd / flops_per_token(base, tok.vocab_size)
    print(f"{name:>13}: {flops_per_token(base, tok.vocab_size) / 1e6:6.2f} MFLOPs per token, "
          f"{head_share:4.0%} of them in the output layer")

# %%
results = {}
for name in ["char", "bpe", "sentencepiece"]:
    tok = tokenizers[name]
    corpus = Corpus(torch.tensor(tok.encode(train_text)), torch.tensor(tok.encode(val_text)), tok)
    steps = round(budget / (base.tokens_per_step * flops_per_token(base, tok.vocab_size)))
    cfg = dataclasses.replace(base, max_iters=steps, eval_interval=max(1, steps // 4))
    t0 = time.perf_counter()
    run = train(cfg, corpus, progress=False, verbose=False)
    seconds = time.perf_counter() - t0
    val = corpus.val[: pick(real=None, fast=1500)]
    ev = evaluate_text_ids(run.model, val, tok, batch_size=16)
    h = run.history
    to_bits = len(corpus.val) / len(val_text) / math.log(2)  # nats per token -> bits per character, on val
    late = min(range(len(h.eval_step)), key=lambda i: abs(h.eval_step[i] - 0.75 * steps))  # nearest to 3/4
    results[name] = {"steps": steps, "seconds": seconds, "loss": ev.loss, "bits_per_char": ev.bits_per_char,
                     "history": h, "to_bits": to_bits,
                     "late_gain": (h.eval_val_loss[late] - h.eval_val_loss[-1]) * to_bits,
                     "late_steps": steps - h.eval_step[late],
                     "chars_per_step": base.tokens_per_step * len(train_text) / len(corpus.train)}
    r = results[name]
    print(f"{name:>13}: {steps} steps in {seconds:.0f} s; val {ev.loss:.3f} nats/token = {ev.bits_per_char:.3f} "
          f"bits/char; still falling by {r['late_gain']:.3f} bits/char over its last {r['late_steps']} steps")

# %%
rows = ["| tokenizer | vocab | steps | chars seen per step | val loss (nats/token) | val bits per char | "
        "bits/char gained in the last quarter |", "|---|---|---|---|---|---|---|"]
for name, r in results.items():
    rows.append(f"| {name} | {stats[name]['vocab']:,} | {r['steps']} | {r['chars_per_step']:,.0f} | {r['loss']:.3f} | "
                f"{r['bits_per_char']:.3f} | {r['late_gain']:.3f} |")
display(Markdown("\n".join(rows)))

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
axes[0].bar(list(stats), [s["bytes_per_token"] for s in stats.values()], color=[f"C{i}" for i in range(len(stats))])
axes[0].set(title="Compression (val text)", ylabel="bytes per token (higher = shorter sequences)")
names = list(results)
axes[1].bar(names, [results[n]["bits_per_char"] for n in names], color=[f"C{i}" for i in range(len(names))])
axes[1].set(title="Same model, same FLOPs", ylabel="val bits per character (lower = better)")
for i, n in enumerate(names):
    r = results[n]
    flops = [s * base.tokens_per_step * flops_per_token(base, stats[n]["vocab"]) for s in r["history"].eval_step]
    axes[2].plot(flops, [loss * r["to_bits"] for loss in r["history"].eval_val_loss], "o-", color=f"C{i}", label=n)
axes[2].set(title="Val loss during training", xlabel="training FLOPs", ylabel="bits per character (estimate)")
axes[2].legend()
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
ranked = sorted(results, key=lambda n: results[n]["bits_per_char"])
margin = results[ranked[1]]["bits_per_char"] - results[ranked[0]]["bits_per_char"]
if margin < 0.01:  # one run each: a difference this small is within seed noise
    behind = results[ranked[2]]["bits_per_char"] - results[ranked[0]]["bits_per_char"]
    print(f"For the same compute, {ranked[0]} and {ranked[1]} are {margin:.3f} bits/char apart: too close to rank "
          f"from one run each; {ranked[2]} is {behind:.3f} behind")
else:
    print(f"For the same compute, {ranked[0]} reached the fewest bits per character, {margin:.3f} ahead of {ranked[1]}")
print("(one short run each, none converged: this ranks the tokenizers early in training, not where they would end)")
print(f"Per step, the bpe model saw {results['bpe']['chars_per_step'] / results['char']['chars_per_step']:.1f}x as "
      "many characters as the char model")

# %% [markdown]
# **Reading the results.** What to look for: with the same `block_size`, a BPE model sees more text in its
# context and per training step than a character model (the last printed line says how many times as much), which
# usually shows up as fewer bits per character for the same compute. The price is a bigger embedding table and
# output layer (the FLOPs table above: with GPT-2's vocabulary the output layer would take most of the budget),
# and rare tokens that are seen only a few times. The two subword models were still improving at the end
# (the table's last column, measured from the evaluation nearest 3/4 of each budget), and so was the
# char model. The ranking therefore says which tokenizer learns faster at this budget, not where each would
# end: "subword tokens win at equal compute" is a statement about these short, unconverged runs, early in
# training. With a bigger budget the gaps can shrink or the order change (every model here was still
# improving); this notebook does not measure that. A margin of a few thousandths of a bit per character is too
# small to rank from one run each (the last printed lines say whether that happened here). The curves'
# per-character scale (right) converts each evaluation's estimated loss with the validation text's tokens per
# character; the bars are the exact numbers over the validation text, with non-overlapping windows.
#
# From the command line the same tokenizers are one flag away:
#
# ```bash
# nanogpt prepare --tokenizer bpe --vocab-size 1024          # or sentencepiece, char, gpt2
# nanogpt train --preset cpu --tokenizer bpe --out-dir runs/bpe
# nanogpt bench eval --out-dir runs/bpe                        # val loss, perplexity, bits per character
# ```

# %% [markdown]
# ## What's next
#
# In **07 · GPT-2 weights** we load weights in GPT-2's published format into our `GPT`: we map a Hugging Face
# checkpoint module by module, check the logits match, sample, evaluate with a sliding window, speed up
# generation with a KV cache, fine-tune, and save back to Hugging Face's format.
