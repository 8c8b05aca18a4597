"""The training loop: AdamW, warmup + cosine LR, clipping, accumulation, eval, checkpoints, AMP and DDP.

`train(cfg, corpus)` is used by the CLI and the notebooks alike and reads like the algorithm: sample a
batch, step the optimizer, and every so often evaluate, save and call the callbacks (the log line and the
samples are default callbacks). Devices and torchrun live in `device.py`, the run folder in `checkpoint.py`.
Under `torchrun` it runs DistributedDataParallel; only rank 0 logs, evaluates and writes files.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .checkpoint import (
    CheckpointError,
    RunExistsError,
    RunFolder,
    build_checkpoint,
    check_same_shape,
    load_checkpoint,
    restore_rng_state,
    rng_state,
)
from .config import TrainConfig
from .data import BatchSampler, Corpus, get_batch, load_corpus
from .device import Runtime, autocast, grad_scaler, measured_cpu_flops, training_flops_per_token
from .history import History
from .model import GPT, LanguageModel
from .optim import make_muon
from .sampling import eval_mode, sample_text
from .tokenizers import Tokenizer

__all__ = ["train", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "RunExistsError", "History",
           "lr_at", "make_optimizer", "estimate_loss", "build_model", "sample_text"]

Callback = Callable[[int, History], None]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped training: after saving a checkpoint, or `at_once` on a second signal.

    `signum` is the signal that ended the run (the shell's exit status for it is 128 + signum).
    """

    def __init__(self, message: str, signum: int = signal.SIGINT, at_once: bool = False) -> None:
        super().__init__(message)
        self.signum, self.at_once = signum, at_once


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


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device_type: str) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices (Linear weights, embeddings) only, not on biases or LayerNorms;
    with `cfg.optimizer == "muon"`, Muon for the hidden matrices and AdamW for the rest (optim.py)."""
    if cfg.optimizer == "muon":
        return make_muon(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    kwargs = dict(lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))
    # One fused kernel per parameter instead of ~10 small ops each: on 2 CPU cores the `cpu` preset's optimizer
    # step drops from 2-6 ms to 0.5 ms (see benchmarks/RESULTS.md). PyTorch < 2.4 has no fused CPU kernel.
    fused = device_type == "cuda" or (device_type == "cpu" and torch.__version__ >= "2.4")
    return torch.optim.AdamW(groups, fused=fused, **kwargs)


@torch.no_grad()
def estimate_loss(model: torch.nn.Module, corpus: Corpus, cfg: TrainConfig, device, dtype=torch.float32) -> dict:
    """Mean loss over `eval_iters` batches of each split, in eval mode (no dropout).

    The batches come from a generator seeded the same way at every evaluation, so successive numbers are
    measured on the same text and differ only because the model changed.
    """
    device = torch.device(device)
    out = {}
    with eval_mode(model):
        for split, data in (("train", corpus.train), ("val", corpus.val)):
            gen = torch.Generator().manual_seed(cfg.seed + 1)
            losses = torch.zeros(cfg.eval_iters)
            for i in range(cfg.eval_iters):
                x, y = get_batch(data, cfg.batch_size, cfg.block_size, gen, device)
                with autocast(device, dtype):
                    losses[i] = model(x, y)[1].float()
            out[split] = losses.mean().item()
    return out


@torch.no_grad()
def window_losses(model: torch.nn.Module, corpus: Corpus, cfg: TrainConfig, device, split: str = "val") -> torch.Tensor:
    """The loss of each window `estimate_loss` scores on `split` (the same windows, in eval mode), as a 1-D
    tensor of `eval_iters * batch_size` values: their mean is its number, and their spread says how precise
    that number is (standard error = std / sqrt(count))."""
    data = corpus.train if split == "train" else corpus.val
    gen = torch.Generator().manual_seed(cfg.seed + 1)  # estimate_loss's generator, so the same windows
    out = []
    with eval_mode(model):
        for _ in range(cfg.eval_iters):
            x, y = get_batch(data, cfg.batch_size, cfg.block_size, gen, torch.device(device))
            logits = model(x)[0].float()
            per_token = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
            out.append(per_token.view(y.shape).mean(dim=1).cpu())
    return torch.cat(out)


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


def check_step_fits(cfg: TrainConfig, vocab_size: int, device: torch.device) -> None:
    """Refuse a configuration whose one training step cannot fit in memory, and warn when one step would take
    over a minute, before either hangs the machine.

    Activations kept for backward per layer: about 34·B·T·C values plus the B·H·T² attention matrix (stored
    in float32 when the fused kernel cannot be used, e.g. on CPU), plus B·T·V logits, plus 16 bytes for each
    of the ~12·L·C² + V·C parameters (weights, gradients, two AdamW moments). Compute per step: tokens ×
    `training_flops_per_token`.
    """
    B, T, C, H, L = cfg.batch_size, cfg.block_size, cfg.n_embd, cfg.n_head, cfg.n_layer
    params = 12 * L * C * C + vocab_size * C + T * C
    # float32 activations, plus weights, gradients and AdamW's two moments (16 bytes per parameter)
    need = 4 * (L * (34 * B * T * C + 3 * B * H * T * T) + 3 * B * T * vocab_size) + 16 * params
    if device.type == "cuda":
        have, what = torch.cuda.get_device_properties(device).total_memory, "GPU memory"
    else:
        have, what = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "RAM"
    if need > have:
        raise ValueError(
            f"one training step needs about {need / 2**30:,.0f} GiB of activations (batch_size {B} × block_size "
            f"{T}, {L} layers), but this machine has {have / 2**30:,.0f} GiB of {what}; use a smaller block_size "
            "or batch_size (or grad_accum_steps to keep the tokens per step)"
        )
    flops = cfg.tokens_per_step * training_flops_per_token(params - T * C, L, C, T)
    if device.type == "cpu" and flops > 1e12:  # only then is a quick measurement of this CPU worth its ~0.3 s
        rate = measured_cpu_flops()
        if flops / rate > 60:
            warnings.warn(
                f"one training step will take about {flops / rate / 60:,.0f} minutes on this CPU ({flops / 1e12:,.1f} "
                f"TFLOP per step at a measured {rate / 1e9:,.0f} GFLOP/s); Ctrl-C stops after the current step",
                stacklevel=2,
            )


def optimizer_step(step_model: torch.nn.Module, model: torch.nn.Module, sampler: BatchSampler,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, cfg: TrainConfig,
                   rt: Runtime) -> torch.Tensor:
    """One optimizer step over `grad_accum_steps` micro-batches; returns the mean loss, still on the device.

    `step_model` is what runs forward/backward (maybe compiled and/or DDP-wrapped); `model` owns the weights.
    """
    step_loss = torch.zeros((), device=rt.device)
    for micro in range(cfg.grad_accum_steps):
        x, y = sampler()
        # DDP averages gradients across ranks during backward; only do it on the last micro-step.
        last_micro = micro == cfg.grad_accum_steps - 1
        sync = step_model.no_sync() if isinstance(step_model, DDP) and not last_micro else nullcontext()
        with sync:
            with autocast(rt.device, rt.dtype):
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


@dataclass
class TrainState:
    """Everything that changes during training, and so everything a checkpoint holds and resume restores."""

    model: LanguageModel
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    sampler: BatchSampler
    history: History = field(default_factory=History)
    step: int = 0
    best_val: float = math.inf

    def checkpoint(self, cfg: TrainConfig, tokenizer: Tokenizer, rt: Runtime, data: dict) -> dict:
        """The checkpoint (`checkpoint.build_checkpoint`); every rank must call it (the random states are gathered)."""
        ranks = [rng_state(self.sampler.state_dict())]
        if rt.dist.distributed:
            ranks = [None] * rt.dist.world_size
            dist.all_gather_object(ranks, rng_state(self.sampler.state_dict()))
        return build_checkpoint(
            step=self.step, model=self.model.state_dict(),
            model_config=self.model.config.to_dict() if isinstance(self.model, GPT) else {},
            train_config=cfg.to_dict(), optimizer=self.optimizer.state_dict(),
            scaler=self.scaler.state_dict() if self.scaler.is_enabled() else {}, best_val_loss=self.best_val,
            tokenizer=tokenizer, history=self.history, rng=ranks, data=data,
        )

    def restore(self, ckpt: dict, rank: int) -> None:
        """Continue from a checkpoint: weights, optimizer, history, and this rank's random streams."""
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.history, self.step = History.from_dict(ckpt["history"]), ckpt["step"]
        self.best_val = ckpt["best_val_loss"]
        # A rank the saved run did not have (more processes now) keeps its fresh seed + rank streams.
        per_rank = ckpt["rng"].get("ranks", [ckpt["rng"]])
        if rank < len(per_rank):
            self.sampler.load_state_dict(restore_rng_state(per_rank[rank]))


@contextmanager
def stop_on_signals() -> Iterator[dict]:
    """Turn the first Ctrl-C / SIGTERM into a flag checked after each step, so we stop at a clean point.

    A second signal stops at once (`TrainingInterrupted` with `at_once`, no traceback from the CLI); a
    checkpoint write it interrupts is abandoned and the previous checkpoint stays. Later signals are ignored
    while that stop unwinds. Outside the main thread nothing changes.
    """
    flag = {"signal": None, "signum": signal.SIGINT, "raised": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        name = signal.Signals(signum).name
        if flag["signal"] is None:
            flag["signal"], flag["signum"] = name, signum
        elif not flag["raised"]:
            flag["raised"] = True
            raise TrainingInterrupted(f"second {name}: stopped at once", signum, at_once=True)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def log_line(cfg: TrainConfig, model: LanguageModel, tokenizer: Tokenizer, say: Callable[[str], None]) -> Callback:
    """The default callback: `[step/max] loss=… time=…s` every `log_interval` steps, plus a sample if asked."""
    t0 = time.time()

    def callback(step: int, history: History) -> None:
        if step % cfg.log_interval == 0 or step == cfg.max_iters:
            say(f"[{step}/{cfg.max_iters}] loss={history.train_loss[-1]:.4f} time={time.time() - t0:.1f}s")
            if cfg.sample_tokens:
                say(sample_text(model, tokenizer, max_new_tokens=cfg.sample_tokens, seed=cfg.seed).lstrip("\n"))

    return callback


def read_losses(pending: list[torch.Tensor], stop: dict, rt: Runtime) -> list[float]:
    """The per-step losses since the last log step, in one device→host copy (averaged over ranks under DDP).

    Under DDP the stop flag rides along, so one rank receiving a signal stops them all at the same step.
    """
    losses = torch.stack(pending)
    pending.clear()
    if rt.dist.distributed:
        packed = torch.cat([losses, torch.tensor([float(stop["signal"] is not None)], device=rt.device)])
        dist.all_reduce(packed)  # SUM, then divide: gloo has no AVG
        losses = packed[:-1] / rt.dist.world_size
        if packed[-1] > 0 and stop["signal"] is None:
            stop["signal"] = "a signal (on another rank)"
    return losses.tolist()


def load_corpus_once(cfg: TrainConfig, rt: Runtime) -> Corpus:
    """The prepared corpus; under torchrun the first process of each machine prepares missing token files
    while the others wait, so they never write the same files at once."""
    if rt.dist.local_rank != 0:
        rt.barrier()
    corpus = load_corpus(cfg.data_dir or None, cfg.tokenizer, vocab_size=cfg.vocab_size_target or None)
    if rt.dist.local_rank == 0:
        rt.barrier()
    return corpus


def open_checkpoint(run: RunFolder | None, out_dir: str | Path | None, resume: bool, force: bool) -> dict | None:
    """The checkpoint to continue from (None for a new run). Rank 0 opens the run folder, which checks it and
    refuses to mix runs; the other ranks of a resumed run read the checkpoint that rank 0 checked."""
    if run is not None:
        return run.open(resume, force)
    if resume:
        return load_checkpoint(Path(out_dir) / "ckpt.pt")
    return None


def check_corpus(cfg: TrainConfig, corpus: Corpus) -> None:
    """Every split must hold more than one window."""
    for split in ("train", "val"):
        n = len(getattr(corpus, split))
        if n <= cfg.block_size:
            raise ValueError(
                f"TrainConfig.block_size ({cfg.block_size}) must be smaller than the {split} split ({n} tokens); "
                "use a smaller block_size or more data"
            )


def check_resumable(ckpt: dict, corpus: Corpus, model: LanguageModel, out_dir: Path) -> None:
    """A checkpoint continues only with the same tokenizer and the same model shape."""
    if ckpt["tokenizer"] != corpus.tokenizer.saved_form():
        raise CheckpointError(f"cannot resume {out_dir / 'ckpt.pt'}: it was trained with a different tokenizer")
    if isinstance(model, GPT):
        check_same_shape(out_dir / "ckpt.pt", ckpt["model_config"], model.config.to_dict())


def check_finite(losses: list[float], steps: list[int], run: RunFolder | None) -> None:
    """Stop with advice when a loss is NaN or infinite, saying truthfully what is left on disk."""
    bad = [(s, v) for s, v in zip(steps, losses) if not math.isfinite(v)]
    if not bad:
        return
    kept = "nothing was saved: no out_dir" if run is None else run.kept()
    raise TrainingDiverged(
        f"loss became {bad[0][1]} at step {bad[0][0]}; training stopped ({kept}). Try a lower "
        "learning_rate, gradient clipping (grad_clip), or float32."
    )


def evaluate(state: TrainState, corpus: Corpus, cfg: TrainConfig, rt: Runtime, say: Callable[[str], None]) -> bool:
    """Estimate train/val loss, record them, print them; True when the val loss is the best so far."""
    est = estimate_loss(state.model, corpus, cfg, rt.device, rt.dtype)
    state.history.eval_step.append(state.step)
    state.history.eval_train_loss.append(est["train"])
    state.history.eval_val_loss.append(est["val"])
    improved = est["val"] < state.best_val
    state.best_val = min(state.best_val, est["val"])
    say(f"step {state.step}: train loss {est['train']:.4f}, val loss {est['val']:.4f}")
    return improved


def save_checkpoint(state: TrainState, cfg: TrainConfig, corpus: Corpus, rt: Runtime, run: RunFolder | None,
                    improved: bool) -> None:
    """Every rank builds the checkpoint (a collective); rank 0 writes it, unless the weights went bad."""
    ckpt = state.checkpoint(cfg, corpus.tokenizer, rt, corpus.summary())
    if run is None:
        return
    if not all(torch.isfinite(p).all() for p in state.model.parameters()):
        raise TrainingDiverged(f"weights became NaN/inf before step {state.step}; {run.kept()}")
    run.save(ckpt, improved)


def stop_now(stop: dict, step: int, out_dir: str | Path | None, rt: Runtime) -> None:
    """After the checkpoint of a first Ctrl-C/SIGTERM: say how to resume, then stop."""
    rt.barrier()  # torchrun kills every rank once one exits: let rank 0 finish writing first
    if rt.dist.is_master:
        where = f"; checkpoint saved in {Path(out_dir) / 'ckpt.pt'}" if out_dir else ""
        hint = f". Resume with: nanogpt train --out-dir {out_dir} --resume" if out_dir else ""
        if out_dir and rt.dist.distributed:
            hint = f". Resume with the same torchrun command plus --out-dir {out_dir} --resume"
        print(f"{stop['signal']} received: stopped after step {step}{where}{hint}", flush=True)
    raise TrainingInterrupted(f"training stopped by {stop['signal']} after step {step}", stop["signum"])


def train(cfg: TrainConfig, corpus: Corpus | None = None, *, model: LanguageModel | None = None,
          out_dir: str | Path | None = None, resume: bool = False, force: bool = False,
          callbacks: tuple[Callback, ...] = (), progress: bool = True, verbose: bool = True) -> TrainResult:
    """Train a model (a new `GPT` from `cfg` unless `model` is given) and return it with its history.

    With `out_dir`, the run folder gets `ckpt.pt` (latest), `best.pt` (best val loss), `config.json`,
    `data.json`, `history.json`, `tokenizer.json` and `loss.png`; `resume=True` continues from its `ckpt.pt`.
    `callbacks` are called as `cb(step, history)` at every log and eval step (e.g. a live plot).
    """
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir: the folder whose ckpt.pt should be continued")
    rt = Runtime.start(cfg.device, cfg.dtype)
    run = RunFolder(out_dir) if out_dir is not None and rt.dist.is_master else None
    with run or nullcontext():
        ckpt = open_checkpoint(run, out_dir, resume, force)
        corpus = corpus or load_corpus_once(cfg, rt)
        check_corpus(cfg, corpus)
        if model is None:
            check_step_fits(cfg, corpus.vocab_size, rt.device)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        model = (model or build_model(cfg, corpus.vocab_size)).to(rt.device)
        torch.manual_seed(cfg.seed + rt.dist.rank)  # but each rank its own dropout masks
        sampler = BatchSampler(corpus.train, cfg.batch_size, cfg.block_size, cfg.seed + rt.dist.rank, rt.device)
        state = TrainState(model, make_optimizer(model, cfg, rt.device.type), grad_scaler(rt.device, rt.dtype), sampler)
        if ckpt is not None:
            check_resumable(ckpt, corpus, model, Path(out_dir))
            state.restore(ckpt, rt.dist.rank)
        step_model = torch.compile(model) if cfg.compile else model
        if rt.dist.distributed:
            step_model = DDP(step_model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None)
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_iters, initial=state.step, disable=not (progress and rt.dist.is_master),
                   unit="step", dynamic_ncols=True)
        say = tqdm.write if verbose and rt.dist.is_master else (lambda *a, **k: None)
        say(corpus.describe() if ckpt is None else f"resuming {out_dir} at step {state.step}/{cfg.max_iters}")
        if run:
            run.describe_run(cfg.to_dict(), corpus.tokenizer, corpus.summary())
        callbacks = (log_line(cfg, model, corpus.tokenizer, say), *callbacks)
        pending: list[torch.Tensor] = []  # per-step losses still on the device: read once per log interval
        t_interval = time.time()
        model.train()
        with stop_on_signals() as stop:
            for step in range(state.step, cfg.max_iters):
                lr = lr_at(step, cfg)
                for group in state.optimizer.param_groups:
                    group["lr"] = lr
                pending.append(optimizer_step(step_model, model, state.sampler, state.optimizer, state.scaler, cfg, rt))
                state.step = done = step + 1
                state.history.step.append(step)
                state.history.lr.append(lr)
                bar.update(1)
                is_last = done == cfg.max_iters
                is_eval = done % cfg.eval_interval == 0 or is_last
                is_ckpt = is_eval or (cfg.checkpoint_interval > 0 and done % cfg.checkpoint_interval == 0)
                is_log = done % cfg.log_interval == 0
                # Alone we stop right after the step a signal arrived in. Under DDP, saving is collective, so
                # all ranks must stop at the same step: they agree at the next log step instead.
                signal_here = stop["signal"] is not None and not rt.dist.distributed
                if not (is_ckpt or is_log or signal_here):
                    continue
                losses = read_losses(pending, stop, rt)
                stopping = stop["signal"]  # decided (and agreed) here: a later signal waits for the next step
                check_finite(losses, state.history.step[-len(losses):], run)
                tok_s = len(losses) * cfg.tokens_per_step * rt.dist.world_size / max(time.time() - t_interval, 1e-9)
                state.history.train_loss.extend(losses)
                state.history.tokens_per_sec.extend([tok_s] * len(losses))
                bar.set_postfix(loss=f"{losses[-1]:.4f}", tok_s=f"{tok_s:,.0f}")
                improved = False  # a new best val loss: only rank 0 evaluates, and only at eval steps
                if is_eval and rt.dist.is_master:
                    improved = evaluate(state, corpus, cfg, rt, say)
                if is_ckpt or stopping:
                    save_checkpoint(state, cfg, corpus, rt, run, improved)
                for cb in callbacks:
                    cb(done, state.history)
                if stopping:
                    bar.close()
                    stop_now(stop, done, out_dir, rt)
                t_interval = time.time()  # logging, sampling and eval time do not count against tokens/s
        bar.close()
        if run:
            run.finish(state.history)
    rt.close()
    return TrainResult(model=model, history=state.history, tokenizer=corpus.tokenizer,
                       out_dir=Path(out_dir) if out_dir is not None else None)
