"""Evaluation: loss, perplexity and bits per character on held-out text; generation speed with and without
a KV cache. Also the `nanogpt bench eval` and `nanogpt bench generate` benchmarks (JSON out).

Loss per token depends on the tokenizer (a BPE token carries more text than a character), so models with
different tokenizers are compared by bits per character: total loss over the text, in bits, divided by
the number of characters it covers.
"""

from __future__ import annotations

import argparse
import datetime
import math
import time
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .bench import _write, machine, peak_memory_bytes
from .data import split_ids
from .model import GPT
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
def sliding_window_nats(model: GPT, ids: torch.Tensor, block_size: int | None = None, stride: int | None = None,
                        batch_size: int = 8) -> tuple[float, int]:
    """Total loss (nats) over every next-token prediction in `ids`, and how many predictions that is.

    Each window holds `block_size` tokens; consecutive windows start `stride` tokens apart, and a window
    only scores the targets no earlier window scored. With stride = block_size the windows do not
    overlap (fast, but early tokens of each window see little context); a smaller stride gives every
    target at least block_size - stride tokens of context, at block_size / stride times the compute.
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
    was_training = model.training
    model.eval()
    xs, ys, scored_until = [], [], 0
    for s in window_starts(len(ids), block_size, stride):
        y = ids[s + 1 : s + block_size + 1].clone()
        y[: max(0, scored_until - s)] = -1  # already scored by an earlier window
        xs.append(ids[s : s + block_size])
        ys.append(y)
        scored_until = s + block_size
    nats, count = 0.0, 0
    for i in range(0, len(xs), batch_size):
        x, y = torch.stack(xs[i : i + batch_size]).to(device), torch.stack(ys[i : i + batch_size]).to(device)
        logits, _ = model(x)
        nats += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=-1, reduction="sum").item()
        count += int((y >= 0).sum())
    model.train(was_training)
    return nats, count


def evaluate_text_ids(model: GPT, ids: torch.Tensor, tokenizer: Tokenizer, block_size: int | None = None,
                      stride: int | None = None, batch_size: int = 8) -> EvalResult:
    """Loss, perplexity and bits per character of `model` on the token ids `ids`."""
    nats, count = sliding_window_nats(model, ids, block_size, stride, batch_size)
    chars = len(tokenizer.decode(ids[1:].tolist()))  # the first token is context only, never a target
    return EvalResult(nats, count, chars)


def val_ids(text: str, tokenizer: Tokenizer, val_fraction: float = 0.1) -> torch.Tensor:
    """The validation tokens exactly as `data.prepare` splits them: the last `val_fraction` of the ids."""
    return split_ids(torch.tensor(tokenizer.encode(text), dtype=torch.long), val_fraction)[1]


def load_for_eval(init_from: str | None, out_dir: str | None, device: torch.device) -> tuple[GPT, Tokenizer, str]:
    """Model, tokenizer and a description, from pretrained weights or from a run folder's checkpoint."""
    if init_from:
        from .pretrained import pretrained_tokenizer

        model = GPT.from_pretrained(init_from)
        return model.to(device).eval(), pretrained_tokenizer(init_from), f"pretrained {init_from}"
    if out_dir:
        from .checkpoint import load_model, run_checkpoint

        path = run_checkpoint(out_dir)
        model, tokenizer, _ = load_model(path, device)
        return model, tokenizer, f"checkpoint {path}"
    raise ValueError("say which model to evaluate: --init-from gpt2|FOLDER or --out-dir RUN")


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def bench_eval(init_from: str | None = None, out_dir: str | None = None, data: str = "shakespeare",
               stride: int | None = None, block_size: int | None = None, batch_size: int = 8,
               max_tokens: int | None = None, device: str = "auto") -> dict:
    """Val loss, perplexity and bits per character on Tiny Shakespeare's val split, with speed and memory."""
    from .data import load_text
    from .train import resolve_device

    if data != "shakespeare":
        raise ValueError(f"unknown eval data {data!r}; only 'shakespeare' (Tiny Shakespeare's val split)")
    dev = resolve_device(device)
    model, tokenizer, source = load_for_eval(init_from, out_dir, dev)
    ids = val_ids(load_text(), tokenizer)
    if max_tokens:
        ids = ids[:max_tokens]
    _reset_peak(dev)
    t0 = time.perf_counter()
    result = evaluate_text_ids(model, ids, tokenizer, block_size, stride, batch_size)
    seconds = time.perf_counter() - t0
    mem, mem_source = peak_memory_bytes(dev)
    block = min(block_size or model.config.block_size, model.config.block_size)
    return {
        "benchmark": "eval", "model": source, "params": model.num_params(), "tokenizer": tokenizer.kind,
        "vocab_size": tokenizer.vocab_size, "data": "Tiny Shakespeare val split (last 10% of tokens)",
        "block_size": block, "stride": stride or block, "val_tokens": len(ids), **result.to_dict(),
        "seconds": seconds, "tokens_per_sec": result.tokens / seconds, "peak_memory_bytes": mem,
        "peak_memory_source": mem_source, "device": str(dev), "date": datetime.date.today().isoformat(),
        "machine": machine(),
    }


def timed_generate(model: GPT, prompt: torch.Tensor, new_tokens: int, use_cache: bool) -> tuple[torch.Tensor, float]:
    """Greedy generation and its wall time in seconds."""
    if prompt.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = model.generate(prompt, new_tokens, temperature=0, use_cache=use_cache)
    if prompt.device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def bench_generate(init_from: str | None = None, out_dir: str | None = None, preset: str = "cpu",
                   vocab_size: int = 65, prompt_tokens: int = 16, new_tokens: int | None = None,
                   batch_size: int = 1, repeats: int = 3, device: str = "auto", seed: int = 0) -> dict:
    """Tokens/s of greedy generation with and without the KV cache (best of `repeats`), and whether the two
    paths produced identical tokens. Without a model, a random GPT with the preset's shape is timed."""
    from .config import get_config
    from .train import resolve_device

    dev = resolve_device(device)
    if init_from or out_dir:
        model, _, source = load_for_eval(init_from, out_dir, dev)
    else:
        torch.manual_seed(seed)
        model = GPT(get_config(preset).model_config(vocab_size)).to(dev).eval()
        source = f"random GPT with the {preset!r} preset's shape, vocab {vocab_size}"
    block = model.config.block_size
    new_tokens = new_tokens or block - prompt_tokens  # by default fill exactly one window
    gen = torch.Generator().manual_seed(seed)
    prompt = torch.randint(model.config.vocab_size, (batch_size, prompt_tokens), generator=gen).to(dev)
    _reset_peak(dev)
    timings: dict[bool, float] = {}
    outputs: dict[bool, torch.Tensor] = {}
    for use_cache in (False, True):
        for _ in range(repeats):
            outputs[use_cache], seconds = timed_generate(model, prompt, new_tokens, use_cache)
            timings[use_cache] = min(seconds, timings.get(use_cache, math.inf))
    mem, mem_source = peak_memory_bytes(dev)
    tok = batch_size * new_tokens
    return {
        "benchmark": "generate", "model": source, "params": model.num_params(), "block_size": block,
        "batch_size": batch_size, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "repeats": repeats,
        "tokens_per_sec_no_cache": tok / timings[False], "tokens_per_sec_kv_cache": tok / timings[True],
        "speedup": timings[False] / timings[True],
        "identical_greedy_tokens": bool(torch.equal(outputs[False], outputs[True])),
        "peak_memory_bytes": mem, "peak_memory_source": mem_source, "device": str(dev),
        "date": datetime.date.today().isoformat(), "machine": machine(),
    }


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    """Register `nanogpt bench eval` and `nanogpt bench generate` (called from `bench.add_parser`)."""
    from .config import PRESETS

    e = kinds.add_parser("eval", help="val loss, perplexity, bits/char of pretrained weights or a run")
    e.add_argument("--init-from", default=None, help="gpt2, gpt2-medium, ... or a Hugging Face folder")
    e.add_argument("--out-dir", default=None, help="or a run folder (best.pt, else ckpt.pt)")
    e.add_argument("--data", default="shakespeare", choices=["shakespeare"])
    e.add_argument("--stride", type=int, default=None, help="tokens between window starts (default block size)")
    e.add_argument("--block-size", type=int, default=None, help="window length (default the model's)")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--max-tokens", type=int, default=None, help="evaluate only the first N val tokens")
    e.add_argument("--device", default="auto")
    e.add_argument("--json", default=None, help="also write the result to this file")
    e.set_defaults(bench_func=lambda a: _write(bench_eval(
        a.init_from, a.out_dir, a.data, a.stride, a.block_size, a.batch_size, a.max_tokens, a.device), a.json))

    g = kinds.add_parser("generate", help="generation tokens/s with and without the KV cache")
    g.add_argument("--init-from", default=None, help="gpt2, ... or a Hugging Face folder")
    g.add_argument("--out-dir", default=None, help="or a run folder")
    g.add_argument("--preset", default="cpu", choices=list(PRESETS), help="shape of a random model (default)")
    g.add_argument("--vocab-size", type=int, default=65, help="vocabulary of the random model")
    g.add_argument("--prompt-tokens", type=int, default=16)
    g.add_argument("--new-tokens", type=int, default=None, help="default: fill the context window once")
    g.add_argument("--batch-size", type=int, default=1)
    g.add_argument("--repeats", type=int, default=3, help="timed runs per path; the fastest counts")
    g.add_argument("--device", default="auto")
    g.add_argument("--json", default=None, help="also write the result to this file")
    g.set_defaults(bench_func=lambda a: _write(bench_generate(
        a.init_from, a.out_dir, a.preset, a.vocab_size, a.prompt_tokens, a.new_tokens, a.batch_size, a.repeats,
        a.device), a.json))
