"""Checkpoints that survive crashes and load safely.

A checkpoint is a `torch.save`d dict of plain tensors, numbers, strings, lists and dicts only, so it
loads with `torch.load(..., weights_only=True)` (no arbitrary pickle code runs). `build_checkpoint` makes it
and says what each key holds; `load_checkpoint` checks it.

Writes are atomic (`files.atomic_write`): a crash mid-write leaves the previous checkpoint intact.

`RunFolder` is the run folder as one object: it holds an exclusive lock for the whole run (a second
`nanogpt train` into the same folder is refused; the lock dies with the process, even on kill -9), removes
temp files that killed writes left behind, and, with `force`, replaces an old run's files only when the new
run writes its first checkpoint, so a new run that fails to start never destroys the old one.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path

import torch

from .config import SHAPE_FIELDS, GPTConfig
from .files import atomic_write, atomic_write_text, remove_stale_temps
from .history import History
from .model import GPT
from .tokenizers import Tokenizer, tokenizer_from_dict

FORMAT = "nanogpt-checkpoint"
VERSION = 1
# What every checkpoint of this VERSION holds besides `format` and `version` (see `build_checkpoint`).
REQUIRED_KEYS = ("step", "model", "model_config", "train_config", "optimizer", "tokenizer", "history", "rng")
LOCK_FILE = ".nanogpt.lock"
# The files a run writes; anything else in the folder (notes, sub-folders) is never touched.
RUN_FILES = ("ckpt.pt", "best.pt", "history.json", "loss.png", "config.json", "tokenizer.json", "data.json")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used (missing, corrupt, not ours, or for another model shape)."""


class RunExistsError(FileExistsError):
    """The output folder already holds a run and neither resume nor force was asked for."""


class RunLockedError(RuntimeError):
    """Another process is training into the same run folder."""


class RunWriteError(OSError):
    """A run's file could not be written (disk full, permissions, ...); `kept` says what is still on disk."""

    def __init__(self, error: OSError, kept: str) -> None:
        super().__init__(error.errno, error.strerror, error.filename)
        self.kept = kept


def build_checkpoint(*, step: int, model: dict, model_config: dict, train_config: dict, optimizer: dict,
                     scaler: dict, best_val_loss: float, tokenizer: Tokenizer, history: History,
                     rng: list[dict], data: dict) -> dict:
    """The checkpoint format, in one place. Keys:

    - `format`, `version`: the string `"nanogpt-checkpoint"` and the format version (`VERSION`)
    - `step`: optimizer steps completed; training resumes at this step
    - `model`: the model's `state_dict()` (float32 master weights)
    - `model_config`: `GPTConfig` as a dict (vocab_size, block_size, n_layer, n_head, n_embd, ...), `{}` for a
      model that is not a `GPT`
    - `train_config`: `TrainConfig` as a dict
    - `optimizer`: the optimizer's `state_dict()`: AdamW's, or for `optimizer="muon"` Muon's and AdamW's
      together (optim.py); moments, step counts, param groups
    - `scaler`: the float16 `GradScaler.state_dict()`, or `{}`
    - `best_val_loss`: the best validation loss so far (`inf` before the first evaluation)
    - `tokenizer`: `Tokenizer.saved_form()` (`{"kind": ..., ...}`)
    - `history`: the run's history so far (`History.to_dict()`)
    - `rng`: everything random during training, for rank 0 — `torch_cpu` (ByteTensor), `torch_cuda` (list of
      ByteTensors), `sampler` (the batch sampler's generator) — and `ranks`: the same for every rank, in order
    - `data`: what the run trained on (`Corpus.summary()`: source file and hash, tokenizer, token counts)

    Python's `random` and numpy are not used during training, so their states are not stored.
    """
    return {
        "format": FORMAT, "version": VERSION, "step": step, "model": model, "model_config": model_config,
        "train_config": train_config, "optimizer": optimizer, "scaler": scaler, "best_val_loss": best_val_loss,
        "tokenizer": tokenizer.saved_form(), "history": history.to_dict(), "rng": {**rng[0], "ranks": rng},
        "data": data,
    }


def atomic_save(obj: dict, path: str | Path) -> Path:
    """`torch.save` to a temp file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | Path) -> dict:
    """Load and validate a checkpoint with `weights_only=True`; any problem raises `CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled objects that weights_only refuses, ...
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if "weights_only" in str(e):  # PyTorch's advice (weights_only=False) would run untrusted code: not ours
            first_line = "it holds Python objects that a safe load (weights_only=True) refuses"
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, corrupted, or not written by nanogpt): "
            f"{type(e).__name__}: {first_line}"
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
    keys = SHAPE_FIELDS + ("vocab_size",)
    differ = [k for k in keys if k in saved and k in current and saved[k] != current[k]]
    return [f"{k}: {saved[k]!r} → {current[k]!r}" for k in differ]


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


def load_model_and_tokenizer(source: str | Path, device: str | torch.device = "cpu",
                             which: str = "best") -> tuple[GPT, Tokenizer, str]:
    """A model in eval mode, its tokenizer and a description, from any of: a run folder (its `best.pt`, or
    `ckpt.pt` with `which="last"`), a checkpoint file, a Hugging Face folder, or a GPT-2 name (`gpt2`, ...)."""
    from .pretrained import pretrained_tokenizer

    path = Path(source).expanduser()
    if path.is_dir() and ((path / "ckpt.pt").is_file() or (path / "best.pt").is_file()):
        path = run_checkpoint(path, which)
    if path.is_file():
        model, tokenizer, _ = load_model(path, device)
        return model, tokenizer, f"checkpoint {path}"
    if path.is_dir() and not (path / "config.json").is_file():
        raise CheckpointError(f"{path} holds neither a training run (ckpt.pt) nor a Hugging Face model "
                              "(config.json); train into it first or name another folder")
    model = GPT.from_pretrained(str(source)).to(device).eval()
    return model, pretrained_tokenizer(source), f"pretrained {source}"


class RunFolder:
    """One training run's folder: lock, atomic checkpoints (`ckpt.pt` latest, `best.pt` best), history, config.

    Use as a context manager around the run. Nothing in the folder changes before the first `save`:
    config.json, tokenizer.json and data.json are written with the first checkpoint, and with `force` the
    previous run's files are replaced only then.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.ckpt_path = self.path / "ckpt.pt"
        self._lock_fd: int | None = None
        self._replace_old = False  # --force: the previous run's extra files go at the first save
        self._pending_files: dict[str, str] = {}
        self.saved = False  # a checkpoint of this run (or the resumed one) is on disk

    # -- opening and closing ---------------------------------------------------------------------------
    def open(self, resume: bool = False, force: bool = False) -> dict | None:
        """Lock the folder and check it: the checkpoint to resume, or None for a fresh run."""
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(20, "the run folder is a file, not a folder", str(self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        remove_stale_temps(self.path, RUN_FILES)
        if resume:
            if not self.ckpt_path.is_file():
                raise CheckpointError(
                    f"cannot resume: no checkpoint at {self.ckpt_path}; drop --resume to start a new run"
                )
            self.saved = True
            return load_checkpoint(self.ckpt_path)
        if self.ckpt_path.exists() or (self.path / "history.json").exists():
            if not force:
                raise RunExistsError(
                    f"{self.path} already holds a training run; pass --resume to continue it, --force to overwrite "
                    "it, or choose another --out-dir"
                )
            self._replace_old = True
        return None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock (the lock file stays: it is this folder's, and harmless)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; one run per folder is then up to the user
            return
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 1000).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunLockedError(
                f"{self.path} is in use by a training run ({holder}); wait for it to finish, stop it, or choose "
                "another --out-dir (sample and bench eval can read its checkpoints meanwhile)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}: {' '.join(sys.argv)[:300]}".encode())
        self._lock_fd = fd

    # -- writing ---------------------------------------------------------------------------------------
    def describe_run(self, config: dict, tokenizer: Tokenizer, data: dict) -> None:
        """The run's config.json, tokenizer.json and data.json, written with the first checkpoint."""
        self._pending_files = {
            "config.json": json.dumps(config, indent=2),
            "tokenizer.json": json.dumps(tokenizer.saved_form(), ensure_ascii=False),
            "data.json": json.dumps(data, indent=2),
        }

    def kept(self) -> str:
        """What a failure now leaves on disk, in words for an error message."""
        if self.saved:
            return f"the last complete checkpoint {self.ckpt_path} was kept"
        return "no checkpoint had been written yet"

    def save(self, state: dict, improved: bool) -> None:
        """Write `ckpt.pt` (and `best.pt` when the val loss improved), atomically."""
        try:
            self._save(state, improved)
        except OSError as e:
            raise RunWriteError(e, self.kept()) from e

    def _save(self, state: dict, improved: bool) -> None:
        atomic_save(state, self.ckpt_path)
        self.saved = True
        if self._replace_old:  # the new run has its first checkpoint: now the old run's other files may go
            for name in ("best.pt", "history.json", "loss.png"):
                (self.path / name).unlink(missing_ok=True)
            self._replace_old = False
        for name, text in self._pending_files.items():
            atomic_write_text(self.path / name, text)
        self._pending_files = {}
        if improved:
            with open(self.ckpt_path, "rb") as src:
                atomic_write(self.path / "best.pt", lambda f: shutil.copyfileobj(src, f))

    def finish(self, history: History) -> None:
        """`history.json` and its picture `loss.png`, at the end of the run."""
        import matplotlib.pyplot as plt

        from .plot import plot_losses

        fig = plot_losses(history)
        try:
            history.save(self.path / "history.json")
            atomic_write(self.path / "loss.png", lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
        except OSError as e:
            raise RunWriteError(e, self.kept()) from e
        finally:
            plt.close(fig)
