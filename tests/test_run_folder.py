"""Run folders never lose or mix work; the corpus asked for is the corpus trained on; every mistake a user can
make with the command line gets one message (exit 2) or a quiet stop (exit 130 for Ctrl-C, 143 for SIGTERM),
never a traceback."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nanogpt_lib import GPT, CharTokenizer, GPTConfig, get_config, load_checkpoint, load_corpus, train
from nanogpt_lib.checkpoint import LOCK_FILE, RunFolder, RunLockedError
from nanogpt_lib.cli import main

HERE = Path(__file__).parent
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
TINY = ["--preset", "tiny", "--no-progress"]


def nanogpt(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nanogpt_lib", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def with_fault(fault: str, n: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "cli_worker.py"), fault, str(n), "--", *args],
                          capture_output=True, text=True, timeout=300, env=ENV)


def run_files(folder: Path) -> dict[str, bytes]:
    """The run's own files and their bytes (the lock file's content names the last holder: left out)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != LOCK_FILE}


def one_clean_error(done: subprocess.CompletedProcess | tuple, expected_status: int = 2) -> str:
    assert done.returncode == expected_status, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done.stderr


# ------------------------------------------------------------------------------------------------ --force
def test_force_with_a_config_that_fails_leaves_the_old_run_intact(tmp_path, small_corpus):
    run = tmp_path / "run"
    train(get_config("tiny", max_iters=4, eval_interval=2), small_corpus, out_dir=run, progress=False)
    (run / "notes.txt").write_text("my notes")
    before = run_files(run)
    for bad in (["--init_from", str(tmp_path / "no-such-model")], ["--data_dir", str(tmp_path / "missing")]):
        if bad[0] == "--data_dir":
            (tmp_path / "missing").mkdir()
            (tmp_path / "missing" / "meta.json").write_text("{not json")
        done = nanogpt("train", *TINY, "--out-dir", str(run), "--force", *bad)
        assert done.returncode == 2, done.stderr
        assert run_files(run) == before  # ckpt, best, history, loss.png, config, tokenizer, notes: all unchanged


def test_force_replaces_only_the_runs_own_files(tmp_path, small_corpus):
    run = tmp_path / "run"
    train(get_config("tiny", max_iters=4, eval_interval=2), small_corpus, out_dir=run, progress=False)
    (run / "notes.txt").write_text("my notes")
    (run / "plots").mkdir()
    (run / "plots" / "mine.png").write_bytes(b"png")
    train(get_config("tiny", max_iters=3, eval_interval=100, checkpoint_interval=1), small_corpus, out_dir=run,
          force=True, progress=False)
    assert load_checkpoint(run / "ckpt.pt")["step"] == 3
    assert json.loads((run / "config.json").read_text())["max_iters"] == 3
    assert (run / "notes.txt").read_text() == "my notes" and (run / "plots" / "mine.png").read_bytes() == b"png"
    # the old run's best.pt (step 4) went at the new run's first checkpoint; the new one wrote its own
    assert load_checkpoint(run / "best.pt")["step"] == 3


# ------------------------------------------------------------------------------------------------- the lock
def wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert path.exists(), f"{path} did not appear"


def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "nanogpt_lib", "train", *TINY, "--max_iters", "100000",
                              "--checkpoint_interval", "10", "--out-dir", str(run)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_for(run / "ckpt.pt")
        second = nanogpt("train", *TINY, "--max_iters", "5", "--out-dir", str(run), "--force")
        message = one_clean_error(second)
        assert f"{run} is in use by a training run (pid {first.pid}" in message
        # reading the folder while it is trained works: sample reads the last complete checkpoint
        sampled = nanogpt("sample", "--out-dir", str(run), "--max-new-tokens", "20", "--checkpoint", "last")
        assert sampled.returncode == 0, sampled.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert first.returncode == 143  # 128 + SIGTERM
    assert json.loads((run / "config.json").read_text())["max_iters"] == 100000  # the first run's, not mixed
    assert load_checkpoint(run / "ckpt.pt")["train_config"]["max_iters"] == 100000


def test_the_lock_dies_with_its_process(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "nanogpt_lib", "train", *TINY, "--max_iters", "100000",
                             "--checkpoint_interval", "10", "--out-dir", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    wait_for(run / "ckpt.pt")
    proc.kill()  # kill -9: no clean-up runs
    proc.wait()
    resumed = nanogpt("train", "--out-dir", str(run), "--resume", "--max_iters", "12", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr


def test_run_folder_lock_in_one_process(tmp_path):
    with RunFolder(tmp_path) as first:
        first.open()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            RunFolder(tmp_path).open()
    with RunFolder(tmp_path) as again:  # released on close
        again.open()


# ------------------------------------------------------------------------------------ signals, disks, litter
def test_second_ctrl_c_during_a_save_stops_quietly_and_keeps_the_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    done = with_fault("sigint-in-save", 7, "train", *TINY, "--max_iters", "100", "--checkpoint_interval", "5",
                      "--out-dir", str(run))
    message = one_clean_error(done, 130)
    assert "second SIGINT: stopped at once" in message and "last complete checkpoint is kept" in message
    assert load_checkpoint(run / "ckpt.pt")["step"] == 5  # the save at step 7 was abandoned, step 5's stays
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp")] == []


def test_ctrl_c_during_start_up_has_no_traceback(tmp_path):
    done = with_fault("sigint-at-startup", 0, "train", *TINY, "--out-dir", str(tmp_path / "run"))
    assert "interrupted" in one_clean_error(done, 130)


def test_signals_while_the_process_exits_stay_quiet(tmp_path):
    """After the first Ctrl-C has saved, a Ctrl-C and a SIGTERM during shutdown change nothing: exit 130, no
    traceback."""
    run = tmp_path / "run"
    done = with_fault("signals-at-exit", 3, "train", *TINY, "--max_iters", "100", "--out-dir", str(run))
    assert done.returncode == 130, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert "SIGINT received: stopped after step 3" in done.stdout
    assert load_checkpoint(run / "ckpt.pt")["step"] == 3


def test_a_full_disk_keeps_the_previous_checkpoint_and_no_temp_file(tmp_path):
    run = tmp_path / "run"
    done = with_fault("enospc-in-save", 2, "train", *TINY, "--max_iters", "20", "--checkpoint_interval", "5",
                      "--out-dir", str(run))
    message = one_clean_error(done)
    assert "the disk is full" in message and "ckpt.pt" in message
    assert f"the last complete checkpoint {run / 'ckpt.pt'} was kept" in message
    assert load_checkpoint(run / "ckpt.pt")["step"] == 5
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp")] == []


SMALL_DISK = ["train", "--preset", "tiny", "--n_layer", "4", "--n_embd", "64", "--n_head", "4",
              "--checkpoint_interval", "10", "--no-progress"]


def small_file_system_works() -> bool:
    """Can this machine mount a tmpfs in a private mount namespace (root, or user namespaces allowed)?"""
    try:
        return subprocess.run(["unshare", "-m", "-r", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.parametrize("size_kb", [600, 4500])  # the first checkpoint (2.5 MB) does not fit / the second does not
def test_a_real_full_disk_gives_one_message_and_keeps_the_last_checkpoint(tmp_path, size_kb):
    """`nanogpt train` on a small real file system (a tmpfs): the disk fills while torch.save writes, and its
    zip writer fails a second time on closing; the user still gets one line naming the disk, exit 2. Where no
    tmpfs can be mounted, a full disk is injected instead at the same byte (the write that crosses the size)."""
    disk, run = tmp_path / "disk", tmp_path / "disk" / "run"
    disk.mkdir()
    if small_file_system_works():
        # The tmpfs lives as long as the private mount namespace: copy the run folder out before it goes.
        script = (f'd=$1; py=$2; shift 2; mount -t tmpfs -o size={size_kb}k tmpfs "$d" && '
                  '"$py" -m nanogpt_lib "$@" --out-dir "$d/run"; status=$?; cp -a "$d/run" "$0"; exit $status')
        done = subprocess.run(["unshare", "-m", "-r", "sh", "-c", script, str(tmp_path / "after"), str(disk),
                               sys.executable, *SMALL_DISK], capture_output=True, text=True, timeout=300, env=ENV)
        run = tmp_path / "after"
    else:
        done = with_fault("disk-of-kb", size_kb, *SMALL_DISK, "--out-dir", str(run))
    message = one_clean_error(done)
    assert f"cannot use {disk / 'run' / 'ckpt.pt'}: the disk is full" in message and message.count("\n") == 1
    if size_kb == 600:
        assert "no checkpoint had been written yet" in message
        assert not (run / "ckpt.pt").exists()
    else:
        assert f"the last complete checkpoint {disk / 'run' / 'ckpt.pt'} was kept" in message
        assert load_checkpoint(run / "ckpt.pt")["step"] == 10
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp")] == []


def test_kill_during_a_checkpoint_write_leaves_no_litter_after_resume(tmp_path):
    run = tmp_path / "run"
    killed = with_fault("kill-in-save", 3, "train", *TINY, "--max_iters", "8", "--checkpoint_interval", "1",
                        "--out-dir", str(run))
    assert killed.returncode == -signal.SIGKILL
    stale = [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert stale and all(name.startswith(".ckpt.pt.") for name in stale)  # the half-written checkpoint
    (run / ".notes.tmp").write_text("not ours")
    resumed = nanogpt("train", "--out-dir", str(run), "--resume", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(run / "ckpt.pt")["step"] == 8
    assert sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) == [".notes.tmp"]


@pytest.mark.parametrize("where", ["file", "under_file", "sys"])
def test_unusable_out_dir_gets_one_message(tmp_path, where):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = {"file": blocker, "under_file": blocker / "run", "sys": Path("/sys/nanogpt-test-run")}[where]
    message = one_clean_error(nanogpt("train", *TINY, "--max_iters", "2", "--out-dir", str(out)))
    assert f"cannot use {out}" in message  # names the path and says what to do
    assert message.count("\n") == 1  # one line


def test_absurd_block_size_is_refused_before_it_hangs(tmp_path):
    t0 = time.time()
    message = one_clean_error(nanogpt("train", *TINY, "--block_size", "100000", "--out-dir", str(tmp_path / "r")))
    assert "GiB" in message and "block_size" in message
    assert time.time() - t0 < 120  # not a ten-minute step


def test_a_step_of_several_minutes_is_announced(tmp_path):
    """GPT-2 small's shape with 32 × 2 windows of 1024 characters per step: it fits in memory, but one step
    takes minutes on a CPU, so the user is told before the first step starts (and Ctrl-C still works)."""
    proc = subprocess.Popen([sys.executable, "-m", "nanogpt_lib", "train", "--preset", "gpt2", "--tokenizer", "char",
                             "--dtype", "float32", "--batch_size", "2", "--grad_accum_steps", "32", "--max_iters", "1",
                             "--out-dir", str(tmp_path / "run"), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        line = proc.stderr.readline()
    finally:
        proc.kill()
        proc.wait()
    assert line.startswith("nanogpt: warning: one training step will take about") and "minutes" in line


# --------------------------------------------------------------------------------------- the corpus asked for
def test_the_corpus_named_is_the_corpus_trained_on(tmp_path, monkeypatch):
    import nanogpt_lib.data as data

    monkeypatch.setattr(data, "data_root", lambda: tmp_path / "data")
    assert load_corpus().vocab_size == 65  # NANOGPT_DATA names Tiny Shakespeare: data/shakespeare_char
    small = tmp_path / "small.txt"
    small.write_text("abcab " * 2000)
    monkeypatch.setenv("NANOGPT_DATA", str(small))
    corpus = load_corpus()  # the Shakespeare token files exist, but another text was asked for
    assert corpus.vocab_size == 4 and len(corpus.train) + len(corpus.val) == len("abcab " * 2000)
    assert corpus.source["path"] == str(small.resolve()) and "small.txt" in corpus.describe()
    # a folder prepared by an older version (no provenance recorded) is prepared again, not trusted
    folder = data.default_data_dir("char", corpus.source["sha256"], "small")
    meta = json.loads((folder / "meta.json").read_text())
    del meta["source"]
    meta["vocab_size"] = 999
    (folder / "meta.json").write_text(json.dumps(meta))
    assert load_corpus().vocab_size == 4
    assert json.loads((folder / "meta.json").read_text())["source"]["sha256"] == corpus.source["sha256"]
    # a data_dir named explicitly together with another input text is refused, not silently used
    other = tmp_path / "other.txt"
    other.write_text("xyz " * 100)
    with pytest.raises(ValueError, match="was prepared from .*small.txt, not from"):
        load_corpus(folder, input_path=other)


def test_runs_record_their_data(tmp_path, small_corpus):
    result = train(get_config("tiny", max_iters=2), small_corpus, out_dir=tmp_path, progress=False)
    recorded = json.loads((tmp_path / "data.json").read_text())
    assert recorded["train_tokens"] == len(small_corpus.train) and recorded["vocab_size"] == 65
    assert load_checkpoint(tmp_path / "ckpt.pt")["data"] == recorded
    assert result.history.step == [0, 1]


def test_directory_as_input_is_named_as_such(tmp_path, capsys):
    assert main(["prepare", "--input", str(tmp_path), "--data-dir", str(tmp_path / "d")]) == 2
    assert "is a directory, not a file" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ sampling settings
BAD_SAMPLING = [
    (dict(temperature=-1.0), "temperature must be a finite number >= 0"),
    (dict(temperature=float("nan")), "temperature must be a finite number >= 0"),
    (dict(temperature=float("inf")), "temperature must be a finite number >= 0"),
    (dict(top_k=0), "top_k must be a whole number >= 1"),
    (dict(top_p=0.0), "top_p must be in \\(0, 1\\]"),
    (dict(top_p=1.5), "top_p must be in \\(0, 1\\]"),
    (dict(max_new_tokens=-1), "max_new_tokens must be a whole number >= 0"),
]


@pytest.fixture(scope="module")
def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8)).eval()


@pytest.mark.parametrize("kwargs, message", BAD_SAMPLING)
def test_generate_refuses_bad_sampling_settings(tiny_gpt, kwargs, message):
    settings = dict(max_new_tokens=3, **kwargs) if "max_new_tokens" not in kwargs else kwargs
    with pytest.raises(ValueError, match=message):
        tiny_gpt.generate(torch.zeros(1, 1, dtype=torch.long), **settings)


@pytest.mark.parametrize("prompt, message", [
    (torch.zeros(3, dtype=torch.long), "shape \\(batch, tokens\\).*unsqueeze"),
    (torch.zeros(1, 3), "integer token ids"),
    (torch.tensor([[1, 10]]), "token ids must be in \\[0, 10\\)"),
    (torch.tensor([[-1, 2]]), "token ids must be in \\[0, 10\\)"),
])
def test_generate_refuses_bad_prompts(tiny_gpt, prompt, message):
    with pytest.raises(ValueError, match=message):
        tiny_gpt.generate(prompt, 2)


@pytest.mark.parametrize("option, value, message", [
    ("--top-k", "0", "top_k must be"), ("--top-p", "0", "top_p must be"),
    ("--temperature", "nan", "temperature must be"), ("--temperature", "-0.5", "temperature must be"),
    ("--num-samples", "0", "num_samples must be"), ("--max-new-tokens", "-3", "max_new_tokens must be"),
])
def test_sample_command_refuses_bad_settings(tmp_path, capsys, option, value, message):
    assert main(["sample", "--init-from", str(tmp_path), option, value]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_char_decode_refuses_ids_outside_the_vocabulary():
    tok = CharTokenizer("abc")
    assert tok.decode([0, 2]) == "ac"
    for bad in ([3], [-1]):
        with pytest.raises(ValueError, match="outside this vocabulary of 3"):
            tok.decode(bad)


def test_nan_before_the_first_checkpoint_does_not_claim_one_was_kept(tmp_path, small_corpus):
    from nanogpt_lib import TrainingDiverged

    cfg = get_config("tiny", max_iters=30, log_interval=5)
    model = GPT(cfg.model_config(small_corpus.vocab_size))
    model.lm_head.register_forward_hook(lambda m, i, out: out * float("nan"))
    with pytest.raises(TrainingDiverged, match="no checkpoint had been written yet"):
        train(cfg, small_corpus, model=model, out_dir=tmp_path, progress=False)
    assert not (tmp_path / "ckpt.pt").exists()
