"""Shared timing for the benches: best wall time of a few runs (synchronising CUDA) for long steps,
the median of CUDA-event timings for kernels, and the ``RESULT`` line every bench ends with."""

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


def kernel_time(fn: Callable[[], object], device: torch.device, repeat: int = 5) -> float:
    """Seconds per call of a short GPU ``fn``: the median of CUDA-event timings over about 200 ms, with
    the L2 cache flushed between calls (``triton.testing.do_bench``); :func:`best_time` off CUDA."""
    if device.type != "cuda":
        return best_time(fn, device, repeat)
    from triton.testing import do_bench

    return do_bench(fn, warmup=50, rep=200, return_mode="median") / 1e3


def device_name(device: torch.device) -> str:
    """The device's name with spaces as underscores, for ``RESULT`` lines."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    return name.replace(" ", "_")


def result_line(name: str, device: torch.device, **fields: float) -> str:
    """``RESULT name=<bench> device=<GPU> key=value ...``: the machine-read summary of a measurement."""
    values = " ".join(f"{key}={value:.4g}" for key, value in fields.items())
    return f"RESULT name={name} device={device_name(device)} {values}"


def describe_device(device: torch.device) -> str:
    """One line naming the device and the library versions that matter for the kernels."""
    import importlib.metadata

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "absent"

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (no GPU present)"
    return (f"device {name}; torch {torch.__version__}; triton {version('triton')}; "
            f"diffusers {version('diffusers')}; xformers {version('xformers')}")
