"""Loss functions of the aether-train README, how it works, each returning one value per example ``(B,)``.

Stage 1: the latent diffusion MSE against the scheduler's target (v-prediction for CogVideoX).
Stage 2 adds, on decoded predictions: ``1 - MS-SSIM`` on colour, a scale-and-shift-invariant
disparity loss with a multi-scale gradient-matching term, and a scale-invariant pointmap loss
whose gradients reach only the raymap (depth is detached).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from aether.core.kernels.raymap_reference import S_RAY, signed_expm1
from pytorch_msssim import ms_ssim, ssim

MS_SSIM_LEVELS = 5
MS_SSIM_WINDOW = 11


# --------------------------------------------------------------------------- diffusion
def _alphas(scheduler, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``alphas_cumprod`` at ``timesteps (B,)`` shaped to broadcast over ``like (B, ...)``."""
    alphas = scheduler.alphas_cumprod.to(device=like.device, dtype=like.dtype)[timesteps.to(like.device)]
    return alphas.view(-1, *([1] * (like.dim() - 1)))


def diffusion_target(scheduler, x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """What the model must predict for clean ``x0`` and ``noise`` (same shape) at ``timesteps (B,)``."""
    kind = scheduler.config.prediction_type
    if kind == "v_prediction":
        return scheduler.get_velocity(x0, noise, timesteps)
    if kind == "epsilon":
        return noise
    if kind == "sample":
        return x0
    raise ValueError(f"unsupported scheduler prediction_type {kind!r}; use v_prediction, epsilon or sample")


def predicted_x0(scheduler, noisy: torch.Tensor, prediction: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """The clean sample implied by the model's ``prediction`` of ``noisy`` at ``timesteps (B,)``."""
    alpha = _alphas(scheduler, timesteps, noisy)
    kind = scheduler.config.prediction_type
    if kind == "v_prediction":
        return alpha.sqrt() * noisy - (1 - alpha).sqrt() * prediction
    if kind == "epsilon":
        return (noisy - (1 - alpha).sqrt() * prediction) / alpha.sqrt().clamp_min(1e-4)
    return prediction


def latent_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B, T, C, h, w)`` -> mean squared error per example ``(B,)``."""
    return (prediction.float() - target.float()).square().flatten(1).mean(1)


# --------------------------------------------------------------------------- colour
def colour_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - MS-SSIM`` per example of videos ``(B, F, 3, H, W)`` in [-1, 1], frame by frame.

    MS-SSIM's four halvings need frames larger than 160 px; smaller frames (CPU tests) use
    single-scale SSIM with the largest odd window that fits.
    """
    B, frames = prediction.shape[:2]
    x = (prediction.float().flatten(0, 1) + 1) / 2
    y = (target.float().flatten(0, 1) + 1) / 2
    side = min(x.shape[-2:])
    if side > (MS_SSIM_WINDOW - 1) * 2 ** (MS_SSIM_LEVELS - 1):
        score = ms_ssim(x, y, data_range=1.0, size_average=False, win_size=MS_SSIM_WINDOW)
    else:
        window = min(MS_SSIM_WINDOW, side - 1 if side % 2 == 0 else side)
        score = ssim(x, y, data_range=1.0, size_average=False, win_size=window)
    return 1 - score.view(B, frames).mean(1)


# --------------------------------------------------------------------------- depth
def align_scale_shift(prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``s * prediction + t`` with per-example least-squares ``s, t`` over ``valid`` pixels;
    all ``(B, ...)``."""
    m = valid.flatten(1).to(prediction.dtype)
    p, g = prediction.flatten(1), target.flatten(1)
    n = m.sum(1).clamp_min(1)
    p_mean, g_mean = (m * p).sum(1) / n, (m * g).sum(1) / n
    pc, gc = (p - p_mean[:, None]) * m, (g - g_mean[:, None]) * m
    scale = (pc * gc).sum(1) / pc.square().sum(1).clamp_min(1e-12)
    shift = g_mean - scale * p_mean
    shape = (-1,) + (1,) * (prediction.dim() - 1)
    return scale.view(shape) * prediction + shift.view(shape)


def gradient_matching(residual: torch.Tensor, valid: torch.Tensor, scales: int) -> torch.Tensor:
    """Multi-scale gradient-matching term per example: mean |x and y differences| of the aligned
    residual ``(B, F, H, W)`` over valid neighbour pairs, summed over ``scales`` halvings."""
    total = residual.new_zeros(residual.shape[0])
    r, m = residual, valid.to(residual.dtype)
    for _ in range(scales):
        if min(r.shape[-2:]) < 2:
            break
        mx, my = m[..., :, 1:] * m[..., :, :-1], m[..., 1:, :] * m[..., :-1, :]
        gx = (r[..., :, 1:] - r[..., :, :-1]).abs() * mx
        gy = (r[..., 1:, :] - r[..., :-1, :]).abs() * my
        count = (mx.flatten(1).sum(1) + my.flatten(1).sum(1)).clamp_min(1)
        total = total + (gx.flatten(1).sum(1) + gy.flatten(1).sum(1)) / count
        r, m = r[..., ::2, ::2], m[..., ::2, ::2]
    return total


def ssi_depth_loss(prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                   alpha: float = 0.5, scales: int = 4) -> torch.Tensor:
    """Scale-and-shift-invariant loss per example of ``(B, F, H, W)`` maps (e.g. disparity):
    MSE of the aligned prediction on ``valid`` pixels plus ``alpha`` x gradient matching."""
    aligned = align_scale_shift(prediction.float(), target.float(), valid)
    residual = (aligned - target.float()) * valid
    data = residual.square().flatten(1).sum(1) / valid.flatten(1).sum(1).clamp_min(1)
    return data + alpha * gradient_matching(residual, valid, scales)


# --------------------------------------------------------------------------- pointmap
def raymap_points(depth: torch.Tensor, raymap: torch.Tensor) -> torch.Tensor:
    """``P = depth * d + o`` from ``depth (B, F, h, w)`` (relative: metres x p_max) and an unpacked
    raymap ``(B, F, 6, h, w)`` (docs/FORMATS.md#raymap-codec; origins undo ``signed_log1p(t p_max s_ray)``) -> ``(B, F,
    h, w, 3)``."""
    directions, origins = raymap[:, :, :3], signed_expm1(raymap[:, :, 3:]) / S_RAY
    return (depth.unsqueeze(2) * directions + origins).permute(0, 1, 3, 4, 2)


def pointmap_loss(pred_depth: torch.Tensor, pred_raymap: torch.Tensor, depth: torch.Tensor,
                  raymap: torch.Tensor, norm: str = "l1") -> torch.Tensor:
    """Scale-invariant pointmap loss per example ``(B,)``.

    ``pred_depth``, ``depth`` ``(B, F, H, W)`` relative depth (0 = invalid in ``depth``), pooled
    to the raymap grid; ``pred_raymap``, ``raymap`` ``(B, F, 6, h, w)`` unpacked. ``pred_depth`` is
    detached, so only the raymap learns from this term. Each pointmap is divided by its mean
    distance from the first camera, and each point's error is weighted by the inverse ground-truth
    depth (near points matter more); ``norm`` is ``l1`` (sum of |dx|) or ``l2`` (squared distance).
    """
    h, w = raymap.shape[-2:]
    pool = depth.shape[-2] // h
    valid = (F.max_pool2d(-depth.flatten(0, 1)[:, None], pool)[:, 0] < 0).view(*depth.shape[:2], h, w)
    gt_depth = F.avg_pool2d(depth.flatten(0, 1)[:, None], pool)[:, 0].view(*depth.shape[:2], h, w)
    est_depth = F.avg_pool2d(pred_depth.detach().flatten(0, 1)[:, None], pool)[:, 0].view_as(gt_depth)
    m = valid.unsqueeze(-1).to(gt_depth.dtype)
    n = valid.flatten(1).sum(1).clamp_min(1)

    def normalised(points: torch.Tensor) -> torch.Tensor:
        scale = (points.norm(dim=-1) * valid).flatten(1).sum(1) / n
        return points / scale.clamp_min(1e-6).view(-1, 1, 1, 1, 1)

    error = normalised(raymap_points(est_depth, pred_raymap.float())) - normalised(raymap_points(gt_depth, raymap))
    error = error.abs().sum(-1) if norm == "l1" else error.square().sum(-1)
    weight = valid / gt_depth.clamp_min(1e-6)
    weight = weight / (weight.flatten(1).sum(1) / n).clamp_min(1e-12).view(-1, 1, 1, 1)
    return (error * weight * m[..., 0]).flatten(1).sum(1) / n
