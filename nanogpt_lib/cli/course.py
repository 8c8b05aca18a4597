"""Teaching kit: student editions of the notebooks (nbgrader) and the course website (Jupyter Book).

Conventions the notebooks follow (nbgrader's):

- An exercise's solution cell carries nbgrader metadata (`"solution": true`) and the tag `exercise`; the
  solution is written between `### BEGIN SOLUTION` and `### END SOLUTION`, after the prompt comments.
- Its self-check cells are ordinary `assert` cells tagged `self-check`, after the solution cell.
- Each self-check cell is also an nbgrader autograde cell (`"grade": true`, `"points"`), so a teacher can grade
  the student editions with `nbgrader autograde`.
- **An exercise** is the solution cell plus the `self-check` cells that follow it (markdown cells may sit in
  between). These are the "exercise cells": in a student edition the stub raises `NotImplementedError`
  (in the solution cell, or, when the stub sits inside a `def`, in the self-check that calls it) and the
  self-checks fail until the student writes the code. No other cell may depend on an exercise's answer.
- Typical wrong answers to each exercise live in `tests/wrong_answers/NN.py`; the tests require every
  self-check to reject each of them with a message that names the bug.

A student edition differs from the teacher's notebook in only these ways: the solutions are stubs, the exercise
cells have no outputs and carry the `raises-exception` tag (so *Run all* in Jupyter goes past an unsolved
exercise), the first cell links to no solutions and says how the exercises work, and the test-harness markers
(`# NBVAL_...` comments) are gone.

`student_edition` uses nbgrader's own `ClearSolutions` preprocessor, so the result is what `nbgrader
generate_assignment` would produce for these cells. `build_site` stages `docs/` and the notebooks into one
folder and builds it with Jupyter Book, using the outputs saved in the notebooks (nothing is executed).
"""

from __future__ import annotations

import argparse
import copy
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..notebook import REPO_URL, colab_url

EXERCISE_TAG = "exercise"
SELF_CHECK_TAG = "self-check"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
RAISES_TAG = "raises-exception"  # Jupyter's Run all carries on past a cell with this tag when it fails
# The teacher-edition link in the first cell's badge line (`notebooks/build.py` writes it)
TEACHER_LINK = re.compile(r" · \[teacher edition, with solutions\]\([^)]*\)")
NBVAL_MARKER = re.compile(r"^[ \t]*# NBVAL_[A-Z_]+[ \t]*\n?", re.MULTILINE)
HOW_EXERCISES_WORK = """
> **How the exercises work.** Each exercise is a cell with `# YOUR CODE HERE`: replace the
> `raise NotImplementedError()` below it with your code and run the cell, then run the **self-check** cell after
> it. You are done when the self-check runs without an error; when it fails, its message names the likely bug.
> An exercise you have not solved yet fails in its own cells only, and nothing else in the notebook needs its
> answer: in JupyterLab and Jupyter Notebook, *Run all* goes on past it; in Colab, *Run all* stops there, so
> click the next cell and use *Runtime → Run after*. `pick(real=..., fast=...)` gives the `real` setting
> when you run the notebook (the project's tests use the short `fast` one); you can read it as just `real`.
"""

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = ROOT / "notebooks"
DOCS_DIR = ROOT / "docs"
# The website's "Reference" part: docs/NAME.md pages, in this order (the README links the same pages).
REFERENCE_PAGES = ("install", "cli", "runs", "tokenizers", "chat", "scaling", "benchmarks", "results")


def notebook_paths(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """The series in order: `NN_name.ipynb` files of `notebooks_dir`, sorted by their number."""
    return sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_solution_cell(cell) -> bool:
    """A cell nbgrader treats as a solution cell (metadata `nbgrader.solution` is true)."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))


def exercises(nb) -> dict[int, list[int]]:
    """Map each solution cell's index to the indices of its self-check cells (those tagged `self-check`
    after it, before the next untagged code cell or the next exercise)."""
    groups: dict[int, list[int]] = {}
    current = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if is_solution_cell(cell):
            current = i
            groups[i] = []
        elif SELF_CHECK_TAG in _tags(cell) and current is not None:
            groups[current].append(i)
        else:
            current = None
    return groups


def exercise_cells(nb) -> set[int]:
    """Indices of every exercise cell: the solution cells and their self-check cells."""
    return {i for sol, checks in exercises(nb).items() for i in (sol, *checks)}


def convention_problems(nb, name: str = "notebook") -> list[str]:
    """Ways in which `nb` breaks the exercise conventions above (empty when it follows them)."""
    problems, seen_ids = [], set()
    grouped = exercise_cells(nb)
    for i, cell in enumerate(nb.cells):
        where = f"{name} cell {i}"
        marked = BEGIN in cell.source or END in cell.source
        if is_solution_cell(cell):
            meta = cell.metadata["nbgrader"]
            if cell.cell_type != "code":
                problems.append(f"{where}: solution cells must be code cells")
            if EXERCISE_TAG not in _tags(cell):
                problems.append(f"{where}: solution cell without the '{EXERCISE_TAG}' tag")
            if not (BEGIN in cell.source and END in cell.source):
                problems.append(f"{where}: solution cell without {BEGIN} / {END} markers")
            if meta.get("grade_id") in seen_ids or not meta.get("grade_id"):
                problems.append(f"{where}: missing or repeated nbgrader grade_id {meta.get('grade_id')!r}")
            seen_ids.add(meta.get("grade_id"))
        elif marked:
            problems.append(f"{where}: solution markers in a cell without nbgrader solution metadata")
        elif EXERCISE_TAG in _tags(cell):
            problems.append(f"{where}: tagged '{EXERCISE_TAG}' but has no nbgrader solution metadata")
        if SELF_CHECK_TAG in _tags(cell) and i not in grouped:
            problems.append(f"{where}: a '{SELF_CHECK_TAG}' cell that does not follow an exercise")
        if SELF_CHECK_TAG in _tags(cell):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not (meta.get("grade") and meta.get("points", 0) > 0 and meta.get("grade_id")):
                problems.append(f"{where}: a '{SELF_CHECK_TAG}' cell must be an nbgrader autograde cell "
                                "(grade: true, points > 0, a grade_id)")
            elif meta.get("grade_id") in seen_ids:
                problems.append(f"{where}: repeated nbgrader grade_id {meta.get('grade_id')!r}")
            seen_ids.add(meta.get("grade_id"))
    return problems


def student_edition(nb, name: str = "notebook"):
    """A copy of `nb` for students: solutions replaced by nbgrader's stub (`# YOUR CODE HERE` +
    `raise NotImplementedError()`), outputs of the exercise cells cleared, everything else kept.

    Raises ValueError if the notebook breaks the exercise conventions (the stub would land in the wrong place).
    """
    from nbgrader.preprocessors import ClearSolutions

    problems = convention_problems(nb, name)
    if problems:
        raise ValueError("cannot make a student edition:\n  " + "\n  ".join(problems))
    nb = copy.deepcopy(nb)
    nb, _ = ClearSolutions().preprocess(nb, {})
    if nb.cells and nb.cells[0].cell_type == "markdown":
        first = nb.cells[0]
        first.source = TEACHER_LINK.sub("", first.source)
        first.source = first.source.rstrip("\n") + "\n" + HOW_EXERCISES_WORK
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = NBVAL_MARKER.sub("", cell.source)
    for i in exercise_cells(nb):
        cell = nb.cells[i]
        cell.metadata.setdefault("tags", [])
        if RAISES_TAG not in cell.metadata["tags"]:
            cell.metadata["tags"].append(RAISES_TAG)
        cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)  # timings of the teacher's run of the solution
        # The teacher edition folds solutions away; students must see the prompt and the stub.
        jupyter = cell.metadata.get("jupyter")
        if jupyter is not None:
            jupyter.pop("source_hidden", None)
            if not jupyter:
                del cell.metadata["jupyter"]
    return nb


def write_student_editions(out_dir: str | Path, notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """Write the student edition of every notebook of the series into `out_dir`; return the paths."""
    import nbformat

    paths = notebook_paths(notebooks_dir)
    if not paths:
        raise FileNotFoundError(f"no notebooks (NN_name.ipynb) in {notebooks_dir}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nb = student_edition(nbformat.read(path, as_version=4), path.name)
        nbformat.write(nb, out_dir / path.name)
        written.append(out_dir / path.name)
    return written


# ----------------------------------------------------------------------------------------------- website
def notebook_title(nb, fallback: str) -> str:
    """The first `# heading` of the notebook's markdown (the page title on the website)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+?)\s*$", cell.source, re.MULTILINE)
            if match:
                return match.group(1)
    return fallback


def series_table(notebooks: list[Path]) -> str:
    """Markdown table of the series: page link, Colab link, and the number of exercises of each notebook."""
    import nbformat

    rows = ["| notebook | open in Colab | exercises |", "|---|---|---|"]
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        badge = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        rows.append(f"| [{notebook_title(nb, path.stem)}](notebooks/{path.name}) | {badge}({colab_url(path.name)}) "
                    f"| {len(exercises(nb))} |")
    return "\n".join(rows)


def _stage_notebook(src: Path, dest: Path) -> None:
    """Copy a notebook for the site, folding solution cells behind a toggle (myst-nb's `hide-input` tag)."""
    import nbformat

    nb = nbformat.read(src, as_version=4)
    for i in exercises(nb):
        tags = nb.cells[i].metadata.setdefault("tags", [])
        if "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(nb, dest)


def site_links(markdown: str, folder: str = "", repo_url: str = REPO_URL) -> str:
    """A docs page's links as the website needs them; `folder` is the page's folder inside docs/.

    On GitHub the pages sit in docs/ and reach the rest of the repository with `../`. On the site, docs/ is
    the root, the notebooks are in `notebooks/`, and only the top-level pages are built. So a link to
    `../notebooks/X` becomes `notebooks/X`, a link to another top-level page stays, and every other local
    link (a file elsewhere in the repository, report.json, a page the site does not build) points to the
    file in the repository instead. Images are left alone: they are copied with the pages.
    """

    def fix(match: re.Match) -> str:
        text, target = match.group(1), match.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:|#", target):  # a web address, mailto:, or an anchor on this page
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join("docs", folder, path))
        if resolved.startswith("notebooks/"):
            site_path = posixpath.relpath(resolved, folder or ".")  # the site's root is docs/
            return f"[{text}]({site_path}{'#' + anchor if anchor else ''})"
        if posixpath.dirname(resolved) == "docs" and resolved.endswith(".md") and not folder:
            return match.group(0)
        return f"[{text}]({repo_url}/blob/main/{resolved}{'#' + anchor if anchor else ''})"

    return re.sub(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)", fix, markdown)


def stage_site(source_dir: str | Path, notebooks_dir: str | Path = NOTEBOOKS_DIR,
               docs_dir: str | Path = DOCS_DIR) -> Path:
    """Assemble the book's sources in `source_dir`: docs/ (config, pages, images), the notebooks, a table of
    contents (the notebooks present, the teacher's guide, the reference pages), and the landing page with the
    series table filled in."""
    import yaml

    source_dir, docs_dir = Path(source_dir), Path(docs_dir)
    notebooks = notebook_paths(notebooks_dir)
    if not notebooks:
        raise FileNotFoundError(f"no notebooks (NN_name.ipynb) in {notebooks_dir}")
    reference = [name for name in REFERENCE_PAGES if (docs_dir / f"{name}.md").is_file()]
    if source_dir.exists():
        shutil.rmtree(source_dir)
    shutil.copytree(docs_dir, source_dir, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    for page in source_dir.rglob("*.md"):
        page.write_text(site_links(page.read_text(), page.parent.relative_to(source_dir).as_posix().strip(".")))
    (source_dir / "notebooks").mkdir()
    for path in notebooks:
        _stage_notebook(path, source_dir / "notebooks" / path.name)

    config = yaml.safe_load((docs_dir / "_config.yml").read_text())
    # The repository (and so every Colab launch button) follows nanogpt_lib.notebook.REPO_URL.
    config.setdefault("repository", {})["url"] = REPO_URL
    (source_dir / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    intro = (source_dir / "intro.md").read_text()
    if "<!-- series-table -->" not in intro:
        raise ValueError(f"{docs_dir / 'intro.md'} has no <!-- series-table --> marker for the series table")
    (source_dir / "intro.md").write_text(intro.replace("<!-- series-table -->", series_table(notebooks)))

    toc = {"format": "jb-book", "root": "intro",
           "parts": [{"caption": "The notebooks", "chapters": [{"file": f"notebooks/{p.stem}"} for p in notebooks]},
                     {"caption": "For teachers", "chapters": [{"file": "teaching"}]}]
           + ([{"caption": "Reference", "chapters": [{"file": name} for name in reference]}] if reference else [])}
    (source_dir / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return source_dir


def build_site(out_dir: str | Path, notebooks_dir: str | Path = NOTEBOOKS_DIR, docs_dir: str | Path = DOCS_DIR,
               quiet: bool = True) -> Path:
    """Build the course website into `out_dir` from the notebooks' saved outputs; return the HTML folder.

    The sources are staged in `out_dir/source`; the site is `out_dir/_build/html` (open `index.html`).
    """
    out_dir = Path(out_dir).resolve()
    source = stage_site(out_dir / "source", notebooks_dir, docs_dir)
    # jupyter-book has no `python -m` entry point; calling its CLI function keeps us on this interpreter.
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(source),
           "--path-output", str(out_dir), "--all"] + (["-q"] if quiet else [])
    done = subprocess.run(cmd, capture_output=quiet, text=True)
    html = out_dir / "_build" / "html"
    if done.returncode != 0 or not (html / "index.html").is_file():
        detail = (done.stderr or done.stdout or "")[-3000:] if quiet else ""
        raise RuntimeError(f"the website build failed (exit status {done.returncode}):\n{detail}")
    return html


# ------------------------------------------------------------------------------------------------ the CLI
def add_parser(sub) -> dict[str, argparse.ArgumentParser]:
    """Register `nanogpt course student-edition OUT_DIR` and `nanogpt course site OUT_DIR`."""
    c = sub.add_parser("course", help="teaching kit: student editions of the notebooks, the course website")
    actions = c.add_subparsers(dest="course_command", required=True, metavar="{student-edition,site}")
    s = actions.add_parser("student-edition", help="write the notebooks with solutions replaced by stubs")
    s.add_argument("out_dir", metavar="OUT_DIR", help="folder for the student notebooks")
    s.add_argument("--notebooks", default=str(NOTEBOOKS_DIR), help="the teacher notebooks (default: notebooks/)")
    w = actions.add_parser("site", help="build the course website (Jupyter Book) from the notebooks' saved outputs")
    w.add_argument("out_dir", metavar="OUT_DIR", help="build folder; the site lands in OUT_DIR/_build/html")
    w.add_argument("--notebooks", default=str(NOTEBOOKS_DIR), help="the notebooks (default: notebooks/)")
    w.add_argument("--docs", default=str(DOCS_DIR), help="the site's own pages and config (default: docs/)")
    return {"course": c}


def cmd_course(args: argparse.Namespace) -> None:
    """Run `nanogpt course ...`; missing optional packages and build failures become one-line errors."""
    from .errors import CLIError

    try:
        if args.course_command == "student-edition":
            for path in write_student_editions(args.out_dir, args.notebooks):
                print(path)
        else:
            html = build_site(args.out_dir, args.notebooks, args.docs)
            print(f"website: {html / 'index.html'}")
    except ModuleNotFoundError as e:
        raise CLIError(f"{e.name} is not installed: pip install -e '.[course]' (nbgrader, jupyter-book)") from None
    except RuntimeError as e:
        raise CLIError(str(e)) from None
