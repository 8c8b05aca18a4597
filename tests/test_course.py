"""The teaching kit: student editions hide the solutions and keep the rest; the course website renders.

An *exercise* is a solution cell (nbgrader metadata, tag `exercise`) plus the `self-check` cells after it.
How the student editions run (stubs, typical wrong answers, solutions) is tested in `test_exercises.py`; the
teacher editions (the notebooks as committed) are executed by nbval with the rest of the suite.
"""

import copy
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from nanogpt_lib.cli import main
from nanogpt_lib.cli.course import (
    BEGIN,
    DOCS_DIR,
    END,
    NBVAL_MARKER,
    REFERENCE_PAGES,
    build_site,
    convention_problems,
    exercise_cells,
    exercises,
    notebook_paths,
    notebook_title,
    site_links,
    stage_site,
    student_edition,
)
from nanogpt_lib.notebook import colab_url

pytest.importorskip("nbgrader", reason="the teaching kit needs nbgrader: pip install -e '.[course]'")

NOTEBOOKS = notebook_paths()
needs_notebooks = pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks in notebooks/ yet")


def read(path: Path):
    return nbformat.read(path, as_version=4)


def error_name(cell) -> str | None:
    return next((o.ename for o in cell.get("outputs", []) if o.output_type == "error"), None)


def solution_lines(cell) -> list[str]:
    """The non-blank lines between the solution markers of a teacher cell."""
    body = cell.source.split(BEGIN, 1)[1].split(END, 1)[0]
    return [line.strip() for line in body.splitlines() if line.strip()]


# ------------------------------------------------------------------------------------- conventions
def test_convention_problems_are_found():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(f"x = 1\n{BEGIN}\nx = 2\n{END}"),  # markers without nbgrader metadata
        nbformat.v4.new_code_cell("assert x == 2", metadata={"tags": ["self-check"]}),  # follows no exercise
    ])
    problems = convention_problems(nb, "demo")
    assert any("cell 0" in p and "metadata" in p for p in problems)
    assert any("cell 1" in p and "does not follow an exercise" in p for p in problems)
    with pytest.raises(ValueError, match="cannot make a student edition"):
        student_edition(nb, "demo")


@needs_notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_follows_the_exercise_conventions(path):
    assert convention_problems(read(path), path.name) == []


@needs_notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_edition_hides_solutions_and_keeps_the_rest(path):
    teacher = read(path)
    student = student_edition(teacher, path.name)
    in_exercise = exercise_cells(teacher)
    assert len(student.cells) == len(teacher.cells)
    first = student.cells[0].source
    assert "teacher edition" not in first and "/notebooks/" not in first, "solutions one click away"
    assert "How the exercises work" in first and "YOUR CODE HERE" in first and "Run all" in first
    for i, (t, s) in enumerate(zip(teacher.cells, student.cells)):
        assert "NBVAL_" not in s.source, f"cell {i}: a test-harness marker shows in the student edition"
        if i in exercises(teacher):
            assert re.search(r"^( *)# YOUR CODE HERE\n\1raise NotImplementedError\(\)$", s.source, re.M), s.source
            assert not set(solution_lines(t)) & {line.strip() for line in s.source.splitlines()}
            assert "source_hidden" not in s.metadata.get("jupyter", {})  # students see the stub
        if i in in_exercise:
            assert s.get("outputs", []) == []
            assert "raises-exception" in s.metadata["tags"], "Run all must go on past an unsolved exercise"
        elif i > 0:
            t = copy.deepcopy(t)
            t.source = NBVAL_MARKER.sub("", t.source)
            assert s == t, f"cell {i} of {path.name} changed in the student edition"


@needs_notebooks
def test_cli_writes_student_editions(tmp_path, capsys):
    assert main(["course", "student-edition", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert str(tmp_path / NOTEBOOKS[0].name) in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ website
def test_every_docs_page_is_on_the_website():
    """A new docs/*.md page must be listed in the site's Reference part (only listed pages are built)."""
    pages = {p.stem for p in DOCS_DIR.glob("*.md")} - {"intro", "teaching"}
    assert pages == set(REFERENCE_PAGES), (
        f"add to or remove from course.REFERENCE_PAGES: {pages ^ set(REFERENCE_PAGES)}"
    )


@needs_notebooks
def test_staged_toc_has_the_reference_part(tmp_path):
    import yaml

    source = stage_site(tmp_path / "source")
    toc = yaml.safe_load((source / "_toc.yml").read_text())
    parts = {part["caption"]: [c["file"] for c in part["chapters"]] for part in toc["parts"]}
    assert parts["Reference"] == list(REFERENCE_PAGES)
    assert parts["For teachers"] == ["teaching"]
    assert parts["The notebooks"] == [f"notebooks/{p.stem}" for p in NOTEBOOKS]


def test_site_links_keep_pages_and_point_elsewhere_to_the_repository():
    repo = "https://example.org/r"
    page = ("[nb](../notebooks/06_x.ipynb) [R](../benchmarks/RESULTS.md) [cli](cli.md) [safe](runs.md#lock) "
            "[top](#top) [web](https://a.b/c) ![pic](img/a.png) [md](img/report.md)")
    assert site_links(page, repo_url=repo) == (
        f"[nb](notebooks/06_x.ipynb) [R]({repo}/blob/main/benchmarks/RESULTS.md) [cli](cli.md) "
        f"[safe](runs.md#lock) [top](#top) [web](https://a.b/c) ![pic](img/a.png) "
        f"[md]({repo}/blob/main/docs/img/report.md)")
    # A file included from docs/img/: its own links are relative to docs/img/.
    assert site_links("![l](loss.png) [json](report.json)", "img", repo) == \
        f"![l](loss.png) [json]({repo}/blob/main/docs/img/report.json)"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("jupyter_book", reason="the website needs jupyter-book<2: pip install -e '.[course]'")
    return build_site(tmp_path_factory.mktemp("site"))


class PageParser(HTMLParser):
    """Collects the text of <h1> elements and the src of <img> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.h1, self.images, self._in_h1 = [], [], False

    def handle_starttag(self, tag, attrs):
        self._in_h1 = self._in_h1 or tag == "h1"
        if tag == "h1":
            self.h1.append("")
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))

    def handle_endtag(self, tag):
        self._in_h1 = self._in_h1 and tag != "h1"

    def handle_data(self, data):
        if self._in_h1:
            self.h1[-1] += data


def browser() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def dump_dom(exe: str, page: Path, profile: Path) -> str:
    """The page's DOM after a headless browser loaded it (and ran its scripts), offline."""
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "</html>" in done.stdout, f"{exe} could not load {page}:\n{done.stderr[-2000:]}"
    return done.stdout


@needs_notebooks
def test_landing_page_lists_the_series_with_colab_links(site):
    intro = (site / "intro.html").read_text()
    for path in NOTEBOOKS:
        assert (site / "notebooks" / f"{path.stem}.html").is_file()
        assert f'href="notebooks/{path.stem}.html"' in intro
        assert colab_url(path.name) in intro
    assert 'href="teaching.html"' in intro


@needs_notebooks
def test_reference_pages_are_built_and_linked(site):
    intro = (site / "intro.html").read_text()
    for name in REFERENCE_PAGES:
        assert (site / f"{name}.html").is_file(), f"{name}.html was not built"
        assert f'href="{name}.html"' in intro, f"the landing page does not link {name}.html"
    # docs/results.md includes docs/img/report.md: its pictures and numbers appear on the page.
    results = (site / "results.html").read_text()
    report = json.loads((DOCS_DIR / "img" / "report.json").read_text())
    assert f"{report['gpt']['val_loss']:.4f}" in results and f"{report['bigram']['val_loss']:.4f}" in results
    for name in ("loss_curves.png", "attention.png"):
        assert f'src="_images/{name}"' in results and (site / "_images" / name).is_file()


@needs_notebooks
def test_pages_render_title_and_plot_in_a_browser(site, tmp_path):
    exe = browser()
    if exe is None:
        pytest.skip("no headless browser (chromium) on this machine: apt-get install -y chromium")
    problems = []
    pages = [(site / "notebooks" / f"{p.stem}.html", notebook_title(read(p), p.stem), p.name) for p in NOTEBOOKS]
    pages.append((site / "results.html", "Results", "docs/results.md"))  # the report's pictures, included
    for page, title, path_name in pages:
        parsed = PageParser()
        parsed.feed(dump_dom(exe, page, tmp_path / "profile"))
        if not any(title in h for h in parsed.h1):
            problems.append(f"{page.name}: title {title!r} not among the headings {parsed.h1}")
        # A plot: an image the site itself holds (not the remote Colab badge), a real PNG file.
        plots = [(page.parent / src).resolve() for src in parsed.images if "_images/" in src]
        if not any(p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots):
            problems.append(f"{page.name} shows no plot: is {path_name} committed with its outputs?")
    assert not problems, "\n".join(problems)
