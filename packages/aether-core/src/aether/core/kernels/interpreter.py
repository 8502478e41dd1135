"""Selecting Triton's CPU interpreter, for tests on machines without CUDA."""

import os

import torch


def use_interpreter_without_cuda() -> None:
    """Set ``TRITON_INTERPRET=1`` when no CUDA device is present (an explicit setting wins).

    Triton reads the variable when it is first imported, and torch or diffusers may import it, so
    call this before anything else: the shared pytest plugin (``aether.core.testing.pytest_plugin``) does it at
    start-up.
    """
    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")
