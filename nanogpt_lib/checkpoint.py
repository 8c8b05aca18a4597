"""Checkpoints that survive crashes and load safely.

A checkpoint is a `torch.save`d dict of plain tensors, numbers, strings, lists and dicts only, so it
loads with `torch.load(..., weights_only=True)` (no arbitrary pickle code runs). Keys:

| key            | contents                                                                    |
|----------------|-----------------------------------------------------------------------------|
| `format`       | the string `"nanogpt-checkpoint"`                                           |
| `version`      | format version (int, currently 1)                                           |
| `step`         | optimizer steps completed; training resumes at this step                    |
| `model`        | the model's `state_dict()` (float32 master weights)                         |
| `model_config` | `GPTConfig` as a dict (vocab_size, block_size, n_layer, n_head, n_embd, ...)  |
| `train_config` | `TrainConfig` as a dict                                                     |
| `optimizer`    | AdamW `state_dict()` (moments, step counts, param groups)                   |
| `scaler`       | float16 `GradScaler.state_dict()`, or `{}`                                  |
| `best_val_loss`| best validation loss seen so far (float, `inf` before the first eval)       |
| `tokenizer`    | the tokenizer as a dict (`{"kind": ..., ...}`)                              |
| `history`      | the run's history so far (`History.to_dict()`)                              |
| `rng`          | `torch_cpu` (ByteTensor), `torch_cuda` (list of ByteTensors), `sampler`     |
|                | (the batch sampler's generator state) — everything random during training — |
|                | for rank 0, and `ranks`: the same three for every rank (one entry alone)    |

Python's `random` and numpy are not used during training, so their states are not stored.

Writes are atomic: the dict goes to a temporary file in the same folder, which is flushed, fsynced and
renamed over the old file. A crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from .config import MODEL_FIELDS
from .model import GPT, GPTConfig
from .tokenizers import Tokenizer, tokenizer_from_dict

FORMAT = "nanogpt-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("step", "model", "model_config", "train_config", "optimizer", "tokenizer", "history", "rng")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used (missing, corrupt, not ours, or for another model shape)."""


def atomic_save(obj: dict, path: str | Path) -> Path:
    """`torch.save` to a temp file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    # Make the rename itself durable (the directory entry), where the OS allows it.
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Load and validate a checkpoint with `weights_only=True`; any problem raises `CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled objects that weights_only refuses, ...
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, corrupted, or not written by nanogpt): "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a nanogpt checkpoint (no 'format': '{FORMAT}' marker)")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} is missing checkpoint keys: {', '.join(missing)}")
    if ckpt.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has format version {ckpt['version']}; this nanogpt reads up to {VERSION}")
    return ckpt


def shape_differences(saved: dict, current: dict) -> list[str]:
    """Model-shape fields whose values differ, formatted `field: saved → current`."""
    keys = MODEL_FIELDS + ("vocab_size",)
    return [f"{k}: {saved[k]!r} → {current[k]!r}" for k in keys if k in saved and k in current and saved[k] != current[k]]


def check_same_shape(path: Path, saved: dict, current: dict) -> None:
    """Refuse to resume a checkpoint into a model of a different shape, naming the differing fields."""
    diffs = shape_differences(saved, current)
    if diffs:
        raise CheckpointError(
            f"cannot resume {path}: the model shape differs from the checkpoint ({'; '.join(diffs)}). "
            "Use the checkpoint's values, or start a new run in another --out-dir."
        )


def rng_state(sampler_state: dict) -> dict:
    """Every random state that affects training: torch CPU, every CUDA device, and the batch sampler."""
    return {
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "sampler": sampler_state["generator"],
    }


def restore_rng_state(state: dict) -> dict:
    """Restore the torch states saved by `rng_state`; returns the sampler's state for `BatchSampler`."""
    torch.set_rng_state(state["torch_cpu"])
    if state["torch_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    return {"generator": state["sampler"]}


def run_checkpoint(run_dir: str | Path, which: str = "best") -> Path:
    """The checkpoint of a run folder: `best.pt` (lowest val loss) when asked for and present, else `ckpt.pt`."""
    run_dir = Path(run_dir)
    best = run_dir / "best.pt"
    return best if which == "best" and best.is_file() else run_dir / "ckpt.pt"


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[GPT, Tokenizer, dict]:
    """Rebuild the trained `GPT` (eval mode) and its tokenizer from a checkpoint; also returns the checkpoint."""
    ckpt = load_checkpoint(path)
    model = GPT(GPTConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), tokenizer_from_dict(ckpt["tokenizer"]), ckpt
