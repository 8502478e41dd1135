"""Depth <-> 3-channel video in [-1, 1] via square-rooted normalised disparity (SPEC §3).

Accepts batched ``(B, F, H, W)`` or unbatched ``(F, H, W)`` depth; outputs keep that batching.
Invalid pixels (depth <= 0) encode to -1, which decodes to the far limit (1000 x nearest depth).
"""

from __future__ import annotations

import torch

from aether.codecs.errors import CodecError, with_batch

MIN_DISPARITY = 1e-3  # decoded p' is clipped to [1e-3, 1]: relative depth in [1, 1000]


def encode(depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``depth (B, F, H, W)`` metres (0 = invalid) -> ``video (B, F, 3, H, W)`` in [-1, 1], ``p_max (B,)``.

    Unbatched ``(F, H, W)`` gives ``(F, 3, H, W)`` and a scalar ``p_max``.
    """
    d, squeeze = with_batch(depth, 4, "depth")
    if torch.isnan(d).any():
        raise CodecError("depth holds NaN values; mark invalid pixels with 0 instead")
    valid = (d > 0) & torch.isfinite(d)
    disp = torch.where(valid, 1.0 / torch.where(valid, d, torch.ones_like(d)), torch.zeros_like(d))
    p_max = disp.flatten(1).amax(1)
    if (p_max <= 0).any():
        raise CodecError("a depth clip has no valid (positive, finite) pixel; cannot normalise it")
    q = torch.sqrt(torch.clamp(disp / p_max.view(-1, 1, 1, 1), 0, 1))
    video = (2 * q - 1).unsqueeze(2).expand(-1, -1, 3, -1, -1).contiguous()
    return (video[0], p_max[0]) if squeeze else (video, p_max)


def decode(video: torch.Tensor, p_max: torch.Tensor | float | None = None) -> torch.Tensor:
    """``video (B, F, 3, H, W)`` -> depth ``(B, F, H, W)``: metric with ``p_max (B,)``, else relative
    (in units of the nearest depth). Unbatched ``(F, 3, H, W)`` gives ``(F, H, W)``.

    The channels are averaged as decoded, unclamped, and only ``p' = q^2`` is clipped (SPEC §8, as the
    release): clamping each channel first moves the result wherever a decoded video's channels disagree."""
    v, squeeze = with_batch(video, 5, "depth video")
    if v.shape[2] != 3:
        raise CodecError(f"depth video needs 3 channels at dim -3, got {v.shape[2]}")
    if not torch.isfinite(v).all():
        raise CodecError("depth video holds NaN/inf values")
    q = v.mean(2) / 2 + 0.5
    depth = 1.0 / torch.clamp(q * q, MIN_DISPARITY, 1.0)
    if p_max is not None:
        scale = torch.as_tensor(p_max, dtype=depth.dtype, device=depth.device).reshape(-1)
        if not torch.isfinite(scale).all() or (scale <= 0).any():
            raise CodecError("p_max must be positive and finite")
        depth = depth / scale.view(-1, 1, 1, 1)
    return depth[0] if squeeze else depth
