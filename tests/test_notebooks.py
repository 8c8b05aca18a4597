"""Static checks of every notebook in `notebooks/` (nbval executes them; these read them).

Each rule is a function that returns a list of problems, so the same rule is run on the real notebooks
(expecting none) and on deliberately broken copies (expecting some): a rule that cannot fail is a bug.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

import nanogpt_lib
from nanogpt_lib.cli.course import convention_problems
from nanogpt_lib.notebook import REPO_URL, colab_url

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb"))
MAX_BYTES = 1_500_000
SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
NBGRADER_FIELDS = {"solution": True, "grade": False, "locked": False, "schema_version": 3}


# ------------------------------------------------------------------------------------------ helpers
def load(path: Path):
    return nbformat.read(path, as_version=4)


def code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def parse(source: str) -> ast.Module:
    """Parse a cell as Python after IPython turns its magics (`%pip ...`) into function calls."""
    return ast.parse(TransformerManager().transform_cell(source))


def has_assert(source: str) -> bool:
    """An `assert` statement or a call to an `assert_*` function (torch.testing.assert_close, ...)."""
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("assert"):
                return True
    return False


def headings(nb) -> list[tuple[int, str]]:
    """(cell index, heading text) of every markdown heading."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            found += [(i, m.group(1).strip()) for m in re.finditer(r"^#+\s+(.+)$", cell.source, re.MULTILINE)]
    return found


def is_exercise(cell) -> bool:
    """A solution cell (self-check cells carry nbgrader metadata too, as autograde cells)."""
    return cell.cell_type == "code" and ("exercise" in tags(cell) or cell.metadata.get("nbgrader", {}).get("solution"))


def bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the notebook's namespace (not inside functions or classes)."""
    names: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_Name(self, node):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)

        def visit_FunctionDef(self, node):
            names.add(node.name)

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_ClassDef(self, node):
            names.add(node.name)

        def visit_Lambda(self, node):
            pass

        def visit_ListComp(self, node):
            pass

        visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

        def visit_alias(self, node):
            names.add((node.asname or node.name).split(".")[0])

    Visitor().visit(stmt)
    return names


def loaded_names(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def student_source(source: str) -> str:
    """What nbgrader's ClearSolutions leaves of a solution cell."""
    pattern = re.compile(rf"^([ \t]*){re.escape(SOLUTION_BEGIN)}.*?^[ \t]*{re.escape(SOLUTION_END)}[^\n]*",
                         re.MULTILINE | re.DOTALL)
    return pattern.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", source)


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start, end = "<!-- SECTION:notebooks -->", "<!-- /SECTION:notebooks -->"
    assert start in text and end in text, "README.md lost its notebooks section markers"
    return text[text.index(start) + len(start) : text.index(end)]


# ---------------------------------------------------------------------------------------------- rules
def readme_problems(names: list[str], section: str) -> list[str]:
    """Every notebook is a row of the README's table, and every notebook the table names exists."""
    problems = [f"{n} is not in the README's notebook table" for n in names if f"{n}.ipynb" not in section]
    listed = set(re.findall(r"notebooks/([\w.-]+)\.ipynb", section))
    problems += [f"the README names {n}.ipynb, which is not in notebooks/" for n in sorted(listed - set(names))]
    return problems


def first_cell_problems(nb, filename: str) -> list[str]:
    """Colab badge on top; the first code cell installs from REPO_URL in Colab only, then calls setup()."""
    problems = []
    first_md = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first_md is None or nb.cells.index(first_md) != 0 or colab_url(filename) not in first_md.source:
        problems.append(f"the first cell must be markdown with the Colab badge linking {colab_url(filename)}")
    cells = code_cells(nb)
    if not cells:
        return problems + ["no code cells"]
    src = cells[0].source
    if not re.search(r"""if\s+["']google\.colab["']\s+in\s+sys\.modules\s*:""", src):
        problems.append('the first code cell must detect Colab with `if "google.colab" in sys.modules:`')
    urls = re.findall(r"[%!]pip install[^\n]*?git\+([^\s\"'@#]+)", src)
    if urls != [REPO_URL]:
        problems.append(f"the first code cell must `%pip install` git+{REPO_URL} (found {urls})")
    if not re.search(r"from nanogpt_lib\.notebook import setup\s+.*^setup\(", src, re.MULTILINE | re.DOTALL):
        problems.append("the first code cell must run `from nanogpt_lib.notebook import setup` and `setup()`")
    return problems


def library_class_problems(nb, library=nanogpt_lib) -> list[str]:
    """A class named like a library class must be compared with it in a cell that asserts something."""
    lib_classes = {n for n in dir(library) if not n.startswith("_") and isinstance(getattr(library, n), type)}
    trees = [(cell.source, parse(cell.source)) for cell in code_cells(nb)]
    defined = {node.name for _, tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    problems = []
    for name in sorted(defined & lib_classes):
        checked = False
        for source, tree in trees:
            module_aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                              for a in n.names if a.name == "nanogpt_lib"} | {"nanogpt_lib"}
            # `from nanogpt_lib import Head as LibHead`; unaliased it would be shadowed by the notebook's class
            refs = {a.asname for n in ast.walk(tree)
                    if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("nanogpt_lib")
                    for a in n.names if a.name == name and a.asname not in (None, name)}
            uses = any(
                isinstance(n, ast.Attribute) and n.attr == name and isinstance(n.value, ast.Name)
                and n.value.id in module_aliases for n in ast.walk(tree)
            ) or any(isinstance(n, ast.Name) and n.id in refs for n in ast.walk(tree))
            if uses and has_assert(source):
                checked = True
        if not checked:
            problems.append(f"class {name} is also nanogpt_lib.{name}: compare the two in a cell with asserts "
                            f"(use nanogpt_lib.{name}, or `from nanogpt_lib import {name} as Lib{name}`)")
    return problems


def structure_problems(nb, is_last: bool) -> list[str]:
    """A Check section with asserts, exercises in nbgrader form each followed by a self-check, What's next."""
    problems = []
    heads = headings(nb)
    check_cells = [i for i, h in heads if re.match(r"Checks?\b", h)]
    if not check_cells:
        problems.append('no "Check" section (a markdown heading "## Check")')
    elif not any(c.cell_type == "code" and has_assert(c.source) for c in nb.cells[check_cells[0] + 1 :]
                 if not is_exercise(c) and "self-check" not in tags(c)):
        problems.append("the Check section has no code cell with asserts")
    if not is_last and not any(re.match(r"What['’]s next", h, re.IGNORECASE) for _, h in heads):
        problems.append('no "What\'s next" section')

    exercises = [i for i, c in enumerate(nb.cells) if is_exercise(c)]
    if not exercises:
        problems.append("no exercise cell")
    # The rules student editions rely on (tag, markers, grade ids, self-checks after solutions) live in the
    # library, which refuses to build an edition from a notebook that breaks them; this test adds stricter ones.
    problems += convention_problems(nb)
    for i in exercises:
        cell = nb.cells[i]
        meta = cell.metadata.get("nbgrader", {})
        for key, value in NBGRADER_FIELDS.items():
            if meta.get(key) != value:
                problems.append(f"exercise cell {i}: nbgrader.{key} must be {value!r}, got {meta.get(key)!r}")
        if cell.metadata.get("jupyter", {}).get("source_hidden") is not True:
            problems.append(f"exercise cell {i}: jupyter.source_hidden must be true")
        src = cell.source
        if SOLUTION_BEGIN in src and SOLUTION_END in src:
            try:
                parse(student_source(src))
            except SyntaxError as e:
                problems.append(f"exercise cell {i}: the student version is not valid Python ({e})")
        nxt = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        if nxt is None or nxt.cell_type != "code" or "self-check" not in tags(nxt) or not has_assert(nxt.source):
            problems.append(f"exercise cell {i} must be followed by a code cell tagged 'self-check' with asserts")
    return problems


def exercise_dependency_problems(nb) -> list[str]:
    """No ordinary cell may use a name that only an exercise (or its self-check) defines.

    A student edition replaces each solution with `raise NotImplementedError()`; only exercise and self-check
    cells may fail then, so every later cell must run without the answers.
    """
    tainted: dict[str, int] = {}  # name -> exercise cell that defines it
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tree = parse(cell.source)
        if is_exercise(cell) or "self-check" in tags(cell):
            for stmt in tree.body:
                for name in bound_names(stmt):
                    tainted.setdefault(name, i)
            continue
        for stmt in tree.body:
            stored = bound_names(stmt)
            for name in sorted((loaded_names(stmt) - stored) & tainted.keys()):
                problems.append(f"cell {i} uses {name!r}, which only exercise cell {tainted[name]} defines")
            for name in stored:
                tainted.pop(name, None)
    return problems


def output_problems(nb) -> list[str]:
    """Committed from one full run, top to bottom: every code cell executed in order, no error outputs."""
    problems = []
    cells = code_cells(nb)
    counts = [c.execution_count for c in cells]
    if counts != list(range(1, len(cells) + 1)):
        problems.append(f"code cells were not all executed once, in order (execution counts {counts})")
    if not any(c.outputs for c in cells):
        problems.append("no outputs committed")
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                problems.append(f"cell {i} has an error output: {out.get('ename')}: {out.get('evalue')}")
        if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source and not cell.outputs:
            problems.append(f"cell {i} is marked NBVAL_CHECK_OUTPUT but has no output to compare")
    return problems


# ----------------------------------------------------------------------------------- the real notebooks
def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 6, [p.name for p in NOTEBOOKS]
    assert [p.name[:2] for p in NOTEBOOKS[:6]] == ["00", "01", "02", "03", "04", "05"]


def test_every_notebook_is_in_the_readme_table():
    assert readme_problems([p.stem for p in NOTEBOOKS], readme_section()) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_installs_from_repo_url_in_colab(path):
    assert first_cell_problems(load(path), path.name) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_library_classes_are_checked_against_the_library(path):
    assert library_class_problems(load(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_check_exercises_and_whats_next(path):
    assert structure_problems(load(path), is_last=path == NOTEBOOKS[-1]) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_later_cells_do_not_depend_on_exercise_answers(path):
    assert exercise_dependency_problems(load(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_with_outputs_and_small(path):
    assert output_problems(load(path)) == []
    assert path.stat().st_size <= MAX_BYTES, f"{path.name} is {path.stat().st_size:,} bytes"


def test_grade_ids_are_unique_across_the_series():
    ids = [c.metadata["nbgrader"]["grade_id"] for p in NOTEBOOKS for c in load(p).cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), ids


# ------------------------------------------------------------------------- the rules can fail
@pytest.fixture
def good():
    """A notebook that passes every rule: the first one of the series."""
    nb = load(NOTEBOOKS[0])
    assert first_cell_problems(nb, NOTEBOOKS[0].name) == structure_problems(nb, False) == output_problems(nb) == []
    return nb


def _first(nb, predicate):
    return next(c for c in nb.cells if predicate(c))


def test_rule_readme_table():
    missing = readme_problems(["00_a", "01_b"], "| [x](notebooks/00_a.ipynb) |")
    assert missing == ["01_b is not in the README's notebook table"]
    assert readme_problems(["00_a"], "notebooks/00_a.ipynb notebooks/09_gone.ipynb") == [
        "the README names 09_gone.ipynb, which is not in notebooks/"]


def test_rule_first_cell(good):
    name = NOTEBOOKS[0].name
    for old, new in [(REPO_URL, REPO_URL + "-fork"), ('"google.colab" in sys.modules', "True"), ("setup()", "pass")]:
        nb = copy.deepcopy(good)
        cell = code_cells(nb)[0]
        assert old in cell.source
        cell.source = cell.source.replace(old, new)
        assert first_cell_problems(nb, name), (old, new)
    nb = copy.deepcopy(good)
    nb.cells[0].source = nb.cells[0].source.replace(colab_url(name), "https://example.com")
    assert first_cell_problems(nb, name)


def test_rule_library_classes():
    unchecked = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("class Head:\n    pass")])
    assert library_class_problems(unchecked)
    imported_only = copy.deepcopy(unchecked)
    imported_only.cells.append(nbformat.v4.new_code_cell("import nanogpt_lib\nlib = nanogpt_lib.Head(4, 2, 8)"))
    assert library_class_problems(imported_only)
    checked = copy.deepcopy(unchecked)
    checked.cells.append(nbformat.v4.new_code_cell("from nanogpt_lib import Head as LibHead\nassert LibHead(4, 2, 8)"))
    assert library_class_problems(checked) == []
    own_name = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("class OneHeadLM:\n    pass")])
    assert library_class_problems(own_name) == []


def test_rule_check_section(good):
    nb = copy.deepcopy(good)
    cell = _first(nb, lambda c: c.cell_type == "markdown" and re.search(r"^#+\s+Check", c.source, re.MULTILINE))
    cell.source = re.sub(r"^(#+\s+)Check", r"\1Verify", cell.source, flags=re.MULTILINE)
    assert any("Check" in p for p in structure_problems(nb, False))


def test_rule_exercises(good):
    nb = copy.deepcopy(good)
    _first(nb, is_exercise).metadata["nbgrader"]["solution"] = False
    assert structure_problems(nb, False)
    nb = copy.deepcopy(good)
    cell = _first(nb, is_exercise)
    cell.source = cell.source.replace(SOLUTION_END, "")
    assert structure_problems(nb, False)
    nb = copy.deepcopy(good)
    i = nb.cells.index(_first(nb, is_exercise))
    del nb.cells[i + 1]  # its self-check
    assert structure_problems(nb, False)
    nb = copy.deepcopy(good)
    for cell in [c for c in nb.cells if is_exercise(c)]:
        nb.cells.remove(cell)
    assert "no exercise cell" in structure_problems(nb, False)


def test_rule_whats_next(good):
    nb = copy.deepcopy(good)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"What's next", "The end", cell.source)
    assert structure_problems(nb, is_last=False)
    assert structure_problems(nb, is_last=True) == []


def test_rule_exercise_dependencies(good):
    nb = copy.deepcopy(good)
    exercise_cell = _first(nb, is_exercise)
    answer = sorted(set().union(*(bound_names(s) for s in parse(exercise_cell.source).body)))[0]
    nb.cells.append(nbformat.v4.new_code_cell(f"print({answer})"))
    assert exercise_dependency_problems(nb)
    redefined = copy.deepcopy(nb)
    redefined.cells.insert(-1, nbformat.v4.new_code_cell(f"{answer} = 1"))
    assert exercise_dependency_problems(redefined) == []


def test_rule_outputs(good):
    nb = copy.deepcopy(good)
    code_cells(nb)[1].outputs.append(nbformat.v4.new_output("error", ename="ValueError", evalue="x", traceback=[]))
    assert any("error output" in p for p in output_problems(nb))
    nb = copy.deepcopy(good)
    for cell in code_cells(nb):
        cell.outputs, cell.execution_count = [], None
    assert output_problems(nb)


def test_student_source_keeps_only_the_prompt():
    src = "# write f\n### BEGIN SOLUTION\ndef f():\n    return 1\n### END SOLUTION"
    assert student_source(src) == "# write f\n# YOUR CODE HERE\nraise NotImplementedError()"
