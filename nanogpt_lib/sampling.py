r"""Turning next-token logits into text: temperature, top-k and top-p sampling, and checks of their settings.

With logits $z$ and temperature $\tau$, the sampling distribution is $p_i \propto e^{z_i/\tau}$: $\tau < 1$
sharpens it, $\tau > 1$ flattens it, and $\tau = 0$ means greedy (argmax). Top-k keeps the k largest
logits; top-p (nucleus) keeps the smallest set of tokens whose probability reaches p. Both renormalise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .tokenizers import Tokenizer


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Dropout off inside the block (what the model computes at inference); the previous mode is restored after,
    even when the block raises. Sampling, evaluation and inspection all run the model this way."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def check_sampling(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                   max_new_tokens: int = 0, num_samples: int = 1) -> None:
    """Refuse settings that would silently sample nonsense, naming the argument and its valid range."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a whole number >= 1 (or None for no limit), got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1] (or None for no limit), got {top_p!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a whole number >= 0, got {max_new_tokens!r}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a whole number >= 1, got {num_samples!r}")


def check_prompt(idx: torch.Tensor, vocab_size: int | None) -> None:
    """A prompt is a (B, T) tensor of integer token ids in [0, vocab_size): say what is wrong otherwise.

    Checked before the model runs: on CUDA an out-of-range id is a device-side assert, not an error message.
    """
    if not isinstance(idx, torch.Tensor):
        raise ValueError(f"the prompt must be a torch.Tensor of token ids, got {type(idx).__name__}")
    if idx.dim() != 2:
        hint = " (add a batch dimension: idx[None] or idx.unsqueeze(0))" if idx.dim() == 1 else ""
        raise ValueError(f"the prompt must have shape (batch, tokens), got shape {tuple(idx.shape)}{hint}")
    if idx.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise ValueError(f"the prompt must hold integer token ids (torch.long), got dtype {idx.dtype}")
    if vocab_size is not None and idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= vocab_size):
        raise ValueError(
            f"token ids must be in [0, {vocab_size}) for this model's vocabulary, got ids from "
            f"{int(idx.min())} to {int(idx.max())}"
        )


def next_token_probs(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """The distribution `sample_next_token` draws from, for `(B, vocab)` logits: temperature, then top-k and
    top-p, renormalised. Temperature 0 (greedy) puts all the probability on the argmax."""
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return torch.zeros_like(logits, dtype=torch.float).scatter(-1, logits.argmax(dim=-1, keepdim=True), 1.0)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        # Keep a token while the probability mass *before* it (in descending order) is still below top_p.
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits.softmax(dim=-1)


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row from `(B, vocab)` logits; temperature 0 means greedy (argmax)."""
    probs = next_token_probs(logits, temperature, top_k, top_p)
    if temperature == 0:
        return probs.argmax(dim=-1, keepdim=True)  # no random draw: the generator is left untouched
    return torch.multinomial(probs, num_samples=1, generator=generator)


def sample_text(
    model: torch.nn.Module, tokenizer: Tokenizer, prompt: str = "\n", max_new_tokens: int = 200,
    temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None, seed: int = 0,
) -> str:
    """Decode `max_new_tokens` sampled after `prompt` (the prompt included), without touching global RNG."""
    check_sampling(temperature, top_k, top_p, max_new_tokens)
    device = next(model.parameters()).device
    ids = tokenizer.encode(prompt) or [tokenizer.eot_id or 0]
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    gen = torch.Generator(device=device).manual_seed(seed)
    with eval_mode(model):
        out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, generator=gen)
    return tokenizer.decode(out[0].tolist())
