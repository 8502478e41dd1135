"""Locks that let several ``aether annotate`` runs share one output folder: each run holds the folder's
run lock (shared) while it works there, and each clip is annotated under that clip's lock (exclusive).
They are ``flock`` locks, so the kernel drops them when a process dies: a killed run never leaves one
behind (POSIX only, and not reliable on network file systems)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from aether.core.atomic import sweep_temporaries

RUN_LOCK = ".annotate.lock"
CLIP_LOCKS = ".locks"


@contextlib.contextmanager
def _locked(path: Path, mode: int, blocking: bool = True) -> Iterator[int | None]:
    """Hold ``flock`` ``mode`` on ``path`` (created, with the umask's mode): yields the open descriptor, or
    None when ``blocking`` is false and another process holds a conflicting lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, mode | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield None
        else:
            yield fd
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def using_folder(out: Path) -> Iterator[None]:
    """Work in ``out`` alongside other runs. A run that finds no other one there first removes the
    temporaries that killed runs left (any other run's temporaries would be live work)."""
    with _locked(out / RUN_LOCK, fcntl.LOCK_EX, blocking=False) as alone:
        if alone is not None:
            sweep_temporaries(out)
    with _locked(out / RUN_LOCK, fcntl.LOCK_SH):
        yield


@contextlib.contextmanager
def clip_lock(out: Path, name: str, blocking: bool = True) -> Iterator[bool]:
    """Hold the lock of clip ``name`` in ``out``; yields False (without waiting) when ``blocking`` is false
    and another run holds it."""
    with _locked(out / CLIP_LOCKS / f"{name}.lock", fcntl.LOCK_EX, blocking) as fd:
        yield fd is not None
