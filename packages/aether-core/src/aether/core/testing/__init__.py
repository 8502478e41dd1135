"""Helpers for the packages' crash tests: a real process killed (SIGKILL) at a chosen moment of a command."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable


def killed_when(target: object, name: str, when: Callable[..., bool], before: bool = True) -> None:
    """Replace ``target.name`` (in this process only) by a wrapper that SIGKILLs the process when
    ``when(*args)`` holds: before calling the original, or right after it."""
    original = getattr(target, name)

    def wrapper(*args, **kwargs):
        if before and when(*args):
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if not before and when(*args):
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(target, name, wrapper)


def run_killed(arm: Callable[[], None], argv: list[str], timeout: float = 120) -> int:
    """Run the CLI's ``main(argv)`` in a forked child after ``arm()`` (which sets the kill, e.g. with
    :func:`killed_when`); returns the child's exit code, ``-SIGKILL`` when the kill came."""
    from aether.core.cli import main

    def child() -> None:
        arm()
        main(argv)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        raise AssertionError(f"`aether {' '.join(argv)}` was not killed in {timeout:g} s")
    return process.exitcode
