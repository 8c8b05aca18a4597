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
# - how the pieces fit together, with the shape of every tensor; weight tying, and GPT-2's initialisation
#   with what it keeps small, measured;
# - where the parameters are, as a formula you can check against the model;
# - what `train` does: AdamW, warmup + cosine learning rate, evaluation on both splits, live loss curves;
# - sampling: `generate` by hand, temperature, top-k and top-p as operations on the next-token
#   distribution, and how many candidates top-p keeps where the model is sure or unsure;
# - how far the GPT gets beyond the bigram model, and what a model of the same size writes with a better
#   recipe and a longer run; the train/val gap that dropout is for.
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
# ### Why the small initialisation
#
# Notebook 01 found that random logits of standard deviation $\sigma$ start the loss at about
# $\ln V + \sigma^2/2$: a model that knows nothing but is confident about it. In our GPT the logits are
# $z_v = h \cdot W_E[v]$, where $h$, fresh out of the final LayerNorm, has $C$ entries of variance about 1.
# With entries of $W_E$ of standard deviation $s$, each logit is a sum of $C$ such products, of standard
# deviation about $s \sqrt{C}$ while $h$ and $W_E[v]$ are unrelated (more once $W_E$ is large enough to
# dominate $h$: $h$ then resembles the current token's own row). GPT-2's $s = 0.02$ keeps $\sigma$ small and
# the first loss near $\ln V$; PyTorch's default for `nn.Embedding`, $s = 1$, makes $\sigma$ at least
# $\sqrt{C}$. The cell measures both, and one in between, on an untrained model of the shape we train below:

# %%
init_cfg = get_config("cpu", block_size=64).model_config(corpus.vocab_size)
x_init, y_init = get_batch(corpus.train, 8, init_cfg.block_size, torch.Generator().manual_seed(0))
print(f"ln V = {math.log(corpus.vocab_size):.3f}, C = {init_cfg.n_embd}")
for s in (0.02, 0.2, 1.0):
    torch.manual_seed(0)
    fresh = GPT(init_cfg)
    with torch.no_grad():
        fresh.transformer.wte.weight.normal_(std=s)  # also the lm_head: the weights are tied
        logits, loss = fresh(x_init, y_init)
    print(f"std of W_E {s:4}: logits' std {logits.std():6.2f} (s·√C = {s * math.sqrt(init_cfg.n_embd):5.2f}), "
          f"initial loss {loss:6.2f}, ln V + σ²/2 = {math.log(corpus.vocab_size) + logits.std() ** 2 / 2:7.2f}")

# %% [markdown]
# The first loss of a model with PyTorch's default embedding starts far above $\ln V$ (the last line; where
# $\sigma$ is large, the loss is closer to the gap between the largest logit and the right one than to the
# formula, which assumed small $\sigma$): the first steps would be spent unlearning confident nonsense.
#
# The second rule, $0.02/\sqrt{2L}$ for `c_proj`, is about depth. Each of the $2L$ branches adds to the
# residual stream a term of roughly fixed variance (its input comes out of a LayerNorm), so without the
# scaling the stream's variance grows like $2L$; with it, the $2L$ terms together add the same variance
# whatever $L$. The cell measures the standard deviation of what the blocks add to the stream, $x^{(L)} - x^{(0)}$,
# at initialisation, for several depths:

# %%
for n_layer in (1, 4, 16):
    deep_cfg = GPTConfig(vocab_size=corpus.vocab_size, block_size=64, n_layer=n_layer, n_head=4, n_embd=128, bias=False)
    torch.manual_seed(0)
    deep = GPT(deep_cfg)
    stds = []
    for scaled in (True, False):
        with torch.no_grad():
            for name, p in deep.named_parameters():
                if name.endswith("c_proj.weight"):
                    torch.manual_seed(1)
                    p.normal_(std=0.02 / math.sqrt(2 * n_layer) if scaled else 0.02)
            x0 = deep.transformer.wte(x_init) + deep.transformer.wpe(torch.arange(x_init.size(1)))
            x = x0
            for block in deep.transformer.h:
                x = block(x)
            stds.append((x - x0).std().item())
    print(f"L = {n_layer:2}: std of what the blocks add, with 0.02/√(2L) {stds[0]:.4f}, with 0.02 {stds[1]:.4f}")

# %% [markdown]
# With the scaling, the first number of each line stays about the same from 1 to 16 blocks; without it, the
# second grows with the depth. With the scaling, a deeper model starts with a residual stream of the same
# size as a shallow one.
#
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
# ### `generate`, by hand
#
# The whole sampling loop is five lines. At each step:
# 1. **crop** the context to the last `block_size` tokens: the model has position embeddings for $T \le$
#    `block_size` only, and reads no further back;
# 2. run the model and keep the logits of the **last position** only, $z \in \mathbb{R}^{B \times V}$ (the
#    other positions predict tokens we already have);
# 3. divide by the **temperature** and take the softmax;
# 4. **draw** one token per sequence with `torch.multinomial`, from a `torch.Generator` so that a seed
#    fixes the draws;
# 5. **append** it, and go on from the longer sequence.
#
# (Top-k and top-p would filter the logits between steps 3 and 4: exercise 1 writes top-k.)

# %%
@torch.no_grad()
def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Append `max_new_tokens` sampled tokens to the (B, T) token ids `idx`."""
    for _ in range(max_new_tokens):
        context = idx[:, -model.config.block_size:]  # 1. at most block_size tokens
        logits = model(context)[0][:, -1, :]  # 2. (B, V): the prediction after the last token
        probs = F.softmax(logits / temperature, dim=-1)  # 3.
        next_id = torch.multinomial(probs, num_samples=1, generator=generator)  # 4. (B, 1)
        idx = torch.cat([idx, next_id], dim=1)  # 5. (B, T + 1)
    return idx


gpt.eval()  # no dropout while sampling
n_new = 2 * gpt.config.block_size  # longer than the context, so that the crop matters
start = torch.tensor([corpus.tokenizer.encode(prompt)] * 2, device=idx.device)  # two sequences at once
ours = generate(gpt, start, n_new, temperature=0.8, generator=torch.Generator(idx.device).manual_seed(0))
lib = gpt.generate(start, n_new, temperature=0.8, generator=torch.Generator(idx.device).manual_seed(0),
                   use_cache=False)
assert torch.equal(ours, lib)  # the same tokens as the library's model.generate, draw for draw
print(f"{n_new} new tokens for each of {ours.size(0)} sequences, identical to model.generate's; the first:")
print(corpus.tokenizer.decode(ours[0].tolist()))

# %% [markdown]
# `use_cache=False` asks the library for this very loop; by default `model.generate` keeps the keys and
# values of the tokens it has already seen (a KV cache) instead of recomputing them at every step. The
# library's `sample_text(model, tokenizer, prompt, ...)`, used below, encodes the prompt, calls
# `model.generate` with a seeded generator and decodes the result.
#
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
for name, h in (("bigram", bigram.history), ("GPT", result.history)):
    gain = h.eval_val_loss[-2] - h.eval_val_loss[-1]
    print(f"over its last {cfg.eval_interval} steps the {name}'s val loss "
          f"{'still fell' if gain > 0.01 else 'barely moved'} ({gain:+.3f} nats)")

# %% [markdown]
# What to look for: the GPT reads up to `block_size` characters of context and ends well below the bigram
# model, which can only use the current character. The last two lines say how much each was still
# improving over the last evaluation interval: 600 steps are not enough for either to reach its limit.
#
# Why is the bigram's number here not notebook 01's? These are different runs of the same model: notebook 01
# trains it for more steps at a constant learning rate on windows of 8 characters and averages its
# evaluation over its own batches, while here it gets 600 steps of the `cpu` preset's batches with warmup and
# a cosine decay, and `train`'s evaluation. The bigram model's floor is the loss of the exact bigram
# statistics (notebook 01's exercise 1 counts them), which neither run claims to reach.

# %% [markdown]
# ## The payoff: the same size, a better recipe, longer
#
# Our GPT stopped while still improving, and its samples are not yet English. What does a model of the same
# size give when trained properly? The `modern` preset has the `cpu` preset's shape (4 blocks of 128
# channels, a context of 128 characters) with the changes notebook 08 builds and measures: rotary position
# embeddings instead of `wpe`, normalised queries and keys, a ReLU² MLP, untied embeddings, and the Muon
# optimizer for the weight matrices. We train it for the number of steps printed below, with its own
# warmup and cosine schedule. (On 2 CPU cores this is the longest cell of the notebook; it prints its time.
# In the test suite's fast mode it is the `tiny` preset again.)

# %%
MODERN_STEPS = 900  # the preset's own run is 1800 steps: a lower val loss, in about twice the time
modern_cfg = notebook_config("modern", max_iters=MODERN_STEPS, eval_interval=100, log_interval=100)
print(f"{modern_cfg.max_iters} steps of {modern_cfg.batch_size} x {modern_cfg.block_size} = "
      f"{modern_cfg.tokens_per_step:,} tokens, {modern_cfg.max_iters * modern_cfg.tokens_per_step:,} in all "
      f"({modern_cfg.max_iters * modern_cfg.tokens_per_step / len(corpus.train):.1f} times the training split)")
t0 = time.perf_counter()
modern = train(modern_cfg, corpus, progress=False, verbose=False)
print(f"trained in {time.perf_counter() - t0:.0f} s; val loss {modern.history.eval_val_loss[-1]:.3f}, "
      f"against {result.history.eval_val_loss[-1]:.3f} for our GPT above")
fig = plot_runs({"GPT (cpu preset, 600 steps)": result.history, "modern preset": modern.history},
                title="Same size, better recipe, longer")

# %% [markdown]
# What it writes after the same prompt at temperature 0.8, below our GPT's sample with the same settings:

# %%
for name, trained in (("our GPT", gpt), ("modern preset", modern.model)):
    print(f"--- {name}")
    print(sample_text(trained, corpus.tokenizer, prompt, pick(real=400, fast=50), temperature=0.8, seed=0))

# %% [markdown]
# ### The train/val gap
#
# Look at the two losses of the modern run at every evaluation: on the training split (text the model has
# been trained on, by the end more than once) and on the validation split (text it never saw). While a
# model learns what carries over to any Shakespeare, both fall together. Once it starts to fit its own
# training text, its particular lines and names, the training loss falls faster than the validation loss
# and a gap opens. (Part of a gap can be there from the start: the validation split is the end of the
# file, other scenes than the training split.) That gap is what **dropout** fights (notebook 03 built it and
# left it out of its short runs: there was nothing to overfit yet), as do weight decay and, best of all,
# more data. Each evaluation averages only a few batches, so the cell also measures the final gap on many
# more:

# %%
h = modern.history
gaps = [v - t for t, v in zip(h.eval_train_loss, h.eval_val_loss, strict=True)]
for step, t, v, gap in zip(h.eval_step, h.eval_train_loss, h.eval_val_loss, gaps, strict=True):
    print(f"step {step:5}: train {t:.3f}  val {v:.3f}  val - train {gap:+.3f}")


@torch.no_grad()
def mean_loss(model: nn.Module, data: torch.Tensor, batches: int) -> float:
    """Mean loss over `batches` fixed random batches of `data`, dropout off."""
    gen, was_training = torch.Generator().manual_seed(0), model.training
    model.eval()
    device = next(model.parameters()).device
    losses = [model(*(t.to(device) for t in get_batch(data, modern_cfg.batch_size, modern_cfg.block_size, gen)))[1]
              .item() for _ in range(batches)]
    model.train(was_training)
    return sum(losses) / len(losses)


n_batches = pick(real=50, fast=5)
final_train, final_val = (mean_loss(modern.model, split, n_batches) for split in (corpus.train, corpus.val))
early = 0  # the first evaluation
print(f"at the end, on {n_batches} batches of each split: train {final_train:.3f}, val {final_val:.3f}, "
      f"gap {final_val - final_train:+.3f}")
grew = final_val - final_train > gaps[early] + 0.02
print(f"at step {h.eval_step[early]} the gap was {gaps[early]:+.3f}: it {'grew' if grew else 'did not grow'} "
      f"during training")

# %% [markdown]
# The last line compares the end with the first evaluation; the table above it shows when the gap opened.
# In the run shown, most of it opened in the first few hundred steps, and it grew far more slowly after
# that. A third of the run is well under one pass over the training split (the first line the modern run
# printed says how many times the whole run covers it), so that early gap is not memorised lines: it is mostly
# what the training split has and the validation split lacks (its own scenes and names), which the model
# picks up like anything else. A gap that keeps growing as the same text comes round again and again is
# the sign of overfitting: the longer a model trains on the same million characters, the more of what it
# learns is specific to them. That is why the recipes for bigger models trained longer use dropout
# (the `shakespeare_char` preset, a much larger model trained for longer, sets `dropout=0.2`).

# %% [markdown]
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
logits = 3 * torch.randn(3, corpus.vocab_size)
logits[1] += 4  # rows on different scales: each row needs its own threshold
filtered = top_k_logits(logits, 5)
assert filtered.shape == logits.shape, f"shape {tuple(filtered.shape)}: return logits of the input's shape"
assert not torch.allclose(filtered.sum(-1), torch.ones(3)), \
    "the rows sum to 1: return filtered logits, not probabilities (sample_next_token applies the softmax)"
assert torch.isinf(filtered).any(), ("no -inf anywhere: the dropped tokens must get -inf (a logit of 0 still "
                                     "gets probability e^0 / Σ after the softmax)")
kept = (filtered > float("-inf")).sum(dim=-1).tolist()
assert kept != [4, 4, 4], "4 tokens kept, not 5: the k-th largest itself must stay (use <, not <=)"
assert kept != [1, 1, 1], "only the largest kept: the threshold is the k-th largest value, the last of topk's k"
assert kept == [5, 5, 5], f"tokens kept per row: {kept}, want 5 each: take each row's own k-th largest (dim=-1)"
keep = filtered > float("-inf")
assert torch.equal(filtered[keep], logits[keep]), "the kept logits must stay as they are"
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
    want, got = nanogpt_lib.GPT(config).num_params(), gpt_params_with_bias(*shape)
    off, V_, C_, L_ = got - want, vocab_size, n_embd, n_layer
    assert off != V_ * C_, f"{shape}: {off:,} too many: lm_head is tied to the token embedding, count it once"
    assert off != -C_, f"{shape}: {C_} too few: the final LayerNorm (ln_f) has a bias too"
    assert off != -5 * C_ * L_, f"{shape}: {-off:,} too few: the MLP's two Linear layers have biases (4C and C)"
    assert off != -2 * C_ * L_, (f"{shape}: {-off:,} too few, 2·C per block: the biases of the block's two "
                                 "LayerNorms, or c_attn's bias counted as C instead of 3C (q, k and v)?")
    assert off == 0, f"gpt_params_with_bias{shape} = {got:,}, the model has {want:,} (off by {off:,})"

# %% [markdown]
# **3. Experiment: how many candidates does top-p keep?** Top-k always keeps $k$ characters; top-p keeps as
# many as it takes to reach the mass $p$. Write `nucleus_sizes(logits, p)`: for each row of `(N, vocab)`
# logits, the number of tokens top-p keeps, $k^* = \min\{k : \sum_{j \le k} p_{(j)} \ge p\}$. Apply it with
# $p = 0.9$ to the GPT's next-character distributions at every position of a batch of validation windows
# (`x_val`, below), and plot each position's nucleus size against the entropy of its distribution (in bits),
# with a histogram of the sizes. Then measure what top-k with $k = 5$ would do instead: `share_sure`, the
# fraction of positions where top-p keeps a single token (top-k would still offer 5, four of them
# unlikely), and `share_wider`, the fraction where top-p keeps more than 5 (top-k would cut off candidates
# that top-p keeps). Interpret: where in a text is the model sure, where is it unsure?

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
share_sure = (sizes == 1).float().mean().item()
share_wider = (sizes > 5).float().mean().item()
print(f"top-p keeps 1 token at {share_sure:.0%} of the positions (top-k 5 would add 4 unlikely ones), and more "
      f"than 5 at {share_wider:.0%} (top-k 5 would cut off candidates)")
# Interpretation: the nucleus grows with the entropy. Where the model is sure (typically inside a word, where
# the next letter is nearly determined) top-p keeps one or a few characters, fewer than top-k's fixed 5, so it
# rarely picks a wrong letter. Where many continuations are plausible (at the start of a word or a line) top-p
# keeps many, where top-k with k = 5 would cut off good candidates. Top-p adapts to the model's uncertainty;
# top-k does not. The printed shares say how often each case occurs: for this briefly trained model, which is
# rarely sure of the next character, the wide case is by far the more common one.
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex04-nucleus-sizes-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
sizes = nucleus_sizes(val_logits, 0.9)
assert sizes.shape == (val_logits.size(0),), f"shape {tuple(sizes.shape)}: one size per row of the logits"
probs = F.softmax(val_logits, -1)
ranked = probs.sort(dim=-1, descending=True).values
mass = ranked.cumsum(-1)
if (sizes == (mass < 0.9).sum(-1)).all():
    raise AssertionError("one token short: keep the token whose probability carries the mass past p "
                         "(count the tokens whose mass *before* them is below p)")
if (sizes == ((probs.cumsum(-1) - probs) < 0.9).sum(-1)).all():
    raise AssertionError("the probabilities are not sorted largest first: top-p keeps the most likely tokens")
ascending = probs.sort(dim=-1).values
if (sizes == ((ascending.cumsum(-1) - ascending) < 0.9).sum(-1)).all():
    raise AssertionError("sorted smallest first: sort in descending order, top-p keeps the most likely tokens")
assert sizes.min() >= 1 and sizes.max() <= corpus.vocab_size, "top-p keeps between 1 and vocab_size tokens"
assert (mass.gather(1, (sizes - 1)[:, None]) >= 0.9 - 1e-6).all(), \
    "the kept tokens must reach the mass p (are the logits turned into probabilities first?)"
fewer = (sizes - 2).clamp(min=0)[:, None]
assert ((sizes == 1) | (mass.gather(1, fewer)[:, 0] < 0.9)).all(), \
    "one token fewer must not reach p: the smallest set that reaches the mass p"
uncertainty = -(probs * F.log_softmax(val_logits, -1)).sum(-1)
assert torch.corrcoef(torch.stack([uncertainty, sizes.float()]))[0, 1] > 0.5, "unsure places keep more tokens"
assert math.isclose(share_sure, (sizes == 1).float().mean().item(), abs_tol=1e-6), \
    "share_sure: the fraction of positions (between 0 and 1) where top-p keeps exactly one token"
assert math.isclose(share_wider, (sizes > 5).float().mean().item(), abs_tol=1e-6), \
    "share_wider: the fraction of positions where top-p keeps more than 5 tokens (strictly more)"

# %% [markdown]
# ## What's next
#
# Real training runs are long and crash, need bigger batches than fit in memory, and use several GPUs.
# **05_training_at_scale** shows the tools: checkpoints and exact resume, warmup + cosine learning rate,
# mixed precision, gradient accumulation, and `torchrun`.
