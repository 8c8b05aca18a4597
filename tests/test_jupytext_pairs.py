"""Every notebook is a Jupytext pair (`notebooks/jupytext.toml`): `NN_name.py`, the source people edit, and
`NN_name.ipynb`, the same cells with the committed outputs. These tests fail when a pair is out of sync, when
`jupytext --sync` would still change a file, when the `.py` sources have pyflakes findings (ruff's F rules)
and when a source's Colab badge or install line does not follow `REPO_URL`.

As in test_notebooks.py, each rule returns a list of problems and is also run on broken copies.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
from jupytext.cli import jupytext as jupytext_cli
from jupytext.formats import read_format_from_metadata

from nanogpt_lib.notebook import REPO_URL, colab_url

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
CONFIG = NOTEBOOK_DIR / "jupytext.toml"
TOOLS = {"build.py"}  # the .py files in notebooks/ that are not notebooks
SOURCES = sorted(p for p in NOTEBOOK_DIR.glob("*.py") if p.name not in TOOLS)
# Cell metadata that jupytext keeps out of the .py (execution timings, UI state) or adds itself when reading
NOT_IN_SOURCE = {"execution", "ExecuteTime", "autoscroll", "collapsed", "scrolled", "trusted",
                 "lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker", "skipline", "noskipline"}
CELL_MARKER = re.compile(r"^# %%( |$)")


# ------------------------------------------------------------------------------------------ helpers
def read_source(path: Path):
    return jupytext.read(path, fmt="py:percent")


def cell_inputs(nb) -> list[tuple[str, str, dict]]:
    """What a pair must agree on: each cell's type, source and metadata (tags, nbgrader, ...)."""
    return [(c.cell_type, c.source, {k: v for k, v in c.metadata.items() if k not in NOT_IN_SOURCE})
            for c in nb.cells]


def sync_hint(py: Path) -> str:
    return f"run `jupytext --sync notebooks/{py.stem}.ipynb` (the newer file of the pair wins)"


# ---------------------------------------------------------------------------------------------- rules
def twin_problems(directory: Path) -> list[str]:
    """Every .ipynb has its .py and every .py (but the tools) its .ipynb; each .py says it is percent format."""
    notebooks = {p.stem for p in directory.glob("*.ipynb")}
    sources = {p.stem for p in directory.glob("*.py") if p.name not in TOOLS}
    problems = [f"{s}.ipynb has no {s}.py: create it with `jupytext --sync {s}.ipynb`"
                for s in sorted(notebooks - sources)]
    problems += [f"{s}.py has no {s}.ipynb: create it with `python notebooks/build.py {s}`"
                 for s in sorted(sources - notebooks)]
    for stem in sorted(sources):
        fmt = read_format_from_metadata((directory / f"{stem}.py").read_text(), ".py")
        if fmt != "percent":
            problems.append(f"{stem}.py: its header must say `format_name: percent` (found {fmt}); copy the "
                            f"header of another notebook's .py")
    return problems


def cell_problems(py: Path, ipynb: Path) -> list[str]:
    """Both files of a pair have the same cells, ignoring outputs, execution counts and timings."""
    src, nb = cell_inputs(read_source(py)), cell_inputs(jupytext.read(ipynb))
    problems = []
    if len(src) != len(nb):
        problems.append(f"{py.name} has {len(src)} cells, {ipynb.name} {len(nb)}")
    for i, (a, b) in enumerate(zip(src, nb)):
        for what, x, y in zip(("type", "source", "metadata"), a, b):
            if x != y:
                problems.append(f"cell {i}: the {what} differs: {py.name} has {x!r:.200}, {ipynb.name} {y!r:.200}")
                break
        if len(problems) >= 5:
            break
    return problems + [sync_hint(py)] if problems else []


def sync_problems(py: Path, ipynb: Path, work_dir: Path, config: Path = CONFIG) -> list[str]:
    """`jupytext --sync` changes neither file of the pair, whichever of the two is the newer."""
    problems = []
    for newer in (".py", ".ipynb"):
        work_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(config, work_dir / "jupytext.toml")
        copies = {p.suffix: shutil.copy(p, work_dir / p.name) for p in (py, ipynb)}
        for suffix, path in copies.items():
            t = 1_700_000_000 + (100 if suffix == newer else 0)
            os.utime(path, (t, t))
        if jupytext_cli(["--sync", "--quiet", str(copies[".ipynb"])]) != 0:
            problems.append(f"jupytext --sync {ipynb.name} failed (the {newer} being the newer file)")
        for original, copy in ((py, copies[".py"]), (ipynb, copies[".ipynb"])):
            if Path(copy).read_bytes() != original.read_bytes():
                problems.append(f"jupytext --sync would rewrite {original.name} (the {newer} being the newer file)")
    return problems + [sync_hint(py)] if problems else []


def ruff_problems(sources: list[Path], work_dir: Path) -> list[str]:
    """`ruff check --select F` (pyflakes: undefined names, unused imports...) over the notebook sources.

    Ruff reads each source as the notebook jupytext makes of it, so the `%pip` magics (commented out in the
    .py, where they leave an `if` without a body) are IPython again; findings point at lines of the .py.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    by_stem = {}
    for py in sources:
        jupytext.write(read_source(py), work_dir / f"{py.stem}.ipynb", fmt="ipynb")
        by_stem[py.stem] = py
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "F",
         "--output-format", "json", *sorted(str(p) for p in work_dir.glob("*.ipynb"))],
        capture_output=True, text=True, cwd=work_dir,
    )
    if result.returncode not in (0, 1):
        return [f"ruff failed ({result.returncode}): {result.stderr.strip()}"]
    problems = []
    for finding in json.loads(result.stdout):
        py = by_stem[Path(finding["filename"]).stem]
        markers = [n for n, line in enumerate(py.read_text().splitlines(), 1) if CELL_MARKER.match(line)]
        cell, row = finding.get("cell"), finding["location"]["row"]
        where = f"{py.name}:{markers[cell - 1] + row}" if cell and cell <= len(markers) else f"{py.name} cell {cell}"
        problems.append(f"{where}: {finding['code']} {finding['message']}")
    return problems


def url_problems(py: Path) -> list[str]:
    """The badge links `colab_url(NN_name.ipynb)`; the first code cell installs git+REPO_URL in Colab."""
    nb = read_source(py)
    problems = []
    badge = colab_url(f"{py.stem}.ipynb")
    if not nb.cells or nb.cells[0].cell_type != "markdown" or badge not in nb.cells[0].source:
        problems.append(f"{py.name}: the first cell must be markdown with the Colab badge linking {badge}")
    first_code = next((c.source for c in nb.cells if c.cell_type == "code"), "")
    urls = re.findall(r"[%!]pip install[^\n]*?git\+([^\s\"'@#]+)", first_code)
    if urls != [REPO_URL]:
        problems.append(f"{py.name}: the first code cell must `%pip install` git+{REPO_URL} in Colab (found {urls})")
    return problems


# ----------------------------------------------------------------------------------- the real notebooks
def test_there_are_pairs():
    assert CONFIG.is_file()
    assert len(SOURCES) >= 8, [p.name for p in SOURCES]


def test_every_notebook_is_a_pair():
    assert twin_problems(NOTEBOOK_DIR) == []


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_pair_has_the_same_cells(py):
    assert cell_problems(py, py.with_suffix(".ipynb")) == []


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_sync_is_a_no_op(py, tmp_path):
    assert sync_problems(py, py.with_suffix(".ipynb"), tmp_path) == []


def test_sources_pass_ruff_pyflakes(tmp_path):
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is not installed: pip install -e '.[dev]'")
    assert ruff_problems(SOURCES, tmp_path) == []


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: p.stem)
def test_badge_and_install_follow_repo_url(py):
    assert url_problems(py) == []


# ------------------------------------------------------------------------- the rules can fail
@pytest.fixture
def pair(tmp_path):
    """A copy of the first pair, in sync."""
    py = Path(shutil.copy(SOURCES[0], tmp_path / SOURCES[0].name))
    ipynb = Path(shutil.copy(SOURCES[0].with_suffix(".ipynb"), tmp_path / f"{SOURCES[0].stem}.ipynb"))
    assert cell_problems(py, ipynb) == []
    return py, ipynb


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_rule_twins(tmp_path):
    (tmp_path / "00_a.ipynb").write_text("{}")
    (tmp_path / "01_b.py").write_text("# %%\n")
    (tmp_path / "build.py").write_text("")
    problems = twin_problems(tmp_path)
    assert any("00_a.ipynb has no 00_a.py" in p for p in problems)
    assert any("01_b.py has no 01_b.ipynb" in p for p in problems)
    assert any("01_b.py: its header" in p for p in problems)
    assert not any(p.startswith("build") for p in problems)


def test_rule_cells(pair):
    py, ipynb = pair
    _edit(py, "text = load_text()\n", "text = load_text()[:1000]\n")  # a code cell
    assert any("the source differs" in p for p in cell_problems(py, ipynb))
    _edit(py, "text = load_text()[:1000]\n", "text = load_text()\n")
    assert cell_problems(py, ipynb) == []
    _edit(py, 'tags=["self-check"]', 'tags=["exercise"]')  # the metadata in a cell header
    assert any("the metadata differs" in p for p in cell_problems(py, ipynb))
    _edit(py, 'tags=["exercise"]', 'tags=["self-check"]')
    _edit(py, "# %% [markdown]\n# ## The corpus", "# %%\n# ## The corpus")  # markdown becomes code
    assert any("the type differs" in p for p in cell_problems(py, ipynb))


def test_rule_sync(pair, tmp_path):
    py, ipynb = pair
    assert sync_problems(py, ipynb, tmp_path / "sync") == []
    _edit(py, "text = load_text()\n", "text = load_text()[:1000]\n")
    assert any(f"would rewrite {ipynb.name}" in p for p in sync_problems(py, ipynb, tmp_path / "sync"))


def test_rule_ruff(pair, tmp_path):
    py, _ = pair
    lines = py.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line == "text = load_text()\n")
    lines[at:at + 1] = ["import os\n", "text = load_text() + undefined_name\n"]
    py.write_text("".join(lines))
    problems = ruff_problems([py], tmp_path / "ruff")
    assert f"{py.name}:{at + 1}: F401 `os` imported but unused" in problems, problems
    assert any(p.startswith(f"{py.name}:{at + 2}: F821") for p in problems), problems
    assert len(problems) == 2, problems  # the commented-out %pip in the first cell is not a finding


def test_rule_urls(pair):
    py, _ = pair
    _edit(py, colab_url(f"{py.stem}.ipynb"), "https://example.com")
    _edit(py, f"git+{REPO_URL}", f"git+{REPO_URL}-fork")
    assert len(url_problems(py)) == 2
