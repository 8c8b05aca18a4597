"""Run the `nanogpt` command in a fresh process with one injected fault, for tests/test_run_folder.py.

    python tests/cli_worker.py FAULT N -- train --preset tiny ...

FAULT is one of:
- `sigint-in-save N`: Ctrl-C after step N, and a second Ctrl-C while that checkpoint is being written;
- `sigint-at-startup 0`: Ctrl-C while the corpus loads, before training has set up its signal handler;
- `kill-in-save N`: SIGKILL in the middle of writing the N-th checkpoint (a power cut; a temp file stays);
- `enospc-in-save N`: the disk is full when the N-th checkpoint is written;
- `disk-of-kb N`: the run folder is on a disk of N KiB: a write that would take more fails with ENOSPC (for
  machines where tests/test_run_folder.py cannot mount a real small file system);
- `signals-at-exit N`: Ctrl-C after step N, then, while the process shuts down (Python's exit callbacks,
  torch's among them), a Ctrl-C and a SIGTERM more, as from a user pressing keys while it exits.

The command runs through `entry()`, the `nanogpt` executable's own start, signal handling included.
"""

import atexit
import errno
import importlib
import os
import signal
import sys
import time

import torch

from nanogpt_lib.cli.main import entry

checkpoint = importlib.import_module("nanogpt_lib.checkpoint")
files = importlib.import_module("nanogpt_lib.files")
training = importlib.import_module("nanogpt_lib.train")  # the package's `train` attribute is the function


def on_nth_save(n: int, fault) -> None:
    """Replace `torch.save` as the checkpoint module calls it: the n-th call runs `fault(f)` after a partial write."""
    real, calls = torch.save, {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            f.write(b"partial checkpoint bytes")
            f.flush()
            fault(f)
        return real(obj, f, *args, **kwargs)

    checkpoint.torch.save = save


class SmallDisk:
    """An unbuffered file of `files.atomic_write`'s on a disk of `capacity` bytes that holds only its folder."""

    def __init__(self, f, capacity: int) -> None:
        self.f, self.capacity = f, capacity

    def write(self, data) -> int:
        folder = os.path.dirname(os.readlink(f"/proc/self/fd/{self.f.fileno()}"))
        used = sum(e.stat().st_size for e in os.scandir(folder) if e.is_file())  # this temp file's bytes included
        if used + len(data) > self.capacity:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a real write() raises it: no file name
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def after_step(n: int, action) -> None:
    """Call `action()` right after the n-th optimizer step."""
    real_step, steps = training.optimizer_step, {"n": 0}

    def step(*args, **kwargs):
        loss = real_step(*args, **kwargs)
        steps["n"] += 1
        if steps["n"] == n:
            action()
        return loss

    training.optimizer_step = step


def keys_pressed_while_exiting() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)  # Python runs a signal's handler between bytecodes: here, in the middle of an exit callback
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)


def run_with_fault(fault: str, n: int, argv: list[str]) -> None:
    if fault == "sigint-in-save":
        def ctrl_c_twice():
            os.kill(os.getpid(), signal.SIGINT)
            on_nth_save(1, lambda f: os.kill(os.getpid(), signal.SIGINT))

        after_step(n, ctrl_c_twice)
    elif fault == "signals-at-exit":
        after_step(n, lambda: os.kill(os.getpid(), signal.SIGINT))
        atexit.register(keys_pressed_while_exiting)  # the last registered runs first, before torch's callbacks
    elif fault == "sigint-at-startup":
        def interrupted_load(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)
            signal.raise_signal(signal.SIGINT)

        training.load_corpus = interrupted_load
    elif fault == "kill-in-save":
        on_nth_save(n, lambda f: os.kill(os.getpid(), signal.SIGKILL))
    elif fault == "disk-of-kb":
        real_fdopen = os.fdopen  # the os module's, which files.atomic_write calls: every file it writes
        files.os.fdopen = lambda fd, mode="r", *args: SmallDisk(real_fdopen(fd, mode, 0), n * 1024)
    elif fault == "enospc-in-save":
        def full(f):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a real write() raises it: no file name

        on_nth_save(n, full)
    else:
        raise SystemExit(f"unknown fault {fault!r}")
    sys.argv = ["nanogpt", *argv]
    entry()


if __name__ == "__main__":
    fault, n, sep, *rest = sys.argv[1:]
    assert sep == "--"
    # Ctrl-C as in a terminal: a test runner's worker process may ignore SIGINT (pytest-xdist's do), and a
    # child inherits that, so Python would not turn it into KeyboardInterrupt here.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    run_with_fault(fault, int(n), rest)
