"""Plain-torch reference of the raymap construction (docs/FORMATS.md#raymap-codec). The Triton kernel is tested
against this; CPU machines use it directly.

Layouts: ``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)`` -> raymap ``(B, F, 6, H/8, W/8)`` with channels
``[dx, dy, dz, ox, oy, oz]``; packed ``(B, T, 24, H/8, W/8)`` with ``F = 4(T-1)+1``.
"""

from __future__ import annotations

import torch

S_RAY = 10.0      # translation scale before the log (docs/FORMATS.md#raymap-codec)
DOWNSAMPLE = 8    # latent / pixel ratio
PAD_FRAMES = 3    # copies of frames 0, 1, 2 prepended before packing
GROUP = 4         # raymap frames per latent frame


def signed_log1p(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(torch.abs(x))


def signed_expm1(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) (exp|x| - 1)``, the inverse of :func:`signed_log1p`, written as the release writes it
    (and about twice as fast as ``expm1``, which torch does not vectorise on CPU); the two differ by
    the exponential's rounding, about 1e-7 absolute in float32."""
    return torch.copysign(x.abs().exp() - 1, x)


def latent_pixel_coords(h: int, w: int, dtype: torch.dtype = torch.float32,
                        device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-resolution pixel coordinates ``v (h,)``, ``u (w,)`` that a bilinear /8 with
    ``align_corners=False`` samples for latent pixel ``(i, j)``: ``8i + 3.5``, ``8j + 3.5`` (the mean of
    the 2x2 pixels around it)."""
    half = (DOWNSAMPLE - 1) / 2
    v = torch.arange(h, dtype=dtype, device=device) * DOWNSAMPLE + half
    u = torch.arange(w, dtype=dtype, device=device) * DOWNSAMPLE + half
    return v, u


def raymap_reference(c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
                     p_max: torch.Tensor | None = None, s_ray: float = S_RAY) -> torch.Tensor:
    """Rays rotated into the world and log-scaled origins, bilinearly downsampled by 8.

    ``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)``, ``p_max (B,)`` or None (= 1) ->
    ``(B, F, 6, height/8, width/8)``. Directions are affine in the pixel and origins constant, so the
    bilinear /8 of the full-resolution field equals the field evaluated at the sampled coordinates
    (:func:`latent_pixel_coords`); computing it there skips the 64x larger full-resolution raymap.
    A test checks this against the literal full-resolution construction.
    """
    B, n = c2w.shape[:2]
    h, w = height // DOWNSAMPLE, width // DOWNSAMPLE
    v, u = latent_pixel_coords(h, w, c2w.dtype, c2w.device)
    x = (u - K[..., 0, 2, None]) / K[..., 0, 0, None]                                   # B,F,w
    y = (v - K[..., 1, 2, None]) / K[..., 1, 1, None]                                   # B,F,h
    R = c2w[..., :3, :3, None, None]                                                    # B,F,3,3,1,1
    dirs = R[..., 0, :, :] * x[:, :, None, None, :] + R[..., 1, :, :] * y[:, :, None, :, None] + R[..., 2, :, :]
    scale = torch.ones(B, dtype=c2w.dtype, device=c2w.device) if p_max is None else p_max.to(c2w.dtype)
    origin = signed_log1p(c2w[..., :3, 3] * scale.view(B, 1, 1) * s_ray)                # B,F,3
    return torch.cat([dirs, origin[..., None, None].expand(B, n, 3, h, w)], dim=2)


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
