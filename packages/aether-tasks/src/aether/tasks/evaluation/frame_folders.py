"""Listing the per-frame files of a folder in frame order."""

from __future__ import annotations

import re
from pathlib import Path


def natural_key(path: Path) -> list:
    """Sort key ordering ``frame_2`` before ``frame_10`` (digit runs compared as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def frame_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of ``folder`` whose lower-case suffix is one of ``suffixes``, in natural order."""
    return sorted((f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in suffixes), key=natural_key)
