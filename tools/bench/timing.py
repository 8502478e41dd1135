"""Shared timing for the kernel benches: best wall time of a few runs, synchronising CUDA."""

from __future__ import annotations

import time
from typing import Callable

import torch


def best_time(fn: Callable[[], object], device: torch.device, repeat: int, warmup: int = 1) -> float:
    """Best of ``repeat`` timed calls of ``fn`` (seconds) after ``warmup`` untimed ones."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def describe_device(device: torch.device) -> str:
    """One line naming the device and the library versions that matter for the kernels."""
    import diffusers

    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = "absent"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (no GPU present)"
    return f"device {name}; torch {torch.__version__}; triton {triton_version}; diffusers {diffusers.__version__}"
