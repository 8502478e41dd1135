"""Reconstruction of one benchmark sequence as the release's evaluation runs it
(docs/FORMATS.md#long-videos-and-evaluation): frames
resized (bilinear) to cover the model size keeping their aspect, overlapping spatial windows of the
model size where a side is larger (an eighth of a window overlapping, as the release's 60 / 90 of
480 / 720 px), temporal windows inside each, and the depth clipped at 100 (the release saves
``clip(1 / disparity, 0, 100)``, in units of the nearest depth).
"""

from __future__ import annotations

import cv2
import numpy as np

from aether.tasks.result import TaskResult, disparity_from_depth

SPATIAL_OVERLAP = 1 / 8
RELEASE_DEPTH_CLIP = 100.0


def cover_resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """``frames (F, h, w, 3)`` resized bilinearly so that they cover ``height x width`` with their aspect
    kept: one side equals the model's, the other is at least as long."""
    from aether.codecs.frames import cover_crop

    _, size, _ = cover_crop(*frames.shape[1:3], height, width)
    if size == (frames.shape[2], frames.shape[1]):
        return frames
    return np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR) for frame in frames])


def reconstruct_sequence(pipe, frames: np.ndarray, fps: float, config, window: int, stride: int,
                         depth_clip: float | None = RELEASE_DEPTH_CLIP) -> TaskResult:
    """Depth ``(F, H', W')`` and cameras of ``frames (F, h, w, 3)`` uint8 at the cover size ``H' x W'``;
    ``pipe`` an :class:`aether.tasks.pipeline.AetherPipeline`, ``config`` its ``SamplingConfig``."""
    from aether.tasks.windows import reconstruct_tiled

    frames = cover_resize(frames, pipe.height, pipe.width)
    result = reconstruct_tiled(
        lambda y0, y1, x0, x1: pipe.reconstruct(frames[:, y0:y1, x0:x1], fps, config, window, stride),
        *frames.shape[1:3], tile=(pipe.height, pipe.width), min_overlap=SPATIAL_OVERLAP, progress=config.progress)
    if depth_clip is None:
        return result
    depth = np.minimum(result.depth, np.float32(depth_clip))
    return TaskResult(rgb=result.rgb, depth=depth, disparity=disparity_from_depth(depth), c2w=result.c2w,
                      K=result.K, fps=result.fps, task=result.task)
