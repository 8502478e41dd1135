"""fps-aware 3D rotary embedding of the AETHER backbone (docs/FORMATS.md#tensor-layout).

CogVideoX 1.0 places latent frame ``t`` at temporal position ``t``; AETHER places it at
``t * (12 / fps)`` so clips of different frame rates share one time axis. The spatial grid is
CogVideoX's: the token grid is fitted into the base grid (``sample_height/p x sample_width/p``,
60x90 latents -> 30x45 tokens) by diffusers' resize-crop rule. At ``fps = 12`` the result is
bit-identical to diffusers' ``get_3d_rotary_pos_embed`` as the CogVideoX pipelines call it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed

BASE_FPS = 12.0


def resize_crop_region(grid_h: int, grid_w: int, base_w: int, base_h: int
                       ) -> tuple[tuple[int, int], tuple[int, int]]:
    """diffusers' ``get_resize_crop_region_for_grid``: the ``(top, left), (bottom, right)`` region of
    the base grid that a ``grid_h x grid_w`` token grid is resized into, keeping its aspect ratio.
    (Ported: diffusers defines it only in pipeline modules that import ``transformers``.)"""
    if grid_h / grid_w > base_h / base_w:
        resize_h, resize_w = base_h, int(round(base_h / grid_h * grid_w))
    else:
        resize_w, resize_h = base_w, int(round(base_w / grid_w * grid_h))
    top, left = int(round((base_h - resize_h) / 2.0)), int(round((base_w - resize_w) / 2.0))
    return (top, left), (top + resize_h, left + resize_w)


def _grid_positions(start: float, stop: float, size: int, device: torch.device | None) -> torch.Tensor:
    """Positions exactly as diffusers' ``linspace`` grid computes them (same float32 ops)."""
    return torch.linspace(start, stop * (size - 1) / size, size, device=device, dtype=torch.float32)


def _combine(t: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``(T, dt)``, ``(H, dh)``, ``(W, dw)`` -> ``(T*H*W, dt+dh+dw)``, t slowest (the token order)."""
    size_t, size_h, size_w = t.shape[0], h.shape[0], w.shape[0]
    grid = torch.cat([t[:, None, None, :].expand(-1, size_h, size_w, -1),
                      h[None, :, None, :].expand(size_t, -1, size_w, -1),
                      w[None, None, :, :].expand(size_t, size_h, -1, -1)], dim=-1)
    return grid.reshape(size_t * size_h * size_w, -1)


def rotary_embedding(num_frames: int, height: int, width: int, fps: float,
                     config: Mapping[str, Any], device: torch.device | str | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(cos, sin)`` pair passed to the transformer as ``image_rotary_emb``.

    ``num_frames``, ``height``, ``width``: the latent grid ``T, h, w`` (``h, w`` divisible by the
    patch size); ``config``: the transformer config (``attention_head_dim``, ``patch_size``,
    ``sample_height``, ``sample_width``). Returns two ``(T * h/p * w/p, attention_head_dim)`` float32
    tensors, tokens ordered ``(t, y, x)`` as the patch embedding flattens them.
    """
    patch = int(config["patch_size"])
    if config.get("patch_size_t") is not None:
        raise ValueError("rotary_embedding supports the CogVideoX 1.0 layout (patch_size_t unset) that AetherV1 uses")
    if num_frames < 1 or height % patch or width % patch or height <= 0 or width <= 0:
        raise ValueError(f"latent grid T={num_frames}, h={height}, w={width} is invalid: need T >= 1 and "
                         f"h, w positive multiples of the patch size {patch}")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive finite number, got {fps}")
    head_dim = int(config["attention_head_dim"])
    if head_dim % 8:
        raise ValueError(f"attention_head_dim {head_dim} must be divisible by 8 for the 3D rotary split")
    device = torch.device(device) if device is not None else None
    grid_h, grid_w = height // patch, width // patch
    base_w, base_h = int(config["sample_width"]) // patch, int(config["sample_height"]) // patch
    (top, left), (bottom, right) = resize_crop_region(grid_h, grid_w, base_w, base_h)

    pos_t = _grid_positions(0, num_frames, num_frames, device)
    if fps != BASE_FPS:  # keeps fps = 12 bit-identical to diffusers
        pos_t = pos_t * (BASE_FPS / fps)
    pos_h = _grid_positions(top, bottom, grid_h, device)
    pos_w = _grid_positions(left, right, grid_w, device)

    dim_t, dim_hw = head_dim // 4, head_dim // 8 * 3
    cos_t, sin_t = get_1d_rotary_pos_embed(dim_t, pos_t, use_real=True)
    cos_h, sin_h = get_1d_rotary_pos_embed(dim_hw, pos_h, use_real=True)
    cos_w, sin_w = get_1d_rotary_pos_embed(dim_hw, pos_w, use_real=True)
    return _combine(cos_t, cos_h, cos_w), _combine(sin_t, sin_h, sin_w)
