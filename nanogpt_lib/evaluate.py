"""Evaluation: loss, perplexity and bits per character on held-out text, with sliding windows; and the
speed of generation with and without the KV cache.

Loss per token depends on the tokenizer (a BPE token carries more text than a character), so models with
different tokenizers are compared by bits per character: total loss over the text, in bits, divided by
the number of characters it covers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .data import gather_windows, split_ids
from .model import GPT
from .sampling import eval_mode
from .tokenizers import Tokenizer


@dataclass
class EvalResult:
    """Summed loss over the scored tokens, and the characters those tokens decode to."""

    nats: float
    tokens: int
    chars: int

    @property
    def loss(self) -> float:
        """Mean cross-entropy per token (nats)."""
        return self.nats / self.tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    @property
    def bits_per_char(self) -> float:
        return self.nats / math.log(2) / self.chars

    def to_dict(self) -> dict:
        return {"loss": self.loss, "perplexity": self.perplexity, "bits_per_char": self.bits_per_char,
                "scored_tokens": self.tokens, "scored_chars": self.chars}


def window_starts(n: int, block_size: int, stride: int) -> list[int]:
    """Starts of the windows that cover targets 1..n-1; the last window ends exactly at the text's end."""
    last = max(0, n - 1 - block_size)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


@torch.no_grad()
def sliding_window_nats(model: GPT, ids: torch.Tensor | np.ndarray, block_size: int | None = None,
                        stride: int | None = None, batch_size: int = 8) -> tuple[float, int]:
    """Total loss (nats) over every next-token prediction in `ids`, and how many predictions that is.

    Each window holds `block_size` tokens; consecutive windows start `stride` tokens apart, and a window
    only scores the targets no earlier window scored. With stride = block_size the windows do not
    overlap (fast, but early tokens of each window see little context); a smaller stride gives every
    target at least block_size - stride tokens of context, at block_size / stride times the compute.
    `ids` is a tensor, or a prepared corpus's memmap (`corpus.val`): each batch of windows is read when scored.
    """
    block_size = min(block_size or model.config.block_size, model.config.block_size)
    stride = stride or block_size
    if not 0 < stride <= block_size:
        raise ValueError(f"stride must be between 1 and block_size ({block_size}), got {stride}")
    if len(ids) < 2:
        raise ValueError(f"need at least 2 tokens to score a prediction, got {len(ids)}")
    block_size = min(block_size, len(ids) - 1)  # a text shorter than one window is one window
    stride = min(stride, block_size)
    device = next(model.parameters()).device
    starts = torch.tensor(window_starts(len(ids), block_size, stride))
    # a window's first `seen` targets were scored by the window before it, which ends at its start + block_size
    seen = torch.cat([torch.zeros(1, dtype=torch.long), (starts[:-1] + block_size - starts[1:]).clamp(min=0)])
    nats, count = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(starts), batch_size):
            windows = gather_windows(ids, starts[i : i + batch_size], block_size + 1)
            x, y = windows[:, :-1].contiguous(), windows[:, 1:].clone()  # y: a copy, as it is changed next
            y[torch.arange(block_size) < seen[i : i + batch_size, None]] = -1  # already scored: not again
            x, y = x.to(device), y.to(device)
            logits, _ = model(x)
            nats += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=-1,
                                    reduction="sum").item()
            count += int((y >= 0).sum())
    return nats, count


def evaluate_text_ids(model: GPT, ids: torch.Tensor | np.ndarray, tokenizer: Tokenizer,
                      block_size: int | None = None, stride: int | None = None, batch_size: int = 8) -> EvalResult:
    """Loss, perplexity and bits per character of `model` on the token ids `ids`."""
    nats, count = sliding_window_nats(model, ids, block_size, stride, batch_size)
    chars = len(tokenizer.decode(ids[1:].tolist()))  # the first token is context only, never a target
    return EvalResult(nats, count, chars)


def val_ids(text: str, tokenizer: Tokenizer, val_fraction: float = 0.1) -> torch.Tensor:
    """The validation tokens exactly as `data.prepare` splits them: the last `val_fraction` of the ids."""
    return split_ids(torch.tensor(tokenizer.encode(text), dtype=torch.long), val_fraction)[1]


@dataclass
class GenerationTiming:
    """Best wall time of greedy generation without and with the KV cache, and whether their tokens agree."""

    new_tokens: int
    batch_size: int
    repeats: int
    warmup: int
    seconds_no_cache: float
    seconds_kv_cache: float
    identical: bool

    @property
    def tokens_per_sec_no_cache(self) -> float:
        return self.batch_size * self.new_tokens / self.seconds_no_cache

    @property
    def tokens_per_sec_kv_cache(self) -> float:
        return self.batch_size * self.new_tokens / self.seconds_kv_cache

    @property
    def speedup(self) -> float:
        """How many times faster the cached path was (best time against best time)."""
        return self.seconds_no_cache / self.seconds_kv_cache


def time_generation(model: GPT, prompt: torch.Tensor, new_tokens: int, repeats: int = 5,
                    warmup: int = 1) -> GenerationTiming:
    """Time greedy generation of `new_tokens` after `prompt`, without and with the KV cache.

    The measurement `nanogpt bench generate` makes: `warmup` untimed runs of each path first (allocations,
    caches, lazy initialisation); then `repeats` rounds that run both paths, alternating which goes first so
    that a change in machine load hits both alike; the best time of each path counts, since noise only
    ever adds time.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")

    def run(use_cache: bool) -> tuple[torch.Tensor, float]:
        if prompt.device.type == "cuda":
            torch.cuda.synchronize(prompt.device)
        t0 = time.perf_counter()
        out = model.generate(prompt, new_tokens, temperature=0, use_cache=use_cache)
        if prompt.device.type == "cuda":
            torch.cuda.synchronize(prompt.device)
        return out, time.perf_counter() - t0

    for _ in range(warmup):
        run(False)
        run(True)
    best = {False: math.inf, True: math.inf}
    outputs: dict[bool, torch.Tensor] = {}
    for i in range(repeats):
        for use_cache in ((False, True) if i % 2 == 0 else (True, False)):
            outputs[use_cache], seconds = run(use_cache)
            best[use_cache] = min(best[use_cache], seconds)
    return GenerationTiming(new_tokens, prompt.size(0), repeats, warmup, best[False], best[True],
                            bool(torch.equal(outputs[False], outputs[True])))
