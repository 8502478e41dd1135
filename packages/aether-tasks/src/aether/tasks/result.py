"""What every task returns: colour, depth, disparity and cameras of one clip, as NumPy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def disparity_from_depth(depth: np.ndarray) -> np.ndarray:
    """Normalised disparity ``(1/depth) / max(1/depth)`` in [0, 1] over the whole clip.

    ``depth (F, H, W)``; invalid pixels (depth <= 0 or non-finite) get 0. Returns float32 (F, H, W).
    This is ``q**2`` of the depth codec (docs/FORMATS.md#depth-codec), so it is independent of the depth's scale.
    """
    depth = np.asarray(depth, np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    inv = np.where(valid, 1.0 / np.where(valid, depth, 1.0), 0.0)
    peak = inv.max(initial=0.0)
    return (inv / peak if peak > 0 else inv).astype(np.float32)


@dataclass
class TaskResult:
    """One task's output for ``F`` frames of ``H x W`` pixels.

    - ``rgb (F, H, W, 3)`` uint8
    - ``depth (F, H, W)`` float32, relative (units of the nearest depth) unless the scale is known
    - ``disparity (F, H, W)`` float32 in [0, 1] (normalised, see :func:`disparity_from_depth`)
    - ``c2w (F, 4, 4)`` float64 camera-to-world, OpenCV axes, first camera = identity
    - ``K (F, 3, 3)`` float64 pixel intrinsics at ``H x W``
    - ``fps`` frames per second; ``task`` the masking that produced it (``reconstruction``, ...)
    """

    rgb: np.ndarray
    depth: np.ndarray
    disparity: np.ndarray
    c2w: np.ndarray
    K: np.ndarray
    fps: float
    task: str = "reconstruction"

    def __post_init__(self) -> None:
        self.rgb = np.asarray(self.rgb, np.uint8)
        self.depth = np.asarray(self.depth, np.float32)
        self.disparity = np.asarray(self.disparity, np.float32)
        self.c2w = np.asarray(self.c2w, np.float64)
        self.K = np.asarray(self.K, np.float64)
        self.fps = float(self.fps)
        if self.rgb.ndim != 4 or self.rgb.shape[-1] != 3:
            raise ValueError(f"TaskResult.rgb must be (F, H, W, 3) uint8, got shape {self.rgb.shape}")
        f, h, w = self.rgb.shape[:3]
        expected = {"depth": (f, h, w), "disparity": (f, h, w), "c2w": (f, 4, 4), "K": (f, 3, 3)}
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"TaskResult.{name} has shape {getattr(self, name).shape}; with rgb "
                                 f"{self.rgb.shape} it must be {shape}")
        if not self.fps > 0:
            raise ValueError(f"TaskResult.fps must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])

    def select(self, frames: slice | np.ndarray | list[int]) -> "TaskResult":
        """The result of only ``frames`` (disparity kept as is, i.e. normalised over the full clip)."""
        return TaskResult(rgb=self.rgb[frames], depth=self.depth[frames], disparity=self.disparity[frames],
                          c2w=self.c2w[frames], K=self.K[frames], fps=self.fps, task=self.task)

    def save_npz(self, path: str) -> None:
        """Write every array plus ``fps`` and ``task`` to one ``.npz`` file, atomically."""
        from aether.core.atomic import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, rgb=self.rgb, depth=self.depth, disparity=self.disparity, c2w=self.c2w,
                     K=self.K, fps=np.float64(self.fps), task=np.str_(self.task))
