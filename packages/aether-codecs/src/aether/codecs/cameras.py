"""Camera utilities: pose inversion, axis conventions, quaternions, TUM files, a validated batch.

Functions accept torch tensors or NumPy arrays of shape ``(..., 4, 4)`` / ``(..., 3, 3)`` and return
the same kind. Quaternions are scalar-last ``(x, y, z, w)`` like SciPy and the TUM format. Importing
this module does not import torch (NumPy-only callers such as the annotation workers stay light).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.transform import Rotation

from aether.core.atomic import write_text
from aether.codecs.errors import CodecError

if TYPE_CHECKING:  # annotations only: see the module doc
    import torch

    Array = torch.Tensor | np.ndarray

ROTATION_TOLERANCE = 1e-4
# Flips camera y and z: OpenCV (x right, y down, z forward) <-> OpenGL (x right, y up, z backward).
_CV_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def _is_tensor(x: Array) -> bool:
    # a tensor can only exist once its caller imported torch, so there is no need to import it here
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _to_numpy(x: Array) -> np.ndarray:
    return np.asarray(x.detach().cpu() if _is_tensor(x) else x, dtype=np.float64)


def _lib(x: Array):
    return sys.modules["torch"] if _is_tensor(x) else np


def _like(x: Array, value: np.ndarray) -> Array:
    if _is_tensor(x):
        return sys.modules["torch"].as_tensor(value, dtype=x.dtype, device=x.device)
    dtype = np.asarray(x).dtype
    return np.asarray(value, dtype=dtype if dtype.kind == "f" else np.float64)


def invert_pose(pose: Array) -> Array:
    """Inverse of rigid ``(..., 4, 4)`` transforms (c2w <-> w2c) without a general matrix inverse."""
    rot_t = pose[..., :3, :3].swapaxes(-1, -2)
    out = _lib(pose).zeros_like(pose)
    out[..., :3, :3] = rot_t
    out[..., :3, 3] = -(rot_t @ pose[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1
    return out


def opencv_to_opengl(c2w: Array) -> Array:
    """``(..., 4, 4)`` c2w with OpenCV camera axes -> OpenGL axes. Its own inverse."""
    return c2w @ _like(c2w, _CV_GL)


opengl_to_opencv = opencv_to_opengl


def matrix_to_quaternion(rot: Array) -> Array:
    """``(..., 3, 3)`` rotations -> ``(..., 4)`` unit quaternions ``(x, y, z, w)`` with ``w >= 0``."""
    rot_np = _to_numpy(rot)
    quat = Rotation.from_matrix(rot_np.reshape(-1, 3, 3)).as_quat()
    quat = quat * np.where(quat[:, 3:] < 0, -1.0, 1.0)  # one canonical sign of the double cover
    return _like(rot, quat.reshape(*rot_np.shape[:-2], 4))


def quaternion_to_matrix(quat: Array) -> Array:
    """``(..., 4)`` quaternions ``(x, y, z, w)`` (normalised here) -> ``(..., 3, 3)`` rotations."""
    q_np = _to_numpy(quat)
    if not np.isfinite(q_np).all() or (np.linalg.norm(q_np, axis=-1) < 1e-12).any():
        raise CodecError("quaternions must be finite and non-zero")
    rot = Rotation.from_quat(q_np.reshape(-1, 4)).as_matrix()
    return _like(quat, rot.reshape(*q_np.shape[:-1], 3, 3))


def relative_to_first(c2w: Array) -> Array:
    """``(..., F, 4, 4)`` c2w -> the same poses in the first frame's camera coordinates (first = identity)."""
    return invert_pose(c2w[..., :1, :, :]) @ c2w


def read_text_file(path: str | os.PathLike, what: str) -> str:
    """The text of ``path`` (UTF-8, a leading byte-order mark dropped); :class:`CodecError` naming the
    file and ``what`` it should be if it is not UTF-8 text (e.g. a binary file passed by mistake)."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CodecError(f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start:exc.start + 1]!r}); "
                         f"pass {what} saved as plain text") from None


def _number(field: str) -> float:
    """``float(field)``; ValueError carrying the field if it is not a number. float() also takes "1_000"
    (Python digit grouping), which no trajectory writer emits: refused too."""
    try:
        if "_" not in field:
            return float(field)
    except ValueError:
        pass
    raise ValueError(field)


def read_tum(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a TUM trajectory (``timestamp tx ty tz qx qy qz qw`` per line, ``#`` comments).

    Returns ``timestamps (N,)`` and ``c2w (N, 4, 4)`` float64. Quaternions are normalised; non-numeric,
    non-finite or zero values are refused with the line they are on.
    """
    path = Path(path)
    if not path.is_file():
        raise CodecError(f"TUM trajectory {path} does not exist" if not path.exists()
                         else f"TUM trajectory {path} is a folder, not a file")
    layout = "every line must hold 8 numbers 'timestamp tx ty tz qx qy qz qw'"
    rows, lines = [], []
    for number, line in enumerate(read_text_file(path, "a TUM trajectory").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):  # comments may be indented
            continue
        if len(fields) != 8:
            raise CodecError(f"{path}, line {number}: {len(fields)} fields; {layout}")
        try:
            rows.append([_number(field) for field in fields])
        except ValueError as exc:
            raise CodecError(f"{path}, line {number}: {exc.args[0][:40]!r} is not a number; {layout}") from None
        lines.append(number)
    if not rows:
        raise CodecError(f"{path}: no poses in the file; {layout}")
    data = np.asarray(rows, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(data).all(axis=1))
    if len(bad):
        raise CodecError(f"{path}, line {lines[bad[0]]}: NaN or infinite value; a trajectory needs finite numbers")
    # scaled by the largest entry first: the norm of huge entries would overflow to inf
    peak = np.abs(data[:, 4:8]).max(axis=1, keepdims=True)
    quat = data[:, 4:8] / np.where(peak > 0, peak, 1.0)
    bad = np.flatnonzero(peak[:, 0] * np.linalg.norm(quat, axis=1) < 1e-12)
    if len(bad):
        raise CodecError(f"{path}, line {lines[bad[0]]}: the quaternion (qx qy qz qw) is zero; write a unit "
                         "quaternion (0 0 0 1 for no rotation)")
    c2w = np.tile(np.eye(4), (len(data), 1, 1))
    c2w[:, :3, :3] = quaternion_to_matrix(quat)
    c2w[:, :3, 3] = data[:, 1:4]
    return data[:, 0], c2w


def write_tum(path: str | os.PathLike, timestamps: Array, c2w: Array) -> Path:
    """Write ``timestamps (N,)`` and ``c2w (N, 4, 4)`` as a TUM trajectory, atomically."""
    ts = np.asarray(timestamps, dtype=np.float64).reshape(-1)
    poses = _to_numpy(c2w)
    if poses.shape != (len(ts), 4, 4):
        raise CodecError(f"c2w must be (N, 4, 4) with N = {len(ts)} timestamps, got {poses.shape}")
    # a TUM file of NaN or a mirrored "rotation" cannot be read back: refuse it rather than write it
    if not (np.isfinite(ts).all() and np.isfinite(poses).all()):
        raise CodecError(f"{path}: cannot write NaN or infinite timestamps or poses to a TUM trajectory")
    det = np.linalg.det(poses[:, :3, :3])
    if (det <= 0).any():
        i = int(np.argmin(det))
        raise CodecError(f"{path}: pose {i} has no rotation to write (det {det[i]:.3g} <= 0)")
    quat = matrix_to_quaternion(poses[:, :3, :3])
    lines = [" ".join(f"{v:.9f}" for v in (t, *p[:3, 3], *q)) for t, p, q in zip(ts, poses, quat)]
    return write_text(path, "# timestamp tx ty tz qx qy qz qw\n" + "\n".join(lines) + "\n")


def check_cameras(c2w: torch.Tensor, K: torch.Tensor, where: str = "cameras") -> None:
    """Raise :class:`CodecError` unless ``c2w (..., 4, 4)`` are finite rigid transforms and
    ``K (..., 3, 3)`` finite intrinsics with positive focals, with matching leading shapes."""
    import torch

    if c2w.shape[-2:] != (4, 4) or K.shape[-2:] != (3, 3) or c2w.shape[:-2] != K.shape[:-2]:
        raise CodecError(f"{where}: need c2w (..., 4, 4) and K (..., 3, 3) with equal leading dims, "
                         f"got {tuple(c2w.shape)} and {tuple(K.shape)}")
    if not (torch.isfinite(c2w).all() and torch.isfinite(K).all()):
        raise CodecError(f"{where}: c2w or K holds NaN/inf values")
    if (K[..., 0, 0] <= 0).any() or (K[..., 1, 1] <= 0).any():
        raise CodecError(f"{where}: K must have positive focal lengths fx, fy (found one <= 0)")
    rot = c2w[..., :3, :3].double()
    err = (rot @ rot.transpose(-1, -2) - torch.eye(3, dtype=rot.dtype, device=rot.device)).abs().amax()
    if err > ROTATION_TOLERANCE or (torch.linalg.det(rot) < 0).any():
        raise CodecError(f"{where}: c2w rotations must be orthonormal with det +1 (|R R^T - I| = {err:.1e}); "
                         "re-orthonormalise them (e.g. with an SVD)")


@dataclass(frozen=True)
class CameraBatch:
    """Validated cameras: ``c2w (B, F, 4, 4)`` OpenCV camera-to-world, ``K (B, F, 3, 3)`` in pixels."""

    c2w: torch.Tensor
    K: torch.Tensor

    def __post_init__(self) -> None:
        if self.c2w.dim() != 4:
            raise CodecError(f"CameraBatch.c2w must be (B, F, 4, 4), got {tuple(self.c2w.shape)}")
        check_cameras(self.c2w, self.K, "CameraBatch")

    @property
    def w2c(self) -> torch.Tensor:
        """``(B, F, 4, 4)`` world-to-camera."""
        return invert_pose(self.c2w)

    def relative_to_first(self) -> "CameraBatch":
        return CameraBatch(relative_to_first(self.c2w), self.K)

    def to(self, *args, **kwargs) -> "CameraBatch":
        return CameraBatch(self.c2w.to(*args, **kwargs), self.K.to(*args, **kwargs))
