"""Exploration behind the `modern` preset: val loss against step, and ms per step, of config variants.

    python benchmarks/modern_explore.py loss --name muon --steps 600 --eval-every 100 --set optimizer=muon
    python benchmarks/modern_explore.py speed --steps 20 --variant base: --variant rope:pos_emb=rope

`loss` trains one variant of the base (`--preset`, default `cpu`) in this process, single-threaded, and
prints one JSON line: its val loss at every evaluation. Loss against step does not depend on how busy the
machine is, so it can be explored on a shared machine. `speed` times training steps (forward, backward,
optimizer) of several variants in turns, step by step, so that load from other processes hits all alike,
and prints each one's median ms per step. Results: benchmarks/modern_exploration.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from nanogpt_lib import get_config, load_corpus, parse_overrides, train
from nanogpt_lib.data import get_batch
from nanogpt_lib.model import GPT
from nanogpt_lib.train import make_optimizer


def loss_curve(preset: str, name: str, steps: int, eval_every: int, overrides: dict) -> dict:
    """Val loss at every `eval_every` steps of one training run with `max_iters=steps`."""
    cfg = get_config(preset, **{"max_iters": steps, "eval_interval": eval_every, "log_interval": eval_every,
                                "sample_tokens": 0, **overrides})
    corpus = load_corpus(None, cfg.tokenizer)
    t0 = time.perf_counter()
    h = train(cfg, corpus, progress=False, verbose=False).history
    return {"name": name, "preset": preset, "overrides": overrides, "steps": steps,
            "tokens_per_step": cfg.tokens_per_step, "eval_step": h.eval_step,
            "val": [round(v, 4) for v in h.eval_val_loss], "train": [round(v, 4) for v in h.eval_train_loss],
            "seconds": round(time.perf_counter() - t0, 1)}


def step_times(preset: str, variants: dict[str, dict], steps: int, warmup: int = 3) -> dict:
    """Median ms per training step of each variant, timed in turns (one step of each, then again)."""
    runs = {}
    for name, overrides in variants.items():
        cfg = get_config(preset, **overrides)
        model = GPT(cfg.model_config(65))
        runs[name] = (cfg, model, make_optimizer(model, cfg, "cpu"))
    data = torch.randint(65, (200_000,))
    gen = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(warmup + steps):
        for name, (cfg, model, opt) in runs.items():
            x, y = get_batch(data, cfg.batch_size, cfg.block_size, gen, "cpu")
            t = time.perf_counter()
            model(x, y)[1].backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i >= warmup:
                times[name].append(time.perf_counter() - t)
    return {name: {"ms_median": round(1000 * statistics.median(t), 2), "ms_min": round(1000 * min(t), 2),
                   "ms_q1": round(1000 * statistics.quantiles(t, n=4)[0], 2),
                   "tokens_per_step": runs[name][0].tokens_per_step} for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    lo = sub.add_parser("loss")
    lo.add_argument("--name", required=True)
    lo.add_argument("--steps", type=int, default=600)
    lo.add_argument("--eval-every", type=int, default=100)
    sp = sub.add_parser("speed")
    sp.add_argument("--steps", type=int, default=20)
    sp.add_argument("--variant", action="append", required=True, metavar="NAME:k=v,k=v")
    for p in (lo, sp):
        p.add_argument("--preset", default="cpu")
        p.add_argument("--threads", type=int, default=1)
    lo.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.mode == "loss":
        result = loss_curve(args.preset, args.name, args.steps, args.eval_every, parse_overrides(args.set))
    else:
        variants = {}
        for v in args.variant:
            name, _, sets = v.partition(":")
            variants[name] = parse_overrides([s for s in sets.split(",") if s])
        result = {"threads": args.threads, "preset": args.preset, "ms_per_step": step_times(args.preset, variants,
                                                                                              args.steps)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
