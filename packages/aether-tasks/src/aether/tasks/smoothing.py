"""Camera trajectory smoothing (docs/FORMATS.md#long-videos-and-evaluation), two ways.

``rts`` (ours): a constant-velocity Kalman filter with a Rauch-Tung-Striebel backward pass, on camera
centres and on orientations (their rotation vectors in the tangent space at the clip's mean rotation,
unwrapped so a path past 180 degrees stays continuous). Both are exact on clean motion: a constant-velocity
path is a zero-cost solution of the Kalman model, and a constant angular velocity about one axis is a
straight line in that tangent space. Unlike a window mean, the smoother also denoises the first and last
frames, from the velocity it has estimated.

``released``: what the release's demo does to every reconstruction, prediction and plan (there it is always
on). A near-static path (mean step of the centres and of the rotation matrices, Frobenius, both below 0.01)
gets a Gaussian filter over centres and sign-aligned quaternions, of a window that grows as the motion
shrinks; any other path gets a Gaussian pre-filter on the centres followed by a forward-only Kalman filter,
and a Gaussian-weighted quaternion mean over 5 frames. The forward filter starts at rest, so its
centres lag behind a moving camera for the first frames.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from aether.core.clip import check_c2w
from aether.tasks.result import TaskResult


class SmoothingConfig(BaseModel):
    """How strongly to smooth. Noise levels are relative (the smoother is scale-equivariant)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["rts", "released"] = Field("rts", description="ours (Kalman + RTS) or the release demo's")
    # rts only. One value serves both: the filter is scale-equivariant, so metres and radians need no separate setting
    process_noise: float = Field(0.05, gt=0, description="acceleration / measurement noise variance (rts)")
    anchor_first: bool = Field(True, description="re-express the result relative to its first pose")


_TRANSITION = np.array([[1.0, 1.0], [0.0, 1.0]])  # [position, velocity] one frame on


def _kalman_filter(z: np.ndarray, q: np.ndarray, r: float, x0: np.ndarray,
                   p0: np.ndarray) -> tuple[list[np.ndarray], ...]:
    """Constant-velocity Kalman filter (one frame per step), each axis independently.

    ``z (F, D)`` measured positions, ``q (2, 2)`` process noise, ``r`` measurement noise variance,
    ``x0 (D, 2)`` the first frame's [position, velocity] before its measurement, ``p0 (D, 2, 2)`` its
    covariance. Returns per frame the predicted states and covariances and the filtered ones."""
    F, H = _TRANSITION, np.array([1.0, 0.0])
    x, P = x0, p0
    xs_f, Ps_f, xs_p, Ps_p = [], [], [], []
    for k in range(len(z)):
        if k > 0:
            x = x @ F.T
            P = F @ P @ F.T + q
        xs_p.append(x)
        Ps_p.append(P)
        S = P[:, 0, 0] + r                         # (D,) innovation variance
        gain = (P @ H) / S[:, None]                # (D, 2)
        x = x + gain * (z[k] - x[:, 0])[:, None]
        P = P - gain[:, :, None] * (H @ P)[:, None, :]
        xs_f.append(x)
        Ps_f.append(P)
    return xs_p, Ps_p, xs_f, Ps_f


def kalman_smooth_positions(positions: np.ndarray, process_noise: float = 0.05) -> np.ndarray:
    """Constant-velocity Kalman filter + RTS smoother, each axis independently.

    ``positions (F, D)`` -> smoothed ``(F, D)``. Measurement noise variance is 1 and the prior is
    taken from the first two measurements, so the output is linear in the input (scale-free).
    """
    z = np.asarray(positions, dtype=np.float64)
    if z.ndim != 2 or not np.isfinite(z).all():
        raise ValueError(f"positions must be a finite (F, D) array; got shape {z.shape}")
    if len(z) < 3:
        return z.copy()
    # continuous white-noise acceleration over one frame: full-rank, so the smoother is well posed
    q = process_noise * np.array([[1 / 3, 1 / 2], [1 / 2, 1.0]])
    x0 = np.stack([z[0], z[1] - z[0]], axis=-1)  # (D, 2) state [position, velocity] per axis
    p0 = np.broadcast_to(np.diag([1.0, 2.0]), (z.shape[1], 2, 2)).copy()
    xs_p, Ps_p, xs_f, Ps_f = _kalman_filter(z, q, 1.0, x0, p0)
    F = _TRANSITION
    x_s = xs_f[-1]
    P_s = Ps_f[-1]
    out = [x_s[:, 0]]
    for k in range(len(z) - 2, -1, -1):
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


# the release demo's smoothing constants (module doc)
RELEASED_STATIC_STEP = 0.01   # mean step of the centres and of the rotation matrices below which a path is static
RELEASED_WINDOW = 5           # frames; Gaussian sigma = window / 6
RELEASED_NOISE = 0.1          # Kalman process noise (every state component) and measurement noise variances


def released_static_window(c2w: np.ndarray) -> int | None:
    """The release's static test on ``c2w (F, 4, 4)``: None for a moving path, else the Gaussian window
    it smooths a static one with, ``5 * 0.1 / motion`` frames clipped to [5, 41]. (The release requires
    an odd window and stops on an even one; we keep its sigma, window / 6, either way.)"""
    step = np.linalg.norm(np.diff(c2w[:, :3, 3], axis=0), axis=-1).mean()
    turn = np.linalg.norm(np.diff(c2w[:, :3, :3], axis=0), axis=(1, 2)).mean()
    if not (step < RELEASED_STATIC_STEP and turn < RELEASED_STATIC_STEP):
        return None
    return min(41, max(RELEASED_WINDOW, int(RELEASED_WINDOW * 0.1 / max(step + turn, 1e-6))))


def _quaternions(rotations: np.ndarray) -> np.ndarray:
    """``(F, 3, 3)`` -> quaternions ``(F, 4)``, each sign flipped to agree with its predecessor's."""
    quats = Rotation.from_matrix(rotations).as_quat()
    for f in range(1, len(quats)):
        if quats[f] @ quats[f - 1] < 0:
            quats[f] = -quats[f]
    return quats


def _poses(rotations: Rotation, centres: np.ndarray) -> np.ndarray:
    out = np.tile(np.eye(4), (len(centres), 1, 1))
    out[:, :3, :3], out[:, :3, 3] = rotations.as_matrix(), centres
    return out


def _gaussian(values: np.ndarray, window: int) -> np.ndarray:
    """``values (F, D)`` Gaussian-filtered over time as the release does: sigma ``window / 6``, edges repeated."""
    return gaussian_filter1d(values, window / 6, axis=0, mode="nearest")


def _released_gaussian(c2w: np.ndarray, window: int) -> np.ndarray:
    """Centres and sign-aligned quaternions :func:`_gaussian`-filtered, the quaternions renormalised."""
    quats = _gaussian(_quaternions(c2w[:, :3, :3]), window)
    return _poses(Rotation.from_quat(quats / np.linalg.norm(quats, axis=1, keepdims=True)),
                  _gaussian(c2w[:, :3, 3], window))


def _released_rotations(rotations: np.ndarray) -> Rotation:
    """Each frame's quaternion replaced by the normalised mean of the frames within 2 of it, weighted
    ``exp(-d^2 / 2)`` at distance ``d`` (renormalised at the clip's ends), each sign-aligned to its own."""
    quats = Rotation.from_matrix(rotations).as_quat()
    half = RELEASED_WINDOW // 2
    sigma = half / 2
    out = np.empty_like(quats)
    for f in range(len(quats)):
        near = quats[max(0, f - half):f + half + 1]
        offsets = np.arange(max(0, f - half), min(len(quats), f + half + 1)) - f
        weights = np.exp(-0.5 * (offsets / sigma) ** 2)
        mean = (weights / weights.sum() * np.where(near @ quats[f] < 0, -1.0, 1.0)) @ near
        out[f] = mean / np.linalg.norm(mean)
    return Rotation.from_quat(out)


def released_smoothing(c2w: np.ndarray) -> np.ndarray:
    """The release demo's camera smoothing (module doc) of ``c2w (F, 4, 4)`` -> ``(F, 4, 4)``, not re-anchored."""
    c2w = np.asarray(c2w, dtype=np.float64)
    window = released_static_window(c2w)
    if window is not None:
        return _released_gaussian(c2w, window)
    centres = _gaussian(c2w[:, :3, 3], RELEASED_WINDOW)
    # the filter starts at the first (pre-filtered) centre, at rest, with unit covariance, and is not
    # updated there: the first frame's prediction is that state moved one frame on
    q = RELEASED_NOISE * np.eye(2)
    x0 = np.stack([centres[0], np.zeros(3)], axis=-1)
    p0 = np.broadcast_to(_TRANSITION @ _TRANSITION.T + q, (3, 2, 2)).copy()
    _, _, xs_f, _ = _kalman_filter(centres[1:], q, RELEASED_NOISE, x0 @ _TRANSITION.T, p0)
    return _poses(_released_rotations(c2w[:, :3, :3]), np.stack([centres[0]] + [x[:, 0] for x in xs_f]))


def smooth_trajectory(c2w: np.ndarray, config: SmoothingConfig | None = None) -> np.ndarray:
    """Smooth camera-to-world poses ``(F, 4, 4)`` -> ``(F, 4, 4)`` float64, by ``config.method``."""
    config = config or SmoothingConfig()
    c2w = np.asarray(c2w, dtype=np.float64)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
        raise ValueError(f"c2w must have shape (F, 4, 4); got {c2w.shape}")
    check_c2w(c2w, "smooth_trajectory: c2w")
    if config.method == "released":
        out = released_smoothing(c2w) if len(c2w) > 1 else c2w.copy()
    else:
        out = np.tile(np.eye(4), (len(c2w), 1, 1))
        out[:, :3, :3] = kalman_smooth_rotations(c2w[:, :3, :3], config.process_noise)
        out[:, :3, 3] = kalman_smooth_positions(c2w[:, :3, 3], config.process_noise)
    if config.anchor_first:
        out = np.linalg.inv(out[0]) @ out
    return out


def smooth_result(result: TaskResult, config: SmoothingConfig | None = None) -> TaskResult:
    """``result`` with its cameras ``c2w (F, 4, 4)`` smoothed by :func:`smooth_trajectory`; the rest kept."""
    return dataclasses.replace(result, c2w=smooth_trajectory(result.c2w, config))
