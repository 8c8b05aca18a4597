"""Test-wide settings and CI's skip policy.

- Notebooks and tests run in fast mode (`NANOGPT_FAST=1`) with a headless plotting backend.
- **Skip policy.** When the environment variable `CI` is set (to anything but "", "0" or "false"), a skipped
  test fails the run unless it is marked `@pytest.mark.gpu` (a test that needs a CUDA GPU, which CI does not
  have). Everything else a test skips for — a missing package, browser or corpus — is something CI must
  provide (`.ci/run` installs it), so a skip there means the test did not run and CI must not pass.
  Skips at collection time (a module-level `pytest.importorskip`) always count: mark GPU-only modules with
  `pytestmark = pytest.mark.gpu` and skip inside the tests instead. Notebook cells marked `# NBVAL_SKIP`
  are skipped tests too: to keep a slow cell out of CI, make it cheap in fast mode (`notebook.pick`) instead.
  The policy is tested in `tests/test_skip_policy.py`.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("NANOGPT_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # The workers already fill the cores (one per core under `-n auto`): one thread per process, inherited by
    # the notebook kernels and the `nanogpt`/torchrun processes tests start, beats threads fighting over cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

ALLOWED_SKIP_MARK = "gpu"
_forbidden_skips: list[tuple[str, str]] = []  # (test id, reason) of skips that fail a CI run


def ci_enforces_skips() -> bool:
    """True when `CI` is set to a true-ish value (CI services set CI=true; `.ci/run` sets CI=1)."""
    from nanogpt_lib.config import env_flag  # here, not at the top: torch must start after OMP_NUM_THREADS is set

    return env_flag("CI")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr).strip().splitlines()[-1] if longrepr else "no reason given"


def pytest_sessionstart(session):
    _forbidden_skips.clear()  # pytester runs sessions in-process: start each one empty


def pytest_collectreport(report):
    if report.skipped:  # a whole module skipped while importing it: never a GPU-only exemption
        _forbidden_skips.append((report.nodeid or "<collection>", _skip_reason(report)))


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail") and ALLOWED_SKIP_MARK not in report.keywords:
        _forbidden_skips.append((report.nodeid, _skip_reason(report)))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if ci_enforces_skips() and _forbidden_skips and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not (ci_enforces_skips() and _forbidden_skips):
        return
    tr = terminalreporter
    tr.section("CI skip policy: FAILED", sep="=", red=True, bold=True)
    tr.line(f"CI is set, and {len(_forbidden_skips)} test(s) not marked @pytest.mark.{ALLOWED_SKIP_MARK} "
            "were skipped. CI must run them: install what they need (see .ci/run), or mark a test that "
            f"needs a CUDA GPU with @pytest.mark.{ALLOWED_SKIP_MARK}.", red=True)
    for nodeid, reason in _forbidden_skips:
        tr.line(f"SKIPPED (not allowed in CI) {nodeid}: {reason}", red=True)
