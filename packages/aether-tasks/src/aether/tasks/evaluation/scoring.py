"""A reconstruction scored against its ground truth next to trivial baselines: depth Abs Rel and δ<1.25 after
per-clip scale & shift alignment (the protocol for diffusion depth) against a constant depth, ATE / RPE after
Sim(3) alignment against a camera that never moves."""

from __future__ import annotations

import warnings

import numpy as np

from aether.codecs.trajectory import pose_metrics as trajectory_metrics
from aether.tasks.evaluation.errors import MetricInputError
from aether.tasks.evaluation.metrics import depth_metrics, pose_metrics
from aether.tasks.result import TaskResult

POSE_KEYS = ("ate", "rpe_trans", "rpe_rot_deg")


def static_camera_metrics(c2w_gt: np.ndarray) -> dict[str, float]:
    """ATE / RPE (RMSE) of a camera that never moves against ``c2w_gt (F, 4, 4)``: the best placement of one
    point is the path's centroid (no scale can move it, so SE(3) alignment), and each step misses the true
    relative motion."""
    static = np.tile(np.eye(4), (len(c2w_gt), 1, 1))
    return {key: value for key, value in trajectory_metrics(static, c2w_gt, align="se3").items() if key in POSE_KEYS}


def score_reconstruction(result: TaskResult, depth_gt: np.ndarray, c2w_gt: np.ndarray) -> dict[str, dict[str, float | None]]:
    """``{"model": {...}, "baseline": {...}}``: ``abs_rel``, ``delta_1`` of ``result.depth`` against
    ``depth_gt (F, H, W)`` (0 = invalid) and ``ate``, ``rpe_trans``, ``rpe_rot_deg`` of ``result.c2w`` against
    ``c2w_gt (F, 4, 4)``; the baseline is a constant depth and a static camera. A depth the protocol cannot
    score (e.g. a barely trained model's, falling where the truth rises: a negative alignment scale) gets
    ``None`` and a warning that says why, instead of stopping the evaluation of the other metrics and clips."""
    scores = {}
    for name, depth in (("model", result.depth), ("baseline", np.ones_like(depth_gt))):
        try:
            metrics = depth_metrics(depth, depth_gt, align="scale-shift")
        except MetricInputError as error:
            warnings.warn(f"{name} depth not scored: {error}", stacklevel=2)
            metrics = {"abs_rel": None, "delta_1": None}
        scores[name] = {"abs_rel": metrics["abs_rel"], "delta_1": metrics["delta_1"]}
    scores["model"].update({key: value for key, value in pose_metrics(result.c2w, c2w_gt).items() if key in POSE_KEYS})
    scores["baseline"].update(static_camera_metrics(c2w_gt))
    return scores
