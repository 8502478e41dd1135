"""Folders of per-frame files: listing them in frame order, and reading a plain folder of images
(``frames/000001.png`` ..., ``frame_1.jpg`` ...) as one video."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aether.core.errors import ClipError
from aether.core.media import IMAGE_SUFFIXES, read_rgb


def natural_key(path: Path) -> list:
    """Sort key ordering ``frame_2`` before ``frame_10`` (digit runs compared as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def frame_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of ``folder`` whose lower-case suffix is one of ``suffixes``, in natural order; hidden files
    (``.DS_Store``, macOS ``._frame.png`` shadows) are skipped. A broken link named like a frame is an
    error: skipping it would silently drop a frame from the middle of the clip."""
    files = [f for f in folder.iterdir() if f.suffix.lower() in suffixes and not f.name.startswith(".")]
    for f in files:
        if f.is_symlink() and not f.exists():
            raise ClipError(f"{f}: a broken link (its target {os.readlink(f)!r} does not exist); restore the "
                            "frame it points to or remove the link")
    return sorted((f for f in files if f.is_file()), key=natural_key)


def stack_frames(files: list[Path], read: Callable[[Path], np.ndarray]) -> np.ndarray:
    """``read`` every file into ``(F, ...)``; the frames of one clip must share one shape (a clear error,
    not NumPy's)."""
    frames = [read(f) for f in files]
    for file, frame in zip(files, frames):
        if frame.shape != frames[0].shape:
            raise ClipError(f"{file}: frame of shape {frame.shape} differs from {files[0].name}'s "
                            f"{frames[0].shape}; every frame of a clip must have the same size")
    return np.stack(frames)


def image_frames(folder: Path) -> list[Path]:
    """The image files of a plain frame folder, in natural order."""
    return frame_files(folder, IMAGE_SUFFIXES)


def read_frame_folder(folder: Path) -> np.ndarray:
    """A folder of images as uint8 RGB frames ``(F, H, W, 3)`` in natural name order (8- or 16-bit,
    gray or with alpha: :func:`aether.core.media.to_rgb8`)."""
    files = image_frames(folder)
    if not files:
        raise ClipError(f"{folder}: no image frames ({', '.join(IMAGE_SUFFIXES)}) in the folder; give a folder "
                        "of frames, a clip folder with rgb/, a .safetensors clip or a video file")
    return stack_frames(files, read_rgb)
