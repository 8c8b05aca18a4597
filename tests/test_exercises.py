"""Every exercise's self-check, run as a student meets it: on the stub, on the typical wrong answers, on the solution.

For each notebook, one kernel executes the student edition (fast mode) from top to bottom. At each exercise it runs

1. each wrong answer of `tests/wrong_answers/NN.py` (the solution cell with its code between the markers
   replaced): the exercise must fail, with a message that names the bug (the answer's regular expression);
2. the teacher's solution: its self-checks must pass;
3. the stub, after forgetting every name the exercise defined: the first error must be the stub's
   `NotImplementedError` (in the solution cell, or in the self-check that calls a stubbed `def`), and later
   exercise cells may fail only for lack of the answer.

Every cell outside the exercises must run without the answers, as it does for a student who skipped them.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

from nanogpt_lib.cli.course import BEGIN, END, exercise_cells, exercises, notebook_paths, student_edition

pytest.importorskip("nbgrader", reason="the teaching kit needs nbgrader: pip install -e '.[course]'")

NOTEBOOKS = notebook_paths()
WRONG_DIR = Path(__file__).with_name("wrong_answers")
MIN_WRONG = 3  # typical wrong answers per exercise
FOLLOW_ON_ERRORS = {"NotImplementedError", "NameError", "AssertionError"}  # what a missing answer causes
# Names an exercise defined are forgotten before its stub runs, so later cells run as they do for a student.
REMEMBER = "_names_before_exercise = set(globals())"
FORGET = ("for _name in set(globals()) - _names_before_exercise:\n    del globals()[_name]\n"
          "del _names_before_exercise")


def wrong_answers(path: Path) -> dict[str, list[tuple[str, str, str]]]:
    """`WRONG` of `tests/wrong_answers/NN.py`: grade_id → [(the bug, the code, a regex its error must match)]."""
    file = WRONG_DIR / f"{path.name[:2]}.py"
    if not file.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"wrong_answers_{path.name[:2]}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG


def with_answer(cell, code: str):
    """A copy of a teacher solution cell with `code` in place of the solution (indented like the markers)."""
    head, rest = cell.source.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    indent = head[head.rfind("\n") + 1 :]
    body = textwrap.indent(textwrap.dedent(code).strip("\n"), indent) + "\n"
    return nbformat.v4.new_code_cell(f"{head}{BEGIN}\n{body}{indent}{END}{tail}")


def first_error(cells) -> tuple[str, str] | None:
    for cell in cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                return out.ename, out.evalue
    return None


def check_exercises(teacher, wrong: dict[str, list[tuple[str, str, str]]], cwd: Path) -> list[str]:
    """Run the student edition of `teacher` as described above; return every problem found."""
    from nbclient import NotebookClient

    student = student_edition(teacher)
    groups, in_exercise = exercises(teacher), exercise_cells(teacher)
    # The kernel inherits NANOGPT_FAST=1 from conftest.py; `cwd` keeps anything it writes out of the repo.
    client = NotebookClient(student, timeout=600, startup_timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(cwd)}})
    problems: list[str] = []

    def run(cells) -> list:
        """Execute copies of `cells`, each appended to the notebook being run (nbclient updates displays, a
        live plot's for one, by their index in it)."""
        cells = [nbformat.v4.new_code_cell(c.source, metadata=c.metadata) for c in cells]
        for cell in cells:
            client.nb.cells.append(cell)
            client.execute_cell(cell, len(client.nb.cells) - 1)
        return cells

    with client.setup_kernel():
        for i, cell in enumerate(list(student.cells)):
            if cell.cell_type != "code" or (i in in_exercise and i not in groups):
                continue
            if i not in groups:
                error = first_error(run([cell]))
                if error:
                    problems.append(f"cell {i} (not an exercise) fails without the answers: {error[0]}: {error[1]}")
                continue
            grade_id = teacher.cells[i].metadata["nbgrader"]["grade_id"]
            checks = [teacher.cells[c] for c in groups[i]]
            answers = wrong.get(grade_id, [])
            if len(answers) < MIN_WRONG:
                problems.append(f"{grade_id}: {len(answers)} wrong answers in tests/wrong_answers/ (want {MIN_WRONG})")
            run([nbformat.v4.new_code_cell(REMEMBER)])
            for bug, code, named in answers:
                error = first_error(run([with_answer(teacher.cells[i], code), *checks]))
                if error is None:
                    problems.append(f"{grade_id}: the self-check accepts a wrong answer ({bug})")
                elif not re.search(named, f"{error[0]}: {error[1]}", re.IGNORECASE | re.DOTALL):
                    problems.append(f"{grade_id}: a wrong answer ({bug}) fails with {error[0]}: {error[1]!r}, "
                                    f"which does not name the bug (expected /{named}/)")
            error = first_error(run([teacher.cells[i], *checks]))
            if error:
                problems.append(f"{grade_id}: the teacher's solution fails its self-check: {error[0]}: {error[1]}")
            run([nbformat.v4.new_code_cell(FORGET)])
            stub = run([cell, *(student.cells[c] for c in groups[i])])
            errors = [first_error([c]) for c in stub]
            failed = [e for e in errors if e]
            if not failed or failed[0][0] != "NotImplementedError":
                got = f"{failed[0][0]}" if failed else "no error at all"
                problems.append(f"{grade_id}: the stub's first error should be NotImplementedError, got {got}")
            problems += [f"{grade_id}: after the stub, an exercise cell fails with {e[0]}" for e in failed[1:]
                         if e[0] not in FOLLOW_ON_ERRORS]
    return problems


def test_the_runner_catches_weak_checks_and_cells_that_need_an_answer(tmp_path):
    cell = nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(cells=[
        cell("x = 1"),
        cell(f"# y: x plus one\n{BEGIN}\ny = x + 1\n{END}", metadata={
            "nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": "t", "schema_version": 3},
            "tags": ["exercise"]}),
        cell("assert y != x, 'y is x: did you forget to add one?'", metadata={
            "nbgrader": {"grade": True, "grade_id": "t-check", "points": 1, "locked": True, "schema_version": 3,
                         "solution": False},
            "tags": ["self-check"]}),
        cell("print(y)"),  # uses the answer outside the exercise: the student edition breaks here
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    wrong = {"t": [("forgot to add", "y = x", "forget to add"),  # caught, and the message names the bug
                   ("adds two", "y = x + 2", "add one"),  # accepted: the check is too weak for it
                   ("a typo", "y = x + z", "add one")]}  # fails, but with an error that names no bug
    assert check_exercises(nb, wrong, tmp_path) == [
        "t: the self-check accepts a wrong answer (adds two)",
        "t: a wrong answer (a typo) fails with NameError: \"name 'z' is not defined\", which does not name the bug "
        "(expected /add one/)",
        "cell 3 (not an exercise) fails without the answers: NameError: name 'y' is not defined",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_self_checks_reject_typical_wrong_answers(path, tmp_path):
    teacher = nbformat.read(path, as_version=4)
    assert exercises(teacher), f"{path.name} has no exercises"
    problems = check_exercises(teacher, wrong_answers(path), tmp_path)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
