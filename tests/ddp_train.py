"""Run `train()` under torchrun for tests/test_distributed.py, optionally signalling one rank mid-run.

    torchrun --standalone --nproc_per_node=2 tests/ddp_train.py DATA_DIR OUT_DIR --max-iters 6 \
        --signal-rank 1 --signal-at 2

`--signal-rank R --signal-at S` makes rank R send itself SIGTERM after step S (as if only that process had
been told to stop): every rank must still stop at the same step, save one checkpoint and exit with 130.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from nanogpt_lib import TrainingInterrupted, get_config, load_prepared, train


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--max-iters", type=int, required=True)
    parser.add_argument("--signal-rank", type=int, default=-1)
    parser.add_argument("--signal-at", type=int, default=-1)
    args = parser.parse_args()
    cfg = get_config("tiny", max_iters=args.max_iters, lr_decay_iters=2 * args.max_iters, log_interval=1,
                     grad_accum_steps=2, eval_iters=2, seed=7)
    rank = int(os.environ["RANK"])

    def signal_once(step: int, history) -> None:
        if rank == args.signal_rank and step == args.signal_at:
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        train(cfg, load_prepared(args.data_dir), out_dir=args.out_dir, callbacks=(signal_once,), progress=False)
    except TrainingInterrupted:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
