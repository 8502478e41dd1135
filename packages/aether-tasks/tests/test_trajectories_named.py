import numpy as np
import pytest

from aether.core.clip import check_c2w
from aether.tasks.trajectories import TrajectoryError, named_trajectory, trajectory_names


@pytest.mark.parametrize("name", trajectory_names())
def test_every_trajectory_starts_at_identity_and_is_rigid(name):
    c2w = named_trajectory(name, 9)
    assert c2w.shape == (9, 4, 4) and c2w.dtype == np.float64
    np.testing.assert_array_equal(c2w[0], np.eye(4))
    check_c2w(c2w, name)


@pytest.mark.parametrize("name, axis, sign", [
    ("forward", 2, 1), ("backward", 2, -1), ("right", 0, 1), ("left", 0, -1), ("up", 1, -1), ("down", 1, 1)])
def test_translations_move_along_opencv_axes(name, axis, sign):
    c2w = named_trajectory(name, 5, step=0.25)
    expected = np.zeros(3)
    expected[axis] = sign * 1.0
    np.testing.assert_allclose(c2w[4, :3, 3], expected, atol=1e-12)
    np.testing.assert_allclose(c2w[:, :3, :3], np.tile(np.eye(3), (5, 1, 1)), atol=1e-12)


@pytest.mark.parametrize("name, expected_forward", [
    ("turn-left", [-1, 0, 0]), ("turn-right", [1, 0, 0]), ("look-up", [0, -1, 0]), ("look-down", [0, 1, 0])])
def test_rotations_turn_the_optical_axis(name, expected_forward):
    c2w = named_trajectory(name, 10, degrees=10.0)  # 90 degrees at frame 9
    np.testing.assert_allclose(c2w[9, :3, 2], expected_forward, atol=1e-12)
    np.testing.assert_allclose(c2w[:, :3, 3], 0.0)


@pytest.mark.parametrize("name, x_sign", [("orbit-left", -1), ("orbit-right", 1), ("orbit", -1)])
def test_orbit_keeps_its_centre_on_the_optical_axis(name, x_sign):
    c2w = named_trajectory(name, 7, degrees=15.0, radius=2.0)
    centre_in_cameras = np.einsum("fij,j->fi", np.linalg.inv(c2w), [0.0, 0.0, 2.0, 1.0])[:, :3]
    np.testing.assert_allclose(centre_in_cameras, np.tile([0.0, 0.0, 2.0], (7, 1)), atol=1e-12)
    assert np.sign(c2w[6, 0, 3]) == x_sign


def test_unknown_name_lists_the_names():
    with pytest.raises(TrajectoryError, match=r"unknown trajectory 'spin'; choose one of: backward, down"):
        named_trajectory("spin", 5)
    with pytest.raises(TrajectoryError, match="num_frames must be a positive integer"):
        named_trajectory("forward", 0)
