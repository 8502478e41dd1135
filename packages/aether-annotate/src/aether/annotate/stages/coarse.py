"""Coarse camera stage: intrinsics (unless given) and per-frame poses by PnP + RANSAC on static point
tracks from the previous frames, lifted to 3-D by their depth."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from aether.annotate.stages.base import Cameras, Frames, StageOptions
from aether.annotate.stages.features import lift, sample_depth, to_world
from aether.annotate.stages.intrinsics import IntrinsicsOptions, estimate_intrinsics


class PnPOptions(StageOptions):
    window: int = Field(3, ge=1, le=20, description="previous frames whose tracked points feed each frame's PnP")
    ransac_px: float = Field(2.0, gt=0, description="RANSAC inlier threshold in pixels")
    min_inliers: int = Field(15, ge=6, description="fewer PnP inliers end the slice at that frame")
    intrinsics: IntrinsicsOptions = Field(default_factory=IntrinsicsOptions, description="fit of unknown intrinsics")


class PnPCoarse:
    """``coarse.pnp``: intrinsics from the rigid consistency of depth-lifted tracks when not given
    (:func:`~aether.annotate.stages.intrinsics.estimate_intrinsics`), then each frame's pose from the points
    it shares with its ``window`` previous frames (already posed), by PnP + RANSAC and Levenberg-Marquardt
    refinement on the inliers."""

    def __init__(self, **options) -> None:
        self.options = PnPOptions(**options)

    def __call__(self, frames: Frames, K: np.ndarray | None = None, prior: np.ndarray | None = None) -> Cameras:
        """Cameras of ``frames``; ``K (3, 3)`` when known; ``prior (3, 3)`` stands in for intrinsics the
        frames cannot reveal (the cameras then say ``intrinsics_fixed``)."""
        o = self.options
        info: dict = {}
        fixed = K is not None
        if K is None:
            K, info["intrinsics"], observable = estimate_intrinsics(frames, o.intrinsics, prior)
            fixed = not observable
        tracks = frames.tracks()
        c2w = np.tile(np.eye(4), (len(frames), 1, 1))
        inliers, errors = [], []
        for k in range(1, len(frames)):
            world, pixels = [np.zeros((0, 3))], [np.zeros((0, 2))]
            for j in range(max(0, k - o.window), k):
                xj, xk = tracks.between(j, k)
                depth = sample_depth(frames.depth[j], xj)
                ok = depth > 0
                world.append(to_world(lift(xj[ok], depth[ok], K), c2w[j]))
                pixels.append(xk[ok])
            world, pixels = np.concatenate(world), np.concatenate(pixels)
            found, rvec, tvec, chosen = (False, None, None, None) if len(world) < o.min_inliers else \
                cv2.solvePnPRansac(world, pixels, K, None, reprojectionError=o.ransac_px, iterationsCount=300,
                                   confidence=0.999, flags=cv2.SOLVEPNP_ITERATIVE)
            count = 0 if chosen is None else len(chosen)
            if not found or count < o.min_inliers:
                return Cameras(K, c2w[:k], k, f"frame {k}: PnP found {count} inliers (< {o.min_inliers})",
                               {**info, "pnp_inliers": inliers, "pnp_error_px": errors}, fixed)
            chosen = chosen.ravel()
            rvec, tvec = cv2.solvePnPRefineLM(world[chosen], pixels[chosen], K, None, rvec, tvec)
            rot = cv2.Rodrigues(rvec)[0]
            c2w[k, :3, :3], c2w[k, :3, 3] = rot.T, -rot.T @ tvec.ravel()
            projected = cv2.projectPoints(world[chosen], rvec, tvec, K, None)[0].reshape(-1, 2)
            inliers.append(count)
            errors.append(round(float(np.median(np.linalg.norm(projected - pixels[chosen], axis=1))), 4))
        return Cameras(K, c2w, len(frames), None, {**info, "pnp_inliers": inliers, "pnp_error_px": errors}, fixed)
