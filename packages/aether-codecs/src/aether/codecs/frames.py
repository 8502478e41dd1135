"""Frames onto the model's grid, and frames to the video codec's input: one home for inference and training.

Any ``h x w`` image is resized to cover ``height x width`` (keeping its aspect) and centre-cropped; depth
maps follow by nearest neighbour (invalid zeros never blend into valid depth) and intrinsics by the same
map of pixel centres. Colour enters a video codec as ``2 x / 255 - 1`` in float32, as the release computes it.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from aether.codecs.errors import CodecError


def cover_crop(h: int, w: int, height: int, width: int) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """How an ``h x w`` image maps onto ``height x width``: the scale, the resized ``(width', height')`` that
    covers it (cv2 order) and the crop's top-left ``(y0, x0)``."""
    scale = max(height / h, width / w)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    return scale, size, ((size[1] - height) // 2, (size[0] - width) // 2)


def fit_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``(F, H, W, 3)`` uint8 frames to cover ``height x width`` and centre-crop them to it."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise CodecError(f"frames must be uint8 (F, H, W, 3) RGB, got {frames.dtype} {frames.shape}")
    h, w = frames.shape[1:3]
    if (h, w) == (height, width):
        return frames
    scale, size, (y0, x0) = cover_crop(h, w, height, width)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, size, interpolation=interp)[y0:y0 + height, x0:x0 + width] for f in frames])


def fit_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """Depth ``(F, H, W)`` or one map ``(H, W)`` (metres, 0 = invalid) mapped as :func:`fit_frames` maps images,
    by nearest neighbour."""
    depth = np.asarray(depth, np.float32)
    if depth.ndim not in (2, 3):
        raise CodecError(f"depth must be (F, H, W) or (H, W), got {depth.shape}")
    maps = depth.reshape(-1, *depth.shape[-2:])
    if maps.shape[1:] == (height, width):
        return depth
    _, size, (y0, x0) = cover_crop(*maps.shape[1:], height, width)
    fitted = np.stack([cv2.resize(d, size, interpolation=cv2.INTER_NEAREST)[y0:y0 + height, x0:x0 + width]
                       for d in maps])
    return fitted.reshape(*depth.shape[:-2], height, width)


def fit_intrinsics(K: np.ndarray, h: int, w: int, height: int, width: int) -> np.ndarray:
    """Intrinsics ``(..., 3, 3)`` of ``h x w`` images -> those of the images :func:`fit_frames` makes of them."""
    _, size, (y0, x0) = cover_crop(h, w, height, width)
    out = np.array(K, np.float64, copy=True)
    # cv2 maps pixel centres as u' = s (u + 1/2) - 1/2 under a resize by s; the crop then shifts by x0
    for row, s, shift in ((0, size[0] / w, x0), (1, size[1] / h, y0)):
        out[..., row, row] *= s
        out[..., row, 2] = s * out[..., row, 2] + 0.5 * (s - 1) - shift
    return out


def frames_to_video(frames: np.ndarray, device: str | torch.device, dtype: torch.dtype) -> torch.Tensor:
    """uint8 ``(F, H, W, 3)`` -> ``(1, F, 3, H, W)`` in [-1, 1]."""
    rgb = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)[None]
    return rgb_to_video(rgb.to(device=device, dtype=torch.float32) / 255.0, dtype)


def rgb_to_video(rgb: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(1, F, 3, H, W)`` in [0, 1] -> in [-1, 1], as ``dtype`` (``2x - 1`` in float32, as the release)."""
    return (2.0 * rgb.float() - 1.0).to(dtype)


def rgb_to_frames(rgb: torch.Tensor) -> np.ndarray:
    """``(1, F, 3, H, W)`` in [0, 1] -> uint8 ``(F, H, W, 3)``."""
    frames = (rgb[0].float() * 255.0).round().to(torch.uint8)
    return frames.permute(0, 2, 3, 1).cpu().numpy()
