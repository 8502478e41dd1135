"""Packed latent raymap in one Triton pass, never materialising the full-resolution raymap
(docs/FORMATS.md#raymap-codec).

Bilinear /8 (``align_corners=False``) samples the full-resolution field at pixel ``(8j+3.5, 8i+3.5)``
as the mean of its neighbours; ray directions and origins are affine in the pixel, so that mean is
the field evaluated at that point, which is what the kernel computes directly.
"""

from __future__ import annotations

import torch

from aether.core.kernels.attention_triton import triton_usable
from aether.core.kernels.raymap_reference import DOWNSAMPLE, GROUP, PAD_FRAMES, S_RAY

LAYOUTS = ("strided", "consecutive")


def packed_raymap_triton(c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
                         p_max: torch.Tensor | None = None, layout: str = "strided",
                         s_ray: float = S_RAY) -> torch.Tensor:
    """``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)``, ``p_max (B,)`` or None (= 1), ``F = 4k+1`` ->
    packed raymap ``(B, k+1, 24, height/8, width/8)`` float32, equal to
    ``pack_reference(raymap_reference(...), layout)``. Needs CUDA tensors or ``TRITON_INTERPRET=1``.
    """
    if c2w.dim() != 4 or c2w.shape[-2:] != (4, 4) or K.shape != (*c2w.shape[:2], 3, 3):
        raise ValueError(f"need c2w (B, F, 4, 4) and K (B, F, 3, 3); got {tuple(c2w.shape)}, {tuple(K.shape)}")
    B, n_frames = c2w.shape[:2]
    if n_frames % GROUP != 1:
        raise ValueError(f"frame count {n_frames} must be 4k+1 to pack into latent frames")
    if height % DOWNSAMPLE or width % DOWNSAMPLE:
        raise ValueError(f"height and width must be multiples of {DOWNSAMPLE}; got {height}x{width}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown packing layout {layout!r}; use 'strided' or 'consecutive'")
    if not triton_usable(c2w):
        raise ValueError("packed_raymap_triton needs CUDA tensors (or TRITON_INTERPRET=1); "
                         "use pack_reference(raymap_reference(...)) on CPU")
    import triton

    from aether.core.kernels.raymap_triton_kernel import packed_raymap_kernel

    h, w = height // DOWNSAMPLE, width // DOWNSAMPLE
    n_latent = (n_frames + PAD_FRAMES) // GROUP
    scale = torch.ones(B, device=c2w.device) if p_max is None else p_max
    out = torch.empty(B, n_latent, 24, h, w, device=c2w.device, dtype=torch.float32)
    block = 256
    grid = (B * n_latent, triton.cdiv(h * w, block))
    packed_raymap_kernel[grid](c2w.float().contiguous(), K.float().contiguous(), scale.float().contiguous(), out,
                                n_frames, n_latent, h, w, float(s_ray), STRIDED=layout == "strided", BLOCK=block)
    return out
