"""Compare `nanogpt bench train` variants on a shared machine: run them in turns, report medians.

    python benchmarks/cpu_speed.py --rounds 3 --before /tmp/before > benchmarks/cpu_speed.json

Each round runs every variant once, in a fresh process, so load from other users hits all variants alike;
the summary gives each variant's median tokens/s over the rounds (each run is itself a median over its
timed steps). `--before DIR` adds the code in DIR (an older checkout's root) as the "before" variant.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "float32": [],
    "float32+compile": ["--compile"],
    "bfloat16": ["--dtype", "bfloat16"],
    "bfloat16+compile": ["--dtype", "bfloat16", "--compile"],
}


def run(args: list[str], code_root: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    cmd = [sys.executable, "-m", "nanogpt_lib", "bench", "train", *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=code_root)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None, help="root of the code to compare against")
    parser.add_argument("--only", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    common = ["--preset", args.preset, "--iters", str(args.iters)]
    variants = {name: (common + VARIANTS[name], ROOT) for name in args.only}
    if args.before:
        variants = {"before (float32)": (common, args.before.resolve()), **variants}
    samples: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (cli, code_root) in variants.items():
            samples[name].append(run(cli, code_root))
            print(f"{name}: {samples[name][-1]['tokens_per_sec']:,.0f} tokens/s", file=sys.stderr)
    summary = {
        name: {
            "median_tokens_per_sec": statistics.median(r["tokens_per_sec"] for r in runs),
            "median_ms_per_iter": statistics.median(r["ms_per_iter"] for r in runs),
            "median_mfu": statistics.median(r["mfu"] for r in runs),
            "tokens_per_sec_runs": [round(r["tokens_per_sec"]) for r in runs],
            "first_iter_seconds": [round(r.get("first_iter_seconds", 0), 2) for r in runs],
        }
        for name, runs in samples.items()
    }
    first = next(iter(samples.values()))[0]
    print(json.dumps({"preset": args.preset, "rounds": args.rounds, "iters": args.iters, "date": first["date"],
                      "machine": first["machine"], "variants": summary}, indent=2))


if __name__ == "__main__":
    main()
