"""Time any training command to a val loss: seconds from its start to the first `step N: ... val loss X` line
with X <= each target (the line nanoGPT's train.py and `nanogpt train` both print at every evaluation).

    python benchmarks/time_command.py --target 1.89 --cwd ../nanoGPT -- python train.py config/... --device=cpu

Prints one JSON object: per target the seconds, step and val loss of the first evaluation at or below
it (null if none), every evaluation as [step, seconds, val loss], and the total seconds. `benchmarks/
time_to_loss.sh` uses it for nanoGPT's recipe; our own runs go through `nanogpt bench time-to-loss`, which
measures the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import time

EVAL_LINE = re.compile(r"^step (\d+): train loss (\S+), val loss (\S+)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=float, action="append", required=True)
    parser.add_argument("--cwd", default=".")
    parser.add_argument("--label", default="")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    evals = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, cwd=args.cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        if match := EVAL_LINE.match(line.strip()):
            evals.append([int(match[1]), round(time.perf_counter() - t0, 2), float(match[3])])
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {proc.returncode}")
    total = time.perf_counter() - t0
    targets = {}
    for target in args.target:
        first = next((e for e in evals if e[2] <= target), None)
        targets[str(target)] = None if first is None else {"seconds": first[1], "step": first[0], "val_loss": first[2]}
    print(json.dumps({"label": args.label, "command": " ".join(command), "cwd": args.cwd, "targets": targets,
                      "final_val_loss": evals[-1][2] if evals else None, "total_seconds": round(total, 2),
                      "evals": evals, "machine": platform.platform(), "cpus": os.cpu_count(),
                      "date": time.strftime("%Y-%m-%d %H:%M")}))


if __name__ == "__main__":
    main()
