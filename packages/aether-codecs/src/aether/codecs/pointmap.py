"""World pointmaps from depth and cameras (docs/FORMATS.md#raymap-codec): ``P = depth * d + o``, ``d`` the z = 1 ray."""

from __future__ import annotations

import torch

from aether.codecs.cameras import check_cameras
from aether.codecs.errors import CodecError


def pointmap(depth: torch.Tensor, c2w: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``depth (B, F, H, W)`` (z-depth), ``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)`` -> world points
    ``(B, F, H, W, 3)``. Unbatched ``(F, ...)`` inputs give ``(F, H, W, 3)``."""
    squeeze = depth.dim() == 3
    if squeeze:
        depth, c2w, K = depth[None], c2w[None], K[None]
    if depth.dim() != 4 or c2w.shape[:2] != depth.shape[:2]:
        raise CodecError(f"pointmap needs depth (B, F, H, W) and cameras (B, F, ...), got "
                         f"{tuple(depth.shape)} and {tuple(c2w.shape)}")
    if not torch.isfinite(depth).all():
        raise CodecError("depth holds NaN/inf values")
    check_cameras(c2w, K, "pointmap")
    H, W = depth.shape[-2:]
    v, u = torch.meshgrid(torch.arange(H, dtype=depth.dtype, device=depth.device),
                          torch.arange(W, dtype=depth.dtype, device=depth.device), indexing="ij")
    K = K.to(depth.dtype)
    fx, fy = K[..., 0, 0, None, None], K[..., 1, 1, None, None]
    cx, cy = K[..., 0, 2, None, None], K[..., 1, 2, None, None]
    cam = torch.stack([(u - cx) / fx, (v - cy) / fy, torch.ones_like((u - cx) / fx)], -1)  # B,F,H,W,3
    rot, t = c2w[..., :3, :3].to(depth.dtype), c2w[..., :3, 3].to(depth.dtype)
    points = depth[..., None] * torch.einsum("bfij,bfhwj->bfhwi", rot, cam) + t[:, :, None, None, :]
    return points[0] if squeeze else points
