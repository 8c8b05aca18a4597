"""Checkpoint/resume: bit-exact continuation after SIGKILL, Ctrl-C/SIGTERM handling, refusals."""

import inspect
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nanogpt_lib import CheckpointError, get_config, load_checkpoint, train
from nanogpt_lib.checkpoint import FORMAT, REQUIRED_KEYS, VERSION, atomic_save, build_checkpoint

WORKER = Path(__file__).with_name("train_worker.py")


def run_worker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(WORKER), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_resume_after_sigkill_is_bit_exact(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert run_worker(full, 20).returncode == 0
    killed = run_worker(cut, 20, "--kill-at", 7)
    assert killed.returncode == -signal.SIGKILL
    assert load_checkpoint(cut / "ckpt.pt")["step"] == 6  # last checkpoint before the kill (every 3 steps)
    resumed = run_worker(cut, 20, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_checkpoint(full / "ckpt.pt"), load_checkpoint(cut / "ckpt.pt")
    assert a["step"] == b["step"] == 20
    assert a["history"]["train_loss"] == b["history"]["train_loss"]  # identical per-step losses
    assert len(b["history"]["train_loss"]) == 20
    assert a["history"]["eval_val_loss"] == b["history"]["eval_val_loss"]
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name


def test_checkpoint_holds_everything_needed(tmp_path, small_corpus):
    train(get_config("tiny", max_iters=4, eval_interval=2), small_corpus, out_dir=tmp_path, progress=False)
    ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    assert ckpt["step"] == 4 and ckpt["train_config"]["max_iters"] == 4
    assert set(ckpt["rng"]) >= {"torch_cpu", "torch_cuda", "sampler"}
    assert ckpt["optimizer"]["state"] and ckpt["tokenizer"]["kind"] == "char"
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "loss.png").is_file()
    assert (tmp_path / "history.json").is_file() and (tmp_path / "config.json").is_file()
    # The format lives in one place: what training writes is what build_checkpoint documents and load checks.
    documented = set(inspect.signature(build_checkpoint).parameters) | {"format", "version"}
    assert set(ckpt) == documented and set(REQUIRED_KEYS) <= documented
    assert ckpt["format"] == FORMAT and ckpt["version"] == VERSION
    assert ckpt["data"]["train_tokens"] == len(small_corpus.train)


def test_resume_can_extend_max_iters(tmp_path, small_corpus):
    train(get_config("tiny", max_iters=6), small_corpus, out_dir=tmp_path, progress=False)
    result = train(get_config("tiny", max_iters=10), small_corpus, out_dir=tmp_path, resume=True, progress=False)
    assert result.history.step == list(range(10))
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 10


def test_resume_with_other_shape_lists_the_fields(tmp_path, small_corpus):
    train(get_config("tiny", max_iters=2), small_corpus, out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="n_layer: 2 → 3; n_embd: 32 → 48"):
        train(get_config("tiny", max_iters=4, n_layer=3, n_embd=48), small_corpus, out_dir=tmp_path, resume=True,
              progress=False)


def test_existing_run_is_not_overwritten(tmp_path, small_corpus):
    train(get_config("tiny", max_iters=2), small_corpus, out_dir=tmp_path, progress=False)
    before = (tmp_path / "ckpt.pt").read_bytes()
    with pytest.raises(FileExistsError, match="--resume.*--force"):
        train(get_config("tiny", max_iters=3), small_corpus, out_dir=tmp_path, progress=False)
    assert (tmp_path / "ckpt.pt").read_bytes() == before
    train(get_config("tiny", max_iters=3), small_corpus, out_dir=tmp_path, force=True, progress=False)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 3


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_a_checkpoint", "pickle"])
def test_bad_checkpoint_is_named_and_run_folder_untouched(tmp_path, small_corpus, damage):
    train(get_config("tiny", max_iters=2), small_corpus, out_dir=tmp_path, progress=False)
    path = tmp_path / "ckpt.pt"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:2000])
    elif damage == "garbage":
        path.write_bytes(os.urandom(5000))
    elif damage == "not_a_checkpoint":
        torch.save({"weights": torch.zeros(3)}, path)
    else:  # a pickled object that weights_only=True must refuse to execute
        import pickle

        path.write_bytes(pickle.dumps(Path("/tmp")))
    before = snapshot(tmp_path)
    with pytest.raises(CheckpointError, match=str(path)):
        train(get_config("tiny", max_iters=4), small_corpus, out_dir=tmp_path, resume=True, progress=False)
    assert snapshot(tmp_path) == before


def test_resume_without_checkpoint_says_so(tmp_path, small_corpus):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        train(get_config("tiny"), small_corpus, out_dir=tmp_path, resume=True, progress=False)


def test_atomic_save_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    atomic_save({"a": torch.ones(2)}, path)
    original = path.read_bytes()

    def crash(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"a": torch.zeros(2)}, path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file left behind


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, small_corpus):
    from nanogpt_lib import GPT, TrainingDiverged

    cfg = get_config("tiny", max_iters=30, checkpoint_interval=5, log_interval=5)
    model = GPT(cfg.model_config(small_corpus.vocab_size))
    calls = {"n": 0}

    def poison(module, inputs, output):  # from the 13th forward pass on, the logits are NaN
        calls["n"] += 1
        return output * float("nan") if calls["n"] > 12 else output

    model.lm_head.register_forward_hook(poison)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 12"):
        train(cfg, small_corpus, model=model, out_dir=tmp_path, progress=False)
    ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    assert ckpt["step"] == 10
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_says_how_to_resume(tmp_path, sig):
    """SIGTERM (a closing runtime) and SIGINT (Ctrl-C) both stop after a step, save, and print the way back."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "nanogpt_lib", "train", "--preset", "tiny", "--max_iters", "100000",
           "--checkpoint_interval", "20", "--out-dir", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 120
    while not (out / "ckpt.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, output  # 130 for Ctrl-C, 143 for SIGTERM, as the shell reports them
    assert f"{sig.name} received" in output and f"--out-dir {out} --resume" in output
    step = load_checkpoint(out / "ckpt.pt")["step"]
    assert step > 0
    resumed = subprocess.run([sys.executable, "-m", "nanogpt_lib", "train", "--out-dir", str(out), "--resume",
                              "--max_iters", str(step + 5), "--no-progress"], capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(out / "ckpt.pt")["step"] == step + 5
