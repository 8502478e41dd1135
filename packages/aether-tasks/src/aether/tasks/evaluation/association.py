"""Pairing an estimated trajectory with its ground truth by timestamp, the way evo does it
(``evo.core.sync.associate_trajectories``, nearest time): every pose of the shorter trajectory is
matched to the nearest pose in time of the longer one, within ``max_diff`` seconds, after adding
``offset`` to the estimate's timestamps. Unmatched poses are dropped. :func:`pair_poses` chooses
between this and pairing by index.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from aether.tasks.evaluation.errors import MetricInputError
from aether.tasks.evaluation.trajectory_files import Trajectory

Match = Literal["auto", "time", "index"]


def _nearest(short: np.ndarray, long: np.ndarray, max_diff: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(i_short, i_long)`` of each stamp of ``short (S,)`` whose nearest stamp of the sorted
    ``long (L,)`` lies within ``max_diff``; on a tie the earlier stamp wins, as in evo."""
    upper = np.minimum(np.searchsorted(long, short, side="right"), len(long) - 1)
    diff_ub = long[upper] - short
    diff_lb = np.where(upper > 0, short - long[np.maximum(upper - 1, 0)], np.inf)
    take_ub = (diff_ub <= max_diff) & (diff_ub < diff_lb)
    take_lb = ~take_ub & (diff_lb <= max_diff) & (diff_lb <= diff_ub)
    # evo skips stamps outside [long[0] - max_diff, long[-1] + max_diff] before searching
    inside = (short >= long[0] - max_diff) & (short <= long[-1] + max_diff)
    keep = inside & (take_ub | take_lb)
    return np.flatnonzero(keep), np.where(take_ub, upper, upper - 1)[keep]


def associate(stamps_est: np.ndarray, stamps_gt: np.ndarray, max_diff: float = 0.01,
              offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Matched index pairs ``(i_est (M,), i_gt (M,))`` of timestamps ``stamps_est (N,)`` (plus
    ``offset``) and ``stamps_gt (G,)``, ordered by the shorter trajectory's stamps.

    Like evo, the offset is applied to whichever side is searched (``+offset`` on the estimate or
    ``-offset`` on the ground truth), so the pairs are the ones ``evo_ape --t_max_diff --t_offset``
    finds. Raises :class:`MetricInputError` when nothing matches.
    """
    est, gt = np.asarray(stamps_est, np.float64), np.asarray(stamps_gt, np.float64)
    if not (np.isfinite(est).all() and np.isfinite(gt).all()):
        raise MetricInputError("trajectory timestamps hold non-finite values")
    est_longer = len(est) > len(gt)
    short, long = (gt, est + offset) if est_longer else (est, gt - offset)
    # evo bisects sorted stamps (and scans unsorted ones); sorting first lets both be bisected
    order = np.argsort(long, kind="stable")
    i_short, i_sorted = _nearest(short, long[order], max_diff)
    i_long = order[i_sorted]
    if len(i_short) == 0:
        raise MetricInputError(
            f"no timestamps match within --max-diff {max_diff:g} s (offset {offset:g} s): the estimate spans "
            f"{est.min():.3f}-{est.max():.3f} s, the ground truth {gt.min():.3f}-{gt.max():.3f} s; pass "
            "--offset, a larger --max-diff, or --match index")
    return (i_long, i_short) if est_longer else (i_short, i_long)


def _check_unique(stamps: np.ndarray, label: str) -> None:
    """Two poses at one time make the nearest-time pairing pick one of them arbitrarily (and a frame whose
    stamp was overwritten goes unpaired): refuse them rather than score the wrong pairs."""
    values, counts = np.unique(stamps, return_counts=True)
    if (counts > 1).any():
        raise MetricInputError(f"the {label} trajectory holds {int((counts > 1).sum())} timestamp(s) with more than "
                               f"one pose (first {values[counts > 1][0]:.6f} s); keep one pose per timestamp, or "
                               "pass --match index")


def pair_poses(est: Trajectory, gt: Trajectory, match: Match = "auto", max_diff: float = 0.01,
               offset: float = 0.0) -> tuple[str, np.ndarray, np.ndarray]:
    """How the poses were paired (``"time"`` or ``"index"``) and the pairs ``(i_est (M,), i_gt (M,))``.

    ``auto`` pairs by time when both trajectories carry timestamps (TUM), else by index, which needs
    one pose per frame on each side.
    """
    timed = est.timestamps is not None and gt.timestamps is not None
    if match == "auto":
        match = "time" if timed else "index"
    if match == "time":
        if not timed:
            raise MetricInputError("--match time needs timestamps in both trajectories (TUM files); "
                                   "KITTI, ScanNet and .npy poses are paired by index")
        for label, stamps in (("estimated", est.timestamps), ("ground-truth", gt.timestamps)):
            _check_unique(stamps, label)
        return match, *associate(est.timestamps, gt.timestamps, max_diff, offset)
    if len(est.c2w) != len(gt.c2w):
        raise MetricInputError(f"{len(est.c2w)} estimated poses but {len(gt.c2w)} ground-truth poses to pair by "
                               "index; give both one pose per frame, or TUM files to match by timestamp")
    return match, np.arange(len(gt.c2w)), np.arange(len(gt.c2w))
