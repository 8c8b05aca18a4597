"""Batches from prepared token files, before vs after a change: load time, memory and time per batch.

    python benchmarks/batch_speed.py --before /tmp/before --after . --rounds 5 \
        --data-dir data/shakespeare_char --data-dir data/shakespeare_gpt2 --large 100 > batch_speed.json

Each tree is a checkout's root (its `nanogpt_lib` is put first on PYTHONPATH). Every measurement is a fresh
process, and the processes alternate between the variants, so load from other processes hits all alike.
A process loads one prepared folder with `load_prepared` and reports:

- `load_seconds`, and the process's RSS growth while loading: `load_rss_growth_mib` (after - before) and
  `load_peak_rss_growth_mib` (the kernel's high-water mark, reset just before loading);
- `batch_us`: median and min of `--batches` timed `BatchSampler` calls (batch 64 x block 256 by default)
  after `--warmup` untimed ones; `first_batch_us` is the first call (it reads the file's pages);
- how much RssAnon (the process's own memory) and RssFile (mapped file pages: the kernel's page cache,
  which it can drop) grew during the batches;
- `batches_sha256`: a hash of the first ten batches of seed 1337, equal when the variants draw the same;
- `loadavg_1min`: the machine's load when the process finished (other users' processes slow torch's
  multi-threaded ops most: `--threads 1` measures without the wait for a second thread).

`--large N` adds a folder of N million random uint16 tokens (made once in a temporary folder) to see the
memory on a corpus larger than the page cache would hold for free. The variant `nanogpt-reopen` opens the
memmap again for every batch, as nanoGPT's train.py does, with the same windows (it needs the `after` tree).
The summary gives each variant's median over the rounds and the range (min-max).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def status_kib(field: str) -> int | None:
    """A field of /proc/self/status in KiB (Linux), or None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process's RSS (VmHWM), where allowed (Linux)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(data_dir: str, variant: str, batch_size: int, block_size: int, warmup: int, batches: int,
          threads: int) -> dict:
    import numpy as np
    import torch

    from nanogpt_lib import BatchSampler, load_prepared

    if threads:
        torch.set_num_threads(threads)

    rss_before = status_kib("VmRSS")
    peak_reset = reset_peak_rss()
    t0 = time.perf_counter()
    corpus = load_prepared(data_dir)
    load_seconds = time.perf_counter() - t0
    rss_loaded, peak_loaded = status_kib("VmRSS"), status_kib("VmHWM")
    sampler = BatchSampler(corpus.train, batch_size, block_size, seed=1337)
    if variant == "nanogpt-reopen":  # nanoGPT's get_batch: a new memmap per batch, the same windows
        from nanogpt_lib.data import gather_windows

        path, dtype = Path(data_dir) / "train.bin", corpus.train.dtype

        def draw():
            data = np.memmap(path, dtype=dtype, mode="r")
            starts = torch.randint(len(data) - block_size, (batch_size,), generator=sampler.generator)
            windows = gather_windows(data, starts, block_size + 1)
            return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()
    else:
        draw = sampler
    digest = hashlib.sha256()
    times = []
    anon, file = status_kib("RssAnon"), status_kib("RssFile")
    for i in range(warmup + batches):
        t = time.perf_counter()
        x, y = draw()
        times.append(time.perf_counter() - t)
        if i < 10:
            digest.update(x.numpy().astype(np.int64).tobytes() + y.numpy().astype(np.int64).tobytes())
    timed = times[warmup:]
    mib = 1 / 1024
    return {
        "variant": variant, "data_dir": data_dir, "train_type": type(corpus.train).__name__,
        "train_dtype": str(corpus.train.dtype), "train_tokens": len(corpus.train),
        "file_mib": os.path.getsize(Path(data_dir) / "train.bin") / 2**20,
        "load_seconds": load_seconds,
        "load_rss_growth_mib": (rss_loaded - rss_before) * mib if rss_before else None,
        "load_peak_rss_growth_mib": (peak_loaded - rss_before) * mib if peak_reset else None,
        "first_batch_us": times[0] * 1e6, "batch_us": statistics.median(timed) * 1e6, "batch_us_min": min(timed) * 1e6,
        "batches_rss_anon_growth_mib": (status_kib("RssAnon") - anon) * mib if anon is not None else None,
        "batches_rss_file_growth_mib": (status_kib("RssFile") - file) * mib if file is not None else None,
        "batches_sha256": digest.hexdigest(), "torch_threads": torch.get_num_threads(),
        "loadavg_1min": os.getloadavg()[0],
    }


def make_large(folder: Path, million_tokens: int, like: Path) -> Path:
    """A prepared folder of random uint16 ids below 65 (the char vocabulary of `like`), train + 1% val."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n = million_tokens * 1_000_000
    for name, count in (("train", n), ("val", n // 100)):
        with open(folder / f"{name}.bin", "wb") as f:
            f.writelines(rng.integers(0, 65, min(10_000_000, count - start), dtype=np.uint16).tobytes()
                         for start in range(0, count, 10_000_000))
    (folder / "tokenizer.json").write_bytes((like / "tokenizer.json").read_bytes())
    meta = json.loads((like / "meta.json").read_text())
    meta.update(source=None, dtype="uint16", train_tokens=n, val_tokens=n // 100)
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default=None, help="root of the code to compare against")
    parser.add_argument("--after", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--data-dir", action="append", required=True, help="a prepared folder; repeat for more")
    parser.add_argument("--large", type=int, default=0, metavar="MILLIONS", help="also a random corpus this big")
    parser.add_argument("--reopen", action="store_true", help="also time nanoGPT's memmap-per-batch variant")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        shape = (args.batch_size, args.block_size, args.warmup, args.batches, args.threads)
        print(json.dumps(child(args.data_dir[0], args.child, *shape)))
        return
    trees = {"after": args.after} | ({"before": args.before} if args.before else {})
    variants = {name: (name, os.path.abspath(tree)) for name, tree in trees.items()}
    if args.reopen:
        variants["nanogpt-reopen"] = ("nanogpt-reopen", os.path.abspath(args.after))
    data_dirs = [os.path.abspath(d) for d in args.data_dir]
    with tempfile.TemporaryDirectory(prefix="nanogpt-batch-speed-") as tmp:
        if args.large:
            data_dirs.append(str(make_large(Path(tmp) / f"random_{args.large}M", args.large, Path(data_dirs[0]))))
        runs: dict[str, dict[str, list[dict]]] = {d: {v: [] for v in variants} for d in data_dirs}
        for _ in range(args.rounds):
            for d in data_dirs:
                for name, (variant, tree) in variants.items():
                    cmd = [sys.executable, __file__, "--child", variant, "--data-dir", d,
                           *(a for k in ("batch_size", "block_size", "warmup", "batches", "threads")
                             for a in (f"--{k.replace('_', '-')}", str(getattr(args, k))))]
                    out = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": tree}, capture_output=True,
                                         text=True, check=True)
                    runs[d][name].append(json.loads(out.stdout))
                    r = runs[d][name][-1]
                    print(f"{Path(d).name} {name}: {r['batch_us']:.0f} us/batch, load +{r['load_rss_growth_mib']:.1f} "
                          f"MiB (peak +{r['load_peak_rss_growth_mib']:.1f})", file=sys.stderr)
    keys = ("batch_us", "first_batch_us", "load_seconds", "load_rss_growth_mib", "load_peak_rss_growth_mib",
            "batches_rss_anon_growth_mib", "batches_rss_file_growth_mib", "loadavg_1min")
    summary = {
        Path(d).name: {
            name: {"train_type": rs[0]["train_type"], "train_dtype": rs[0]["train_dtype"],
                   "file_mib": rs[0]["file_mib"], "batches_sha256": rs[0]["batches_sha256"],
                   "same_batches_every_round": len({r["batches_sha256"] for r in rs}) == 1,
                   **{k: spread([r[k] for r in rs]) for k in keys if rs[0][k] is not None}}
            for name, rs in by_variant.items()}
        for d, by_variant in runs.items()}
    import torch

    print(json.dumps({
        "benchmark": "batches", "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/batch_speed.py " + " ".join(sys.argv[1:]),
        "batch_size": args.batch_size, "block_size": args.block_size, "warmup": args.warmup,
        "timed_batches": args.batches, "rounds": args.rounds,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "cpu_count": os.cpu_count(), "torch_threads": runs[data_dirs[0]]["after"][0]["torch_threads"]},
        "trees": {name: tree for name, (_, tree) in variants.items()},
        "summary": summary, "runs": runs,
    }, indent=2))


if __name__ == "__main__":
    main()
