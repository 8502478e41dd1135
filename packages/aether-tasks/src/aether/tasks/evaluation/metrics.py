"""Evaluation metrics (docs/FORMATS.md#long-videos-and-evaluation): video depth and camera pose as in
CUT3R / MonST3R, and generated-video quality (PSNR, SSIM, MS-SSIM, LPIPS when available locally).

Depth follows the release's evaluation (CUT3R's code): the prediction is resized to the ground
truth's size (bicubic by default); valid pixels have ``0 < gt < max_depth``; one alignment per
sequence, all frames together (:mod:`.depth_alignment`); the aligned prediction is clipped at
``max_depth``; Abs Rel, Sq Rel and RMSE use it as is, log RMSE and the δ thresholds after clamping
it at 1e-5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from aether.tasks.evaluation.depth_alignment import DEPTH_ALIGNMENTS, DepthAlignment, fit_depth_alignment
from aether.tasks.evaluation.errors import MetricInputError
from aether.codecs.align_modes import AlignMode as PoseAlignment

Resize = Literal["bicubic", "bilinear", "nearest"]
RESIZES = ("bicubic", "bilinear", "nearest")
MS_SSIM_MIN_SIDE = 161  # pytorch-msssim's 5-scale pyramid with an 11-px window needs > (11 - 1) * 2**4
SSIM_MIN_SIDE = 11  # the 11-px Gaussian window; pytorch-msssim silently drops it (or fails) on smaller frames
LPIPS_MIN_SIDE = 31  # LPIPS' AlexNet pools twice after a stride-4 convolution: smaller frames pool to nothing

__all__ = ["DEPTH_ALIGNMENTS", "RESIZES", "DepthAlignment", "MetricInputError", "depth_metrics", "pose_metrics",
           "video_metrics"]


def _as_frames(depth: np.ndarray, label: str) -> np.ndarray:
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim == 2:
        depth = depth[None]
    if depth.ndim != 3 or 0 in depth.shape[1:]:  # an empty map would reach cv2.resize, which fails
        raise MetricInputError(f"{label} depth must be (F, H, W) or (H, W) with H, W >= 1; got shape {depth.shape}")
    return depth


def _resize_like(pred: np.ndarray, shape: tuple[int, int], method: Resize) -> np.ndarray:
    """Every frame of ``pred (F, h, w)`` resized to ``shape`` by cv2 (the release: bicubic)."""
    import cv2

    if pred.shape[1:] == shape:
        return pred
    if method not in RESIZES:
        raise MetricInputError(f"unknown resize {method!r}; choose one of: {', '.join(RESIZES)}")
    flag = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}[method]
    return np.stack([cv2.resize(f, (shape[1], shape[0]), interpolation=flag) for f in pred])


def _check_prediction(pred: np.ndarray) -> None:
    """Depth is finite and >= 0 (0 = no prediction): a negated or NaN-filled map is an error, not a
    score (a negative scale would otherwise turn a negated prediction into a perfect one)."""
    if not np.isfinite(pred).all():
        raise MetricInputError("predicted depth holds non-finite values; replace them with 0 or drop the frames")
    if (pred < 0).any():
        raise MetricInputError(f"predicted depth holds negative values (min {pred.min():.4g}); pass depth, "
                               "not a negated or signed map")


def depth_metrics(pred: np.ndarray, gt: np.ndarray, align: DepthAlignment = "l1-scale-shift",
                  max_depth: float | None = None, resize: Resize = "bicubic") -> dict[str, float]:
    """Depth errors of one sequence. ``pred``, ``gt``: ``(F, H, W)`` or ``(H, W)`` (gt 0 = invalid);
    ``pred`` is resized to gt's size by ``resize`` if they differ.

    Returns ``abs_rel, sq_rel, rmse, log_rmse, delta_1, delta_2, delta_3`` (fractions), the
    ``scale`` / ``shift`` applied, and ``valid_pixels``.
    """
    pred, gt = _as_frames(pred, "predicted"), _as_frames(gt, "ground-truth")
    if len(pred) != len(gt):
        raise MetricInputError(f"predicted depth has {len(pred)} frames but ground truth has {len(gt)}; "
                               "pass the same frames")
    _check_prediction(pred)
    pred = _resize_like(pred, gt.shape[1:], resize)
    valid = np.isfinite(gt) & (gt > 0)
    if max_depth is not None:
        valid &= gt < max_depth
    if not valid.any():
        raise MetricInputError("ground-truth depth has no valid pixels (0 < depth < max depth); check the "
                               "file, --png-scale and --max-depth")
    p, g = pred[valid], gt[valid]
    if not (p > 0).any():
        raise MetricInputError("predicted depth is 0 (invalid) wherever the ground truth is valid; nothing to "
                               "evaluate")
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero median / mean: inf or NaN, rejected next
        scale, shift = fit_depth_alignment(p, g, align)
    if not (np.isfinite(scale) and scale > 0 and np.isfinite(shift)):
        raise MetricInputError(f"the {align} alignment gave scale {scale:.4g}, shift {shift:.4g}; a scale must "
                               "be finite and positive (is the prediction mostly 0, or disparity?)")
    p = p * scale + shift
    if max_depth is not None:
        p = np.minimum(p, max_depth)
    clamped = np.maximum(p, 1e-5)  # keeps the logs and ratios finite
    ratio = np.maximum(clamped / g, g / clamped)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "sq_rel": float(np.mean((p - g) ** 2 / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "log_rmse": float(np.sqrt(np.mean((np.log(clamped) - np.log(g)) ** 2))),
        "delta_1": float(np.mean(ratio < 1.25)),
        "delta_2": float(np.mean(ratio < 1.25 ** 2)),
        "delta_3": float(np.mean(ratio < 1.25 ** 3)),
        "scale": scale,
        "shift": shift,
        "valid_pixels": int(valid.sum()),
    }


def pose_metrics(c2w_est: np.ndarray, c2w_gt: np.ndarray, align: PoseAlignment = "sim3",
                 delta: int = 1) -> dict[str, float]:
    """ATE (APE of positions), RPE translation and RPE rotation (degrees) over pose pairs ``delta``
    frames apart, after ``align`` (evo's APE / RPE, :mod:`aether.codecs.trajectory`); ``(F, 4, 4)`` c2w each,
    already paired frame by frame.

    Keys ``ate``, ``rpe_trans``, ``rpe_rot_deg`` are the RMSEs (the protocol's figures); each also
    has ``_mean``, ``_median`` and ``_max``.
    """
    from aether.codecs.trajectory import pose_metrics as trajectory_metrics
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
    positions = gt[:, :3, 3]
    if align in ("sim3", "scale") and ((positions - positions.mean(0)) ** 2).sum(1).mean() < 1e-12:
        # the fitted scale would be 0, shrinking any estimate onto the still camera: ATE 0 for anything
        raise MetricInputError(f"the ground-truth camera does not move over the {len(gt)} paired poses, so a "
                               f"{align} alignment would shrink the estimate to a point; use --align se3 or none")
    if int(delta) != delta or not 1 <= delta < len(est):
        raise MetricInputError(f"--delta must be a whole number of frames from 1 to {len(est) - 1}; got {delta}")
    return trajectory_metrics(est, gt, align, int(delta))


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
        return None, "LPIPS skipped: the `lpips` package is not installed (pip install 'aether-tasks[lpips]')"
    if min(pred.shape[2:]) < LPIPS_MIN_SIDE:
        return None, f"LPIPS skipped: frames must be at least {LPIPS_MIN_SIDE} px on each side"
    # lpips downloads torchvision's AlexNet on first use; we only run it when already cached
    cached = Path(torch.hub.get_dir()) / "checkpoints"
    if not any(cached.glob("alexnet-*.pth")):
        return None, f"LPIPS skipped: AlexNet weights not found in {cached}"
    model = lpips.LPIPS(net="alex", verbose=False)
    with torch.no_grad():
        return float(model(pred * 2 - 1, gt * 2 - 1).mean()), None


def video_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float | None | list[str]]:
    """Frame-averaged PSNR (dB), SSIM, MS-SSIM and LPIPS of uint8 videos ``(F, H, W, 3)``.

    SSIM needs frames of at least 11 px on each side, MS-SSIM 161 px, LPIPS 31 px and the ``lpips``
    package with cached weights; otherwise they are None and ``notes`` says why. PSNR is +inf when a
    frame equals its ground truth exactly (a note counts them).
    """
    import torch
    from pytorch_msssim import ms_ssim, ssim

    pred, gt = np.ascontiguousarray(pred), np.ascontiguousarray(gt)  # torch refuses flipped (negative-stride) views
    _check_videos(pred, gt)
    mse = ((pred.astype(np.float64) - gt.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        psnr = 10 * np.log10(255.0 ** 2 / mse)  # identical frames give +inf, as is conventional
    x = torch.from_numpy(pred).permute(0, 3, 1, 2).double()
    y = torch.from_numpy(gt).permute(0, 3, 1, 2).double()
    notes: list[str] = []
    identical = int(np.isinf(psnr).sum())
    if identical:
        notes.append(f"PSNR is infinite: {identical} of {len(psnr)} frames equal the ground truth exactly")
    result: dict[str, float | None | list[str]] = {"psnr": float(psnr.mean()), "ssim": None, "ms_ssim": None,
                                                   "lpips": None}
    side = min(pred.shape[1:3])
    if side >= SSIM_MIN_SIDE:
        result["ssim"] = float(ssim(x, y, data_range=255, size_average=True))
    else:
        notes.append(f"SSIM skipped: frames must be at least {SSIM_MIN_SIDE} px on each side (its window)")
    if side >= MS_SSIM_MIN_SIDE:
        result["ms_ssim"] = float(ms_ssim(x, y, data_range=255, size_average=True))
    else:
        notes.append(f"MS-SSIM skipped: frames must be at least {MS_SSIM_MIN_SIDE} px on each side")
    result["lpips"], note = _lpips(x.float() / 255, y.float() / 255)
    if note:
        notes.append(note)
    result["notes"] = notes
    return result
