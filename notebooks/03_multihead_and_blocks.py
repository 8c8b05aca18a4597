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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/03_multihead_and_blocks.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/03_multihead_and_blocks.ipynb)
#
# # 03 · Multi-head attention and Transformer blocks
#
# A Transformer block is attention ("communication" between tokens) followed by a small MLP
# ("computation" on each token), wrapped in residual connections and LayerNorm. We build each piece,
# then train small models that add them one at a time, several times each, and compare them.
#
# **You will learn**
# - multi-head attention, and the fused computation (heads as a batch dimension, by hand) that
#   `CausalSelfAttention` uses: exactly the same function;
# - attention dropout, the GELU nonlinearity and LayerNorm, each built by hand and checked against PyTorch;
# - the residual stream, how far the gradient reaches with and without it, and the pre-LayerNorm block
#   GPT uses;
# - encoder vs decoder attention, cross-attention, and why the sequences of a batch never talk;
# - what each piece does to training, measured over several seeds so that noise is not mistaken for an
#   effect.
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
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from torch.nn import functional as F

import nanogpt_lib
from nanogpt_lib import CausalSelfAttention, GPTConfig, Head, load_corpus, notebook_config, train
from nanogpt_lib.plot import diagrams


# %% [markdown]
# ## Multi-head attention
#
# `n_head` heads of size $d = C / n_\text{head}$ run in parallel on the same input, each with its own
# $W_Q^{(i)}, W_K^{(i)}, W_V^{(i)} \in \mathbb{R}^{C \times d}$, each free to look for something different
# (the previous vowel, the start of the word, the speaker's name...). Their outputs are concatenated back
# to $C$ channels and mixed by one more matrix $W_O \in \mathbb{R}^{C \times C}$:
#
# $$\operatorname{head}_i = \operatorname{Attention}\big(X W_Q^{(i)}, X W_K^{(i)}, X W_V^{(i)}\big), \qquad
# \operatorname{MultiHead}(X) = \big[\operatorname{head}_1, \dots, \operatorname{head}_{n_\text{head}}\big]\, W_O.$$
#
# The parameter count does not depend on the number of heads: $3C^2$ for the queries, keys and values of
# all heads together, plus $C^2$ for $W_O$.

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
print({n_head: sum(p.numel() for p in MultiHeadAttention(32, n_head, 8).parameters()) for n_head in (1, 2, 4, 8)})


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
# ### The fused computation, by hand
#
# Where do the heads go? Write $d = C / n_\text{head}$. One matrix product gives every head's queries, keys
# and values at once, and two reshapes turn "heads" into a batch dimension, so that one batched product does
# the work of the loop:
#
# | step | code | shape |
# |---|---|---|
# | all q, k, v at once | `x @ W_attn.T`, split in three | $(B, T, 3C) \to 3 \times (B, T, C)$ |
# | cut the channels into heads | `.view(B, T, n_head, d)` | $(B, T, n_\text{head}, d)$ |
# | heads next to the batch | `.transpose(1, 2)` | $(B, n_\text{head}, T, d)$ |
# | scores of every head at once | `q @ k.transpose(-2, -1) / sqrt(d)` | $(B, n_\text{head}, T, T)$ |
# | mask, softmax over the keys, mix values | `masked_fill`, `softmax(dim=-1)`, `@ v` | $(B, n_\text{head}, T, d)$ |
# | heads side by side again | `.transpose(1, 2).reshape(B, T, C)` | $(B, T, C)$ |
# | output projection $W_O$ | `@ W_proj.T` | $(B, T, C)$ |
#
# `view` only re-reads the same numbers: channels $i d$ to $(i+1) d - 1$ of a token become head $i$, exactly
# the slice that head $i$'s own `query`, `key` and `value` produced in the loop. The last reshape undoes it,
# which is the `torch.cat(..., dim=-1)` of `MultiHeadAttention` (after the transpose the tensor is no longer
# laid out in that order in memory, so `reshape` copies it where `view` would refuse).

# %%
def fused_attention(x: torch.Tensor, w_attn: torch.Tensor, w_proj: torch.Tensor, n_head: int) -> torch.Tensor:
    """Causal multi-head attention with the heads as a batch dimension; `w_attn` is (3C, C), `w_proj` (C, C)."""
    B, T, C = x.shape
    d = C // n_head
    q, k, v = (x @ w_attn.T).split(C, dim=2)  # 3 x (B, T, C)
    q, k, v = (t.view(B, T, n_head, d).transpose(1, 2) for t in (q, k, v))  # 3 x (B, n_head, T, d)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, n_head, T, T): every head at once
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    weights = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)  # each row: one query over its keys
    y = (weights @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, n_head, d) -> heads side by side, (B, T, C)
    return y @ w_proj.T


x = torch.randn(2, 8, 32)
fused_weights = fused_state_dict(mha)
with torch.no_grad():
    by_hand = fused_attention(x, fused_weights["c_attn.weight"], fused_weights["c_proj.weight"], n_head=4)
    torch.testing.assert_close(by_hand, mha(x))  # the loop over heads, with the same weights
    lib_fused = CausalSelfAttention(GPTConfig(n_embd=32, n_head=4, block_size=8, bias=False))
    lib_fused.load_state_dict(fused_weights)
    torch.testing.assert_close(by_hand, lib_fused(x))  # the library's fused layer
    # Head 2 of the loop is channels 16..23 of the fused output before the projection: the `view` at work
    y_heads = fused_attention(x, fused_weights["c_attn.weight"], torch.eye(32), n_head=4)[..., 16:24]
    torch.testing.assert_close(y_heads, mha.heads[2](x))
print(f"by hand {tuple(by_hand.shape)}: equal to the loop over heads and to CausalSelfAttention")

# %% [markdown]
# Same function, different speed. Timing one forward and backward pass of each on a batch of the size
# we train with below:

# %%
def time_step(layer: nn.Module, x: torch.Tensor, repeats: int = 20) -> float:
    """Median seconds of one forward + backward pass."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        layer(x).sum().backward()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


looped = MultiHeadAttention(n_embd=64, n_head=4, block_size=32)
fused = CausalSelfAttention(GPTConfig(n_embd=64, n_head=4, block_size=32, bias=False))
fused.load_state_dict(fused_state_dict(looped))
x = torch.randn(32, 32, 64)
torch.testing.assert_close(fused(x), looped(x))
t_loop, t_fused = time_step(looped, x), time_step(fused, x)
print(f"loop over heads {1e3 * t_loop:.2f} ms, fused {1e3 * t_fused:.2f} ms: the fused layer takes "
      f"{t_fused / t_loop:.0%} of the time")

# %% [markdown]
# From here on our blocks use the fused layer: the check above (and the one at the end) shows it is the
# same function as our loop over heads.
#
# ## Attention dropout
#
# **Dropout** zeroes each activation with probability $p$ during training and scales the survivors by
# $1/(1-p)$, so that every activation keeps its expected value:
#
# $$\operatorname{dropout}(a)_j = \frac{m_j\, a_j}{1 - p}, \qquad m_j \sim \operatorname{Bernoulli}(1 - p),
# \qquad \mathbb{E}\big[\operatorname{dropout}(a)_j\big] = a_j.$$
#
# The network cannot rely on any single path, which regularises it. A GPT applies it to the sum of the
# embeddings, to the output of each attention and MLP sub-layer (`self.dropout` above, and in `FeedForward`
# below), and to the **attention weights** themselves: each token randomly ignores some of the tokens it
# attends to. A row of dropped-out weights no longer sums to 1, only on average. `nanogpt_lib.Head` does
# exactly this, `dropout(softmax(...)) @ v`; `CausalSelfAttention` passes `dropout_p` to the fused kernel,
# which does the same inside. In evaluation mode (`.eval()`), dropout does nothing.

# %%
head = Head(n_embd=32, head_size=8, block_size=16, dropout=0.5).train()
x = torch.randn(1, 16, 32)
weights = head.attention_weights(x)  # (1, T, T), rows sum to 1
torch.manual_seed(0)
ours = F.dropout(weights, p=0.5, training=True) @ head.value(x)  # attention dropout by hand
torch.manual_seed(0)
torch.testing.assert_close(head(x), ours)  # the library's head: the same masks, the same output

dropped_rows = torch.stack([F.dropout(weights, p=0.5, training=True)[0, -1].sum() for _ in range(2000)])
print(f"sum of the last row: 1 before dropout; after, one draw gives {dropped_rows[0]:.2f}, "
      f"the mean of {len(dropped_rows)} draws is {dropped_rows.mean():.3f}")
torch.testing.assert_close(head.eval()(x), weights @ head.value(x))  # eval mode: no dropout

# %% [markdown]
# ## Feed-forward, with GELU by hand
#
# After the tokens have exchanged information, each token thinks about it on its own: a two-layer MLP that
# widens to $4C$ channels, applies a nonlinearity, and projects back,
#
# $$\operatorname{FFN}(x) = \operatorname{GELU}(x W_1 + b_1)\, W_2 + b_2, \qquad W_1 \in \mathbb{R}^{C \times 4C},
# \quad W_2 \in \mathbb{R}^{4C \times C}.$$
#
# **GELU** (Gaussian Error Linear Unit) weights its input by the probability that a standard normal variable
# is below it, $\operatorname{GELU}(x) = x\, \Phi(x)$. It is a smooth ReLU: close to $0$ for very negative $x$,
# close to $x$ for large $x$, and slightly negative for moderately negative $x$ (the dip left of 0 in the
# plot below). GPT-2 uses a cheaper approximation with
# $\tanh$, which we use too, so that GPT-2's weights behave identically in notebook 07:
#
# $$\operatorname{GELU}(x) \approx \tfrac{1}{2}\, x \Big(1 + \tanh\!\Big(\sqrt{2/\pi}\,
# \big(x + 0.044715\, x^3\big)\Big)\Big).$$

# %%
def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation (GPT-2's)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


z = torch.linspace(-4, 4, 801)
torch.testing.assert_close(gelu(z), F.gelu(z, approximate="tanh"))
print(f"largest gap between the tanh approximation and x·Φ(x) on [-4, 4]: {(gelu(z) - F.gelu(z)).abs().max():.1e}")

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(z, F.relu(z), "--", color="gray", label="ReLU")
ax.plot(z, gelu(z), label="GELU (tanh approx.)")
ax.set(xlabel="x", title="GELU: a smooth ReLU")
ax.grid(alpha=0.3)
ax.legend()
plt.show()


# %%
class FeedForward(nn.Module):
    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(gelu(self.c_fc(x))))


# %% [markdown]
# ## LayerNorm by hand
#
# **LayerNorm** rescales each token's vector $x \in \mathbb{R}^C$ to mean 0 and variance 1 over its $C$
# channels, then applies a learned scale $\gamma$ and shift $\beta$ (initialised to 1 and 0):
#
# $$\mu = \frac{1}{C} \sum_{i=1}^{C} x_i, \qquad \sigma^2 = \frac{1}{C} \sum_{i=1}^{C} (x_i - \mu)^2, \qquad
# \operatorname{LN}(x)_i = \gamma_i\, \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta_i.$$
#
# Whatever scale the vectors drift to as the weights change, the next layer sees inputs of the same size.
# Note what it averages over: the channels of *one token*. It never mixes different tokens or different
# sequences of the batch (BatchNorm, common in vision models, averages over the batch instead).

# %%
class LayerNorm(nn.Module):
    def __init__(self, n_embd: int, bias: bool = True, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_embd))
        self.bias = nn.Parameter(torch.zeros(n_embd)) if bias else None
        self.eps = eps

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # 1/C, not 1/(C-1): the variance of these C numbers
        y = (x - mean) / torch.sqrt(var + self.eps) * self.weight
        return y if self.bias is None else y + self.bias


x = 3 * torch.randn(4, 8, 32) + 5
for bias in (True, False):
    ours, theirs = LayerNorm(32, bias=bias), nn.LayerNorm(32, bias=bias)
    with torch.no_grad():  # random scale and shift, so that they are tested too
        ours.weight.normal_()
        if bias:
            ours.bias.normal_()
    theirs.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x), theirs(x))
y = LayerNorm(32)(x)
print(f"before: mean {x.mean():.2f}, std {x.std():.2f}; after: mean {y.mean():.2f}, std {y.std():.2f}")

# %% [markdown]
# ## The block and its residual stream
#
# - **Residual connections**: `x = x + attn(x)` instead of `x = attn(x)`. Each sub-layer only *adds* a
#   correction to a vector that flows straight through: the **residual stream**. Written for a stack of
#   sub-layers $f_1, \dots, f_L$,
#
#   $$x_{l} = x_{l-1} + f_l(\operatorname{LN}(x_{l-1})) \quad\Longrightarrow\quad
#   x_L = x_0 + \sum_{l=1}^{L} f_l(\operatorname{LN}(x_{l-1})), \qquad
#   \frac{\partial x_L}{\partial x_0} = I + \dots$$
#
#   The identity term means the gradient of the loss reaches the first layers directly, however deep the
#   stack ("How far does the gradient reach?" below measures this), and a deep stack starts out close to a
#   shallow one.
# - **LayerNorm** is applied *before* each sub-layer ("pre-norm", GPT-2's choice), plus once at the very
#   end. The residual stream itself is never normalised; the original Transformer of 2017 normalised it
#   after each addition ("post-norm", exercise 2).
# - **Dropout** on each sub-layer's output, as above.
#
# The switches `residual` and `layernorm` exist only for the experiment below.

# %%
diagrams.transformer_block(("pre", "post"))


# %%
class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = False,
                 residual: bool = True, layernorm: bool = True):
        super().__init__()
        self.residual = residual
        self.ln_1 = LayerNorm(n_embd, bias=bias) if layernorm else nn.Identity()
        self.attn = CausalSelfAttention(GPTConfig(n_embd=n_embd, n_head=n_head, block_size=block_size,
                                                  dropout=dropout, bias=bias))
        self.ln_2 = LayerNorm(n_embd, bias=bias) if layernorm else nn.Identity()
        self.mlp = FeedForward(n_embd, dropout, bias)

    def forward(self, x):
        if not self.residual:
            return self.mlp(self.ln_2(self.attn(self.ln_1(x))))
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


# %% [markdown]
# ## Encoder, decoder, cross-attention
#
# Our attention is **causal**: a token reads only itself and the tokens before it. That is what a model
# that *generates* text needs (a **decoder**, as in GPT): at training time every position predicts its
# next token, and it must not see the answer. Two other kinds of attention appear in the Transformer
# family:
#
# - **Encoder** self-attention (BERT, the first half of the original translation Transformer) drops the
#   mask: every token reads the whole sequence, before and after it. Good for understanding a text that is
#   given in full, useless for generating one token at a time.
# - **Cross-attention** (the second half of the translation Transformer, and of speech and image
#   captioning models) takes its queries from one sequence (the decoder's, say the French being written)
#   and its keys and values from another (the encoder's output, say the English sentence). Each target
#   position reads the whole source; the output has the length of the target.
#
# A GPT has only the causal kind.

# %%
diagrams.attention_masks(T=5, T_source=7)

# %%
B, T_target, T_source, d = 2, 5, 7, 16
q = torch.randn(B, T_target, d)  # from the decoder's tokens
k, v = torch.randn(2, B, T_source, d).unbind(0)  # from the encoder's output
cross = F.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1) @ v  # no mask: the whole source is known
torch.testing.assert_close(cross, F.scaled_dot_product_attention(q, k, v))
print(f"queries {tuple(q.shape)}, keys/values {tuple(k.shape)} -> output {tuple(cross.shape)}")

# %% [markdown]
# ### Why the sequences of a batch never talk
#
# Every operation in a block acts either on one token (LayerNorm, the MLP, the projections) or across the
# positions of one sequence (attention: `(B, T, T)` weights, one matrix per sequence). Nothing mixes
# different rows of the batch: a batch is just many independent sequences processed at once. Check it:
# change sequence 1 and sequence 0's output stays identical. A BatchNorm layer, which normalises each
# channel over the whole batch, would break this:

# %%
block = Block(n_embd=32, n_head=4, block_size=16).eval()
x = torch.randn(3, 16, 32)
x_changed = x.clone()
x_changed[1] = torch.randn(16, 32)  # a different sequence 1
torch.testing.assert_close(block(x_changed)[0], block(x)[0])
torch.testing.assert_close(block(x_changed)[2], block(x)[2])

batchnorm = nn.BatchNorm1d(32)  # in training mode it normalises with the statistics of the current batch
leak = (batchnorm(x_changed.transpose(1, 2))[0] - batchnorm(x.transpose(1, 2))[0]).abs().max().item()
print(f"our block: sequence 0 unchanged; with BatchNorm, sequence 0 moves by up to {leak:.3f}")

# %% [markdown]
# ## One piece at a time
#
# Every model below shares the same frame: token and position embeddings, a stack of layers, an
# optional final LayerNorm, and a linear layer to the logits. Only the stack changes. All are trained with
# the same data, steps and learning-rate schedule.
#
# The variants:
# - **one head of size $C$ vs $n_\text{head}$ heads of size $C / n_\text{head}$**, both followed by the output
#   projection $W_O$: the same $4C^2$ attention parameters (printed below), so the only difference is how
#   they are split;
# - **+ feed-forward**: the heads, then an MLP;
# - **3 blocks** without residual connections or LayerNorm, then adding residual connections, then
#   LayerNorm.
#
# A single training run is a noisy measurement: another random initialisation or another order of the
# batches gives a somewhat different loss. So every variant is trained with several seeds (the seed sets
# both), and a difference counts only if it is larger than the spread between seeds.

# %%
from dataclasses import replace

from nanogpt_lib.plot import plot_seed_bands


class StackLM(nn.Module):
    """Embeddings -> `layers` -> (LayerNorm) -> logits."""

    def __init__(self, layers: list, vocab_size: int, n_embd: int, block_size: int, final_ln: bool = False):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, n_embd)
        self.position_embedding = nn.Embedding(block_size, n_embd)
        self.layers = nn.Sequential(*layers)
        self.ln_f = LayerNorm(n_embd) if final_ln else nn.Identity()
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets=None):
        x = self.token_embedding(idx) + self.position_embedding(torch.arange(idx.size(1), device=idx.device))
        logits = self.lm_head(self.ln_f(self.layers(x)))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


corpus = load_corpus()
cfg = notebook_config("cpu", n_layer=3, n_head=4, n_embd=64, block_size=32, max_iters=300, eval_interval=300,
                      warmup_iters=30, sample_tokens=0)
V, E, H, T, L = corpus.vocab_size, cfg.n_embd, cfg.n_head, cfg.block_size, cfg.n_layer
seeds = (0, 1, 2)


def attention(n_head: int) -> nn.Module:
    return CausalSelfAttention(GPTConfig(n_embd=E, n_head=n_head, block_size=T, bias=False))


def blocks(**switches) -> list:
    return [Block(E, H, T, **switches) for _ in range(L)]


one_head, n_heads, with_ff = f"1 head of {E}", f"{H} heads of {E // H}", f"{H} heads + feed-forward"
plain, with_res, with_ln = f"{L} blocks, no residual, no LN", f"{L} blocks + residual", f"{L} blocks + residual + LN"
experiments = {
    one_head: lambda: StackLM([attention(1)], V, E, T),
    n_heads: lambda: StackLM([attention(H)], V, E, T),
    with_ff: lambda: StackLM([attention(H), FeedForward(E)], V, E, T),
    plain: lambda: StackLM(blocks(residual=False, layernorm=False), V, E, T),
    with_res: lambda: StackLM(blocks(layernorm=False), V, E, T),
    with_ln: lambda: StackLM(blocks(), V, E, T, final_ln=True),
}
params = {name: sum(p.numel() for p in make().layers.parameters()) for name, make in experiments.items()}
assert params[one_head] == params[n_heads] == 4 * E * E
print(f"{len(experiments)} variants x {len(seeds)} seeds, {cfg.max_iters} steps each "
      f"({cfg.max_iters * cfg.batch_size * cfg.block_size:,} tokens), n_embd {E}, block_size {T}")

runs = {name: [] for name in experiments}
start = time.time()
for seed in seeds:
    for name, make_model in experiments.items():
        torch.manual_seed(seed)  # the initial weights
        runs[name].append(train(replace(cfg, seed=seed), corpus, model=make_model(), progress=False,
                                verbose=False).history)  # cfg.seed: the order of the batches
print(f"{len(seeds) * len(experiments)} runs in {time.time() - start:.0f} s")
finals = {name: [h.eval_val_loss[-1] for h in hs] for name, hs in runs.items()}
for name, values in finals.items():
    print(f"{name:34} {params[name]:>7,} parameters in the stack   val loss {sum(values) / len(values):.3f}  "
          f"(seeds: {', '.join(f'{v:.3f}' for v in values)})")

# %%
fig = plot_seed_bands(runs, title=f"Adding one piece at a time ({len(seeds)} seeds x {cfg.max_iters} steps)")


# %% [markdown]
# Left, the training loss of each variant: the line is the mean over seeds, the band spans the lowest to
# the highest seed. Each run sees 307,200 tokens (printed above), under a third of the roughly one million
# characters of the training split, in randomly placed windows: little of it twice, so the training loss
# is also a fair estimate of the loss on unseen text. Right, the validation loss at the end of every run.
#
# What to look for: whether a band sits clearly below another or overlaps it. Instead of reading that by
# eye, the next cell compares each pair that differs by one piece, and calls a difference real only when
# the seeds do not overlap: every seed of one variant beats every seed of the other.

# %%
def compare(a: str, b: str) -> str:
    """One sentence on the final validation losses of variants `a` and `b`, worded from the numbers."""
    va, vb = finals[a], finals[b]
    mean_a, mean_b = sum(va) / len(va), sum(vb) / len(vb)
    better, worse = (a, b) if mean_a < mean_b else (b, a)
    gap = abs(mean_a - mean_b)
    if max(va) < min(vb) or max(vb) < min(va):
        return f"'{better}' beats '{worse}' by {gap:.3f} on average, and every seed agrees."
    return (f"'{a}' vs '{b}': the means differ by {gap:.3f}, but the seeds overlap: no difference "
            f"we can claim from {len(seeds)} seeds.")


for a, b in [(one_head, n_heads), (n_heads, with_ff), (with_ff, plain), (plain, with_res), (with_res, with_ln)]:
    print("-", compare(a, b))

# %% [markdown]
# How to read these sentences:
# - **Heads.** The two single-layer models have exactly the same parameters; only the split into heads
#   differs. Several small heads can each attend to a different position at once; one big head produces
#   one weighted average per position.
# - **Feed-forward.** The MLP adds per-token computation after the communication.
# - **Depth without help.** Compare the three-block stack without residual connections or LayerNorm with
#   the one-layer models: it has three times the parameters of the feed-forward model, and it is much
#   *worse* (compare their val losses in the table above). The signal and its gradient must pass through
#   every layer, and the next section measures how fast the gradient fades.
# - **Residual connections** give the same depth a direct path.
# - **LayerNorm** keeps every layer's input at the same scale. That is insurance for deep stacks, high
#   learning rates and long runs; this short run of three blocks needs none of it, so do not expect a gain
#   here. The last sentence above says whether it helped, hurt, or made no difference we can measure: in the
#   run shown, it hurt, every seed agreeing (the table above has both val losses), a reminder that a
#   piece built for deep, long runs is not free in a short, shallow one.
#   Notebook 04 trains deeper models for longer, with LayerNorm.
#
# Dropout is left out of this comparison on purpose: it fights overfitting, and in a few hundred steps on
# fresh text there is nothing to overfit. It is for longer runs of bigger models, where the training loss
# falls below the validation loss: notebook 04 shows that gap opening (it trains without dropout too).
#
# ## How far does the gradient reach?
#
# The residual stream was supposed to carry the gradient "directly" to the first layers. Measure it: for
# stacks of 1 to 16 blocks, without residual connections or LayerNorm, with residual connections only, and
# with both (and the final LayerNorm), one forward and backward pass on the same batch at initialisation,
# and the norm of the gradient that reaches the token embedding, $\lVert \partial \mathcal{L} / \partial W_E \rVert$.
# Every model starts from the same seed.

# %%
depths = [1, 2, 4, 8, 16]
xb, yb = nanogpt_lib.get_batch(corpus.train, 16, T, torch.Generator().manual_seed(0))
kinds = {"plain": dict(residual=False, layernorm=False), "residual": dict(layernorm=False), "residual + LN": {}}
grad_norms = {kind: [] for kind in kinds}
for kind, switches in kinds.items():
    for depth in depths:
        torch.manual_seed(0)
        model = StackLM([Block(E, H, T, **switches) for _ in range(depth)], V, E, T, final_ln=kind == "residual + LN")
        model(xb, yb)[1].backward()
        grad_norms[kind].append(model.token_embedding.weight.grad.norm().item())

fig, ax = plt.subplots(figsize=(6, 3.5))
for kind, norms in grad_norms.items():
    ax.plot(depths, norms, "o-", label=kind)
ax.set(xscale="log", yscale="log", xlabel="number of blocks", ylabel="‖gradient of the token embedding‖",
       title="How much gradient reaches the first layer, at initialisation")
ax.set_xticks(depths, [str(d) for d in depths])
ax.grid(alpha=0.3)
ax.legend()
plt.show()
for kind, norms in grad_norms.items():
    print(f"{kind:14} from {depths[0]} to {depths[-1]} blocks the gradient is multiplied by {norms[-1] / norms[0]:.1e}")

# %% [markdown]
# What to look for: without residual connections the gradient that reaches the embedding falls by orders
# of magnitude as blocks are added (the first line above), so the first layers of a deep plain stack barely
# learn: that is the "depth without help" of the experiment above. With the residual stream it stays within
# a small factor at every depth, the identity term of $\partial x_L / \partial x_0$ at work, and with pre-norm
# LayerNorm as well (the last two lines).
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

# Feed-forward (with our GELU)
ours_ff = FeedForward(config.n_embd, bias=False)
lib_ff = nanogpt_lib.FeedForward(config.n_embd, bias=False)
lib_ff.load_state_dict(ours_ff.state_dict())
torch.testing.assert_close(ours_ff(x), lib_ff(x))

# The whole block (our LayerNorm, GELU and residual stream), with random LayerNorm scales
ours_block = Block(config.n_embd, config.n_head, config.block_size)
with torch.no_grad():
    ours_block.ln_1.weight.normal_()
    ours_block.ln_2.weight.normal_()
lib_block = nanogpt_lib.Block(config)
lib_block.load_state_dict(ours_block.state_dict())
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
# `bias=False`, as a formula (no model allowed). Hint: go through `Block` above sub-module by sub-module
# (`ln_1`, `attn`, `ln_2`, `mlp`), and for each tensor of parameters write its shape in terms of `n_embd`: the
# `print` of the fused weights' shapes near the top of this notebook and the `FeedForward` and `LayerNorm`
# classes tell you every one. With `bias=False`, which tensors are left out?

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex03-block-params", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def block_params(n_embd: int) -> int: ...
### BEGIN SOLUTION
def block_params(n_embd: int) -> int:
    attention = 4 * n_embd * n_embd
    mlp = 2 * n_embd * 4 * n_embd
    layernorms = 2 * n_embd
    return attention + mlp + layernorms
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex03-block-params-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
for n_embd in (32, 128, 384):
    lib_block = nanogpt_lib.Block(GPTConfig(n_embd=n_embd, n_head=4, bias=False))
    want, got = sum(p.numel() for p in lib_block.parameters()), block_params(n_embd)
    off = got - want
    C = n_embd
    assert off != -2 * C, f"n_embd={C}: {2 * C} too few, the weights of the two LayerNorms (ln_1, ln_2) are missing"
    assert off != 2 * C, f"n_embd={C}: {2 * C} too many, LayerNorm biases counted, but bias=False has none"
    assert off != -C * C, f"n_embd={C}: {C * C} too few, attention's output projection (c_proj) is missing"
    assert off != -4 * C * C, f"n_embd={C}: {4 * C * C} too few, the MLP has two matrices (up to 4·C and back)"
    assert off not in (9 * C, 9 * C + 2 * C), f"n_embd={C}: {off} too many, Linear biases counted, but bias=False"
    assert off == 0, f"block_params({C}) = {got:,} but a block has {want:,} parameters (off by {off:,})"


# %% [markdown]
# **2. Post-norm.** The original Transformer (2017) put LayerNorm *after* the residual addition:
# `x = ln_1(x + attn(x))`, then `x = ln_2(x + mlp(x))` (the right half of the block picture). Write
# `PostNormBlock(n_embd, n_head, block_size)` with the sub-modules `attn`, `mlp`, `ln_1`, `ln_2` (use our
# `MultiHeadAttention`, `FeedForward` and `LayerNorm`).

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex03-post-norm", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# class PostNormBlock(nn.Module): ...
### BEGIN SOLUTION
class PostNormBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.attn = MultiHeadAttention(n_embd, n_head, block_size)
        self.mlp = FeedForward(n_embd)
        self.ln_1 = LayerNorm(n_embd)
        self.ln_2 = LayerNorm(n_embd)

    def forward(self, x):
        x = self.ln_1(x + self.attn(x))
        return self.ln_2(x + self.mlp(x))
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex03-post-norm-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
post = PostNormBlock(32, 4, 16)
with torch.no_grad():  # random LayerNorm scales and shifts, so that ln_1 and ln_2 cannot be swapped unseen
    for p in (*post.ln_1.parameters(), *post.ln_2.parameters()):
        p.normal_()
# An independent reference, from the library's pieces and PyTorch's LayerNorm, with the same weights
ref_attn = nanogpt_lib.MultiHeadAttention(32, 4, 16)
ref_attn.load_state_dict(post.attn.state_dict())
ref_mlp = nanogpt_lib.FeedForward(32)
ref_mlp.load_state_dict(post.mlp.state_dict())
ref_ln_1, ref_ln_2 = nn.LayerNorm(32), nn.LayerNorm(32)
ref_ln_1.load_state_dict(post.ln_1.state_dict())
ref_ln_2.load_state_dict(post.ln_2.state_dict())
x = 3 * torch.randn(2, 16, 32) + 1
with torch.no_grad():
    out = post(x)
    h = ref_ln_1(x + ref_attn(x))
    wanted = ref_ln_2(h + ref_mlp(h))
    pre = x + ref_attn(ref_ln_1(x))
    swapped = ref_ln_2(x + ref_attn(x))
    known_bugs = {  # what typical mistakes compute instead, and what to say about each
        "this is the pre-norm block (LayerNorm before each sub-layer); post-norm normalises after the addition":
            pre + ref_mlp(ref_ln_2(pre)),
        "no residual connection: add the sub-layer's input back before each LayerNorm, ln_1(x + attn(x))":
            ref_ln_2(ref_mlp(ref_ln_1(ref_attn(x)))),
        "no residual connection around the MLP: ln_2(h + mlp(h))": ref_ln_2(ref_mlp(h)),
        "ln_1 and ln_2 swapped: ln_1 follows the attention, ln_2 the MLP":
            ref_ln_1(swapped + ref_mlp(swapped)),
    }
assert out.shape == x.shape, f"post(x) has shape {tuple(out.shape)}, want {tuple(x.shape)}"
for bug, computed in known_bugs.items():
    assert not torch.allclose(out, computed, atol=1e-5), bug
torch.testing.assert_close(out, wanted, msg="post(x) is not ln_2(h + mlp(h)) with h = ln_1(x + attn(x))")
x_changed = x.clone()
x_changed[:, -1] = torch.randn(2, 32)  # still causal: the last token changes nothing before it
torch.testing.assert_close(post(x_changed)[:, :-1], post(x)[:, :-1])


# %% [markdown]
# **3. How fast does the plain stack lose its gradient?** The depths of the figure "How much gradient reaches
# the first layer" double (1, 2, 4, 8, 16); read it per block instead. If every block of the plain stack
# scales the gradient by the same factor $r$, then
# $g(n) = g(1)\, r^{\,n-1}$ for a stack of $n$ blocks. From `grad_norms["plain"]` and `depths` (the measured
# norms at the first and the last depth), compute `shrink_per_block`, the factor $r$ (a float below 1), and
# `blocks_per_decade`, how many plain blocks divide the gradient by 10.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex03-gradient-depth", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# shrink_per_block: float, blocks_per_decade: float
### BEGIN SOLUTION
g = grad_norms["plain"]
shrink_per_block = (g[-1] / g[0]) ** (1 / (depths[-1] - depths[0]))
blocks_per_decade = math.log(10) / -math.log(shrink_per_block)
print(f"each plain block multiplies the gradient by {shrink_per_block:.3f}; "
      f"{blocks_per_decade:.1f} blocks divide it by 10")
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "ex03-gradient-depth-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
g_plain, g_res = grad_norms["plain"], grad_norms["residual"]
n_added = depths[-1] - depths[0]
r = (g_plain[-1] / g_plain[0]) ** (1 / n_added)


def near(a, b):
    return math.isclose(float(a), b, rel_tol=1e-3)


assert not near(shrink_per_block, 1 / r), "inverted: the ratio is g(16) / g(1), the deep stack over the shallow one"
assert not near(shrink_per_block, (g_plain[-1] / g_plain[0]) ** (1 / depths[-1])), \
    "off by one: from 1 block to 16 blocks, 15 blocks are added, so the exponent is 1/15"
assert not near(shrink_per_block, (g_plain[-1] / g_plain[0]) ** (1 / (len(depths) - 1))), \
    "that is the factor per doubling of the depth (1, 2, 4, 8, 16), not per block"
assert not near(shrink_per_block, (g_res[-1] / g_res[0]) ** (1 / n_added)), \
    "that is the residual stack's factor: the question is about the plain stack"
assert 0 < shrink_per_block < 1, f"shrink_per_block = {shrink_per_block}: the plain stack's gradient shrinks"
assert near(shrink_per_block, r), f"shrink_per_block = {shrink_per_block:.4f}, want (g(16) / g(1)) ** (1/15)"
assert blocks_per_decade > 0, "blocks_per_decade must be positive: log(shrink_per_block) is negative"
assert not near(blocks_per_decade, 1 / -math.log(r)), "natural log: that many blocks divide the gradient by e, not 10"
assert near(blocks_per_decade, math.log(10) / -math.log(r)), \
    f"blocks_per_decade = {blocks_per_decade:.3f}: solve r ** n = 1/10 for n"

# %% [markdown]
# ## What's next
#
# We have every piece. **04_full_gpt** assembles them into a GPT, trains it with the library's training
# loop, and samples from it with temperature and top-k.
