"""`nanogpt bench time-to-loss`: seconds from process start until a training run first reaches a val loss, for
our presets and, side by side in the same session, for nanoGPT's README recipe for a CPU.

Both programs print `step N: train loss X, val loss Y` at every evaluation, so each run is started in a fresh
process and timed by when those lines arrive: start-up, data loading and evaluations all count. With
`--nanogpt DIR` the rounds alternate (our run, then nanoGPT's recipe from its own checkout), so a machine that
slows down during the session slows both. `--seeds` gives every round its own seed, and `record_test` applies
the record rule written in docs/benchmarks.md: every run reaches the target, and a one-sided t-test over the
runs' final val losses (at least 3) says their mean is below it with p < 0.05.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..checkpoint import load_model_and_tokenizer
from ..config import PRESETS, TrainConfig, get_config, parse_overrides
from ..data import load_corpus
from ..train import window_losses
from .results import machine, write_json

EVAL_LINE = r"^step (\d+): train loss (\S+), val loss (\S+)"

# nanoGPT's README command for a CPU ("I only have a MacBook"), verbatim; run inside its checkout. It ends
# at val 1.8857 after 2000 steps, so its time to val <= 1.89 is the time of the whole recipe.
NANOGPT_CPU_RECIPE = ["train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
                      "--eval_iters=20", "--log_interval=1", "--block_size=64", "--batch_size=12", "--n_layer=4",
                      "--n_head=4", "--n_embd=128", "--max_iters=2000", "--lr_decay_iters=2000", "--dropout=0.0"]
NANOGPT_TARGET = 1.89
RECORD_ALPHA = 0.05  # the record rule's significance level (one-sided)
RECORD_MAX_SE = 0.005  # the largest standard error a run's final val loss may have to count for a record


def watch_evals(command: list[str], cwd: str | Path | None = None, env: dict | None = None) -> dict:
    """Run `command` (with `env` added to the environment) and note when each evaluation line arrives:
    `evals` as [step, seconds, val loss], `ready` (seconds until its first line of output) and
    `total_seconds`. Raises if the command fails."""
    pattern = re.compile(EVAL_LINE)
    evals, ready = [], None
    with tempfile.TemporaryFile("w+") as stderr:  # a file, not a pipe: a chatty stderr cannot block the child
        t0 = time.perf_counter()
        # PYTHONUNBUFFERED: each line arrives when it is printed
        proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
        for line in proc.stdout:
            now = time.perf_counter() - t0
            ready = now if ready is None else ready
            if match := pattern.match(line.strip()):
                evals.append([int(match[1]), now, float(match[3])])
        if proc.wait() != 0:
            stderr.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}): {stderr.read().strip()[-2000:]}")
        total = time.perf_counter() - t0
    return {"evals": evals, "ready": ready, "total_seconds": total}


def first_reached(evals: list[list], target: float) -> list | None:
    """The first evaluation [step, seconds, val loss] at or below `target`, or None."""
    return next((e for e in evals if e[2] <= target), None)


def train_until_done(command: list[str], out_dir: Path, targets: list[float], tokens_per_step: int,
                     env: dict | None = None) -> dict:
    """One `nanogpt train` process: when (seconds from its start, step, tokens) each target was first reached.

    Seconds are split into start-up (until the line printed just before the first step), optimizer steps
    (from the run's per-step tokens/s) and the rest (evaluations, checkpoints, logging).
    """
    watched = watch_evals(command, env=env)
    evals, ready = watched["evals"], watched["ready"]
    history = json.loads((out_dir / "history.json").read_text())
    step_seconds = [tokens_per_step / v for v in history["tokens_per_sec"]]
    reached = {}
    for target in targets:
        first = first_reached(evals, target)
        if first is None:
            reached[str(target)] = None
            continue
        step, seconds, _ = first
        steps_time = sum(step_seconds[:step])
        reached[str(target)] = {"seconds": seconds, "step": step, "tokens": step * tokens_per_step,
                                "startup_seconds": ready, "optimizer_step_seconds": steps_time,
                                "eval_checkpoint_log_seconds": seconds - ready - steps_time}
    return {"targets": reached, "final_val_loss": evals[-1][2] if evals else None,
            "best_val_loss": min((v for _, _, v in evals), default=None), "startup_seconds": ready,
            "total_seconds": watched["total_seconds"], "steps": len(history["step"]), "evals": evals}


def final_val_precision(out_dir: Path, cfg: TrainConfig) -> dict:
    """Score the run's last checkpoint again on the windows its final evaluation used, window by window: the
    mean must be the val loss it printed, and the standard error says how precise that number is."""
    model, _, _ = load_model_and_tokenizer(out_dir, "cpu", which="last")
    corpus = load_corpus(cfg.data_dir or None, cfg.tokenizer, vocab_size=cfg.vocab_size_target or None)
    losses = window_losses(model, corpus, cfg, "cpu")
    return {"val_loss": losses.mean().item(), "standard_error": (losses.std() / math.sqrt(len(losses))).item(),
            "windows": len(losses), "window_tokens": cfg.block_size}


def t_upper_tail(t: float, df: int) -> float:
    """P(T >= t) for Student's t with `df` degrees of freedom (t >= 0).

    With x = sqrt(df)·tan θ the density becomes c·cos(θ)^(df-1) on [0, π/2), a smooth integrand, so
    Simpson's rule on 2000 intervals is exact to ~1e-12 (checked against the closed forms for df = 1, 2).
    """
    if t == math.inf:
        return 0.0
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(math.pi)
    upper, n = math.atan(t / math.sqrt(df)), 2000
    h = upper / n
    total = sum((1 if i in (0, n) else 4 if i % 2 else 2) * math.cos(i * h) ** (df - 1) for i in range(n + 1))
    return 0.5 - c * total * h / 3


def record_test(losses: list[float], target: float, standard_errors: list[float] | None = None,
                alpha: float = RECORD_ALPHA) -> dict:
    """The record rule: at least 3 runs, every one at or below `target` and (when `standard_errors` are
    given) measured with a standard error <= RECORD_MAX_SE, and a one-sided t-test that their mean is below
    `target` (H0: mean >= target) with p < `alpha`."""
    n = len(losses)
    mean = statistics.fmean(losses) if losses else math.nan
    sd = statistics.stdev(losses) if n >= 2 else math.nan
    if n < 2 or mean >= target:
        t, p = (math.nan, 1.0)
    else:
        t = math.inf if sd == 0 else (target - mean) / (sd / math.sqrt(n))
        p = t_upper_tail(t, n - 1)
    precise = standard_errors is None or all(se <= RECORD_MAX_SE for se in standard_errors)
    passes = n >= 3 and all(v <= target for v in losses) and p < alpha and precise
    return {"target": target, "n": n, "mean": mean, "sd": sd, "t": t, "p_value": p, "alpha": alpha,
            "every_run_reached": bool(losses) and all(v <= target for v in losses),
            "max_standard_error": RECORD_MAX_SE, "precise_enough": precise, "passes": passes}


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def check_nanogpt(path: str | Path) -> Path:
    """nanoGPT's checkout, ready to run its recipe (its char-level data prepared), or a clear error."""
    path = Path(path).expanduser().resolve()
    if not (path / "train.py").is_file() or not (path / "config" / "train_shakespeare_char.py").is_file():
        raise ValueError(f"{path} is not a nanoGPT checkout (no train.py and config/train_shakespeare_char.py); "
                         "clone https://github.com/karpathy/nanoGPT and pass its folder")
    if not (path / "data" / "shakespeare_char" / "train.bin").is_file():
        raise ValueError(f"nanoGPT's char-level data is not prepared in {path}; run "
                         "`python data/shakespeare_char/prepare.py` there first (with Tiny Shakespeare's "
                         "input.txt in data/shakespeare_char/ when offline)")
    return path


def bench_time_to_loss(preset: str, targets: list[float], repeats: int = 3, eval_interval: int | None = None,
                       stop_after: int | None = None, seeds: list[int] | None = None,
                       nanogpt: str | Path | None = None, budget: float | None = None, **overrides) -> dict:
    """Run `nanogpt train --preset P` `repeats` times (or once per seed in `seeds`), each in a fresh process
    into a temporary folder, and report the seconds (from process start), steps and tokens until the val
    loss first reaches each target, the precision of each run's final val loss, and the record rule for
    the lowest target.

    The crossing is only seen at evaluations: `eval_interval` overrides the preset's to resolve it finer
    (evaluations take time too, and are counted; each run's breakdown says how much). `stop_after` ends each
    run after that many steps on the learning-rate schedule of the whole run (`lr_decay_iters` pinned to it),
    so every step until then is the full run's: a target reached by then is reached at the same time.
    With `nanogpt` (a checkout), every round also runs nanoGPT's CPU recipe; the result then gives each
    target's median time as a multiple of that recipe's, and with `budget` whether the lowest target's
    median time is within `budget` times it.
    """
    if eval_interval:
        overrides["eval_interval"] = eval_interval
    if stop_after:
        whole = get_config(preset, **overrides)
        if stop_after >= whole.max_iters:
            raise ValueError(f"--stop-after {stop_after} is not before the run's end (max_iters {whole.max_iters})")
        overrides.update(max_iters=stop_after, lr_decay_iters=whole.lr_decay_iters or whole.max_iters)
    if seeds and "seed" in overrides:
        raise ValueError("give the seeds with --seeds only, not also as an override")
    cfg = get_config(preset, **overrides)  # refuses bad overrides here, not in the child
    nanogpt = check_nanogpt(nanogpt) if nanogpt else None
    round_seeds = list(seeds) if seeds else [None] * repeats
    runs, recipe_runs = [], []
    for seed in round_seeds:
        run_overrides = {**overrides, **({"seed": seed} if seed is not None else {})}
        with (tempfile.TemporaryDirectory(prefix="nanogpt-time-to-loss-") as tmp,
              tempfile.TemporaryDirectory(prefix="nanogpt-compile-cache-") as cache):
            command = [sys.executable, "-m", "nanogpt_lib", "train", "--preset", preset, "--out-dir", tmp, "--force",
                       "--no-progress", *(a for k, v in run_overrides.items() for a in (f"--{k}", str(v)))]
            # An empty torch.compile cache for every run: each pays the whole compilation, as a first run does.
            run = train_until_done(command, Path(tmp), targets, cfg.tokens_per_step,
                                   env={"TORCHINDUCTOR_CACHE_DIR": cache})
            run["seed"] = seed if seed is not None else cfg.seed
            run["final_val_precision"] = final_val_precision(Path(tmp), get_config(preset, **run_overrides))
            runs.append(run)
        if nanogpt:
            watched = watch_evals([sys.executable, *NANOGPT_CPU_RECIPE], cwd=nanogpt)
            hit = first_reached(watched["evals"], NANOGPT_TARGET)
            recipe_runs.append({"seconds": hit[1] if hit else None, "final_val_loss": watched["evals"][-1][2],
                                "total_seconds": watched["total_seconds"], "evals": watched["evals"]})
    summary = {}
    for target in map(str, targets):
        hits = [r["targets"][target] for r in runs if r["targets"][target]]
        summary[target] = {"reached": f"{len(hits)}/{len(runs)}",
                           **{k: _spread([h[k] for h in hits]) for k in ("seconds", "step", "tokens")}}
    result = {
        "benchmark": "time-to-loss", "preset": preset, "overrides": overrides, "targets": targets,
        "repeats": len(runs), "seeds": [r["seed"] for r in runs], "eval_interval": cfg.eval_interval,
        "eval_iters": cfg.eval_iters, "eval_windows": cfg.eval_iters * cfg.batch_size,
        "tokens_per_step": cfg.tokens_per_step, "max_iters": cfg.max_iters, "summary": summary,
        "final_val_loss": _spread([r["final_val_loss"] for r in runs if r["final_val_loss"] is not None]),
        "final_val_standard_error": _spread([r["final_val_precision"]["standard_error"] for r in runs]),
        "record": record_test([r["final_val_loss"] for r in runs if r["final_val_loss"] is not None], min(targets),
                              [r["final_val_precision"]["standard_error"] for r in runs]),
        "total_seconds": _spread([r["total_seconds"] for r in runs]),
        "startup_seconds": _spread([r["startup_seconds"] for r in runs]),
        "command": "nanogpt train --preset " + " ".join([preset, *(f"--{k} {v}" for k, v in overrides.items())]),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "machine": machine(),
        "date": datetime.date.today().isoformat(), "runs": runs,
    }
    if nanogpt:
        result["nanogpt"] = versus_nanogpt(summary, recipe_runs, nanogpt, min(targets), budget)
    return result


def versus_nanogpt(summary: dict, recipe_runs: list[dict], checkout: Path, record_target: float,
                   budget: float | None) -> dict:
    """nanoGPT's recipe times and each target's median time as a multiple of the recipe's median time."""
    seconds = [r["seconds"] for r in recipe_runs if r["seconds"] is not None]
    out = {"command": "python " + " ".join(NANOGPT_CPU_RECIPE), "checkout": str(checkout),
           "target": NANOGPT_TARGET, "seconds": _spread(seconds), "runs": recipe_runs}
    try:
        out["commit"] = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True,
                                       text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        out["commit"] = "unknown"
    if len(seconds) < len(recipe_runs) or not seconds:
        out["note"] = f"the recipe did not reach {NANOGPT_TARGET} in every round: no ratios"
        return out
    base = statistics.median(seconds)
    out["times_recipe"] = {t: (s["seconds"]["median"] / base if s["seconds"] else None) for t, s in summary.items()}
    if budget is not None:
        record = summary[str(record_target)]["seconds"]
        out["budget"] = {"times_recipe": budget, "seconds": budget * base, "target": record_target,
                         "median_seconds": record["median"] if record else None,
                         "within": bool(record) and record["median"] <= budget * base}
    return out


def add_time_to_loss_parser(kinds: argparse._SubParsersAction) -> None:
    """Register `nanogpt bench time-to-loss` (called from `bench.add_parser`)."""
    t = kinds.add_parser("time-to-loss", help="seconds from process start until nanogpt train reaches a val loss")
    t.add_argument("--preset", default="cpu", choices=list(PRESETS))
    t.add_argument("--target", type=float, action="append", required=True,
                   help="val loss to reach; repeat for several (--target 1.89 --target 1.70)")
    t.add_argument("--repeats", type=int, default=3, help="fresh training processes, one after another (default 3)")
    t.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="one run per seed instead of --repeats runs of the preset's seed")
    t.add_argument("--eval-interval", type=int, default=None, help="evaluate this often (default: the preset's)")
    t.add_argument("--stop-after", type=int, default=None, metavar="STEPS",
                   help="end each run after STEPS steps, on the whole run's learning-rate schedule (saves time "
                        "when the targets come early; the steps until then are the whole run's)")
    t.add_argument("--nanogpt", default=None, metavar="DIR",
                   help="a nanoGPT checkout: after each run, time its README CPU recipe too (same session)")
    t.add_argument("--budget", type=float, default=None, metavar="X",
                   help="with --nanogpt: is the lowest target's median time within X times the recipe's?")
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="more config overrides")
    t.add_argument("--json", default=None, help="also write the result to this file")
    t.set_defaults(bench_func=lambda a: write_json(bench_time_to_loss(
        a.preset, a.target, a.repeats, a.eval_interval, a.stop_after, a.seeds, a.nanogpt, a.budget,
        **parse_overrides(a.set)), a.json))
