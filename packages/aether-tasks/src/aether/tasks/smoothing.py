"""Camera trajectory smoothing (docs/FORMATS.md#long-videos-and-evaluation): a constant-velocity Kalman filter with a
Rauch-Tung-Striebel backward pass, on camera centres and on orientations (their rotation vectors in the
tangent space at the clip's mean rotation, unwrapped so a path past 180 degrees stays continuous).

Both are exact on clean motion: a constant-velocity path is a zero-cost solution of the Kalman model,
and a constant angular velocity about one axis is a straight line in that tangent space. Unlike a
window mean, the smoother also denoises the first and last frames, from the velocity it has estimated.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.spatial.transform import Rotation

from aether.core.clip import check_c2w
from aether.tasks.result import TaskResult


class SmoothingConfig(BaseModel):
    """How strongly to smooth. Noise levels are relative (the smoother is scale-equivariant)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # one value serves both: the filter is scale-equivariant, so metres and radians need no separate setting
    process_noise: float = Field(0.05, gt=0, description="acceleration / measurement noise variance")
    anchor_first: bool = Field(True, description="re-express the result relative to its first pose")


def kalman_smooth_positions(positions: np.ndarray, process_noise: float = 0.05) -> np.ndarray:
    """Constant-velocity Kalman filter + RTS smoother, each axis independently.

    ``positions (F, D)`` -> smoothed ``(F, D)``. Measurement noise variance is 1 and the prior is
    taken from the first two measurements, so the output is linear in the input (scale-free).
    """
    z = np.asarray(positions, dtype=np.float64)
    if z.ndim != 2 or not np.isfinite(z).all():
        raise ValueError(f"positions must be a finite (F, D) array; got shape {z.shape}")
    n = len(z)
    if n < 3:
        return z.copy()
    F = np.array([[1.0, 1.0], [0.0, 1.0]])
    # continuous white-noise acceleration over one frame: full-rank, so the smoother is well posed
    Q = process_noise * np.array([[1 / 3, 1 / 2], [1 / 2, 1.0]])
    H = np.array([1.0, 0.0])
    x = np.stack([z[0], z[1] - z[0]], axis=-1)  # (D, 2) state [position, velocity] per axis
    P = np.broadcast_to(np.diag([1.0, 2.0]), (z.shape[1], 2, 2)).copy()
    xs_f, Ps_f, xs_p, Ps_p = [], [], [], []
    for k in range(n):
        if k > 0:
            x = x @ F.T
            P = F @ P @ F.T + Q
        xs_p.append(x)
        Ps_p.append(P)
        S = P[:, 0, 0] + 1.0                       # (D,) innovation variance, R = 1
        gain = (P @ H) / S[:, None]                # (D, 2)
        x = x + gain * (z[k] - x[:, 0])[:, None]
        P = P - gain[:, :, None] * (H @ P)[:, None, :]
        xs_f.append(x)
        Ps_f.append(P)
    x_s = xs_f[-1]
    P_s = Ps_f[-1]
    out = [x_s[:, 0]]
    for k in range(n - 2, -1, -1):
        C = Ps_f[k] @ F.T @ np.linalg.inv(Ps_p[k + 1])   # (D, 2, 2) smoother gain
        x_s = xs_f[k] + np.einsum("dij,dj->di", C, x_s - xs_p[k + 1])
        P_s = Ps_f[k] + C @ (P_s - Ps_p[k + 1]) @ np.swapaxes(C, -1, -2)
        out.append(x_s[:, 0])
    return np.stack(out[::-1])


def _unwrap(rotvecs: np.ndarray) -> np.ndarray:
    """Rotation vectors ``(F, 3)`` made continuous: ``v + 2*pi*k*v/|v|`` is the same rotation for every
    integer ``k``, so each frame takes the ``k`` nearest to the previous frame's vector."""
    out = rotvecs.copy()
    for f in range(1, len(out)):
        angle = np.linalg.norm(out[f])
        if angle < 1e-12:
            continue
        axis = out[f] / angle
        out[f] += 2 * np.pi * np.round(axis @ (out[f - 1] - out[f]) / (2 * np.pi)) * axis
    return out


def kalman_smooth_rotations(rotations: np.ndarray, process_noise: float = 0.05) -> np.ndarray:
    """``rotations (F, 3, 3)`` -> smoothed ``(F, 3, 3)``: :func:`kalman_smooth_positions` on the rotation
    vectors relative to the chordal mean rotation (module doc)."""
    rot = Rotation.from_matrix(np.asarray(rotations, dtype=np.float64))
    if len(rot) < 3:
        return rot.as_matrix()
    mean = rot.mean()
    tangent = _unwrap((mean.inv() * rot).as_rotvec())
    return (mean * Rotation.from_rotvec(kalman_smooth_positions(tangent, process_noise))).as_matrix()


def smooth_trajectory(c2w: np.ndarray, config: SmoothingConfig | None = None) -> np.ndarray:
    """Smooth camera-to-world poses ``(F, 4, 4)`` -> ``(F, 4, 4)`` float64."""
    config = config or SmoothingConfig()
    c2w = np.asarray(c2w, dtype=np.float64)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
        raise ValueError(f"c2w must have shape (F, 4, 4); got {c2w.shape}")
    check_c2w(c2w, "smooth_trajectory: c2w")
    out = np.tile(np.eye(4), (len(c2w), 1, 1))
    out[:, :3, :3] = kalman_smooth_rotations(c2w[:, :3, :3], config.process_noise)
    out[:, :3, 3] = kalman_smooth_positions(c2w[:, :3, 3], config.process_noise)
    if config.anchor_first:
        out = np.linalg.inv(out[0]) @ out
    return out


def smooth_result(result: TaskResult, config: SmoothingConfig | None = None) -> TaskResult:
    """``result`` with its cameras ``c2w (F, 4, 4)`` smoothed by :func:`smooth_trajectory`; the rest kept."""
    return dataclasses.replace(result, c2w=smooth_trajectory(result.c2w, config))
