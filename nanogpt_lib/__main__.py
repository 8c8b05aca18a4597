"""`python -m nanogpt_lib ...` is the `nanogpt` command (and what `torchrun -m nanogpt_lib` runs)."""

from .cli.main import entry

entry()
