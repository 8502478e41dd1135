"""Image measurements shared by the stages: SIFT keypoints and matches (OpenCV), lifting pixels to 3-D
with depth and K, projecting back, and depth-edge masks."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Keypoints:
    """SIFT keypoints of one frame: ``xy (N, 2)`` float64 pixel coordinates (integer pixel centres) and
    ``desc (N, 128)`` float32 descriptors."""

    xy: np.ndarray
    desc: np.ndarray

    def __len__(self) -> int:
        return len(self.xy)


def sift(rgb: np.ndarray, usable: np.ndarray | None = None, max_features: int = 2000,
         contrast: float = 0.02) -> Keypoints:
    """SIFT on ``rgb (H, W, 3)`` restricted to ``usable (H, W)`` bool pixels; ``contrast`` is half OpenCV's
    default threshold, which misses most corners of low-contrast (dim, synthetic) textures."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    mask = None if usable is None else usable.astype(np.uint8) * 255
    # precise upscale: the default 2x upsampling shifts every keypoint by a quarter pixel.
    detector = cv2.SIFT_create(nfeatures=max_features, contrastThreshold=contrast, enable_precise_upscale=True)
    points, desc = detector.detectAndCompute(gray, mask)
    if desc is None:
        return Keypoints(np.zeros((0, 2)), np.zeros((0, 128), np.float32))
    return Keypoints(np.array([p.pt for p in points], np.float64), desc)


def match(a: Keypoints, b: Keypoints, ratio: float = 0.8) -> np.ndarray:
    """Mutual nearest-neighbour matches passing Lowe's ratio test both ways: ``(M, 2)`` indices into a, b."""
    if len(a) < 2 or len(b) < 2:
        return np.zeros((0, 2), np.int64)
    matcher = cv2.BFMatcher(cv2.NORM_L2)

    def best(x: Keypoints, y: Keypoints) -> np.ndarray:
        pairs = matcher.knnMatch(x.desc, y.desc, k=2)
        out = np.full(len(x), -1, np.int64)
        for m, n in pairs:
            if m.distance < ratio * n.distance:
                out[m.queryIdx] = m.trainIdx
        return out

    ab, ba = best(a, b), best(b, a)
    i = np.flatnonzero(ab >= 0)
    i = i[ba[ab[i]] == i]
    return np.stack([i, ab[i]], 1)


def sample_depth(depth: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear depth ``(N,)`` of ``depth (H, W)`` at pixel positions ``xy (N, 2)`` (0 outside the image)."""
    pts = xy.astype(np.float32).reshape(-1, 1, 2)
    if not len(pts):  # cv2.remap rejects an empty map
        return np.zeros(0)
    return cv2.remap(depth, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderValue=0)[:, 0].astype(np.float64)


def depth_edges(depth: np.ndarray, ratio: float = 1.03) -> np.ndarray:
    """``(H, W)`` bool: pixels whose 3x3 neighbourhood spans a depth ratio above ``ratio``: occlusion edges
    (bilinear depth mixes two surfaces there) and surfaces seen at a grazing angle (a tracked patch deforms
    most there, which biases Lucas-Kanade)."""
    kernel = np.ones((3, 3), np.uint8)
    hi, lo = cv2.dilate(depth, kernel), cv2.erode(depth, kernel)
    return hi > ratio * np.maximum(lo, 1e-9)


def lift(xy: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points ``(N, 3)`` of pixels ``xy (N, 2)`` at z-depth ``depth (N,)``."""
    return np.stack([(xy[:, 0] - K[0, 2]) / K[0, 0], (xy[:, 1] - K[1, 2]) / K[1, 1], np.ones(len(xy))], 1) \
        * depth[:, None]


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels ``(N, 2)`` of camera-frame points ``(N, 3)``."""
    z = points[:, 2:3]
    return points[:, :2] / z * K[[0, 1], [0, 1]] + K[:2, 2]


def to_camera(points: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """World points ``(N, 3)`` seen from camera ``c2w (4, 4)``."""
    return (points - c2w[:3, 3]) @ c2w[:3, :3]


def to_world(points: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """Camera-frame points ``(N, 3)`` of camera ``c2w (4, 4)`` in the world."""
    return points @ c2w[:3, :3].T + c2w[:3, 3]
