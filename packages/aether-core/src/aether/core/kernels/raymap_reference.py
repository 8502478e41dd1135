"""Plain-torch reference of the raymap construction (SPEC §4). The Triton kernel is tested
against this; CPU machines use it directly.

Layouts: ``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)`` -> raymap ``(B, F, 6, H/8, W/8)`` with channels
``[dx, dy, dz, ox, oy, oz]``; packed ``(B, T, 24, H/8, W/8)`` with ``F = 4(T-1)+1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

S_RAY = 10.0      # translation scale before the log (SPEC §4)
DOWNSAMPLE = 8    # latent / pixel ratio
PAD_FRAMES = 3    # copies of frames 0, 1, 2 prepended before packing
GROUP = 4         # raymap frames per latent frame


def signed_log1p(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def signed_expm1(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(torch.abs(x))


def raymap_reference(c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
                     p_max: torch.Tensor | None = None, s_ray: float = S_RAY) -> torch.Tensor:
    """Full-resolution rays rotated into the world, log-scaled origins, bilinear /8.

    ``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)``, ``p_max (B,)`` or None (= 1) ->
    ``(B, F, 6, height/8, width/8)``. Materialises the full-resolution raymap on purpose: it is
    the straightforward statement of the formula.
    """
    B, n = c2w.shape[:2]
    dtype = c2w.dtype
    v, u = torch.meshgrid(torch.arange(height, dtype=dtype, device=c2w.device),
                          torch.arange(width, dtype=dtype, device=c2w.device), indexing="ij")
    fx, fy = K[..., 0, 0, None, None], K[..., 1, 1, None, None]
    cx, cy = K[..., 0, 2, None, None], K[..., 1, 2, None, None]
    cam = torch.stack([(u - cx) / fx, (v - cy) / fy, torch.ones_like((u - cx) / fx)], dim=-1)  # B,F,H,W,3
    dirs = torch.einsum("bfij,bfhwj->bfihw", c2w[..., :3, :3], cam)
    scale = torch.ones(B, dtype=dtype, device=c2w.device) if p_max is None else p_max.to(dtype)
    origin = signed_log1p(c2w[..., :3, 3] * scale.view(B, 1, 1) * s_ray)                  # B,F,3
    origins = origin[..., None, None].expand(B, n, 3, height, width)
    full = torch.cat([dirs, origins], dim=2).reshape(B * n, 6, height, width)
    small = F.interpolate(full, size=(height // DOWNSAMPLE, width // DOWNSAMPLE), mode="bilinear",
                          align_corners=False)
    return small.reshape(B, n, 6, height // DOWNSAMPLE, width // DOWNSAMPLE)


def pack_reference(raymap: torch.Tensor, layout: str = "strided") -> torch.Tensor:
    """``(B, F, C, h, w)`` with ``F = 4k+1`` -> ``(B, k+1, 4C, h, w)``.

    Frames 0, 1, 2 are prepended; ``strided`` (released code): latent ``t`` holds padded frames
    ``t + n(k+1)`` for ``n = 0..3`` at channels ``n*C + c``; ``consecutive`` (paper text): padded
    frames ``4t + n``.
    """
    B, n, C, h, w = raymap.shape
    padded = torch.cat([raymap[:, :PAD_FRAMES], raymap], dim=1)
    T = padded.shape[1] // GROUP
    if layout == "strided":
        grouped = padded.reshape(B, GROUP, T, C, h, w).transpose(1, 2)
    elif layout == "consecutive":
        grouped = padded.reshape(B, T, GROUP, C, h, w)
    else:
        raise ValueError(f"unknown packing layout {layout!r}; use 'strided' or 'consecutive'")
    return grouped.reshape(B, T, GROUP * C, h, w)


def unpack_reference(packed: torch.Tensor, layout: str = "strided") -> torch.Tensor:
    """Exact inverse of :func:`pack_reference`: ``(B, T, 4C, h, w)`` -> ``(B, 4T-3, C, h, w)``."""
    B, T, C4, h, w = packed.shape
    C = C4 // GROUP
    grouped = packed.reshape(B, T, GROUP, C, h, w)
    if layout == "strided":
        padded = grouped.transpose(1, 2).reshape(B, GROUP * T, C, h, w)
    elif layout == "consecutive":
        padded = grouped.reshape(B, GROUP * T, C, h, w)
    else:
        raise ValueError(f"unknown packing layout {layout!r}; use 'strided' or 'consecutive'")
    return padded[:, PAD_FRAMES:]
