"""Run the `nanogpt` command in a fresh process with one injected fault, for tests/test_run_folder.py.

    python tests/cli_worker.py FAULT N -- train --preset tiny ...

FAULT is one of:
- `sigint-in-save N`: Ctrl-C after step N, and a second Ctrl-C while that checkpoint is being written;
- `sigint-at-startup 0`: Ctrl-C while the corpus loads, before training has set up its signal handler;
- `kill-in-save N`: SIGKILL in the middle of writing the N-th checkpoint (a power cut; a temp file stays);
- `enospc-in-save N`: the disk is full when the N-th checkpoint is written.
"""

import errno
import importlib
import os
import signal
import sys

import torch

from nanogpt_lib.cli import main

checkpoint = importlib.import_module("nanogpt_lib.checkpoint")
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


def main_with_fault(fault: str, n: int, argv: list[str]) -> int:
    if fault == "sigint-in-save":
        real_step, steps = training.optimizer_step, {"n": 0}

        def step(*args, **kwargs):
            loss = real_step(*args, **kwargs)
            steps["n"] += 1
            if steps["n"] == n:
                os.kill(os.getpid(), signal.SIGINT)
                on_nth_save(1, lambda f: os.kill(os.getpid(), signal.SIGINT))
            return loss

        training.optimizer_step = step
    elif fault == "sigint-at-startup":
        def interrupted_load(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)
            signal.raise_signal(signal.SIGINT)

        training.load_corpus = interrupted_load
    elif fault == "kill-in-save":
        on_nth_save(n, lambda f: os.kill(os.getpid(), signal.SIGKILL))
    elif fault == "enospc-in-save":
        def full(f):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a real write() raises it: no file name

        on_nth_save(n, full)
    else:
        raise SystemExit(f"unknown fault {fault!r}")
    return main(argv)


if __name__ == "__main__":
    fault, n, sep, *rest = sys.argv[1:]
    assert sep == "--"
    # Ctrl-C as in a terminal: a test runner's worker process may ignore SIGINT (pytest-xdist's do), and a
    # child inherits that, so Python would not turn it into KeyboardInterrupt here.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main_with_fault(fault, int(n), rest))
