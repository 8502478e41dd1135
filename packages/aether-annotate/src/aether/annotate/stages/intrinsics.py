"""Intrinsics from depth when none are given: the focal length and principal point under which matched
static pixels of frame pairs, lifted to 3-D by their depth, move rigidly from one frame to the other.

With a wrong focal length the lifted points are stretched sideways; any camera rotation between the two
frames then leaves a residual no rigid motion removes (a pure translation does not: the focal length is
unobservable then, for any method, and so does a rotation about the optical axis). The fit detects that from
its own curvature and says so instead of presenting a guess as a measurement."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field
from scipy.optimize import OptimizeResult, least_squares
from scipy.spatial.transform import Rotation

from aether.annotate.stages.base import AnnotateError, Frames, StageOptions
from aether.annotate.stages.features import lift, sample_depth
from aether.codecs.trajectory import umeyama

_FOV_GRID_DEG = np.linspace(20.0, 130.0, 56)


class IntrinsicsOptions(StageOptions):
    max_pairs: int = Field(8, ge=1, le=64, description="frame pairs whose tracked points are fitted")
    max_offset: float = Field(0.1, gt=0, le=0.5, description="a fitted principal point farther from the image "
                                                             "centre (fraction of the size) is not kept")
    max_focal_std: float = Field(0.02, gt=0, description="relative standard error of the focal length above "
                                                         "which it is unobservable")
    min_axis_turn_deg: float = Field(4.0, ge=0, description="fx and fy are fitted apart only if the camera turns "
                                                           "this far about both its x and y axes")
    min_aspect_change: float = Field(0.01, ge=0, description="... and kept apart only if they differ by more "
                                                             "than this fraction")
    aspect_sigmas: float = Field(3.0, gt=0, description="... and by more than this many standard errors")


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """``(3, 3)`` pixel intrinsics."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


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
    """Pixel-scaled 3-D misfit of every match after the best rigid motion of its pair; ``params`` are
    ``fx, fy, cx, cy``."""
    K = intrinsics_matrix(*params)
    out = []
    for xa, da, xb, db in pairs:
        a, b = lift(xa, da, K), lift(xb, db, K)
        _, rot, t = umeyama(a, b, with_scale=False)
        out.append(((a @ rot.T + t - b) * (params[0] / db)[:, None]).ravel())
    return np.concatenate(out)


def _turns_deg(params: np.ndarray, pairs: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    """The largest rotation ``(3,)`` (degrees) about the camera's x, y and z axes between the frames of a pair.
    A turn about y (pan) reveals fx, about x (tilt) fy; about z (roll) neither."""
    K = intrinsics_matrix(*params)
    rotvecs = [Rotation.from_matrix(umeyama(lift(xa, da, K), lift(xb, db, K), with_scale=False)[1]).as_rotvec()
               for xa, da, xb, db in pairs]
    return np.degrees(np.abs(rotvecs).max(0))


def _covariance(fit: OptimizeResult) -> np.ndarray:
    """Gauss-Newton covariance of a ``least_squares`` fit's parameters (robust-loss-weighted Jacobian); infinite
    where the cost is flat along a parameter."""
    jac = np.atleast_2d(fit.jac)
    variance = 2 * fit.cost / max(len(fit.fun) - len(fit.x), 1)
    try:
        return np.linalg.inv(jac.T @ jac) * variance
    except np.linalg.LinAlgError:
        return np.full((len(fit.x), len(fit.x)), np.inf)


def _fit(pairs: list, start: np.ndarray, expand: np.ndarray, scale: np.ndarray, lower: list,
         upper: list) -> OptimizeResult:
    """Cauchy fit of free intrinsics ``x (k,)`` from ``start`` (``fx, fy, cx, cy``): ``expand (4, k)`` maps them
    to the intrinsics they move; the others keep their ``start`` values."""
    held = np.where(expand.any(1), 0.0, start)
    return least_squares(lambda x: _residuals(held + expand @ x, pairs), start[expand.argmax(0)], loss="cauchy",
                         f_scale=1.0, x_scale=scale, bounds=(lower, upper))


# How each fit's free parameters make fx, fy, cx, cy
_FOCAL = np.array([[1.0], [1.0], [0.0], [0.0]])
_SQUARE = np.array([[1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def estimate_intrinsics(frames: Frames, options: IntrinsicsOptions | None = None,
                        prior: np.ndarray | None = None) -> tuple[np.ndarray, dict, bool]:
    """``K (3, 3)`` of ``frames``, a report entry, and whether the focal length was observable.

    A grid search of the field of view with the principal point at the image centre, then a Cauchy-loss fit of
    the focal length. Its standard error (from the fit's curvature) above ``max_focal_std`` means the motion
    cannot reveal it (too little rotation off the optical axis): ``K`` is then ``prior (3, 3)`` when given,
    else the best estimate, labelled so. Otherwise focal length and principal point are fitted together (the
    principal point kept only within ``max_offset`` of the centre: with little rotation it wanders off), then,
    where the camera turns ``min_axis_turn_deg`` about both its x and y axes, fx and fy apart, kept apart only
    when they differ by more than ``min_aspect_change`` and ``aspect_sigmas`` standard errors (resized videos
    have non-square pixels)."""
    o = options or IntrinsicsOptions()
    pairs = _pairs(frames, o.max_pairs)
    if not pairs:
        raise AnnotateError("cannot estimate intrinsics: no frame pair has 12 depth-backed static matches")
    h, w = frames.shape
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    focals = 0.5 * w / np.tan(np.radians(_FOV_GRID_DEG) / 2)
    costs = [np.median(np.abs(_residuals(np.array([f, f, *centre]), pairs))) for f in focals]
    grid = focals[int(np.argmin(costs))]
    fit = _fit(pairs, np.array([grid, grid, *centre]), _FOCAL, np.array([grid]), [0.1 * w], [20.0 * w])
    focal = float(fit.x[0])
    focal_std = float(np.sqrt(_covariance(fit)[0, 0]) / focal)
    info = {"pairs": len(pairs), "matches": int(sum(len(p[0]) for p in pairs)), "grid_focal": float(grid),
            "focal_std_pct": round(100 * focal_std, 4)}
    if not focal_std <= o.max_focal_std:  # also NaN
        info["focal"] = "unobservable"
        info["reason"] = (f"the relative standard error of the focal length is {100 * focal_std:.3g} % "
                          f"(> {100 * o.max_focal_std:g} %): the camera barely rotates off its optical axis, "
                          "and translation alone leaves the focal length unobservable")
        if prior is not None:
            return prior.astype(np.float64), {**info, "source": "prior", "best_estimate_fx": focal}, False
        best = {**info, "source": "best estimate, not a measurement", "fx": focal, "fy": focal}
        return intrinsics_matrix(focal, focal, *centre), best, False
    bounds = ([0.1 * w, 0.0, 0.0], [20.0 * w, w - 1.0, h - 1.0])
    full = _fit(pairs, np.array([focal, focal, *centre]), _SQUARE, np.array([focal, w, h]), *bounds).x
    centred = bool(np.all(np.abs(full[1:] - centre) <= o.max_offset * np.array([w, h])))
    params = _SQUARE @ full if centred else np.array([focal, focal, *centre])
    turns = _turns_deg(params, pairs)
    info = {**info, "focal": "measured", "source": "fit", "principal_point_fitted": centred,
            "turn_deg": np.round(turns, 3).tolist()}
    if min(turns[:2]) < o.min_axis_turn_deg:
        return intrinsics_matrix(*params), {**info, "fx": float(params[0]), "fy": float(params[1]),
                                            "fx_fy_apart": False, "aspect": (
            f"assumed square: the camera turns {turns[0]:.2g} deg about x and {turns[1]:.2g} deg about y "
            f"(< {o.min_axis_turn_deg:g}), too little to tell fx from fy")}, True
    # fx and fy apart, with the principal point free only where the square fit could place it
    free = 4 if centred else 2
    split = _fit(pairs, params, np.eye(4)[:, :free], np.array([focal, focal, w, h])[:free],
                 [0.1 * w, 0.1 * w, 0.0, 0.0][:free], [20.0 * w, 20.0 * w, w - 1.0, h - 1.0][:free])
    cov = _covariance(split)
    aspect_std = float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)))
    gap = abs(split.x[1] - split.x[0])
    apart = bool(gap > o.min_aspect_change * split.x[0] and gap > o.aspect_sigmas * aspect_std)
    if apart:
        params = np.concatenate([split.x, params[free:]])
    info = {**info, "fx": float(params[0]), "fy": float(params[1]), "aspect": "fitted", "fx_fy_apart": apart}
    return intrinsics_matrix(*params), {**info, "fy_over_fx": round(float(split.x[1] / split.x[0]), 5)}, True
