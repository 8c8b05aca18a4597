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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/03_multihead_and_blocks.ipynb)
#
# # 03 · Multi-head attention and Transformer blocks
#
# A Transformer block is attention ("communication" between tokens) followed by a small MLP
# ("computation" on each token), wrapped in residual connections and LayerNorm. We build each piece,
# then train small models that add them one at a time and compare their loss curves.
#
# **You will learn**
# - multi-head attention, and why the fused `CausalSelfAttention` computes exactly the same thing;
# - the feed-forward layer, residual connections, LayerNorm and dropout;
# - what each of them does to training, on one chart.
#
# **You need** from 02: one attention head (`nanogpt_lib.Head`).

# %%
# In Colab, install nanogpt_lib from the project's repository; locally it is already installed.
import sys

if "google.colab" in sys.modules:
    # %pip install -q "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"

from nanogpt_lib.notebook import setup

setup()  # seeds, small inline figures; loads the corpus (downloads it the first time)

# %%
import torch
import torch.nn as nn
from torch.nn import functional as F

import nanogpt_lib
from nanogpt_lib import GPTConfig, Head, load_corpus, notebook_config, plot_runs, train


# %% [markdown]
# ## Multi-head attention
#
# `n_head` heads of size `n_embd // n_head` run in parallel on the same input, each free to look for
# something different (the previous vowel, the start of the word, the speaker's name...). Their outputs are
# concatenated back to `n_embd` channels and mixed by one linear projection.

# %%
class MultiHeadAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        head_size = n_embd // n_head
        self.heads = nn.ModuleList([Head(n_embd, head_size, block_size, dropout, bias) for _ in range(n_head)])
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = torch.cat([head(x) for head in self.heads], dim=-1)  # (B, T, n_embd)
        return self.dropout(self.proj(out))


mha = MultiHeadAttention(n_embd=32, n_head=4, block_size=8)
print(mha(torch.randn(2, 8, 32)).shape)


# %% [markdown]
# ## The same thing, fused
#
# A Python loop over heads is slow. `nanogpt_lib.CausalSelfAttention` computes every query, key and value
# of every head with **one** `Linear(n_embd, 3 * n_embd)` (`c_attn`), reshapes the result so that the
# heads become a batch dimension, and calls PyTorch's fused attention kernel. Its weight is simply all
# our per-head weights stacked: all queries, then all keys, then all values, head after head.

# %%
def fused_state_dict(mha: MultiHeadAttention) -> dict:
    """The weights of `CausalSelfAttention` that compute the same function as `mha`."""
    heads = mha.heads
    c_attn = torch.cat([h.query.weight for h in heads] + [h.key.weight for h in heads]
                       + [h.value.weight for h in heads])
    return {"c_attn.weight": c_attn, "c_proj.weight": mha.proj.weight}


print({name: tuple(w.shape) for name, w in fused_state_dict(mha).items()})


# %% [markdown]
# ## Feed-forward
#
# After the tokens have exchanged information, each token thinks about it on its own: a two-layer MLP that
# widens to `4 * n_embd` channels, applies a GELU nonlinearity, and projects back.

# %%
class FeedForward(nn.Module):
    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


# %% [markdown]
# ## The block: residual connections, LayerNorm, dropout
#
# - **Residual connections**: `x = x + attn(x)` instead of `x = attn(x)`. Each layer only *adds* a
#   correction to a stream that flows straight through, so the gradient reaches the first layers
#   undiminished and a deep stack trains like a shallow one at first.
# - **LayerNorm** rescales each token's vector to mean 0 and variance 1 (then a learned scale and shift).
#   GPT applies it *before* each sub-layer ("pre-norm"), plus once at the very end.
# - **Dropout** zeroes random activations during training only, so the network cannot rely on any single
#   path: a regulariser against overfitting.
#
# The switches `residual` and `layernorm` exist only for the experiment below.

# %%
class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = False,
                 residual: bool = True, layernorm: bool = True):
        super().__init__()
        self.residual = residual
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias) if layernorm else nn.Identity()
        self.attn = MultiHeadAttention(n_embd, n_head, block_size, dropout, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias) if layernorm else nn.Identity()
        self.mlp = FeedForward(n_embd, dropout, bias)

    def forward(self, x):
        if not self.residual:
            return self.mlp(self.ln_2(self.attn(self.ln_1(x))))
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


# %% [markdown]
# ## One piece at a time
#
# Every model below shares the same frame: token and position embeddings, a stack of layers, an
# optional final LayerNorm, and a linear layer to the logits. Only the stack changes. All are trained with
# the same data, steps and learning-rate schedule.

# %%
class StackLM(nn.Module):
    """Embeddings -> `layers` -> (LayerNorm) -> logits."""

    def __init__(self, layers: list, vocab_size: int, n_embd: int, block_size: int, final_ln: bool = False):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, n_embd)
        self.position_embedding = nn.Embedding(block_size, n_embd)
        self.layers = nn.Sequential(*layers)
        self.ln_f = nn.LayerNorm(n_embd) if final_ln else nn.Identity()
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets=None):
        x = self.token_embedding(idx) + self.position_embedding(torch.arange(idx.size(1), device=idx.device))
        logits = self.lm_head(self.ln_f(self.layers(x)))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


corpus = load_corpus()
cfg = notebook_config("cpu", n_layer=3, n_head=4, n_embd=64, block_size=32, max_iters=400, eval_interval=100,
                      warmup_iters=30, sample_tokens=0)
V, E, H, T, L = corpus.vocab_size, cfg.n_embd, cfg.n_head, cfg.block_size, cfg.n_layer


def blocks(**switches) -> list:
    return [Block(E, H, T, **switches) for _ in range(L)]


experiments = {
    "1 head": lambda: StackLM([Head(E, E, T)], V, E, T),
    f"{H} heads": lambda: StackLM([MultiHeadAttention(E, H, T)], V, E, T),
    f"{H} heads + feed-forward": lambda: StackLM([MultiHeadAttention(E, H, T), FeedForward(E)], V, E, T),
    f"{L} blocks, no residual, no LayerNorm": lambda: StackLM(blocks(residual=False, layernorm=False), V, E, T),
    f"{L} blocks + residual": lambda: StackLM(blocks(layernorm=False), V, E, T),
    f"{L} blocks + residual + LayerNorm": lambda: StackLM(blocks(), V, E, T, final_ln=True),
    "... + dropout 0.2": lambda: StackLM(blocks(dropout=0.2), V, E, T, final_ln=True),
}
histories = {}
for name, make_model in experiments.items():
    torch.manual_seed(0)
    histories[name] = train(cfg, corpus, model=make_model(), progress=False, verbose=False).history
    print(f"{name:40} val loss {histories[name].eval_val_loss[-1]:.3f}")

# %%
fig = plot_runs(histories, title=f"Adding one piece at a time ({cfg.max_iters} steps each)")
fig.set_size_inches(12, 5)
ax = fig.axes[0]
ax.set_ylim(top=3.5)
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
fig.tight_layout()

# %% [markdown]
# What to look for (solid: training loss; dashed: validation loss):
# - several heads beat one head of the same total size, and a feed-forward layer helps again;
# - stacking blocks **without** residual connections or LayerNorm trains far worse than a single layer:
#   depth alone hurts, because the signal and its gradient must squeeze through every layer;
# - residual connections turn the same depth into the best model of the chart;
# - LayerNorm and dropout do not pay off in a few hundred steps of a model this small; they cost a little.
#   LayerNorm earns its place in deeper stacks and at higher learning rates, where it keeps every layer's
#   input at the same scale; dropout once the training loss falls below the validation loss
#   (overfitting), in longer runs of bigger models.
#
# ## Check
#
# Each hand-built piece against the library's: same weights in, same numbers out.

# %%
config = GPTConfig(vocab_size=65, block_size=16, n_layer=1, n_head=4, n_embd=32, bias=False)
x = torch.randn(3, config.block_size, config.n_embd)

# Multi-head attention, per-head weights
ours = MultiHeadAttention(config.n_embd, config.n_head, config.block_size)
lib_mha = nanogpt_lib.MultiHeadAttention(config.n_embd, config.n_head, config.block_size)
lib_mha.load_state_dict(ours.state_dict())
torch.testing.assert_close(ours(x), lib_mha(x))

# The fused CausalSelfAttention computes the same function as MultiHeadAttention
fused = nanogpt_lib.CausalSelfAttention(config)
fused.load_state_dict(fused_state_dict(lib_mha))
torch.testing.assert_close(fused(x), lib_mha(x))

# Feed-forward
ours_ff = FeedForward(config.n_embd, bias=False)
lib_ff = nanogpt_lib.FeedForward(config.n_embd, bias=False)
lib_ff.load_state_dict(ours_ff.state_dict())
torch.testing.assert_close(ours_ff(x), lib_ff(x))

# The whole block: LayerNorms and MLP keep their names, attention goes through the fused layout
ours_block = Block(config.n_embd, config.n_head, config.block_size)
lib_block = nanogpt_lib.Block(config)
state = {k: v for k, v in ours_block.state_dict().items() if not k.startswith("attn.")}
state.update({f"attn.{k}": v for k, v in fused_state_dict(ours_block.attn).items()})
lib_block.load_state_dict(state)
torch.testing.assert_close(ours_block(x), lib_block(x))

# Dropout acts in training mode only
dropped = Block(config.n_embd, config.n_head, config.block_size, dropout=0.5)
dropped.load_state_dict(ours_block.state_dict())
torch.testing.assert_close(dropped.eval()(x), ours_block(x))
assert not torch.allclose(dropped.train()(x), ours_block(x))
print("all checks passed")


# %% [markdown]
# ## Exercises
#
# **1. Counting parameters.** Write `block_params(n_embd)`: the number of parameters of one block with
# `bias=False`, as a formula (no model allowed). Hint: attention has four `n_embd × n_embd` matrices, the
# MLP two of `n_embd × 4·n_embd`, each LayerNorm a scale of `n_embd`.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex03-block-params", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def block_params(n_embd: int) -> int: ...
### BEGIN SOLUTION
def block_params(n_embd: int) -> int:
    attention = 4 * n_embd * n_embd
    mlp = 2 * n_embd * 4 * n_embd
    layernorms = 2 * n_embd
    return attention + mlp + layernorms
### END SOLUTION


# %% tags=["self-check"]
for n_embd in (32, 128, 384):
    lib_block = nanogpt_lib.Block(GPTConfig(n_embd=n_embd, n_head=4, bias=False))
    assert block_params(n_embd) == sum(p.numel() for p in lib_block.parameters()), n_embd
print(f"GPT-2 small (n_embd 768, with biases a little more): 12 blocks x ~{block_params(768):,} parameters")


# %% [markdown]
# **2. Post-norm.** The original Transformer (2017) put LayerNorm *after* the residual addition:
# `x = ln_1(x + attn(x))`, then `x = ln_2(x + mlp(x))`. Write `PostNormBlock(n_embd, n_head, block_size)`
# with the sub-modules `attn`, `mlp`, `ln_1`, `ln_2` (use our `MultiHeadAttention` and `FeedForward`).

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex03-post-norm", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# class PostNormBlock(nn.Module): ...
### BEGIN SOLUTION
class PostNormBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.attn = MultiHeadAttention(n_embd, n_head, block_size)
        self.mlp = FeedForward(n_embd)
        self.ln_1 = nn.LayerNorm(n_embd)
        self.ln_2 = nn.LayerNorm(n_embd)

    def forward(self, x):
        x = self.ln_1(x + self.attn(x))
        return self.ln_2(x + self.mlp(x))
### END SOLUTION


# %% tags=["self-check"]
post = PostNormBlock(32, 4, 16)
y = post(5 * torch.randn(2, 16, 32) + 3)
# the last operation is a LayerNorm (scale 1, shift 0 at init): every token has mean 0 and variance 1
torch.testing.assert_close(y.mean(dim=-1), torch.zeros(2, 16), atol=1e-5, rtol=0)
torch.testing.assert_close(y.var(dim=-1, unbiased=False), torch.ones(2, 16), atol=1e-3, rtol=0)
x = torch.randn(2, 16, 32)
expected = post.ln_2(post.ln_1(x + post.attn(x)) + post.mlp(post.ln_1(x + post.attn(x))))
torch.testing.assert_close(post(x), expected)

# %% [markdown]
# ## What's next
#
# We have every piece. **04_full_gpt** assembles them into a GPT, trains it with the library's training
# loop, and samples from it with temperature and top-k.
