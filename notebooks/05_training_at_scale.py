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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/05_training_at_scale.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/05_training_at_scale.ipynb)
#
# # 05 · Training at scale
#
# The model stays the same; what changes with scale is the training run around it. Every tool here is
# in `nanogpt_lib.train`, and each has a short demo that runs on a CPU.
#
# **You will learn**
# - what one optimizer step does, across micro-batches and processes, and the AdamW update itself;
# - gradient clipping: capping the length of the gradient before the step;
# - warmup + cosine learning-rate schedules (`lr_at`);
# - checkpoints, and resuming a run exactly where it stopped (`train(..., out_dir=..., resume=True)`);
# - mixed precision (`dtype="bfloat16"`): floating-point formats, what they save and what they risk, and
#   loss scaling for float16;
# - gradient accumulation: a big batch out of small ones, and why it is exact;
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
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import nanogpt_lib
from nanogpt_lib import (
    GPT,
    BatchSampler,
    get_batch,
    get_config,
    load_checkpoint,
    load_corpus,
    lr_at,
    notebook_config,
    plot_runs,
    train,
)
from nanogpt_lib.notebook import pick
from nanogpt_lib.plot import diagrams

corpus = load_corpus()
workdir = Path("runs") / "05_training_at_scale"  # this notebook's run folders, beside it (git-ignored)
shutil.rmtree(workdir, ignore_errors=True)  # start from nothing each time the notebook runs

# %% [markdown]
# ## One optimizer step
#
# The picture below is everything this notebook adds to the loop of notebook 04. Each process (a *rank*;
# one per GPU) draws its own batches, splits each step into micro-batches, and adds up their gradients; the
# ranks then average their gradients (*all-reduce*), and every rank applies the same AdamW update, so the
# copies of the model stay identical. With one process and one micro-batch it is the plain loop.

# %%
diagrams.training_step(world_size=2, accum_steps=4)

# %% [markdown]
# ### The AdamW update
#
# For a parameter $\theta$ with gradient $g_t$ at step $t$, Adam keeps two running averages: the
# *momentum* $m_t$ (the mean gradient) and $v_t$ (the mean squared gradient, a per-parameter scale):
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 .$$
#
# Both start at zero, so early on they are too small; dividing by $1-\beta^t$ corrects that bias:
# $\hat m_t = m_t / (1-\beta_1^t)$, $\hat v_t = v_t / (1-\beta_2^t)$. The step is
#
# $$\theta_t = \theta_{t-1} - \eta_t \left( \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\, \theta_{t-1} \right).$$
#
# Dividing by $\sqrt{\hat v_t}$ gives every parameter a step of about $\eta_t$ whatever the size of its
# gradients. The last term is **decoupled weight decay** (the "W" of AdamW): it shrinks the weights towards
# zero by a fraction $\eta_t \lambda$ per step, separately from the gradient. `train` applies it to the weight
# matrices only, not to biases and LayerNorm gains. The cell writes the update by hand and checks it against
# `torch.optim.AdamW`, which `train` uses.

# %%
torch.manual_seed(0)
theta0, grads = torch.randn(6), [torch.randn(6) for _ in range(5)]
lr, (beta1, beta2), eps, wd = 1e-2, (0.9, 0.99), 1e-8, 0.1

theta, m, v = theta0.clone(), torch.zeros(6), torch.zeros(6)
for t, g in enumerate(grads, start=1):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    theta = theta - lr * (m_hat / (v_hat.sqrt() + eps) + wd * theta)

p = torch.nn.Parameter(theta0.clone())
opt = torch.optim.AdamW([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
for g in grads:
    p.grad = g.clone()
    opt.step()
print("largest difference, by hand vs torch.optim.AdamW:", (theta - p.detach()).abs().max().item())
torch.testing.assert_close(theta, p.detach())

# %% [markdown]
# ### Gradient clipping
#
# The "clip" box of the picture comes just before the update. One unlucky batch can produce a gradient many times
# longer than usual, and a step along it can undo much of what the model learned. So `train` first measures the
# length of the whole gradient, every parameter's entries together (the *global norm*), and if it is longer
# than a threshold $c$ (`grad_clip`, 1.0 by default; 0 turns clipping off) it scales every gradient down by
# the same factor:
#
# $$\lVert g \rVert = \sqrt{\sum_{p} \sum_{i} g_{p,i}^2}, \qquad
# g \leftarrow g \cdot \min\!\left(1, \frac{c}{\lVert g \rVert}\right).$$
#
# The direction is kept; only the length is capped at $c$, and gradients shorter than $c$ are left alone.
# `train` clips after the micro-batches are accumulated and the ranks averaged (and, with float16, after the
# loss scale is divided out), with `torch.nn.utils.clip_grad_norm_`. By hand, on the gradients of a real model
# (a freshly initialized GPT on one batch of Shakespeare), for three thresholds:

# %%
torch.manual_seed(0)
clip_model = GPT(nanogpt_lib.GPTConfig(vocab_size=corpus.vocab_size, block_size=64, n_layer=2, n_head=2, n_embd=64))
xb, yb = get_batch(corpus.train, 16, 64, torch.Generator().manual_seed(0))
clip_model(xb, yb)[1].backward()
clip_grads = [p.grad.clone() for p in clip_model.parameters()]


def global_norm(tensors):
    return torch.sqrt(sum((t**2).sum() for t in tensors)).item()


norm = global_norm(clip_grads)
print(f"global gradient norm over {len(clip_grads)} tensors: {norm:.4f}")
for c in (10 * norm, 1.0, norm / 4):
    scale = min(1.0, c / norm)
    after = global_norm([g * scale for g in clip_grads])
    print(f"c = {c:7.4f}: factor min(1, c/|g|) = {scale:.4f}, norm after = {after:.4f}")

# torch.nn.utils.clip_grad_norm_ (what train calls) returns the norm before clipping and clips in place
c = norm / 4
before = torch.nn.utils.clip_grad_norm_(clip_model.parameters(), c).item()
print(f"clip_grad_norm_ to c = {c:.4f}: norm before {before:.4f}, "
      f"after {global_norm([p.grad for p in clip_model.parameters()]):.4f}")
assert math.isclose(before, norm, rel_tol=1e-5)
for p, g in zip(clip_model.parameters(), clip_grads):
    torch.testing.assert_close(p.grad, g * min(1.0, c / norm), rtol=1e-5, atol=1e-8)

# %% [markdown]
# ## Learning-rate warmup and cosine decay
#
# At the start, Adam's estimates $\hat m, \hat v$ are poor and the weights are random: large steps can throw
# the model somewhere it never recovers from. So the learning rate **warms up** linearly over the first $W$
# steps (`warmup_iters`). Later, smaller steps let the model settle into a minimum, so it **decays** along
# half a cosine to $\eta_{\min}$ (`min_lr`) at step $S$ (`lr_decay_iters`, or `max_iters` when that is 0):
#
# $$\eta_t = \begin{cases}
#   \eta_{\max}\, \dfrac{t+1}{W+1} & t < W, \\[1ex]
#   \eta_{\min} + \tfrac12\,(\eta_{\max} - \eta_{\min}) \Big(1 + \cos\big(\pi\, \tfrac{t - W}{S - W}\big)\Big) & W \le t < S, \\[1ex]
#   \eta_{\min} & t \ge S.
# \end{cases}$$
#
# `lr_at(step, cfg)` is that schedule:

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
# `data.json` (which text it trained on, and the sizes of its split), `history.json` and `loss.png`. A
# checkpoint holds everything needed to continue *exactly*: weights, optimizer moments ($m$ and $v$ above),
# step, history, and the state of every random generator (batches, dropout).
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
print("run folder:", sorted(p.name for p in (workdir / "resumed").iterdir() if not p.name.startswith(".")))
ckpt = load_checkpoint(workdir / "resumed" / "ckpt.pt")
print(f"checkpoint at step {ckpt['step']}, keys: {', '.join(ckpt)}")

# %% [markdown]
# Now resume the interrupted run up to the full length:

# %%
resumed = train(full, corpus, out_dir=workdir / "resumed", resume=True, progress=False)
diff = max((a - b).abs().max().item() for a, b in zip(straight.model.parameters(), resumed.model.parameters()))
print(f"largest weight difference, straight vs interrupted + resumed: {diff}")

# %% [markdown]
# A difference of zero means the resumed run is the *same* run. The command line does the same with
# `nanogpt train --out-dir runs/cpu --resume`, and Ctrl-C during training saves a checkpoint first.
#
# ## Mixed precision
#
# A normal floating-point number stores a sign $s$, an exponent $e$ and $p$ bits $f_1 \dots f_p$ of mantissa:
#
# $$x = (-1)^s \cdot 2^{\,e - \text{bias}} \cdot (1.f_1 f_2 \dots f_p)_2 .$$
#
# The leading 1 is implicit, so the mantissa has $p + 1$ significant bits: neighbouring numbers are a factor
# $2^{-p}$ apart, rounding makes a relative error of at most $2^{-(p+1)}$, and that is about $(p+1)\log_{10} 2$
# decimal digits. The exponent bits set the range. The table reads $p$ off `torch.finfo` (whose `eps` is
# $2^{-p}$):

# %%
print(f"{'dtype':16}{'bits':>5}{'exponent':>9}{'mantissa p':>11}{'digits':>8}{'largest':>11}{'smallest normal':>17}")
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    info = torch.finfo(dtype)
    p_bits = round(-math.log2(info.eps))
    print(f"{str(dtype):16}{info.bits:>5}{info.bits - 1 - p_bits:>9}{p_bits:>11}{(p_bits + 1) * math.log10(2):>8.1f}"
          f"{info.max:>11.3g}{info.tiny:>17.3g}")
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    print(f"{str(dtype):16} 1/3 is stored as {torch.tensor(1 / 3, dtype=dtype).item():.8f}")

# %% [markdown]
# `bfloat16` keeps float32's exponent, so it has the same range, but only a few mantissa bits (the table's
# $p$ and digits): coarse, but nothing overflows or underflows that would not in float32. `float16` has a few
# more mantissa bits and a far smaller range. With `dtype="bfloat16"`, `train` runs the forward pass under
# `torch.autocast`: matrix multiplications in bfloat16, while the weights, the optimizer and its moments stay
# float32. Activations in bfloat16 take half the memory (16 bits instead of 32), and GPUs with tensor cores
# multiply bfloat16 matrices much faster than float32 ones; on a CPU the speed depends on the processor (the
# runs below measure it here).

# %%
a, b = torch.randn(64, 64), torch.randn(64, 64)
with torch.autocast("cpu", dtype=torch.bfloat16):
    print("inside autocast, a @ b is", (a @ b).dtype, "while a stays", a.dtype)

# %% [markdown]
# ### Loss scaling for float16
#
# Gradients are often tiny, and float16 cannot hold numbers much below its smallest normal (its subnormals
# go a little lower, then everything rounds to zero): small gradients *underflow*. The fix is to scale the loss
# by a large factor $S$ before backward, so every gradient is computed as $S\,g$ (far from the underflow
# region), and to divide by $S$ in float32 before the optimizer step:
#
# $$\nabla_\theta \big(S\,\mathcal{L}\big) = S\, \nabla_\theta \mathcal{L}, \qquad g = \frac{\mathrm{fl}_{16}(S\, g)}{S}.$$
#
# If a scaled gradient overflows to `inf`, the step is skipped and $S$ halved; after a run of good steps $S$
# is doubled again. That is `torch.amp.GradScaler`, which `train` uses with `dtype="float16"` (bfloat16 has
# float32's range and needs none):

# %%
g = torch.tensor([1e-3, 1e-6, 1e-8, 1e-9])  # float32 gradients, large to tiny
S = 2.0**16
for label, values in (("float16 as is", g.half()), ("scaled by S = 2^16, in float16", (g * S).half()),
                      ("scaled, then divided by S in float32", (g * S).half().float() / S)):
    print(f"{label:38}", "  ".join(f"{v:9.3g}" for v in values.tolist()))

# %% [markdown]
# ## Gradient accumulation
#
# When a batch does not fit in memory, split it into $K$ micro-batches (`grad_accum_steps`). The loss of a
# batch of $B$ windows is a mean, so it is the mean of the micro-batches' mean losses $\mathcal{L}_k$, and
# gradients are linear:
#
# $$\mathcal{L} = \frac{1}{B}\sum_{i=1}^{B} \ell_i = \frac{1}{K}\sum_{k=1}^{K} \mathcal{L}_k
# \qquad\Longrightarrow\qquad \nabla \mathcal{L} = \sum_{k=1}^{K} \nabla\!\left(\frac{\mathcal{L}_k}{K}\right).$$
#
# So: run backward on each micro-batch with its loss divided by $K$ (PyTorch *adds* each backward's
# gradients into `.grad`), and step the optimizer once. With $R$ processes the same identity holds one level
# up: the all-reduce averages the ranks' gradients, $g = \frac{1}{R}\sum_r g_r$, so a step sees
# `batch_size × grad_accum_steps × world_size` windows. First a proof in numbers, then a run.

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
# 32, and float32 with 4 accumulated micro-batches of 8 (32 windows per step). The batch sampler draws
# its random starting points from one generator, so four draws of 8 are the same 32 windows as one draw
# of 32 (the Check verifies it): the accumulated run computes the float32 run's steps up to rounding (about
# 1e-8 in the gradients, as above).
#
# One more thing must match for the val losses to compare: the evaluation. `estimate_loss` scores
# `eval_iters` batches of `batch_size` windows, so with batches of 8 it would score a quarter as many windows
# as the runs with batches of 32, a different sample of the validation text, and the val losses would differ
# for that reason alone. The accumulated run therefore evaluates 4 times as many batches (`eval_iters`), which
# draws exactly the same windows (the cell checks it). Each run is timed once, so the machine's load also moves
# the tokens/s.

# %%
base = notebook_config("cpu", n_layer=2, n_embd=64, block_size=64, max_iters=200, eval_interval=50,
                       warmup_iters=20, sample_tokens=0)
variants = {
    "float32, batch 32": base,
    "bfloat16, batch 32": dataclasses.replace(base, dtype="bfloat16"),
    "float32, 4 x 8 accumulated": dataclasses.replace(base, batch_size=base.batch_size // 4, grad_accum_steps=4,
                                                      eval_iters=4 * base.eval_iters),
}


def eval_windows(cfg):
    """The validation windows `estimate_loss` scores for `cfg` (same generator, same draws)."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    return torch.cat([get_batch(corpus.val, cfg.batch_size, cfg.block_size, gen)[0] for _ in range(cfg.eval_iters)])


accum_cfg = variants["float32, 4 x 8 accumulated"]
unscaled = dataclasses.replace(accum_cfg, eval_iters=base.eval_iters)
same_windows = torch.equal(eval_windows(base), eval_windows(accum_cfg))
print(f"evaluation: batch 32 scores {len(eval_windows(base))} windows; 4 x 8 with eval_iters x 4 scores "
      f"{len(eval_windows(accum_cfg))}, the same windows: {same_windows} (with eval_iters unchanged it would score "
      f"{len(eval_windows(unscaled))})")
runs = {name: train(cfg, corpus, progress=False, verbose=False).history for name, cfg in variants.items()}
speed = {name: statistics.median(h.tokens_per_sec) for name, h in runs.items()}
for name, h in runs.items():
    print(f"{name:28} val loss {h.eval_val_loss[-1]:.3f}, {speed[name]:,.0f} tokens/s (median)")
ratio = speed["bfloat16, batch 32"] / speed["float32, batch 32"]
verdict = "faster than" if ratio > 1.05 else "slower than" if ratio < 0.95 else "about as fast as"
print(f"bfloat16 autocast ran {verdict} float32 on this machine ({ratio:.2f}x the tokens/s)")
accum_gap = abs(runs["float32, 4 x 8 accumulated"].eval_val_loss[-1] - runs["float32, batch 32"].eval_val_loss[-1])
print(f"accumulated vs batch 32, same evaluation windows: final val losses {accum_gap:.2g} apart")
fig = plot_runs(runs, title="Precision and accumulation")

# %% [markdown]
# What to look for: whether the three curves lie on top of each other. bfloat16 and accumulation change
# *how* a step is computed, not *what* is learned; the Check below asserts that the bfloat16 run ends within
# 0.1 nats of float32. The accumulated run does the float32 run's steps, scored on the same windows: what is
# left between their final val losses (the last printed line) is float32 rounding, grown over the run; the
# Check asserts it is small. One printed line says how bfloat16's speed compared on this machine.
#
# ## torchrun: several processes, one model
#
# `torchrun --nproc_per_node=N` starts N copies of the same script and tells each its `RANK` and
# `WORLD_SIZE` through environment variables. `train` then:
# - wraps the model in `DistributedDataParallel`: each rank computes gradients on **its own** batches
#   (the batch sampler is seeded with `seed + rank`), and backward **averages** the gradients across ranks,
#   so every copy takes the same step (the picture at the top);
# - syncs gradients only on the last micro-step of an accumulation (`no_sync`);
# - lets only rank 0 print, evaluate and write checkpoints.
#
# On GPUs, one process per GPU (NCCL); here, two CPU processes talking over gloo. `--standalone` lets the
# processes find each other on a free local port (without it torchrun takes port 29500, which another run
# on the same machine may hold):

# %%
steps = pick(real=60, fast=20)
command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "nanogpt_lib", "train", "--preset", "tiny", "--max_iters", str(steps), "--eval_interval", str(steps),
           "--out-dir", str(workdir / "ddp"), "--no-progress"]
print("$ torchrun --standalone --nproc_per_node=2 -m nanogpt_lib train --preset tiny ...")
ddp = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
print(ddp.stdout[-600:])
ddp_history = json.loads((workdir / "ddp" / "history.json").read_text())

# %% [markdown]
# The return code only says that the two processes ran. What the all-reduce computes is the identity of
# gradient accumulation one level up: rank $r$ computes the gradient $g_r$ of the mean loss over *its own* $B$
# windows, and the average $\frac{1}{R}\sum_r g_r$ is the gradient of the mean loss over all $R \cdot B$
# windows, a batch $R$ times bigger. By hand, with two "ranks" on this CPU, each holding half of the batch of
# 32 windows from the accumulation demo (the same model, so `big_batch` is the full batch's gradient):

# %%
rank_grads = []
for xr, yr in zip(x.chunk(2), y.chunk(2)):  # rank 0 and rank 1, 16 windows each
    model.zero_grad()
    model(xr, yr)[1].backward()
    rank_grads.append([p.grad.clone() for p in model.parameters()])
all_reduced = [(g0 + g1) / 2 for g0, g1 in zip(*rank_grads)]  # what DDP's all-reduce (mean) leaves on every rank
print("largest difference, mean of the 2 ranks' gradients vs the gradient of the batch of 32:",
      max((a - b).abs().max().item() for a, b in zip(all_reduced, big_batch)))

# %% [markdown]
# ## From the command line
#
# Everything in this notebook is what `nanogpt train` does. The `cpu` preset (warmup + cosine, AdamW, gradient
# clipping, a checkpoint at every evaluation in the run folder) trains with
#
# ```bash
# nanogpt train --preset cpu --out-dir runs/cpu          # Ctrl-C saves a checkpoint
# nanogpt train --preset cpu --out-dir runs/cpu --resume  # carries on exactly where it stopped
# ```
#
# It is a longer run than this notebook's demos, so it is shown here and not executed; notebook 09 can look
# inside the model it writes (its `RUN_FOLDER`).

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

# Accumulated gradients equal the big batch's; four draws of 8 windows are one draw of 32
for a, b in zip(big_batch, accumulated):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
one, four = BatchSampler(corpus.train, 32, 64, seed=0), BatchSampler(corpus.train, 8, 64, seed=0)
assert torch.equal(one()[0], torch.cat([four()[0] for _ in range(4)]))

# The accumulated run was scored on the same validation windows, and learned what the batch of 32 learned
assert same_windows
assert accum_gap < 0.01, accum_gap

# Averaging two ranks' gradients is the gradient of their two half-batches together
for a, b in zip(all_reduced, big_batch):
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)

# The bfloat16 run learned like float32
val = {name: h.eval_val_loss[-1] for name, h in runs.items()}
assert abs(val["bfloat16, batch 32"] - val["float32, batch 32"]) < 0.1, val

# The two-process run finished and rank 0 wrote one history of every step
assert ddp.returncode == 0, ddp.stderr[-2000:]
assert ddp_history["step"] == list(range(steps))
print("all checks passed")


# %% [markdown]
# ## Exercises
#
# **1. The schedule by hand.** Write `my_lr(step, cfg)`: the formula of "Learning-rate warmup and cosine
# decay", with $W$ = `cfg.warmup_iters`, $\eta_{\max}$ = `cfg.learning_rate`, $\eta_{\min}$ = `cfg.min_lr` and
# $S$ = `cfg.lr_decay_iters` (or `cfg.max_iters` when that is 0).

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


# %% nbgrader={"grade": true, "grade_id": "ex05-lr-schedule-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
cfg = get_config("cpu")
W, S = cfg.warmup_iters, cfg.lr_decay_iters or cfg.max_iters
assert math.isclose(my_lr(0, cfg), cfg.learning_rate / (W + 1)), \
    "warmup: step 0 should get learning_rate / (warmup_iters + 1): is the warmup eta_max (t + 1) / (W + 1)?"
assert math.isclose(my_lr(W, cfg), cfg.learning_rate), \
    "the rate should be at its peak learning_rate at step warmup_iters: does the cosine's progress start at W?"
assert math.isclose(my_lr(S, cfg), cfg.min_lr) and my_lr(S - 1, cfg) > cfg.min_lr, \
    "the cosine should come down to min_lr at step S, not 0: eta_min + (eta_max - eta_min) (1 + cos) / 2"
assert all(math.isclose(my_lr(s, cfg), cfg.min_lr) for s in range(S, S + 100)), \
    "after step S the rate should stay at min_lr: the cosine must not come back up"
short = dataclasses.replace(cfg, lr_decay_iters=cfg.max_iters // 2)
assert math.isclose(my_lr(short.lr_decay_iters, short), short.min_lr), \
    "with lr_decay_iters < max_iters the decay ends at lr_decay_iters (S), not at max_iters: is lr_decay_iters used?"
for name in ("cpu", "shakespeare_char", "tiny"):
    preset = get_config(name)
    for cfg in (preset, dataclasses.replace(preset, lr_decay_iters=preset.max_iters // 2)):
        for step in range(cfg.max_iters + 10):
            assert math.isclose(my_lr(step, cfg), lr_at(step, cfg), rel_tol=1e-9), \
                f"{name} (lr_decay_iters {cfg.lr_decay_iters}), step {step}: {my_lr(step, cfg)} != {lr_at(step, cfg)}"
print("my_lr matches lr_at, with and without lr_decay_iters")

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

# %% nbgrader={"grade": true, "grade_id": "ex05-read-checkpoint-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
saved = torch.load(workdir / "resumed" / "ckpt.pt", weights_only=True)
assert ckpt_step != half.max_iters, \
    f"step {half.max_iters} is the half run's checkpoint (`ckpt`, loaded before the resume): load ckpt.pt again"
assert ckpt_step == saved["step"] == full.max_iters, \
    f'ckpt_step = {ckpt_step}: it should be the checkpoint\'s own "step" entry (the step to resume from)'
assert not math.isclose(ckpt_best_val, min(saved["history"]["eval_train_loss"])), \
    "that is the best *training* loss: ckpt_best_val should be the best validation loss"
assert math.isclose(ckpt_best_val, saved["best_val_loss"]), \
    f"ckpt_best_val = {ckpt_best_val}: it should be the checkpoint's best_val_loss (the lowest validation loss)"
assert math.isclose(ckpt_best_val, min(resumed.history.eval_val_loss))
print("ckpt_step and ckpt_best_val are right")

# %% [markdown]
# **3. Experiment: where each format loses precision.** Write `round_trip_error(x, dtype)`: the relative error
# $|x - \hat x| / |x|$ of storing the float32 values `x` in `dtype` and reading them back
# ($\hat x$ = `x.to(dtype).float()`). Evaluate it for bfloat16 and float16 on the values `x` below, which
# sweep the magnitudes from $10^{-12}$ to $10^{12}$, and plot both errors against $|x|$ on log–log axes,
# marking each format's smallest normal and largest value (`torch.finfo`). Interpret: over which range is
# each format usable, how big is its error there (compare with $2^{-(p+1)}$ from the table), and what
# happens outside? Which of the two would you trust with raw gradients, and why does float16 need loss scaling?

# %%
x = torch.logspace(-12, 12, 241) * (1 + 0.5 * torch.rand(241, generator=torch.Generator().manual_seed(0)))

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex05-round-trip-error", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def round_trip_error(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor: ...
### BEGIN SOLUTION
def round_trip_error(x, dtype):
    return (x - x.to(dtype).float()).abs() / x.abs()


fig, ax = plt.subplots(figsize=(9, 3.6))
for dtype, color in ((torch.bfloat16, "C0"), (torch.float16, "C1")):
    info = torch.finfo(dtype)
    ax.loglog(x, round_trip_error(x, dtype).clamp(max=10), ".", color=color, label=str(dtype))
    ax.axvspan(info.tiny, info.max, color=color, alpha=0.08)
    ax.axhline(info.eps / 2, color=color, lw=0.8, ls="--")
ax.set_xlim(x.min() / 3, x.max() * 3)
ax.set(xlabel="|x|", ylabel="relative error (capped at 10)",
       title="Round trip through bfloat16 and float16 (shaded: normal range; dashed: 2^-(p+1))")
ax.legend()
plt.show()
# Interpretation: inside its normal range each format's error stays below 2^-(p+1): about 0.4% for bfloat16,
# 0.05% for float16. bfloat16's range covers every magnitude here; float16 rounds values below its subnormals
# to 0 (error 1: a gradient vanishes) and overflows to inf above about 6.5e4. Raw gradients are often far below
# float16's range, so float16 needs loss scaling; bfloat16 trades precision for float32's range and needs none.
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex05-round-trip-error-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
assert torch.isfinite(round_trip_error(x, torch.bfloat16)).all(), \
    "bfloat16 has float32's range, so its error is finite for every x here: do you round through `dtype`?"
for dtype in (torch.bfloat16, torch.float16):
    err = round_trip_error(x, dtype)
    assert err.shape == x.shape, f"one error per value: shape {tuple(err.shape)}, expected {tuple(x.shape)}"
    assert not (err < 0).any(), "negative errors: take the absolute value |x - x_hat|"
    info = torch.finfo(dtype)
    normal = (x >= info.tiny) & (x <= info.max)
    assert (err[normal] <= info.eps / 2).all(), \
        f"{dtype}: too large an error inside the normal range: is it relative, divided by |x|?"
assert (round_trip_error(x[x < 1e-8], torch.float16) == 1).all(), \
    "float16 flushes tiny values to zero, so the relative error there is 1: divide by |x|, not by |x_hat|"
assert torch.isinf(round_trip_error(x[x > 1e5], torch.float16)).all(), "float16 overflows large values (error inf)"
print("round_trip_error is right")

# %% [markdown]
# ## What's next
#
# That completes the character-level GPT and the training tools around it. **06** replaces characters with
# **BPE** tokens, the tokenizer GPT-2 uses, and **07** loads GPT-2-format weights into the same `GPT` class.
