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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/07_gpt2_weights.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/07_gpt2_weights.ipynb)
#
# # 07 · GPT-2 weights: load, sample, evaluate, fine-tune
#
# Our `GPT` has the same architecture as OpenAI's GPT-2, and we named its modules the way Hugging Face does
# (`transformer.h.0.attn.c_attn`, ...). So published GPT-2 weights should drop straight in. In this notebook we
#
# 1. look at a checkpoint in Hugging Face's GPT-2 format and map its tensors into our `GPT` **by hand**, then
#    check the logits against `transformers` and against `GPT.from_pretrained`;
# 2. sample from it (text in, BPE tokens, text out);
# 3. evaluate it: loss, perplexity and bits per character, with a sliding window;
# 4. make generation faster with a KV cache, check that it produces exactly the same tokens, and measure it;
# 5. fine-tune it, and save it back in Hugging Face's format.
#
# **Which model.** GPT-2's weights are downloaded from the Hugging Face Hub. The outputs saved
# in this notebook were produced on a machine without internet, so the notebook's main thread uses a stand-in
# whose outputs mean something: a small GPT with GPT-2's architecture, trained here for a short while on
# Shakespeare with a BPE tokenizer (notebook 06), written with `save_pretrained` as a Hugging Face folder that
# `transformers` loads, and loaded back from that folder. One difference in format: our folder names its tensors
# as `GPT2LMHeadModel` does (`transformer.h.0.attn.c_attn.weight`), while the real `gpt2` files on the Hub use
# `GPT2Model`'s names, without the `transformer.` prefix (`h.0.attn.c_attn.weight`). The by-hand code below
# accepts both and prints which one it read; the library's loader does too. Every step works the same on the
# real `gpt2`, but the stand-in is small and briefly trained, so some demos show much less than GPT-2 would
# (the sample, the sliding window, the KV cache); each says what to expect from the real model. The cells under headings marked **(GPT-2 itself)** load the real GPT-2: run the notebook
# online (for example on Colab) to see them; offline they print a note and skip.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install the library (and this notebook's extras)
    # %pip install "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"
    # %pip install transformers safetensors tiktoken

from nanogpt_lib.notebook import setup

setup();

# %% [markdown]
# ## A checkpoint in GPT-2's format
#
# A Hugging Face checkpoint is a folder with `config.json` (a `GPT2Config`: sizes, activation, dropout) and
# `model.safetensors` (the tensors). We make one: a BPE tokenizer trained on the training split (the first 90%
# of the text), a GPT with GPT-2's layout (biases included) trained on it briefly, and `save_pretrained`, which
# writes the folder with the tokenizer beside the weights. The cell prints how far the short training got;
# uniform guessing over the vocabulary would score $\ln V$ nats per token.

# %%
import json
import math
import shutil
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from safetensors.torch import load_file
from transformers import GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from nanogpt_lib import (
    GPT,
    PRESETS,
    Corpus,
    GPTConfig,
    load_text,
    notebook_config,
    pick,
    plot_losses,
    sample_text,
    train,
)
from nanogpt_lib.evaluate import evaluate_text_ids, time_generation, window_starts
from nanogpt_lib.plot import diagrams
from nanogpt_lib.pretrained import pretrained_tokenizer
from nanogpt_lib.tokenizers import BPETokenizer

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
text = load_text()
split = int(0.9 * len(text))
train_text, val_text = text[:split], text[split:]
work = Path("runs") / "07_gpt2_weights"  # this notebook's folders, beside it (git-ignored)
shutil.rmtree(work, ignore_errors=True)

tok = BPETokenizer.train(train_text, 1024)
corpus = Corpus(torch.tensor(tok.encode(train_text)), torch.tensor(tok.encode(val_text)), tok)
cfg = notebook_config("cpu", n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=16, bias=True,
                      max_iters=300, eval_interval=100, eval_iters=10, warmup_iters=30, sample_tokens=0)
t0 = time.perf_counter()
pretrained = train(cfg, corpus, progress=False, verbose=False)
print(f"trained {cfg.max_iters} steps in {time.perf_counter() - t0:.0f} s: val loss "
      f"{pretrained.history.eval_val_loss[-1]:.3f} nats/token (uniform guessing: ln {tok.vocab_size} = "
      f"{math.log(tok.vocab_size):.3f})")
model_dir = pretrained.model.save_pretrained(work / "shakespeare-gpt2", tokenizer=tok)
print(sorted(p.name for p in model_dir.iterdir()))
config = json.loads((model_dir / "config.json").read_text())
print({k: config[k] for k in ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "activation_function"]})

# %% [markdown]
# ## Their tensors and ours
#
# Side by side, the tensors of layer 0. The names agree (there is no `lm_head` in the file because it is
# *tied* to the token embedding `wte`, in both models). But look at the shapes: Hugging Face's GPT-2 uses a
# `Conv1D` layer that stores its weight as **(in, out)** and computes $y = x W + b$, while `nn.Linear` stores
# **(out, in)** and computes $y = x W^\top + b$. The same function needs $W_{\text{ours}} = W_{\text{HF}}^\top$:
# those four matrices per block must be transposed.

# %%
hf_sd = load_file(model_dir / "model.safetensors")


def hf_key(key):
    """Our key's name in the file: as is (GPT2LMHeadModel's names) or without `transformer.` (the Hub's gpt2)."""
    return key if key in hf_sd else key.removeprefix("transformer.")


prefixed = any(k.startswith("transformer.") for k in hf_sd)
print(f"{len(hf_sd)} tensors; keys such as {next(iter(sorted(hf_sd)))!r}: "
      + ("with the transformer. prefix (GPT2LMHeadModel's names: our stand-in)" if prefixed else
         "without the transformer. prefix (GPT2Model's names, as in the Hub's gpt2 files)"))
ours = GPT(GPTConfig(vocab_size=config["vocab_size"], block_size=config["n_positions"], n_layer=config["n_layer"],
                     n_head=config["n_head"], n_embd=config["n_embd"], bias=True)).eval()
our_sd = ours.state_dict()
rows = ["| key | Hugging Face | ours |", "|---|---|---|"]
for key in our_sd:
    if key.startswith("transformer.h.0.") or not key.startswith("transformer.h."):
        theirs = tuple(hf_sd[hf_key(key)].shape) if hf_key(key) in hf_sd else "— (tied to wte)"
        rows.append(f"| `{key}` | {theirs} | {tuple(our_sd[key].shape)} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Mapping by hand
#
# Copy every tensor, transposing the `Conv1D` weights. The `lm_head.weight` is the same tensor object as
# `transformer.wte.weight`, so copying `wte` fills both. `hf_key` finds each tensor under either name, so the
# same loop reads our stand-in's file (what ran here) and the Hub's `gpt2` file; keys the loop never asks for,
# such as the causal-mask buffers `h.0.attn.bias` in some GPT-2 files, are simply not used.

# %%
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
with torch.no_grad():
    for key, tensor in our_sd.items():
        if key == "lm_head.weight":
            continue  # tied to wte
        source = hf_sd[hf_key(key)].t() if key.endswith(CONV1D) else hf_sd[hf_key(key)]
        assert source.shape == tensor.shape, key
        tensor.copy_(source)
assert ours.lm_head.weight is ours.transformer.wte.weight
print("copied", len(our_sd) - 1, "tensors")

# %% [markdown]
# ## Check: hand-mapped == transformers == `GPT.from_pretrained`
#
# `transformers` loads the folder as any GPT-2 checkpoint (`GPT2LMHeadModel.from_pretrained`). On random token
# ids, our hand-mapped model, Hugging Face's model and the library's loader must give the same logits (float32,
# within 1e-5). The library also checks that every tensor was used and every shape fits, and names the keys
# when they do not.

# %%
hf_model = GPT2LMHeadModel.from_pretrained(model_dir).eval()
x = torch.randint(tok.vocab_size, (4, config["n_positions"]), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    logits_hf = hf_model(x).logits
    logits_hand = ours(x)[0]
    model = GPT.from_pretrained(str(model_dir)).eval()
    logits_lib = model(x)[0]
print(f"max |hand - HF| = {(logits_hand - logits_hf).abs().max():.2e}, "
      f"max |library - HF| = {(logits_lib - logits_hf).abs().max():.2e}")
assert torch.allclose(logits_hand, logits_hf, atol=1e-5) and torch.allclose(logits_lib, logits_hf, atol=1e-5)
print("Check passed: the same function in three implementations")


# %% [markdown]
# ## Exercise 1: translate a checkpoint key
#
# Real checkpoints come in several flavours: `GPT2Model` files have no `transformer.` prefix, and older ones
# contain `attn.bias` / `attn.masked_bias` (the causal mask, stored as a buffer — not a weight). Write
# `translate(key)` that returns `(our_key, transpose)` for a weight, or `None` for keys to skip (mask buffers
# and `lm_head.weight`, which is tied).

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "gpt2-translate-key", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
def translate(key):
    ### BEGIN SOLUTION
    if key.endswith((".attn.bias", ".attn.masked_bias")) or key == "lm_head.weight":
        return None
    if not key.startswith("transformer."):
        key = "transformer." + key
    return key, key.endswith(CONV1D)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gpt2-translate-key-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
assert translate("lm_head.weight") is None, "lm_head.weight is tied to wte (the same tensor): skip it, return None"
assert translate("h.5.attn.bias") is None and translate("h.5.attn.masked_bias") is None, \
    "h.5.attn.bias and h.5.attn.masked_bias are the causal mask (a buffer), not weights: return None"
assert translate("transformer.h.3.attn.c_attn.weight") == ("transformer.h.3.attn.c_attn.weight", True), \
    "transformer.h.3.attn.c_attn.weight already has its prefix: add 'transformer.' only when it is missing"
assert translate("h.0.mlp.c_proj.weight") == ("transformer.h.0.mlp.c_proj.weight", True), \
    "GPT2Model's h.0.mlp.c_proj.weight has no 'transformer.' prefix: add it"
assert translate("h.0.attn.c_attn.bias") == ("transformer.h.0.attn.c_attn.bias", False), \
    "h.0.attn.c_attn.bias is a weight (the bias of the q, k, v projection): only keys ending in '.attn.bias', " \
    "dot included, are the mask"
assert translate("wte.weight") == ("transformer.wte.weight", False) and \
    translate("h.0.ln_1.weight") == ("transformer.h.0.ln_1.weight", False), \
    "only the four Conv1D weights are transposed; wte, wpe and the LayerNorm gains are stored as we store them"
print("translate() handles every flavour")

# %% [markdown]
# ## Sampling: text in, text out
#
# The prompt is encoded with the model's tokenizer, the model samples token ids, and the ids are decoded back to
# text. Read the stand-in's sample for the mechanics, not the quality: a model this small, trained for a few
# minutes on a CPU, mixes real and made-up words, with Shakespeare's line breaks and speaker names at best, and
# makes no sense (the output shows how far it got). GPT-2 itself writes fluent English, though not Shakespeare's (the cell marked
# **(GPT-2 itself)** samples it when it is available). The command line does the same; a folder written by `save_pretrained`
# carries its tokenizer, otherwise GPT-2's is used:
#
# ```bash
# nanogpt sample --init-from gpt2 --prompt "ROMEO:" --max-new-tokens 100                    # GPT-2 itself (download)
# nanogpt sample --init-from runs/07_gpt2_weights/shakespeare-gpt2 --prompt "ROMEO:"          # a local folder
# ```

# %%
print(sample_text(model, tok, "ROMEO:\n", max_new_tokens=60, temperature=0.8, seed=0))

# %% [markdown]
# ## GPT-2 itself: load and sample (GPT-2 itself)
#
# With internet (for example on Colab) this cell downloads GPT-2 small (cached after the first time) through
# `huggingface_hub`, prints its parameter count and samples from it with GPT-2's own tokenizer. Without internet
# it says so, and every later cell marked **(GPT-2 itself)** skips.

# %%
try:
    gpt2 = GPT.from_pretrained("gpt2").eval()
    gpt2_tok = pretrained_tokenizer("gpt2")
except (FileNotFoundError, ImportError):
    gpt2 = None
    print("GPT-2 itself is not available here: its weights are not cached and cannot be downloaded (no internet). "
          "The cells marked (GPT-2 itself) skip; run the notebook online, for example on Colab, to see them.")
else:
    print(f"GPT-2: {gpt2.num_params():,} parameters")
    print(sample_text(gpt2, gpt2_tok, "ROMEO:", max_new_tokens=60, temperature=0.8, top_k=50))

# %% [markdown]
# ## Evaluation: loss, perplexity, bits per character
#
# The loss of a model on a text $x_1, \dots, x_N$ is the mean negative log-likelihood of each token given all
# the tokens before it, and the **perplexity** is its exponential:
#
# $$\mathcal{L} = -\frac{1}{N}\sum_{t=1}^{N} \ln p_\theta(x_t \mid x_{<t}), \qquad \mathrm{PPL} = e^{\mathcal{L}} .$$
#
# A perplexity of $k$ means the model is as unsure as a uniform choice among $k$ tokens; a model that guesses
# uniformly over its vocabulary has $\mathrm{PPL} = V$. Bits per character (notebook 06) divides the same total
# by the number of characters instead, in bits.
#
# A model reads at most $T$ = `block_size` tokens, so a long text is cut into windows. Windows start every $S$
# tokens (the **stride**) at $s_0 = 0, s_1 = S, \dots$; window $k$ reads $x_{s_k}, \dots, x_{s_k + T - 1}$, and
# every target is scored once, by the first window that predicts it:
#
# $$\widehat{\mathcal{L}}_S = -\frac{1}{N}\sum_{t=1}^{N} \ln p_\theta\big(x_t \mid x_{s(t)}, \dots, x_{t-1}\big),
# \qquad s(t) = \text{the start of the window that scores } x_t .$$
#
# With $S = T$ the windows do not overlap: cheap, but a target early in a window has almost no context (on
# average about $T/2$ tokens). With a smaller $S$ every target after the first window sees at least $T - S$
# tokens, at about $T / S$ times the compute; as $S \to 1$ the estimate approaches the loss with the longest
# context the model allows. The picture shows which tokens each window reads and which it scores:

# %%
diagrams.sliding_windows(20, 8, {stride: window_starts(20, 8, stride) for stride in (8, 4)})

# %% [markdown]
# We score the validation split (here its first tokens, to keep the notebook quick; `nanogpt bench eval`
# scores all of it) with two strides:

# %%
val = corpus.val[: pick(real=20_000, fast=2000)]
T = model.config.block_size
rows = ["| stride | loss (nats/token) | perplexity | bits per char | seconds |", "|---|---|---|---|---|"]
by_stride = {}
for stride in [T, T // 4]:
    t0 = time.perf_counter()
    by_stride[stride] = evaluate_text_ids(model, val, tok, stride=stride, batch_size=16)
    ev = by_stride[stride]
    rows.append(f"| {stride} | {ev.loss:.3f} | {ev.perplexity:,.1f} | {ev.bits_per_char:.3f} | "
                f"{time.perf_counter() - t0:.1f} |")
display(Markdown("\n".join(rows)))
gain = by_stride[T].loss - by_stride[T // 4].loss
print(f"overlapping windows (stride {T // 4}) score {abs(gain):.3f} nats/token "
      f"{'lower' if gain > 0 else 'higher'} than stride {T}: "
      + ("the extra context helps this model" if gain > 0.01 else "too small a difference to read much into"))
before = by_stride[T]

# %% [markdown]
# Overlapping windows help only a model that uses long context. For GPT-2 they do: Hugging Face's guide
# "Perplexity of fixed-length models" scores GPT-2 large on WikiText-2 with a clearly lower perplexity at
# stride 512 than with non-overlapping 1024-token windows. Our stand-in, trained briefly with 128-token windows,
# barely uses its context beyond the first few tokens (exercise 3 plots its loss by position), so the smaller
# stride buys it little or nothing, and can even come out slightly higher: the printed line above says which
# way it went here. The method is right either way; it is
# the model that has little to gain from it.
#
# ## GPT-2 itself on the same text (GPT-2 itself)
#
# Bits per character compare models with different tokenizers, so GPT-2 (trained on web text, not on
# Shakespeare) can be scored on the same validation text with its own tokenizer.

# %%
if gpt2 is None:
    print("skipped: GPT-2 itself is not available here (see above)")
else:
    gpt2_val = torch.tensor(gpt2_tok.encode(val_text))[: pick(real=20_000, fast=2000)]
    ev = evaluate_text_ids(gpt2, gpt2_val, gpt2_tok, stride=gpt2.config.block_size // 2, batch_size=4)
    print(f"GPT-2: {ev.loss:.3f} nats/token, perplexity {ev.perplexity:,.1f}, {ev.bits_per_char:.3f} bits/char; "
          f"our stand-in: {before.bits_per_char:.3f} bits/char")

# %% [markdown]
# ## Exercise 2: from loss to bits per character
#
# `loss` is the mean over tokens in nats (natural log). Write `bits_per_char(loss, n_tokens, n_chars)`: the total
# loss in bits, divided by the number of characters those tokens cover.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "gpt2-bits-per-char", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
def bits_per_char(loss, n_tokens, n_chars):
    ### BEGIN SOLUTION
    return loss * n_tokens / math.log(2) / n_chars
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gpt2-bits-per-char-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
got = bits_per_char(1.0, 1, 1)  # 1 nat per token, one character per token
assert not math.isclose(got, 1.0), "1 nat per token gave 1: still in nats; divide by ln 2 to get bits"
assert not math.isclose(got, math.log(2)), "1 nat per token gave ln 2: multiplied by ln 2; nats to bits divides by ln 2"
assert math.isclose(got, 1 / math.log(2)), f"1 nat per token, one character per token: expected 1/ln 2, got {got}"
got = bits_per_char(math.log(2), 10, 20)  # 1 bit per token, 2 characters per token
assert not math.isclose(got, 1.0), "that is bits per token: multiply by n_tokens / n_chars to get bits per character"
assert not math.isclose(got, 2.0), "n_tokens and n_chars swapped: the total (loss x n_tokens) is divided by n_chars"
assert math.isclose(got, 0.5), f"1 bit per token, 2 characters per token: expected 0.5 bits per character, got {got}"
assert abs(bits_per_char(before.loss, before.tokens, before.chars) - before.bits_per_char) < 1e-9
print("bits_per_char agrees with the library")

# %% [markdown]
# ## Exercise 3: how much context does the model use?
#
# **An experiment.** Cut `val` into non-overlapping windows of `T` tokens (inputs `val[s : s+T]`, targets
# `val[s+1 : s+T+1]` for `s = 0, T, 2T, ...` while the targets fit), and compute the mean loss at each position
# $t = 0, \dots, T-1$ of the window: position $t$ predicts its target from $t + 1$ tokens. Write
# `loss_by_position(model, ids, T)` returning a tensor of $T$ mean losses, plot it, and interpret: how fast does
# the loss fall as the context grows, and what does the curve say about the two strides in the table above?

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "gpt2-loss-by-position", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def loss_by_position(model, ids: torch.Tensor, T: int) -> torch.Tensor: ...
### BEGIN SOLUTION
def loss_by_position(model, ids, T):
    n = (len(ids) - 1) // T
    x, y = ids[: n * T].view(n, T), ids[1 : n * T + 1].view(n, T)
    with torch.no_grad():
        logits = model(x)[0]
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(0)


per_position = loss_by_position(model, val, T)
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(range(1, T + 1), per_position, ".-")
ax.set(xscale="log", xlabel="tokens of context (t + 1)", ylabel="mean val loss (nats)",
       title="Loss by position in the window")
ax.grid(alpha=0.3)
plt.show()
# Interpretation: for this briefly trained stand-in the loss falls over the first few tokens of context, then
# the curve is noisy and shows no clear fall: the late positions are no better than the middle ones, so the model
# has barely learned to use long context. That is why the table's stride T/4 (which, after the first window,
# scores only the last T/4 positions) gains little or nothing over stride T. A well-trained model such as GPT-2
# shows a curve that keeps falling over hundreds of tokens; there, overlapping windows give the lower estimate.
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "gpt2-loss-by-position-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
per_position = loss_by_position(model, val, T)
assert per_position.shape == (T,), \
    f"shape {tuple(per_position.shape)}: one mean loss per position ({T}), so average over the windows (dim 0)"
windows = (len(val) - 1) // T
inputs = val[: windows * T].view(windows, T)
with torch.no_grad():
    logits = model(inputs)[0]
losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1), val[1 : windows * T + 1], reduction="none")
reference = losses.view(windows, T).mean(0)
unshifted = torch.nn.functional.cross_entropy(logits.flatten(0, 1), inputs.flatten(), reduction="none")
assert not torch.allclose(per_position, unshifted.view(windows, T).mean(0), atol=1e-5), \
    "the targets are the inputs themselves: shift them by one token (val[s + 1 : s + T + 1])"
assert not torch.allclose(per_position, reference * windows, atol=1e-3), \
    f"that is the sum over the {windows} windows: take their mean"
assert not torch.allclose(per_position, reference / math.log(2), atol=1e-5), \
    "those are bits: the loss is in nats (cross_entropy's natural log, no division by ln 2)"
assert torch.allclose(per_position, reference, atol=1e-5), "not the mean loss per position"
assert per_position[1:].min() < per_position[0], "with more context, some position must do better than the first"

# %% [markdown]
# ## A KV cache for generation
#
# Generating token $t+1$ needs the keys and values of all earlier tokens in every layer — but those never
# change. Without a cache the model recomputes the whole prefix for every new token, so step $t$ costs about
# $t$ tokens of work and $n$ new tokens cost about $n^2/2$; with a cache (`model.generate(..., use_cache=True)`)
# each step computes only the new token's query, key and value and appends them. Greedy decoding
# (`temperature=0`) must give identical tokens either way, including after the window is full and starts
# sliding (then the cached path re-reads the window, because every position shifts).
#
# The timing uses the method of `nanogpt bench generate` (`nanogpt_lib.evaluate.time_generation`): a warm-up run
# of each path, then several rounds that alternate which path goes first, keeping each path's best time. We
# measure a short and a long generation; the cell prints the ratios.
#
# What to expect: the cache saves recomputing the prefix, work that grows with the model's depth and width and
# with the length of the generation, while the fixed cost of each step (Python, launching dozens of small
# operations, sampling) is the same with or without it. Our stand-in is tiny (4 layers of width 128, a window of
# 128 tokens), so the fixed cost is a large share of every step and the cache can only win a modest factor here.
# For GPT-2 small (12 layers of width 768, a window of 1024) generating hundreds of tokens, the recomputation is
# most of the time and the cache saves correspondingly more; `nanogpt bench generate --init-from gpt2` measures
# it online.

# %%
prompt = torch.tensor([tok.encode("ROMEO:\n")])
long = [model.generate(prompt, T + 32, temperature=0, use_cache=c) for c in (False, True)]  # past the window
assert torch.equal(long[0], long[1])
lengths = [T // 4, T - prompt.size(1)]  # the longest fills the window exactly
timings = {n: time_generation(model, prompt, n, repeats=pick(real=5, fast=2), warmup=1) for n in lengths}
assert all(t.identical for t in timings.values()), "the cache changed the generated tokens"
print("identical greedy tokens with and without the cache (also past the window)")
for n, t in timings.items():
    print(f"{n:4} new tokens: no cache {t.tokens_per_sec_no_cache:7,.0f} tokens/s, KV cache "
          f"{t.tokens_per_sec_kv_cache:7,.0f} tokens/s: the cache is {t.speedup:.1f}x as fast")
short, full = timings[lengths[0]].speedup, timings[lengths[-1]].speedup
print(f"the gain {'grew' if full > short else 'did not grow'} with the length of the generation here")
fig, ax = plt.subplots(figsize=(5, 3))
width = 0.38
for i, (label, key) in enumerate((("no cache", "tokens_per_sec_no_cache"), ("KV cache", "tokens_per_sec_kv_cache"))):
    ax.bar([j + (i - 0.5) * width for j in range(len(lengths))], [getattr(timings[n], key) for n in lengths],
           width, label=label, color=["C7", "C2"][i])
ax.set_xticks(range(len(lengths)), [f"{n} new tokens" for n in lengths])
ax.set(ylabel="tokens / second", title="Greedy generation (best of the alternating runs)")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside the axes: it covers no bar
ax.grid(alpha=0.3, axis="y")
plt.show()

# %% [markdown]
# ## Fine-tuning
#
# The `finetune_shakespeare` preset starts from GPT-2's weights and tokenizer (`init_from="gpt2"`,
# `tokenizer="gpt2"`) and trains briefly with a small learning rate. Offline we run the same training path from
# our stand-in's folder (`init_from=str(model_dir)`), with two changes we state plainly:
#
# - our stand-in already learned from Shakespeare's training split, so here fine-tuning is *more training on
#   the same text*. It shows the mechanics (weights from a Hugging Face folder, the preset's schedule, the
#   before/after evaluation), not adaptation to a new kind of text; with GPT-2 itself, the same cell adapts a
#   model of web text to Shakespeare;
# - the preset's learning rate is chosen for GPT-2's pretrained weights; for our small model we use a
#   larger one, and single batches of 16 instead of the preset's 4 accumulated batches of 8, to keep this CPU
#   notebook short.
#
# The training corpus is the same training split, encoded with the folder's tokenizer.

# %%
print("finetune_shakespeare preset:", PRESETS["finetune_shakespeare"])
ft_cfg = notebook_config("finetune_shakespeare", init_from=str(model_dir), tokenizer="bpe",
                         n_layer=config["n_layer"], n_head=config["n_head"], n_embd=config["n_embd"],
                         block_size=config["n_positions"], batch_size=16, grad_accum_steps=1, learning_rate=3e-4,
                         min_lr=3e-5, dropout=0.0, max_iters=pick(real=100, fast=20), eval_interval=50, eval_iters=10)
result = train(ft_cfg, corpus, progress=False, verbose=False)
after = evaluate_text_ids(result.model, val, tok, batch_size=16)
display(Markdown(f"""| | val loss | perplexity | bits per char |
|---|---|---|---|
| before fine-tuning | {before.loss:.3f} | {before.perplexity:,.1f} | {before.bits_per_char:.3f} |
| after {ft_cfg.max_iters} more steps | {after.loss:.3f} | {after.perplexity:,.1f} | {after.bits_per_char:.3f} |"""))
assert after.loss < before.loss
plot_losses(result.history, title="Fine-tuning the stand-in from its Hugging Face folder")
plt.show()
print(sample_text(result.model, tok, "ROMEO:\n", max_new_tokens=60, temperature=0.8, seed=0))

# %% [markdown]
# ## Back to Hugging Face
#
# `model.save_pretrained(folder, tokenizer=...)` writes `config.json` and `model.safetensors` in GPT-2's layout
# (transposing back to `Conv1D`), so `transformers` loads our fine-tuned model directly. Models trained with
# `bias=False` are written with zero biases — the same function in GPT-2's layout — and come back as
# `bias=False`.

# %%
out_dir = result.model.save_pretrained(work / "finetuned", tokenizer=tok)
back = GPT2LMHeadModel.from_pretrained(out_dir).eval()
with torch.no_grad():
    diff = (back(x).logits - result.model.eval()(x)[0]).abs().max()
print(sorted(p.name for p in out_dir.iterdir()), f"max logit difference {diff:.1e}")
assert diff < 1e-5

# %% [markdown]
# From the command line, with GPT-2 itself (online):
#
# ```bash
# nanogpt train --preset finetune_shakespeare --out-dir runs/ft      # downloads GPT-2's weights and tokenizer
# nanogpt bench eval --init-from gpt2 --data shakespeare --stride 512
# nanogpt bench eval --out-dir runs/ft                                # the fine-tuned checkpoint
# ```
#
# ## What's next
#
# You now have every piece of GPT-2: the tokenizer, the architecture, the weights, evaluation, fast sampling
# and fine-tuning. Natural next steps: fine-tune the real `gpt2` on a GPU with the `finetune_shakespeare` preset
# and compare its bits per character with the character-level models of notebooks 04–05; try `gpt2-medium`;
# or scale your own model up and watch the loss follow a scaling law.
