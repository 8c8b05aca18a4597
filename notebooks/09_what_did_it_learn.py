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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/09_what_did_it_learn.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/09_what_did_it_learn.ipynb)
#
# # 09 · What did it learn?
#
# Our GPT writes text that looks like Shakespeare, and so far we have only looked at its loss and its
# samples. This notebook opens it up. None of the tools needs anything but the model's own weights and a
# few PyTorch hooks, and each one is built by hand first, then checked against `nanogpt_lib.interpret`.
#
# **You will learn**
# - to catch what a model computes inside, with forward hooks, without changing its code;
# - to read attention patterns, and to score every head for simple behaviours (previous character, first
#   character, newline, same character as now);
# - what an **induction head** is, and to watch one form in a small attention-only model: the moment it
#   appears, the model starts to copy, and its loss on repeated text collapses;
# - the **logit lens**: what the model would predict after each block;
# - what the model's character embeddings look like in two dimensions (PCA);
# - **ablation**: switch a head off and measure what it was worth.
#
# **You need** from 04: the `GPT` and `train`; from 02/03: attention and the residual stream.

# %%
# In Colab, install nanogpt_lib from the project's repository; locally it is already installed.
import sys

if "google.colab" in sys.modules:
    # %pip install -q "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"

from nanogpt_lib.notebook import setup

setup()  # seeds, small inline figures; loads the corpus (downloads it the first time)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from torch.nn import functional as F

from nanogpt_lib import (
    CausalSelfAttention,
    GPTConfig,
    Head,
    get_batch,
    interpret,
    load_corpus,
    load_model_and_tokenizer,
    notebook_config,
    pick,
    plot_attention,
    train,
)
from nanogpt_lib.plot import show_token
from nanogpt_lib.plot.widgets import attention_explorer

# %% [markdown]
# ## The model we look into
#
# A character-level GPT of Tiny Shakespeare, as in notebook 04: the `cpu` preset's shape (4 layers of 4
# heads, 128-wide embeddings) with a 64-character context, trained here for a few minutes. If you trained
# one yourself (`nanogpt train --preset cpu --out-dir runs/cpu`, see the command-line guide `docs/cli.md`),
# put its run folder in
# `RUN_FOLDER`: a model trained longer has cleaner patterns. In fast mode (the test suite) a tiny model
# trains for a few seconds, and the pictures below show little.

# %%
RUN_FOLDER = None  # e.g. "runs/cpu": a run folder of a character-level model of Tiny Shakespeare

corpus = load_corpus()
if RUN_FOLDER:
    model, tokenizer, source = load_model_and_tokenizer(RUN_FOLDER)
    assert tokenizer.to_dict() == corpus.tokenizer.to_dict(), "this notebook reads a character-level model"
else:
    cfg = notebook_config("cpu", block_size=64, max_iters=1500, eval_interval=250, sample_tokens=0)
    started = time.time()
    result = train(cfg, corpus, progress=False, verbose=False)
    model, tokenizer = result.model, corpus.tokenizer
    source = (f"trained here for {cfg.max_iters} steps in {time.time() - started:.0f} s, "
              f"val loss {result.history.eval_val_loss[-1]:.3f}")
model = model.cpu().eval()  # everything below is small enough for the CPU
c = model.config
print(f"{c.n_layer} layers x {c.n_head} heads, n_embd {c.n_embd}, context {c.block_size} characters; {source}")

# %% [markdown]
# One passage of the validation text, starting where a speaker's name starts, is our specimen:

# %%
val_text = tokenizer.decode(corpus.val[:5000].tolist())
start = val_text.index("\n\n") + 2
passage = val_text[start : start + min(48, c.block_size)]
idx = torch.tensor([tokenizer.encode(passage)])
print(repr(passage))

# %% [markdown]
# ## Hooks: catching what the model computes
#
# Inside layer $\ell$, head $h$ turns the LayerNorm of the residual stream $x$ into queries and keys and
# mixes the past with the attention probabilities
#
# $$A^{\ell,h} = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_{\text{head}}}} + M\right),
# \qquad M_{ts} = \begin{cases} 0 & s \le t \\ -\infty & s > t \end{cases}$$
#
# Row $t$ of $A$ says how much position $t$ reads from each position $s \le t$; it sums to 1. The
# library's `CausalSelfAttention` never materialises $A$: its fused kernel (`scaled_dot_product_attention`)
# goes straight to the output. So we *catch the layer's input* and ask the layer for its probabilities
# (`attention_weights`, the same $Q$ and $K$ as its forward pass).
#
# PyTorch can call a function of ours whenever a module runs: `register_forward_pre_hook(f)` calls
# `f(module, args)` just before `forward`, `register_forward_hook(f)` calls `f(module, args, output)` just
# after. Both return a handle; `handle.remove()` takes the hook off again, and we must never forget it,
# or the next forward pass runs our function too.

# %%
inputs = []  # what each attention layer receives: (B, T, n_embd)
handles = [block.attn.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
           for block in model.transformer.h]
try:
    with torch.no_grad():
        logits, _ = model(idx)
finally:
    for handle in handles:
        handle.remove()
with torch.no_grad():
    attention = [block.attn.attention_weights(x) for block, x in zip(model.transformer.h, inputs)]
print(f"{len(attention)} layers, each {tuple(attention[0].shape)} = (batch, head, query, key)")

# %% [markdown]
# `interpret.capture(model, idx)` does the same for every layer at once, and also keeps the **residual
# stream**: the input of every block and the output of the last one, $n_{\text{layer}} + 1$ snapshots.
# Same probabilities, and no hook left behind:

# %%
cap = interpret.capture(model, idx)
for ours, theirs in zip(attention, cap.attention):
    torch.testing.assert_close(ours, theirs)
torch.testing.assert_close(cap.logits, logits)
assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules()), "a hook stayed behind"
print(f"same attention in all {len(attention)} layers; residual stream: {len(cap.residual)} snapshots of "
      f"shape {tuple(cap.residual[0].shape)}")

# %% [markdown]
# ## Every head on one passage
#
# Each small square is one head's $A$ on the passage: query position down, key position across, the
# causal mask dark (zero) above the diagonal. Look for a few shapes: a bright line just below the diagonal (the
# head reads the **previous character**), a bright first column (it parks its attention on the **first
# character**), bright columns at the newlines, and diffuse heads that average over many positions.

# %%
fig, axes = plt.subplots(c.n_layer, c.n_head, figsize=(2.4 * c.n_head, 2.4 * c.n_layer), squeeze=False)
for layer in range(c.n_layer):
    for head in range(c.n_head):
        ax = axes[layer, head]
        ax.imshow(cap.attention[layer][0, head], cmap="viridis", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[], title=f"layer {layer}, head {head}")
        ax.title.set_fontsize(9)
fig.suptitle(f"attention of every head on {passage[:30]!r}...", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### A score per head
#
# Pictures of one passage can mislead; a number over many windows does not. For a set of keys $K(t)$
# chosen for each query $t$, a head's score is the attention it puts there, averaged over the queries $Q$
# that have such keys:
#
# $$\text{score}(h) = \frac{1}{|Q|} \sum_{t \in Q} \sum_{s \in K(t)} A^{h}_{ts}$$
#
# With $K(t) = \{t-1\}$ it is the **previous-token score**; with $\{0\}$ the first-token score; with the
# positions of newlines, the newline score; with the earlier positions holding the same character as
# position $t$, the same-character score. First the previous-token score by hand, over a batch of
# validation windows (it is the mean of the diagonal just below the main one):

# %%
g = torch.Generator().manual_seed(0)
xb, yb = get_batch(corpus.val, pick(real=32, fast=8), c.block_size, g)
batch_cap = interpret.capture(model, xb)
previous_by_hand = torch.stack([a.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2))
                                for a in batch_cap.attention])
T = c.block_size
torch.testing.assert_close(previous_by_hand,
                           interpret.head_scores(batch_cap.attention, interpret.previous_token_keys(T)))
print("previous-token score, layer x head:\n", previous_by_hand.numpy().round(2))

# %% [markdown]
# Now all four, with `interpret`'s key sets. To read a score, compare it with a head that spreads its
# attention evenly over the past: it would score $\frac{1}{|Q|}\sum_t \frac{|K(t)|}{t+1}$, printed in
# each title. Where even the strongest head scores about 1x that (the end of each printed line), no
# head of this model has that habit, whatever a single passage seemed to show.

# %%
newline = tokenizer.encode("\n")
keys = {
    "previous token": interpret.previous_token_keys(T),
    "first token": interpret.first_token_keys(T),
    "newline": interpret.token_keys(xb, newline),
    "same character": interpret.same_token_keys(xb),
}
scores = {name: interpret.head_scores(batch_cap.attention, k) for name, k in keys.items()}
even = torch.ones(T, T).tril()
even = (even / even.sum(-1, keepdim=True)).expand(xb.size(0), 1, T, T)  # one head, attending evenly
baseline = {name: interpret.attention_score(even, k)[0].item() for name, k in keys.items()}


def show_scores(scores: dict, baseline: dict, title: str):
    """One heat map (layer x head) per score, each cell labelled with its value."""
    n_layer = next(iter(scores.values())).size(0)
    n_head = next(iter(scores.values())).size(1)
    fig, axes = plt.subplots(1, len(scores), figsize=((1.4 + 0.55 * n_head) * len(scores), 1.2 + 0.55 * n_layer),
                             squeeze=False)
    for ax, (name, s) in zip(axes[0], scores.items()):
        ax.imshow(s, cmap="Blues", vmin=0, vmax=1)
        for (layer, head), value in np.ndenumerate(s.numpy()):
            ax.text(head, layer, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 else "black")
        ax.set(title=f"{name}\n(even spread: {baseline[name]:.2f})", xlabel="head", ylabel="layer",
               xticks=range(s.size(1)), yticks=range(s.size(0)))
        ax.title.set_fontsize(9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.show()


show_scores(scores, baseline, f"head scores over {xb.size(0)} validation windows")
for name, s in scores.items():
    layer, head = divmod(int(s.argmax()), c.n_head)
    print(f"{name:15} strongest: layer {layer} head {head} with {s.max():.2f}, "
          f"{s.max() / baseline[name]:.1f}x an even spread")

# %% [markdown]
# ## Exploring by hand
#
# The explorer below shows one head at a time: pick the layer, the head and a query position, and see the
# head's row as bars and as shading on the text. (Widgets need a running notebook; the saved page shows a
# picture of the starting state: the head with the highest previous-token score.) It shows the first 24
# characters of the passage, so that every character stays readable on the axes. Try the strongest head
# of each score above, and a diffuse one.

# %%
# NBVAL_IGNORE_OUTPUT
layer, head = divmod(int(scores["previous token"].argmax()), c.n_head)
attention_explorer(model, tokenizer, passage[:24], layer=layer, head=head)


# %% [markdown]
# ## Induction heads
#
# A language model can do something a lookup table cannot: copy. If "A B" appeared earlier and the current
# token is "A" again, "B" is a good guess, whatever A and B are. Names, rare words and repeated phrases
# all work this way. Transformers learn a two-head circuit for it:
#
# 1. a **previous-token head** in an early layer copies, into the residual stream at "B", the fact that
#    the token before was "A";
# 2. an **induction head** in a later layer, at the second "A", looks for a position whose *previous
#    token* was "A" (its query is "A", the keys carry what step 1 wrote), finds "B", and copies "B" into
#    the prediction.
#
# The induction head's key is built by another head: this is **composition**, and it needs two layers.
# A one-layer model can find earlier "A"s, but not what came after them.

# %% jupyter={"source_hidden": true}
def induction_diagram():
    """The two-head circuit on the sequence "... A B ... A ?"."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    tokens = ["...", "A", "B", "...", "A", "?"]
    for x, token in enumerate(tokens):
        color = "#fdae6b" if token == "B" else "#9ecae1" if token == "A" else "#f0f0f0"
        ax.add_patch(FancyBboxPatch((x - 0.35, -0.35), 0.7, 0.7, boxstyle="round,pad=0.02", facecolor=color,
                                    edgecolor="#404040"))
        ax.text(x, 0, token, ha="center", va="center", fontsize=14, family="monospace")
        ax.text(x, -0.6, f"{x}", ha="center", fontsize=8, color="#707070")
    ax.add_patch(FancyArrowPatch((2, -0.4), (1, -0.4), connectionstyle="arc3,rad=-0.7", arrowstyle="-|>",
                                 mutation_scale=14, color="tab:green", lw=1.8))
    ax.text(1.5, -1.25, "layer 0, previous-token head:\nposition 2 stores \"the token before me was A\"",
            ha="center", fontsize=9, color="tab:green")
    ax.add_patch(FancyArrowPatch((4, 0.4), (2, 0.4), connectionstyle="arc3,rad=0.45", arrowstyle="-|>",
                                 mutation_scale=14, color="tab:purple", lw=1.8))
    ax.text(3, 1.3, "layer 1, induction head at position 4: \"which position came after an A?\"\n"
            "finds position 2 and copies B", ha="center", fontsize=9, color="tab:purple")
    ax.annotate("predicts B", xy=(5, 0.38), xytext=(5, 1.0), ha="center", fontsize=10, color="tab:purple",
                arrowprops=dict(arrowstyle="-|>", color="tab:purple"))
    ax.set(xlim=(-0.6, 5.8), ylim=(-1.6, 1.8))
    ax.axis("off")
    fig.tight_layout()
    return fig


induction_diagram();

# %% [markdown]
# ### A model that can only attend
#
# To see the circuit without distractions, we build a two-layer model with attention and nothing else (no
# MLPs) from the library's pieces: `CausalSelfAttention` inside a residual block, GPT's embeddings, final
# LayerNorm and head, with the same module names as `GPT`, so `interpret` reads it too. Its unembedding is
# its own matrix (not tied to the token embedding).

# %%
class AttentionOnlyBlock(nn.Module):
    """A Transformer block without its MLP: x + attention(LayerNorm(x))."""

    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer_idx)

    def forward(self, x):
        return x + self.attn(self.ln_1(x))


class AttentionOnlyGPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(config.vocab_size, config.n_embd),
            "wpe": nn.Embedding(config.block_size, config.n_embd),
            "h": nn.ModuleList(AttentionOnlyBlock(config, i) for i in range(config.n_layer)),
            "ln_f": nn.LayerNorm(config.n_embd, bias=config.bias),
        })
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, idx, targets=None):
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(idx.size(1), device=idx.device))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


# %% [markdown]
# ### Data that rewards copying
#
# Sequences of 32 random symbols (from 32) in which one segment, 2 to 16 symbols long and anywhere, is
# repeated right after itself. Inside the first copy nothing can be predicted: the best loss there is
# $\ln 32$. Inside the second copy every symbol after the first can be *copied*. The segment's length and
# place change from sequence to sequence, so "look back a fixed number of positions" does not work: the
# model has to find the earlier occurrence by its content.

# %%
VOCAB, T_TOY = 32, 32
SYMBOLS = "abcdefghijklmnopqrstuvwxyzABCDEF"  # how the 32 token ids are printed


def repeated_segment_batch(batch: int, generator: torch.Generator):
    """Inputs and targets (batch, T_TOY), and masks of the targets inside the first and the second copy of
    the repeated segment (without its first symbol, which nothing before announces)."""
    x = torch.randint(VOCAB, (batch, T_TOY + 1), generator=generator)
    length = torch.randint(2, 17, (batch, 1), generator=generator)
    start = (torch.rand(batch, 1, generator=generator) * (T_TOY + 2 - 2 * length)).long()
    pos = torch.arange(T_TOY + 1)
    in_second = (pos >= start + length) & (pos < start + 2 * length)
    x = x.gather(1, torch.where(in_second, pos - length, pos))  # the second copy repeats the first
    first = ((pos - start >= 1) & (pos - start < length))[:, 1:]  # target t is sequence position t + 1
    second = ((pos - start - length >= 1) & (pos - start - length < length))[:, 1:]
    return x[:, :-1], x[:, 1:], first, second


x, y, first, second = repeated_segment_batch(3, torch.Generator().manual_seed(5))
for row in range(3):
    print("".join(SYMBOLS[i] for i in x[row]))
    print("".join("1" if f else "2" if s else " " for f, s in zip(first[row], second[row])), " <- targets in "
          "the first (1) and second (2) copy")

# %% [markdown]
# ### Training, and watching the circuit form
#
# Every 50 steps we measure, on a fixed batch, the loss inside the first copy and inside the second copy,
# and two head scores: the **previous-token score** of each layer-0 head, and the **induction score** of
# each layer-1 head. The induction score is measured on sequences of $L$ random symbols followed by the
# same $L$ again: an induction head at position $t \ge L$ attends to $t - L + 1$, the symbol that followed
# the previous occurrence of the current one,
#
# $$\text{induction score}(h) = \frac{1}{L} \sum_{t=L}^{2L-1} A^{h}_{t,\, t-L+1}.$$

# %%
toy_config = GPTConfig(vocab_size=VOCAB, block_size=T_TOY, n_layer=2, n_head=4, n_embd=64, bias=False)
torch.manual_seed(1)
toy = AttentionOnlyGPT(toy_config)
optimizer = torch.optim.AdamW(toy.parameters(), lr=3e-3, weight_decay=0.01)
data_gen, eval_gen = torch.Generator().manual_seed(2), torch.Generator().manual_seed(3)
eval_x, eval_y, eval_first, eval_second = repeated_segment_batch(512, eval_gen)
L = T_TOY // 2
probe = interpret.repeated_random_tokens(64, L, VOCAB, eval_gen)  # (64, 2L): L random symbols, twice


@torch.no_grad()
def copy_losses(model, heads=()):
    """Mean loss on the fixed batch inside the first and the second copy, with `heads` ablated."""
    with interpret.ablate_heads(model, heads):
        losses = F.cross_entropy(model(eval_x)[0].transpose(1, 2), eval_y, reduction="none")  # (B, T)
    return losses[eval_first].mean().item(), losses[eval_second].mean().item()


steps = pick(real=2000, fast=700)
log = {"step": [], "first": [], "second": [], "previous": [], "induction": []}
started = time.time()
for step in range(steps + 1):
    if step % 50 == 0:
        loss_first, loss_second = copy_losses(toy)
        probe_attention = interpret.capture(toy, probe).attention
        log["step"].append(step)
        log["first"].append(loss_first)
        log["second"].append(loss_second)
        log["previous"].append(interpret.attention_score(probe_attention[0], interpret.previous_token_keys(2 * L)))
        log["induction"].append(interpret.attention_score(probe_attention[1], interpret.induction_keys(2 * L, L)))
    if step == steps:
        break
    xs, ys, _, _ = repeated_segment_batch(32, data_gen)
    _, loss = toy(xs, ys)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
print(f"{steps} steps in {time.time() - started:.0f} s; loss in the first copy {log['first'][-1]:.2f} "
      f"(ln {VOCAB} = {np.log(VOCAB):.2f}), in the second copy {log['second'][-1]:.2f}")

# %%
fig, (ax, ax_scores) = plt.subplots(1, 2, figsize=(12, 4))
ax.plot(log["step"], log["first"], label="first copy (nothing to copy)")
ax.plot(log["step"], log["second"], label="second copy (can be copied)")
ax.axhline(np.log(VOCAB), color="gray", ls=":", label=f"guessing: ln {VOCAB}")
ax.set(xlabel="step", ylabel="loss", title="loss inside each copy of the repeated segment")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
previous, induction = torch.stack(log["previous"]), torch.stack(log["induction"])
for head in range(toy_config.n_head):
    ax_scores.plot(log["step"], induction[:, head], color=f"C{head}", label=f"layer 1 head {head}: induction")
    ax_scores.plot(log["step"], previous[:, head], color=f"C{head}", ls="--",
                   label=f"layer 0 head {head}: previous token")
ax_scores.set(xlabel="step", ylabel="score", ylim=(0, 1), title="head scores on repeated random symbols")
ax_scores.legend(fontsize=7, ncol=2)
ax_scores.grid(alpha=0.3)
fig.tight_layout()
plt.show()

gap = np.array(log["first"]) - np.array(log["second"])
formed = [s for s, d in zip(log["step"], gap) if d > 1.0]
if formed:
    print(f"the second copy's loss first fell more than 1 nat below the first copy's at step {formed[0]}; "
          f"by then the best induction score was {induction[log['step'].index(formed[0])].max():.2f} "
          f"(step 0: {induction[0].max():.2f})")
else:
    print("the second copy's loss never fell 1 nat below the first copy's: no induction head yet (train longer)")

# %% [markdown]
# Look at the two curves on the left. At first the loss in the second copy falls only slowly: without a
# way to copy, the model can only pick up weak hints (a symbol seen recently is a little more likely to
# come again). Then, within a few hundred steps, it drops far below the first copy's, which stays near
# guessing level. On the right, at the same time, layer-0 heads take up the previous-token pattern and
# layer-1 heads the induction pattern: the circuit forms all at once, because each half is useless
# without the other. (This sudden drop, a *phase change*, is also seen when large language models are
# trained on ordinary text.) If the first copy's loss ends a little *above* $\ln 32$, that is the price of
# copying: an earlier occurrence of the current symbol is often there by chance, and the model bets on a
# repeat that does not come.
#
# Each head's final score, and the pattern of the best induction head on one probe sequence: it is a
# **stripe** $L - 1$ positions below the diagonal in the second half, because each position reads the
# symbol right after the previous occurrence of its own.

# %%
toy_cap = interpret.capture(toy, probe)
toy_scores = {
    "previous token": interpret.head_scores(toy_cap.attention, interpret.previous_token_keys(2 * L)),
    "induction": interpret.head_scores(toy_cap.attention, interpret.induction_keys(2 * L, L)),
}
even = torch.ones(2 * L, 2 * L).tril()
even = (even / even.sum(-1, keepdim=True))[None, None]
show_scores(toy_scores, {"previous token": interpret.attention_score(even, interpret.previous_token_keys(2 * L))[0],
                         "induction": interpret.attention_score(even, interpret.induction_keys(2 * L, L))[0]},
            "the attention-only model's heads")

best_induction = int(toy_scores["induction"][1].argmax())
best_previous = int(toy_scores["previous token"][0].argmax())
labels = [SYMBOLS[i] for i in probe[0]]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
plot_attention(toy_cap.attention[0][0, best_previous], labels, title=f"layer 0, head {best_previous}", ax=ax1)
plot_attention(toy_cap.attention[1][0, best_induction], labels, title=f"layer 1, head {best_induction}", ax=ax2)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Is it really a circuit? Switch heads off
#
# A score says where a head looks, not that the model needs it. **Ablation** tests that: zero a head's
# output and measure the loss again. Head $h$'s output is its slice of the concatenation that enters the
# layer's output projection,
#
# $$y = \big[\,o_1 \;\cdots\; o_h \;\cdots\; o_H\,\big]\, W_O \quad\longrightarrow\quad
# \big[\,o_1 \;\cdots\; 0 \;\cdots\; o_H\,\big]\, W_O,$$
#
# so `interpret.ablate_heads` zeroes that slice with a forward pre-hook on `c_proj`. This is
# **zero-ablation**, the simplest kind. Its alternative, **mean-ablation**, puts in the head's *average*
# output over many inputs instead of zeros. They can disagree: a head's output is rarely zero on average,
# so zeroing it also shifts the residual stream to values the later layers never saw during training, and
# the loss can rise for that reason alone; mean-ablation removes only what the head says about *this*
# input, so it usually measures a smaller, cleaner cost. Read the rises below as "what the model loses when
# this head's output is gone *and* replaced by zeros". If the story above is
# right, switching off layer 1 (no induction heads) or layer 0 (no previous-token information for them to
# use) should both bring the second copy's loss back up to the first copy's.

# %%
rows = {"nothing": (), "the best induction head": [(1, best_induction)],
        "all of layer 1": [(1, h) for h in range(toy_config.n_head)],
        "the best previous-token head": [(0, best_previous)],
        "all of layer 0": [(0, h) for h in range(toy_config.n_head)]}
ablated = {name: copy_losses(toy, heads) for name, heads in rows.items()}
for name, (loss_first, loss_second) in ablated.items():
    print(f"ablating {name:29} loss in the first copy {loss_first:.2f}, in the second copy {loss_second:.2f}")

# %% [markdown]
# Compare the rows with the first one. Zeroing *one* head may cost little when other heads of the same
# layer do the same job (the scores above show how many do), or a lot when one head does most of it;
# zeroing a whole layer removes half of the circuit, and the second copy loses most of its advantage: its
# loss comes back up close to the first copy's (how close, the rows say).

# %% [markdown]
# ## The logit lens
#
# The residual stream is a running sum: the embeddings, plus what each block adds,
#
# $$x_0 = W_E[\text{token}] + W_P[\text{position}], \qquad x_{\ell+1} = x_\ell + \text{block}_\ell(x_\ell),$$
#
# and the model's prediction is read off the last one: $\text{logits} = W_U\,\mathrm{LN}_f(x_L)$. The
# **logit lens** reads *every* snapshot the same way, $W_U\,\mathrm{LN}_f(x_\ell)$: what would the model
# predict if the remaining blocks were skipped? Because each block only adds to the stream, the snapshots
# live in the same space, and the question makes sense.
#
# A caveat before reading it: only the last snapshot was trained to be read by $\mathrm{LN}_f$ and $W_U$.
# The earlier ones never were; they carry whatever the next blocks need, in whatever directions suit them,
# and nothing says those directions mean the same to the head. The lens reads them as if they did, so an
# early layer's reading is rough: a high loss there says that this particular decoding fails, not that the
# information is absent. (The *tuned lens* trains a small map per layer to read each snapshot properly.)

# %% jupyter={"source_hidden": true}
def residual_stream_diagram(n_layer: int):
    """The residual stream as a line; each block reads it and adds to it; the lens decodes every snapshot."""
    fig, ax = plt.subplots(figsize=(2.0 * n_layer + 3.5, 3.4))
    xs = [1.2 + 2.0 * i for i in range(n_layer + 1)]  # where the snapshots x_0 ... x_L are read
    ax.add_patch(FancyArrowPatch((0.0, 0), (xs[-1] + 0.9, 0), arrowstyle="-|>", mutation_scale=16, lw=3,
                                 color="#6baed6"))
    ax.text(0.0, 0.25, "embed\n(token + position)", fontsize=8, va="bottom")
    for i in range(n_layer):
        mid = (xs[i] + xs[i + 1]) / 2
        ax.add_patch(FancyBboxPatch((mid - 0.55, 0.8), 1.1, 0.6, boxstyle="round,pad=0.03", facecolor="#f0f0f0",
                                    edgecolor="#404040"))
        ax.text(mid, 1.1, f"block {i}", ha="center", va="center", fontsize=9)
        ax.add_patch(FancyArrowPatch((mid - 0.45, 0.05), (mid - 0.3, 0.78), arrowstyle="-|>", mutation_scale=10))
        ax.add_patch(FancyArrowPatch((mid + 0.3, 0.78), (mid + 0.45, 0.05), arrowstyle="-|>", mutation_scale=10))
        ax.text(mid + 0.5, 0.4, "+", fontsize=12, color="#404040")
    for i, x in enumerate(xs):
        ax.plot([x], [0], "o", color="#08519c")
        ax.text(x, 0.18, f"$x_{i}$", ha="center", fontsize=10)
        ax.add_patch(FancyArrowPatch((x, -0.08), (x, -0.7), arrowstyle="-|>", mutation_scale=10,
                                     color="tab:orange"))
        last = i == n_layer
        ax.text(x, -0.95, "LN$_f$, $W_U$\n" + ("= the model's\nprediction" if last else f"lens {i}"),
                ha="center", va="top", fontsize=8, color="tab:orange")
    ax.set(xlim=(-0.2, xs[-1] + 1.2), ylim=(-1.9, 1.6))
    ax.axis("off")
    fig.tight_layout()
    return fig


residual_stream_diagram(c.n_layer);

# %% [markdown]
# By hand, on the batch of validation windows captured above: decode each snapshot, and check that the
# last one is exactly the model's output.

# %%
with torch.no_grad():
    lens = torch.stack([model.lm_head(model.transformer.ln_f(x)) for x in batch_cap.residual])
torch.testing.assert_close(lens[-1], batch_cap.logits)
torch.testing.assert_close(lens, interpret.logit_lens(model, batch_cap.residual))

lens_loss = [F.cross_entropy(layer_logits.flatten(0, 1), yb.flatten()).item() for layer_logits in lens]
lens_accuracy = [(layer_logits.argmax(-1) == yb).float().mean().item() for layer_logits in lens]
names = ["embeddings"] + [f"after block {i}" for i in range(c.n_layer)]
fig, (ax, ax_acc) = plt.subplots(1, 2, figsize=(11, 3.5))
ax.plot(names, lens_loss, "o-")
ax.set(ylabel="cross-entropy", title="loss of the logit lens")
ax_acc.plot(names, lens_accuracy, "o-", color="tab:green")
ax_acc.set(ylabel="top-1 accuracy", title="how often its first guess is right")
for a in (ax, ax_acc):
    a.grid(alpha=0.3)
    a.tick_params(axis="x", labelsize=8)
fig.tight_layout()
plt.show()
for name, loss, accuracy in zip(names, lens_loss, lens_accuracy):
    print(f"{name:15} loss {loss:.2f}, top-1 accuracy {accuracy:.0%}")
same = (lens[0].argmax(-1) == xb).float().mean().item()
print(f"read from the embeddings alone, the lens predicts the *current* character again at {same:.0%} of positions")

# %% [markdown]
# Read the two curves from left to right: how much does each block improve the guess? The lens at the
# embeddings is a special case. The head is tied to the token embedding ($W_U = W_E$, notebook 04), so
# before any block has added anything, a character's logit is the dot product of its embedding with the
# current character's (plus its position's vector, through $\mathrm{LN}_f$), and a vector tends to be most
# similar to itself: the last printed line says how
# often that "prediction" is simply the current character again.
#
# Position by position, on the start of our passage: each column is a position, each row a snapshot; the
# letter is the lens's first guess and the colour its probability. Watch the guesses change from row to
# row, and the probabilities grow.

# %%
n = min(24, len(passage) - 1)
with torch.no_grad():
    probs = interpret.logit_lens(model, cap.residual)[:, 0, :n].softmax(-1)  # (n_layer + 1, n, vocab)
top_prob, top_i = probs.max(-1)
fig, ax = plt.subplots(figsize=(0.5 * n + 1.5, 0.5 * (c.n_layer + 2) + 0.8))
ax.imshow(top_prob, cmap="Greens", vmin=0, vmax=1, aspect="auto")
for (row, col), i in np.ndenumerate(top_i.numpy()):
    ax.text(col, row, show_token(tokenizer.decode([i])), ha="center", va="center", fontsize=9,
            color="white" if top_prob[row, col] > 0.6 else "black")
ax.set_yticks(range(c.n_layer + 1), names, fontsize=8)
ax.set_xticks(range(n), [show_token(ch) for ch in passage[:n]], fontsize=9)
ax.set_xlabel("current character (the prediction is for the one after it)")
ax.set_title("the logit lens's first guess after each block, and its probability")
secondary = ax.secondary_xaxis("top")
secondary.set_xticks(range(n), [show_token(ch) for ch in passage[1 : n + 1]], fontsize=9)
secondary.set_xlabel("the true next character", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Character embeddings in two dimensions
#
# Each character is a vector of `n_embd` numbers: the rows of $W_E$. To look at 65 points in 128
# dimensions we project them on the two directions along which they differ most: **principal component
# analysis**. Centre the rows, $\tilde E = W_E - \bar e$, form the covariance
# $\Sigma = \tilde E^\top \tilde E / (V - 1)$ and take its two eigenvectors $u_1, u_2$ with the largest
# eigenvalues $\lambda_1 \ge \lambda_2$; the coordinates are $\tilde E\,[u_1\; u_2]$, and
# $\lambda_i / \sum_j \lambda_j$ is the share of the variance each direction shows. The same directions
# come out of the singular value decomposition $\tilde E = U S V^\top$ (the first columns of $V$, up to sign).

# %%
E = model.transformer.wte.weight.detach()
centred = E - E.mean(dim=0)
eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / (E.size(0) - 1))  # ascending order
top2 = eigenvectors[:, [-1, -2]]
coords = centred @ top2
share = eigenvalues.flip(0) / eigenvalues.sum()
_, _, Vh = torch.linalg.svd(centred, full_matrices=False)
torch.testing.assert_close(coords.abs(), (centred @ Vh[:2].T).abs(), atol=1e-4, rtol=1e-3)  # same, up to sign
print(f"the two directions show {share[0]:.0%} and {share[1]:.0%} of the variance")

chars = [tokenizer.decode([i]) for i in range(E.size(0))]
kinds = {"vowel": lambda ch: ch in "aeiou", "consonant": lambda ch: ch.islower() and ch not in "aeiou",
         "capital": str.isupper, "punctuation": lambda ch: not ch.isalnum() and not ch.isspace(),
         "space, newline, digit": lambda ch: ch.isspace() or ch.isdigit()}
colors = dict(zip(kinds, ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:gray"]))
fig, ax = plt.subplots(figsize=(8, 6.5))
for i, ch in enumerate(chars):
    kind = next(k for k, member in kinds.items() if member(ch))
    ax.text(coords[i, 0], coords[i, 1], show_token(ch), color=colors[kind], fontsize=11, ha="center",
            va="center", family="monospace")
low, high = coords.min(dim=0).values, coords.max(dim=0).values
margin = 0.05 * (high - low)
ax.set(xlim=(low[0] - margin[0], high[0] + margin[0]), ylim=(low[1] - margin[1], high[1] + margin[1]),
       xlabel=f"direction 1 ({share[0]:.0%} of the variance)", ylabel=f"direction 2 ({share[1]:.0%})",
       title="character embeddings, PCA")
ax.legend(handles=[Patch(color=color, label=kind) for kind, color in colors.items()], fontsize=9)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Two dimensions hide most of the picture, so the nearest neighbours in the full space (by cosine
# similarity) are a useful second view. Look whether vowels sit near vowels, and capitals near capitals:

# %%
unit = F.normalize(E, dim=1)
similarity = unit @ unit.T
similarity.fill_diagonal_(-1)  # a character is not its own neighbour
for ch in ["a", "e", "t", "A", "T", ".", "\n"]:
    nearest = similarity[tokenizer.encode(ch)[0]].topk(5).indices
    print(f"{show_token(ch)!r:5} nearest: {' '.join(show_token(chars[i]) for i in nearest)}")
vowels = [tokenizer.encode(v)[0] for v in "aeiou"]
vowel_neighbour = sum(chars[int(similarity[v].argmax())] in "aeiou" for v in vowels)
print(f"{vowel_neighbour} of the 5 vowels have a vowel as their nearest neighbour "
      f"(by chance about {5 * 4 / (len(chars) - 1):.1f} would)")

# %% [markdown]
# ## Switching heads off in the Shakespeare model
#
# Back to the GPT of Tiny Shakespeare. By hand for one head first: a pre-hook on layer 1's `c_proj` that
# zeroes head 0's channels, and the loss on our validation windows with and without it.

# %%
head_size = c.n_embd // c.n_head
layer_to_cut, head_to_cut = min(1, c.n_layer - 1), 0


def zero_head(module, args):
    y = args[0].clone()
    y[..., head_to_cut * head_size : (head_to_cut + 1) * head_size] = 0
    return (y,)


with torch.no_grad():
    clean_loss = model(xb, yb)[1].item()
    handle = model.transformer.h[layer_to_cut].attn.c_proj.register_forward_pre_hook(zero_head)
    try:
        cut_loss = model(xb, yb)[1].item()
    finally:
        handle.remove()
ablation = interpret.head_ablation_losses(model, xb, yb)  # (n_layer, n_head): rise of the loss
assert abs((cut_loss - clean_loss) - ablation[layer_to_cut, head_to_cut].item()) < 1e-5
print(f"loss {clean_loss:.3f}; without layer {layer_to_cut} head {head_to_cut}: {cut_loss:.3f}")

# %%
fig, ax = plt.subplots(figsize=(1.2 * c.n_head + 2.5, 0.8 * c.n_layer + 1.2))
im = ax.imshow(ablation, cmap="Reds", vmin=0)  # exercise 2 asks which head matters most, and why
for (layer, head), rise in np.ndenumerate(ablation.numpy()):
    ax.text(head, layer, f"{rise:+.3f}", ha="center", va="center", fontsize=9,
            color="white" if rise > 0.6 * ablation.max() else "black")
ax.set(xlabel="head", ylabel="layer", xticks=range(c.n_head), yticks=range(c.n_layer),
       title=f"rise of the validation loss when one head is zeroed (loss {clean_loss:.3f})")
ax.title.set_fontsize(9)
fig.colorbar(im, ax=ax, fraction=0.046)
fig.tight_layout()
plt.show()
print(f"the rises range from {ablation.min():+.3f} to {ablation.max():+.3f}; "
      f"{int((ablation > 0.1).sum())} of the {ablation.numel()} heads cost more than 0.1 nats each")

# %% [markdown]
# Look at how different the heads' costs are: a few carry a lot, others are nearly redundant (another
# head does the same job, or the job matters little). Exercise 2 asks you to find the costliest head, to
# match it with its scores above, and to look at it in the explorer.
#
# ## Check
#
# The hooks see what the layers compute: each captured pattern equals notebook 02's `Head` given the same
# weights (the head's slice of the fused `c_attn` projection); the last logit-lens snapshot is the model's
# output; ablating no head changes nothing; no hook stays behind. And the conclusions of the induction
# experiment: the second copy's loss is far below the first's, and cutting either layer loses more than
# half of that gain.

# %%
layer = c.n_layer - 1
block = model.transformer.h[layer]
with torch.no_grad():
    x = block.ln_1(cap.residual[layer])
    for head in range(c.n_head):
        lib_head = Head(c.n_embd, head_size, c.block_size, bias=c.bias)
        rows_of_head = slice(head * head_size, (head + 1) * head_size)
        for part, linear in enumerate((lib_head.query, lib_head.key, lib_head.value)):
            linear.weight.copy_(block.attn.c_attn.weight[part * c.n_embd : (part + 1) * c.n_embd][rows_of_head])
            if c.bias:
                linear.bias.copy_(block.attn.c_attn.bias[part * c.n_embd : (part + 1) * c.n_embd][rows_of_head])
        torch.testing.assert_close(lib_head.attention_weights(x), cap.attention[layer][:, head])

torch.testing.assert_close(interpret.logit_lens(model, cap.residual)[-1], model(idx)[0])
with torch.no_grad(), interpret.ablate_heads(model, []):
    assert model(xb, yb)[1].item() == clean_loss
assert all(not m._forward_pre_hooks and not m._forward_hooks for m in [*model.modules(), *toy.modules()])

first_clean, second_clean = ablated["nothing"]
assert second_clean < first_clean - 1.0, "the induction circuit formed"
for name in ("all of layer 1", "all of layer 0"):
    assert ablated[name][1] > (first_clean + second_clean) / 2, f"ablating {name} must undo most of the copying"
print("all checks passed")


# %% [markdown]
# ## Exercises
#
# **1. A newline score by hand.** Write `newline_scores(attention, idx, newline_id)`: for every layer and
# head, the attention each query puts on positions (up to its own) that hold a newline, averaged over the
# queries that have a newline at or before them. `attention` is a list of `(B, n_head, T, T)` tensors,
# `idx` the `(B, T)` token ids; return a `(n_layer, n_head)` tensor.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex09-newline-score", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def newline_scores(attention, idx, newline_id) -> torch.Tensor: ...
### BEGIN SOLUTION
def newline_scores(attention, idx, newline_id):
    is_newline = idx == newline_id  # (B, T)
    counted = (is_newline.cumsum(dim=-1) > 0)[:, None, :]  # (B, 1, T): queries with a newline at or before them
    rows = []
    for a in attention:
        mass = (a * is_newline[:, None, None, :]).sum(-1)  # (B, n_head, T); the mask already zeroes the future
        counted_here = counted.expand_as(mass)
        rows.append((mass * counted_here).sum(dim=(0, 2)) / counted_here.sum(dim=(0, 2)))
    return torch.stack(rows)
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex09-newline-score-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
ours, want = newline_scores(batch_cap.attention, xb, newline[0]), scores["newline"]
assert ours.shape == want.shape, f"shape {tuple(ours.shape)}, want (n_layer, n_head) = {tuple(want.shape)}"


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a.float(), b.float(), atol=1e-5, rtol=1e-4)


if not close(ours, want):
    at_newline = (xb == newline[0])[:, None, None, :]  # (B, 1, 1, T) keys holding a newline
    counted = ((xb == newline[0]).cumsum(-1) > 0)[:, None, :].float()  # queries with a newline at or before them

    def per_query(mass: torch.Tensor) -> torch.Tensor:  # mass (B, n_head, T) averaged over the counted queries
        return (mass * counted).sum(dim=(0, 2)) / counted.expand_as(mass).sum(dim=(0, 2))

    every_query = torch.stack([(a * at_newline).sum(-1).mean(dim=(0, 2)) for a in batch_cap.attention])
    assert not close(ours, every_query), ("averaged over every query: only the queries with a newline at or before "
                                          "them count")
    one_window = interpret.head_scores([a[:1] for a in batch_cap.attention], interpret.token_keys(xb[:1], newline))
    assert not close(ours, one_window), "that is the score of the first window only: average over the whole batch"
    assert not close(ours, want.T), "transposed: rows are layers, columns heads"
    received = torch.stack([per_query((a * (xb == newline[0])[:, None, :, None]).sum(-2))
                            for a in batch_cap.attention])
    assert not close(ours, received), ("it sums the attention newline *queries* give (dim -2): sum each query's "
                                       "row over the keys that hold a newline (the last dimension)")
    raise AssertionError("newline_scores differs from interpret's newline score: try it on one window by hand")

# %% [markdown]
# **2. The head that matters most (an experiment).** Which head's ablation raises the Shakespeare model's
# loss the most? Put its `(layer, head)` in `worst`, and in `worst_kind` the name of the score (a key of
# `scores`) on which it stands out most *relative to an even spread* (`scores[name][layer, head] /
# baseline[name]`). Then look at the head in the explorer (set `layer` and `head`), and write in a
# sentence or two what it does and why the model might depend on it.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex09-worst-head", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# worst = (layer, head); worst_kind = "..."
### BEGIN SOLUTION
worst = divmod(int(ablation.argmax()), c.n_head)
worst_kind = max(scores, key=lambda name: scores[name][worst] / baseline[name])
print(f"layer {worst[0]} head {worst[1]}: loss +{ablation[worst]:.3f}, stands out on {worst_kind}")
for rank in ablation.flatten().argsort(descending=True)[:3].tolist():  # the three costliest heads
    layer, head = divmod(rank, c.n_head)
    strongest = max(scores, key=lambda name: scores[name][layer, head] / baseline[name])
    value = scores[strongest][layer, head].item()
    print(f"layer {layer} head {head}: loss {ablation[layer, head]:+.3f}; " + (
        f"its score furthest above an even spread: {strongest} ({value:.2f} vs {baseline[strongest]:.2f})"
        if value > baseline[strongest] else "none of its scores is above an even spread"))
# Interpretation (read the printed lines and the explorer): in the outputs we saw, the costliest head is a
# previous-character head of layer 0. Reading the character before is what a character model needs most
# (which letters may follow which), and later layers build on it, so losing it costs more than any other.
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex09-worst-head-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
assert isinstance(worst, tuple) and len(worst) == 2, (
    f"worst is {worst!r}: make it a (layer, head) tuple, e.g. divmod(flat_index, n_head)")
assert ablation[worst] == ablation.max(), (
    f"ablating {worst} raises the loss by {ablation[worst]:+.3f}, not the most ({ablation.max():+.3f}): "
    "the head that matters most is the argmax of the rises")
assert worst_kind in scores, f"worst_kind {worst_kind!r} is not a key of scores: {list(scores)}"
assert all(scores[worst_kind][worst] / baseline[worst_kind] >= scores[name][worst] / baseline[name]
           for name in scores), ("worst_kind is not the score on which the head stands out most: take the largest "
                                 "scores[name][worst] / baseline[name]")

# %% [markdown]
# **3. Does the Shakespeare model copy? (an experiment)** Feed it 16 sequences of random characters, each
# repeated (`interpret.repeated_random_tokens(16, length, c.vocab_size, torch.Generator().manual_seed(0))`
# with `length = c.block_size // 2`), and measure its mean loss on the targets inside the first half
# (`loss_first_half`: targets at positions `0 ... length - 2`) and inside the second half
# (`loss_second_half`: positions `length ... 2 * length - 2`; the last position has no target). Is the
# second half easier? Then compute `shakespeare_induction = interpret.induction_scores(...)` on the same
# kind of sequences and compare its best head with the toy model's.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex09-shakespeare-copies", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# loss_first_half, loss_second_half = ...; shakespeare_induction = ...  (n_layer, n_head)
### BEGIN SOLUTION
length = c.block_size // 2
repeated = interpret.repeated_random_tokens(16, length, c.vocab_size, torch.Generator().manual_seed(0))
with torch.no_grad():
    losses = F.cross_entropy(model(repeated[:, :-1])[0].transpose(1, 2), repeated[:, 1:], reduction="none")
loss_first_half = losses[:, : length - 1].mean().item()
loss_second_half = losses[:, length:].mean().item()
shakespeare_induction = interpret.induction_scores(model, length, generator=torch.Generator().manual_seed(1))
print(f"first half {loss_first_half:.2f}, second half {loss_second_half:.2f}; best induction score "
      f"{shakespeare_induction.max():.2f} (toy model: {toy_scores['induction'].max():.2f})")
spread_out = torch.ones(2 * length, 2 * length).tril()
spread_out = (spread_out / spread_out.sum(-1, keepdim=True))[None, None]
even_induction = interpret.attention_score(spread_out, interpret.induction_keys(2 * length, length))[0].item()
print(f"a uniform guess scores ln {c.vocab_size} = {np.log(c.vocab_size):.2f}; a head attending evenly has "
      f"induction score {even_induction:.2f}")
# Interpretation. Both halves' losses are far above a uniform guess: random characters are nothing like
# Shakespeare, and the model, sure of what English comes next, is confidently wrong. If the second half is not
# clearly easier than the first (the printed losses), the model does not copy: it never learned to. The
# induction scores agree: a best score near an even spread (or below it) means no head looks at the
# character after the previous occurrence, unlike the toy model's. A small model trained for minutes on
# 64-character windows, where an exact repeat of a random-looking string hardly ever helps, had no reason to
# build the circuit; larger models trained longer on ordinary text do (the toy data rewarded copying on
# every sequence).
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex09-shakespeare-copies-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
check = interpret.repeated_random_tokens(16, c.block_size // 2, c.vocab_size, torch.Generator().manual_seed(0))
with torch.no_grad():
    per_target = F.cross_entropy(model(check[:, :-1])[0].transpose(1, 2), check[:, 1:], reduction="none")
half = c.block_size // 2
with torch.no_grad():
    unshifted = F.cross_entropy(model(check)[0].transpose(1, 2), check, reduction="none")
for name, got, want, wrong_slices in (
        ("loss_first_half", loss_first_half, per_target[:, : half - 1], (slice(None, half), slice(1, half))),
        ("loss_second_half", loss_second_half, per_target[:, half:], (slice(half - 1, None), slice(half + 1, None)))):
    if abs(got - want.mean().item()) < 1e-4:
        continue
    assert abs(got - unshifted[:, : half - 1 if name == "loss_first_half" else half :].mean().item()) > 1e-4, (
        f"{name}: the targets are not shifted: feed check[:, :-1] and score it against check[:, 1:]")
    assert all(abs(got - per_target[:, part].mean().item()) > 1e-4 for part in wrong_slices), (
        f"{name}: off by one in the positions: the first half's targets are 0 ... length - 2, the second's "
        "length ... 2 * length - 2 (the target at length - 1 starts the repeat: nothing announces it)")
    raise AssertionError(f"{name} is {got:.4f}, want {want.mean().item():.4f}: the mean loss over those targets")
assert shakespeare_induction.shape == (c.n_layer, c.n_head), (
    f"shakespeare_induction has shape {tuple(shakespeare_induction.shape)}, want the Shakespeare model's "
    f"(n_layer, n_head) = {(c.n_layer, c.n_head)}: is it the toy model's?")
assert ((shakespeare_induction >= 0) & (shakespeare_induction <= 1)).all()

# %% [markdown]
# **4. Capital and small letters (an experiment).** Does the model know that `A` and `a` are the same
# letter? For each of the 26 capitals, find the lowercase letter whose embedding is most similar (cosine
# similarity of the rows of `E`). Put in `nearest` those 26 lowercase letters as a string, in the order
# `A ... Z` (for a perfect model, `"abc...z"`), and in `capital_match` the fraction of capitals whose most
# similar lowercase letter is their own; compare it with chance (1/26).

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex09-capitals", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# nearest = "..."; capital_match = ...
### BEGIN SOLUTION
letters = "abcdefghijklmnopqrstuvwxyz"
lower = [tokenizer.encode(ch)[0] for ch in letters]
upper = [tokenizer.encode(ch.upper())[0] for ch in letters]
cosine = F.normalize(E[upper], dim=1) @ F.normalize(E[lower], dim=1).T  # (26 capitals, 26 lowercase)
nearest = "".join(letters[i] for i in cosine.argmax(dim=1))
capital_match = sum(a == b for a, b in zip(nearest, letters)) / 26
print(f"A-Z: {nearest.upper()}\nnearest: {nearest}")
print(f"{capital_match:.0%} of the capitals are closest to their own lowercase letter (chance: {1 / 26:.0%})")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex09-capitals-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
letters = "abcdefghijklmnopqrstuvwxyz"
assert isinstance(nearest, str) and len(nearest) == 26, "nearest: a string of 26 lowercase letters, one per capital"
capitals_rows = E[[tokenizer.encode(ch)[0] for ch in letters.upper()]]
small_rows = E[[tokenizer.encode(ch)[0] for ch in letters]]
want = "".join(max(letters, key=lambda lo, up=up: F.cosine_similarity(capitals_rows[letters.index(up)],
                                                                       small_rows[letters.index(lo)], dim=0))
               for up in letters)
if nearest != want:
    assert nearest != letters, ("every capital matches its own letter: are the capitals' rows "
                                "E[encode(ch.upper())] (not the lowercase ones)?")
    by_dot = "".join(letters[i] for i in (capitals_rows @ small_rows.T).argmax(1))
    assert nearest != by_dot, "that is the nearest by dot product: cosine similarity divides by the lengths"
    cosine_table = F.normalize(capitals_rows, dim=1) @ F.normalize(small_rows, dim=1).T
    by_column = "".join(letters[i] for i in cosine_table.argmax(0))
    assert nearest != by_column, ("that takes each lowercase letter's nearest capital (argmax over dim 0): for "
                                  "each capital, the argmax over the lowercase letters")
    raise AssertionError(f"nearest is {nearest!r}, want {want!r}")
matches = sum(a == b for a, b in zip(want, letters))
assert abs(capital_match - matches / 26) < 1e-6, (
    f"capital_match is {capital_match}, want {matches / 26:.4f}: the fraction of the 26 capitals (a count / 26)")

# %% [markdown]
# ## What's next
#
# **10_chat_model** turns a GPT into a small chat model: chat tokens, supervised fine-tuning and
# reinforcement learning with exact rewards, measured on questions it never saw.
#
# These are the first tools of *mechanistic interpretability*, the study of the algorithms inside trained
# networks. To go further:
# - Anthropic's "A Mathematical Framework for Transformer Circuits" explains attention-only models like our
#   toy one through their QK and OV matrices, and "In-context Learning and Induction Heads" follows
#   induction heads in large models;
# - the TransformerLens library (and the ARENA course built on it) has hooks on every activation of many
#   public models, and exercises on induction heads, the logit lens and activation patching;
# - try the tools here on the GPT-2 of notebook 07 (`interpret` only needs `transformer.h`, `ln_f` and
#   `lm_head`): its induction heads are easy to find with `interpret.induction_scores`.
