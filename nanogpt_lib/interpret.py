r"""Looking inside a trained GPT: attention patterns, the residual stream, the logit lens, head scores, ablation.

Everything here reads a model through PyTorch forward hooks, so the model's code stays as it is and the
hooks are always removed again (even when the forward pass fails):

- `capture(model, idx)` runs the model once and keeps every attention layer's probabilities (asked of the
  layer itself, `CausalSelfAttention.attention_weights`: the fused kernel never returns them) and the
  residual stream before the first block and after each block;
- `logit_lens(model, residual)` decodes each residual-stream snapshot with the final LayerNorm and the
  language-model head, $\mathrm{logits}_\ell = W_U\,\mathrm{LN}_f(x_\ell)$;
- `attention_score(attention, keys)` is the attention mass a head puts on a chosen set of keys; the
  `*_keys` functions choose them (previous token, first token, a given token, same token as the query,
  the induction target on a repeated sequence);
- `ablate_heads(model, heads)` zeroes chosen heads' outputs (before the layer's output projection), and
  `head_ablation_losses` measures how much the loss rises when each head in turn is zeroed.

Works for any model built from `CausalSelfAttention` layers whose blocks sit in `model.transformer.h`, with
`model.transformer.ln_f` and `model.lm_head`, like `GPT` and notebook 09's attention-only model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .model import CausalSelfAttention
from .sampling import eval_mode


@dataclass
class Capture:
    """What one forward pass leaves behind."""

    logits: torch.Tensor  # (B, T, vocab)
    attention: list[torch.Tensor]  # one (B, n_head, T, T) per attention layer, in the model's order
    # The residual stream: each block's input, then the last block's output: n_layer + 1 of (B, T, C).
    residual: list[torch.Tensor]


def attention_layers(model: nn.Module) -> list[CausalSelfAttention]:
    """The model's attention layers, first to last."""
    return [m for m in model.modules() if isinstance(m, CausalSelfAttention)]


@contextmanager
def removing_hooks() -> Iterator[list[torch.utils.hooks.RemovableHandle]]:
    """A list to append hook handles to inside the `with` block; every hook in it is removed on the way out."""
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        yield handles
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def capture(model: nn.Module, idx: torch.Tensor) -> Capture:
    """Run `model` on token ids `idx` (B, T) in eval mode; return its logits, attention and residual stream."""
    attention: list[torch.Tensor] = []
    residual: list[torch.Tensor] = []
    blocks = list(model.transformer.h)

    def keep_attention(module: CausalSelfAttention, args: tuple) -> None:
        attention.append(module.attention_weights(args[0]))

    def keep_residual(module: nn.Module, args: tuple) -> None:
        residual.append(args[0])

    with eval_mode(model), removing_hooks() as handles:
        for attn in attention_layers(model):
            handles.append(attn.register_forward_pre_hook(keep_attention))
        # The residual stream is the input of every block, plus the output of the last one.
        for block in blocks:
            handles.append(block.register_forward_pre_hook(keep_residual))
        handles.append(blocks[-1].register_forward_hook(lambda module, args, out: residual.append(out)))
        logits, _ = model(idx)
    return Capture(logits=logits, attention=attention, residual=residual)


@torch.no_grad()
def logit_lens(model: nn.Module, residual: list[torch.Tensor]) -> torch.Tensor:
    """Next-token logits read from each residual-stream snapshot: shape (len(residual), B, T, vocab).

    The last snapshot gives exactly the model's logits; earlier ones show what the model "would say" if
    the remaining blocks were skipped.
    """
    return torch.stack([model.lm_head(model.transformer.ln_f(x)) for x in residual])


# ------------------------------------------------------------------------------------ per-head scores
def attention_score(attention: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Mean attention mass each head puts on the marked keys: (B, n_head, T, T) and (T, T) or (B, T, T) → (n_head,).

    `keys[..., t, s]` marks the keys s that count for query t. Queries with no marked key are left out of the mean.
    """
    keys = keys.to(attention.device).expand(attention.size(0), *keys.shape[-2:])  # (B, T, T)
    mass = (attention * keys[:, None]).sum(-1)  # (B, n_head, T): attention on the marked keys, per query
    counted = keys.any(-1)[:, None].expand_as(mass)
    return (mass * counted).sum((0, 2)) / counted.sum((0, 2)).clamp(min=1)


def head_scores(attention: list[torch.Tensor], keys: torch.Tensor) -> torch.Tensor:
    """`attention_score` of every head of every layer: shape (n_layer, n_head)."""
    return torch.stack([attention_score(a, keys) for a in attention])


def previous_token_keys(T: int) -> torch.Tensor:
    """Query t ≥ 1 counts the key right before it, t - 1."""
    return offset_keys(T, 1)


def offset_keys(T: int, offset: int) -> torch.Tensor:
    """Query t ≥ offset counts the one key `offset` positions back, t - offset: shape (T, T)."""
    keys = torch.zeros(T, T, dtype=torch.bool)
    t = torch.arange(offset, T)
    keys[t, t - offset] = True
    return keys


def first_token_keys(T: int) -> torch.Tensor:
    """Query t ≥ 1 counts key 0 (query 0 can only read itself, so it says nothing)."""
    keys = torch.zeros(T, T, dtype=torch.bool)
    keys[1:, 0] = True
    return keys


def token_keys(idx: torch.Tensor, token_ids: Iterable[int]) -> torch.Tensor:
    """Query t counts every key s ≤ t holding one of `token_ids` (e.g. the newline): shape (B, T, T)."""
    hit = torch.isin(idx, torch.as_tensor(list(token_ids), device=idx.device))  # (B, T)
    causal = torch.ones(idx.size(1), idx.size(1), dtype=torch.bool, device=idx.device).tril()
    return hit[:, None, :] & causal


def same_token_keys(idx: torch.Tensor) -> torch.Tensor:
    """Query t counts every earlier key s < t holding the same token as t: shape (B, T, T)."""
    strictly_before = torch.ones(idx.size(1), idx.size(1), dtype=torch.bool, device=idx.device).tril(-1)
    return (idx[:, :, None] == idx[:, None, :]) & strictly_before


def induction_keys(T: int, period: int) -> torch.Tensor:
    """On a sequence that repeats with `period`, query t ≥ period counts key t - period + 1: the token that
    followed the previous occurrence of the query's token, which an induction head copies."""
    keys = offset_keys(T, period - 1)
    keys[:period] = False  # the first repeat has no previous occurrence to look up
    return keys


def repeated_random_tokens(batch: int, length: int, vocab_size: int,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """`batch` sequences of `length` uniformly random tokens, each followed by itself: shape (batch, 2 * length)."""
    first = torch.randint(vocab_size, (batch, length), generator=generator)
    return torch.cat([first, first], dim=1)


def induction_scores(model: nn.Module, length: int, batch: int = 32, vocab_size: int | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Each head's attention, on repeated random tokens, to the token after the query's previous occurrence:
    shape (n_layer, n_head). Near 1 for an induction head; about 1 / (position + 1) for a head that spreads out."""
    vocab_size = vocab_size or model.lm_head.out_features
    device = next(model.parameters()).device
    idx = repeated_random_tokens(batch, length, vocab_size, generator).to(device)
    return head_scores(capture(model, idx).attention, induction_keys(2 * length, length))


# ---------------------------------------------------------------------------------------------- ablation
@contextmanager
def ablate_heads(model: nn.Module, heads: Iterable[tuple[int, int]]) -> Iterator[None]:
    """Zero the output of each (layer, head) inside the `with` block.

    The heads' outputs meet, concatenated, at the input of the layer's output projection `c_proj`: a forward
    pre-hook there zeroes head h's slice of channels `h * head_size ... (h + 1) * head_size`.
    """
    layers = attention_layers(model)
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        if not (0 <= layer < len(layers) and 0 <= head < layers[layer].n_head):
            raise ValueError(f"no head ({layer}, {head}): the model has {len(layers)} layers of "
                             f"{layers[0].n_head if layers else 0} heads")
        by_layer.setdefault(layer, []).append(head)

    def zero(heads_here: list[int], head_size: int):
        def hook(module: nn.Module, args: tuple) -> tuple:
            y = args[0].clone()
            for h in heads_here:
                y[..., h * head_size:(h + 1) * head_size] = 0
            return (y, *args[1:])
        return hook

    with removing_hooks() as handles:
        for layer, heads_here in by_layer.items():
            head_size = layers[layer].n_embd // layers[layer].n_head
            handles.append(layers[layer].c_proj.register_forward_pre_hook(zero(heads_here, head_size)))
        yield


@torch.no_grad()
def head_ablation_losses(model: nn.Module, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """How much the loss on (idx, targets) rises when each head alone is zeroed: shape (n_layer, n_head)."""
    layers = attention_layers(model)
    with eval_mode(model):
        clean = model(idx, targets)[1]
        rise = torch.zeros(len(layers), layers[0].n_head)
        for layer, attn in enumerate(layers):
            for head in range(attn.n_head):
                with ablate_heads(model, [(layer, head)]):
                    rise[layer, head] = model(idx, targets)[1] - clean
    return rise
