"""Evaluation metrics (SPEC §7): video depth and camera pose as in CUT3R / MonST3R, and
generated-video quality (PSNR, SSIM, MS-SSIM, LPIPS when available locally).

Depth follows the MonST3R / CUT3R evaluation code: valid pixels have ``0 < gt < max_depth``;
one alignment per sequence (all frames together): ``"scale"`` = median(gt) / median(pred),
``"scale-shift"`` = least-squares scale and shift, ``"none"`` = metric depth; the aligned
prediction is clamped at 1e-5 before the log metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from aether.core.errors import AetherError

DepthAlignment = Literal["none", "scale", "scale-shift"]
DEPTH_ALIGNMENTS = ("none", "scale", "scale-shift")
MS_SSIM_MIN_SIDE = 161  # pytorch-msssim's 5-scale pyramid with an 11-px window needs > (11 - 1) * 2**4


class MetricInputError(AetherError, ValueError):
    """Predictions and ground truth that cannot be compared (shapes, counts, values)."""


def _as_frames(depth: np.ndarray, label: str) -> np.ndarray:
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim == 2:
        depth = depth[None]
    if depth.ndim != 3:
        raise MetricInputError(f"{label} depth must be (F, H, W) or (H, W); got shape {depth.shape}")
    return depth


def _resize_like(pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of every frame of ``pred (F, h, w)`` to ``shape`` (as the protocols do)."""
    import cv2

    if pred.shape[1:] == shape:
        return pred
    return np.stack([cv2.resize(f, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) for f in pred])


def align_depth(pred: np.ndarray, gt: np.ndarray, mode: DepthAlignment) -> tuple[float, float]:
    """Scale and shift mapping valid ``pred`` values ``(N,)`` onto ``gt`` ``(N,)``."""
    if mode == "none":
        return 1.0, 0.0
    if mode == "scale":
        return float(np.median(gt) / np.median(pred)), 0.0
    if mode == "scale-shift":
        design = np.stack([pred, np.ones_like(pred)], axis=1)
        (scale, shift), *_ = np.linalg.lstsq(design, gt, rcond=None)
        return float(scale), float(shift)
    raise MetricInputError(f"unknown depth alignment {mode!r}; choose one of: {', '.join(DEPTH_ALIGNMENTS)}")


def depth_metrics(pred: np.ndarray, gt: np.ndarray, align: DepthAlignment = "scale",
                  max_depth: float | None = None) -> dict[str, float]:
    """Depth errors of one sequence. ``pred``, ``gt``: ``(F, H, W)`` or ``(H, W)`` metres (gt 0 =
    invalid); ``pred`` is resized bilinearly to gt's size if they differ.

    Returns ``abs_rel, sq_rel, rmse, log_rmse, delta_1, delta_2, delta_3`` (fractions), the
    ``scale`` / ``shift`` applied, and ``valid_pixels``.
    """
    pred, gt = _as_frames(pred, "predicted"), _as_frames(gt, "ground-truth")
    if len(pred) != len(gt):
        raise MetricInputError(f"predicted depth has {len(pred)} frames but ground truth has {len(gt)}; "
                               "pass the same frames")
    if not np.isfinite(pred).all():
        raise MetricInputError("predicted depth holds non-finite values; replace them with 0 or drop "
                               "the frames")
    pred = _resize_like(pred, gt.shape[1:])
    valid = np.isfinite(gt) & (gt > 0)
    if max_depth is not None:
        valid &= gt < max_depth
    if not valid.any():
        raise MetricInputError("ground-truth depth has no valid pixels (0 < depth < max depth); check the "
                               "file and --max-depth")
    p, g = pred[valid], gt[valid]
    scale, shift = align_depth(p, g, align)
    p = np.maximum(p * scale + shift, 1e-5)
    ratio = np.maximum(p / g, g / p)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "sq_rel": float(np.mean((p - g) ** 2 / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "log_rmse": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        "delta_1": float(np.mean(ratio < 1.25)),
        "delta_2": float(np.mean(ratio < 1.25 ** 2)),
        "delta_3": float(np.mean(ratio < 1.25 ** 3)),
        "scale": scale,
        "shift": shift,
        "valid_pixels": int(valid.sum()),
    }


def pose_metrics(c2w_est: np.ndarray, c2w_gt: np.ndarray) -> dict[str, float]:
    """ATE, RPE translation and RPE rotation (degrees, consecutive frames) after Sim(3) Umeyama
    alignment; ``(F, 4, 4)`` camera-to-world each. Delegates to :mod:`aether.codecs.trajectory`."""
    from aether.core.clip import check_c2w

    est, gt = np.asarray(c2w_est, np.float64), np.asarray(c2w_gt, np.float64)
    for label, c2w in (("estimated", est), ("ground-truth", gt)):
        if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
            raise MetricInputError(f"{label} poses must have shape (F, 4, 4); got {c2w.shape}")
        check_c2w(c2w, f"{label} poses")
    if len(est) != len(gt):
        raise MetricInputError(f"{len(est)} estimated poses but {len(gt)} ground-truth poses; "
                               "trajectories must have one pose per frame each")
    if len(est) < 3:
        raise MetricInputError(f"pose metrics need at least 3 poses for a Sim(3) alignment; got {len(est)}")
    from aether.codecs.trajectory import pose_metrics as codec_pose_metrics

    return {name: float(value) for name, value in codec_pose_metrics(est, gt).items()}


def _check_videos(pred: np.ndarray, gt: np.ndarray) -> None:
    for label, video in (("predicted", pred), ("ground-truth", gt)):
        if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise MetricInputError(f"{label} video must be uint8 (F, H, W, 3); "
                                   f"got {video.dtype} {video.shape}")
    if pred.shape != gt.shape:
        raise MetricInputError(f"predicted video {pred.shape} and ground truth {gt.shape} differ in shape; "
                               "compare videos with the same frame count and size")


def _lpips(pred, gt) -> tuple[float | None, str | None]:
    """Mean LPIPS (AlexNet) over frames, or None and why when it cannot run offline."""
    import torch

    try:
        import lpips
    except ImportError:
        return None, "LPIPS skipped: the `lpips` package is not installed"
    # lpips downloads torchvision's AlexNet on first use; we only run it when already cached
    cached = Path(torch.hub.get_dir()) / "checkpoints"
    if not any(cached.glob("alexnet-*.pth")):
        return None, f"LPIPS skipped: AlexNet weights not found in {cached}"
    model = lpips.LPIPS(net="alex", verbose=False)
    with torch.no_grad():
        return float(model(pred * 2 - 1, gt * 2 - 1).mean()), None


def video_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float | None | list[str]]:
    """Frame-averaged PSNR (dB), SSIM, MS-SSIM and LPIPS of uint8 videos ``(F, H, W, 3)``.

    MS-SSIM needs frames of at least 161 px on each side and LPIPS the ``lpips`` package with
    cached weights; otherwise they are None and ``notes`` says why.
    """
    import torch
    from pytorch_msssim import ms_ssim, ssim

    pred, gt = np.asarray(pred), np.asarray(gt)
    _check_videos(pred, gt)
    mse = ((pred.astype(np.float64) - gt.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        psnr = 10 * np.log10(255.0 ** 2 / mse)  # identical frames give +inf, as is conventional
    x = torch.from_numpy(pred).permute(0, 3, 1, 2).double()
    y = torch.from_numpy(gt).permute(0, 3, 1, 2).double()
    notes: list[str] = []
    result: dict[str, float | None | list[str]] = {
        "psnr": float(psnr.mean()),
        "ssim": float(ssim(x, y, data_range=255, size_average=True)),
        "ms_ssim": None,
        "lpips": None,
    }
    if min(pred.shape[1:3]) >= MS_SSIM_MIN_SIDE:
        result["ms_ssim"] = float(ms_ssim(x, y, data_range=255, size_average=True))
    else:
        notes.append(f"MS-SSIM skipped: frames must be at least {MS_SSIM_MIN_SIDE} px on each side")
    result["lpips"], note = _lpips(x.float() / 255, y.float() / 255)
    if note:
        notes.append(note)
    result["notes"] = notes
    return result
