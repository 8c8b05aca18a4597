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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/04_full_gpt.ipynb)
#
# # 04 · The full GPT
#
# Token and position embeddings, a stack of blocks, a final LayerNorm and a language-model head: that is
# the whole GPT. We assemble it, count its parameters, train it with the library's `train`, and sample
# from it.
#
# **You will learn**
# - how the pieces fit together, weight tying, and GPT-2's initialisation;
# - where the parameters are;
# - what `train` does: AdamW, warmup + cosine learning rate, evaluation on both splits, a progress bar
#   and live loss curves;
# - sampling with temperature and top-k;
# - how far the GPT gets beyond the bigram model.
#
# **You need** from 03: `Block` (now `nanogpt_lib.Block`, with the fused attention) and `GPTConfig`.

# %%
# In Colab, install nanogpt_lib from the project's repository; locally it is already installed.
import sys

if "google.colab" in sys.modules:
    # %pip install -q "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"

from nanogpt_lib.notebook import setup

setup()  # seeds, small inline figures; loads the corpus (downloads it the first time)

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from torch.nn import functional as F

import nanogpt_lib
from nanogpt_lib import (Block, GPTConfig, LiveLossPlot, get_config, load_corpus, notebook_config, plot_lr,
                         plot_runs, sample_text, train)
from nanogpt_lib.notebook import pick

corpus = load_corpus()


# %% [markdown]
# ## Assembling the model
#
# - `wte`: token embeddings (what the character is); `wpe`: position embeddings (where it is). Their sum
#   is the input of the first block.
# - `h`: `n_layer` blocks; `ln_f`: a last LayerNorm; `lm_head`: a linear map back to `vocab_size` logits.
# - **Weight tying**: `lm_head` reuses the token-embedding matrix. Reading a character and predicting it
#   use the same vectors, which saves parameters and usually helps.
# - **Initialisation** as in GPT-2: weights from N(0, 0.02); the last projection of each residual branch
#   scaled down by √(2·n_layer), because `2·n_layer` branches add up in the residual stream.

# %%
class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(config.vocab_size, config.n_embd),
            "wpe": nn.Embedding(config.block_size, config.n_embd),
            "drop": nn.Dropout(config.dropout),
            "h": nn.ModuleList([Block(config, layer) for layer in range(config.n_layer)]),
            "ln_f": nn.LayerNorm(config.n_embd, bias=config.bias),
        })
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.n_layer))
            elif p.dim() == 2:  # embeddings and Linear weights
                nn.init.normal_(p, std=0.02)
            elif name.endswith(".bias") and "ln_" not in name:
                nn.init.zeros_(p)

    def forward(self, idx, targets=None):
        T = idx.size(1)
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T, device=idx.device))
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


# %% [markdown]
# ## Counting parameters
#
# The model we train below has the `cpu` preset's shape (4 layers, 4 heads, `n_embd = 128`) with a context
# of 64 characters instead of the preset's 128, which makes every step about twice as cheap. Almost all parameters sit in the blocks; the tied embedding table is small because the
# vocabulary is only 65 characters (GPT-2's 50,257-token table is 38M of its 124M parameters).

# %%
# NBVAL_CHECK_OUTPUT
preset = get_config("cpu", block_size=64)
model = GPT(preset.model_config(corpus.vocab_size))


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


print(f"token embeddings (tied with lm_head) {count(model.transformer.wte):>9,}")
print(f"position embeddings                  {count(model.transformer.wpe):>9,}")
print(f"{preset.n_layer} blocks x {count(model.transformer.h[0]):,}             {count(model.transformer.h):>9,}")
print(f"final LayerNorm                      {count(model.transformer.ln_f):>9,}")
print(f"total                                {count(model):>9,}")

# %% [markdown]
# ## Training with the library
#
# `nanogpt_lib.train` is the loop of notebook 01 grown up:
# - **AdamW** with weight decay on the weight matrices only;
# - the learning rate **warms up** linearly, then follows a **cosine** down to `min_lr`
#   (notebook 05 explains why);
# - gradient clipping at norm 1;
# - every `eval_interval` steps, the mean loss over `eval_iters` batches of train *and* val;
# - a progress bar, a log line (with a short sample) every `log_interval` steps, and callbacks:
#   here `LiveLossPlot`, which redraws the curves as training goes.
#
# `notebook_config("cpu", ...)` is the `cpu` preset with our overrides (in the test suite's fast mode it
# becomes the seconds-long `tiny` preset). The full preset trains 3,000 steps with a 128-character context
# (about 10 minutes on two CPU cores); we train 600 steps with 64 characters, which costs some quality:
# `nanogpt train --preset cpu` on the command line goes the whole way. `train` builds the library's `GPT`, which the
# Check below proves identical to ours.

# %%
cfg = notebook_config("cpu", block_size=64, max_iters=600, eval_interval=100, log_interval=100)
result = train(cfg, corpus, callbacks=(LiveLossPlot("GPT (cpu preset)"),))
gpt = result.model

# %% [markdown]
# The learning-rate schedule that run used, step by step:

# %%
fig = plot_lr(result.history)
fig.set_size_inches(6, 3)

# %% [markdown]
# ## Sampling: temperature and top-k
#
# Generation appends one token at a time: run the model on the last `block_size` tokens, turn the logits
# of the last position into probabilities, draw the next token.
# - **Temperature** divides the logits before the softmax: below 1 sharpens the distribution (safer,
#   more repetitive), above 1 flattens it (more varied, more mistakes); 0 means always the most likely token.
# - **Top-k** keeps only the `k` most likely tokens and renormalises, cutting off the long tail of unlikely
#   characters.

# %%
prompt = "ROMEO:\n"
idx = torch.tensor([corpus.tokenizer.encode(prompt)], device=next(gpt.parameters()).device)
with torch.no_grad():
    logits = gpt.next_token_logits(idx)[0].cpu()
top = logits.topk(10).indices
labels = [repr(corpus.tokenizer.decode([i]))[1:-1] for i in top.tolist()]

fig, ax = plt.subplots(figsize=(10, 3))
for i, temperature in enumerate((0.5, 1.0, 2.0)):
    probs = F.softmax(logits / temperature, dim=-1)[top]
    ax.bar([j + 0.27 * (i - 1) for j in range(10)], probs, width=0.27, label=f"temperature {temperature}")
ax.set_xticks(range(10), labels)
ax.set(title=f"Next character after {prompt!r}: the 10 most likely", ylabel="probability")
ax.legend()
plt.show()

# %%
for temperature, top_k in ((0.5, None), (1.0, None), (1.5, None), (1.0, 5)):
    print(f"--- temperature {temperature}, top_k {top_k}")
    print(sample_text(gpt, corpus.tokenizer, prompt, pick(real=250, fast=50), temperature=temperature, top_k=top_k,
                      seed=0))

# %% [markdown]
# ## Bigram vs GPT
#
# The bigram model of notebook 01, trained by the same loop for the same number of steps on the same
# windows (with a higher learning rate, which a lookup table needs), on one chart with the GPT:

# %%
bigram_cfg = notebook_config("cpu", block_size=64, max_iters=600, eval_interval=100, log_interval=100, learning_rate=1e-2,
                             min_lr=1e-3, weight_decay=0.0, sample_tokens=0)
bigram = train(bigram_cfg, corpus, model=nanogpt_lib.BigramLanguageModel(corpus.vocab_size),
               progress=False, verbose=False)
fig = plot_runs({"bigram": bigram.history, "GPT": result.history}, title="Bigram vs GPT")
for name, h in (("bigram", bigram.history), ("GPT", result.history)):
    print(f"{name:7} val loss {h.eval_val_loss[-1]:.3f}")

# %% [markdown]
# The bigram model cannot go much below 2.5 however long it trains (notebook 01); the GPT, which sees 64
# characters of context, is far below that and still improving when we stop.
#
# ## Check
#
# Our `GPT` and `nanogpt_lib.GPT` are the same network: same parameter names and count, and with the same
# weights the same logits and loss.

# %%
config = GPTConfig(vocab_size=corpus.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=64, bias=False)
torch.manual_seed(0)
ours = GPT(config)
lib_gpt = nanogpt_lib.GPT(config)
assert [n for n, _ in ours.named_parameters()] == [n for n, _ in lib_gpt.named_parameters()]
assert count(ours) == lib_gpt.num_params() == count(lib_gpt)
lib_gpt.load_state_dict(ours.state_dict())
x, y = nanogpt_lib.get_batch(corpus.val, 4, config.block_size, torch.Generator().manual_seed(0))
torch.testing.assert_close(ours(x, y)[0], lib_gpt(x, y)[0])
torch.testing.assert_close(ours(x, y)[1], lib_gpt(x, y)[1])

# GPT-2's initialisation: the loss of an untrained model is close to ln(vocab_size)
assert abs(lib_gpt(x, y)[1].item() - math.log(corpus.vocab_size)) < 0.2

# Training helped, and the GPT beats the bigram model trained for as many steps
h = result.history
assert h.eval_val_loss[-1] < h.eval_val_loss[0] and h.eval_val_loss[-1] < math.log(corpus.vocab_size)
assert h.eval_val_loss[-1] < bigram.history.eval_val_loss[-1]

# Temperature 0 is greedy: the random seed no longer matters
assert sample_text(gpt, corpus.tokenizer, prompt, 50, temperature=0, seed=1) == \
    sample_text(gpt, corpus.tokenizer, prompt, 50, temperature=0, seed=2)
print("all checks passed")


# %% [markdown]
# ## Exercises
#
# **1. Top-k by hand.** Write `top_k_logits(logits, k)`: the same `(B, vocab)` logits with everything
# below the `k`-th largest value of each row set to `-inf`.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex04-top-k", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def top_k_logits(logits: torch.Tensor, k: int) -> torch.Tensor: ...
### BEGIN SOLUTION
def top_k_logits(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))
### END SOLUTION


# %% tags=["self-check"]
logits = torch.randn(3, corpus.vocab_size)
filtered = top_k_logits(logits, 5)
assert (filtered > float("-inf")).sum(dim=-1).tolist() == [5, 5, 5]
# Sampling from our filtered logits draws the same tokens as the library with top_k=5
ours = torch.multinomial(F.softmax(filtered, dim=-1), 1, generator=torch.Generator().manual_seed(0))
lib = nanogpt_lib.sample_next_token(logits, top_k=5, generator=torch.Generator().manual_seed(0))
assert torch.equal(ours, lib)


# %% [markdown]
# **2. A parameter formula.** Write `gpt_params(vocab_size, block_size, n_layer, n_embd)`: the number of
# parameters of a `GPT` with `bias=False` and tied weights, without building one.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex04-gpt-params", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def gpt_params(vocab_size, block_size, n_layer, n_embd) -> int: ...
### BEGIN SOLUTION
def gpt_params(vocab_size, block_size, n_layer, n_embd):
    embeddings = vocab_size * n_embd + block_size * n_embd
    per_block = 12 * n_embd * n_embd + 2 * n_embd
    return embeddings + n_layer * per_block + n_embd
### END SOLUTION


# %% tags=["self-check"]
for shape in [(65, 128, 4, 128), (65, 256, 6, 384), (1000, 512, 3, 96)]:
    vocab_size, block_size, n_layer, n_embd = shape
    config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=4,
                       n_embd=n_embd, bias=False)
    assert gpt_params(*shape) == nanogpt_lib.GPT(config).num_params(), shape

# %% [markdown]
# ## What's next
#
# Real training runs last hours and crash, need bigger batches than fit in memory, and use several GPUs.
# **05_training_at_scale** shows the tools: checkpoints and exact resume, warmup + cosine learning rate,
# mixed precision, gradient accumulation, and `torchrun`.
