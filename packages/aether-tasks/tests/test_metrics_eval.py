import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aether.tasks.evaluation.metrics import MetricInputError, depth_metrics, pose_metrics, video_metrics

GT = np.array([[1.0, 2.0], [4.0, 0.0]])      # 0 = invalid pixel
PRED = np.array([[2.0, 2.0], [2.0, 5.0]])


def test_depth_metrics_hand_computed():
    m = depth_metrics(PRED, GT, align="none")
    # valid pairs (pred, gt): (2, 1), (2, 2), (2, 4)
    assert m["abs_rel"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert m["sq_rel"] == pytest.approx((1 + 0 + 1) / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert m["log_rmse"] == pytest.approx(math.log(2) * math.sqrt(2 / 3))
    assert (m["delta_1"], m["delta_2"], m["delta_3"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert m["valid_pixels"] == 3


def test_median_scale_alignment():
    m = depth_metrics(PRED, GT, align="scale")  # median(gt) = median(pred) = 2 -> scale 1
    assert m["scale"] == 1.0 and m["abs_rel"] == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 10, (3, 4, 5))
    m = depth_metrics(gt / 7.0, gt, align="scale")
    assert m["scale"] == pytest.approx(7.0) and m["abs_rel"] == pytest.approx(0, abs=1e-12)
    assert m["delta_1"] == 1.0


def test_scale_shift_alignment_is_least_squares():
    rng = np.random.default_rng(1)
    gt = rng.uniform(1, 10, (2, 6, 6))
    m = depth_metrics(0.5 * gt + 3.0, gt, align="scale-shift")
    assert (m["scale"], m["shift"]) == pytest.approx((2.0, -6.0))
    assert m["rmse"] == pytest.approx(0, abs=1e-9)
    # with noise: matches numpy's polyfit of gt on pred
    pred = gt + rng.normal(0, 0.5, gt.shape)
    m = depth_metrics(pred, gt, align="scale-shift")
    assert (m["scale"], m["shift"]) == pytest.approx(tuple(np.polyfit(pred.ravel(), gt.ravel(), 1)))


def test_max_depth_cap_and_resize():
    gt = np.array([[[1.0, 2.0], [3.0, 80.0]]])
    pred = np.full((1, 1, 1), 2.0)  # resized bilinearly to (2, 2): constant stays constant
    m = depth_metrics(pred, gt, align="none", max_depth=70.0)
    assert m["valid_pixels"] == 3
    assert m["abs_rel"] == pytest.approx((1 + 0 + 1 / 3) / 3)


@pytest.mark.parametrize("pred, gt, message", [
    (np.ones((2, 3, 3)), np.ones((3, 3, 3)), "2 frames but ground truth has 3"),
    (np.full((3, 3), np.nan), np.ones((3, 3)), "non-finite"),
    (np.ones((3, 3)), np.zeros((3, 3)), "no valid pixels"),
    (np.ones((1, 1, 3, 3)), np.ones((3, 3)), r"\(F, H, W\) or \(H, W\)"),
])
def test_bad_depth_input(pred, gt, message):
    with pytest.raises(MetricInputError, match=message):
        depth_metrics(pred, gt)


def random_trajectory(n, seed):
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(np.cumsum(rng.normal(0, 0.1, (n, 3)), 0)).as_matrix()
    c2w[:, :3, 3] = np.cumsum(rng.normal(0, 0.3, (n, 3)), 0)
    return c2w


def test_pose_metrics_agree_with_evo():
    pytest.importorskip("aether.codecs.trajectory")
    from evo.core import metrics
    from evo.core.trajectory import PoseTrajectory3D
    from evo.main_ape import ape
    from evo.main_rpe import rpe

    gt = random_trajectory(20, 0)
    sim3 = np.eye(4)
    sim3[:3, :3] = 2.5 * Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    sim3[:3, 3] = [1.0, -2.0, 0.5]
    est = sim3 @ gt
    est[:, :3, :3] /= 2.5
    noisy = random_trajectory(20, 1)
    est[:, :3, 3] += 0.05 * noisy[:, :3, 3]
    jitter = Rotation.from_rotvec(np.random.default_rng(2).normal(0, 0.02, (20, 3))).as_matrix()
    est[:, :3, :3] = jitter @ est[:, :3, :3]

    stamps = np.arange(20, dtype=float)
    traj = lambda c2w: PoseTrajectory3D(poses_se3=list(c2w), timestamps=stamps)  # noqa: E731
    kwargs = dict(align=True, correct_scale=True)
    ate = ape(traj(gt), traj(est), metrics.PoseRelation.translation_part, **kwargs).stats["rmse"]
    rpe_kwargs = dict(delta=1, delta_unit=metrics.Unit.frames, all_pairs=False, **kwargs)
    rpe_t = rpe(traj(gt), traj(est), metrics.PoseRelation.translation_part, **rpe_kwargs).stats["rmse"]
    rpe_r = rpe(traj(gt), traj(est), metrics.PoseRelation.rotation_angle_deg, **rpe_kwargs).stats["rmse"]

    ours = pose_metrics(est, gt)
    assert ours["ate"] == pytest.approx(ate, abs=1e-6)
    assert ours["rpe_trans"] == pytest.approx(rpe_t, abs=1e-6)
    assert ours["rpe_rot_deg"] == pytest.approx(rpe_r, abs=1e-6)


def test_pose_metrics_reject_mismatched_counts():
    with pytest.raises(MetricInputError, match="5 estimated poses but 6 ground-truth poses"):
        pose_metrics(random_trajectory(5, 0), random_trajectory(6, 0))


def test_video_metrics_hand_computed():
    gt = np.full((2, 170, 180, 3), 100, np.uint8)
    pred = gt.copy()
    pred[0] += 10          # MSE 100 -> PSNR 10 log10(255^2 / 100)
    pred[1] += 1           # MSE 1   -> PSNR 10 log10(255^2)
    m = video_metrics(pred, gt)
    expected = (10 * math.log10(255 ** 2 / 100) + 10 * math.log10(255 ** 2)) / 2
    assert m["psnr"] == pytest.approx(expected)
    # constant images: SSIM reduces to the luminance term (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    c1 = (0.01 * 255) ** 2
    lum = lambda a, b: (2 * a * b + c1) / (a * a + b * b + c1)  # noqa: E731
    assert m["ssim"] == pytest.approx((lum(110, 100) + lum(101, 100)) / 2, rel=1e-6)
    assert 0.9 < m["ms_ssim"] <= 1.0
    same = video_metrics(gt[:, :32, :32], gt[:, :32, :32])
    assert same["psnr"] == math.inf and same["ssim"] == pytest.approx(1.0)
    assert same["ms_ssim"] is None and any("MS-SSIM skipped" in n for n in same["notes"])


def test_video_metrics_reject_shape_mismatch():
    with pytest.raises(MetricInputError, match="differ in shape"):
        video_metrics(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 8, 8, 3), np.uint8))
