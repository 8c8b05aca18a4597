"""`nanogpt report`: the pictures and numbers of docs/results.md (and the README's pictures), from a real run.

    nanogpt report --run runs/cpu --out docs/img

From the run folder (`ckpt.pt`/`best.pt` and `history.json`, as `nanogpt train` writes them) it draws:

- `loss_curves.png`: train and val loss of the run next to a bigram baseline, which this command trains
  itself on the same data with the same batches, schedule shape and number of steps (`plot_runs`);
- `attention.png`: every head of the trained GPT's first layer reading a short prompt, as
  `interpret.capture` records it (`attention_heads_figure`);
- a generated sample, and the run's numbers, in `report.json` and `report.md`.

`report.md` shows the pictures and numbers with links relative to its own folder, so it reads the same on
its own and included in `docs/results.md` (a MyST `{include}`, so the website shows it too). Nothing else is
rewritten: the numbers shown in the docs are always those of the pictures' run, and no hand-written page
holds a generated number.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
from dataclasses import replace
from pathlib import Path

import torch

from ..config import TrainConfig
from ..files import atomic_write_text
from ..model import BigramLanguageModel

BIGRAM_LR = 1e-2  # a lookup table learns well at the rate notebook 01 uses; the GPT's rate is too slow for it
ATTENTION_PROMPT = "ROMEO:\nBut soft! what light"  # short enough to label every character
SAMPLE_PROMPT, SAMPLE_TOKENS, SAMPLE_TEMPERATURE, SAMPLE_SEED = "ROMEO:", 250, 0.8, 1337


def train_bigram(cfg: TrainConfig, corpus, max_iters: int | None = None):
    """The bigram baseline: the run's data, batch size, block size, evaluations and schedule shape, on CPU
    in float32, at `BIGRAM_LR`. Returns the `TrainResult` (its history is the baseline's own)."""
    from ..train import train

    steps = min(max_iters or cfg.max_iters, cfg.max_iters)
    bigram_cfg = replace(cfg, learning_rate=BIGRAM_LR, min_lr=BIGRAM_LR / 10, max_iters=steps, lr_decay_iters=0,
                         sample_tokens=0, device="cpu", dtype="float32", compile=False, init_from="scratch")
    torch.manual_seed(cfg.seed)
    return train(bigram_cfg, corpus, model=BigramLanguageModel(corpus.vocab_size), progress=False, verbose=False)


def _last_eval(history) -> dict:
    if not history.eval_step:
        raise ValueError("the run's history.json has no evaluations: nothing to compare (train longer than "
                         "one eval_interval)")
    return {"step": history.eval_step[-1], "train_loss": round(history.eval_train_loss[-1], 4),
            "val_loss": round(history.eval_val_loss[-1], 4)}


def make_report(run_dir: str | Path, out_dir: str | Path, bigram_iters: int | None = None,
                command: str | None = None) -> dict:
    """Draw the pictures of run `run_dir` into `out_dir` and return the numbers (also in `report.json`);
    `report.md` beside them shows both (links relative to `out_dir`)."""
    import matplotlib.pyplot as plt

    from ..checkpoint import load_model, run_checkpoint
    from ..data import load_corpus
    from ..history import History
    from ..interpret import capture
    from ..plot import attention_heads_figure, plot_runs
    from ..sampling import sample_text

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    ckpt_path = run_checkpoint(run_dir)
    if not ckpt_path.is_file() or not (run_dir / "history.json").is_file():
        raise FileNotFoundError(f"{run_dir} is not a finished run folder: it needs ckpt.pt (or best.pt) and "
                                "history.json, as `nanogpt train --out-dir DIR` writes them")
    model, tokenizer, ckpt = load_model(ckpt_path, "cpu")
    cfg = TrainConfig.from_dict(ckpt["train_config"])
    history = History.load(run_dir / "history.json")
    corpus = load_corpus(cfg.data_dir or None, cfg.tokenizer, vocab_size=cfg.vocab_size_target or None)
    if corpus.tokenizer.saved_form() != ckpt["tokenizer"]:
        raise ValueError(f"the prepared data for {cfg.tokenizer!r} uses another tokenizer than {ckpt_path}; "
                         "re-run `nanogpt prepare` with the run's settings")
    out_dir.mkdir(parents=True, exist_ok=True)

    bigram = train_bigram(cfg, corpus, bigram_iters).history
    shape = f"{cfg.n_layer}×{cfg.n_head}×{cfg.n_embd}"
    fig = plot_runs({"bigram": bigram, f"GPT {shape}": history},
                    title=f"Bigram vs GPT on Tiny Shakespeare ({len(history.step)} steps)")
    fig.savefig(out_dir / "loss_curves.png", dpi=90)
    plt.close(fig)

    prompt = ATTENTION_PROMPT[: cfg.block_size]
    idx = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long)
    tokens = [tokenizer.decode([i]) for i in idx[0].tolist()]
    first_layer = capture(model, idx).attention[0][0]  # (n_head, T, T)
    attention_heads_figure(first_layer, tokens, layer=0).savefig(out_dir / "attention.png", dpi=80)

    sample = sample_text(model, tokenizer, SAMPLE_PROMPT, SAMPLE_TOKENS, SAMPLE_TEMPERATURE, seed=SAMPLE_SEED)
    report = {
        "run": str(run_dir),
        "checkpoint": ckpt_path.name,
        "command": command or f"nanogpt report --run {run_dir} --out {out_dir}",
        "model": {"n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd, "block_size": cfg.block_size,
                  "parameters": model.num_params()},
        "training": {"steps": len(history.step), "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate,
                     "median_tokens_per_sec": round(statistics.median(history.tokens_per_sec))
                     if history.tokens_per_sec else None},
        "gpt": {**_last_eval(history), "best_val_loss": round(history.best_val_loss, 4)},
        "bigram": {**_last_eval(bigram), "learning_rate": BIGRAM_LR},
        "sample": {"prompt": SAMPLE_PROMPT, "max_new_tokens": SAMPLE_TOKENS, "temperature": SAMPLE_TEMPERATURE,
                   "seed": SAMPLE_SEED, "text": sample},
        "attention_prompt": prompt,
    }
    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / "report.md", markdown_snippet(report))
    return report


def markdown_snippet(report: dict, img_dir: str = ".") -> str:
    """`report.md`: the two pictures, the numbers under them, the sample, and the command. Links point into
    `img_dir` (default: the folder of report.md itself)."""
    prefix = "" if img_dir in ("", ".") else img_dir.rstrip("/") + "/"
    m, t, g, b, s = (report[k] for k in ("model", "training", "gpt", "bigram", "sample"))
    speed = f", {t['median_tokens_per_sec']:,} tokens/s (median)" if t["median_tokens_per_sec"] else ""
    return "\n".join([
        f"| loss: bigram vs GPT (train solid, val dashed) | first-layer attention on {report['attention_prompt']!r} |",
        "|---|---|",
        f"| ![loss curves]({prefix}loss_curves.png) | ![attention map]({prefix}attention.png) |",
        "",
        f"A {m['n_layer']}-layer, {m['n_head']}-head, {m['n_embd']}-wide GPT ({m['parameters']:,} parameters, "
        f"context {m['block_size']} characters) trained {t['steps']:,} steps of batch {t['batch_size']}"
        f"{speed}: val loss **{g['val_loss']:.4f}** at step {g['step']:,} (best {g['best_val_loss']:.4f}, train "
        f"{g['train_loss']:.4f}). The bigram baseline, trained here on the same batches for {b['step']:,} steps "
        f"at LR {b['learning_rate']:g}, stops at val loss **{b['val_loss']:.4f}**.",
        "",
        f"Sample ({report['checkpoint']}, prompt {s['prompt']!r}, temperature {s['temperature']}, "
        f"seed {s['seed']}):",
        "",
        "```text",
        s["text"].strip("\n"),
        "```",
        "",
        f"Made by `{report['command']}` from the run folder's checkpoint and history.json "
        f"(numbers in [report.json]({prefix}report.json)).",
        "",
    ])


def add_parser(sub) -> dict[str, argparse.ArgumentParser]:
    """Register `nanogpt report` on the CLI's subparsers."""
    r = sub.add_parser("report", help="draw the pictures and numbers of docs/results.md (loss vs bigram, "
                                      "attention, sample) from a run")
    r.add_argument("--run", required=True, help="run folder written by `nanogpt train` (checkpoint + history.json)")
    r.add_argument("--out", default="docs/img", help="where to write the PNGs, report.json, report.md (docs/img, "
                                                     "which docs/results.md includes)")
    r.add_argument("--bigram-iters", type=int, default=None,
                   help="steps for the bigram baseline (default: as many as the run, never more)")
    return {"report": r}


def cmd_report(args: argparse.Namespace) -> None:
    """Run `nanogpt report` and print where the files went."""
    command = "nanogpt report " + " ".join(
        shlex.quote(a) for a in ["--run", args.run, "--out", args.out]
        + (["--bigram-iters", str(args.bigram_iters)] if args.bigram_iters else []))
    report = make_report(args.run, args.out, args.bigram_iters, command)
    print(f"GPT val loss {report['gpt']['val_loss']:.4f} (best {report['gpt']['best_val_loss']:.4f}); "
          f"bigram val loss {report['bigram']['val_loss']:.4f}")
    print(f"wrote {args.out}/loss_curves.png, attention.png, report.json, report.md")
