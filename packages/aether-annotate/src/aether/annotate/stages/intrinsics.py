"""Intrinsics from depth when none are given: the focal length and principal point under which matched
static pixels of frame pairs, lifted to 3-D by their depth, move rigidly from one frame to the other.

With a wrong focal length the lifted points are stretched sideways; any camera rotation between the two
frames then leaves a residual no rigid motion removes (a pure translation does not: the focal length is
unobservable then, for any method)."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.optimize import least_squares

from aether.annotate.stages.base import AnnotateError, Frames
from aether.annotate.stages.features import lift, sample_depth
from aether.codecs.trajectory import umeyama

_FOV_GRID_DEG = np.linspace(20.0, 130.0, 56)


def intrinsics_matrix(f: float, cx: float, cy: float) -> np.ndarray:
    """``(3, 3)`` pixel intrinsics with square pixels."""
    return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])


def _pairs(frames: Frames, max_pairs: int) -> list[tuple[np.ndarray, ...]]:
    """Tracked static points ``(xy_a (M, 2), depth_a (M,), xy_b, depth_b)`` of up to ``max_pairs`` frame pairs a
    few frames apart (more rotation than neighbours, still overlapping), checked by a RANSAC fundamental matrix."""
    n, tracks = len(frames), frames.tracks()
    out = []
    for gap in (8, 4, 2, 1):
        for a in range(0, n - gap, max(1, gap)):
            if len(out) >= max_pairs:
                return out
            xa, xb = tracks.between(a, a + gap)
            if len(xa) < 16:
                continue
            _, inlier = cv2.findFundamentalMat(xa, xb, cv2.FM_RANSAC, 1.0, 0.999)
            if inlier is None:
                continue
            keep = inlier.ravel().astype(bool)
            da, db = sample_depth(frames.depth[a], xa[keep]), sample_depth(frames.depth[a + gap], xb[keep])
            ok = (da > 0) & (db > 0)
            if ok.sum() >= 12:
                out.append((xa[keep][ok], da[ok], xb[keep][ok], db[ok]))
    return out


def _residuals(params: np.ndarray, pairs: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    """Pixel-scaled 3-D misfit of every match after the best rigid motion of its pair."""
    K = intrinsics_matrix(*params)
    out = []
    for xa, da, xb, db in pairs:
        a, b = lift(xa, da, K), lift(xb, db, K)
        _, rot, t = umeyama(a, b, with_scale=False)
        out.append(((a @ rot.T + t - b) * (params[0] / db)[:, None]).ravel())
    return np.concatenate(out)


def estimate_intrinsics(frames: Frames, max_pairs: int = 8, max_offset: float = 0.1) -> tuple[np.ndarray, dict]:
    """``K (3, 3)`` (square pixels) of ``frames`` and a report entry: a grid search of the field of view with
    the principal point at the image centre, a Cauchy-loss fit of the focal length, then of focal length and
    principal point together, kept only if the principal point stays within ``max_offset`` of the image size
    from the centre (with little rotation it is not observable and such a fit wanders off)."""
    pairs = _pairs(frames, max_pairs)
    if not pairs:
        raise AnnotateError("cannot estimate intrinsics: no frame pair has 12 depth-backed static matches")
    h, w = frames.shape
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    focals = 0.5 * w / np.tan(np.radians(_FOV_GRID_DEG) / 2)
    costs = [np.median(np.abs(_residuals(np.array([f, *centre]), pairs))) for f in focals]
    grid = focals[int(np.argmin(costs))]
    focal = least_squares(lambda x: _residuals(np.array([x[0], *centre]), pairs), [grid], loss="cauchy",
                          f_scale=1.0, x_scale=[grid], bounds=([0.1 * w], [20.0 * w])).x[0]
    full = least_squares(_residuals, [focal, *centre], args=(pairs,), loss="cauchy", f_scale=1.0,
                         x_scale=[focal, w, h], bounds=([0.1 * w, 0.0, 0.0], [20.0 * w, w - 1.0, h - 1.0])).x
    centred = bool(np.all(np.abs(full[1:] - centre) <= max_offset * np.array([w, h])))
    params = full if centred else np.array([focal, *centre])
    return intrinsics_matrix(*params), {"pairs": len(pairs), "matches": int(sum(len(p[0]) for p in pairs)),
                                        "grid_focal": float(grid), "focal": float(params[0]),
                                        "principal_point_fitted": centred}
