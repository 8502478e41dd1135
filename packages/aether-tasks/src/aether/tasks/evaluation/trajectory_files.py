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


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise MetricInputError(f"{path}: not a text file (not UTF-8); pass a TUM, KITTI or ScanNet trajectory as "
                               "text, or c2w poses as .npy") from None


def _numbers(lines: list, path: Path) -> np.ndarray:
    try:
        return np.asarray(lines, dtype=np.float64)
    except ValueError:
        raise MetricInputError(f"{path}: holds a value that is not a number") from None


def _check_finite(rows: np.ndarray, path: Path, where: list[str]) -> None:
    """Refuse non-finite numbers, naming the line: ScanNet marks frames without a pose with -inf, and
    skipping them here would pair the other poses with the wrong frames."""
    bad = np.flatnonzero(~np.isfinite(rows.reshape(len(rows), -1)).all(axis=1))
    if len(bad):
        raise MetricInputError(f"{path}: {where[bad[0]]} holds non-finite values (ScanNet marks frames without a "
                               "pose with -inf); drop those frames from the sequence and from both trajectories")


def _read_text(path: Path) -> Trajectory:
    from aether.codecs.cameras import read_tum

    numbered = [(i, line.split()) for i, line in enumerate(_text(path).splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")]
    lines = [line for _, line in numbered]
    widths = {len(line) for line in lines}
    if len(widths) != 1 or not widths <= {8, 12, 16}:
        raise MetricInputError(f"{path}: every line must hold 8 (TUM), 12 (KITTI) or 16 (ScanNet 4x4) numbers; "
                               f"found {', '.join(map(str, sorted(widths))) or 'no lines'}")
    # checked here for all three formats, in this module's words; read_tum checks TUM lines again as it parses
    numbers = _numbers(lines, path)
    _check_finite(numbers, path, [f"line {i}" for i, _ in numbered])
    if widths == {8}:
        zero = np.flatnonzero(np.linalg.norm(numbers[:, 4:], axis=1) < 1e-12)
        if len(zero):
            raise MetricInputError(f"{path}: line {numbered[zero[0]][0]} has the quaternion 0 0 0 0, which is no "
                                   "rotation; TUM lines are 'timestamp tx ty tz qx qy qz qw'")
        timestamps, c2w = read_tum(path)
        return Trajectory(c2w, timestamps)
    return Trajectory(_matrices(numbers))


def _read_folder(path: Path) -> Trajectory:
    files = frame_files(path, (".txt",))
    if not files:
        raise MetricInputError(f"{path}: no aether output manifest and no per-frame pose .txt files")
    rows = []
    for file in files:
        numbers = _numbers(_text(file).split(), file)
        if numbers.size != 16:
            raise MetricInputError(f"{file}: a per-frame pose file must hold one 4x4 matrix (16 numbers); "
                                   f"found {numbers.size}")
        _check_finite(numbers[None], file, ["its matrix"])
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
    if path.suffix.lower() == ".npy":
        c2w = read_array(path)
        if c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or len(c2w) == 0:
            raise MetricInputError(f"{path}: a .npy trajectory must be c2w (N, 4, 4) with N >= 1; got {c2w.shape}")
        c2w = np.asarray(c2w, np.float64)
        _check_finite(c2w, path, [f"pose {i} (from 0)" for i in range(len(c2w))])
        return Trajectory(c2w)
    return _read_text(path)
