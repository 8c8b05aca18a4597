"""The `nanogpt` command: prepare | train | sample | finetune | chat | bench | course | report.

Every `TrainConfig` field is a `train` option (`--n_layer 6` or `--n-layer 6`); the seed project's names
(`--n_transformers`, `--n_embed`, `--context_size`, `--n_iters`) are accepted as aliases.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import signal
import sys
import warnings
from dataclasses import fields
from pathlib import Path

from ..config import ALIASES, PRESETS, TrainConfig, check_overrides, field_type, get_config, parse_value
from .errors import CLIError


def option_type(name: str):
    """argparse `type=` for TrainConfig field `name`: the shared parser, with argparse's error type."""

    def parse(text: str):
        try:
            return parse_value(name, text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = field_type(name).__name__  # argparse names the type in its messages
    return parse


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, typed from the dataclass, plus the seed's alias names."""
    group = parser.add_argument_group("config overrides (any TrainConfig field; default: the preset's value)")
    alias_of = {v: k for k, v in ALIASES.items()}
    defaults = TrainConfig.__dataclass_fields__
    for f in fields(TrainConfig):
        kind = field_type(f.name)
        names = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        if f.name in alias_of:
            names.append(f"--{alias_of[f.name]}")
        extra = dict(nargs="?", const=True) if kind is bool else {}
        group.add_argument(*names, dest=f.name, default=None, metavar=kind.__name__.upper(), type=option_type(f.name),
                           help=f"(default {defaults[f.name].default!r})", **extra)


def option_names(parser: argparse.ArgumentParser) -> list[str]:
    return sorted({s for a in parser._actions for s in a.option_strings if s.startswith("--")})


def parse_strict(parser: argparse.ArgumentParser, command: argparse.ArgumentParser,
                 argv: list[str]) -> argparse.Namespace:
    """Like parse_args, but an unknown option gets the closest valid names and the full list of `command`'s."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        valid = option_names(command)
        bad = [u.split("=")[0] for u in unknown if u.startswith("-")] or unknown
        hints = []
        for u in bad:
            close = difflib.get_close_matches(u, valid, n=2)
            hints.append(u + (f" (did you mean {' or '.join(close)}?)" if close else ""))
        # --n-layer and --n_layer are the same option: list each once
        shown = [o for o in valid if not ("-" in o[2:] and "--" + o[2:].replace("-", "_") in valid)]
        raise CLIError(f"unrecognised option(s): {', '.join(hints)}.\nValid options: {' '.join(shown)}")
    return args


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(prog="nanogpt", description="Train and sample small GPTs (nanogpt notebooks).")
    commands = "{prepare,train,sample,finetune,chat,bench,course,report}"
    sub = parser.add_subparsers(dest="command", required=True, metavar=commands)

    p = sub.add_parser("prepare", help="encode the corpus into train/val token files and a tokenizer")
    p.add_argument("--input", help="corpus text file (default: $NANOGPT_DATA, the cache, or a download)")
    p.add_argument("--data-dir", help="where to write the files (default: data/shakespeare_<tokenizer>)")
    p.add_argument("--tokenizer", default="char", help="char (default), bpe, sentencepiece or gpt2")
    p.add_argument("--vocab-size", type=int, default=None, help="vocabulary size for trainable tokenizers")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the text held out (default 0.1)")

    t = sub.add_parser("train", help="train a model; writes checkpoints, history, loss.png into --out-dir")
    t.add_argument("--preset", default=None, help=f"named config: {', '.join(PRESETS)} (default cpu)")
    t.add_argument("--out-dir", default=None, help="run folder (default runs/<preset>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out-dir from its ckpt.pt")
    t.add_argument("--force", action="store_true", help="overwrite a run already in --out-dir")
    t.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    add_config_options(t)

    s = sub.add_parser("sample", help="generate text from a trained run or from GPT-2")
    s.add_argument("--out-dir", help="run folder written by `nanogpt train`")
    s.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="best.pt (lowest val loss, default) or ckpt.pt (latest)")
    s.add_argument("--init-from", help="sample from pretrained weights instead: gpt2, gpt2-medium, ... or a folder")
    s.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    s.add_argument("--max-new-tokens", type=int, default=500)
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--top-p", type=float, default=None)
    s.add_argument("--num-samples", type=int, default=1)
    s.add_argument("--seed", type=int, default=1337)
    s.add_argument("--device", default="auto")

    from . import bench, chat, course, report

    subparsers = {"prepare": p, "train": t, "sample": s}
    subparsers.update(bench.add_parser(sub))
    subparsers.update(course.add_parser(sub))
    subparsers.update(report.add_parser(sub))
    subparsers.update(chat.add_parser(sub))
    return parser, subparsers


def cmd_prepare(args: argparse.Namespace) -> None:
    from ..data import default_data_dir, file_sha256, prepare, text_path

    if args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        source = text_path(args.input)
        data_dir = default_data_dir(args.tokenizer, file_sha256(source), source.stem)
    kwargs = {"vocab_size": args.vocab_size} if args.vocab_size else {}
    meta = prepare(data_dir, args.input, args.tokenizer, args.val_fraction, **kwargs)
    print(f"corpus: {meta['source']['path']}: {meta['corpus_chars']:,} characters ({meta['corpus_bytes']:,} bytes)")
    print(f"tokenizer: {meta['tokenizer']}, vocab size {meta['vocab_size']:,}")
    print(f"train: {meta['train_tokens']:,} tokens, val: {meta['val_tokens']:,} tokens ({meta['dtype']})")
    print(f"wrote {data_dir}/train.bin, val.bin, tokenizer.json, meta.json")


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Preset (or, on --resume without --preset, the checkpoint's config) plus the given overrides."""
    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    if args.resume and args.preset is None:
        from ..checkpoint import load_checkpoint

        saved = load_checkpoint(Path(args.out_dir) / "ckpt.pt")["train_config"]
        return TrainConfig.from_dict({**saved, **check_overrides(overrides)})
    return get_config(args.preset or "cpu", **overrides)


def cmd_train(args: argparse.Namespace) -> None:
    from ..device import DistInfo
    from ..train import train

    if args.resume and not args.out_dir:
        raise CLIError("--resume needs --out-dir: the run folder to continue")
    args.out_dir = args.out_dir or str(Path("runs") / (args.preset or "cpu"))
    cfg = train_config_from_args(args)
    result = train(cfg, out_dir=args.out_dir, resume=args.resume, force=args.force, progress=not args.no_progress)
    if not DistInfo.from_env().is_master:  # under torchrun only rank 0 reports
        return
    h = result.history
    best = f"{h.best_val_loss:.4f}" if h.eval_val_loss else "n/a"
    print(f"done: {len(h.step)} steps, final train loss {h.train_loss[-1]:.4f}, best val loss {best}")
    print(f"run folder: {args.out_dir} (ckpt.pt, best.pt, history.json, loss.png)")
    print(f"sample with: nanogpt sample --out-dir {args.out_dir} --prompt 'ROMEO:'")


def cmd_sample(args: argparse.Namespace) -> None:
    from ..checkpoint import load_model_and_tokenizer
    from ..device import resolve_device
    from ..sampling import check_sampling, sample_text

    check_sampling(args.temperature, args.top_k, args.top_p, args.max_new_tokens, args.num_samples)
    if not (args.out_dir or args.init_from):
        raise CLIError("sample needs --out-dir (a run folder) or --init-from (pretrained weights)")
    which = "best" if args.checkpoint == "best" else "last"
    source = args.init_from or args.out_dir
    model, tokenizer, source = load_model_and_tokenizer(source, resolve_device(args.device), which)
    print(f"# {source}", file=sys.stderr)
    for i in range(args.num_samples):
        print(sample_text(model, tokenizer, args.prompt, args.max_new_tokens, args.temperature, args.top_k,
                          args.top_p, seed=args.seed + i))
        if i < args.num_samples - 1:
            print("-" * 40)


def os_error_message(e: OSError) -> str:
    """One line for a file-system problem: what failed, on which path, and what to do about it."""
    path = e.filename or "a file"
    advice = {
        errno.ENOSPC: "the disk is full: free some space",
        errno.EACCES: "permission denied: choose a folder you can write to",
        errno.EPERM: "not permitted: choose a folder you can write to",
        errno.EROFS: "the file system is read-only: choose a writable folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
        errno.EEXIST: "a file with that name is in the way: choose another path",
        errno.EISDIR: "that is a folder, not a file: name a file",
        errno.ENOENT: "no such file or folder: check the path",
    }.get(e.errno, e.strerror or str(e))
    return f"cannot use {path}: {advice}"


def main(argv: list[str] | None = None) -> int:
    """The `nanogpt` command as a function (`entry` runs it as the executable); returns the exit status.

    Every mistake a user can make ends in one `nanogpt: error: ...` line and status 2; Ctrl-C in 130 and
    SIGTERM in 143 (128 + the signal's number, as the shell reports a process a signal stopped).
    """
    warnings.formatwarning = lambda message, *args, **kwargs: f"nanogpt: warning: {message}\n"
    try:
        return run(argv)
    except KeyboardInterrupt as e:  # a signal before training set up its own handler, or during shutdown
        print("nanogpt: interrupted (the last complete checkpoint, if any, is kept)", file=sys.stderr)
        return 128 + getattr(e, "signum", signal.SIGINT)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM outside training, as the `nanogpt` executable raises it (`signum` says which)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def ignore_signals() -> None:
    """From now on Ctrl-C and SIGTERM do nothing: the process is on its way out and has said why."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


def interrupt_once(signum: int, frame) -> None:
    """The executable's handler outside training: stop what runs (once), then ignore every later signal."""
    ignore_signals()
    raise Interrupted(signum)


def entry() -> None:
    """The `nanogpt` executable: `main()`, then exit with its status.

    Whatever arrives after the first signal has been handled — a second Ctrl-C while the checkpoint is written,
    a third while the process shuts down (torch's own exit callbacks take a moment) — ends quietly: each
    handler raises at most once, and the signals are ignored before the interpreter exits.
    """
    for s in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(s) is not signal.SIG_IGN:  # a signal the caller chose to ignore stays ignored
            signal.signal(s, interrupt_once)
    try:
        status = main()
        ignore_signals()
    except KeyboardInterrupt as e:  # arrived after main() had caught its own, while it was returning
        ignore_signals()
        status = 128 + getattr(e, "signum", signal.SIGINT)
    sys.exit(status)


def run(argv: list[str] | None = None) -> int:
    from ..checkpoint import CheckpointError, RunExistsError, RunLockedError, RunWriteError
    from ..train import TrainingDiverged, TrainingInterrupted

    argv = sys.argv[1:] if argv is None else argv
    parser, subparsers = build_parser()
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        if command in subparsers and command != "bench":
            args = parse_strict(parser, subparsers[command], argv)
        else:
            args = parser.parse_args(argv)
        from .bench import cmd_bench
        from .chat import cmd_chat, cmd_finetune
        from .course import cmd_course
        from .report import cmd_report

        handlers = {"prepare": cmd_prepare, "train": cmd_train, "sample": cmd_sample, "bench": cmd_bench,
                    "course": cmd_course, "report": cmd_report, "chat": cmd_chat, "finetune": cmd_finetune}
        handlers[args.command](args)
    except TrainingInterrupted as e:
        if e.at_once:
            print(f"nanogpt: {e}; the last complete checkpoint is kept", file=sys.stderr)
        return 128 + e.signum
    except (CLIError, ValueError, CheckpointError, RunExistsError, RunLockedError, TrainingDiverged) as e:
        print(f"nanogpt: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # FileNotFoundError with our own message, or any file-system failure
        message = os_error_message(e) if e.filename else str(e)
        kept = f"; {e.kept}" if isinstance(e, RunWriteError) else ""
        print(f"nanogpt: error: {message}{kept}", file=sys.stderr)
        return 2
    return 0
