"""Atomic writes: write to a temporary sibling, flush it to disk, then ``os.replace`` it into place, so a
crash never leaves a half-written output where a finished one is expected.

Temporaries are named ``.<name>.<8 random characters>.tmp[.<suffix>]``; :func:`sweep_temporaries` removes
the ones a killed process left behind. Finished files and folders get the umask's normal mode (0644 and
0755 under umask 022), not the 0600 / 0700 that ``mkstemp`` / ``mkdtemp`` and some writers use.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

# mkstemp / mkdtemp names: ".<name>.", 8 characters of [a-z0-9_], then ".tmp[.<suffix>]" or ".old"
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.\w+)?$")
_SWAPPED_OUT = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.old$")


def _umask() -> int:
    # reading the umask means setting it: the brief stand-in 077 can only make another thread's file private
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _finish(tmp: Path) -> None:
    """Give ``tmp`` (a file, or a folder and everything below it) the umask's normal modes and flush it
    to disk, so the rename that follows publishes whole data even if the machine goes down."""
    mask = _umask()
    for path in [*tmp.rglob("*"), tmp] if tmp.is_dir() else [tmp]:
        if not path.is_symlink():
            os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask)
            _fsync(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix, so writers that infer the format
    from the extension work); on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _finish(tmp_path)
        os.replace(tmp_path, path)
        _fsync(path.parent)  # makes the rename itself durable
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``path`` to fill; on success it replaces ``path`` (an existing
    folder is swapped out, then deleted), on error it is removed."""
    path = Path(path)
    if path.exists() and not path.is_dir():  # a file is never replaced by a folder (nor left beside a stray one)
        raise FileExistsError(errno.EEXIST, "exists and is a file, not a folder; choose another path or remove it",
                              str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _finish(tmp)
        old = None
        if path.exists():
            # renaming over the fresh empty folder moves the old one aside under a unique name
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync(path.parent)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sweep_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries a killed writer left in ``folder`` (not below it), and put back a folder
    that a killed :func:`atomic_dir` had swapped out before its replacement arrived. Call it where a
    command starts or resumes writing into ``folder``, when no other process writes there. Returns
    the paths removed."""
    folder = Path(folder)
    swept = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        swapped = _SWAPPED_OUT.match(entry.name)
        if swapped and not (folder / swapped["name"]).exists():
            os.replace(entry, folder / swapped["name"])
        elif swapped or _TEMPORARY.match(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            swept.append(entry)
    return swept


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_array(path: str | os.PathLike, array: Any) -> Path:
    """Atomically write ``array`` as one ``.npy`` file (through a handle: ``np.save`` would append ``.npy`` to
    a temporary name that lacks it)."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(array))
    return Path(path)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Atomically write ``data`` as indented JSON."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
