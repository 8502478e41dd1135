"""Camera trajectory <-> raymap video and its packing into latent frames (docs/FORMATS.md#raymap-codec).

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
    """``(B, F, C, h, w)`` with ``F = 4k+1`` -> ``(B, k+1, 4C, h, w)`` (docs/FORMATS.md#packing-into-latent-frames)."""
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


def _intrinsics(fx: torch.Tensor, fy: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """Per-frame ``fx, fy, cx, cy (N,)`` -> pinhole ``K (N, 3, 3)``."""
    K = torch.zeros(*fx.shape, 3, 3, dtype=fx.dtype, device=fx.device)
    K[..., 0, 0], K[..., 1, 1], K[..., 0, 2], K[..., 1, 2], K[..., 2, 2] = fx, fy, cx, cy, 1
    return K


def _moments(cols: torch.Tensor, rows: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Column means ``cols (N, 3, w)`` and row means ``rows (N, 3, h)`` of the directions -> their means
    over the grid ``S = <d a^T> (N, 3, 3)`` and ``G = <a a^T> (3, 3)``, ``a = [u v 1]`` the full-resolution
    pixel each latent pixel samples (:func:`latent_pixel_coords`). Every fit to all directions needs only
    these. The grid is separable: about the image centre ``c`` (``a = T a'``, T the shift by c),
    ``<d u'>`` and ``<d v'>`` are weighted column and row means and ``<a' a'^T>`` is diagonal."""
    w, h = cols.shape[-1], rows.shape[-1]
    v, u = latent_pixel_coords(h, w, cols.dtype, cols.device)
    u, v = u - (width - 1) / 2, v - (height - 1) / 2
    S = torch.stack([cols @ u / w, rows @ v / h, cols.mean(-1)], -1)               # <d a'^T>
    G = torch.diag(torch.stack([u.square().mean(), v.square().mean(), u.new_ones(())]))
    T = torch.eye(3, dtype=cols.dtype, device=cols.device)
    T[0, 2], T[1, 2] = (width - 1) / 2, (height - 1) / 2
    return S @ T.T, T @ G @ T.T


def _fit_lstsq(cols: torch.Tensor, rows: torch.Tensor, height: int,
               width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Column and row means of the directions (:func:`_moments`) -> ``R (N, 3, 3)``, ``K (N, 3, 3)``: least
    squares ``d = M [u v 1]`` over all pixels (normal equations ``M G = S``), then ``M = R K^-1`` by QR
    (orthonormal times upper triangular) with positive diagonal.

    A mirrored direction field (``det M < 0``: never from :func:`encode`, possible in generated
    output) has no camera with a proper rotation and positive focals; such frames fall back to the
    released heuristic, which always returns one."""
    S, G = _moments(cols, rows, height, width)
    M = torch.linalg.solve(G, S.mT).mT                                            # G symmetric
    Q, U = torch.linalg.qr(M)
    sign = torch.sign(torch.diagonal(U, dim1=-2, dim2=-1))
    R, U = Q * sign.unsqueeze(-2), U * sign.unsqueeze(-1)
    K_inv = U / U[:, 2:3, 2:3]
    fx, fy = 1 / K_inv[:, 0, 0], 1 / K_inv[:, 1, 1]
    K = _intrinsics(fx, fy, -K_inv[:, 0, 2] * fx, -K_inv[:, 1, 2] * fy)
    mirrored = torch.linalg.det(R) < 0
    if mirrored.any():
        R[mirrored], K[mirrored] = _fit_released(cols[mirrored], rows[mirrored], height, width)
    return R, K


def _released_focal(spread: torch.Tensor, z: torch.Tensor, size: int, n: int) -> torch.Tensor:
    """The release's focal along one image axis, in pixels of the full image of ``size`` pixels.

    ``spread (N, 3)``: mean direction of the last minus the first of the ``n`` raymap columns (rows);
    ``z (N, 3)``: mean direction. Its field of view is ``arctan(real / (2 |z|))`` with
    ``real = |spread x z| / (n - 1) * n``, and the focal ``size / 2 / tan(fov)``; tan undoes arctan."""
    real = torch.linalg.cross(spread, z).norm(dim=-1) / (n - 1) * n
    return size * z.norm(dim=-1) / real


def _fit_released(cols: torch.Tensor, rows: torch.Tensor, height: int,
                  width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The released heuristic, term by term (docs/FORMATS.md#raymap-codec), from the directions' column means ``cols
    (N, 3, w)`` and row means ``rows (N, 3, h)`` -> ``R``, ``K (N, 3, 3)``.

    z is the mean direction (the release's ``mean(o + d) - mean(o)``), x the last-minus-first column
    spread made orthogonal to z, y = z x x; one focal, the mean of the focals of the x and the y field
    of view (fx = fy assumed); principal point at the image centre."""
    z = cols.mean(-1)
    across = cols[..., -1] - cols[..., 0]                                           # last - first column
    down = rows[..., 0] - rows[..., -1]                                             # first - last row
    focal = (_released_focal(across, z, width, cols.shape[-1]) + _released_focal(down, z, height, rows.shape[-1])) / 2
    y = torch.linalg.cross(z, across)
    x = torch.linalg.cross(y, z)
    R = torch.stack([x, y, z], -1)
    cx = torch.full_like(focal, (width - 1) / 2)
    cy = torch.full_like(focal, (height - 1) / 2)
    return R / R.norm(dim=-2, keepdim=True), _intrinsics(focal, focal, cx, cy)


def _fit_rotations(cols: torch.Tensor, rows: torch.Tensor, K: torch.Tensor, height: int,
                   width: int) -> torch.Tensor:
    """Column and row means of the directions, ``K (N, 3, 3)`` -> the proper rotations ``R (N, 3, 3)``
    minimising ``sum |d - R K^-1 [u v 1]|^2`` over the grid (orthogonal Procrustes, SVD with a det
    correction). The cross-covariance ``<d (K^-1 a)^T>`` is ``S K^-T``."""
    U, _, Vh = torch.linalg.svd(_moments(cols, rows, height, width)[0] @ torch.linalg.inv(K).mT)
    U[:, :, 2] *= torch.sign(torch.linalg.det(U @ Vh)).unsqueeze(-1)
    return U @ Vh


def _share_intrinsics(K: torch.Tensor) -> torch.Tensor:
    """``K (B, F, 3, 3)`` -> every frame's K replaced by the clip's per-entry median (robust to frames a
    generated raymap got wrong)."""
    return K.median(dim=1, keepdim=True).values.expand_as(K).contiguous()


def _check_raymap(x: torch.Tensor, height: int, width: int) -> None:
    h, w = height // DOWNSAMPLE, width // DOWNSAMPLE
    if x.shape[2:] != (CHANNELS, h, w):
        raise CodecError(f"raymap must be (B, F, 6, {h}, {w}) for a {height}x{width} image, got {tuple(x.shape)}")
    if h < 2 or w < 2:
        raise CodecError(f"decoding cameras needs a raymap of at least 2x2 (a 16x16 image), got {h}x{w}")


def decode(raymap: torch.Tensor, height: int, width: int, p_max: torch.Tensor | float | None = None,
           method: Method = "lstsq", shared_intrinsics: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Raymap ``(B, F, 6, h, w)`` -> ``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)`` in the input dtype.

    ``lstsq`` fits rotation, fx, fy, cx, cy to every direction (exact on a clean raymap);
    ``released`` is the released heuristic (docs/FORMATS.md#raymap-codec). The translation is the mean of the origins
    with the log inverted per pixel (as the release does), relative when ``p_max`` is None.
    ``shared_intrinsics`` (one camera filmed the clip) takes the median of the frames' intrinsics and
    refits each rotation to every direction under it; still exact on a clean raymap, and on a generated
    one far less noisy than a rotation from one frame's own intrinsics (a QR of a 3x3 fit).
    All frames of all clips are fitted at once: pixel means in the input's precision (at least
    float32), the fits in float64.
    """
    _check_size(height, width)
    x, squeeze = with_batch(raymap, 5, "raymap")
    _check_raymap(x, height, width)
    fit = {"lstsq": _fit_lstsq, "released": _fit_released}.get(method)
    if fit is None:
        raise CodecError(f"unknown raymap decode method {method!r}; use 'lstsq' or 'released'")
    B, n, _, h, w = x.shape
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    dirs = x[:, :, :3].reshape(B * n, 3, h, w)
    # The grid is separable, so every fit needs only the directions' column and row means.
    cols, rows = dirs.mean(-2).double(), dirs.mean(-1).double()                    # (N, 3, w), (N, 3, h)
    origins = signed_expm1(x[:, :, 3:]).mean((3, 4)).double()                             # (B, F, 3)
    # Every raymap value reaches one of these means: a NaN or inf anywhere shows there, without a pass
    # over the whole raymap.
    if not torch.isfinite(torch.cat([cols.flatten(), rows.flatten(), origins.flatten()])).all():
        raise CodecError("raymap holds NaN/inf values (or origins too large to un-log)")
    R, K = fit(cols, rows, height, width)
    if shared_intrinsics:
        K = _share_intrinsics(K.reshape(B, n, 3, 3)).reshape(B * n, 3, 3)
        R = _fit_rotations(cols, rows, K, height, width)
    scale = _p_max(p_max, B, origins)
    scale = S_RAY * (torch.ones(B, dtype=origins.dtype, device=origins.device) if scale is None else scale)
    c2w = torch.zeros(B, n, 4, 4, dtype=R.dtype, device=R.device)
    c2w[..., :3, :3], c2w[..., :3, 3], c2w[..., 3, 3] = R.reshape(B, n, 3, 3), origins / scale.view(B, 1, 1), 1
    c2w, K = c2w.to(raymap.dtype), K.reshape(B, n, 3, 3).to(raymap.dtype)
    return (c2w[0], K[0]) if squeeze else (c2w, K)
