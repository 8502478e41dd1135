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

from aether.tasks.evaluation.benchmark_datasets import Sequence, read_ground_truth
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


def score_sequence(prediction: Path, sequence: Sequence, align: DepthAlignment = "l1-scale-shift",
                   resize: Resize = "bicubic") -> dict[str, Any]:
    """The metrics of ``prediction`` against ``sequence``'s ground truth: depth metrics after the
    per-sequence ``align`` (with the dataset's max depth; ``valid_pixels`` is the sequence's weight),
    or ATE / RPE after Sim(3) alignment, poses paired by index (one per frame on each side)."""
    gt = read_ground_truth(sequence)
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
