"""Trajectory alignment and pose metrics in NumPy float64 (SPEC §7; agrees with ``evo``).

Poses are c2w ``(N, 4, 4)``. ATE = RMSE of translation error after alignment; RPE between
consecutive frames: RMSE of the relative-motion error's translation and rotation angle (degrees).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from aether.codecs.errors import CodecError

AlignMode = Literal["sim3", "se3", "scale", "none"]


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares ``s, R (3, 3), t (3,)`` with ``dst ≈ s R src + t`` (Umeyama 1991).

    ``src, dst (N, 3)``.
    """
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3 or len(src) < 2:
        raise CodecError(f"umeyama needs two (N, 3) point sets with N >= 2, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1
    rot = u @ sign @ vt
    var_s = (xs ** 2).sum() / len(src)
    if with_scale and var_s < 1e-12:
        raise CodecError("umeyama: source points are (nearly) all identical; cannot estimate a scale")
    scale = float(np.trace(np.diag(d) @ sign) / var_s) if with_scale else 1.0
    return scale, rot, mu_d - scale * rot @ mu_s


def _check_pair(c2w_est: np.ndarray, c2w_gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    est, gt = np.asarray(c2w_est, np.float64), np.asarray(c2w_gt, np.float64)
    if est.shape != gt.shape or est.ndim != 3 or est.shape[1:] != (4, 4):
        raise CodecError(f"need two (N, 4, 4) trajectories of equal length, got {est.shape} and {gt.shape}")
    if not (np.isfinite(est).all() and np.isfinite(gt).all()):
        raise CodecError("trajectories hold NaN/inf values")
    return est, gt


def align_trajectory(c2w_est: np.ndarray, c2w_gt: np.ndarray, mode: AlignMode = "sim3") -> np.ndarray:
    """Align ``c2w_est (N, 4, 4)`` onto ``c2w_gt`` by positions: ``sim3`` (R, t, s), ``se3`` (R, t),
    ``scale`` (s only, least squares about the origin) or ``none``. Returns aligned ``(N, 4, 4)``."""
    est, gt = _check_pair(c2w_est, c2w_gt)
    if mode == "none":
        return est.copy()
    if mode == "scale":
        p, q = est[:, :3, 3], gt[:, :3, 3]
        s, rot, t = float((p * q).sum() / max((p * p).sum(), 1e-12)), np.eye(3), np.zeros(3)
    elif mode in ("sim3", "se3"):
        s, rot, t = umeyama(est[:, :3, 3], gt[:, :3, 3], with_scale=mode == "sim3")
    else:
        raise CodecError(f"unknown alignment mode {mode!r}; use 'sim3', 'se3', 'scale' or 'none'")
    out = est.copy()
    out[:, :3, :3] = rot @ est[:, :3, :3]
    out[:, :3, 3] = s * est[:, :3, 3] @ rot.T + t
    return out


def _rotation_angle_deg(rot: np.ndarray) -> np.ndarray:
    """Angle of ``(..., 3, 3)`` rotations by atan2(2 sin, 2 cos): arccos of the trace loses ~1e-8 rad
    near zero, which is where the relative-pose errors of a good trajectory live."""
    skew = np.stack([rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0],
                     rot[..., 1, 0] - rot[..., 0, 1]], -1)
    return np.degrees(np.arctan2(np.linalg.norm(skew, axis=-1), np.trace(rot, axis1=-2, axis2=-1) - 1))


def pose_metrics(c2w_est: np.ndarray, c2w_gt: np.ndarray, align: AlignMode = "sim3") -> dict[str, float]:
    """``{"ate", "rpe_trans", "rpe_rot_deg"}`` (RMSEs) of ``c2w_est (N, 4, 4)`` against ``c2w_gt``
    after ``align`` (evo APE/RPE, translation part, delta 1 frame, ``--align --correct_scale``)."""
    est = align_trajectory(c2w_est, c2w_gt, align)
    gt = np.asarray(c2w_gt, np.float64)
    ate = float(np.sqrt((np.linalg.norm(est[:, :3, 3] - gt[:, :3, 3], axis=1) ** 2).mean()))
    rel_est = np.linalg.inv(est[:-1]) @ est[1:]
    rel_gt = np.linalg.inv(gt[:-1]) @ gt[1:]
    err = np.linalg.inv(rel_gt) @ rel_est
    rpe_t = np.linalg.norm(err[:, :3, 3], axis=1)
    rpe_r = _rotation_angle_deg(err[:, :3, :3])
    return {"ate": ate, "rpe_trans": float(np.sqrt((rpe_t ** 2).mean())),
            "rpe_rot_deg": float(np.sqrt((rpe_r ** 2).mean()))}
