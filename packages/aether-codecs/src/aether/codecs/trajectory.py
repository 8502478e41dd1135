"""Trajectory alignment and pose errors in NumPy float64, as evo's APE and RPE compute them
(docs/FORMATS.md#long-videos-and-evaluation).

Poses are c2w ``(N, 4, 4)``, paired frame by frame. Alignment as evo's flags: ``sim3`` (``-as``: rotation,
translation and scale by Umeyama), ``se3`` (``-a``), ``scale`` (``-s``: only the Umeyama scale, applied to
the positions about the origin), ``none``. APE (``ate``): distance between aligned and true camera
positions, one per pose. RPE: for the pose pairs ``(i, i + delta)`` at ``i = 0, delta, 2 delta, ...``
(evo's consecutive pairs, ``delta`` in frames), ``E = (Q_i^-1 Q_j)^-1 (P_i^-1 P_j)`` with ``Q`` true and
``P`` aligned estimated c2w; the translation error is ``|t(E)|`` (``rpe_trans``), the rotation error the
angle of ``R(E)`` in degrees (``rpe_rot_deg``).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from aether.codecs.align_modes import ALIGN_MODES, AlignMode
from aether.codecs.cameras import invert_pose
from aether.codecs.errors import CodecError



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
    """``c2w_est (N, 4, 4)`` aligned onto ``c2w_gt`` by positions (module doc for the modes); a new array."""
    est, gt = _check_pair(c2w_est, c2w_gt)
    if mode not in ALIGN_MODES:
        raise CodecError(f"unknown alignment mode {mode!r}; use 'sim3', 'se3', 'scale' or 'none'")
    if mode == "none":
        return est.copy()
    s, rot, t = umeyama(est[:, :3, 3], gt[:, :3, 3], with_scale=mode != "se3")
    if mode == "scale":  # evo's -s: the Umeyama scale alone, about the origin
        rot, t = np.eye(3), np.zeros(3)
    out = est.copy()
    out[:, :3, :3] = rot @ est[:, :3, :3]
    out[:, :3, 3] = s * est[:, :3, 3] @ rot.T + t
    return out


def _relative(c2w: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Motions ``(M, 4, 4)`` from pose ``first[k]`` to pose ``second[k]`` of ``c2w (N, 4, 4)``."""
    return invert_pose(c2w[first]) @ c2w[second]


def pose_errors(c2w_est: np.ndarray, c2w_gt: np.ndarray, align: AlignMode = "sim3",
                delta: int = 1) -> dict[str, np.ndarray]:
    """``{"ate": (N,), "rpe_trans": (M,), "rpe_rot_deg": (M,)}`` for ``c2w_est``, ``c2w_gt (N, 4, 4)``
    (already paired) after ``align``; ``M = ceil(N / delta) - 1`` consecutive pairs."""
    est = align_trajectory(c2w_est, c2w_gt, align)
    gt = np.asarray(c2w_gt, np.float64)
    starts = np.arange(0, len(gt), delta)
    first, second = starts[:-1], starts[1:]
    err = invert_pose(_relative(gt, first, second)) @ _relative(est, first, second)
    # scipy's angle goes through a quaternion: arccos of the trace loses ~1e-8 rad near zero, where the
    # relative-pose errors of a good trajectory live
    return {"ate": np.linalg.norm(est[:, :3, 3] - gt[:, :3, 3], axis=1),
            "rpe_trans": np.linalg.norm(err[:, :3, 3], axis=1),
            "rpe_rot_deg": np.degrees(Rotation.from_matrix(err[:, :3, :3]).magnitude())}


def error_statistics(errors: np.ndarray) -> dict[str, float]:
    """RMSE, mean, median and max of ``errors (N,)``."""
    errors = np.asarray(errors, np.float64)
    return {"rmse": float(np.sqrt(np.mean(errors ** 2))), "mean": float(np.mean(errors)),
            "median": float(np.median(errors)), "max": float(np.max(errors))}


def pose_metrics(c2w_est: np.ndarray, c2w_gt: np.ndarray, align: AlignMode = "sim3",
                 delta: int = 1) -> dict[str, float]:
    """``ate``, ``rpe_trans``, ``rpe_rot_deg``: the RMSEs of :func:`pose_errors` (evo's ``--align
    --correct_scale`` APE and RPE by default), each also with ``_mean``, ``_median`` and ``_max``."""
    metrics: dict[str, float] = {}
    for name, errors in pose_errors(c2w_est, c2w_gt, align, delta).items():
        stats = error_statistics(errors)
        metrics.update({name if stat == "rmse" else f"{name}_{stat}": value for stat, value in stats.items()})
    return metrics
