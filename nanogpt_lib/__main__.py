"""`python -m nanogpt_lib ...` is the `nanogpt` command (and what `torchrun -m nanogpt_lib` runs)."""

import sys

from .cli import main

sys.exit(main())
