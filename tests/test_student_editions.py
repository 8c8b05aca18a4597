"""The Colab badges open the student editions: they are committed in student/ and must equal what
`nanogpt course student-edition` makes from the teacher notebooks now (regenerate: `nanogpt course
student-edition student`)."""

from pathlib import Path

import nbformat
import pytest

from nanogpt_lib.cli.course import BEGIN, notebook_paths, student_edition
from nanogpt_lib.notebook import colab_url

ROOT = Path(__file__).resolve().parents[1]
TEACHER = notebook_paths(ROOT / "notebooks")


def test_every_notebook_has_a_student_edition_and_nothing_else_is_there():
    assert sorted(p.name for p in (ROOT / "student").glob("*.ipynb")) == [p.name for p in TEACHER]


@pytest.mark.parametrize("path", TEACHER, ids=lambda p: p.stem)
def test_committed_student_edition_is_in_sync(path):
    expected = nbformat.writes(student_edition(nbformat.read(path, as_version=4), path.name))
    committed = (ROOT / "student" / path.name).read_text()
    assert committed.rstrip("\n") == expected.rstrip("\n"), (
        f"student/{path.name} is stale: run `nanogpt course student-edition student`"
    )
    assert BEGIN not in committed  # no solution survives


@pytest.mark.parametrize("path", TEACHER, ids=lambda p: p.stem)
def test_badge_opens_the_student_edition_and_links_the_teacher_edition(path):
    title = nbformat.read(path, as_version=4).cells[0].source
    assert f"]({colab_url(path.name)})" in title and "/blob/main/student/" in colab_url(path.name)
    assert f"]({colab_url(path.name, 'teacher')})" in title


def test_colab_url_editions():
    assert colab_url("00_x.ipynb").endswith("/blob/main/student/00_x.ipynb")
    assert colab_url("00_x.ipynb", "teacher").endswith("/blob/main/notebooks/00_x.ipynb")
    with pytest.raises(ValueError, match="edition"):
        colab_url("00_x.ipynb", "answers")
