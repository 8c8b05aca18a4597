"""One candidate for a time-to-loss preset: train it in this process, then score the val split precisely.

    python benchmarks/speedrun_explore.py --threads 1 --tag "4x128 dropout 0.1" max_iters=4500 dropout=0.1

Overrides go on top of `--preset` (default modern); the run evaluates only at its end unless
eval_interval is given. The val loss is the mean over `--windows` random windows of the model's context
length (a fixed generator, the same windows for every candidate of one block size), with its standard
error. One JSON line is printed and appended to `--out`: val, standard error, the mean training loss of
the last 50 steps, median tokens/s and ms per step (from the run's history), training seconds, parameters.
Two candidates can run at once with `taskset -c 0` / `taskset -c 1` and `--threads 1`; their losses are
what a 2-thread run gets (the same steps), their speed is not (time those with `bench train`).
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

from nanogpt_lib.config import get_config, parse_overrides
from nanogpt_lib.data import get_batch, load_corpus
from nanogpt_lib.train import train

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--preset", default="modern")
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--windows", type=int, default=2000, help="val windows to score (default 2000)")
parser.add_argument("--tag", default="")
parser.add_argument("--out", default="speedrun_explore.jsonl")
parser.add_argument("set", nargs="*", metavar="KEY=VALUE")
args = parser.parse_args()
torch.set_num_threads(args.threads)
overrides = parse_overrides(args.set)
overrides.setdefault("eval_interval", 10**6)  # the run's own evaluations cost time; score once, below
cfg = get_config(args.preset, **overrides)
corpus = load_corpus(None, cfg.tokenizer)
t0 = time.perf_counter()
result = train(cfg, corpus, progress=False, verbose=False)
train_seconds = time.perf_counter() - t0
model = result.model.eval()
gen = torch.Generator().manual_seed(12345)
losses = []
with torch.no_grad():
    for _ in range(0, args.windows, 50):
        x, y = get_batch(corpus.val, 50, cfg.block_size, gen, "cpu")
        per_token = F.cross_entropy(model(x)[0].flatten(0, 1).float(), y.flatten(), reduction="none")
        losses.append(per_token.view(50, -1).mean(1))
losses = torch.cat(losses)
history = result.history
tok_s = sorted(history.tokens_per_sec)[len(history.tokens_per_sec) // 2]
record = dict(tag=args.tag, preset=args.preset, set=args.set, threads=args.threads, val=losses.mean().item(),
              se=(losses.std() / math.sqrt(len(losses))).item(), window_std=losses.std().item(),
              train_last=sum(history.train_loss[-50:]) / len(history.train_loss[-50:]),
              train_seconds=train_seconds, tok_s=tok_s, ms_per_step=1000 * cfg.tokens_per_step / tok_s,
              steps=cfg.max_iters, params=sum(p.numel() for p in model.parameters()))
print(json.dumps(record))
with open(args.out, "a") as f:
    f.write(json.dumps(record) + "\n")
