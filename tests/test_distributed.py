"""DDP under torchrun on CPU (gloo, 2 processes): gradients are averaged, rank 0 alone writes, resume works.

The reference for "gradients are really averaged" is a plain single-process loop that trains on one big
batch made of every rank's micro-batches (rank r draws from a generator seeded `seed + r`, as `train`
does). If DDP did not all-reduce, or accumulated wrongly, rank 0's weights would drift away from it.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nanogpt_lib import BatchSampler, TrainConfig, load_checkpoint, load_prepared, lr_at, prepare
from nanogpt_lib.train import build_model, make_optimizer

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")

WORLD = 2
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A small prepared character corpus (synthetic, so the test needs no download)."""
    root = tmp_path_factory.mktemp("ddp")
    rng = random.Random(0)
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler", "mind"]
    text = "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(800))
    (root / "input.txt").write_text(text)
    prepare(root / "data", root / "input.txt")
    return root / "data"


def torchrun(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Launch `args` on 2 CPU processes with the same Python that runs the tests."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def reference_weights(cfg: TrainConfig, data_dir: Path) -> dict[str, torch.Tensor]:
    """One process, one batch of WORLD × grad_accum_steps × batch_size windows per step, no DDP."""
    corpus = load_prepared(data_dir)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, corpus.vocab_size)
    optimizer = make_optimizer(model, cfg, "cpu")
    samplers = [BatchSampler(corpus.train, cfg.batch_size, cfg.block_size, cfg.seed + r) for r in range(WORLD)]
    for step in range(cfg.max_iters):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        # each rank's micro-batches in the order that rank draws them
        x, y = (torch.cat(t) for t in zip(*[s() for s in samplers for _ in range(cfg.grad_accum_steps)]))
        model(x, y)[1].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model.state_dict()


def assert_matches_reference(ckpt: dict, data_dir: Path) -> None:
    expected = reference_weights(TrainConfig.from_dict(ckpt["train_config"]), data_dir)
    assert ckpt["model"].keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(ckpt["model"][name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_two_processes_average_gradients_like_one_big_batch(data_dir, tmp_path):
    out, fresh = tmp_path / "run", tmp_path / "data"
    # the token files do not exist yet: one process prepares them while the other waits
    run = torchrun("-m", "nanogpt_lib", "train", "--preset", "tiny", "--data_dir", str(fresh),
                   "--out-dir", str(out), "--max_iters", "6", "--grad_accum_steps", "2", "--eval_iters", "2",
                   "--seed", "7", "--no-progress", env={"NANOGPT_DATA": str(data_dir.parent / "input.txt")})
    assert run.returncode == 0, run.stderr[-3000:]
    assert (fresh / "train.bin").read_bytes() == (data_dir / "train.bin").read_bytes()
    # rank 0 alone logs, evaluates and reports; one run folder with one latest checkpoint
    assert run.stdout.count("step 6: train loss") == 1
    assert run.stdout.count("done: 6 steps") == 1
    assert sorted(p.name for p in out.iterdir()) == [
        ".nanogpt.lock", "best.pt", "ckpt.pt", "config.json", "data.json", "history.json", "loss.png", "tokenizer.json"]
    ckpt = load_checkpoint(out / "ckpt.pt")
    assert ckpt["step"] == 6
    # each rank has its own batches and dropout masks: the two saved random states differ
    first, second = ckpt["rng"]["ranks"]
    assert not torch.equal(first["sampler"], second["sampler"])
    assert not torch.equal(first["torch_cpu"], second["torch_cpu"])
    assert_matches_reference(ckpt, fresh)


def test_stop_on_one_rank_then_resume_matches_uninterrupted_run(data_dir, tmp_path):
    out = tmp_path / "run"
    # SIGTERM reaches rank 1 only, after step 2: both ranks agree at the next step, save once, exit 130
    stopped = torchrun(str(HERE / "ddp_train.py"), str(data_dir), str(out), "--max-iters", "6",
                       "--signal-rank", "1", "--signal-at", "2")
    assert stopped.returncode != 0, "the stopped run should report its interruption"
    assert "exitcode  : 130" in stopped.stderr, stopped.stderr[-3000:]
    assert "a signal (on another rank) received: stopped after step 3" in stopped.stdout  # rank 0's report
    assert "Resume with the same torchrun command" in stopped.stdout
    assert load_checkpoint(out / "ckpt.pt")["step"] == 3
    assert not (out / "history.json").exists()  # written only when a run completes

    resumed = torchrun("-m", "nanogpt_lib", "train", "--out-dir", str(out), "--resume", "--data_dir",
                       str(data_dir), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("resuming") == 1
    ckpt = load_checkpoint(out / "ckpt.pt")
    assert ckpt["step"] == 6
    assert ckpt["history"]["step"] == list(range(6))
    assert_matches_reference(ckpt, data_dir)
