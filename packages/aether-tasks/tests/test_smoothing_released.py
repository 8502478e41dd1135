"""The release demo's camera smoothing (``method="released"``), against that procedure rebuilt on the libraries
the release runs it with: filterpy's 6-state ``KalmanFilter`` (Joseph-form update) and SciPy's
``gaussian_filter1d``; its static test and window by hand; and what it does to clean motion."""

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation

from aether.tasks.smoothing import SmoothingConfig, released_static_window, smooth_trajectory

RELEASED = SmoothingConfig(method="released", anchor_first=False)


def gaussian_poses(c2w, window):
    """Centres and quaternions (each sign-flipped towards the previous one) through gaussian_filter1d."""
    quats = Rotation.from_matrix(c2w[:, :3, :3]).as_quat()
    for i in range(1, len(quats)):
        quats[i] *= np.sign(quats[i] @ quats[i - 1]) or 1
    quats = gaussian_filter1d(quats, window / 6, axis=0, mode="nearest")
    out = np.tile(np.eye(4), (len(c2w), 1, 1))
    out[:, :3, :3] = Rotation.from_quat(quats / np.linalg.norm(quats, axis=1)[:, None]).as_matrix()
    out[:, :3, 3] = gaussian_filter1d(c2w[:, :3, 3], window / 6, axis=0, mode="nearest")
    return out


def reference(c2w, window=None):
    """The release's procedure: a static path (``window`` given) is Gaussian-filtered; a moving one gets
    pre-filtered centres through a constant-velocity Kalman filter (R = Q = 0.1 I, P = I, at rest on the first
    centre, no update there) and each quaternion the normalised weighted mean of its 5 neighbours."""
    if window is not None:
        return gaussian_poses(c2w, window)
    centres = gaussian_poses(c2w, 5)[:, :3, 3]
    kf = KalmanFilter(dim_x=6, dim_z=3)
    kf.F = np.eye(6) + np.eye(6, k=3)
    kf.H = np.eye(3, 6)
    kf.R *= 0.1
    kf.Q *= 0.1
    kf.x = np.r_[centres[0], 0, 0, 0]
    filtered = [centres[0]]
    for z in centres[1:]:
        kf.predict()
        kf.update(z)
        filtered.append(kf.x[:3].copy())
    quats = Rotation.from_matrix(c2w[:, :3, :3]).as_quat()
    means = []
    for i in range(len(quats)):
        js = range(max(0, i - 2), min(len(quats), i + 3))
        w = np.array([np.exp(-0.5 * (j - i) ** 2) for j in js])
        q = sum(wj / w.sum() * (quats[j] if quats[j] @ quats[i] >= 0 else -quats[j]) for wj, j in zip(w, js))
        means.append(q / np.linalg.norm(q))
    out = np.tile(np.eye(4), (len(c2w), 1, 1))
    out[:, :3, :3] = Rotation.from_quat(means).as_matrix()
    out[:, :3, 3] = filtered
    return out


def path(n, step, turn, noise, seed=0):
    """``n`` poses moving ``step`` per frame along a curve and turning ``turn`` radians per frame about a
    tilted axis, with Gaussian noise of ``noise`` on centres and rotation vectors."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    centres = step * np.stack([t, 0.3 * t * np.sin(t / 7), 0.1 * t], 1)
    rotations = Rotation.from_rotvec(np.outer(turn * t, [0.2, 1.0, 0.1]) / np.linalg.norm([0.2, 1.0, 0.1]))
    out = np.tile(np.eye(4), (n, 1, 1))
    out[:, :3, :3] = (rotations * Rotation.from_rotvec(noise * rng.normal(size=(n, 3)))).as_matrix()
    out[:, :3, 3] = centres + noise * rng.normal(size=(n, 3))
    return out


@pytest.mark.parametrize("n", [41, 6])
def test_a_moving_path_is_the_release_kalman_and_quaternion_window(n):
    c2w = path(n, step=0.05, turn=0.03, noise=0.01)
    assert released_static_window(c2w) is None
    np.testing.assert_allclose(smooth_trajectory(c2w, RELEASED), reference(c2w), atol=1e-10)


def straight(n, step, turn):
    """``n`` noise-free poses moving ``step`` per frame along y and turning so that consecutive rotation
    matrices differ by ``turn`` (Frobenius: ``|R(a) - I|_F = 2 sqrt(2) sin(a / 2)``)."""
    c2w = path(n, step=0.0, turn=2 * np.arcsin(turn / (2 * np.sqrt(2))), noise=0.0)
    c2w[:, :3, 3] = step * np.arange(n)[:, None] * np.array([0.0, 1.0, 0.0])
    return c2w


@pytest.mark.parametrize("step, turn, window", [
    (0.008, 0.007, 33),     # int(5 * 0.1 / 0.015)
    (0.0095, 0.0095, 26),   # int(26.3): even, where the release stops on an assertion; sigma stays window / 6
    (0.001, 0.001, 41),     # int(250), clipped to 41
    (0.0101, 0.001, None),  # a step of 0.01 or more is motion
    (0.001, 0.0101, None),
])
def test_a_near_static_path_is_gaussian_filtered_over_the_release_window(step, turn, window):
    c2w = straight(41, step, turn)
    assert released_static_window(c2w) == window
    if window is not None:
        noisy = c2w @ path(41, step=0.0, turn=0.0, noise=0.0003, seed=2)  # noise too small to change the window
        assert released_static_window(noisy) == window
        np.testing.assert_allclose(smooth_trajectory(noisy, RELEASED), reference(noisy, window), atol=1e-12)


def test_it_commutes_with_a_rigid_change_of_frame_and_anchors_like_rts():
    c2w = path(30, step=0.05, turn=0.03, noise=0.01, seed=1)
    move = np.eye(4)
    move[:3, :3] = Rotation.from_rotvec([0.3, -1.1, 0.4]).as_matrix()
    move[:3, 3] = [2.0, -1.0, 0.5]
    np.testing.assert_allclose(smooth_trajectory(move @ c2w, RELEASED), move @ smooth_trajectory(c2w, RELEASED),
                               atol=1e-10)
    anchored = smooth_trajectory(c2w, SmoothingConfig(method="released"))
    np.testing.assert_allclose(anchored[0], np.eye(4), atol=1e-12)
    raw = smooth_trajectory(c2w, RELEASED)
    np.testing.assert_allclose(anchored, np.linalg.inv(raw[0]) @ raw, atol=1e-12)


def test_on_clean_motion_rts_is_exact_and_the_released_filter_errs_at_the_ends():
    c2w = straight(41, 0.05, 0.0)  # constant velocity
    np.testing.assert_allclose(smooth_trajectory(c2w, SmoothingConfig(anchor_first=False)), c2w, atol=1e-9)
    error = np.abs(smooth_trajectory(c2w, RELEASED)[:, 1, 3] - c2w[:, 1, 3]) / 0.05  # in steps
    # the pre-filter repeats the edge frames, pulling the first centre forward and the last back
    assert error[0] > 0.25 and error[-1] > 0.2
    assert error[8:-3].max() < 1e-3
