"""The `nanogpt` command and the maintainer tools (benchmarks, report, course kit).

This layer imports the teaching core (`nanogpt_lib.*`) and is never imported by it.
"""

from .main import main

__all__ = ["main"]
