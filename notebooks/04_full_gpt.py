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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/04_full_gpt.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/04_full_gpt.ipynb)
#
# # 04 · The full GPT
#
# Token and position embeddings, a stack of blocks, a final LayerNorm and a language-model head: that is
# the whole GPT. We assemble it, count its parameters, train it with the library's `train`, and sample
# from it.
#
# **You will learn**
# - how the pieces fit together, with the shape of every tensor; weight tying and GPT-2's initialisation;
# - where the parameters are, as a formula you can check against the model;
# - what `train` does: AdamW, warmup + cosine learning rate, evaluation on both splits, live loss curves;
# - sampling: temperature, top-k and top-p as operations on the next-token distribution, and how
#   many candidates top-p keeps where the model is sure or unsure;
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
import time

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from torch.nn import functional as F

import nanogpt_lib
from nanogpt_lib import (
    Block,
    GPTConfig,
    LiveLossPlot,
    get_batch,
    get_config,
    load_corpus,
    notebook_config,
    plot_lr,
    plot_runs,
    sample_text,
    train,
)
from nanogpt_lib.notebook import pick
from nanogpt_lib.plot import diagrams

corpus = load_corpus()


# %% [markdown]
# ## Assembling the model
#
# Write $V$ for the vocabulary size, $C$ for `n_embd`, $L$ for `n_layer` and $T$ for the context length.
# For token ids $\mathrm{idx} \in \{0,\dots,V-1\}^{B \times T}$ the GPT computes
#
# $$x^{(0)}_{b,t} = W_E[\mathrm{idx}_{b,t}] + W_P[t], \qquad x^{(\ell)} = \mathrm{Block}_\ell\big(x^{(\ell-1)}\big)
# \;\; (\ell = 1,\dots,L), \qquad \mathrm{logits} = \mathrm{LN}_f\big(x^{(L)}\big)\, W_E^{\top}.$$
#
# - `wte` is $W_E \in \mathbb{R}^{V \times C}$, the token embeddings (what the character is); `wpe` is
#   $W_P \in \mathbb{R}^{T \times C}$, the position embeddings (where it is).
# - `h` holds the $L$ blocks of notebook 03; `ln_f` is a last LayerNorm; `lm_head` maps back to $V$ logits.
# - **Weight tying**: `lm_head` has no matrix of its own, it reuses $W_E$. The logit of token $v$ is the dot
#   product $z_v = h \cdot W_E[v]$ of the final hidden state with $v$'s own embedding: reading a character and
#   predicting it use the same vector. That saves $V C$ parameters and usually helps.
# - **Initialisation** as in GPT-2: every weight matrix from $\mathcal{N}(0, 0.02^2)$. Each block adds two
#   branches to the residual stream, so after $L$ blocks $2L$ roughly independent terms have been summed and
#   their variances add up. Scaling the last projection of every branch (`c_proj`) to standard deviation
#   $0.02 / \sqrt{2L}$ keeps the sum's variance the same whatever the depth.
#
# The whole model, with the shape of every tensor for the configuration we train below (batch $B$ = `batch_size`):

# %%
shape = get_config("cpu", block_size=64)
diagrams.gpt_architecture(B=shape.batch_size, T=shape.block_size, vocab_size=corpus.vocab_size,
                          n_layer=shape.n_layer, n_head=shape.n_head, n_embd=shape.n_embd)


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
# Without biases (`bias=False`, our presets), every block holds four matrices: the fused $q, k, v$ projection
# ($C \times 3C$) and the attention output ($C \times C$), the MLP's expansion ($C \times 4C$) and projection
# ($4C \times C$), that is $12C^2$, plus the weights of its two LayerNorms ($2C$). With the final LayerNorm
# and the tied embedding:
#
# $$N \;=\; \underbrace{V C}_{W_E\ (= \mathtt{lm\_head})} \;+\; \underbrace{T C}_{W_P}
# \;+\; L\,\big(12 C^2 + 2C\big) \;+\; \underbrace{C}_{\mathrm{LN}_f}.$$
#
# The blocks grow with $C^2$, the embedding with $V C$: with our 65 characters the blocks hold almost
# everything, while for a BPE vocabulary (notebook 06) the embedding becomes a large share. The model we
# train below has the `cpu` preset's shape with a shorter context (`block_size=64` instead of the preset's
# 128); the cell counts each part and checks the formula.

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

# %%
V, T, L, C = corpus.vocab_size, preset.block_size, preset.n_layer, preset.n_embd
assert count(model) == V * C + T * C + L * (12 * C * C + 2 * C) + C
print(f"the formula: {V * C:,} + {T * C:,} + {L} x {12 * C * C + 2 * C:,} + {C} = {count(model):,}")

# %% [markdown]
# ## Training with the library
#
# `nanogpt_lib.train` is the loop of notebook 01 grown up:
# - **AdamW** with weight decay on the weight matrices only (notebook 05 writes out its update);
# - the learning rate **warms up** linearly, then follows a **cosine** down to `min_lr` (notebook 05);
# - gradient clipping at norm 1;
# - every `eval_interval` steps, the mean loss over `eval_iters` batches of train *and* val;
# - a log line every `log_interval` steps, and callbacks: here `LiveLossPlot`, which redraws the curves as
#   training goes. (`train` can also show a progress bar; with a log printed, we switch it off.)
#
# `notebook_config("cpu", ...)` is the `cpu` preset with our overrides (in the test suite's fast mode it
# becomes the seconds-long `tiny` preset). We train far fewer steps than the preset, with half its context,
# so the GPT is still improving when we stop (the comparison with the bigram model below shows by how much):
# `nanogpt train --preset cpu` on the command line goes the whole way. The cell
# prints how long our run took. `train` builds the library's `GPT`, which the Check below proves identical
# to ours.

# %%
cfg = notebook_config("cpu", block_size=64, max_iters=600, eval_interval=100, log_interval=100, sample_tokens=0)
print(f"{cfg.max_iters} steps of batch_size x block_size = {cfg.batch_size} x {cfg.block_size} = "
      f"{cfg.tokens_per_step:,} tokens")
t0 = time.perf_counter()
result = train(cfg, corpus, callbacks=(LiveLossPlot("GPT (cpu preset)"),), progress=False)
seconds = time.perf_counter() - t0
gpt = result.model
print(f"trained in {seconds:.0f} s ({cfg.max_iters * cfg.tokens_per_step / seconds:,.0f} tokens/s on this machine)")

# %% [markdown]
# The learning-rate schedule that run used, step by step:

# %%
fig = plot_lr(result.history)
fig.set_size_inches(6, 3)

# %% [markdown]
# ## Sampling: temperature, top-k and top-p
#
# Generation appends one token at a time: run the model on the last `block_size` tokens, take the logits
# $z \in \mathbb{R}^V$ of the last position, turn them into a distribution, draw the next token. Each
# setting is an operation on that distribution:
#
# - **Temperature** $\tau$ divides the logits before the softmax:
#   $$p_i(\tau) = \frac{e^{z_i/\tau}}{\sum_{j} e^{z_j/\tau}}.$$
#   $\tau = 1$ is the model's own distribution; $\tau < 1$ sharpens it (safer, more repetitive); $\tau > 1$
#   flattens it towards uniform (more varied, more mistakes); as $\tau \to 0$ all the mass goes to the
#   largest logit, so `temperature=0` means greedy: always the most likely token.
# - **Top-k** keeps the $k$ largest logits, $S_k$, and renormalises:
#   $\tilde p_i = p_i \,\mathbb{1}[i \in S_k] \,/\, \sum_{j \in S_k} p_j$. It cuts off the long tail of
#   unlikely characters, however flat or sharp the distribution is.
# - **Top-p** (nucleus sampling) sorts the probabilities, $p_{(1)} \ge p_{(2)} \ge \dots$, keeps the smallest
#   prefix whose mass reaches $p$, $k^* = \min\{k : \sum_{j \le k} p_{(j)} \ge p\}$, and renormalises over it.
#   Unlike top-k, the number of candidates adapts: few where the model is sure, many where it is not.
#
# Below: the model's next-character distribution after a prompt at three temperatures, and how many
# characters top-p keeps at each.

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
for temperature in (0.5, 1.0, 2.0):
    ranked = F.softmax(logits / temperature, dim=-1).sort(descending=True).values
    kept = int((ranked.cumsum(0) - ranked < 0.9).sum())  # top-p: tokens before the mass reaches 0.9
    print(f"temperature {temperature}: top-p 0.9 keeps {kept} of {corpus.vocab_size} characters")

# %% [markdown]
# The same prompt sampled with different settings (a fixed seed, so each line is reproducible):

# %%
SAMPLING_SETTINGS = [  # (temperature, top_k, top_p)
    (0.5, None, None), (1.0, None, None), (1.5, None, None), (1.0, 5, None), (1.0, None, 0.9),
]
for temperature, top_k, top_p in SAMPLING_SETTINGS:
    print(f"--- temperature {temperature}, top_k {top_k}, top_p {top_p}")
    print(sample_text(gpt, corpus.tokenizer, prompt, pick(real=250, fast=50), temperature=temperature, top_k=top_k,
                      top_p=top_p, seed=0))

# %% [markdown]
# Read the lines against the distributions above: at temperature 0.5 common words repeat ("the" again and
# again); at 1.5 the flattened distribution lets rare characters through, with capitals inside words and
# invented names ("LEEDWJD SIO"); top-k 5 and top-p 0.9 cut that tail at temperature 1.
#
# **Try it.** The sampler below has sliders for the temperature, top-k and top-p: it shows the next-character
# distribution after the prompt before and after the filters, and draws a fresh sample with each change. It
# needs a live kernel (Jupyter or Colab); a saved notebook and the course website show a picture of its
# starting state instead.

# %%
# NBVAL_IGNORE_OUTPUT
from nanogpt_lib.plot.widgets import sampler_widget

sampler_widget(gpt, corpus.tokenizer, "ROMEO:\n", max_new_tokens=pick(real=200, fast=50))

# %% [markdown]
# ## Bigram vs GPT
#
# The bigram model of notebook 01, trained by the same loop for the same number of steps on the same
# windows (with a higher learning rate, which a lookup table needs), on one chart with the GPT:

# %%
bigram_cfg = notebook_config("cpu", block_size=64, max_iters=600, eval_interval=100, log_interval=100,
                             learning_rate=1e-2, min_lr=1e-3, weight_decay=0.0, sample_tokens=0)
bigram = train(bigram_cfg, corpus, model=nanogpt_lib.BigramLanguageModel(corpus.vocab_size),
               progress=False, verbose=False)
fig = plot_runs({"bigram": bigram.history, "GPT": result.history}, title="Bigram vs GPT")
for name, h in (("bigram", bigram.history), ("GPT", result.history)):
    print(f"{name:7} val loss {h.eval_val_loss[-1]:.3f} (at the previous evaluation {h.eval_val_loss[-2]:.3f})")
gpt_gain = result.history.eval_val_loss[-2] - result.history.eval_val_loss[-1]
print(f"over its last {cfg.eval_interval} steps the GPT's val loss "
      f"{'still fell' if gpt_gain > 0.01 else 'barely moved'} ({gpt_gain:+.3f} nats)")

# %% [markdown]
# What to look for: the bigram model can only use the current character, so its loss flattens out near 2.6
# (2.644 to 2.622 over the last 100 steps; notebook 01 trains it to the end); the GPT reads up to
# `block_size` characters of context and ends well below it, at 2.004. The last line says the GPT was still
# improving when we stopped: its val loss fell 0.036 nats in those 100 steps.
#
# ## Check
#
# Our `GPT` and `nanogpt_lib.GPT` are the same network: same parameter names and count, and with the same
# weights the same logits and loss. Then: an untrained model's loss is close to $\ln V$, the parameter
# formula holds for a second shape, the trained GPT beats the bigram model, and temperature 0 is greedy.

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

# The parameter formula holds for another shape too
V2, T2, L2, C2 = config.vocab_size, config.block_size, config.n_layer, config.n_embd
assert count(ours) == V2 * C2 + T2 * C2 + L2 * (12 * C2 * C2 + 2 * C2) + C2

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


# %% nbgrader={"grade": true, "grade_id": "ex04-top-k-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
logits = torch.randn(3, corpus.vocab_size)
filtered = top_k_logits(logits, 5)
assert (filtered > float("-inf")).sum(dim=-1).tolist() == [5, 5, 5]
# Sampling from our filtered logits draws the same tokens as the library with top_k=5
ours = torch.multinomial(F.softmax(filtered, dim=-1), 1, generator=torch.Generator().manual_seed(0))
lib = nanogpt_lib.sample_next_token(logits, top_k=5, generator=torch.Generator().manual_seed(0))
assert torch.equal(ours, lib)


# %% [markdown]
# **2. The formula with biases.** GPT-2 itself has biases (`bias=True`): every `Linear` layer of a block has a
# bias vector as long as its output, and every LayerNorm a bias as long as its weight. Extend the formula of
# "Counting parameters" and write `gpt_params_with_bias(vocab_size, block_size, n_layer, n_embd)`, without
# building a model. Then use it for GPT-2 small (`vocab_size=50257, block_size=1024, n_layer=12, n_embd=768`):
# what share of its parameters is the token embedding?

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex04-params-with-bias", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def gpt_params_with_bias(vocab_size, block_size, n_layer, n_embd) -> int: ...
### BEGIN SOLUTION
def gpt_params_with_bias(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    embeddings = vocab_size * C + block_size * C
    per_block = 12 * C * C + 9 * C + 2 * 2 * C  # four Linear biases (3C + C + 4C + C), two LayerNorms (2C each)
    return embeddings + n_layer * per_block + 2 * C


gpt2_small = gpt_params_with_bias(50257, 1024, 12, 768)
print(f"GPT-2 small: {gpt2_small:,} parameters, {50257 * 768 / gpt2_small:.0%} of them in the token embedding")
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex04-params-with-bias-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
for shape in [(65, 128, 4, 128), (65, 256, 6, 384), (1000, 512, 3, 96)]:
    vocab_size, block_size, n_layer, n_embd = shape
    config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=4,
                       n_embd=n_embd, bias=True)
    assert gpt_params_with_bias(*shape) == nanogpt_lib.GPT(config).num_params(), shape

# %% [markdown]
# **3. Experiment: how many candidates does top-p keep?** Top-k always keeps $k$ characters; top-p keeps as
# many as it takes to reach the mass $p$. Write `nucleus_sizes(logits, p)`: for each row of `(N, vocab)`
# logits, the number of tokens top-p keeps, $k^* = \min\{k : \sum_{j \le k} p_{(j)} \ge p\}$. Apply it with
# $p = 0.9$ to the GPT's next-character distributions at every position of a batch of validation windows
# (`x_val`, below), and plot each position's nucleus size against the entropy of its distribution (in bits),
# with a histogram of the sizes. Interpret: where in a text is the model sure (one candidate), where is it
# unsure, and what would top-k with $k = 5$ do in each of those places?

# %%
x_val, _ = get_batch(corpus.val, 16, cfg.block_size, torch.Generator().manual_seed(0))
with torch.no_grad():
    val_logits = gpt(x_val)[0].flatten(0, 1)  # one next-character distribution per position

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex04-nucleus-sizes", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def nucleus_sizes(logits: torch.Tensor, p: float) -> torch.Tensor: ...
### BEGIN SOLUTION
def nucleus_sizes(logits, p):
    ranked = F.softmax(logits, dim=-1).sort(dim=-1, descending=True).values
    return ((ranked.cumsum(dim=-1) - ranked) < p).sum(dim=-1)  # tokens before which the mass is below p


sizes = nucleus_sizes(val_logits, 0.9)
entropy = -(F.softmax(val_logits, -1) * F.log_softmax(val_logits, -1)).sum(-1) / math.log(2)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
ax1.scatter(entropy, sizes, s=6, alpha=0.4)
ax1.axhline(5, color="C1", lw=1, ls="--", label="top-k, k = 5")
ax1.set(xlabel="entropy of p (bits)", ylabel="tokens top-p 0.9 keeps", title="Nucleus size vs uncertainty")
ax1.legend()
ax2.hist(sizes.numpy(), bins=range(1, int(sizes.max()) + 2))
ax2.set(xlabel="tokens top-p 0.9 keeps", ylabel="positions", title="How often each nucleus size occurs")
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
plt.show()
# Interpretation: the nucleus grows with the entropy, from 1 token below about 0.7 bits to about 30 near 5 bits.
# Where the model is sure (typically inside a word, where the next letter is nearly determined) top-p keeps
# one or a few characters, fewer than top-k's fixed 5, so it rarely picks a wrong letter; but after this short
# training such positions are the minority: the histogram shows most positions keep more than 5. Where many
# continuations are plausible (at the start of a word or a line: after "ROMEO:\n" top-p kept 16 characters)
# top-p keeps many, where top-k with k = 5 would cut off good candidates. Top-p adapts to the model's
# uncertainty; top-k does not.
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex04-nucleus-sizes-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
sizes = nucleus_sizes(val_logits, 0.9)
assert sizes.shape == (val_logits.size(0),) and sizes.min() >= 1 and sizes.max() <= corpus.vocab_size
mass = F.softmax(val_logits, -1).sort(dim=-1, descending=True).values.cumsum(-1)
assert (mass.gather(1, (sizes - 1)[:, None]) >= 0.9 - 1e-6).all(), "the kept tokens must reach the mass p"
fewer = (sizes - 2).clamp(min=0)[:, None]
assert ((sizes == 1) | (mass.gather(1, fewer)[:, 0] < 0.9)).all(), "and one token fewer must not"
uncertainty = -(F.softmax(val_logits, -1) * F.log_softmax(val_logits, -1)).sum(-1)
assert torch.corrcoef(torch.stack([uncertainty, sizes.float()]))[0, 1] > 0.5, "unsure places keep more tokens"

# %% [markdown]
# ## What's next
#
# Real training runs are long and crash, need bigger batches than fit in memory, and use several GPUs.
# **05_training_at_scale** shows the tools: checkpoints and exact resume, warmup + cosine learning rate,
# mixed precision, gradient accumulation, and `torchrun`.
