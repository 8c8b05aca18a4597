"""Faster generation: keep every layer's keys and values instead of recomputing the whole window.

During generation each new token needs only its own query; the keys and values of earlier tokens never
change, so `KVCache` stores them and each step runs the model on one new token instead of the whole
window. `generate_cached` gives exactly the tokens of the plain `generate` (tested): once the window is
full, the positions of every token shift by one each step, so it re-reads the cropped window, as the
plain loop does.
"""

from __future__ import annotations

import torch

from .config import GPTConfig
from .sampling import sample_next_token


class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated to `block_size`."""

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


def generate_cached(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """`model.generate` with a `KVCache`: `model` provides `new_cache`, `next_token_logits` and `context_length`."""
    window = model.context_length
    cache = model.new_cache(idx.size(0), idx.device)
    pending = idx[:, -window:]  # tokens the model has not read yet
    for _ in range(max_new_tokens):
        if cache.pos + pending.size(1) > window:  # window full: start again from the last `window` tokens
            cache.pos, pending = 0, idx[:, -window:]
        logits = model.next_token_logits(pending, cache)
        pending = sample_next_token(logits, temperature, top_k, top_p, generator)
        idx = torch.cat((idx, pending), dim=1)
    return idx
