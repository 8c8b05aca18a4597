"""The model pieces, in the order the notebooks teach them.

BigramLanguageModel → Head → MultiHeadAttention → CausalSelfAttention → FeedForward → Block → GPT.

`Head` and `MultiHeadAttention` are the teaching versions (one matrix per head, a Python list of heads).
`CausalSelfAttention` computes exactly the same function with one fused projection and PyTorch's
`scaled_dot_product_attention`; it is what `Block` and `GPT` use, so the training path never loops over
heads in Python. Generation with a key/value cache lives in `kv_cache.py`, sampling in `sampling.py`.

Notebook 08's changes since GPT-2 (RMSNorm, RotaryEmbedding, ReLUSquared, SwiGLU) come just before the GPT
that uses them (each piece is defined before its first use); each is switched on by a `GPTConfig` field and
off by default, so a default `GPT` is exactly GPT-2.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn as nn
from torch.nn import functional as F

from .config import GPTConfig
from .kv_cache import KVCache, generate_cached
from .pretrained import copy_pretrained_weights, read_pretrained, write_pretrained
from .sampling import check_prompt, check_sampling, sample_next_token

__all__ = ["LanguageModel", "BigramLanguageModel", "Head", "MultiHeadAttention", "CausalSelfAttention",
           "FeedForward", "Block", "GPT", "GPTConfig", "lm_loss", "RMSNorm", "RotaryEmbedding", "ReLUSquared",
           "SwiGLU"]


def lm_loss(logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
    """Mean cross-entropy over every position; targets of -1 are ignored (padding)."""
    if targets is None:
        return None
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)


class LanguageModel(nn.Module):
    """Anything that maps token ids `(B, T)` to next-token logits `(B, T, vocab)` can generate text."""

    context_length: int  # how many past tokens the model can look at
    vocab_size: int
    warn_on_crop = True  # say so when a prompt is cut to the window (a bigram model always reads one token)
    supports_cache = False  # True for models whose `new_cache` returns a KVCache

    def next_token_logits(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits for the token after `idx`, shape `(B, vocab)`."""
        logits, _ = self(idx)
        return logits[:, -1, :]

    def new_cache(self, batch_size: int, device: torch.device) -> KVCache | None:
        """A key/value cache for generation, or None for models that have nothing to cache."""
        return None

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, generator: torch.Generator | None = None,
                 use_cache: bool = True) -> torch.Tensor:
        """Append `max_new_tokens` sampled tokens to the `(B, T)` token ids `idx`.

        The model reads at most its last `context_length` tokens. With `use_cache` (and a model that has a
        cache) the same tokens come from `kv_cache.generate_cached`, which does not recompute the past.
        """
        check_sampling(temperature, top_k, top_p, max_new_tokens)
        check_prompt(idx, getattr(self, "vocab_size", None))
        window = self.context_length
        if idx.size(1) > window and self.warn_on_crop:
            warnings.warn(f"prompt has {idx.size(1)} tokens but the model sees at most {window}; "
                          f"only the last {window} are used", stacklevel=2)
        if use_cache and self.supports_cache:
            return generate_cached(self, idx, max_new_tokens, temperature, top_k, top_p, generator)
        for _ in range(max_new_tokens):
            logits = self.next_token_logits(idx[:, -window:])
            idx = torch.cat((idx, sample_next_token(logits, temperature, top_k, top_p, generator)), dim=1)
        return idx


class BigramLanguageModel(LanguageModel):
    """Step 1: each token predicts the next from a lookup table, ignoring everything before it."""

    context_length = 1
    warn_on_crop = False

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self.token_embedding_table(idx)  # (B, T, vocab): row idx *is* the next-token logits
        return logits, lm_loss(logits, targets)


class Head(nn.Module):
    """One head of causal self-attention, written out matrix by matrix."""

    def __init__(self, n_embd: int, head_size: int, block_size: int, dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=bias)
        self.query = nn.Linear(n_embd, head_size, bias=bias)
        self.value = nn.Linear(n_embd, head_size, bias=bias)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size, dtype=torch.bool)), persistent=False)
        self.dropout = nn.Dropout(dropout)

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Row t says how much position t attends to each position ≤ t: shape (B, T, T), rows sum to 1."""
        T = x.size(1)
        q, k = self.query(x), self.key(x)
        # Dividing by sqrt(head_size) keeps the scores at unit variance, so softmax does not saturate.
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))
        scores = scores.masked_fill(~self.tril[:T, :T], float("-inf"))
        return scores.softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.attention_weights(x)) @ self.value(x)


class MultiHeadAttention(nn.Module):
    """Several heads side by side (a Python list), their outputs concatenated and projected."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = False) -> None:
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.heads = nn.ModuleList(Head(n_embd, n_embd // n_head, block_size, dropout, bias) for _ in range(n_head))
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(torch.cat([h(x) for h in self.heads], dim=-1)))


# ---------------------------------------------------------------------------------------------------------
# Notebook 08: what changed since GPT-2, defined here because the GPT below can use them. Each is chosen
# by a GPTConfig field; the defaults are GPT-2's.


class RMSNorm(nn.Module):
    """Root-mean-square normalisation (Zhang & Sennrich, 2019): LayerNorm without centring or bias.

        RMSNorm(x) = g ⊙ x / sqrt(mean_i(x_i²) + ε)

    One statistic instead of two, no shift: cheaper, and in practice as good as LayerNorm.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))  # the gain g, one per feature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()  # the mean of squares in float32 even under autocast
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class RotaryEmbedding(nn.Module):
    """Rotary position embedding, RoPE (Su et al., 2021): rotate queries and keys by their position.

    Pair feature i with feature i + d/2 and turn each pair (x₁, x₂) at position m by the angle m·θ_i:

        θ_i = base^(-2i/d),  i = 0 … d/2 - 1
        RoPE(x, m) = (x₁ cos mθ_i - x₂ sin mθ_i,  x₁ sin mθ_i + x₂ cos mθ_i)

    Rotations keep lengths, and rotating q by mθ and k by nθ gives q·k a dependence on m - n only: attention
    sees relative positions, with no learned table.
    """

    def __init__(self, head_size: int, block_size: int, base: float = 10000.0) -> None:
        super().__init__()
        theta = base ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)  # (d/2,)
        angles = torch.outer(torch.arange(block_size, dtype=torch.float32), theta)  # (block_size, d/2): m·θ_i
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Rotate `x` of shape (B, n_head, T, head_size), whose first token is at position `start`."""
        T = x.size(-2)
        cos, sin = self.cos[start : start + T].to(x.dtype), self.sin[start : start + T].to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class _ReLUSquaredFn(torch.autograd.Function):
    """ReLU² with its derivative written out, d/dx max(0, x)² = 2 max(0, x): autograd's version of
    `F.relu(x).square()` makes four passes over the (B, T, 4·n_embd) activations backwards, this one two
    (part of the `modern` step's speed-up in benchmarks/RESULTS.md). Same numbers, bit for bit (tested)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        r = F.relu(x)
        ctx.save_for_backward(r)
        return r * r

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (r,) = ctx.saved_tensors
        return grad * (r * 2)


class ReLUSquared(nn.Module):
    """ReLU²(x) = max(0, x)² (So et al., 2021, "Primer"): as cheap as ReLU, smooth at 0, often better than GELU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReLUSquaredFn.apply(x)


class SwiGLU(nn.Module):
    """Gated MLP (Shazeer, 2020), as in Llama: a SiLU-gated product of two projections, then project back.

        SwiGLU(x) = W₂ (SiLU(W_g x) ⊙ W_u x),   SiLU(a) = a · σ(a)

    Three matrices instead of two, so the hidden width is 8/3·n_embd (rounded up to a multiple of 8) to
    keep the parameter count of the 4x GELU MLP. `c_fc` holds W_g and W_u stacked: one matmul for both.
    """

    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        hidden = 8 * math.ceil(8 * n_embd / 3 / 8)
        self.c_fc = nn.Linear(n_embd, 2 * hidden, bias=bias)
        self.c_proj = nn.Linear(hidden, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.c_fc(x).chunk(2, dim=-1)
        return self.dropout(self.c_proj(F.silu(gate) * up))


# ---------------------------------------------------------------------------------------------------------
# The GPT: fused attention, the MLP, the block and the whole model (notebooks 03-04 and 07).


class CausalSelfAttention(nn.Module):
    """All heads at once: one fused q/k/v projection and PyTorch's fused attention kernel."""

    def __init__(self, config: GPTConfig, layer_idx: int = 0) -> None:
        super().__init__()
        self.n_head, self.n_embd, self.layer_idx = config.n_head, config.n_embd, layer_idx
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)
        # Notebook 08: normalised queries/keys and rotary positions (None = GPT-2's attention).
        self.q_norm = RMSNorm(config.head_size) if config.qk_norm else None
        self.k_norm = RMSNorm(config.head_size) if config.qk_norm else None
        self.rotary = RotaryEmbedding(config.head_size, config.block_size) if config.pos_emb == "rope" else None

    def qkv(self, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, C) → queries, keys, values of shape (B, n_head, T, head_size): the heads become a batch dim.

        `start` is the position of the first token (non-zero when a KV cache holds the tokens before it).
        """
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in self.c_attn(x).split(C, dim=2))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rotary is not None:
            q, k = self.rotary(q, start), self.rotary(k, start)
        return q, k, v

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, n_head, T, T) probabilities the fused kernel uses but never returns (for pictures)."""
        q, k, _ = self.qkv(x)
        T = x.size(1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        return scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x, cache.pos if cache is not None else 0)
        mask, is_causal = None, True
        if cache is not None:
            past = cache.pos
            k, v = cache.update(self.layer_idx, k, v)
            if past > 0:  # new queries see every cached key plus the new keys up to themselves
                is_causal = False
                mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, is_causal=is_causal
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # concatenate the heads again
        return self.resid_dropout(self.c_proj(y))


class FeedForward(nn.Module):
    """Per-token MLP: widen 4x, GELU, project back. Attention mixes tokens; this thinks about each one.

    `activation="relu2"` swaps GELU for notebook 08's `ReLUSquared`; the weights are the same.
    """

    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = True, activation: str = "gelu") -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        # GPT-2's tanh GELU, so pretrained weights behave identically
        self.act = nn.GELU(approximate="tanh") if activation == "gelu" else ReLUSquared()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


def make_norm(config: GPTConfig) -> nn.Module:
    """The normalisation `config.norm` names, over `n_embd` features."""
    if config.norm == "rmsnorm":
        return RMSNorm(config.n_embd)
    return nn.LayerNorm(config.n_embd, bias=config.bias)


def make_mlp(config: GPTConfig) -> nn.Module:
    """The MLP `config.mlp` names: GPT-2's GELU, ReLU² (same weights), or SwiGLU."""
    if config.mlp == "swiglu":
        return SwiGLU(config.n_embd, config.dropout, config.bias)
    return FeedForward(config.n_embd, config.dropout, config.bias, activation=config.mlp)


class Block(nn.Module):
    """Transformer block: communication (attention) then computation (MLP), each pre-LayerNorm and residual."""

    def __init__(self, config: GPTConfig, layer_idx: int = 0) -> None:
        super().__init__()
        self.ln_1 = make_norm(config)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = make_norm(config)
        self.mlp = make_mlp(config)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        # Residual connections give gradients a straight path from the loss to every layer.
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(LanguageModel):
    """A decoder-only Transformer: token + position embeddings, `n_layer` blocks, final LayerNorm, LM head.

    With `pos_emb="rope"` there is no position table (`wpe`): attention rotates queries and keys instead.
    """

    supports_cache = True

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.context_length, self.vocab_size = config.block_size, config.vocab_size
        layers = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))
        if config.pos_emb == "learned":
            layers["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        layers.update(
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList(Block(config, i) for i in range(config.n_layer)),
            ln_f=make_norm(config),
        )
        self.transformer = nn.ModuleDict(layers)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            # Weight tying: reading a token in and writing it out use the same vectors (fewer parameters).
            self.lm_head.weight = self.transformer.wte.weight
        self.apply(self._init_weights)
        # GPT-2: each residual branch adds to the stream, so scale the last projection of each branch down
        # by sqrt(2 * n_layer) to keep the residual stream's variance from growing with depth.
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, exclude_embeddings: bool = False) -> int:
        """Parameter count (tied weights counted once); optionally without the position embedding table."""
        n = sum(p.numel() for p in self.parameters())
        if exclude_embeddings and "wpe" in self.transformer:
            n -= self.transformer.wpe.weight.numel()
        return n

    def last_hidden_state(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """The last block's output after the final norm, `(B, T, n_embd)`, for token ids `idx`: what the LM head
        reads (Hugging Face calls it `last_hidden_state`; its `hidden_states` are every layer's)."""
        B, T = idx.shape
        start = cache.pos if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence length {start + T} exceeds block_size {self.config.block_size}: crop the input to its "
                f"last {self.config.block_size} tokens (generate() does this for you)"
            )
        x = self.transformer.wte(idx)
        if "wpe" in self.transformer:  # with RoPE, positions enter inside attention instead
            x = x + self.transformer.wpe(torch.arange(start, start + T, device=idx.device))
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x, cache)
        if cache is not None:
            cache.pos += T
        return self.transformer.ln_f(x)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self.lm_head(self.last_hidden_state(idx))
        return logits, lm_loss(logits, targets)

    def next_token_logits(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        # Only the last position is needed when sampling, so skip the LM head everywhere else.
        return self.lm_head(self.last_hidden_state(idx, cache)[:, -1, :])

    def new_cache(self, batch_size: int, device: torch.device) -> KVCache:
        return KVCache(self.config, batch_size, device, self.transformer.wte.weight.dtype)

    @classmethod
    def from_pretrained(cls, name_or_path: str, dropout: float | None = None, bias: bool | None = None) -> GPT:
        """GPT-2 weights: `gpt2` ... `gpt2-xl` (downloaded) or a Hugging Face folder (see pretrained.py)."""
        config, weights, source = read_pretrained(name_or_path, dropout=dropout, bias=bias)
        model = cls(config)
        copy_pretrained_weights(model.state_dict(), weights, source)
        return model

    def save_pretrained(self, folder, tokenizer=None):
        """Write a Hugging Face GPT-2 folder (config.json + model.safetensors) that `transformers` loads."""
        return write_pretrained(self.config, self.state_dict(), folder, tokenizer)
