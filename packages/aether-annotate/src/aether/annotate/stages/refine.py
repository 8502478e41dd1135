"""Refinement stage: bundle adjustment of a slice over long static point tracks with the dense depth."""

from __future__ import annotations

import numpy as np
from pydantic import Field
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix
from scipy.spatial.transform import Rotation

from aether.annotate.stages.base import Cameras, Frames, StageOptions
from aether.annotate.stages.features import lift, project, sample_depth, to_camera, to_world


class BundleOptions(StageOptions):
    cauchy_px: float = Field(1.0, gt=0, description="scale of the Cauchy loss, pixels")
    depth_weight: float = Field(1.0, ge=0, description="weight of the 3-D depth residual (in pixel units)")
    outlier_px: float = Field(6.0, gt=0, description="observations the coarse cameras miss by more are dropped")
    min_track: int = Field(2, ge=2, description="shortest track kept (observations)")
    max_nfev: int = Field(25, ge=1, description="cap on solver iterations (the fit is near its optimum by then)")
    ftol: float = Field(1e-6, gt=0, description="relative cost change that stops the solver")
    max_principal_offset: float = Field(0.1, gt=0, le=0.5, description="bound on the principal point's distance "
                                                                      "from the image centre (fraction of size)")


class BundleRefine:
    """``refine.bundle``: every frame's pose (the first stays the world), the shared focal length and principal
    point (unless fixed) and one 3-D point per track minimise, with a Cauchy loss,

    - the reprojection error of each track point in each frame that observes it (pixels), and
    - the 3-D error between the track point and the observation lifted by the frame's dense depth, scaled by
      ``f / depth`` to pixel units: it ties the scale to the depth and makes the focal length observable.

    Solved by ``scipy.optimize.least_squares`` (trust region, LSMR) with the sparse Jacobian structure
    (each residual touches the intrinsics, one pose and one point)."""

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

    def __call__(self, frames: Frames, cams: Cameras, fix_intrinsics: bool = False) -> Cameras:
        """Refined cameras of the first ``cams.registered`` frames; ``fix_intrinsics`` keeps ``cams.K``."""
        o = self.options
        n = cams.registered
        point, frame, xy, depth, points0 = self._observations(frames, cams)
        if len(points0) < 6:
            return Cameras(cams.K, cams.c2w, n, cams.reason, {**cams.info, "refine": "skipped: < 6 usable tracks"})
        f0 = float(cams.K[0, 0])
        intr0 = np.array([f0, cams.K[0, 2], cams.K[1, 2]])
        n_intr = 0 if fix_intrinsics else 3
        pose0 = np.concatenate([Rotation.from_matrix(cams.c2w[1:n, :3, :3]).as_rotvec(), cams.c2w[1:n, :3, 3]], 1)
        x0 = np.concatenate([intr0[:n_intr], pose0.ravel(), points0.ravel()])
        m, n_pose = len(point), 6 * (n - 1)

        def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            intr = x[:3] if n_intr else intr0
            poses = x[n_intr:n_intr + n_pose].reshape(-1, 6)
            rot = np.concatenate([np.eye(3)[None], Rotation.from_rotvec(poses[:, :3]).as_matrix()])
            trans = np.concatenate([np.zeros((1, 3)), poses[:, 3:]])
            return intr, rot, trans, x[n_intr + n_pose:].reshape(-1, 3)

        def residuals(x: np.ndarray) -> np.ndarray:
            (f, cx, cy), rot, trans, pts = unpack(x)
            r, t, p = rot[frame], trans[frame], pts[point]
            cam = np.einsum("mji,mj->mi", r, p - t)  # R^T (X - t)
            reproj = f * cam[:, :2] / cam[:, 2:3] + np.array([cx, cy]) - xy
            lifted = np.stack([(xy[:, 0] - cx) / f, (xy[:, 1] - cy) / f, np.ones(m)], 1) * depth[:, None]
            world = np.einsum("mij,mj->mi", r, lifted) + t
            return np.concatenate([reproj, (world - p) * (o.depth_weight * f0 / depth)[:, None]], 1).ravel()

        rows = np.arange(5 * m).reshape(m, 5)
        cols = [np.tile(np.arange(n_intr), (m, 1))]
        posed = frame > 0
        pose_cols = np.where(posed[:, None], n_intr + 6 * (frame[:, None] - 1) + np.arange(6), -1)
        cols += [pose_cols, n_intr + n_pose + 3 * point[:, None] + np.arange(3)]
        col = np.concatenate(cols, 1)
        r_idx, c_idx = np.repeat(rows, col.shape[1], 1).ravel(), np.tile(col, (1, 5)).ravel()
        keep = c_idx >= 0
        sparsity = coo_matrix((np.ones(keep.sum()), (r_idx[keep], c_idx[keep])), shape=(5 * m, len(x0))).tocsr()
        sparsity.data[:] = 1
        before = residuals(x0).reshape(m, 5)
        lower, upper = np.full(len(x0), -np.inf), np.full(len(x0), np.inf)
        if n_intr:
            # Bounds keep a weakly observable principal point (little rotation) from wandering off.
            h, w = frames.shape
            half = o.max_principal_offset * np.array([w, h])
            centre = np.array([(w - 1) / 2, (h - 1) / 2])
            lower[:3], upper[:3] = [0.5 * f0, *(centre - half)], [2.0 * f0, *(centre + half)]
            x0[1:3] = np.clip(x0[1:3], lower[1:3] + 1e-6, upper[1:3] - 1e-6)
        fit = least_squares(residuals, x0, jac_sparsity=sparsity, bounds=(lower, upper), loss="cauchy", f_scale=o.cauchy_px,
                            x_scale="jac", max_nfev=o.max_nfev, ftol=o.ftol, method="trf", tr_solver="lsmr")
        after = residuals(fit.x).reshape(m, 5)
        (f, cx, cy), rot, trans, _ = unpack(fit.x)
        c2w = np.tile(np.eye(4), (n, 1, 1))
        c2w[:, :3, :3], c2w[:, :3, 3] = rot, trans
        K = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
        info = {"tracks": len(points0), "observations": m, "nfev": int(fit.nfev),
                "reprojection_px": {"before": float(np.median(np.linalg.norm(before[:, :2], axis=1))),
                                    "after": float(np.median(np.linalg.norm(after[:, :2], axis=1)))},
                "depth_px": {"before": float(np.median(np.linalg.norm(before[:, 2:], axis=1))),
                             "after": float(np.median(np.linalg.norm(after[:, 2:], axis=1)))}}
        return Cameras(K, c2w, n, cams.reason, {**cams.info, "refine": info})
