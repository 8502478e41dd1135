"""Score the trained model on a held-out clip next to a trivial baseline for every metric.

- reconstruction (the whole clip observed): depth Abs Rel and δ<1.25 after per-clip scale & shift
  alignment (the protocol for diffusion depth) vs a constant depth; ATE / RPE after Sim(3) alignment vs
  a static camera (for which every alignment leaves the spread of the true path around its centroid);
- prediction (first frame + the true camera path) and planning (first and last frames + the path):
  PSNR / SSIM of the frames that were not given vs repeating the observation frame.
"""

from __future__ import annotations

import numpy as np

import torch
from aether.codecs.cameras import relative_to_first
from aether.codecs.depth import max_disparity
from aether.core.clip import Clip
from aether.tasks.evaluation import scoring
from aether.tasks.evaluation.metrics import video_metrics
from aether.tasks.result import TaskResult

# metric -> True when higher is better
METRICS = {"abs_rel": False, "delta_1": True, "ate": False, "rpe_trans": False, "rpe_rot_deg": False,
           "psnr": True, "ssim": True}
TASK_METRICS = {"reconstruction": ("abs_rel", "delta_1", "ate", "rpe_trans", "rpe_rot_deg"),
                "prediction": ("psnr", "ssim"), "planning": ("psnr", "ssim")}


def ground_truth_action(clip: Clip) -> tuple[np.ndarray, np.ndarray, float]:
    """The clip's cameras as the model was trained to read them: ``c2w (F, 4, 4)`` relative to the first frame,
    ``K (F, 3, 3)`` and the clip's ``p_max`` (the depth codec's unit, by which training scaled translations):
    the arguments of :meth:`AetherPipeline.action_from_cameras`."""
    return (relative_to_first(np.asarray(clip.c2w, np.float64)), np.asarray(clip.K, np.float64),
            float(max_disparity(torch.from_numpy(clip.depth))))


def score_reconstruction(result: TaskResult, clip: Clip) -> dict[str, dict[str, float]]:
    """``{"model": {...}, "baseline": {...}}`` for a reconstruction of the whole ``clip``."""
    return scoring.score_reconstruction(result, clip.depth, relative_to_first(np.asarray(clip.c2w, np.float64)))


def score_generation(result: TaskResult, clip: Clip, given: list[int]) -> dict[str, dict[str, float]]:
    """PSNR / SSIM of the frames of ``result`` not in ``given`` (the observed frame indices) against the
    clip, for the model and for repeating the observation frame."""
    hidden = [i for i in range(clip.num_frames) if i not in given]
    repeated = np.repeat(clip.rgb[:1], len(hidden), axis=0)
    scores = {}
    for name, video in (("model", result.rgb[hidden]), ("baseline", repeated)):
        metrics = video_metrics(video, clip.rgb[hidden])
        scores[name] = {"psnr": metrics["psnr"], "ssim": metrics["ssim"]}
    return scores


def model_wins(scores: dict[str, dict[str, float | None]]) -> dict[str, bool]:
    """Per metric, whether the model beat the baseline (strictly); a model value that could not be scored
    (None) never wins."""
    def beats(model: float | None, baseline: float | None, higher: bool) -> bool:
        if model is None:
            return False
        if baseline is None:
            return True
        return model > baseline if higher else model < baseline

    return {key: beats(scores["model"][key], scores["baseline"][key], METRICS[key]) for key in scores["model"]}


def mean_scores(per_clip: list[dict[str, dict[str, dict[str, float | None]]]]
                ) -> dict[str, dict[str, dict[str, float | None]]]:
    """Average ``[{task: {"model"|"baseline": {metric: value}}}]`` over the clips that could be scored (None
    where none could)."""
    def mean(values: list[float | None]) -> float | None:
        scored = [value for value in values if value is not None]
        return float(np.mean(scored)) if scored else None

    return {task: {who: {key: mean([clip[task][who][key] for clip in per_clip])
                         for key in per_clip[0][task][who]} for who in ("model", "baseline")}
            for task in per_clip[0]}
