"""Dynamic masking stage: which pixels may move. From per-pixel class labels when the clip has them
(``extras["labels"]`` with meta ``classes``), else from the residual between the optical flow and the flow
the depth predicts under one rigid camera motion."""

from __future__ import annotations

import json

import cv2
import numpy as np
from pydantic import Field

from aether.annotate.stages.base import StageOptions
from aether.annotate.stages.features import lift, project
from aether.core.clip import Clip

# Dynamic classes assumed when neither the options nor the clip's meta name them.
DEFAULT_DYNAMIC_CLASSES = ("person", "car", "truck", "bus", "bicycle", "motorcycle", "animal", "ball")


class MotionMaskOptions(StageOptions):
    residual_px: float = Field(1.5, gt=0, description="flow residual (pixels) above which a pixel moves")
    residual_rel: float = Field(0.1, ge=0, description="plus this fraction of the flow magnitude")
    fov_deg: float = Field(60.0, gt=10, lt=150, description="horizontal field of view assumed without K")
    dilate: int = Field(3, ge=0, le=50, description="grow the mask by this many pixels")
    grid: int = Field(4, ge=1, le=32, description="pixel stride of the samples fitting the rigid motion")


class LabelMaskOptions(MotionMaskOptions):
    """The motion options too, with the same defaults: a clip without labels is masked exactly as
    ``masking.motion`` masks it."""

    dynamic_classes: list[str] | None = Field(None, description="class names that may move; None: the clip's "
                                                                "meta dynamic_classes, else a default list")


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    if pixels == 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel) for m in mask]).astype(bool)


def dense_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DIS optical flow ``(H, W, 2)`` from rgb frame ``a`` to ``b`` (``(H, W, 3)`` uint8)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)


class MotionMasking:
    """``masking.motion``: a pixel is dynamic where the optical flow to the next frame (the previous one
    for the last frame), when forward-backward consistent, disagrees with the flow of its depth under the
    camera motion that PnP + RANSAC fits to the flow (``K`` from the clip, else ``fov_deg``)."""

    def __init__(self, **options) -> None:
        self.options = MotionMaskOptions(**options)

    def _intrinsics(self, clip: Clip) -> np.ndarray:
        if clip.K is not None:
            return clip.K[0].astype(np.float64)
        f = 0.5 * clip.width / np.tan(np.radians(self.options.fov_deg) / 2)
        return np.array([[f, 0, (clip.width - 1) / 2], [0, f, (clip.height - 1) / 2], [0, 0, 1]])

    def _pair(self, clip: Clip, i: int, j: int, K: np.ndarray) -> np.ndarray:
        """``(H, W)`` bool: pixels of frame ``i`` whose flow to ``j`` is not explained by a rigid motion."""
        o = self.options
        flow = dense_flow(clip.rgb[i], clip.rgb[j]).astype(np.float64)
        back = dense_flow(clip.rgb[j], clip.rgb[i])
        v, u = np.mgrid[0:clip.height, 0:clip.width].astype(np.float64)
        warped = cv2.remap(back, (u + flow[..., 0]).astype(np.float32), (v + flow[..., 1]).astype(np.float32),
                           cv2.INTER_LINEAR).astype(np.float64)
        # Flow that fails its own forward-backward check (textureless areas, occlusions) says nothing.
        reliable = (np.linalg.norm(flow + warped, axis=-1) < o.residual_px).reshape(-1)
        xy = np.stack([u, v], -1).reshape(-1, 2)
        depth = clip.depth[i].reshape(-1).astype(np.float64)
        target = xy + flow.reshape(-1, 2)
        grid = np.zeros((clip.height, clip.width), bool)
        grid[::o.grid, ::o.grid] = True
        sample = np.flatnonzero(grid.reshape(-1) & (depth > 0) & reliable)
        points = lift(xy, depth, K)
        if len(sample) < 6:
            return np.zeros((clip.height, clip.width), bool)
        ok, rvec, tvec, _ = cv2.solvePnPRansac(points[sample], target[sample], K, None, reprojectionError=2.0,
                                               iterationsCount=200, flags=cv2.SOLVEPNP_EPNP)
        if not ok:
            return np.zeros((clip.height, clip.width), bool)
        rot = cv2.Rodrigues(rvec)[0]
        moved = points @ rot.T + tvec.reshape(1, 3)
        rigid = project(np.where(moved[:, 2:3] > 1e-6, moved, np.nan), K)
        residual = np.linalg.norm(rigid - target, axis=-1)
        limit = o.residual_px + o.residual_rel * np.linalg.norm(flow.reshape(-1, 2), axis=-1)
        return (~(residual <= limit) & (depth > 0) & reliable).reshape(clip.height, clip.width)

    def __call__(self, clip: Clip) -> tuple[np.ndarray, dict]:
        """Dynamic mask ``(F, H, W)`` bool and a report entry."""
        clip.require("depth", where="motion masking")
        K = self._intrinsics(clip)
        n = clip.num_frames
        if n < 2:
            return np.zeros((n, clip.height, clip.width), bool), {"method": "motion"}
        raw = np.stack([self._pair(clip, i, i + 1 if i + 1 < n else i - 1, K) for i in range(n)])
        # Opening removes isolated flow errors; what survives is a moving region.
        kernel = np.ones((3, 3), np.uint8)
        raw = np.stack([cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, kernel) for m in raw]).astype(bool)
        mask = _grow(raw, self.options.dilate)
        return mask, {"method": "motion", "dynamic_fraction": float(mask.mean())}


class LabelMasking:
    """``masking.labels``: pixels whose class label is one of the dynamic classes, grown by ``dilate`` pixels;
    falls back to :class:`MotionMasking` when the clip has no labels."""

    def __init__(self, **options) -> None:
        self.options = LabelMaskOptions(**options)

    def __call__(self, clip: Clip) -> tuple[np.ndarray, dict]:
        """Dynamic mask ``(F, H, W)`` bool and a report entry."""
        labels = clip.extras.get("labels")
        if labels is None or "classes" not in clip.meta:
            motion = MotionMasking(**self.options.model_dump(exclude={"dynamic_classes"}))
            mask, info = motion(clip)
            return mask, {**info, "fallback": "no labels in the clip"}
        classes = {name: int(i) for i, name in json.loads(clip.meta["classes"]).items()}
        names = self.options.dynamic_classes
        if names is None:
            names = json.loads(clip.meta["dynamic_classes"]) if "dynamic_classes" in clip.meta \
                else list(DEFAULT_DYNAMIC_CLASSES)
        ids = [classes[name] for name in names if name in classes]
        mask = _grow(np.isin(labels, ids), self.options.dilate)
        return mask, {"method": "labels", "dynamic_classes": list(names), "dynamic_fraction": float(mask.mean())}
