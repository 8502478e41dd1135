"""Camera utilities against SciPy and hand-computed transforms."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from aether.codecs import cameras
from aether.codecs.errors import CodecError


def _poses(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.random(n, random_state=seed).as_matrix()
    c2w[:, :3, 3] = rng.normal(size=(n, 3))
    return c2w


def test_quaternions_match_scipy_and_round_trip():
    rots = Rotation.random(50, random_state=3)
    quat = cameras.matrix_to_quaternion(rots.as_matrix())
    ref = rots.as_quat() * np.sign(rots.as_quat()[:, 3:])
    np.testing.assert_allclose(quat, ref, atol=1e-12)
    np.testing.assert_allclose(cameras.quaternion_to_matrix(quat), rots.as_matrix(), atol=1e-12)
    as_torch = cameras.quaternion_to_matrix(torch.tensor(quat, dtype=torch.float32))
    assert as_torch.dtype == torch.float32 and as_torch.shape == (50, 3, 3)
    # 90 degrees about z by hand: (x, y, z, w) = (0, 0, sin 45, cos 45)
    np.testing.assert_allclose(cameras.quaternion_to_matrix(np.array([0, 0, np.sqrt(0.5), np.sqrt(0.5)])),
                               [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    with pytest.raises(CodecError, match="non-zero"):
        cameras.quaternion_to_matrix(np.zeros(4))


def test_invert_pose_numpy_and_torch():
    c2w = _poses(6)
    np.testing.assert_allclose(cameras.invert_pose(c2w), np.linalg.inv(c2w), atol=1e-12)
    t = torch.tensor(c2w)
    torch.testing.assert_close(cameras.invert_pose(t) @ t, torch.eye(4, dtype=t.dtype).expand(6, 4, 4))


def test_opencv_opengl_flip_is_involution_and_flips_axes():
    c2w = _poses(3)
    gl = cameras.opencv_to_opengl(c2w)
    np.testing.assert_allclose(gl[:, :3, 0], c2w[:, :3, 0])
    np.testing.assert_allclose(gl[:, :3, 1:3], -c2w[:, :3, 1:3])
    np.testing.assert_allclose(gl[:, :3, 3], c2w[:, :3, 3])
    np.testing.assert_allclose(cameras.opengl_to_opencv(gl), c2w)


def test_relative_to_first_makes_first_identity_and_keeps_relative_motion():
    c2w = _poses(5)
    rel = cameras.relative_to_first(c2w)
    np.testing.assert_allclose(rel[0], np.eye(4), atol=1e-12)
    np.testing.assert_allclose(np.linalg.inv(rel[1]) @ rel[3], np.linalg.inv(c2w[1]) @ c2w[3], atol=1e-12)


def test_tum_round_trip(tmp_path):
    c2w, ts = _poses(7), np.arange(7) * 0.1 + 5
    path = cameras.write_tum(tmp_path / "traj.txt", ts, c2w)
    ts2, c2w2 = cameras.read_tum(path)
    np.testing.assert_allclose(ts2, ts, atol=1e-9)
    np.testing.assert_allclose(c2w2, c2w, atol=1e-8)
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    with pytest.raises(CodecError, match="8 numbers"):
        cameras.read_tum(tmp_path / "bad.txt")
    with pytest.raises(CodecError, match="does not exist"):
        cameras.read_tum(tmp_path / "missing.txt")


def test_camera_batch_validates():
    c2w = torch.tensor(_poses(4)).reshape(2, 2, 4, 4)
    K = torch.tensor([[100.0, 0, 32], [0, 100, 24], [0, 0, 1]], dtype=torch.float64).expand(2, 2, 3, 3)
    batch = cameras.CameraBatch(c2w, K)
    torch.testing.assert_close(batch.w2c @ c2w, torch.eye(4, dtype=c2w.dtype).expand(2, 2, 4, 4))
    torch.testing.assert_close(batch.relative_to_first().c2w[:, 0],
                               torch.eye(4, dtype=c2w.dtype).expand(2, 4, 4))
    bad_K = K.clone()
    bad_K[0, 1, 0, 0] = 0
    with pytest.raises(CodecError, match="focal"):
        cameras.CameraBatch(c2w, bad_K)
    nan = c2w.clone()
    nan[1, 1, 0, 3] = float("nan")
    with pytest.raises(CodecError, match="NaN"):
        cameras.CameraBatch(nan, K)
    scaled = c2w.clone()
    scaled[..., :3, :3] *= 2
    with pytest.raises(CodecError, match="orthonormal"):
        cameras.CameraBatch(scaled, K)
