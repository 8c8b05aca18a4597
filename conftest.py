"""Test-wide settings: notebooks and tests run in fast mode with a headless plotting backend."""

import os

os.environ.setdefault("NANOGPT_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
