"""The class lock (constraints.txt) and the oldest-versions file (.ci/oldest.txt) stay in step with pyproject.toml."""

import pytest
from packaging.requirements import Requirement

from nanogpt_lib.cli.lock import ROOT, lock_problems, oldest_pins, project_requirements, read_pins


def test_the_lock_pins_every_requirement_inside_its_range():
    problems = lock_problems(ROOT / "constraints.txt", project_requirements())
    assert not problems, ("constraints.txt disagrees with pyproject.toml (refresh it: bash .ci/run --write-lock):\n"
                          + "\n".join(problems))


def test_the_oldest_versions_file_is_the_lower_bounds_of_pyproject():
    pinned = [line for line in (ROOT / ".ci" / "oldest.txt").read_text().splitlines() if not line.startswith("#")]
    assert pinned == oldest_pins(project_requirements()), \
        "regenerate it: python -m nanogpt_lib.cli.lock oldest .ci/oldest.txt"


def test_lock_problems_names_what_is_missing_or_out_of_range(tmp_path):
    lock = tmp_path / "constraints.txt"
    lock.write_text("# a comment\ntorch==2.0.1\nNumPy==1.26.4  # upper case and a comment\n")
    requirements = [Requirement("torch>=2.1"), Requirement("numpy>=1.24"), Requirement("tqdm>=4.64")]
    assert lock_problems(lock, requirements) == ["torch==2.0.1 is outside the required range >=2.1",
                                                 "tqdm is required (tqdm>=4.64) but not pinned"]


def test_a_lock_line_that_is_not_an_exact_pin_is_refused(tmp_path):
    lock = tmp_path / "constraints.txt"
    lock.write_text("torch>=2.1\n")
    with pytest.raises(ValueError, match=r"constraints.txt:1: 'torch>=2.1' is not a `name==version` pin"):
        read_pins(lock)


def test_oldest_pins_take_each_lower_bound():
    assert oldest_pins([Requirement("torch>=2.1"), Requirement("jupyter-book>=1,<2"), Requirement("jupyter")]) == [
        "jupyter-book==1", "torch==2.1"]


def test_the_lock_drops_local_version_labels(monkeypatch):
    from importlib import metadata

    from nanogpt_lib.cli import lock

    class Dist:
        def __init__(self, name, version):
            self.metadata, self.version = {"Name": name}, version

    monkeypatch.setattr(metadata, "distributions", lambda: [Dist("torch", "2.13.0+cpu"), Dist("pip", "23.2"),
                                                            Dist("nanogpt-notebooks", "0.1.0"), Dist("NumPy", "2.4.6")])
    assert lock.installed_pins() == ["numpy==2.4.6", "torch==2.13.0"]


def test_the_project_installs_from_the_readme_with_the_lock():
    readme = (ROOT / "README.md").read_text()
    install = (ROOT / "docs" / "install.md").read_text()
    assert 'pip install -e ".[dev]" -c constraints.txt' in install and "constraints.txt" in readme
