# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/05_training_at_scale.ipynb)
#
# # 05 · Training at scale
#
# The model stays the same; what changes with scale is the training run around it. Every tool here is
# in `nanogpt_lib.train`, and each has a short demo that runs on a CPU.
#
# **You will learn**
# - warmup + cosine learning-rate schedules (`lr_at`);
# - checkpoints, and resuming a run exactly where it stopped (`train(..., out_dir=..., resume=True)`);
# - mixed precision (`dtype="bfloat16"`): what it saves and what it risks;
# - gradient accumulation: a big batch out of small ones;
# - what `torchrun` (distributed data parallel) changes.
#
# **You need** from 04: `train`, `TrainConfig` and the GPT it builds.

# %%
# In Colab, install nanogpt_lib from the project's repository; locally it is already installed.
import sys

if "google.colab" in sys.modules:
    # %pip install -q "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"

from nanogpt_lib.notebook import setup

setup()  # seeds, small inline figures; loads the corpus (downloads it the first time)

# %%
import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import nanogpt_lib
from nanogpt_lib import (GPT, get_batch, get_config, load_checkpoint, load_corpus, lr_at, notebook_config,
                         plot_runs, train)
from nanogpt_lib.notebook import pick

corpus = load_corpus()
workdir = Path(tempfile.mkdtemp(prefix="nanogpt_05_"))  # run folders for this notebook

# %% [markdown]
# ## Learning-rate warmup and cosine decay
#
# At the start, Adam's estimates of the gradient statistics are poor and the weights are random: large
# steps can throw the model somewhere it never recovers from. So the learning rate **warms up** linearly
# over `warmup_iters` steps. Later, smaller steps let the model settle into a minimum, so the learning rate
# **decays** along half a cosine to `min_lr` at `lr_decay_iters`. `lr_at(step, cfg)` is that schedule.

# %%
fig, ax = plt.subplots(figsize=(9, 3.2))
for name in ("cpu", "shakespeare_char"):
    preset = get_config(name)
    steps = range(preset.max_iters)
    ax.plot(steps, [lr_at(s, preset) for s in steps], label=f"{name}: warmup {preset.warmup_iters}, "
            f"{preset.learning_rate:g} -> {preset.min_lr:g}")
ax.set(xlabel="step", ylabel="learning rate", title="Warmup + cosine decay (lr_at)")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# ## Checkpoints and exact resume
#
# With `out_dir`, `train` writes the run folder: `ckpt.pt` (saved atomically at every evaluation: a crash
# mid-write keeps the previous file), `best.pt` (lowest validation loss), `config.json`, `tokenizer.json`,
# `history.json` and `loss.png`. A checkpoint holds everything needed to continue *exactly*: weights,
# optimizer moments, step, history, and the state of every random generator (batches, dropout).
#
# The demo: train a run straight through; then train the same run in two halves, "crashing" after the
# first half and resuming with `resume=True`. The schedule must not depend on where we stop, so both use
# `lr_decay_iters` = the full length.

# %%
full = notebook_config("cpu", n_layer=2, n_embd=64, block_size=64, max_iters=200, eval_interval=50,
                       log_interval=50, warmup_iters=20, dropout=0.1, sample_tokens=0)
full = dataclasses.replace(full, lr_decay_iters=full.max_iters)
half = dataclasses.replace(full, max_iters=full.max_iters // 2)

straight = train(full, corpus, out_dir=workdir / "straight", progress=False, verbose=False)
train(half, corpus, out_dir=workdir / "resumed", progress=False, verbose=False)
print("run folder:", sorted(p.name for p in (workdir / "resumed").iterdir()))
ckpt = load_checkpoint(workdir / "resumed" / "ckpt.pt")
print(f"checkpoint at step {ckpt['step']}, keys: {', '.join(ckpt)}")

# %% [markdown]
# Now resume the interrupted run up to the full length:

# %%
resumed = train(full, corpus, out_dir=workdir / "resumed", resume=True, progress=False)
diff = max((a - b).abs().max().item() for a, b in zip(straight.model.parameters(), resumed.model.parameters()))
print(f"largest weight difference, straight vs interrupted + resumed: {diff}")

# %% [markdown]
# Zero: the resumed run is the *same* run. The command line does the same with
# `nanogpt train --out-dir runs/cpu --resume`, and Ctrl-C during training saves a checkpoint first.
#
# ## Mixed precision
#
# `bfloat16` keeps float32's 8 exponent bits (the same range) but only 8 bits of mantissa (about 3 decimal
# digits); `float16` has more precision but a much smaller range, so it needs loss scaling
# (`GradScaler`) against underflowing gradients. With `dtype="bfloat16"`, `train` runs the forward pass
# under `torch.autocast`: matrix multiplications in bfloat16, while the weights and the optimizer stay
# float32. On GPUs with tensor cores this is up to several times faster and halves activation memory; on
# a CPU it mostly shows that the numerics are fine.

# %%
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    info = torch.finfo(dtype)
    print(f"{str(dtype):15} 1/3 -> {torch.tensor(1 / 3, dtype=dtype).item():.8f}   "
          f"largest {info.max:.3g}   smallest normal {info.tiny:.3g}")

a, b = torch.randn(64, 64), torch.randn(64, 64)
with torch.autocast("cpu", dtype=torch.bfloat16):
    print("inside autocast, a @ b is", (a @ b).dtype, "while a stays", a.dtype)

# %% [markdown]
# ## Gradient accumulation
#
# When a batch does not fit in memory, split it into `grad_accum_steps` micro-batches, run backward on
# each with the loss divided by their number, and step the optimizer once. Gradients add up, so the result
# is the gradient of the whole batch: first a proof, then a run.

# %%
torch.manual_seed(0)
model = GPT(nanogpt_lib.GPTConfig(vocab_size=corpus.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32))
x, y = get_batch(corpus.train, 32, 32, torch.Generator().manual_seed(0))

model.zero_grad()
model(x, y)[1].backward()
big_batch = [p.grad.clone() for p in model.parameters()]

model.zero_grad()
accum_steps = 4
for xm, ym in zip(x.chunk(accum_steps), y.chunk(accum_steps)):
    (model(xm, ym)[1] / accum_steps).backward()
accumulated = [p.grad.clone() for p in model.parameters()]
print("largest gradient difference:", max((a - b).abs().max().item() for a, b in zip(big_batch, accumulated)))

# %% [markdown]
# Three short runs of the same model on one chart: float32 with batches of 32, bfloat16 with batches of
# 32, and float32 with 4 accumulated micro-batches of 8 (the same 32 windows per step).

# %%
base = notebook_config("cpu", n_layer=2, n_embd=64, block_size=64, max_iters=200, eval_interval=50,
                       warmup_iters=20, sample_tokens=0)
variants = {
    "float32, batch 32": base,
    "bfloat16, batch 32": dataclasses.replace(base, dtype="bfloat16"),
    "float32, 4 x 8 accumulated": dataclasses.replace(base, batch_size=base.batch_size // 4, grad_accum_steps=4),
}
runs = {name: train(cfg, corpus, progress=False, verbose=False).history for name, cfg in variants.items()}
for name, h in runs.items():
    print(f"{name:28} val loss {h.eval_val_loss[-1]:.3f}, {sum(h.tokens_per_sec) / len(h.tokens_per_sec):,.0f} tokens/s")
fig = plot_runs(runs, title="Precision and accumulation")

# %% [markdown]
# The three curves lie almost on top of each other: bfloat16 and accumulation change *how* a step is
# computed, not *what* is learned. The accumulated run even sees the very same windows, because the sampler
# draws the same random starting points in four groups of 8 as in one group of 32; it differs from the
# float32 run only by rounding, which adds up over the steps.
#
# ## torchrun: several processes, one model
#
# `torchrun --nproc_per_node=N` starts N copies of the same script and tells each its `RANK` and
# `WORLD_SIZE` through environment variables. `train` then:
# - wraps the model in `DistributedDataParallel`: each rank computes gradients on **its own** batches
#   (the batch sampler is seeded with `seed + rank`), and backward **averages** the gradients across ranks,
#   so every copy takes the same step;
# - syncs gradients only on the last micro-step of an accumulation (`no_sync`);
# - lets only rank 0 print, evaluate and write checkpoints.
#
# Each step therefore sees `batch_size × grad_accum_steps × world_size` windows. On GPUs, one process per
# GPU (NCCL); here, two CPU processes talking over gloo:

# %%
steps = pick(real=60, fast=20)
command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "nanogpt_lib", "train",
           "--preset", "tiny", "--max_iters", str(steps), "--eval_interval", str(steps),
           "--out-dir", str(workdir / "ddp"), "--no-progress"]
print("$ torchrun --nproc_per_node=2 -m nanogpt_lib train --preset tiny ...")
ddp = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
print(ddp.stdout[-600:])
ddp_history = json.loads((workdir / "ddp" / "history.json").read_text())

# %% [markdown]
# ## Check

# %%
# Resume is exact: same weights, and the history continues where it stopped
for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
    torch.testing.assert_close(a, b, rtol=0, atol=0)
assert resumed.history.step == straight.history.step == list(range(full.max_iters))
assert ckpt["step"] == half.max_iters

# Warmup starts small and reaches the peak; the cosine ends at min_lr
cfg = get_config("cpu")
assert lr_at(0, cfg) < cfg.learning_rate / 10
assert math.isclose(lr_at(cfg.warmup_iters, cfg), cfg.learning_rate)
assert math.isclose(lr_at(cfg.max_iters, cfg), cfg.min_lr)

# Accumulated gradients equal the big batch's; the bfloat16 run learned like float32
for a, b in zip(big_batch, accumulated):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
val = {name: h.eval_val_loss[-1] for name, h in runs.items()}
assert abs(val["bfloat16, batch 32"] - val["float32, batch 32"]) < 0.1, val

# The two-process run finished and rank 0 wrote one history of every step
assert ddp.returncode == 0, ddp.stderr[-2000:]
assert ddp_history["step"] == list(range(steps))
print("all checks passed")


# %% [markdown]
# ## Exercises
#
# **1. The schedule by hand.** Write `my_lr(step, cfg)`: linear warmup over `cfg.warmup_iters` steps (from
# `learning_rate / (warmup_iters + 1)` at step 0 up to `learning_rate`), then a cosine from
# `learning_rate` down to `min_lr` at `lr_decay_iters` (or `max_iters` when that is 0), then constant.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex05-lr-schedule", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def my_lr(step: int, cfg) -> float: ...
### BEGIN SOLUTION
def my_lr(step, cfg):
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    end = cfg.lr_decay_iters or cfg.max_iters
    if step >= end:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / (end - cfg.warmup_iters)
    return cfg.min_lr + (cfg.learning_rate - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
### END SOLUTION


# %% tags=["self-check"]
for name in ("cpu", "shakespeare_char", "tiny"):
    cfg = get_config(name)
    for step in range(cfg.max_iters + 10):
        assert math.isclose(my_lr(step, cfg), lr_at(step, cfg), rel_tol=1e-9), (name, step)

# %% [markdown]
# **2. Read a checkpoint.** Load `ckpt.pt` of the resumed run (in `workdir / "resumed"`) with
# `torch.load(..., weights_only=True)` and set `ckpt_step` (the step it was saved at) and `ckpt_best_val`
# (the best validation loss it records).

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex05-read-checkpoint", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# ckpt_step: int, ckpt_best_val: float
### BEGIN SOLUTION
raw = torch.load(workdir / "resumed" / "ckpt.pt", weights_only=True)
ckpt_step, ckpt_best_val = raw["step"], raw["best_val_loss"]
### END SOLUTION

# %% tags=["self-check"]
assert ckpt_step == full.max_iters
assert math.isclose(ckpt_best_val, min(resumed.history.eval_val_loss))

# %% [markdown]
# ## What's next
#
# That completes the character-level GPT and the training tools around it. **06** replaces characters with
# **BPE** tokens, the tokenizer GPT-2 uses, and **07** loads the real GPT-2 weights into the same `GPT`
# class.
