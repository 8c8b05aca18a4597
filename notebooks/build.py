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
offline). `tests/test_jupytext_pairs.py` fails when a pair is out of sync.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import time
from pathlib import Path

import nbformat
from jupytext.cli import jupytext

from nanogpt_lib.notebook import REPO_URL, colab_url, is_fast

HERE = Path(__file__).resolve().parent
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


def flatten_progress_widgets(nb) -> None:
    """Replace tqdm's notebook widgets by the text of their final state, which every viewer can show.

    Saved widget outputs need their widget state to render, which GitHub and Colab do not restore.
    """
    state = nb.metadata.pop("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view is None:
                continue
            parts = [state.get(child.removeprefix("IPY_MODEL_"), {}).get("state", {})
                     for child in state.get(view["model_id"], {}).get("state", {}).get("children", [])]
            if len(parts) == 3:  # tqdm: HTML prefix, FloatProgress, HTML postfix
                filled = round(10 * parts[1].get("value", 0) / max(parts[1].get("max") or 1, 1))
                text = f"{parts[0].get('value', '')}|{'█' * filled}{' ' * (10 - filled)}|{parts[2].get('value', '')}"
                output.data = {"text/plain": html.unescape(text).replace("\u2007", " ")}
            else:
                del output.data["application/vnd.jupyter.widget-view+json"]


def execute(nb, path: Path) -> float:
    """Run `nb` in a fresh kernel in the notebooks folder; return the wall time in seconds."""
    from nbclient import NotebookClient

    start = time.time()
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = collapse_carriage_returns(output.text)
    flatten_progress_widgets(nb)
    return time.time() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose file names start with these (e.g. 02)")
    parser.add_argument("--no-execute", action="store_true", help="only sync the pairs, without running them")
    args = parser.parse_args(argv)
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
    synced_at = {path: path.with_suffix(".py").stat().st_mtime for path in paths}
    timings = {}
    for path in paths:
        source = path.with_suffix(".py")
        nb = nbformat.read(path, as_version=4)
        timings[path.stem] = execute(nb, path)
        print(f"{path.stem}: {timings[path.stem]:.0f} s", flush=True)
        if source.stat().st_mtime != synced_at[path]:  # saving older cells would let the next sync undo the edit
            print(f"  {source.name} changed while it ran: outputs not saved, run it again", flush=True)
            continue
        nbformat.write(nb, path)
        os.utime(source)  # the text file stays the newer one, as `jupytext --sync` leaves it
    print(f"total: {sum(timings.values()):.0f} s")


if __name__ == "__main__":
    sys.exit(main())
