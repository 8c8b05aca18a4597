"""The training loop: AdamW, warmup + cosine LR, clipping, accumulation, eval, checkpoints, AMP and DDP.

One function, `train(cfg, corpus)`, used by the CLI and the notebooks alike. Under `torchrun` it runs
DistributedDataParallel (NCCL on CUDA, gloo on CPU); only rank 0 logs, evaluates and writes files.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .checkpoint import (
    CheckpointError,
    atomic_save,
    check_same_shape,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    FORMAT,
    VERSION,
)
from .config import TrainConfig
from .data import BatchSampler, Corpus, get_batch, load_corpus
from .model import GPT, LanguageModel
from .tokenizers import Tokenizer


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class RunExistsError(FileExistsError):
    """The output folder already holds a run and neither resume nor force was asked for."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training after a checkpoint was saved."""


@dataclass
class History:
    """What happened during training: one entry per optimizer step, and one per evaluation."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tokens_per_sec: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_train_loss: list[float] = field(default_factory=list)
    eval_val_loss: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{f.name: list(d.get(f.name, [])) for f in fields(cls)})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> "History":
        return cls.from_dict(json.loads(Path(path).read_text()))

    @property
    def best_val_loss(self) -> float:
        return min(self.eval_val_loss, default=math.inf)


@dataclass
class TrainResult:
    model: LanguageModel
    history: History
    tokenizer: Tokenizer
    out_dir: Path | None = None


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for `step`: linear warmup, then cosine decay to `min_lr` (or constant after warmup)."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    if cfg.lr_schedule == "constant":
        return cfg.learning_rate
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    if step >= decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device_type: str) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (Linear weights, embeddings) only, not on biases or LayerNorms."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    kwargs = dict(lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))
    if device_type in ("cuda", "cpu"):
        # One fused kernel per parameter instead of ~10 small ops each: on 2 CPU cores (PyTorch >= 2.4) the
        # `cpu` preset's optimizer step drops from 2-6 ms to 0.5 ms (see benchmarks/RESULTS.md).
        try:
            return torch.optim.AdamW(groups, fused=True, **kwargs)
        except RuntimeError:  # older PyTorch without a fused CPU AdamW
            pass
    return torch.optim.AdamW(groups, **kwargs)


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks cuda, then Apple's mps, then cpu; under torchrun each rank gets its own GPU."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The autocast dtype to use on `device`, falling back (with a message) where it is not supported."""
    dtype = DTYPES[name]
    if dtype == torch.float32:
        return dtype
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        warnings.warn("this GPU does not support bfloat16; training in float16 with a GradScaler instead")
        return torch.float16
    try:  # one tiny autocast matmul tells whether this device/PyTorch supports the dtype
        with torch.autocast(device.type, dtype=dtype):
            torch.ones(2, 2, device=device) @ torch.ones(2, 2, device=device)
    except (RuntimeError, AssertionError) as e:
        if dtype == torch.bfloat16:
            warnings.warn(f"bfloat16 autocast is not supported on {device.type} ({e}); training in float32")
            return torch.float32
        raise ValueError(
            f"float16 autocast is not supported on {device.type} here ({e}); use --dtype bfloat16 or float32"
        ) from None
    return dtype


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed-precision context for forward + loss; a no-op in float32."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@torch.no_grad()
def estimate_loss(model: torch.nn.Module, corpus: Corpus, cfg: TrainConfig, device, dtype=torch.float32) -> dict:
    """Mean loss over `eval_iters` batches of each split, in eval mode (no dropout).

    The batches come from a generator seeded the same way at every evaluation, so successive numbers are
    measured on the same text and differ only because the model changed.
    """
    was_training = model.training
    model.eval()
    out = {}
    for split, data in (("train", corpus.train), ("val", corpus.val)):
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        losses = torch.zeros(cfg.eval_iters)
        for i in range(cfg.eval_iters):
            x, y = get_batch(data, cfg.batch_size, cfg.block_size, gen, device)
            with autocast(device, dtype):
                losses[i] = model(x, y)[1].float()
        out[split] = losses.mean().item()
    model.train(was_training)
    return out


def sample_text(
    model: LanguageModel, tokenizer: Tokenizer, prompt: str = "\n", max_new_tokens: int = 200,
    temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None, seed: int = 0,
) -> str:
    """Decode `max_new_tokens` sampled after `prompt` (the prompt included), without touching global RNG."""
    device = next(model.parameters()).device
    ids = tokenizer.encode(prompt) or [tokenizer.eot_id or 0]
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    gen = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, generator=gen)
    model.train(was_training)
    return tokenizer.decode(out[0].tolist())


def build_model(cfg: TrainConfig, vocab_size: int) -> GPT:
    """A fresh GPT for `cfg`, or pretrained GPT-2 weights when `cfg.init_from` names them."""
    if cfg.init_from == "scratch":
        return GPT(cfg.model_config(vocab_size))
    model = GPT.from_pretrained(cfg.init_from, dropout=cfg.dropout)
    if model.config.vocab_size < vocab_size:
        raise ValueError(
            f"{cfg.init_from} has a vocabulary of {model.config.vocab_size} tokens but the data uses "
            f"{vocab_size}; prepare the data with the matching tokenizer (--tokenizer gpt2)"
        )
    return model


def optimizer_step(step_model: torch.nn.Module, model: torch.nn.Module, sampler: BatchSampler,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, cfg: TrainConfig,
                   device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """One optimizer step over `grad_accum_steps` micro-batches; returns the mean loss, still on the device.

    `step_model` is what runs forward/backward (maybe compiled and/or DDP-wrapped); `model` owns the weights.
    """
    step_loss = torch.zeros((), device=device)
    for micro in range(cfg.grad_accum_steps):
        x, y = sampler()
        # DDP averages gradients across ranks during backward; only do it on the last micro-step.
        last_micro = micro == cfg.grad_accum_steps - 1
        sync = step_model.no_sync() if isinstance(step_model, DDP) and not last_micro else nullcontext()
        with sync:
            with autocast(device, dtype):
                loss = step_model(x, y)[1] / cfg.grad_accum_steps
            scaler.scale(loss).backward()  # float16: scale the loss up so small gradients do not underflow
        step_loss += loss.detach()
    if cfg.grad_clip > 0:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return step_loss


def write_history(history: History, out_dir: Path) -> None:
    """`history.json` and the `loss.png` picture of it, in the run folder."""
    import matplotlib.pyplot as plt

    from .plot import plot_losses

    history.save(out_dir / "history.json")
    fig = plot_losses(history)
    fig.savefig(out_dir / "loss.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


@dataclass
class DistInfo:
    """Where this process sits in a torchrun job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_master(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "DistInfo":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                   int(os.environ.get("WORLD_SIZE", 1)))


@contextmanager
def stop_on_signals() -> Iterator[dict]:
    """Turn the first Ctrl-C / SIGTERM into a flag checked between steps, so we stop at a clean point.

    A second Ctrl-C interrupts at once. Outside the main thread signals cannot be caught; nothing changes.
    """
    flag = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["signal"] is not None:
            raise KeyboardInterrupt
        flag["signal"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def prepare_out_dir(out_dir: Path, resume: bool, force: bool) -> dict | None:
    """Check the run folder: return the checkpoint to resume, or None for a fresh run."""
    ckpt_path = out_dir / "ckpt.pt"
    if resume:
        if not ckpt_path.is_file():
            raise CheckpointError(f"cannot resume: no checkpoint at {ckpt_path}; drop --resume to start a new run")
        return load_checkpoint(ckpt_path)
    if ckpt_path.exists() or (out_dir / "history.json").exists():
        if not force:
            raise RunExistsError(
                f"{out_dir} already holds a training run; pass --resume to continue it, --force to overwrite "
                "it, or choose another --out-dir"
            )
        for name in ("ckpt.pt", "best.pt", "history.json", "loss.png"):
            (out_dir / name).unlink(missing_ok=True)
    return None


def train(
    cfg: TrainConfig,
    corpus: Corpus | None = None,
    *,
    model: LanguageModel | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    callbacks: tuple[Callable[[int, History], None], ...] = (),
    progress: bool = True,
    verbose: bool = True,
) -> TrainResult:
    """Train a model (a new `GPT` from `cfg` unless `model` is given) and return it with its history.

    With `out_dir`, the run folder gets `ckpt.pt` (latest), `best.pt` (best val loss), `config.json`,
    `history.json`, `tokenizer.json` and `loss.png`; `resume=True` continues from `out_dir/ckpt.pt`.
    `callbacks` are called as `cb(step, history)` at every log and eval step (e.g. a live plot).
    """
    info = DistInfo.from_env()
    distributed = info.world_size > 1
    device = resolve_device(cfg.device)
    owns_group = distributed and not dist.is_initialized()  # then we also destroy it at the end
    if owns_group:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls: ~free speed, float32 master weights kept
        torch.backends.cudnn.allow_tf32 = True
    dtype = resolve_dtype(cfg.dtype, device)
    out_dir = Path(out_dir) if out_dir is not None else None
    ckpt = prepare_out_dir(out_dir, resume, force) if out_dir is not None else None
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir: the folder whose ckpt.pt should be continued")

    if corpus is None:
        # Under torchrun the first process of each machine prepares missing token files while the others wait,
        # so they never write the same files at once.
        if distributed and info.local_rank != 0:
            dist.barrier()
        corpus = load_corpus(cfg.data_dir or None, cfg.tokenizer, vocab_size=cfg.vocab_size_target or None)
        if distributed and info.local_rank == 0:
            dist.barrier()
    for split in ("train", "val"):
        n = len(getattr(corpus, split))
        if n <= cfg.block_size:
            raise ValueError(
                f"TrainConfig.block_size ({cfg.block_size}) must be smaller than the {split} split ({n} tokens); "
                "use a smaller block_size or more data"
            )

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    model = model if model is not None else build_model(cfg, corpus.vocab_size)
    if distributed:
        torch.manual_seed(cfg.seed + info.rank)  # but each rank its own dropout masks
    if ckpt is not None:
        if ckpt["tokenizer"] != {"kind": corpus.tokenizer.kind, **corpus.tokenizer.to_dict()}:
            raise CheckpointError(f"cannot resume {out_dir / 'ckpt.pt'}: it was trained with a different tokenizer")
        if isinstance(model, GPT):
            check_same_shape(out_dir / "ckpt.pt", ckpt["model_config"], model.config.to_dict())
        model.load_state_dict(ckpt["model"])
    model.to(device)
    optimizer = make_optimizer(model, cfg, device.type)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    sampler = BatchSampler(corpus.train, cfg.batch_size, cfg.block_size, cfg.seed + info.rank, device)
    history, start, best_val = History(), 0, math.inf
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        history, start, best_val = History.from_dict(ckpt["history"]), ckpt["step"], ckpt["best_val_loss"]
        # Each rank continues its own random streams (dropout, batches). A rank the saved run did not have
        # (more processes now) keeps its fresh seed + rank streams, so it does not repeat another rank's.
        per_rank = ckpt["rng"].get("ranks", [ckpt["rng"]])
        if info.rank < len(per_rank):
            sampler.load_state_dict(restore_rng_state(per_rank[info.rank]))

    step_model = torch.compile(model) if cfg.compile else model
    if distributed:
        step_model = DDP(step_model, device_ids=[device.index] if device.type == "cuda" else None)

    def checkpoint_dict(step: int) -> dict:
        ranks = [rng_state(sampler.state_dict())]
        if distributed:
            ranks = [None] * info.world_size
            dist.all_gather_object(ranks, rng_state(sampler.state_dict()))
        return {
            "format": FORMAT, "version": VERSION, "step": step, "model": model.state_dict(),
            "model_config": model.config.to_dict() if isinstance(model, GPT) else {},
            "train_config": cfg.to_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "best_val_loss": best_val,
            "tokenizer": {"kind": corpus.tokenizer.kind, **corpus.tokenizer.to_dict()},
            "history": history.to_dict(),
            "rng": {**ranks[0], "ranks": ranks},
        }

    def save(step: int, improved: bool) -> None:
        state = checkpoint_dict(step)  # every rank takes part in gathering the sampler states
        if out_dir is None or not info.is_master:
            return
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            raise TrainingDiverged(f"weights became NaN/inf before step {step}; the previous checkpoint was kept")
        atomic_save(state, out_dir / "ckpt.pt")
        if improved:
            shutil.copyfile(out_dir / "ckpt.pt", out_dir / ".best.pt.tmp")
            os.replace(out_dir / ".best.pt.tmp", out_dir / "best.pt")

    if out_dir is not None and info.is_master:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        corpus.tokenizer.save(out_dir / "tokenizer.json")

    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.max_iters, initial=start, disable=not (progress and info.is_master), unit="step",
               dynamic_ncols=True)
    say = tqdm.write if verbose and info.is_master else (lambda *a, **k: None)
    if ckpt is not None:
        say(f"resuming {out_dir} at step {start}/{cfg.max_iters}")
    pending: list[torch.Tensor] = []  # per-step losses still on the device: read once per log interval
    t_run, t_interval = time.time(), time.time()
    model.train()
    with stop_on_signals() as stop:
        for step in range(start, cfg.max_iters):
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            pending.append(optimizer_step(step_model, model, sampler, optimizer, scaler, cfg, device, dtype))
            history.step.append(step)
            history.lr.append(lr)
            bar.update(1)

            done = step + 1
            is_last = done == cfg.max_iters
            is_eval = done % cfg.eval_interval == 0 or is_last
            is_ckpt = is_eval or (cfg.checkpoint_interval and done % cfg.checkpoint_interval == 0)
            is_log = is_eval or is_ckpt or done % cfg.log_interval == 0
            # Alone we stop right after the step a signal arrived in. Under DDP, saving is collective, so
            # all ranks must stop at the same step: they agree at the next log step instead.
            if not (is_log or (stop["signal"] and not distributed)):
                continue
            # Sync point: read the pending losses with one device→host copy.
            pending_losses = torch.stack(pending)
            pending.clear()
            if distributed:  # log the mean over ranks; the stop flag rides along (one rank stopping stops all)
                flag = torch.tensor([0.0 if stop["signal"] is None else 1.0], device=device)
                packed = torch.cat([pending_losses, flag])
                dist.all_reduce(packed)  # SUM, then divide: gloo has no AVG
                pending_losses = packed[:-1] / info.world_size
                if packed[-1] > 0 and stop["signal"] is None:
                    stop["signal"] = "a signal (on another rank)"
            stopping = stop["signal"]  # decided (and agreed) here: a signal arriving later waits for the next step
            losses = pending_losses.tolist()
            bad = [(s, v) for s, v in zip(history.step[-len(losses):], losses) if not math.isfinite(v)]
            if bad:
                kept = f"the last good checkpoint {out_dir / 'ckpt.pt'} was kept" if out_dir else "no checkpoint"
                raise TrainingDiverged(
                    f"loss became {bad[0][1]} at step {bad[0][0]}; training stopped ({kept}). Try a lower "
                    "learning_rate, gradient clipping (grad_clip), or float32."
                )
            elapsed = time.time() - t_interval
            tok_s = len(losses) * cfg.tokens_per_step * info.world_size / max(elapsed, 1e-9)
            history.train_loss.extend(losses)
            history.tokens_per_sec.extend([tok_s] * len(losses))
            bar.set_postfix(loss=f"{losses[-1]:.4f}", tok_s=f"{tok_s:,.0f}")
            if done % cfg.log_interval == 0 or is_last:
                say(f"[{done}/{cfg.max_iters}] loss={losses[-1]:.4f} time={time.time() - t_run:.1f}s")
                if cfg.sample_tokens and info.is_master:
                    text = sample_text(model, corpus.tokenizer, max_new_tokens=cfg.sample_tokens, seed=cfg.seed)
                    say(text.lstrip("\n"))
            improved = False
            if is_eval and info.is_master:
                est = estimate_loss(model, corpus, cfg, device, dtype)
                history.eval_step.append(done)
                history.eval_train_loss.append(est["train"])
                history.eval_val_loss.append(est["val"])
                improved = est["val"] < best_val
                best_val = min(best_val, est["val"])
                say(f"step {done}: train loss {est['train']:.4f}, val loss {est['val']:.4f}")
            if is_ckpt or stopping:
                save(done, improved)
            for cb in callbacks:
                cb(done, history)
            if stopping:
                bar.close()
                if distributed:  # torchrun kills every rank once one exits: let rank 0 finish writing first
                    dist.barrier()
                where = f"; checkpoint saved in {out_dir / 'ckpt.pt'}" if out_dir else ""
                hint = f". Resume with: nanogpt train --out-dir {out_dir} --resume" if out_dir else ""
                if out_dir and distributed:
                    hint = f". Resume with the same torchrun command plus --out-dir {out_dir} --resume"
                say(f"{stopping} received: stopped after step {done}{where}{hint}")
                raise TrainingInterrupted(f"training stopped by {stopping} after step {done}")
            t_interval = time.time()  # logging, sampling and eval time do not count against tokens/s
    bar.close()
    if out_dir is not None and info.is_master:
        write_history(history, out_dir)
    if owns_group:
        dist.barrier()  # rank 0 has finished writing files before anyone returns
        dist.destroy_process_group()
    return TrainResult(model=model, history=history, tokenizer=corpus.tokenizer, out_dir=out_dir)
