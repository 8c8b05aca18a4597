"""Helpers for the notebooks: the fast-mode switch and the set-up every first cell performs.

Fast mode (`NANOGPT_FAST=1`, set by the tests) swaps every training run for a seconds-long one, so
the whole series executes in CI. Notebooks never test the variable themselves: they call `pick` and
`notebook_config`, and this module decides.
"""

from __future__ import annotations

from typing import TypeVar

import matplotlib

from .config import LENGTH_FIELDS, SIZE_FIELDS, TrainConfig, env_flag, get_config

REPO_URL = "https://github.com/nanogpt-notebooks/nanogpt-notebooks"
FAST_ENV = "NANOGPT_FAST"

T = TypeVar("T")


def is_fast() -> bool:
    """True when `NANOGPT_FAST` is on (set, and not empty/0/false/no/off)."""
    return env_flag(FAST_ENV)


def pick(real: T, fast: T) -> T:
    """`real` normally, `fast` in fast mode: `steps = pick(real=3000, fast=30)`."""
    return fast if is_fast() else real


def notebook_config(preset: str = "cpu", **overrides) -> TrainConfig:
    """The preset a student would train with; in fast mode the `tiny` preset with the same overrides.

    Shape overrides (n_layer, n_embd, ...) are dropped in fast mode so the run stays seconds long;
    everything else (learning rate, schedule, dtype, ...) is kept so the demo still shows its point.
    """
    if not is_fast():
        return get_config(preset, **overrides)
    keep = {k: v for k, v in overrides.items() if k not in SIZE_FIELDS + LENGTH_FIELDS}
    return get_config("tiny", **keep)


def colab_url(notebook: str, edition: str = "student") -> str:
    """The "Open in Colab" link of `notebook` (a file name), derived from `REPO_URL`.

    The student edition (`student/`, solutions replaced by stubs; `nanogpt course student-edition`) is what
    the badges open; the teacher edition (`notebooks/`, with solutions) is the link beside it.
    """
    if edition not in ("student", "teacher"):
        raise ValueError(f"edition must be 'student' or 'teacher', got {edition!r}")
    owner_repo = REPO_URL.removeprefix("https://github.com/").removesuffix(".git").strip("/")
    folder = "student" if edition == "student" else "notebooks"
    return f"https://colab.research.google.com/github/{owner_repo}/blob/main/{folder}/{notebook}"


def setup(seed: int = 1337, dpi: int = 100) -> None:
    """Seed everything, set up inline figures, and report where we run (mode, device, corpus).

    In a notebook the figures are PNGs at `dpi` dots per inch: sharp enough on a projector, small enough that a
    notebook saved with its outputs stays well under tests/test_notebooks.py's size limit.
    Returns nothing, so a cell ending in `setup()` shows only the one status line.
    """
    import random
    import warnings

    import torch

    from .data import load_text

    random.seed(seed)
    torch.manual_seed(seed)
    if is_fast():
        # Fast mode's models are too small to gain from several threads, and tests often run side by side:
        # one thread each is faster than threads fighting over the cores.
        torch.set_num_threads(1)
    _configure_inline_figures(dpi)
    # Without ipywidgets, tqdm falls back to a text progress bar: say nothing about it.
    warnings.filterwarnings("ignore", message="IProgress not found")
    text = load_text()
    mode = "FAST mode (tiny settings)" if is_fast() else "full settings"
    device = "GPU" if torch.cuda.is_available() else "CPU"
    print(f"nanogpt_lib ready: {mode}; torch {torch.__version__}; {device}; corpus {len(text):,} characters")


def _configure_inline_figures(dpi: int) -> None:
    """In a notebook, show figures as PNG at `dpi` (importing pyplot first, so the inline backend is set up)."""
    import matplotlib.pyplot as plt  # noqa: F401  (activates the notebook's backend before we set the dpi)

    matplotlib.rcParams.update({"figure.dpi": dpi, "savefig.dpi": dpi})
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("png")
