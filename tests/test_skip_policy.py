"""CI's skip policy (the root conftest.py): under CI=1 a skipped test fails the run unless it is marked `gpu`.

Each case runs pytest in a subprocess on a small test file in a temporary folder, with a copy of the
project's own conftest.py, and checks the exit status. Also: CI runs exactly the README's test command.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

UNMARKED_SKIP = """
import pytest

def test_runs():
    assert True

def test_needs_something():
    pytest.skip("something is not installed")
"""

GPU_SKIPS = """
import pytest

@pytest.mark.gpu
def test_on_a_gpu():
    pytest.skip("no CUDA GPU here")

@pytest.mark.gpu
@pytest.mark.skipif(True, reason="no CUDA GPU here")
def test_on_a_gpu_too():
    pass

def test_runs():
    assert True
"""

MODULE_IMPORTORSKIP = """
import pytest

pytest.importorskip("a_module_that_is_not_installed_anywhere")

def test_never_collected():
    pass
"""

FAILURE_AND_SKIP = """
import pytest

def test_fails():
    assert False

def test_skips():
    pytest.skip("missing")
"""


def run_pytest(tmp_path: Path, source: str, ci: str | None, extra: str | None = None,
               args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """pytest -q -ra `args` on `source` (and `extra`, another test file) with the project's conftest.py, CI=`ci`."""
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: needs a CUDA GPU\n")
    (tmp_path / "test_case.py").write_text(source)
    if extra:
        (tmp_path / "test_extra.py").write_text(extra)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "PYTEST_ADDOPTS", "OMP_NUM_THREADS") and not k.startswith("PYTEST_XDIST")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # nbval & co. are not needed here: a faster start
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_an_unmarked_skip_fails_the_run_under_ci(tmp_path):
    done = run_pytest(tmp_path, UNMARKED_SKIP, ci="1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CI skip policy: FAILED" in done.stdout
    assert "test_case.py::test_needs_something: something is not installed" in done.stdout


def test_an_unmarked_skip_passes_outside_ci(tmp_path):
    done = run_pytest(tmp_path, UNMARKED_SKIP, ci=None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout and "CI skip policy" not in done.stdout


@pytest.mark.parametrize("value, enforced", [(None, False), ("", False), ("0", False), ("false", False),
                                             ("1", True), ("true", True), ("yes", True)])
def test_which_ci_values_enforce_the_policy(monkeypatch, value, enforced):
    spec = importlib.util.spec_from_file_location("root_conftest_copy", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert module.ci_enforces_skips() is enforced


def test_gpu_marked_skips_pass_under_ci(tmp_path):
    done = run_pytest(tmp_path, GPU_SKIPS, ci="true")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 2 skipped" in done.stdout and "CI skip policy" not in done.stdout


def test_a_module_skipped_at_import_fails_the_run_under_ci(tmp_path):
    done = run_pytest(tmp_path, MODULE_IMPORTORSKIP, ci="1", extra="def test_runs():\n    assert True\n")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "a_module_that_is_not_installed_anywhere" in done.stdout and "CI skip policy: FAILED" in done.stdout


def parallel_options() -> tuple[str, ...]:
    """The options of CI's test command that spread the tests over worker processes (pytest-xdist)."""
    options = ci_test_command().split()[3:]
    return ("-p", "xdist", *(o for o in options if o not in ("-q", "-ra")))


@pytest.mark.parametrize("source, extra", [(UNMARKED_SKIP, None),
                                           (MODULE_IMPORTORSKIP, "def test_runs():\n    assert True\n")])
def test_skips_in_worker_processes_fail_the_run_under_ci(tmp_path, source, extra):
    assert "-n" in parallel_options(), "CI runs the tests in worker processes: keep this test in step"
    done = run_pytest(tmp_path, source, ci="1", extra=extra, args=parallel_options())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CI skip policy: FAILED" in done.stdout


RECORD_WORKER = """
import os
import pathlib


def record():
    with open(pathlib.Path(__file__).with_suffix(".workers"), "a") as f:
        f.write(os.environ.get("PYTEST_XDIST_WORKER", "none") + "\\n")


def test_a():
    record()


def test_b():
    record()


def test_c():
    record()


def test_d():
    record()
"""


def test_each_test_file_stays_on_one_worker(tmp_path):
    """nbval's cells share one kernel, so CI's workers must never split a file (conftest.py's groups)."""
    done = run_pytest(tmp_path, RECORD_WORKER, ci="1", extra=RECORD_WORKER, args=parallel_options())
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("test_case.workers", "test_extra.workers"):
        workers = (tmp_path / name).read_text().split()
        assert len(workers) == 4 and len(set(workers)) == 1 and workers[0].startswith("gw"), (name, workers)


CHILD_THREADS = """
import pathlib
import subprocess
import sys


def test_record_what_a_child_process_gets():
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('OMP_NUM_THREADS'))"],
                           capture_output=True, text=True, check=True)
    pathlib.Path(__file__).with_suffix(".threads").write_text(child.stdout.strip())
"""


@pytest.mark.parametrize("args, expected", [(("-p", "xdist", "-n", "2"), "1"), ((), "None")])
def test_workers_and_their_children_run_one_thread_each(tmp_path, args, expected):
    """Two workers already fill two cores: the processes they start (kernels, `nanogpt`, torchrun) get one
    thread each (conftest.py); a plain run in one process leaves the thread count alone."""
    done = run_pytest(tmp_path, CHILD_THREADS, ci="1", args=args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "test_case.threads").read_text() == expected


def test_failures_keep_their_exit_status(tmp_path):
    done = run_pytest(tmp_path, FAILURE_AND_SKIP, ci="1")
    assert done.returncode == 1 and "1 failed, 1 skipped" in done.stdout, done.stdout + done.stderr


def test_the_project_registers_the_gpu_marker(pytestconfig):
    assert any(line.startswith("gpu:") for line in pytestconfig.getini("markers"))


def ci_test_command() -> str:
    """The pytest command line `.ci/run` runs (its last line that starts with `python -m pytest`)."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in lines if line.startswith("python -m pytest")]
    assert commands, ".ci/run runs no `python -m pytest ...` line"
    return commands[-1]


def test_ci_runs_the_readme_test_command():
    command = ci_test_command()
    assert "-ra" in command.split(), "CI must list skipped tests with their reasons (-ra)"
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, re.DOTALL)
    readme_lines = {line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()}
    assert command in readme_lines, f"the README's code blocks do not show CI's test command {command!r}"
    assert re.search(r"^export CI=1$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE), \
        ".ci/run must set CI=1 so that skipped tests fail the run"


@pytest.mark.parametrize("command", ["python -m pytest -q -ra", "python -m pytest -ra"])
def test_ci_command_parser_reads_the_last_pytest_line(tmp_path, monkeypatch, command):
    fake = tmp_path / ".ci"
    fake.mkdir()
    (fake / "run").write_text(f"#!/bin/sh\npython -m pytest --version\n  {command}\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert ci_test_command() == command
