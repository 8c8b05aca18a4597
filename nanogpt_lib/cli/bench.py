"""Benchmarks (`nanogpt bench ...`): measured numbers as JSON, never timed tests.

`bench train` runs the real training loop (`train`) on random tokens and reports ms/iter, tokens/s,
model FLOPs utilisation (MFU) and peak memory, as the median over the timed iterations after warm-up.
`bench time-to-loss` (time_to_loss.py) runs `nanogpt train` in fresh processes and reports when the val loss
first reaches each target, counted from process start (so start-up counts), beside nanoGPT's CPU recipe.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import resource
import statistics
import time

import torch

from ..checkpoint import load_model_and_tokenizer
from ..config import PRESETS, TrainConfig, get_config, parse_overrides
from ..data import Corpus, load_text, split_ids
from ..device import autocast, measured_cpu_flops, resolve_device, resolve_dtype, training_flops_per_token
from ..evaluate import evaluate_text_ids, time_generation, val_ids
from ..model import GPT
from ..tokenizers import CharTokenizer
from .results import machine, write_json
from .time_to_loss import add_time_to_loss_parser

# Dense peak FLOP/s per device for the dtype used, from vendor data sheets (no sparsity).
GPU_PEAK_FLOPS = {  # checked in order: the more specific names first
    "H100 PCIe": {"bfloat16": 756e12, "float16": 756e12, "float32": 378e12},
    "H100": {"bfloat16": 989e12, "float16": 989e12, "float32": 494e12},  # SXM; float32 means TF32
    "H200": {"bfloat16": 989e12, "float16": 989e12, "float32": 494e12},
    "A100": {"bfloat16": 312e12, "float16": 312e12, "float32": 156e12},
}


def flops_per_token(model: GPT) -> float:
    """Training FLOPs per token of `model` (`device.training_flops_per_token`)."""
    c = model.config
    return training_flops_per_token(model.num_params(exclude_embeddings=True), c.n_layer, c.n_embd, c.block_size)


def peak_flops(device: torch.device, dtype: str, override: float | None) -> tuple[float, str]:
    """Peak FLOP/s assumed for MFU and where the number comes from."""
    if override:
        return override, "given with --peak-flops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, table in GPU_PEAK_FLOPS.items():
            if key in name:
                return table[dtype], f"{key} data sheet, dense {dtype}"
        return 312e12, f"unknown GPU {name!r}: assumed A100 bfloat16 (pass --peak-flops)"
    return measured_cpu_flops(getattr(torch, dtype)), f"measured: best {dtype} 1024x1024 matmul on this CPU"


def peak_memory_bytes(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device), "torch.cuda.max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process peak RSS"


def random_corpus(vocab_size: int, n_tokens: int = 200_000, seed: int = 0) -> Corpus:
    """Uniform random tokens with a synthetic vocabulary: throughput does not depend on the text."""
    gen = torch.Generator().manual_seed(seed)
    train, val = split_ids(torch.randint(vocab_size, (n_tokens,), generator=gen))
    return Corpus(train, val, CharTokenizer(chr(0x100 + i) for i in range(vocab_size)))


def bench_train(preset: str, iters: int = 20, warmup: int = 5, vocab_size: int = 65, peak: float | None = None,
                **overrides) -> dict:
    """Time the real training loop; numbers are medians over `iters` steps after `warmup` steps.

    Each step is timed alone (log_interval=1: one loss read per step, which is the only host sync).
    `first_iter_seconds` includes torch.compile's compilation when `compile=True`.
    """
    from ..train import train

    cfg = get_config(preset, **overrides)
    cfg = TrainConfig.from_dict({**cfg.to_dict(), "max_iters": warmup + iters, "log_interval": 1,
                                 "eval_interval": 10**9, "eval_iters": 1, "sample_tokens": 0,
                                 "checkpoint_interval": 0})
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    corpus = random_corpus(vocab_size, max(200_000, 20 * cfg.block_size * cfg.batch_size))
    t0 = time.perf_counter()
    result = train(cfg, corpus, progress=False, verbose=False)
    wall = time.perf_counter() - t0
    timed = result.history.tokens_per_sec[warmup:]
    tok_s = statistics.median(timed)
    fpt = flops_per_token(result.model)
    peak_value, peak_source = peak_flops(device, cfg.dtype, peak)
    mem, mem_source = peak_memory_bytes(device)
    dtype_used = str(resolve_dtype(cfg.dtype, device)).removeprefix("torch.")
    return {
        "benchmark": "train", "preset": preset, "overrides": overrides, "date": datetime.date.today().isoformat(),
        "device": str(device), "dtype": cfg.dtype, "dtype_used": dtype_used, "compile": cfg.compile,
        "machine": machine(),
        "params": result.model.num_params(), "vocab_size": vocab_size,
        "tokens_per_iter": cfg.tokens_per_step, "warmup_iters": warmup, "timed_iters": len(timed),
        "ms_per_iter": 1000 * cfg.tokens_per_step / tok_s, "tokens_per_sec": tok_s,
        "flops_per_token": fpt, "achieved_flops": fpt * tok_s, "peak_flops": peak_value,
        "peak_flops_source": peak_source, "mfu": fpt * tok_s / peak_value,
        "peak_memory_bytes": mem, "peak_memory_source": mem_source,
        "first_iter_seconds": cfg.tokens_per_step / result.history.tokens_per_sec[0], "wall_seconds": wall,
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_attention(preset: str = "cpu", iters: int = 20, warmup: int = 3, device: str = "auto",
                    dtype: str = "float32") -> dict:
    """Forward + backward time of the teaching `MultiHeadAttention` (a Python list of heads) against the
    fused `CausalSelfAttention` (one projection + scaled_dot_product_attention) at a preset's shape.

    The two are timed alternately, so load from other processes hits both alike; numbers are medians.
    """
    from ..model import CausalSelfAttention, MultiHeadAttention

    cfg = get_config(preset)
    dev = resolve_device(device)
    amp = resolve_dtype(dtype, dev)
    B, T, C, H = cfg.batch_size, cfg.block_size, cfg.n_embd, cfg.n_head
    torch.manual_seed(0)
    modules = {
        "heads_loop": MultiHeadAttention(C, H, T, dropout=0.0, bias=cfg.bias).to(dev),
        # both without dropout: the comparison is about the attention arithmetic, not dropout's code paths
        "fused_sdpa": CausalSelfAttention(dataclasses.replace(cfg.model_config(vocab_size=1), dropout=0.0)).to(dev),
    }
    x = torch.randn(B, T, C, device=dev, requires_grad=True)

    def step(module: torch.nn.Module) -> float:
        _sync(dev)
        t = time.perf_counter()
        with autocast(dev, amp):
            y = module(x)
        y.float().sum().backward()
        _sync(dev)
        return time.perf_counter() - t

    times: dict[str, list[float]] = {name: [] for name in modules}
    for i in range(warmup + iters):
        for name, module in modules.items():
            elapsed = step(module)
            if i >= warmup:
                times[name].append(elapsed)
    ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
    return {
        "benchmark": "attention", "preset": preset, "date": datetime.date.today().isoformat(), "device": str(dev),
        "dtype": str(amp).removeprefix("torch."), "machine": machine(),
        "shape": {"batch_size": B, "block_size": T, "n_embd": C, "n_head": H}, "warmup_iters": warmup,
        "timed_iters": iters, "forward_backward_ms": ms,
        "tokens_per_sec": {name: B * T / (v / 1000) for name, v in ms.items()},
        "speedup_fused_over_heads_loop": ms["heads_loop"] / ms["fused_sdpa"],
    }


def load_for_bench(init_from: str | None, out_dir: str | None, device: torch.device) -> tuple[GPT, object, str]:
    """The model to measure: pretrained weights (`--init-from`) or a run folder (`--out-dir`)."""
    if not (init_from or out_dir):
        raise ValueError("say which model to evaluate: --init-from gpt2|FOLDER or --out-dir RUN")
    return load_model_and_tokenizer(init_from or out_dir, device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def bench_eval(init_from: str | None = None, out_dir: str | None = None, data: str = "shakespeare",
               stride: int | None = None, block_size: int | None = None, batch_size: int = 8,
               max_tokens: int | None = None, device: str = "auto") -> dict:
    """Val loss, perplexity and bits per character on Tiny Shakespeare's val split, with speed and memory."""
    if data != "shakespeare":
        raise ValueError(f"unknown eval data {data!r}; only 'shakespeare' (Tiny Shakespeare's val split)")
    dev = resolve_device(device)
    model, tokenizer, source = load_for_bench(init_from, out_dir, dev)
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
        "benchmark": "eval", "model": source, "params": model.num_params(), "tokenizer": tokenizer.name,
        "vocab_size": tokenizer.vocab_size, "data": "Tiny Shakespeare val split (last 10% of tokens)",
        "block_size": block, "stride": stride or block, "val_tokens": len(ids), **result.to_dict(),
        "seconds": seconds, "tokens_per_sec": result.tokens / seconds, "peak_memory_bytes": mem,
        "peak_memory_source": mem_source, "device": str(dev), "date": datetime.date.today().isoformat(),
        "machine": machine(),
    }


def bench_generate(init_from: str | None = None, out_dir: str | None = None, preset: str = "cpu",
                   vocab_size: int = 65, prompt_tokens: int = 16, new_tokens: int | None = None,
                   batch_size: int = 1, repeats: int = 3, device: str = "auto", seed: int = 0,
                   warmup: int = 1) -> dict:
    """Tokens/s of greedy generation with and without the KV cache (`evaluate.time_generation`: warm-up,
    alternating order, best of `repeats`), and whether the two paths produced identical tokens. Without a
    model, a random GPT with the preset's shape is timed."""
    dev = resolve_device(device)
    if init_from or out_dir:
        model, _, source = load_for_bench(init_from, out_dir, dev)
    else:
        torch.manual_seed(seed)
        model = GPT(get_config(preset).model_config(vocab_size)).to(dev).eval()
        source = f"random GPT with the {preset!r} preset's shape, vocab {vocab_size}"
    block = model.config.block_size
    new_tokens = new_tokens or block - prompt_tokens  # by default fill exactly one window
    gen = torch.Generator().manual_seed(seed)
    prompt = torch.randint(model.config.vocab_size, (batch_size, prompt_tokens), generator=gen).to(dev)
    _reset_peak(dev)
    timing = time_generation(model, prompt, new_tokens, repeats, warmup)
    mem, mem_source = peak_memory_bytes(dev)
    return {
        "benchmark": "generate", "model": source, "params": model.num_params(), "block_size": block,
        "batch_size": batch_size, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "repeats": repeats,
        "warmup": warmup, "tokens_per_sec_no_cache": timing.tokens_per_sec_no_cache,
        "tokens_per_sec_kv_cache": timing.tokens_per_sec_kv_cache, "speedup": timing.speedup,
        "identical_greedy_tokens": timing.identical,
        "peak_memory_bytes": mem, "peak_memory_source": mem_source, "device": str(dev),
        "date": datetime.date.today().isoformat(), "machine": machine(),
    }


def cmd_bench(args: argparse.Namespace) -> None:
    """`nanogpt bench KIND ...`: run the benchmark chosen on the command line and print its JSON."""
    print(json.dumps(args.bench_func(args), indent=2))


def add_parser(sub: argparse._SubParsersAction) -> dict[str, argparse.ArgumentParser]:
    """Register `nanogpt bench ...`; each benchmark sets `bench_func` returning a JSON-able dict."""
    bench = sub.add_parser("bench", help="benchmarks that print JSON (speed, MFU, memory, quality)")
    kinds = bench.add_subparsers(dest="bench", required=True)

    t = kinds.add_parser("train", help="ms/iter, tokens/s, MFU and peak memory of the training loop")
    t.add_argument("--preset", default="cpu", choices=list(PRESETS))
    t.add_argument("--iters", type=int, default=20, help="timed iterations (default 20)")
    t.add_argument("--warmup", type=int, default=5, help="untimed iterations first (default 5)")
    t.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    t.add_argument("--compile", action="store_true", help="torch.compile the model")
    t.add_argument("--device", default=None)
    t.add_argument("--vocab-size", type=int, default=65, help="65 (Tiny Shakespeare chars) or 50304 for GPT-2")
    t.add_argument("--peak-flops", type=float, default=None, help="peak FLOP/s for MFU (default: see JSON)")
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="more config overrides")
    t.add_argument("--json", default=None, help="also write the result to this file")

    def run_train(args: argparse.Namespace) -> dict:
        overrides = parse_overrides(args.set)
        for key in ("dtype", "device"):
            if getattr(args, key):
                overrides[key] = getattr(args, key)
        if args.compile:
            overrides["compile"] = True
        result = bench_train(args.preset, args.iters, args.warmup, args.vocab_size, args.peak_flops, **overrides)
        return write_json(result, args.json)

    t.set_defaults(bench_func=run_train)

    a = kinds.add_parser("attention", help="forward+backward of the list-of-heads attention vs the fused one")
    a.add_argument("--preset", default="cpu", choices=list(PRESETS), help="shape to use (default cpu)")
    a.add_argument("--iters", type=int, default=20, help="timed iterations of each (default 20)")
    a.add_argument("--warmup", type=int, default=3, help="untimed iterations first (default 3)")
    a.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    a.add_argument("--device", default="auto")
    a.add_argument("--json", default=None, help="also write the result to this file")
    a.set_defaults(bench_func=lambda args: write_json(
        bench_attention(args.preset, args.iters, args.warmup, args.device, args.dtype), args.json))

    add_parsers(kinds)
    add_time_to_loss_parser(kinds)
    return {"bench": bench}


def add_parsers(kinds: argparse._SubParsersAction) -> None:
    """Register `nanogpt bench eval` and `nanogpt bench generate` (called from `bench.add_parser`)."""
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
    e.set_defaults(bench_func=lambda a: write_json(bench_eval(
        a.init_from, a.out_dir, a.data, a.stride, a.block_size, a.batch_size, a.max_tokens, a.device), a.json))

    g = kinds.add_parser("generate", help="generation tokens/s with and without the KV cache")
    g.add_argument("--init-from", default=None, help="gpt2, ... or a Hugging Face folder")
    g.add_argument("--out-dir", default=None, help="or a run folder")
    g.add_argument("--preset", default="cpu", choices=list(PRESETS), help="shape of a random model (default)")
    g.add_argument("--vocab-size", type=int, default=65, help="vocabulary of the random model")
    g.add_argument("--prompt-tokens", type=int, default=16)
    g.add_argument("--new-tokens", type=int, default=None, help="default: fill the context window once")
    g.add_argument("--batch-size", type=int, default=1)
    g.add_argument("--repeats", type=int, default=3, help="timed runs per path, alternating; the fastest counts")
    g.add_argument("--warmup", type=int, default=1, help="untimed runs of each path first (default 1)")
    g.add_argument("--device", default="auto")
    g.add_argument("--json", default=None, help="also write the result to this file")
    g.set_defaults(bench_func=lambda a: write_json(bench_generate(
        a.init_from, a.out_dir, a.preset, a.vocab_size, a.prompt_tokens, a.new_tokens, a.batch_size, a.repeats,
        a.device, warmup=a.warmup), a.json))
