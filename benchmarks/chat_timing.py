"""How long notebook 10's pieces take on this CPU, to plan the notebook's settings (docs/chat.md).

    OMP_NUM_THREADS=1 python benchmarks/chat_timing.py --base RUN > chat_timing.json

The model has the `modern` preset's shape (4 layers x 128, vocabulary 65 grown to 68), loaded from the run
folder `--base` (its best.pt) when given, else freshly initialised: the time of a step does not depend on what
the weights are, except that replies stop at <|end|> sooner once a model has learned the format: GRPO and
grading run after the timed SFT steps, and `mean_reply_tokens` says how long the sampled replies were.

Reported (each step timed alone, median and range over the timed steps, after untimed warm-up steps):

- `sft_step_s`: one SFT step (a batch of `--sft-batch` conversations of all four tasks in `SFTConfig`'s default
  micro-batches, AdamW step): the time
  between steps 2 ... `--sft-steps` of one `finetune.sft` run; `sft_first_step_s` is its first step, which
  includes rendering the 8,000 training conversations;
- `grade_s`: greedy replies to `--eval-per-task` held-out examples of each task (`tasks.grade`);
- `grpo_step_s`: one GRPO step (`rl.grpo_step`, `--prompts` x `--group` replies of at most `--max-new` tokens),
  with `mean_reply_tokens`: how long the sampled replies were;
- `text_loss_s`: `finetune.text_loss` on the first 20,000 tokens of the Shakespeare validation split.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from nanogpt_lib import GPT, CharTokenizer, get_config, load_text
from nanogpt_lib.checkpoint import load_model, run_checkpoint
from nanogpt_lib.evaluate import val_ids
from nanogpt_lib.finetune import SFTConfig, chat_model, sft, text_loss
from nanogpt_lib.rl import RLConfig, frozen_copy, grpo_step
from nanogpt_lib.tasks import grade, make_examples


def timed(fn, repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def summary(times: list[float]) -> dict:
    return {"median": round(statistics.median(times), 4), "min": round(min(times), 4), "max": round(max(times), 4),
            "n": len(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=None, help="run folder of a `modern` base model (default: fresh weights)")
    ap.add_argument("--sft-steps", type=int, default=60)
    ap.add_argument("--sft-batch", type=int, default=32)
    ap.add_argument("--eval-per-task", type=int, default=50)
    ap.add_argument("--grpo-steps", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new", type=int, default=16)
    args = ap.parse_args()

    text = load_text()
    if args.base:
        model, base_tok, _ = load_model(run_checkpoint(args.base))
    else:
        torch.manual_seed(0)
        model, base_tok = GPT(get_config("modern").model_config(65)), CharTokenizer.from_text(text)
    model, tok = chat_model(model, base_tok)
    train = make_examples("train", 2000, seed=0)
    conversations = [e.conversation() for e in train]
    test = make_examples("test", args.eval_per_task, seed=0)

    stamps = [time.perf_counter()]
    sft(model, tok, conversations, SFTConfig(steps=args.sft_steps, batch_size=args.sft_batch, log_interval=1),
        callback=lambda s, h: stamps.append(time.perf_counter()))
    sft_setup, sft_times = stamps[1] - stamps[0], [b - a for a, b in zip(stamps[1:], stamps[2:])]
    grade_times = timed(lambda: grade(model, tok, test), 1, warmup=0)

    cfg = RLConfig(prompts_per_step=args.prompts, group_size=args.group, max_new_tokens=args.max_new)
    reference = frozen_copy(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.99), weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    lengths = []

    def rl_step() -> None:
        batch = train[len(lengths) * args.prompts :][: args.prompts]
        lengths.append(grpo_step(model, reference, optimizer, tok, batch, cfg, gen)["length"])

    grpo_times = timed(rl_step, args.grpo_steps, warmup=1)
    shakespeare = val_ids(text, base_tok)
    loss_times = timed(lambda: text_loss(model, shakespeare), 1, warmup=0)

    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "loadavg_1min_at_end": os.getloadavg()[0],
        "base": args.base or "fresh modern-shape weights", "params": sum(p.numel() for p in model.parameters()),
        "sft_step_s": summary(sft_times), "sft_batch": args.sft_batch, "sft_first_step_s": round(sft_setup, 3),
        "grade_s": summary(grade_times), "grade_examples": len(test),
        "grpo_step_s": summary(grpo_times), "grpo": {"prompts": args.prompts, "group": args.group,
                                                    "max_new_tokens": args.max_new},
        "mean_reply_tokens": round(statistics.fmean(lengths), 2),
        "text_loss_s": summary(loss_times),
    }, indent=2))


if __name__ == "__main__":
    main()
