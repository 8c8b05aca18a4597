"""Where training runs: the device, the mixed-precision dtype, and this process's place in a torchrun job."""

from __future__ import annotations

import math
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks cuda, then Apple's mps, then cpu; under torchrun each rank gets its own GPU."""
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but PyTorch sees no CUDA GPU here; use --device cpu")
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The autocast dtype to use on `device`, falling back (with a message) where it is not supported."""
    dtype = DTYPES[name]
    if dtype == torch.float32:
        return dtype
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        warnings.warn("this GPU does not support bfloat16; training in float16 with a GradScaler instead", stacklevel=2)
        return torch.float16
    try:  # one tiny autocast matmul tells whether this device/PyTorch supports the dtype
        with torch.autocast(device.type, dtype=dtype):
            torch.ones(2, 2, device=device) @ torch.ones(2, 2, device=device)
    except (RuntimeError, AssertionError) as e:
        if dtype == torch.bfloat16:
            warnings.warn(f"bfloat16 autocast is not supported on {device.type} ({e}); training in float32",
                          stacklevel=2)
            return torch.float32
        raise ValueError(
            f"float16 autocast is not supported on {device.type} here ({e}); use --dtype bfloat16 or float32"
        ) from None
    return dtype


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed-precision context for forward + loss; a no-op in float32."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype):
    """Loss scaling for float16 training (a pass-through for other dtypes): small gradients would underflow.

    PyTorch < 2.3 has it only as `torch.cuda.amp.GradScaler`, which scales on CUDA alone.
    """
    enabled = dtype == torch.float16
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled and device.type == "cuda")


@dataclass
class DistInfo:
    """Where this process sits in a torchrun job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_master(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls) -> DistInfo:
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                   int(os.environ.get("WORLD_SIZE", 1)))


@dataclass
class Runtime:
    """The device, autocast dtype and distributed position of one training process."""

    device: torch.device
    dtype: torch.dtype
    dist: DistInfo
    owns_group: bool = False  # we started the process group, so we also end it

    @classmethod
    def start(cls, device_name: str, dtype_name: str) -> Runtime:
        """Resolve device and dtype; under torchrun join the process group (NCCL on CUDA, gloo on CPU)."""
        info = DistInfo.from_env()
        device = resolve_device(device_name)
        owns_group = info.distributed and not dist.is_initialized()
        if owns_group:
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
            torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls: ~free speed, float32 master weights kept
            torch.backends.cudnn.allow_tf32 = True
        return cls(device, resolve_dtype(dtype_name, device), info, owns_group)

    def barrier(self) -> None:
        if self.dist.distributed:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group we joined, after every rank got here (so rank 0 has finished writing)."""
        if self.owns_group and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def training_flops_per_token(n_params: int, n_layer: int, n_embd: int, block_size: int) -> float:
    """Training FLOPs per token: 6 per weight (2 in the forward matmul, 4 in the backward) plus 12·L·C·T for
    attention's scores and weighted sum over a context of T (L layers, width C = heads × head size).

    `n_params` counts the weights a token meets in matmuls: every parameter but the position table.
    """
    return 6 * n_params + 12 * n_layer * n_embd * block_size


def measured_cpu_flops(dtype: torch.dtype = torch.float32, n: int = 1024, repeats: int = 5) -> float:
    """The best FLOP/s an n×n matmul in `dtype` reaches on this CPU: the honest 'peak' of a CPU (there is no
    data-sheet number PyTorch can reach; the best of several runs filters out a busy machine's noise)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm-up: the first call allocates and picks a kernel
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best
