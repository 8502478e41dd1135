"""The bundle adjustment problem of one slice: residuals and their analytic Jacobian, block by observation.

Parameters ``x``: the free intrinsics (none, ``f, cx, cy`` with square pixels, or ``fx, fy, cx, cy``), then
``rotvec (3), t (3)`` of each frame after the first (c2w, the first frame is the world), then one 3-D point
per track. Each observation ``m`` gives five residuals: its reprojection error (pixels, 2) and the 3-D error
between the track point and the observation lifted by the frame's depth (3), scaled by ``f0 / depth`` to
pixels. Differentiating by hand makes each Jacobian cost about one residual evaluation, where finite
differences cost dozens; :mod:`aether.annotate.stages.schur` solves it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

IntrinsicsMode = Literal["fixed", "square", "separate"]
# How each mode's free intrinsics map to (fx, fy, cx, cy): d(fx, fy, cx, cy) / d(free)
_INTRINSICS_MAP = {"fixed": np.zeros((4, 0)), "separate": np.eye(4),
                   "square": np.array([[1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])}


def _skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrices ``(M, 3, 3)`` of vectors ``v (M, 3)``."""
    out = np.zeros((*v.shape[:-1], 3, 3))
    out[..., 0, 1], out[..., 0, 2], out[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    out[..., 1, 0], out[..., 2, 0], out[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    return out


def right_jacobian(rotvec: np.ndarray) -> np.ndarray:
    """SO(3) right Jacobians ``(F, 3, 3)`` of rotation vectors ``(F, 3)``: exp(w + d) ~ exp(w) exp(J_r(w) d)."""
    theta = np.linalg.norm(rotvec, axis=-1)[:, None, None]
    small = theta < 1e-4
    safe = np.where(small, 1.0, theta)
    # Taylor series below 1e-4 rad, where the closed forms lose their digits to cancellation.
    a = np.where(small, 0.5 - theta ** 2 / 24, (1 - np.cos(safe)) / safe ** 2)
    b = np.where(small, 1 / 6 - theta ** 2 / 120, (safe - np.sin(safe)) / safe ** 3)
    w = _skew(rotvec)
    return np.eye(3) - a * w + b * (w @ w)


@dataclass
class BundleProblem:
    """Observations ``point (M,)`` (track point index), ``frame (M,)``, ``xy (M, 2)`` pixels, ``depth (M,)``
    metres of a slice of ``frames`` frames; ``intrinsics (4,)`` = ``fx, fy, cx, cy`` where they are not free;
    ``f0`` the focal length that scales the depth residual; ``depth_weight`` its weight."""

    point: np.ndarray
    frame: np.ndarray
    xy: np.ndarray
    depth: np.ndarray
    frames: int
    intrinsics: np.ndarray
    mode: IntrinsicsMode
    f0: float
    depth_weight: float = 1.0

    def __post_init__(self) -> None:
        self.n_intr = _INTRINSICS_MAP[self.mode].shape[1]
        self.n_pose = 6 * (self.frames - 1)
        self.scale = self.depth_weight * self.f0 / self.depth  # (M,) pixels per metre of the depth residual
        m, self.n_points = len(self.point), int(self.point.max()) + 1 if len(self.point) else 0
        pose = np.where((self.frame > 0)[:, None], self.n_intr + 6 * (self.frame[:, None] - 1) + np.arange(6), -1)
        # (M, n_intr + 9) columns of x each observation depends on, -1 for frame 0's (fixed) pose
        self.cols = np.concatenate([np.tile(np.arange(self.n_intr), (m, 1)), pose,
                                    self.n_intr + self.n_pose + 3 * self.point[:, None] + np.arange(3)], 1)

    def pack(self, intrinsics: np.ndarray, c2w: np.ndarray, points: np.ndarray) -> np.ndarray:
        """``x`` of ``intrinsics (4,)`` (``fx, fy, cx, cy``), ``c2w (N, 4, 4)`` and ``points (P, 3)``."""
        free = {"fixed": [], "square": [intrinsics[0], *intrinsics[2:]], "separate": list(intrinsics)}[self.mode]
        poses = np.concatenate([Rotation.from_matrix(c2w[1:, :3, :3]).as_rotvec(), c2w[1:, :3, 3]], 1)
        return np.concatenate([free, poses.ravel(), points.ravel()])

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``intrinsics (4,)``, rotation vectors ``(N, 3)`` (the first zero), ``c2w (N, 4, 4)``, points ``(P, 3)``."""
        intrinsics = self.intrinsics if self.mode == "fixed" else _INTRINSICS_MAP[self.mode] @ x[:self.n_intr]
        poses = np.concatenate([np.zeros((1, 6)), x[self.n_intr:self.n_intr + self.n_pose].reshape(-1, 6)])
        c2w = np.tile(np.eye(4), (self.frames, 1, 1))
        c2w[:, :3, :3], c2w[:, :3, 3] = Rotation.from_rotvec(poses[:, :3]).as_matrix(), poses[:, 3:]
        return intrinsics, poses[:, :3], c2w, x[self.n_intr + self.n_pose:].reshape(-1, 3)

    def _terms(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-observation quantities shared by residuals and Jacobian."""
        (fx, fy, cx, cy), rotvec, c2w, points = self.unpack(x)
        rot, trans, p = c2w[self.frame, :3, :3], c2w[self.frame, :3, 3], points[self.point]
        cam = np.einsum("mji,mj->mi", rot, p - trans)  # R^T (X - t)
        lifted = np.stack([(self.xy[:, 0] - cx) / fx, (self.xy[:, 1] - cy) / fy, np.ones(len(p))], 1) \
            * self.depth[:, None]
        return {"f": np.array([fx, fy]), "c": np.array([cx, cy]), "rotvec": rotvec, "rot": rot, "trans": trans,
                "p": p, "cam": cam, "lifted": lifted}

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """``(5 M,)``: per observation the reprojection error (2) and the scaled 3-D depth error (3)."""
        t = self._terms(x)
        reproj = t["f"] * t["cam"][:, :2] / t["cam"][:, 2:3] + t["c"] - self.xy
        world = np.einsum("mij,mj->mi", t["rot"], t["lifted"]) + t["trans"]
        return np.concatenate([reproj, (world - t["p"]) * self.scale[:, None]], 1).ravel()

    def blocks(self, x: np.ndarray) -> np.ndarray:
        """The Jacobian of :meth:`residuals` as dense per-observation blocks ``(M, 5, n_intr + 9)``: its 5
        residuals by the columns :attr:`cols` names (free intrinsics, pose, point); frame 0's pose columns (-1
        there) are no parameters."""
        t = self._terms(x)
        (fx, fy), cam, rot, lifted, s = t["f"], t["cam"], t["rot"], t["lifted"], self.scale[:, None, None]
        m, z = len(cam), cam[:, 2]
        proj = np.zeros((m, 2, 3))  # d reprojection / d camera point
        proj[:, 0, 0], proj[:, 0, 2] = fx / z, -fx * cam[:, 0] / z ** 2
        proj[:, 1, 1], proj[:, 1, 2] = fy / z, -fy * cam[:, 1] / z ** 2
        jr = right_jacobian(t["rotvec"])[self.frame]
        rot_t = np.swapaxes(rot, 1, 2)
        block = np.zeros((m, 5, 13))  # columns: fx, fy, cx, cy | rotvec | t | point
        block[:, 0, 0], block[:, 1, 1] = cam[:, 0] / z, cam[:, 1] / z
        block[:, 0, 2], block[:, 1, 3] = 1.0, 1.0
        # the lifted point moves with the intrinsics: d lifted / d(fx, fy, cx, cy), then rotated to the world
        dlift = np.zeros((m, 3, 4))
        dlift[:, 0, 0], dlift[:, 1, 1] = -lifted[:, 0] / fx, -lifted[:, 1] / fy
        dlift[:, 0, 2], dlift[:, 1, 3] = -self.depth / fx, -self.depth / fy
        block[:, 2:, :4] = s * (rot @ dlift)
        block[:, :2, 4:7] = proj @ _skew(cam) @ jr
        block[:, 2:, 4:7] = -s * (rot @ _skew(lifted) @ jr)
        block[:, :2, 7:10] = -proj @ rot_t
        block[:, 2:, 7:10] = s * np.eye(3)
        block[:, :2, 10:] = proj @ rot_t
        block[:, 2:, 10:] = -s * np.eye(3)
        return np.concatenate([block[:, :, :4] @ _INTRINSICS_MAP[self.mode], block[:, :, 4:]], 2)
