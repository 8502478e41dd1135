"""Scoring one benchmark sequence: finding a method's prediction for it and comparing it with the
ground truth by the protocol (docs/FORMATS.md#long-videos-and-evaluation).

A method's predictions lie under one folder as ``<dataset>/<seq>``: anything ``aether eval`` reads
(an ``aether reconstruct`` output folder, a folder of per-frame depth files such as CUT3R's
``frame_0000.npy``, a trajectory file), or ``<dataset>/<seq>.npy`` / ``.npz`` / ``.txt``; for pose
also CUT3R's and MonST3R's ``<dataset>/<seq>/pred_traj.txt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aether.core.frame_folders import frame_files
from aether.tasks.evaluation.benchmark_datasets import IMAGE_SUFFIXES, Sequence, read_ground_truth
from aether.tasks.evaluation.errors import MetricInputError
from aether.tasks.evaluation.trajectory_files import Trajectory
from aether.tasks.evaluation.depth_alignment import DepthAlignment
from aether.tasks.evaluation.metrics import Resize
from aether.tasks.evaluation.result_files import result_file

PREDICTION_SUFFIXES = (".npy", ".npz", ".txt")
CUT3R_TRAJECTORY = "pred_traj.txt"


def find_prediction(root: Path, sequence: Sequence) -> Path | None:
    """The prediction of ``sequence`` under a method's folder ``root``, or None."""
    base = root / sequence.layout.name / sequence.name
    if base.is_dir() and sequence.layout.task == "pose" and (base / CUT3R_TRAJECTORY).is_file() \
            and result_file(base, "trajectory_tum") is None:
        return base / CUT3R_TRAJECTORY
    if base.exists():
        return base
    return next((c for c in (base.with_name(base.name + s) for s in PREDICTION_SUFFIXES) if c.is_file()), None)


def _check_ground_truth(sequence: Sequence, gt: np.ndarray | Trajectory) -> None:
    """One ground-truth depth map or pose per frame, depth of the frames' size: a missing or extra file
    would pair the rest with the wrong frames, and a map of another size is not the frames' depth."""
    import cv2

    frames = frame_files(sequence.frames, IMAGE_SUFFIXES)
    what = "depth maps" if sequence.layout.task == "depth" else "poses"
    count = len(gt.c2w) if isinstance(gt, Trajectory) else 1 if np.ndim(gt) == 2 else len(gt)
    if count != len(frames):
        raise MetricInputError(f"{sequence.gt}: {count} ground-truth {what} for {len(frames)} frames in "
                               f"{sequence.frames}; the sequence is incomplete, prepare it again with CUT3R's scripts")
    first = cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED) if isinstance(gt, np.ndarray) else None
    if first is not None and first.shape[:2] != np.shape(gt)[-2:]:
        raise MetricInputError(f"{sequence.gt}: ground-truth depth is {np.shape(gt)[-1]}x{np.shape(gt)[-2]} but the "
                               f"frames in {sequence.frames} are {first.shape[1]}x{first.shape[0]}; the dataset is "
                               "damaged or mixed up, prepare it again with CUT3R's scripts")


def score_sequence(prediction: Path, sequence: Sequence, align: DepthAlignment = "l1-scale-shift",
                   resize: Resize = "bicubic") -> dict[str, Any]:
    """The metrics of ``prediction`` against ``sequence``'s ground truth: depth metrics after the
    per-sequence ``align`` (with the dataset's max depth; ``valid_pixels`` is the sequence's weight),
    or ATE / RPE after Sim(3) alignment, poses paired by index (one per frame on each side)."""
    gt = read_ground_truth(sequence)
    _check_ground_truth(sequence, gt)
    if sequence.layout.task == "depth":
        from aether.tasks.evaluation.depth_files import read_depth
        from aether.tasks.evaluation.metrics import depth_metrics

        return depth_metrics(read_depth(prediction), gt, align=align, max_depth=sequence.layout.max_depth,
                             resize=resize)
    from aether.tasks.evaluation.association import pair_poses
    from aether.tasks.evaluation.metrics import pose_metrics
    from aether.tasks.evaluation.trajectory_files import read_trajectory

    est = read_trajectory(prediction)
    _, i_est, i_gt = pair_poses(est, gt, "index")
    return pose_metrics(est.c2w[i_est], gt.c2w[i_gt])
