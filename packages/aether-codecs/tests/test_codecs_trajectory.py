"""Umeyama alignment and pose metrics agree with the evo package."""

import copy

import numpy as np
import pytest
from evo.core import metrics
from evo.core.trajectory import PoseTrajectory3D
from scipy.spatial.transform import Rotation

from aether.codecs import trajectory
from aether.codecs.errors import CodecError


def _traj(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.random(n, random_state=seed).as_matrix()
    c2w[:, :3, 3] = np.cumsum(rng.normal(size=(n, 3)), 0)
    return c2w


def _evo(c2w: np.ndarray) -> PoseTrajectory3D:
    return PoseTrajectory3D(poses_se3=list(c2w), timestamps=np.arange(len(c2w), dtype=float))


def test_umeyama_recovers_known_similarity():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(20, 3))
    R = Rotation.random(random_state=2).as_matrix()
    s, Rf, t = trajectory.umeyama(src, 2.5 * src @ R.T + [1, 2, 3])
    assert s == pytest.approx(2.5, rel=1e-12)
    np.testing.assert_allclose(Rf, R, atol=1e-12)
    np.testing.assert_allclose(t, [1, 2, 3], atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pose_metrics_match_evo(seed):
    gt = _traj(15, seed)
    est = _traj(15, seed + 10)
    est[:, :3, 3] = 0.3 * gt[:, :3, 3] + 0.2 * est[:, :3, 3]  # correlated, different scale
    ours = trajectory.pose_metrics(est, gt)

    ref, aligned = _evo(gt), copy.deepcopy(_evo(est))
    aligned.align(ref, correct_scale=True)
    np.testing.assert_allclose(trajectory.align_trajectory(est, gt), np.stack(aligned.poses_se3), atol=1e-9)
    expected = {}
    for key, metric in [("ate", metrics.APE(metrics.PoseRelation.translation_part)),
                        ("rpe_trans", metrics.RPE(metrics.PoseRelation.translation_part)),
                        ("rpe_rot_deg", metrics.RPE(metrics.PoseRelation.rotation_angle_deg))]:
        metric.process_data((ref, aligned))
        expected[key] = metric.get_statistic(metrics.StatisticsType.rmse)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key


def test_alignment_modes_and_errors():
    gt = _traj(8, 4)
    np.testing.assert_allclose(trajectory.align_trajectory(gt, gt, "se3"), gt, atol=1e-9)
    half = gt.copy()
    half[:, :3, 3] *= 0.5
    np.testing.assert_allclose(trajectory.align_trajectory(half, gt, "scale"), gt, atol=1e-9)
    assert trajectory.pose_metrics(half, gt)["ate"] == pytest.approx(0, abs=1e-9)
    with pytest.raises(CodecError, match="alignment mode"):
        trajectory.align_trajectory(gt, gt, "affine")
    with pytest.raises(CodecError, match="equal length"):
        trajectory.pose_metrics(gt[:3], gt)


def test_tiny_rotation_errors_are_accurate():
    gt = _traj(6, 5)
    est = gt.copy()
    est[3, :3, :3] = est[3, :3, :3] @ Rotation.from_rotvec([1e-7, 0, 0]).as_matrix()
    # frame 3 differs by 1e-7 rad: two relative motions err by that angle, RMSE over 5 pairs
    expected = np.degrees(1e-7) * np.sqrt(2 / 5)
    assert trajectory.pose_metrics(est, gt)["rpe_rot_deg"] == pytest.approx(expected, rel=1e-4)
