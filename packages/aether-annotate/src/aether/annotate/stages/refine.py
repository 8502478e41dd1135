"""Refinement stage: bundle adjustment of a slice over long static point tracks with the dense depth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from pydantic import Field

from aether.annotate.stages.base import Cameras, Frames, StageOptions
from aether.annotate.stages.bundle import BundleProblem, IntrinsicsMode
from aether.annotate.stages.features import lift, project, sample_depth, to_camera, to_world
from aether.annotate.stages.schur import solve


class BundleOptions(StageOptions):
    cauchy_px: float = Field(1.0, gt=0, description="scale of the Cauchy loss, pixels")
    depth_weight: float = Field(1.0, ge=0, description="weight of the 3-D depth residual (in pixel units)")
    outlier_px: float = Field(6.0, gt=0, description="observations the coarse cameras miss by more are dropped")
    min_track: int = Field(2, ge=2, description="shortest track kept (observations)")
    max_iterations: int = Field(3, ge=1, description="cap on Levenberg-Marquardt steps (on the bench clips "
                                                      "more steps move ATE by < 0.001 % of the path)")
    refine_intrinsics: bool = Field(False, description="free the intrinsics the coarse stage estimated too; off: "
                                                       "on forward motions the bundle's own focal optimum drifts "
                                                       "up to 12 % off (tracks slide as the view zooms) and drags "
                                                       "the poses with it, where the coarse fit is 2-4 % off")
    ftol: float = Field(1e-6, gt=0, description="relative cost change that stops the solver")
    skip_below_px: float = Field(0.0, ge=0, description="skip the slice when the coarse cameras' median "
                                                          "reprojection error of the tracks is below this; 0 "
                                                          "refines every slice (the gain does not follow that "
                                                          "error: slices at 0.27 px gain most)")
    max_principal_offset: float = Field(0.1, gt=0, le=0.5, description="bound on the principal point's distance "
                                                                      "from the image centre (fraction of size)")


class BundleRefine:
    """``refine.bundle``: every frame's pose (the first stays the world), the shared intrinsics (with
    ``refine_intrinsics``, unless fixed) and one 3-D point per track minimise, with a Cauchy loss,

    - the reprojection error of each track point in each frame that observes it (pixels), and
    - the 3-D error between the track point and the observation lifted by the frame's dense depth, scaled by
      ``f / depth`` to pixel units: it ties the scale to the depth and makes the focal length observable.

    Intrinsics: the coarse stage's, kept, unless ``refine_intrinsics`` frees one focal length or fx and fy
    apart as the coarse cameras have them. Solved from the coarse cameras by a few Levenberg-Marquardt steps
    with the points eliminated (:mod:`~aether.annotate.stages.schur`) on the analytic Jacobian of
    :class:`~aether.annotate.stages.bundle.BundleProblem`. Slices whose coarse cameras already explain the
    tracks to ``skip_below_px`` (0 by default: none) are left as they are (the report says so, with the
    residual)."""

    def __init__(self, **options) -> None:
        self.options = BundleOptions(**options)

    def _observations(self, frames: Frames, cams: Cameras) -> tuple[np.ndarray, ...]:
        """Track observations that the coarse cameras explain: ``point (M,)`` (index of the track's point),
        ``frame (M,)``, ``xy (M, 2)``, ``depth (M,)``, and the initial points ``(P, 3)`` lifted from each
        track's first observation."""
        o, t = self.options, frames.tracks()
        keep = t.frame < cams.registered
        track, frame, xy = t.track[keep], t.frame[keep], t.xy[keep]
        depth, world = np.zeros(len(track)), np.zeros((len(track), 3))
        for k in np.unique(frame):
            at = frame == k
            depth[at] = sample_depth(frames.depth[k], xy[at])
            world[at] = to_world(lift(xy[at], depth[at], cams.K), cams.c2w[k])
        valid = depth > 0
        track, frame, xy, depth, world = track[valid], frame[valid], xy[valid], depth[valid], world[valid]
        ids, first, inverse = np.unique(track, return_index=True, return_inverse=True)
        points = world[first]
        seen = np.zeros((len(track), 2))
        for k in np.unique(frame):
            at = frame == k
            seen[at] = project(to_camera(points[inverse[at]], cams.c2w[k]), cams.K)
        good = np.linalg.norm(seen - xy, axis=1) < o.outlier_px
        good &= np.bincount(inverse[good], minlength=len(ids))[inverse] >= o.min_track
        kept, point = np.unique(inverse[good], return_inverse=True)
        return point, frame[good], xy[good], depth[good], points[kept]

    def _intrinsics(self, K: np.ndarray, fix_intrinsics: bool) -> tuple[IntrinsicsMode, str]:
        """Which intrinsics the bundle frees, and why."""
        if fix_intrinsics:
            return "fixed", "given, or standing in for intrinsics the slice cannot reveal"
        if not self.options.refine_intrinsics:
            return "fixed", "the coarse stage's (refine_intrinsics off)"
        return ("square", "one focal length") if K[0, 0] == K[1, 1] else ("separate", "fx and fy apart")

    def __call__(self, frames: Frames, cams: Cameras, fix_intrinsics: bool = False) -> Cameras:
        """Refined cameras of the first ``cams.registered`` frames; ``fix_intrinsics`` keeps ``cams.K`` (given, or
        a stand-in for unobservable ones). Skipped (cameras as given, the reason in ``info["refine"]``) where the
        coarse cameras already explain the tracks to ``skip_below_px``."""
        o = self.options
        n = cams.registered
        point, frame, xy, depth, points0 = self._observations(frames, cams)
        if len(points0) < 6:
            return replace(cams, info={**cams.info, "refine": "skipped: < 6 usable tracks"})
        K = cams.K
        intrinsics0 = np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]])
        mode, intrinsics_why = self._intrinsics(K, fix_intrinsics)
        problem = BundleProblem(point, frame, xy, depth, n, intrinsics0, mode, float(K[0, 0]), o.depth_weight)
        x0 = problem.pack(intrinsics0, cams.c2w[:n], points0)
        before = problem.residuals(x0).reshape(-1, 5)
        reprojection = float(np.median(np.linalg.norm(before[:, :2], axis=1)))
        if reprojection < o.skip_below_px:
            return replace(cams, info={**cams.info, "refine": (
                f"skipped: the coarse cameras explain the tracks already (median reprojection "
                f"{reprojection:.3f} px < {o.skip_below_px:g} px)")})
        lower, upper = np.full(len(x0), -np.inf), np.full(len(x0), np.inf)
        if mode != "fixed":
            # Bounds keep a weakly observable principal point (little rotation) from wandering off.
            h, w = frames.shape
            half = o.max_principal_offset * np.array([w, h])
            centre = np.array([(w - 1) / 2, (h - 1) / 2])
            nf = problem.n_intr - 2
            lower[:problem.n_intr] = [*(0.5 * intrinsics0[:nf]), *(centre - half)]
            upper[:problem.n_intr] = [*(2.0 * intrinsics0[:nf]), *(centre + half)]
            x0[nf:problem.n_intr] = np.clip(x0[nf:problem.n_intr], lower[nf:problem.n_intr] + 1e-6,
                                            upper[nf:problem.n_intr] - 1e-6)
        fit = solve(problem, x0, o.cauchy_px, lower, upper, o.max_iterations, o.ftol)
        after = problem.residuals(fit.x).reshape(-1, 5)
        (fx, fy, cx, cy), _, c2w, _ = problem.unpack(fit.x)
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        info = {"tracks": len(points0), "observations": len(point), "iterations": fit.iterations,
                "evaluations": fit.evaluations, "converged": fit.converged, "intrinsics": mode,
                "intrinsics_why": intrinsics_why,
                "why": f"median reprojection {reprojection:.3f} px >= skip_below_px {o.skip_below_px:g} px",
                "reprojection_px": {"before": reprojection,
                                    "after": float(np.median(np.linalg.norm(after[:, :2], axis=1)))},
                "depth_px": {"before": float(np.median(np.linalg.norm(before[:, 2:], axis=1))),
                             "after": float(np.median(np.linalg.norm(after[:, 2:], axis=1)))}}
        return replace(cams, K=K, c2w=c2w, info={**cams.info, "refine": info})
