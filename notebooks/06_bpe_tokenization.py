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
# # 06 · BPE tokenization
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/06_bpe_tokenization.ipynb)
#
# So far every token was one character: 65 tokens, and a model has to spend its context window and its
# capacity on spelling. GPT-2 reads **byte-pair encoded** (BPE) tokens instead: frequent byte sequences such as
# `" the"` or `"ing"` become single tokens. In this notebook we
#
# 1. build byte-level BPE by hand on one paragraph: split into chunks, count adjacent pairs, merge the most
#    frequent, repeat — and check our merges against the library's `BPETokenizer`;
# 2. train it on all of Tiny Shakespeare (in about a second) and encode the corpus fast through `tiktoken`;
# 3. compare three tokenizers — characters, our BPE, and SentencePiece — on compression (bytes per token) and
#    on what a model trained on each achieves, measured in **bits per character** so the numbers are comparable.
#
# Fast mode (`NANOGPT_FAST=1`, used by the tests) trains tiny models for a few steps; the committed outputs come
# from the full settings.

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
import time

import matplotlib.pyplot as plt
import regex
from IPython.display import Markdown, display

from nanogpt_lib import Corpus, get_tokenizer, load_text, notebook_config, pick, train
from nanogpt_lib.evaluate import evaluate_text_ids
from nanogpt_lib.tokenizers import GPT2_SPLIT_PATTERN, BPETokenizer, TokenizerFilesMissing

text = load_text()
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
# Each chunk becomes a list of byte values. We count how often each adjacent pair occurs (within chunks), then
# replace every occurrence of the most frequent pair by a new token id: 256, 257, ... Ties go to the smallest
# pair, so the result is deterministic.

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
# Now repeat: merge, recount, merge again. Each merge adds one token to the vocabulary, whose bytes are
# the concatenation of its two parts.

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
# Training gave us an ordered list of merges. To **encode** new text, split it into chunks, turn each chunk into
# bytes, and apply merges in the order they were learned: in each round find the adjacent pair with the
# *earliest* merge (lowest new id) and merge it; stop when no adjacent pair is a merge. Write
# `encode_hand(text, merges)`.

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


# %% tags=["self-check"]
for sample in [paragraph, "Speak, speak! We are accounted poor citizens.", "naïve café 🎭"]:
    assert encode_hand(sample, hand_merges) == lib.encode(sample), f"different ids for {sample[:30]!r}"
print("encode_hand agrees with the library")

# %% [markdown]
# ## The whole corpus, fast
#
# The hand-built loop recounts every pair of every chunk after every merge: fine for a paragraph, hopeless for
# a megabyte. The library does the same thing cleverly: Tiny Shakespeare has about 300,000 chunks but only about
# 15,000 *distinct* ones, so each distinct chunk is stored once with its count, and after a merge only the chunks
# that contained the merged pair are recounted. A heap finds the most frequent pair.
#
# Encoding uses the same trick from the other side: the merges are exported to `tiktoken` (OpenAI's Rust BPE)
# as byte-string ranks. We check that it gives exactly the ids of the pure-Python `encode_slow`.

# %%
VOCAB = pick(real=1024, fast=512)
t0 = time.perf_counter()
bpe = BPETokenizer.train(text, VOCAB)
print(f"trained {len(bpe.merges)} merges on {len(text):,} characters in {time.perf_counter() - t0:.1f} s")

t0 = time.perf_counter(); ids = bpe.encode(text); t_fast = time.perf_counter() - t0
t0 = time.perf_counter(); ids_slow = bpe.encode_slow(text); t_slow = time.perf_counter() - t0
assert ids == ids_slow and bpe.decode(ids) == text
print(f"encode: tiktoken {t_fast:.2f} s, pure Python (with a chunk cache) {t_slow:.2f} s -> identical ids")
longest = sorted(bpe.vocab[256:], key=len, reverse=True)[:12]
print("longest tokens:", [t.decode() for t in longest])


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


# %% tags=["self-check"]
sample = text[5000:6000]
assert decode_hand(bpe.encode(sample), bpe.merges) == sample
assert decode_hand(lib.encode("naïve café 🎭"), lib.merges) == "naïve café 🎭"
print("decode_hand round-trips")

# %% [markdown]
# ## Three tokenizers, one sentence
#
# SentencePiece (used by T5, Llama 1/2 and many others) is another way to learn subword units. It is trained
# here on the same corpus with settings that make it lossless: no normalization, spaces kept as they are, and
# byte fallback for characters it has not seen. GPT-2's own tokenizer (through `tiktoken`) joins the
# comparison when its files can be downloaded or are cached.

# %%
tokenizers = {"char": get_tokenizer("char", text), "bpe": bpe,
              "sentencepiece": get_tokenizer("sentencepiece", text, vocab_size=VOCAB)}
try:
    tokenizers["gpt2 (tiktoken)"] = get_tokenizer("gpt2")
except TokenizerFilesMissing as e:
    print("GPT-2's tokenizer is not available here (offline, no cache); it is left out.\n", str(e)[:160], "...")

sentence = "ROMEO:\nBut, soft! what light through yonder window breaks?"
for name, tok in tokenizers.items():
    pieces = [tok.decode([i]) for i in tok.encode(sentence)]
    print(f"{name:>15} ({len(pieces):2} tokens): " + "|".join(p.replace("\n", "⏎") for p in pieces))

# %%
n_bytes = len(text.encode("utf-8"))
stats = {}
for name, tok in tokenizers.items():
    ids = tok.encode(text)
    assert tok.decode(ids) == text, f"{name} does not round-trip"
    stats[name] = {"vocab": tok.vocab_size, "tokens": len(ids), "bytes_per_token": n_bytes / len(ids)}
rows = ["| tokenizer | vocab size | tokens in corpus | bytes per token |", "|---|---|---|---|"]
rows += [f"| {k} | {v['vocab']:,} | {v['tokens']:,} | {v['bytes_per_token']:.2f} |" for k, v in stats.items()]
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Which tokenizer lets a model predict text best?
#
# Per-token loss cannot be compared across tokenizers: a BPE token carries more text than a character, so it
# is naturally harder to predict. The fair unit is the **character**: add up the loss (in nats) over every
# validation token, convert to bits, and divide by the number of validation characters. That is **bits per
# character** (lower is better); a model that needs fewer bits per character predicts the text better.
#
# We train the same small GPT (the `cpu` preset's shape, batch 16) for the same 150 steps on each tokenizer —
# far from converged, to keep the notebook short — and
# evaluate every validation token with a sliding window (`nanogpt_lib.evaluate.evaluate_text_ids`). In fast
# mode the runs are tiny and only the start of the validation split is scored.

# %%
results = {}
for name in ["char", "bpe", "sentencepiece"]:
    tok = tokenizers[name]
    corpus = Corpus.from_text(text, tok)
    cfg = notebook_config("cpu", batch_size=16, max_iters=pick(real=150, fast=30), eval_interval=50, eval_iters=5,
                          warmup_iters=20)
    t0 = time.perf_counter()
    run = train(cfg, corpus, progress=False, verbose=False)
    val = corpus.val[: pick(real=None, fast=1500)]
    ev = evaluate_text_ids(run.model, val, tok, batch_size=16)
    results[name] = {"val_loss": ev.loss, "bits_per_char": ev.bits_per_char, "seconds": time.perf_counter() - t0,
                     "history": run.history, "chars_per_step": cfg.tokens_per_step * n_bytes / stats[name]["tokens"]}
    print(f"{name:>13}: val loss {ev.loss:.3f} nats/token, {ev.bits_per_char:.3f} bits/char "
          f"({results[name]['seconds']:.0f} s)")

# %%
rows = ["| tokenizer | vocab | bytes per token | val loss (nats/token) | val bits per char | chars seen per step |",
        "|---|---|---|---|---|---|"]
for name, r in results.items():
    rows.append(f"| {name} | {stats[name]['vocab']:,} | {stats[name]['bytes_per_token']:.2f} | {r['val_loss']:.3f} | "
                f"{r['bits_per_char']:.3f} | {r['chars_per_step']:,.0f} |")
display(Markdown("\n".join(rows)))

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
names = list(results)
axes[0].bar(names, [stats[n]["bytes_per_token"] for n in names], color=["C0", "C1", "C2"])
axes[0].set(title="Compression", ylabel="bytes per token (higher = shorter sequences)")
axes[1].bar(names, [results[n]["bits_per_char"] for n in names], color=["C0", "C1", "C2"])
axes[1].set(title="Same model, same steps", ylabel="val bits per character (lower = better)")
for i, n in enumerate(names):
    h = results[n]["history"]
    per_char = [loss * stats[n]["tokens"] / len(text) / 0.6931 for loss in h.eval_val_loss]
    axes[2].plot(h.eval_step, per_char, "o-", color=f"C{i}", label=n)
axes[2].set(title="Val loss during training", xlabel="step", ylabel="bits per character (approx.)")
axes[2].legend()
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Reading the results.** BPE and SentencePiece shrink the sequence about 2.4× for a 1024-token vocabulary, so
# with the same `block_size` the model sees 2.4× more text in its context and per training step. At the same
# number of steps that usually shows up as fewer bits per character than the character model. The price is
# a bigger embedding table and output layer, and rare tokens that are seen only a few times. The curves'
# per-character scale (right) uses the corpus-wide tokens per character, so it is an approximation; the bar
# chart is the exact sliding-window number.
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
# In **07 · GPT-2 weights** we use the real GPT-2 tokenizer's big brother: OpenAI's GPT-2 weights. We map the
# Hugging Face checkpoint into our `GPT` module by module, check the logits match, sample, evaluate with a
# sliding window, speed up generation with a KV cache, and fine-tune on Shakespeare.
