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
# # 07 · Real GPT-2 weights: load, sample, evaluate, fine-tune
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/07_gpt2_weights.ipynb)
#
# Our `GPT` has the same architecture as OpenAI's GPT-2, and we named its modules the way Hugging Face does
# (`transformer.h.0.attn.c_attn`, ...). So the published weights should drop straight in. In this notebook we
#
# 1. look at a Hugging Face GPT-2 checkpoint and map its tensors into our `GPT` **by hand**, then check the
#    logits against `transformers` and against `GPT.from_pretrained`;
# 2. sample from it (text in, BPE tokens, text out);
# 3. evaluate it: loss, perplexity and bits per character with a sliding window;
# 4. make generation faster with a KV cache, and check it produces exactly the same tokens;
# 5. fine-tune it on Tiny Shakespeare, and save it back in Hugging Face's format.
#
# **About the weights used here.** The outputs saved in this notebook were produced on a machine without
# internet, where GPT-2's 500 MB of weights cannot be downloaded. So the notebook builds a *tiny, randomly
# initialised* GPT-2 with `transformers` itself and saves it in exactly the format of the real checkpoints.
# Everything below works the same way on the real `gpt2` (cell "Real GPT-2" shows how); only the numbers change —
# a random model's samples are gibberish and its loss is high.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install the library (and this notebook's extras)
    # %pip install "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"
    # %pip install transformers safetensors tiktoken

from nanogpt_lib.notebook import setup

setup();

# %% [markdown]
# ## A Hugging Face GPT-2 folder
#
# A checkpoint is a folder with `config.json` (a `GPT2Config`: sizes, activation, dropout) and
# `model.safetensors` (the tensors). We build a tiny one: 2 layers, 4 heads, 64-dimensional embeddings, a
# context of 128 tokens, and a vocabulary from our own BPE tokenizer (notebook 06) trained on Shakespeare, since
# GPT-2's tokenizer files are not available offline either. The tokenizer is saved into the same folder.

# %%
import json
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display
from safetensors.torch import load_file
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from nanogpt_lib import GPT, Corpus, GPTConfig, load_text, notebook_config, pick, plot_losses, sample_text, train
from nanogpt_lib.data import project_root
from nanogpt_lib.evaluate import evaluate_text_ids
from nanogpt_lib.tokenizers import BPETokenizer

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
text = load_text()
tok = BPETokenizer.train(text, 1024)

work = project_root() / "runs" / "07_gpt2"  # git-ignored
model_dir = work / "tiny-gpt2"
torch.manual_seed(0)
hf_config = GPT2Config(vocab_size=tok.vocab_size, n_positions=128, n_embd=64, n_layer=2, n_head=4,
                       bos_token_id=tok.eot_id, eos_token_id=tok.eot_id)
hf_model = GPT2LMHeadModel(hf_config).eval()
hf_model.save_pretrained(model_dir)
tok.save(model_dir / "nanogpt_tokenizer.json")
print(sorted(p.name for p in model_dir.iterdir()))
config = json.loads((model_dir / "config.json").read_text())
print({k: config[k] for k in ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "activation_function"]})

# %% [markdown]
# ## Their tensors and ours
#
# Side by side, the tensors of layer 0. The names agree (ours have no `lm_head` in the file because it is
# *tied* to the token embedding `wte`, in both models). But look at the shapes: Hugging Face's GPT-2 uses a
# `Conv1D` layer that stores its weight as **(in, out)**, while `nn.Linear` stores **(out, in)**. Those four
# matrices per block must be transposed.

# %%
hf_sd = load_file(model_dir / "model.safetensors")
ours = GPT(GPTConfig(vocab_size=config["vocab_size"], block_size=config["n_positions"], n_layer=config["n_layer"],
                     n_head=config["n_head"], n_embd=config["n_embd"], bias=True)).eval()
our_sd = ours.state_dict()
rows = ["| key | Hugging Face | ours |", "|---|---|---|"]
for key in our_sd:
    if key.startswith("transformer.h.0.") or not key.startswith("transformer.h."):
        theirs = tuple(hf_sd[key].shape) if key in hf_sd else "— (tied to wte)"
        rows.append(f"| `{key}` | {theirs} | {tuple(our_sd[key].shape)} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Mapping by hand
#
# Copy every tensor, transposing the `Conv1D` weights. The `lm_head.weight` is the same tensor object as
# `transformer.wte.weight`, so copying `wte` fills both.

# %%
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
with torch.no_grad():
    for key, tensor in our_sd.items():
        if key == "lm_head.weight":
            continue  # tied to wte
        source = hf_sd[key].t() if key.endswith(CONV1D) else hf_sd[key]
        assert source.shape == tensor.shape, key
        tensor.copy_(source)
assert ours.lm_head.weight is ours.transformer.wte.weight
print("copied", len(our_sd) - 1, "tensors")

# %% [markdown]
# ## Check: hand-mapped == transformers == `GPT.from_pretrained`
#
# On random token ids, our hand-mapped model, Hugging Face's model and the library's loader must give the same
# logits (float32, within 1e-5). The library also checks that every tensor was used and every shape fits, and
# names the keys when they do not.

# %%
x = torch.randint(tok.vocab_size, (4, 128), generator=torch.Generator().manual_seed(1))
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


# %% tags=["self-check"]
assert translate("transformer.h.3.attn.c_attn.weight") == ("transformer.h.3.attn.c_attn.weight", True)
assert translate("h.0.mlp.c_proj.weight") == ("transformer.h.0.mlp.c_proj.weight", True)
assert translate("h.0.attn.c_attn.bias") == ("transformer.h.0.attn.c_attn.bias", False)
assert translate("wte.weight") == ("transformer.wte.weight", False)
assert translate("h.5.attn.bias") is None and translate("h.5.attn.masked_bias") is None
assert translate("lm_head.weight") is None
print("translate() handles every flavour")

# %% [markdown]
# ## Sampling: text in, text out
#
# The prompt is encoded with the model's tokenizer, the model samples token ids, and the ids are decoded back to
# text. Our tiny model is random, so expect fluent-looking fragments of Shakespeare's *tokens* in random order.
# The command line does the same; a folder written by `save_pretrained` carries its tokenizer, otherwise GPT-2's
# is used:
#
# ```bash
# nanogpt sample --init-from gpt2 --prompt "ROMEO:" --max-new-tokens 100      # real GPT-2 (needs the download)
# nanogpt sample --init-from runs/07_gpt2/tiny-gpt2 --prompt "ROMEO:"          # a local Hugging Face folder
# ```

# %%
print(sample_text(model, tok, "ROMEO:\n", max_new_tokens=40, temperature=0.8, seed=0))

# %% [markdown]
# ## Real GPT-2
#
# With internet (for example on Colab) this cell downloads GPT-2 small (124M parameters, about 500 MB, cached
# after the first time) through `huggingface_hub` and samples from it. Without internet it explains what is
# missing and the notebook carries on with the tiny local model.

# %%
from nanogpt_lib.pretrained import pretrained_tokenizer

try:
    gpt2 = GPT.from_pretrained("gpt2").eval()
    gpt2_tok = pretrained_tokenizer("gpt2")
    print(f"GPT-2: {gpt2.num_params() / 1e6:.0f}M parameters")
    print(sample_text(gpt2, gpt2_tok, "ROMEO:", max_new_tokens=pick(real=60, fast=5), temperature=0.8, top_k=50))
except (FileNotFoundError, ImportError) as e:
    print("Real GPT-2 is not available here:\n", e)

# %% [markdown]
# ## Evaluation: loss, perplexity, bits per character
#
# We score the validation split (the last 10% of the tokens, exactly as `prepare` splits them; here its first
# 20,000 tokens, to keep the notebook quick — `nanogpt bench eval` scores all of it). A text longer
# than the context is cut into windows. With **stride = block size** the windows do not overlap: cheap, but the
# first tokens of each window are predicted with almost no context. A **smaller stride** lets windows overlap and
# scores only each window's new tokens, so every prediction sees at least `block_size - stride` tokens of
# context, at `block_size / stride` times the compute.
#
# Perplexity is `exp(loss)`: the model is "as unsure as a uniform choice among that many tokens". A random model
# should sit near the vocabulary size (1024 here).

# %%
ids = torch.tensor(tok.encode(text))
val = ids[int(0.9 * len(ids)):][: pick(real=20_000, fast=2000)]  # the first 20k val tokens keep this quick
rows = ["| stride | loss (nats/token) | perplexity | bits per char | seconds |", "|---|---|---|---|---|"]
for stride in [128, 32]:
    t0 = time.perf_counter()
    ev = evaluate_text_ids(model, val, tok, stride=stride, batch_size=16)
    rows.append(f"| {stride} | {ev.loss:.3f} | {ev.perplexity:,.0f} | {ev.bits_per_char:.3f} | {time.perf_counter() - t0:.1f} |")
display(Markdown("\n".join(rows)))
before = evaluate_text_ids(model, val, tok, batch_size=16)

# %% [markdown]
# ## Exercise 2: from loss to bits per character
#
# `loss` is the mean over tokens in nats (natural log). Write `bits_per_char(loss, n_tokens, n_chars)`: the total
# loss in bits, divided by the number of characters those tokens cover.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "gpt2-bits-per-char", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
import math


def bits_per_char(loss, n_tokens, n_chars):
    ### BEGIN SOLUTION
    return loss * n_tokens / math.log(2) / n_chars
    ### END SOLUTION


# %% tags=["self-check"]
assert abs(bits_per_char(before.loss, before.tokens, before.chars) - before.bits_per_char) < 1e-9
assert abs(bits_per_char(math.log(2), 10, 10) - 1.0) < 1e-12
print("bits_per_char agrees with the library")

# %% [markdown]
# ## A KV cache for generation
#
# Generating token *t+1* needs the keys and values of all earlier tokens in every layer — but those never
# change. Without a cache the model recomputes the whole window for every new token; with a cache
# (`model.generate(..., use_cache=True)`) it computes only the new token's query, key and value and appends
# them. Greedy decoding (`temperature=0`) must give identical tokens either way, including after the window is
# full and starts sliding (then the cached path re-reads the window, because every position shifts).

# %%
prompt = torch.tensor([tok.encode("ROMEO:\n")])
new = pick(real=120, fast=20)
speed, outputs = {}, {}
for use_cache in (False, True):
    t0 = time.perf_counter()
    outputs[use_cache] = model.generate(prompt, new, temperature=0, use_cache=use_cache)
    speed["KV cache" if use_cache else "no cache"] = new / (time.perf_counter() - t0)
assert torch.equal(outputs[False], outputs[True]), "the cache changed the generated tokens"
long = [model.generate(prompt, pick(real=160, fast=140), temperature=0, use_cache=c) for c in (False, True)]  # past block_size
assert torch.equal(long[0], long[1])
print("identical greedy tokens with and without the cache (also past the 128-token window)")
fig, ax = plt.subplots(figsize=(4.5, 3))
ax.bar(list(speed), list(speed.values()), color=["C7", "C2"])
ax.set(ylabel="tokens / second", title=f"Greedy generation, {new} tokens")
ax.grid(alpha=0.3, axis="y")
plt.show()

# %% [markdown]
# Without the cache every step re-reads the whole prompt so far; with it every step processes one token, so the
# gain grows with the length of the context and the size of the model. `nanogpt bench generate` measures it
# (README, "Tokenizers and GPT-2 weights").
#
# ## Fine-tuning on Tiny Shakespeare
#
# The `finetune_shakespeare` preset starts from pretrained weights (`init_from="gpt2"`, `tokenizer="gpt2"`) and
# trains briefly with a small learning rate (3e-5), so the model adapts to Shakespeare without forgetting
# English. Here we use the same training path with our tiny local folder. Because its weights are random, not
# pretrained, a learning rate of 3e-5 would barely move them: we raise it to 1e-3 and say so — with real GPT-2
# keep the preset's value. We also take single batches of 16 instead of the preset's 4 accumulated batches of 8,
# to keep this CPU notebook short. The training corpus is encoded with the folder's tokenizer.

# %%
from nanogpt_lib import PRESETS

print("finetune_shakespeare preset:", PRESETS["finetune_shakespeare"])
cfg = notebook_config("finetune_shakespeare", init_from=str(model_dir), tokenizer="bpe", block_size=128,
                      batch_size=16, grad_accum_steps=1, learning_rate=1e-3, min_lr=1e-4, dropout=0.0,
                      max_iters=pick(real=200, fast=20), eval_interval=pick(real=50, fast=10), eval_iters=10)
corpus = Corpus.from_text(text, tok)
result = train(cfg, corpus, progress=False, verbose=False)
after = evaluate_text_ids(result.model, val, tok, batch_size=16)
display(Markdown(f"""| | val loss | perplexity | bits per char |
|---|---|---|---|
| before fine-tuning | {before.loss:.3f} | {before.perplexity:,.0f} | {before.bits_per_char:.3f} |
| after {cfg.max_iters} steps | {after.loss:.3f} | {after.perplexity:,.0f} | {after.bits_per_char:.3f} |"""))
assert after.loss < before.loss
plot_losses(result.history, title="Fine-tuning the tiny local GPT-2")
plt.show()
print(sample_text(result.model, tok, "ROMEO:\n", max_new_tokens=40, temperature=0.8, seed=0))

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
# From the command line:
#
# ```bash
# nanogpt train --preset finetune_shakespeare --out-dir runs/ft      # real GPT-2 (downloads weights + tokenizer)
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
