"""Plücker raymap: per pixel the unit ray direction d and its moment m = c × d (c = camera centre)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from aether.core.interfaces import ActionEncoder
from aether.core.kernels.raymap_reference import (DOWNSAMPLE, latent_pixel_coords, pack_reference,
                                                  unpack_reference)


def _pixel_grid(h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    """Homogeneous full-resolution pixel coordinates ``(h, w, 3)`` that a bilinear /8 samples."""
    vv, uu = torch.meshgrid(*latent_pixel_coords(h, w, dtype), indexing="ij")
    return torch.stack([uu, vv, torch.ones_like(uu)], -1)


class PluckerEncoder(ActionEncoder):
    """``encode(c2w (B,F,4,4), K (B,F,3,3), H, W) -> (B, T, 24, H/8, W/8)``; ``decode`` inverts it."""

    channels = 24

    def encode(self, c2w, K, height, width, p_max=None):
        h, w = height // DOWNSAMPLE, width // DOWNSAMPLE
        pix = _pixel_grid(h, w, c2w.dtype).to(c2w.device)
        cam = torch.einsum("bfij,hwj->bfhwi", torch.linalg.inv(K), pix)
        d = torch.nn.functional.normalize(torch.einsum("bfij,bfhwj->bfhwi", c2w[..., :3, :3], cam), dim=-1)
        centre = c2w[..., None, None, :3, 3].expand_as(d)
        m = torch.cross(centre, d, dim=-1)
        return pack_reference(torch.cat([d, m], -1).permute(0, 1, 4, 2, 3))

    def decode(self, action, height, width, p_max=None):
        rays = unpack_reference(action).permute(0, 1, 3, 4, 2).double()  # B,F,h,w,6
        B, F, h, w, _ = rays.shape
        pix = _pixel_grid(h, w, torch.float64).reshape(-1, 3).numpy()
        c2w = np.tile(np.eye(4), (B, F, 1, 1))
        K = np.zeros((B, F, 3, 3))
        for b in range(B):
            for f in range(F):
                d, m = rays[b, f, ..., :3].reshape(-1, 3).numpy(), rays[b, f, ..., 3:].reshape(-1, 3).numpy()
                # centre: m = c × d = -[d]_x c for every ray -> one linear least-squares system
                skew = np.zeros((len(d), 3, 3))
                skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -d[:, 2], d[:, 1], -d[:, 0]
                skew -= skew.transpose(0, 2, 1)
                c2w[b, f, :3, 3] = np.linalg.lstsq(-skew.reshape(-1, 3), m.reshape(-1), rcond=None)[0]
                # M = R K^-1 up to scale: d × (M p) = 0 (DLT), then RQ-split M^-1 = K R^T
                rows = np.einsum("nij,nk->nijk", skew, pix).reshape(-1, 9)
                M = np.linalg.svd(rows)[2][-1].reshape(3, 3)
                M *= np.sign(np.linalg.det(M))
                Kf, R_t = scipy.linalg.rq(np.linalg.inv(M))  # M^-1 = K R^T
                signs = np.diag(np.sign(np.diag(Kf)))  # positive focals
                Kf, R_t = Kf @ signs, signs @ R_t
                c2w[b, f, :3, :3], K[b, f] = R_t.T, Kf / Kf[2, 2]
        return torch.from_numpy(c2w), torch.from_numpy(K)
