"""Run `train` in a fresh process for the resume tests: `python train_worker.py OUT_DIR MAX_ITERS [--resume]
[--kill-at STEP]`. With --kill-at the process SIGKILLs itself right after finishing that step (no clean-up,
no final checkpoint), like a power cut."""

import argparse
import os
import signal

from nanogpt_lib import CharTokenizer, Corpus, get_config, load_text, train

CONFIG = dict(dropout=0.1, checkpoint_interval=3, eval_interval=5, log_interval=1, eval_iters=2)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("max_iters", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--kill-at", type=int, default=None)
    args = p.parse_args()
    text = load_text()
    corpus = Corpus.from_text(text[:60_000], CharTokenizer.from_text(text))

    def killer(step, history):
        if step == args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    cfg = get_config("tiny", max_iters=args.max_iters, **CONFIG)
    train(cfg, corpus, out_dir=args.out_dir, resume=args.resume, callbacks=(killer,), progress=False)


if __name__ == "__main__":
    main()
