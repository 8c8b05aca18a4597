"""Helpers for the notebooks: the fast-mode switch and the set-up every first cell performs.

Fast mode (`NANOGPT_FAST=1`, set by the tests) swaps every training run for a seconds-long one, so
the whole series executes in CI. Notebooks never test the variable themselves: they call `pick` and
`notebook_config`, and this module decides.
"""

from __future__ import annotations

import os
from typing import TypeVar

from .config import TrainConfig, get_config

REPO_URL = "https://github.com/nanogpt-notebooks/nanogpt-notebooks"
FAST_ENV = "NANOGPT_FAST"

T = TypeVar("T")


def is_fast() -> bool:
    """True when `NANOGPT_FAST` is set to something other than empty/0/false."""
    return os.environ.get(FAST_ENV, "").strip().lower() not in ("", "0", "false", "no")


def pick(real: T, fast: T) -> T:
    """`real` normally, `fast` in fast mode: `steps = pick(real=3000, fast=30)`."""
    return fast if is_fast() else real


def notebook_config(preset: str = "cpu", **overrides) -> TrainConfig:
    """The preset a student would train with; in fast mode the `tiny` preset with the same overrides.

    Shape overrides (n_layer, n_embd, ...) are dropped in fast mode so the run stays seconds long;
    everything else (learning rate, schedule, dtype, ...) is kept so the demo still shows its point.
    """
    if not is_fast():
        return get_config(preset, **overrides)
    keep = {k: v for k, v in overrides.items() if k not in ("n_layer", "n_head", "n_embd", "block_size",
                                                             "batch_size", "max_iters", "eval_interval",
                                                             "eval_iters", "log_interval", "sample_tokens",
                                                             "checkpoint_interval", "warmup_iters")}
    return get_config("tiny", **keep)


def setup(seed: int = 1337) -> dict:
    """Seed everything, use a readable plot style, and report where we run (fast mode, device, corpus)."""
    import torch

    from .data import load_text

    torch.manual_seed(seed)
    text = load_text()
    info = {"fast_mode": is_fast(), "torch": torch.__version__, "cuda": torch.cuda.is_available(),
            "corpus_chars": len(text)}
    mode = "FAST mode (tiny settings)" if info["fast_mode"] else "full settings"
    print(f"nanogpt_lib ready: {mode}; torch {info['torch']}; "
          f"{'GPU' if info['cuda'] else 'CPU'}; corpus {info['corpus_chars']:,} characters")
    return info
