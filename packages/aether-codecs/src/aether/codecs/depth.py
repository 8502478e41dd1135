"""Depth <-> 3-channel video in [-1, 1] via square-rooted normalised disparity (docs/FORMATS.md#depth-codec).

Accepts batched ``(B, F, H, W)`` or unbatched ``(F, H, W)`` depth; outputs keep that batching.
Invalid pixels (depth <= 0) encode to -1, which decodes to the far limit (1000 x nearest depth).
"""

from __future__ import annotations

import torch

from aether.codecs.errors import CodecError, with_batch

MIN_DISPARITY = 1e-3  # decoded p' is clipped to [1e-3, 1]: relative depth in [1, 1000]


def _disparity_of(d: torch.Tensor) -> torch.Tensor:
    """``1 / depth`` of ``(B, F, H, W)`` metres, 0 where invalid (depth <= 0 or infinite); NaN refused."""
    if torch.isnan(d).any():
        raise CodecError("depth holds NaN values; mark invalid pixels with 0 instead")
    valid = (d > 0) & torch.isfinite(d)
    return torch.where(valid, 1.0 / torch.where(valid, d, torch.ones_like(d)), torch.zeros_like(d))


def _p_max(disp: torch.Tensor) -> torch.Tensor:
    p_max = disp.flatten(1).amax(1)
    if (p_max <= 0).any():
        raise CodecError("a depth clip has no valid (positive, finite) pixel; cannot normalise it")
    return p_max


def max_disparity(depth: torch.Tensor) -> torch.Tensor:
    """``p_max`` of depth ``(B, F, H, W)`` (``(B,)``) or ``(F, H, W)`` (a scalar): ``1 / the nearest valid depth``,
    the clip's unit of relative depth and of its raymap translations (docs/FORMATS.md#depth-codec, #raymap-codec)."""
    d, squeeze = with_batch(torch.as_tensor(depth), 4, "depth")
    p_max = _p_max(_disparity_of(d))
    return p_max[0] if squeeze else p_max


def encode(depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``depth (B, F, H, W)`` metres (0 = invalid) -> ``video (B, F, 3, H, W)`` in [-1, 1], ``p_max (B,)``.

    Unbatched ``(F, H, W)`` gives ``(F, 3, H, W)`` and a scalar ``p_max``.
    """
    d, squeeze = with_batch(depth, 4, "depth")
    disp = _disparity_of(d)
    p_max = _p_max(disp)
    q = torch.sqrt(torch.clamp(disp / p_max.view(-1, 1, 1, 1), 0, 1))
    video = (2 * q - 1).unsqueeze(2).expand(-1, -1, 3, -1, -1).contiguous()
    return (video[0], p_max[0]) if squeeze else (video, p_max)


def disparity(video: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """``video (B, F, 3, H, W)`` -> relative disparity ``p' (B, F, H, W)`` (unbatched in, unbatched out).

    The channels are averaged as decoded, unclamped, ``q = mean / 2 + 0.5``. With ``clip``, ``p' = q^2``
    clipped to ``[1e-3, 1]``, as the release decodes (docs/FORMATS.md#around-the-model): clamping each channel first
    moves the result wherever a decoded video's channels disagree. Without, ``p' = q |q|``: the same value wherever the
    release does not clip, and still rising with ``q`` beyond, so a loss on it keeps its gradient exactly
    where a prediction is furthest off (training's depth loss)."""
    v, squeeze = with_batch(video, 5, "depth video")
    if v.shape[2] != 3:
        raise CodecError(f"depth video needs 3 channels at dim -3, got {v.shape[2]}")
    if not torch.isfinite(v).all():
        raise CodecError("depth video holds NaN/inf values")
    q = v.mean(2) / 2 + 0.5
    p = torch.clamp(q * q, MIN_DISPARITY, 1.0) if clip else q * q.abs()
    return p[0] if squeeze else p


def decode(video: torch.Tensor, p_max: torch.Tensor | float | None = None) -> torch.Tensor:
    """``video (B, F, 3, H, W)`` -> depth ``(B, F, H, W)``: metric with ``p_max (B,)``, else relative
    (in units of the nearest depth), ``1 / p'`` of the clipped :func:`disparity`. Unbatched
    ``(F, 3, H, W)`` gives ``(F, H, W)``."""
    depth, squeeze = with_batch(1.0 / disparity(video), 4, "depth")
    if p_max is not None:
        scale = torch.as_tensor(p_max, dtype=depth.dtype, device=depth.device).reshape(-1)
        if not torch.isfinite(scale).all() or (scale <= 0).any():
            raise CodecError("p_max must be positive and finite")
        depth = depth / scale.view(-1, 1, 1, 1)
    return depth[0] if squeeze else depth
