"""Reading camera trajectories for ``aether eval pose`` in the benchmarks' formats.

- TUM: ``timestamp tx ty tz qx qy qz qw`` per line (:func:`aether.codecs.cameras.read_tum`);
- KITTI: 12 numbers per line, the first three rows of a 4x4 c2w, row-major; no timestamps;
- ScanNet: 16 numbers per line, a whole 4x4 c2w row-major (CUT3R's ``pose_90.txt``), or a folder
  of per-frame text files holding one 4x4 matrix each (ScanNet's ``pose/*.txt``); no timestamps;
- ``.npy``: c2w ``(N, 4, 4)``; no timestamps;
- ``aether reconstruct``'s output folder or manifest: its TUM trajectory.

Text formats are told apart by the count of numbers on a line (8, 12 or 16).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aether.core.media import read_array
from aether.core.frame_folders import frame_files
from aether.tasks.evaluation.errors import MetricInputError
from aether.tasks.evaluation.result_files import result_file


@dataclass(frozen=True)
class Trajectory:
    """Camera-to-world poses ``c2w (N, 4, 4)`` float64 and ``timestamps (N,)`` seconds, or None
    for formats that carry none (frames are then paired by index)."""

    c2w: np.ndarray
    timestamps: np.ndarray | None = None


def _matrices(rows: np.ndarray) -> np.ndarray:
    """``rows (N, 12)`` (KITTI: 3x4) or ``(N, 16)`` (4x4) row-major numbers -> c2w ``(N, 4, 4)``;
    the last row of a 4x4 is kept as written, for the pose check to judge."""
    c2w = np.tile(np.eye(4), (len(rows), 1, 1))
    c2w[:, : rows.shape[1] // 4] = rows.reshape(len(rows), -1, 4)
    return c2w


def _numbers(lines: list, path: Path) -> np.ndarray:
    try:
        return np.asarray(lines, dtype=np.float64)
    except ValueError:
        raise MetricInputError(f"{path}: holds a value that is not a number") from None


def _read_text(path: Path) -> Trajectory:
    from aether.codecs.cameras import read_tum

    lines = [line.split() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    widths = {len(line) for line in lines}
    if len(widths) != 1 or not widths <= {8, 12, 16}:
        raise MetricInputError(f"{path}: every line must hold 8 (TUM), 12 (KITTI) or 16 (ScanNet 4x4) numbers; "
                               f"found {', '.join(map(str, sorted(widths))) or 'no lines'}")
    if widths == {8}:
        timestamps, c2w = read_tum(path)
        return Trajectory(c2w, timestamps)
    return Trajectory(_matrices(_numbers(lines, path)))


def _read_folder(path: Path) -> Trajectory:
    files = frame_files(path, (".txt",))
    if not files:
        raise MetricInputError(f"{path}: no aether output manifest and no per-frame pose .txt files")
    rows = []
    for file in files:
        numbers = _numbers(file.read_text().split(), file)
        if numbers.size != 16:
            raise MetricInputError(f"{file}: a per-frame pose file must hold one 4x4 matrix (16 numbers); "
                                   f"found {numbers.size}")
        rows.append(numbers)
    return Trajectory(_matrices(np.stack(rows)))


def read_trajectory(path: str | Path) -> Trajectory:
    """The trajectory in ``path``: a TUM / KITTI / ScanNet text file, a ``.npy`` ``(N, 4, 4)``, a
    folder of per-frame ScanNet pose files, or ``aether reconstruct``'s output folder / manifest."""
    path = Path(path)
    if not path.exists():
        raise MetricInputError(f"{path}: no such file; pass a TUM, KITTI or ScanNet trajectory, a .npy "
                               "(N, 4, 4) or an aether output folder")
    tum = result_file(path, "trajectory_tum")
    if tum is not None:
        return _read_text(tum)
    if path.is_dir():
        return _read_folder(path)
    if path.suffix == ".npy":
        c2w = read_array(path)
        if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
            raise MetricInputError(f"{path}: a .npy trajectory must be c2w (N, 4, 4); got {c2w.shape}")
        return Trajectory(np.asarray(c2w, np.float64))
    return _read_text(path)
