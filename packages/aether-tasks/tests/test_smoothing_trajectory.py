import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aether.core.errors import ClipError
from aether.tasks.smoothing import (SmoothingConfig, kalman_smooth_positions, kalman_smooth_rotations,
                                    smooth_trajectory)


def constant_velocity(n=60):
    """Poses moving at constant velocity and constant angular velocity; first pose identity."""
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(np.outer(np.arange(n), [0.01, 0.03, -0.02])).as_matrix()
    c2w[:, :3, 3] = np.outer(np.arange(n), [0.05, -0.01, 0.1])
    return c2w


def test_clean_constant_velocity_trajectory_is_unchanged():
    c2w = constant_velocity()
    np.testing.assert_allclose(smooth_trajectory(c2w), c2w, atol=1e-9)


def test_noise_is_reduced_on_translation_and_rotation():
    clean = constant_velocity()
    rng = np.random.default_rng(0)
    noisy = clean.copy()
    noisy[1:, :3, 3] += rng.normal(0, 0.05, (59, 3))
    noisy[1:, :3, :3] = Rotation.from_rotvec(rng.normal(0, 0.02, (59, 3))).as_matrix() @ noisy[1:, :3, :3]
    out = smooth_trajectory(noisy, SmoothingConfig(anchor_first=False))

    def errors(c2w):
        t = np.linalg.norm(c2w[:, :3, 3] - clean[:, :3, 3], axis=1).mean()
        r = (Rotation.from_matrix(c2w[:, :3, :3]).inv() * Rotation.from_matrix(clean[:, :3, :3])).magnitude()
        return t, r.mean()

    (t_noisy, r_noisy), (t_out, r_out) = errors(noisy), errors(out)
    assert t_out < 0.5 * t_noisy and r_out < 0.6 * r_noisy


def test_kalman_is_scale_equivariant_and_passes_lines_through():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(30, 3))
    np.testing.assert_allclose(kalman_smooth_positions(1000 * z), 1000 * kalman_smooth_positions(z),
                               rtol=1e-9)
    line = np.outer(np.arange(10.0), [1.0, 2.0]) + 3.0
    np.testing.assert_allclose(kalman_smooth_positions(line), line, atol=1e-9)


def test_rotation_past_half_a_turn_stays_exact():
    # 600 degrees about one axis: rotation vectors wrap at 180 degrees, the unwrapped tangent path does not
    rot = Rotation.from_rotvec(np.outer(np.radians(6.0) * np.arange(100), [0.6, 0.8, 0.0])).as_matrix()
    np.testing.assert_allclose(kalman_smooth_rotations(rot), rot, atol=1e-9)


def test_rotation_ends_are_denoised_too():
    # a window mean keeps the first and last orientations as measured; the Kalman smoother does not
    rng = np.random.default_rng(3)
    n, trials = 17, 200
    clean = Rotation.from_rotvec(np.outer(np.radians(1.5) * np.arange(n), [0, 1, 0]))
    raw, smoothed = [], []
    for _ in range(trials):
        noisy = Rotation.from_rotvec(rng.normal(0, np.radians(1.0), (n, 3))) * clean
        out = Rotation.from_matrix(kalman_smooth_rotations(noisy.as_matrix()))
        raw.append((noisy.inv() * clean).magnitude()[[0, -1]])
        smoothed.append((out.inv() * clean).magnitude()[[0, -1]])
    assert np.all(np.mean(smoothed, 0) < 0.8 * np.mean(raw, 0))


def test_bad_input_is_rejected():
    bad = constant_velocity(5)
    bad[2, 0, 0] = 2.0
    with pytest.raises(ClipError, match="frame 2 is not orthonormal"):
        smooth_trajectory(bad)
    with pytest.raises(ValueError, match=r"\(F, 4, 4\)"):
        smooth_trajectory(np.zeros((3, 3, 3)))


def test_smooth_result_changes_only_the_cameras():
    from aether.tasks.result import TaskResult
    from aether.tasks.smoothing import smooth_result

    rng = np.random.default_rng(2)
    c2w = constant_velocity(9)
    c2w[:, :3, 3] += rng.normal(scale=0.02, size=(9, 3))
    result = TaskResult(rgb=np.zeros((9, 8, 8, 3), np.uint8), depth=np.ones((9, 8, 8)), disparity=np.ones((9, 8, 8)),
                        c2w=c2w, K=np.tile(np.eye(3), (9, 1, 1)), fps=10.0, task="prediction")
    out = smooth_result(result)
    np.testing.assert_allclose(out.c2w, smooth_trajectory(c2w))
    assert out.task == "prediction" and out.fps == 10.0 and out.rgb is result.rgb and out.depth is result.depth
