"""Sync each notebook's Jupytext pair, execute the `.ipynb` in place, tidy its outputs, print the wall times.

Every notebook is a pair (see `jupytext.toml`): `NN_name.py`, in percent format, is the source people edit and
review; `NN_name.ipynb` holds the same cells and the committed outputs of one full run. Edit the `.py` (or the
notebook in Jupyter with jupytext installed, which saves both files; start a new notebook from a copy of an
existing `.py`, header included), then:

    python notebooks/build.py                   # sync, then execute every notebook at full settings (~15 min, 2 cores)
    python notebooks/build.py 02 03             # only the notebooks whose names start with these prefixes
    NANOGPT_FAST=1 python notebooks/build.py    # fast mode, for a quick try (do not commit those outputs)
    python notebooks/build.py --no-execute      # only sync the pairs, as `jupytext --sync notebooks/*.ipynb` does

Syncing is `jupytext --sync`: the newer file of a pair gives the cells to the other, and the `.ipynb` keeps
the outputs of the cells it still has. Execution needs the corpus (`NANOGPT_DATA=/path/to/input.txt`
offline) and, for GPT-2's tokenizer offline, its ranks (`NANOGPT_GPT2_RANKS=/path/to/gpt2.tiktoken`; the
shared copy `../shared/data/gpt2.tiktoken` beside the checkout is used when the variable is not set).
`tests/test_jupytext_pairs.py` fails when a pair is out of sync.

**Timings.** A full-settings build records each notebook's wall time, with the machine, thread setting,
torch version and date, in `timings.json` (fast mode records nothing). It is the one source of run times:
prose never states one by hand. Quote a time in Markdown (README, docs, notebooks) as
`<!-- timing 04_full_gpt -->4 min 2 s<!-- /timing -->` (or `timing total` for the series), and the table of
all of them as the output of `python notebooks/build.py --timings-table` between `<!-- timings-table -->` and
`<!-- /timings-table -->`; `tests/test_timings.py` fails when a quoted time or table disagrees with the file.
"""

from __future__ import annotations

import argparse
import datetime
import html
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import nbformat
from jupytext.cli import jupytext

from nanogpt_lib.notebook import REPO_URL, colab_url, is_fast

HERE = Path(__file__).resolve().parent
TIMINGS = HERE / "timings.json"
SHARED_GPT2_RANKS = HERE.parents[1] / "shared" / "data" / "gpt2.tiktoken"
# Notebook metadata the `.py` header does not carry (jupytext.toml keeps only the kernelspec there); a notebook
# created from a new `.py` gets it here.
METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
    "colab": {"provenance": []},
}


def pairs(prefixes: list[str]) -> list[Path]:
    """The `.ipynb` path of every notebook (`NN_name`, from either file of its pair) matching `prefixes`."""
    stems = {p.stem for p in HERE.glob("[0-9][0-9]_*") if p.suffix in (".py", ".ipynb")}
    return [HERE / f"{s}.ipynb" for s in sorted(stems) if not prefixes or any(s.startswith(p) for p in prefixes)]


def sync(path: Path) -> None:
    """`jupytext --sync` one pair (creating the `.ipynb` of a new notebook), then add missing metadata."""
    # A new `.py` without the header of the others: tell jupytext its format (it would guess "hydrogen").
    args = [str(path)] if path.exists() else ["--from", "py:percent", str(path.with_suffix(".py"))]
    if jupytext(["--sync", "--quiet", *args]) != 0 or not path.exists():
        raise SystemExit(f"jupytext --sync {args[-1]} failed")
    nb = nbformat.read(path, as_version=4)
    if any(key not in nb.metadata for key in METADATA):
        nb.metadata.update({k: v for k, v in METADATA.items() if k not in nb.metadata})
        nbformat.write(nb, path)


def first_cell_problems(nb, path: Path) -> list[str]:
    """The badge and the Colab install must follow REPO_URL (once generated from it, now written in the `.py`)."""
    problems = []
    if not nb.cells or colab_url(path.name) not in nb.cells[0].source:
        problems.append(f"the first cell must have the Colab badge linking {colab_url(path.name)}")
    first_code = next((c.source for c in nb.cells if c.cell_type == "code"), "")
    if f"git+{REPO_URL}" not in first_code:
        problems.append(f"the first code cell must `%pip install` git+{REPO_URL} in Colab")
    return [f"{path.with_suffix('.py').name}: {p}" for p in problems]


def collapse_carriage_returns(text: str) -> str:
    """What a terminal would show: of each line, only the text after its last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


# The widget models that make a box a progress bar (tqdm's is an HBox: description HTML, FloatProgress, counts HTML).
PROGRESS_MODELS = ("FloatProgressModel", "IntProgressModel")


def flatten_progress_widgets(nb) -> None:
    """Replace each progress bar's widget (a box with a progress-bar child) by the text of its final state, which
    every viewer can show, and drop every other widget view (the library's controls also send a picture).

    Saved widget outputs need their widget state to render, which GitHub and Colab do not restore.
    """
    state = nb.metadata.pop("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view is None:
                continue
            children = [state.get(child.removeprefix("IPY_MODEL_"), {})
                        for child in state.get(view["model_id"], {}).get("state", {}).get("children", [])]
            bar = next((i for i, child in enumerate(children) if child.get("model_name") in PROGRESS_MODELS), None)
            if bar is None:
                del output.data["application/vnd.jupyter.widget-view+json"]
                continue
            parts = [child.get("state", {}) for child in children]
            filled = round(10 * parts[bar].get("value", 0) / max(parts[bar].get("max") or 1, 1))
            before, after = ("".join(p.get("value", "") for p in side) for side in (parts[:bar], parts[bar + 1:]))
            text = f"{before}|{'█' * filled}{' ' * (10 - filled)}|{after}"
            output.data = {"text/plain": html.unescape(text).replace("\u2007", " ")}


def print_slowest_cells(nb, count: int = 3) -> None:
    """Print the `count` slowest code cells (the places to trim when a notebook runs too long).

    nbclient records when each cell started and finished in its metadata; that record is removed here so that
    the committed notebook does not change with every run.
    """
    took = []
    for number, cell in enumerate(nb.cells):
        stamps = cell.metadata.pop("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            begin, end = (datetime.datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            took.append(((end - begin).total_seconds(), number, cell.source.splitlines()[0] if cell.source else ""))
    for seconds, number, first_line in sorted(took, reverse=True)[:count]:
        print(f"  cell {number}: {seconds:.0f} s  {first_line[:70]}", flush=True)


def execute(nb, path: Path) -> float:
    """Run `nb` in a fresh kernel in the notebooks folder; return the wall time in seconds."""
    from nbclient import NotebookClient

    start = time.time()
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    print_slowest_cells(nb)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = collapse_carriage_returns(output.text)
    flatten_progress_widgets(nb)
    return time.time() - start


def machine_description() -> str:
    """CPU model and core count (and GPU, if any) of this machine, in words."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    described = f"{cpu}, {os.cpu_count()} cores"
    try:
        import torch

        if torch.cuda.is_available():
            described += f", {torch.cuda.get_device_name()}"
    except ImportError:
        pass
    return described


def read_timings(path: Path = TIMINGS) -> dict[str, dict]:
    """`{notebook stem: {"seconds", "date", "machine", "omp_num_threads", "torch"}}` from `timings.json`."""
    return json.loads(path.read_text())["notebooks"] if path.is_file() else {}


def record_timings(measured: dict[str, float], loads: dict[str, tuple[float, float]], path: Path = TIMINGS) -> None:
    """Merge full-settings wall times into `timings.json`; notebooks not run this time keep their entries.

    `loads` holds the machine's 1-minute load average when each notebook started and ended: on a shared
    machine a time means little without it (2 cores: a load above 2 means other work was competing).
    """
    import torch

    entries = read_timings(path)
    for stem, seconds in measured.items():
        entries[stem] = {"seconds": round(seconds, 1), "date": datetime.date.today().isoformat(),
                         "machine": machine_description(),
                         "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"), "torch": torch.__version__,
                         "load_average_start_end": [round(v, 2) for v in loads[stem]]}
    data = {"about": "Wall time of one full-settings execution of each notebook by notebooks/build.py, which "
                     "writes this file; quote it, never edit it (see build.py).",
            "notebooks": dict(sorted(entries.items()))}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def format_duration(seconds: float) -> str:
    """How prose quotes a run time: `42 s` under 90 seconds, else `4 min 2 s`."""
    total = round(seconds)
    return f"{total} s" if total < 90 else f"{total // 60} min {total % 60} s"


def timings_table(entries: dict[str, dict]) -> str:
    """The Markdown table of every recorded notebook and the total, with where and when they were measured."""
    if not entries:
        return "No timings recorded yet: run `python notebooks/build.py` at full settings."
    rows = ["| notebook | full settings | load average (start → end) |", "|---|---|---|"]
    for stem, e in entries.items():
        load = e.get("load_average_start_end")
        rows.append(f"| {stem} | {format_duration(e['seconds'])} | {f'{load[0]} → {load[1]}' if load else 'not recorded'} |")
    rows.append(f"| total | {format_duration(sum(e['seconds'] for e in entries.values()))} | |")
    setups: dict[str, list[str]] = {}
    for stem, e in entries.items():
        setup = f"{e['machine']}; OMP_NUM_THREADS={e['omp_num_threads']}; torch {e['torch']}; {e['date']}"
        setups.setdefault(setup, []).append(stem[:2])
    where = "; ".join(f"{', '.join(nbs)} on {setup}" if len(setups) > 1 else setup for setup, nbs in setups.items())
    return "\n".join(rows) + f"\n\nOne execution each by `notebooks/build.py` ({where})."


TIMING_CLAIM = re.compile(r"<!--\s*timing\s+(\S+)\s*-->(.*?)<!--\s*/timing\s*-->", re.DOTALL)
TIMINGS_TABLE = re.compile(r"<!--\s*timings-table\s*-->(.*?)<!--\s*/timings-table\s*-->", re.DOTALL)


def timing_problems(text: str, entries: dict[str, dict], where: str) -> list[str]:
    """Quoted times and tables in the Markdown `text` that disagree with `entries` (from `timings.json`)."""
    problems = []
    for match in TIMING_CLAIM.finditer(text):
        name, quoted = match.group(1), match.group(2).strip()
        if name == "total":
            expected = format_duration(sum(e["seconds"] for e in entries.values())) if entries else None
        else:
            expected = format_duration(entries[name]["seconds"]) if name in entries else None
        if expected is None:
            problems.append(f"{where}: quotes the time of {name!r}, which timings.json does not have")
        elif quoted != expected:
            problems.append(f"{where}: says {quoted!r} for {name}, timings.json says {expected!r}")
    for match in TIMINGS_TABLE.finditer(text):
        if match.group(1).strip() != timings_table(entries).strip():
            problems.append(f"{where}: the timings table differs from `python notebooks/build.py --timings-table`")
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose file names start with these (e.g. 02)")
    parser.add_argument("--no-execute", action="store_true", help="only sync the pairs, without running them")
    parser.add_argument("--timings-table", action="store_true",
                        help="print the Markdown table of timings.json (for the README and docs) and stop")
    args = parser.parse_args(argv)
    if args.timings_table:
        print(timings_table(read_timings()))
        return
    paths = pairs(args.prefixes)
    if not paths:
        raise SystemExit(f"no notebook in {HERE} starts with {' or '.join(args.prefixes)}")
    for path in paths:
        sync(path)
    problems = [p for path in paths for p in first_cell_problems(nbformat.read(path, as_version=4), path)]
    if problems:
        raise SystemExit("\n".join(problems))
    if args.no_execute:
        return
    print(f"executing in {'fast' if is_fast() else 'full'} mode", flush=True)
    if "NANOGPT_GPT2_RANKS" not in os.environ and SHARED_GPT2_RANKS.is_file():
        os.environ["NANOGPT_GPT2_RANKS"] = str(SHARED_GPT2_RANKS)  # the kernels inherit it
    synced_at = {path: path.with_suffix(".py").stat().st_mtime for path in paths}
    timings, loads = {}, {}
    for path in paths:
        source = path.with_suffix(".py")
        nb = nbformat.read(path, as_version=4)
        load_start = os.getloadavg()[0]
        timings[path.stem] = execute(nb, path)
        loads[path.stem] = (load_start, os.getloadavg()[0])
        print(f"{path.stem}: {timings[path.stem]:.0f} s", flush=True)
        if source.stat().st_mtime != synced_at[path]:  # saving older cells would let the next sync undo the edit
            print(f"  {source.name} changed while it ran: outputs not saved, run it again", flush=True)
            continue
        nbformat.write(nb, path)
        os.utime(source)  # the text file stays the newer one, as `jupytext --sync` leaves it
        if not is_fast():  # only the times of committed full-settings outputs are worth quoting
            record_timings({path.stem: timings[path.stem]}, loads)  # at once: a stopped build keeps what it measured
            print(f"  recorded in {TIMINGS.relative_to(HERE.parent)}", flush=True)
    print(f"total: {sum(timings.values()):.0f} s")


if __name__ == "__main__":
    sys.exit(main())
