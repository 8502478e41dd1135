"""Sintel's camera files (``camdata_left/<seq>/frame_XXXX.cam``, docs/FORMATS.md#long-videos-and-evaluation): the
float32 tag 202021.25, then a 3x3 intrinsic matrix and a 3x4 world-to-camera matrix, float64 row-major (172 bytes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aether.core.clip import ROTATION_TOLERANCE
from aether.tasks.evaluation.depth_files import SINTEL_TAG
from aether.tasks.evaluation.errors import MetricInputError
from aether.core.frame_folders import frame_files
from aether.tasks.evaluation.trajectory_files import Trajectory

CAM_BYTES = 4 + 8 * (9 + 12)


def read_cam(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``K (3, 3)`` and world-to-camera ``w2c (3, 4)`` float64 of one ``.cam`` file."""
    raw = Path(path).read_bytes()
    if len(raw) != CAM_BYTES or np.frombuffer(raw, "<f4", 1)[0] != SINTEL_TAG:
        raise MetricInputError(f"{path}: not a Sintel .cam file (the 'PIEH' tag and {CAM_BYTES} bytes: "
                               f"a 3x3 K and a 3x4 world-to-camera matrix as float64); it has {len(raw)} bytes")
    numbers = np.frombuffer(raw, "<f8", offset=4)
    K, w2c = numbers[:9].reshape(3, 3).copy(), numbers[9:].reshape(3, 4).copy()
    rot = w2c[:, :3]
    # a damaged pose (NaN, zeros) would make the inversion to c2w fail or yield nonsense
    if not np.isfinite(w2c).all() or np.abs(rot @ rot.T - np.eye(3)).max() > ROTATION_TOLERANCE \
            or np.linalg.det(rot) < 0:
        raise MetricInputError(f"{path}: the world-to-camera matrix is not a finite rotation and translation; "
                               "the file is damaged, extract Sintel's camdata_left again")
    return K, w2c


def read_cam_folder(folder: Path) -> Trajectory:
    """The camera-to-world trajectory ``(N, 4, 4)`` of a folder of ``.cam`` files (natural name order)."""
    files = frame_files(Path(folder), (".cam",))
    if not files:
        raise MetricInputError(f"{folder}: no Sintel .cam files")
    w2c = np.tile(np.eye(4), (len(files), 1, 1))
    w2c[:, :3] = [read_cam(file)[1] for file in files]
    return Trajectory(np.linalg.inv(w2c))
