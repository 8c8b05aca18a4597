"""The class lock (`constraints.txt`) and the oldest-versions file (`.ci/oldest.txt`): write and check them.

    python -m nanogpt_lib.cli.lock write constraints.txt   # what this environment has, pinned exactly
    python -m nanogpt_lib.cli.lock oldest .ci/oldest.txt   # each direct dependency at its lowest allowed version

`bash .ci/run --write-lock` installs the newest releases into a fresh environment, runs the whole suite and
only then calls `write`, so the lock holds versions the tests passed with. `tests/test_lock.py` keeps both
files in step with `pyproject.toml` (docs/install.md says when to use which).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "nanogpt-notebooks"
# Installers' own packages: a fresh virtual environment has them before anything is installed.
NOT_LOCKED = {"pip", "setuptools", "wheel", PROJECT}


def project_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    """Every requirement of the project: its dependencies and those of every extra."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return [Requirement(line) for line in lines]


def read_pins(path: Path) -> dict[str, Version]:
    """`name==version` lines of a constraints file, by canonical name (comments and blank lines skipped)."""
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
        if not match:
            raise ValueError(f"{path}:{number}: {line!r} is not a `name==version` pin")
        pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def lock_problems(path: Path, requirements: list[Requirement]) -> list[str]:
    """What makes `path` disagree with `requirements`: a package missing or pinned outside its range."""
    pins = read_pins(path)
    problems = []
    for req in requirements:
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name} is required ({req}) but not pinned")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req.name}=={pins[name]} is outside the required range {req.specifier}")
    return problems


def installed_pins() -> list[str]:
    """`name==version` for every distribution in this environment but the installers and this project.

    A local version label (`2.13.0+cpu`) is dropped: the pin must also admit the build a user's index serves.
    """
    pins = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name not in NOT_LOCKED:
            pins[name] = Version(dist.version).public
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def write_lock(path: Path) -> None:
    """Write `installed_pins()` to `path`, with a header saying where and how it was made."""
    header = [
        "# The class lock: exact versions the whole test suite passed with (`bash .ci/run --write-lock`).",
        '# Use: pip install -e ".[dev]" -c constraints.txt     (docs/install.md)',
        f"# Made on {datetime.date.today()} with Python {platform.python_version()} on {sys.platform} "
        f"{platform.machine()}.",
    ]
    path.write_text("\n".join(header + installed_pins()) + "\n")


def oldest_pins(requirements: list[Requirement]) -> list[str]:
    """`name==X` for each requirement with a lower bound `>=X` (the lowest version the project allows)."""
    pins = {}
    for req in requirements:
        floors = [s.version for s in req.specifier if s.operator == ">="]
        if floors:
            pins[canonicalize_name(req.name)] = max(floors, key=Version)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def write_oldest(path: Path) -> None:
    header = ["# The oldest versions pyproject.toml allows for the direct dependencies (`bash .ci/run --oldest`).",
              "# Regenerate: python -m nanogpt_lib.cli.lock oldest .ci/oldest.txt"]
    path.write_text("\n".join(header + oldest_pins(project_requirements())) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nanogpt_lib.cli.lock", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["write", "oldest"], help="write: the lock; oldest: the lowest versions")
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    (write_lock if args.what == "write" else write_oldest)(args.path)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
