"""Start-up cost of the `nanogpt` command, before vs after a change: alternating fresh processes.

    python benchmarks/startup_time.py --before /tmp/before --after . --runs 7
    python benchmarks/startup_time.py --before /tmp/before --after . --code "import nanogpt_lib.cli.main"

Each tree is a checkout's root (its `nanogpt_lib` is put first on PYTHONPATH). Runs alternate between the
trees, so load from other processes hits both alike. For every run it records the wall time and the CPU
time (user + sys) of the child: on a shared machine the CPU time is the steadier number. Prints the median,
quartiles and range of each, then the raw numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

# What `nanogpt train` does before its first step, short of training: import the CLI and build its parser.
DEFAULT_CODE = "from nanogpt_lib.cli.main import build_parser; build_parser()"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--code", default=DEFAULT_CODE)
    args = parser.parse_args()
    trees = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    results = {name: {"wall": [], "cpu": []} for name in trees}
    for _ in range(args.runs):
        for name, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": tree}
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", args.code], cwd="/", env=env, check=True)
            results[name]["wall"].append(round(time.perf_counter() - t0, 3))
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            results[name]["cpu"].append(round(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, 3))
    for name, r in results.items():
        for kind, values in r.items():
            q1, _, q3 = statistics.quantiles(values, n=4)
            print(f"{name:6} {kind:4} median {statistics.median(values):.2f} s  quartiles {q1:.2f}–{q3:.2f}  "
                  f"range {min(values):.2f}–{max(values):.2f}  (n={len(values)})")
    print(json.dumps({"code": args.code, "trees": trees, **results}))


if __name__ == "__main__":
    main()
