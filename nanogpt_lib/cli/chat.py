"""`nanogpt finetune` makes a chat model from a trained run, `nanogpt chat` talks to one (notebook 10).

    nanogpt finetune sft --from runs/modern --out-dir runs/chat_sft    # grow the vocabulary, supervised fine-tuning
    nanogpt finetune rl --from runs/chat_sft --out-dir runs/chat_rl    # GRPO with the exact checkers as reward
    echo "spell backwards: romeo" | nanogpt chat --out-dir runs/chat_rl

Each fine-tuning stage writes a new run folder through `checkpoint.RunFolder` (locked, refused if it holds a
run unless --force, nothing replaced before the new checkpoint is complete) and never writes to the run it
starts from. It evaluates on the held-out split at the end and records the scores in `data.json`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import CLIError

RL_ONLY = ("group_size", "prompts_per_step", "kl_coef", "temperature", "max_new_tokens")
SFT_ONLY = ("batch_size",)


def add_parser(sub) -> dict[str, argparse.ArgumentParser]:
    """Register `nanogpt chat` and `nanogpt finetune` on the CLI's subparsers."""
    from ..tasks import TASKS

    c = sub.add_parser("chat", help="talk to a fine-tuned run: each line of stdin is a user turn, each reply a line")
    c.add_argument("--out-dir", required=True, help="run folder written by `nanogpt finetune`")
    c.add_argument("--checkpoint", choices=["best", "last"], default="best", help="best.pt (default) or ckpt.pt")
    c.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default), as the evaluation")
    c.add_argument("--top-k", type=int, default=None)
    c.add_argument("--max-new-tokens", type=int, default=64, help="longest reply, in tokens (default 64)")
    c.add_argument("--seed", type=int, default=1337)
    c.add_argument("--history", action="store_true",
                   help="keep earlier turns in the context (default: every line starts a new conversation, "
                        "as in fine-tuning); the oldest turns go when the window is full")
    c.add_argument("--device", default="auto")

    f = sub.add_parser("finetune", help="make a chat model from a run: sft (supervised), then rl (GRPO)")
    f.add_argument("stage", choices=["sft", "rl"], help="sft: from a base run; rl: from an sft (or rl) run")
    f.add_argument("--from", dest="source", required=True, help="run folder (its best.pt) or checkpoint file")
    f.add_argument("--out-dir", required=True, help="the new run folder")
    f.add_argument("--force", action="store_true", help="replace a run already in --out-dir")
    f.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {', '.join(TASKS)} (default all)")
    f.add_argument("--steps", type=int, default=None, help="optimizer steps (default: sft 600, rl 100)")
    f.add_argument("--learning-rate", type=float, default=None, help="peak rate (default: sft 1e-3, rl 1e-4)")
    f.add_argument("--train-examples", type=int, default=2000, help="generated training examples per task")
    f.add_argument("--eval-examples", type=int, default=200, help="held-out examples per task scored at the end")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--device", default="auto")
    f.add_argument("--batch-size", type=int, default=None, help="sft: conversations per step (default 32)")
    f.add_argument("--prompts-per-step", type=int, default=None, help="rl: prompts per step (default 8)")
    f.add_argument("--group-size", type=int, default=None, help="rl: replies sampled per prompt (default 8)")
    f.add_argument("--kl-coef", type=float, default=None, help="rl: weight of the KL penalty (default 0.05)")
    f.add_argument("--temperature", type=float, default=None, help="rl: sampling temperature (default 1)")
    f.add_argument("--max-new-tokens", type=int, default=None, help="rl: longest sampled reply (default 16)")
    return {"chat": c, "finetune": f}


# ---------------------------------------------------------------------------------------------------------
# nanogpt chat


def load_chat_model(out_dir: str, which: str, device):
    """The run's model and chat tokenizer; a run without chat tokens is refused with what to do."""
    from ..chat import ChatTokenizer
    from ..checkpoint import load_model, run_checkpoint

    path = run_checkpoint(out_dir, which)
    model, tokenizer, _ = load_model(path, device)
    if not isinstance(tokenizer, ChatTokenizer):
        raise CLIError(f"{path} has no chat tokens (its tokenizer is {tokenizer.name!r}): it is a base model. "
                       f"Fine-tune it first: nanogpt finetune sft --from {out_dir} --out-dir RUN_SFT")
    return model, tokenizer


def input_lines(interactive: bool):
    """User turns: `input()` with a prompt on a terminal, else the lines of stdin; stops at end of input."""
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except EOFError:
            return
        if not interactive and line == "":
            return
        yield line.rstrip("\r\n")


def cmd_chat(args: argparse.Namespace) -> None:
    import torch

    from ..chat import Message, generate_replies, one_line
    from ..device import resolve_device
    from ..sampling import check_sampling

    check_sampling(args.temperature, args.top_k, None, args.max_new_tokens)
    device = resolve_device(args.device)
    model, tokenizer = load_chat_model(args.out_dir, args.checkpoint, device)
    window = model.config.block_size
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"# chatting with {args.out_dir} (Ctrl-D to end); each line you type is one turn", file=sys.stderr)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    turns: list[list[int]] = []  # earlier turns' ids, kept with --history
    for line in input_lines(interactive):
        if not line.strip():
            continue
        try:
            user = tokenizer.render([Message("user", line)])
            while turns and sum(map(len, turns)) + len(user) + 2 > window:
                turns = turns[2:]  # the oldest exchange goes first
            prompt = [t for turn in turns for t in turn] + user + [tokenizer.assistant_id]
            if len(prompt) >= window:
                raise ValueError(f"that line is {len(user)} tokens with the template; this model reads at most "
                                 f"{window - 1} before it answers: write less")
        except ValueError as e:  # characters outside the vocabulary, a line too long
            if not interactive:
                raise
            print(f"nanogpt: error: {e}", file=sys.stderr)
            continue
        reply, finished = generate_replies(model, tokenizer, [prompt], args.max_new_tokens, args.temperature,
                                           args.top_k, generator)[0]
        print(one_line(tokenizer.decode(reply)), flush=True)
        if interactive and not finished:
            print(f"# (cut at {args.max_new_tokens} tokens: no <|end|>)", file=sys.stderr)
        if args.history:
            turns += [user, [tokenizer.assistant_id, *reply, tokenizer.end_id]]


# ---------------------------------------------------------------------------------------------------------
# nanogpt finetune


def check_finetune_args(args: argparse.Namespace) -> list[str]:
    """The task list; refuses options of the other stage, bad numbers, and an --out-dir that is --from."""
    from ..tasks import TASKS

    other = RL_ONLY if args.stage == "sft" else SFT_ONLY
    given = [f"--{name.replace('_', '-')}" for name in other if getattr(args, name) is not None]
    if given:
        what = "is an option" if len(given) == 1 else "are options"
        raise CLIError(f"{', '.join(given)} {what} of `nanogpt finetune {'rl' if args.stage == 'sft' else 'sft'}`, "
                       f"not of `finetune {args.stage}`")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise CLIError(f"--tasks takes a comma-separated list of {', '.join(TASKS)}; got {args.tasks!r}")
    for name in ("steps", "batch_size", "prompts_per_step", "group_size", "max_new_tokens"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.train_examples < 1 or args.eval_examples < 0:
        raise CLIError("--train-examples must be at least 1 and --eval-examples at least 0")
    source = Path(args.source)
    source_dir = source if source.is_dir() else source.parent
    if Path(args.out_dir).resolve() == source_dir.resolve():
        raise CLIError("--out-dir must differ from --from: fine-tuning writes a new run and never changes the run "
                       "it starts from")
    return tasks


def cmd_finetune(args: argparse.Namespace) -> None:
    from ..chat import ChatTokenizer
    from ..checkpoint import RunExistsError, RunFolder, load_model, run_checkpoint
    from ..data import load_text
    from ..device import resolve_device
    from ..evaluate import val_ids
    from ..finetune import SFTConfig, chat_checkpoint, chat_model, sft, text_loss
    from ..history import History
    from ..rl import RLConfig, grpo
    from ..tasks import format_transcript, grade, make_examples

    tasks = check_finetune_args(args)
    device = resolve_device(args.device)
    source = Path(args.source)
    path = run_checkpoint(source) if source.is_dir() else source
    model, tokenizer, _ = load_model(path, device)
    if args.stage == "sft":
        model, tokenizer = chat_model(model, tokenizer, seed=args.seed)
    elif not isinstance(tokenizer, ChatTokenizer):
        raise CLIError(f"{path} has no chat tokens: `finetune rl` continues an sft run; run `nanogpt finetune sft "
                       f"--from {args.source} --out-dir RUN_SFT` first")
    train_set = make_examples("train", args.train_examples, args.seed, tasks)
    test_set = make_examples("test", args.eval_examples, 0, tasks) if args.eval_examples else []  # one test set
    shakespeare = val_ids(load_text(), tokenizer.base)
    with RunFolder(args.out_dir) as run:
        try:  # refuse (or plan to replace) an existing run before any work is done
            run.open(resume=False, force=args.force)
        except RunExistsError:
            raise CLIError(f"{args.out_dir} already holds a run; pass --force to replace it (only once the new "
                           "run is saved), or choose another --out-dir") from None
        loss_before = text_loss(model, shakespeare)
        t0 = time.time()
        if args.stage == "sft":
            cfg = SFTConfig(steps=args.steps or 600, batch_size=args.batch_size or 32, seed=args.seed,
                            learning_rate=args.learning_rate or 1e-3, min_lr=(args.learning_rate or 1e-3) / 10)
            print(f"sft: {len(train_set)} conversations ({', '.join(tasks)}), {cfg.steps} steps of {cfg.batch_size}")
            history = sft(model, tokenizer, [e.conversation() for e in train_set], cfg, callback=lambda s, h: print(
                f"[{s}/{cfg.steps}] loss={h.train_loss[-1]:.4f} time={time.time() - t0:.1f}s", flush=True))
            log = []
        else:
            cfg = RLConfig(steps=args.steps or 100, seed=args.seed, learning_rate=args.learning_rate or 1e-4,
                           **{k: getattr(args, k) for k in RL_ONLY if getattr(args, k) is not None})
            print(f"rl (GRPO): {cfg.steps} steps of {cfg.prompts_per_step} prompts x {cfg.group_size} replies")
            log = grpo(model, tokenizer, train_set, cfg, callback=lambda s, m: print(
                f"[{s}/{cfg.steps}] reward={m['reward']:.3f} kl={m['kl']:.4f} length={m['length']:.1f} "
                f"time={time.time() - t0:.1f}s", flush=True))
            history = History(step=list(range(len(log))), train_loss=[m["loss"] for m in log],
                              lr=[cfg.learning_rate] * len(log))
        loss_after = text_loss(model, shakespeare)
        print(f"Shakespeare val loss: {loss_before:.4f} before, {loss_after:.4f} after")
        grades = grade(model, tokenizer, test_set) if test_set else None
        if grades:
            print("held-out accuracy (greedy, 95% Wilson interval):\n" + grades.table())
            print("\n".join(format_transcript(g) for g in grades.transcripts(per_task=1, seed=0)))
        info = {"stage": args.stage, "from": str(path), "tasks": tasks, "train_examples_per_task": args.train_examples,
                "eval_examples_per_task": args.eval_examples, "shakespeare_val_loss": [loss_before, loss_after],
                "eval": grades.to_dict() if grades else {}, "rl_log": log}
        run.describe_run(cfg.to_dict(), tokenizer, info)
        run.save(chat_checkpoint(model, tokenizer, history, cfg.to_dict(), info), improved=True)
        if args.stage == "sft":
            run.finish(history)  # history.json and loss.png
        else:
            history.save(run.path / "history.json")  # the GRPO loss is no cross-entropy: no loss.png
    print(f"run folder: {args.out_dir}; talk to it with: nanogpt chat --out-dir {args.out_dir}")
