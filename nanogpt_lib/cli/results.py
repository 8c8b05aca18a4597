"""What every benchmark's JSON carries: the machine it ran on, and the file it is written to."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from ..files import atomic_write_text


def machine() -> dict:
    """Platform, Python, PyTorch, CPU threads and the GPU's name (if any) of this process."""
    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_threads": torch.get_num_threads(), "cpu": cpu_model()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_json(result: dict, path: str | None) -> dict:
    """Also write the JSON result to `path` (atomically), when one is given; return the result."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(result, indent=2))
    return result
