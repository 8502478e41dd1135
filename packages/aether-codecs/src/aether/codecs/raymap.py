"""Camera trajectory <-> raymap video and its packing into latent frames (SPEC §4).

Wraps :mod:`aether.core.kernels.raymap_reference` with validation and unbatched inputs: every
function takes a leading batch dim ``B`` or none (``c2w (F, 4, 4)``, raymap ``(F, 6, h, w)``) and
returns the same batching.
"""

from __future__ import annotations

from typing import Literal

import torch

from aether.codecs.cameras import check_cameras
from aether.codecs.errors import CodecError, with_batch
from aether.core.kernels.raymap_reference import (DOWNSAMPLE, GROUP, S_RAY, latent_pixel_coords,
                                                 pack_reference, raymap_reference, signed_expm1,
                                                 unpack_reference)

Layout = Literal["strided", "consecutive"]
Method = Literal["lstsq", "released"]
CHANNELS = 6


def _check_size(height: int, width: int) -> None:
    if height <= 0 or width <= 0 or height % DOWNSAMPLE or width % DOWNSAMPLE:
        raise CodecError(f"height and width must be positive multiples of {DOWNSAMPLE}, got {height}x{width}")


def _p_max(p_max: torch.Tensor | float | None, B: int, ref: torch.Tensor) -> torch.Tensor | None:
    if p_max is None:
        return None
    p = torch.as_tensor(p_max, dtype=ref.dtype, device=ref.device).reshape(-1)
    if p.numel() not in (1, B):
        raise CodecError(f"p_max must be a scalar or hold one value per batch item ({B}), got {p.numel()}")
    p = p.expand(B)
    if not torch.isfinite(p).all() or (p <= 0).any():
        raise CodecError("p_max must be positive and finite")
    return p


def _cameras(c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
             where: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validated batched ``c2w (B, F, 4, 4)``, ``K`` in c2w's dtype, and whether the input was unbatched."""
    _check_size(height, width)
    poses, squeeze = with_batch(c2w, 4, "c2w")
    intr = K.unsqueeze(0) if squeeze else K
    check_cameras(poses, intr, where)
    return poses, intr.to(poses.dtype), squeeze


def _check_frames(n: int) -> None:
    if n < GROUP + 1 or (n - 1) % GROUP:
        raise CodecError(f"packing needs 4k+1 >= 5 frames, got {n}; trim or pad the clip (e.g. 41 frames)")


def encode(c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
           p_max: torch.Tensor | float | None = None) -> torch.Tensor:
    """``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)`` -> raymap ``(B, F, 6, height/8, width/8)``; channels
    ``[dx, dy, dz, ox, oy, oz]``. ``p_max (B,)`` or None (= 1)."""
    poses, intr, squeeze = _cameras(c2w, K, height, width, "raymap.encode")
    out = raymap_reference(poses, intr, height, width, _p_max(p_max, poses.shape[0], poses))
    return out[0] if squeeze else out


def _check_layout(layout: str) -> None:
    if layout not in ("strided", "consecutive"):
        raise CodecError(f"unknown packing layout {layout!r}; use 'strided' or 'consecutive'")


def pack(raymap: torch.Tensor, layout: Layout = "strided") -> torch.Tensor:
    """``(B, F, C, h, w)`` with ``F = 4k+1`` -> ``(B, k+1, 4C, h, w)`` (SPEC §4 packing)."""
    _check_layout(layout)
    x, squeeze = with_batch(raymap, 5, "raymap")
    _check_frames(x.shape[1])
    out = pack_reference(x, layout)
    return out[0] if squeeze else out


def unpack(packed: torch.Tensor, layout: Layout = "strided") -> torch.Tensor:
    """Exact inverse of :func:`pack`: ``(B, T, 4C, h, w)`` -> ``(B, 4T-3, C, h, w)``."""
    _check_layout(layout)
    x, squeeze = with_batch(packed, 5, "packed raymap")
    if x.shape[2] % GROUP:
        raise CodecError(f"packed raymap channels must be a multiple of {GROUP}, got {x.shape[2]}")
    out = unpack_reference(x, layout)
    return out[0] if squeeze else out


def encode_packed(c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
                  p_max: torch.Tensor | float | None = None, layout: Layout = "strided") -> torch.Tensor:
    """``pack(encode(...))``: ``(B, F, 4, 4)``, ``(B, F, 3, 3)`` -> ``(B, T, 24, h, w)``. Uses the fused
    Triton kernel for CUDA inputs when it is available."""
    if c2w.is_cuda:
        try:
            from aether.core.kernels.raymap_triton import packed_raymap_triton
        except ImportError:
            packed_raymap_triton = None
        if packed_raymap_triton is not None:
            _check_layout(layout)
            poses, intr, squeeze = _cameras(c2w, K, height, width, "raymap.encode_packed")
            _check_frames(poses.shape[1])
            out = packed_raymap_triton(poses, intr, height, width, _p_max(p_max, poses.shape[0], poses),
                                       layout)
            return out[0] if squeeze else out
    return pack(encode(c2w, K, height, width, p_max), layout)


def _intrinsics(fx, fy, cx, cy) -> torch.Tensor:
    K = torch.zeros(*fx.shape, 3, 3, dtype=fx.dtype, device=fx.device)
    K[..., 0, 0], K[..., 1, 1], K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = fx, fy, cx, cy, 1
    return K


def _grid_pixels(dirs: torch.Tensor) -> torch.Tensor:
    """Homogeneous full-resolution pixels ``[u v 1] (h*w, 3)`` of the latent grid of ``dirs (N, 3, h, w)``,
    row-major like ``dirs.flatten(2)``."""
    vv, uu = torch.meshgrid(*latent_pixel_coords(*dirs.shape[-2:], dirs.dtype, dirs.device), indexing="ij")
    return torch.stack([uu, vv, torch.ones_like(uu)], -1).reshape(-1, 3)


def _fit_lstsq(dirs: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``dirs (N, 3, h, w)`` -> ``R (N, 3, 3)``, ``K (N, 3, 3)``: least squares ``d = M [u v 1]``,
    then ``M = R K^-1`` by QR (orthonormal times upper triangular) with positive diagonal.

    A mirrored direction field (``det M < 0``: never from :func:`encode`, possible in generated
    output) has no camera with a proper rotation and positive focals; such frames fall back to the
    released heuristic, which always returns one."""
    A = _grid_pixels(dirs)                                                        # (P, 3)
    D = dirs.flatten(2).transpose(1, 2)                                           # (N, P, 3)
    M = torch.linalg.lstsq(A.expand(D.shape[0], -1, -1), D).solution.transpose(1, 2)
    Q, U = torch.linalg.qr(M)
    sign = torch.sign(torch.diagonal(U, dim1=-2, dim2=-1))
    R, U = Q * sign.unsqueeze(-2), U * sign.unsqueeze(-1)
    K_inv = U / U[:, 2:3, 2:3]
    fx, fy = 1 / K_inv[:, 0, 0], 1 / K_inv[:, 1, 1]
    K = _intrinsics(fx, fy, -K_inv[:, 0, 2] * fx, -K_inv[:, 1, 2] * fy)
    mirrored = torch.linalg.det(R) < 0
    if mirrored.any():
        R[mirrored], K[mirrored] = _fit_released(dirs[mirrored], height, width)
    return R, K


def _fit_released(dirs: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The published heuristic (SPEC §4): z along the mean direction, x from the last-minus-first
    column difference, principal point at the image centre, one focal from that column spread."""
    mean = dirs.mean((2, 3))
    z = mean / mean.norm(dim=-1, keepdim=True)
    span = dirs[..., -1].mean(-1) - dirs[..., 0].mean(-1)
    x = span / span.norm(dim=-1, keepdim=True)
    y = torch.linalg.cross(z, x)
    y = y / y.norm(dim=-1, keepdim=True)
    x = torch.linalg.cross(y, z)
    # Directions have z = 1 in the camera, so normalise the spread by |mean| before converting to pixels.
    focal = DOWNSAMPLE * (dirs.shape[-1] - 1) * mean.norm(dim=-1) / span.norm(dim=-1)
    cx = torch.full_like(focal, (width - 1) / 2)
    cy = torch.full_like(focal, (height - 1) / 2)
    return torch.stack([x, y, z], -1), _intrinsics(focal, focal, cx, cy)


def _fit_rotations(dirs: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """``dirs (N, 3, h, w)``, ``K (N, 3, 3)`` -> the proper rotations ``R (N, 3, 3)`` minimising
    ``sum |d - R K^-1 [u v 1]|^2`` over the grid (orthogonal Procrustes, SVD with a det correction)."""
    rays = _grid_pixels(dirs) @ torch.linalg.inv(K).transpose(1, 2)                # (N, P, 3) camera rays
    U, _, Vh = torch.linalg.svd(dirs.flatten(2) @ rays)                            # (N, 3, 3) cross-covariance
    U[:, :, 2] *= torch.sign(torch.linalg.det(U @ Vh)).unsqueeze(-1)
    return U @ Vh


def _share_intrinsics(K: torch.Tensor) -> torch.Tensor:
    """``K (B, F, 3, 3)`` -> every frame's K replaced by the clip's per-entry median (robust to frames a
    generated raymap got wrong)."""
    return K.median(dim=1, keepdim=True).values.expand_as(K).contiguous()


def decode(raymap: torch.Tensor, height: int, width: int, p_max: torch.Tensor | float | None = None,
           method: Method = "lstsq", shared_intrinsics: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Raymap ``(B, F, 6, h, w)`` -> ``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)`` (input dtype; fits in float64).

    ``lstsq`` fits rotation, fx, fy, cx, cy to every direction (exact on a clean raymap);
    ``released`` is the published heuristic. Translations are relative when ``p_max`` is None.
    ``shared_intrinsics`` (one camera filmed the clip) takes the median of the frames' intrinsics and
    refits each rotation to every direction under it; still exact on a clean raymap, and on a generated
    one far less noisy than a rotation from one frame's own intrinsics (a QR of a 3x3 fit).
    """
    _check_size(height, width)
    x, squeeze = with_batch(raymap, 5, "raymap")
    B, n, C, h, w = x.shape
    if C != CHANNELS or (h, w) != (height // DOWNSAMPLE, width // DOWNSAMPLE):
        raise CodecError(f"raymap must be (B, F, 6, {height // DOWNSAMPLE}, {width // DOWNSAMPLE}) for a "
                         f"{height}x{width} image, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise CodecError("raymap holds NaN/inf values")
    fit = {"lstsq": _fit_lstsq, "released": _fit_released}.get(method)
    if fit is None:
        raise CodecError(f"unknown raymap decode method {method!r}; use 'lstsq' or 'released'")
    x64 = x.double()
    dirs = x64[:, :, :3].reshape(B * n, 3, h, w)
    R, K = fit(dirs, height, width)
    if shared_intrinsics:
        K = _share_intrinsics(K.reshape(B, n, 3, 3)).reshape(B * n, 3, 3)
        R = _fit_rotations(dirs, K)
    scale = _p_max(p_max, B, x64)
    scale = S_RAY * (torch.ones(B, dtype=x64.dtype, device=x.device) if scale is None else scale)
    t = signed_expm1(x64[:, :, 3:].mean((3, 4))) / scale.view(B, 1, 1)
    c2w = torch.zeros(B, n, 4, 4, dtype=x64.dtype, device=x.device)
    c2w[..., :3, :3], c2w[..., :3, 3], c2w[..., 3, 3] = R.reshape(B, n, 3, 3), t, 1
    c2w, K = c2w.to(x.dtype), K.reshape(B, n, 3, 3).to(x.dtype)
    return (c2w[0], K[0]) if squeeze else (c2w, K)
