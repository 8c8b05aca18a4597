"""The model pieces, in the order the notebooks teach them.

BigramLanguageModel → Head → MultiHeadAttention → CausalSelfAttention → FeedForward → Block → GPT.

`Head` and `MultiHeadAttention` are the teaching versions (one matrix per head, a Python list of heads).
`CausalSelfAttention` computes exactly the same function with one fused projection and PyTorch's
`scaled_dot_product_attention`; it is what `Block` and `GPT` use, so the training path never loops over
heads in Python.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
from torch.nn import functional as F


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row from `(B, vocab)` logits; temperature 0 means greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        # Nucleus sampling: keep the smallest set of tokens whose probability mass reaches top_p.
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative - sorted_logits.softmax(dim=-1) >= top_p  # mass *before* a token already ≥ p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)


class LanguageModel(nn.Module):
    """Anything that maps token ids `(B, T)` to next-token logits `(B, T, vocab)` can generate text."""

    context_length: int  # how many past tokens the model can look at
    warn_on_crop = True  # say so when a prompt is cut to the window (a bigram model always reads one token)

    def next_token_logits(self, idx: torch.Tensor, cache: "KVCache | None" = None) -> torch.Tensor:
        """Logits for the token after `idx`, shape `(B, vocab)`."""
        logits, _ = self(idx)
        return logits[:, -1, :]

    def new_cache(self, batch_size: int, device: torch.device) -> "KVCache | None":
        """A key/value cache for generation, or None for models that have nothing to cache."""
        return None

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Append `max_new_tokens` sampled tokens to `idx` (B, T); the context is cropped to the model's window.

        With `use_cache` (and a model that has a cache) keys/values of past tokens are kept instead of
        recomputed. Both paths give identical tokens: once the window is full, positions shift every step,
        so the cached path re-reads the cropped window, exactly as the uncached path does.
        """
        window = self.context_length
        if idx.size(1) > window and self.warn_on_crop:
            warnings.warn(
                f"prompt has {idx.size(1)} tokens but the model sees at most {window}; only the last {window} are used",
                stacklevel=2,
            )
        cache = self.new_cache(idx.size(0), idx.device) if use_cache else None
        pending = idx[:, -window:]  # tokens the model has not read yet
        for _ in range(max_new_tokens):
            if cache is None:
                logits = self.next_token_logits(idx[:, -window:])
            else:
                if cache.pos + pending.size(1) > window:  # window full: start again from the last `window` tokens
                    cache.pos, pending = 0, idx[:, -window:]
                logits = self.next_token_logits(pending, cache)
            pending = sample_next_token(logits, temperature, top_k, top_p, generator)
            idx = torch.cat((idx, pending), dim=1)
        return idx


def lm_loss(logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
    """Mean cross-entropy over every position; targets of -1 are ignored (padding)."""
    if targets is None:
        return None
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)


class BigramLanguageModel(LanguageModel):
    """Step 1: each token predicts the next from a lookup table, ignoring everything before it."""

    context_length = 1
    warn_on_crop = False

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
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


@dataclass
class GPTConfig:
    """Shape of a GPT. Defaults are GPT-2 small (124M)."""

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm, like GPT-2; False is slightly faster and as good

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}) so every head "
                f"gets n_embd // n_head dimensions; try n_head in {divisors(self.n_embd)}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def divisors(n: int) -> list[int]:
    """All divisors of n, for error messages that suggest valid head counts."""
    return [d for d in range(1, n + 1) if n % d == 0]


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to `block_size`.

    During generation each new token only needs its own query; the keys and values of earlier tokens
    never change, so we keep them instead of recomputing the whole window every step.
    """

    def __init__(self, config: GPTConfig, batch_size: int, device, dtype) -> None:
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, config.head_size)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0  # number of cached positions

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new keys/values of `layer` and return all keys/values so far."""
        end = self.pos + k.size(2)
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class CausalSelfAttention(nn.Module):
    """All heads at once: one fused q/k/v projection and PyTorch's fused attention kernel."""

    def __init__(self, config: GPTConfig, layer_idx: int = 0) -> None:
        super().__init__()
        self.n_head, self.n_embd, self.layer_idx = config.n_head, config.n_embd, layer_idx
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, C) → queries, keys, values of shape (B, n_head, T, head_size): the heads become a batch dim."""
        B, T, C = x.shape
        return tuple(
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in self.c_attn(x).split(C, dim=2)
        )

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The (B, n_head, T, T) probabilities the fused kernel uses but never returns (for pictures)."""
        q, k, _ = self.qkv(x)
        T = x.size(1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        return scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x)
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
    """Per-token MLP: widen 4x, GELU, project back. Attention mixes tokens; this thinks about each one."""

    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's GELU, so pretrained weights behave identically
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Transformer block: communication (attention) then computation (MLP), each pre-LayerNorm and residual."""

    def __init__(self, config: GPTConfig, layer_idx: int = 0) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = FeedForward(config.n_embd, config.dropout, config.bias)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        # Residual connections give gradients a straight path from the loss to every layer.
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class GPT(LanguageModel):
    """A decoder-only Transformer: token + position embeddings, `n_layer` blocks, final LayerNorm, LM head."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.context_length = config.block_size
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(Block(config, i) for i in range(config.n_layer)),
                ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: reading a token in and writing it out use the same vectors (fewer parameters, better).
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

    @classmethod
    def from_pretrained(cls, name_or_path: str, dropout: float | None = None, bias: bool | None = None) -> "GPT":
        """GPT-2 weights: `gpt2` ... `gpt2-xl` (downloaded) or a Hugging Face folder (see pretrained.py)."""
        from .pretrained import load_pretrained

        return load_pretrained(name_or_path, dropout=dropout, bias=bias)

    def save_pretrained(self, folder, tokenizer=None):
        """Write a Hugging Face GPT-2 folder (config.json + model.safetensors) that `transformers` loads."""
        from .pretrained import save_pretrained

        return save_pretrained(self, folder, tokenizer)

    def num_params(self, exclude_embeddings: bool = False) -> int:
        """Parameter count (tied weights counted once); optionally without the position embedding table."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if exclude_embeddings else n

    def hidden_states(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Final-LayerNorm activations `(B, T, n_embd)` for token ids `idx`."""
        B, T = idx.shape
        start = cache.pos if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence length {start + T} exceeds block_size {self.config.block_size}: crop the input to its "
                f"last {self.config.block_size} tokens (generate() does this for you)"
            )
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x, cache)
        if cache is not None:
            cache.pos += T
        return self.transformer.ln_f(x)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self.lm_head(self.hidden_states(idx))
        return logits, lm_loss(logits, targets)

    def next_token_logits(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        # Only the last position is needed when sampling, so skip the LM head everywhere else.
        return self.lm_head(self.hidden_states(idx, cache)[:, -1, :])

    def new_cache(self, batch_size: int, device: torch.device) -> KVCache:
        return KVCache(self.config, batch_size, device, self.transformer.wte.weight.dtype)
