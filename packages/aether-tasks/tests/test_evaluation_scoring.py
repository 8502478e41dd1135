"""Scoring a reconstruction next to trivial baselines: the static-camera baseline by hand, a perfect result."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aether.tasks.evaluation.scoring import score_reconstruction, static_camera_metrics
from aether.tasks.result import TaskResult

F, H, W = 9, 16, 24


def _path() -> np.ndarray:
    rng = np.random.default_rng(0)
    c2w = np.tile(np.eye(4), (F, 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(np.cumsum(rng.normal(scale=0.05, size=(F, 3)), axis=0)).as_matrix()
    c2w[:, :3, 3] = np.cumsum(rng.normal(size=(F, 3)), axis=0) + [5.0, 0, 0]
    return c2w


def test_static_camera_baseline_by_hand():
    gt = _path()
    centres = gt[:, :3, 3]
    metrics = static_camera_metrics(gt)
    # the best placement of a fixed point is the centroid of the true path
    ate = np.sqrt(np.mean(np.sum((centres - centres.mean(0)) ** 2, axis=1)))
    assert metrics["ate"] == pytest.approx(ate, rel=1e-6)
    # every step of a static camera misses the true relative motion
    steps = np.linalg.inv(gt[:-1]) @ gt[1:]
    rpe = np.sqrt(np.mean(np.sum(steps[:, :3, 3] ** 2, axis=1)))
    angles = np.degrees(Rotation.from_matrix(steps[:, :3, :3]).magnitude())
    assert metrics["rpe_trans"] == pytest.approx(rpe, rel=1e-6)
    assert metrics["rpe_rot_deg"] == pytest.approx(np.sqrt(np.mean(angles ** 2)), rel=1e-6)


def test_an_exact_reconstruction_scores_perfectly_and_the_baselines_do_not():
    gt = _path()
    rel = np.linalg.inv(gt[:1]) @ gt
    depth = np.random.default_rng(1).uniform(2.0, 6.0, (F, H, W)).astype(np.float32)
    perfect = TaskResult(rgb=np.zeros((F, H, W, 3), np.uint8), depth=depth * 3.0 + 1.0,
                         disparity=np.zeros((F, H, W)), c2w=rel, K=np.tile(np.eye(3), (F, 1, 1)),
                         fps=12.0)
    scores = score_reconstruction(perfect, depth, rel)
    assert scores["model"]["abs_rel"] == pytest.approx(0.0, abs=1e-6) and scores["model"]["delta_1"] == 1.0
    assert scores["model"]["ate"] == pytest.approx(0.0, abs=1e-9)
    assert scores["baseline"]["abs_rel"] > 0.1 and scores["baseline"]["ate"] == static_camera_metrics(rel)["ate"]
