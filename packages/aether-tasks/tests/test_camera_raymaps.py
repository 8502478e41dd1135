"""`aether camera raymap | decode | show`: the release's (F, 6, 60, 90) raymap both ways, and the motion
summary and warnings of `show` on paths whose image motion is known."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aether.codecs.cameras import write_tum
from aether.core.cli import main
from aether.tasks.motion import describe_motion
from aether.tasks.pipeline import default_intrinsics

H, W = 480, 720


def path(n=9, seed=0, step=0.1):
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(np.cumsum(rng.normal(0, 0.03, (n, 3)), 0)).as_matrix()
    c2w[:, :3, 3] = np.cumsum(rng.normal(0, step, (n, 3)), 0)
    return np.linalg.inv(c2w[0]) @ c2w


def release_raymap(c2w, K, p_max):
    """docs/FORMATS.md#raymap-codec written out in NumPy, independently of our encoder: z = 1 rays of the
    full-resolution integer pixel grid rotated into the world, then bilinear /8 (align_corners=False: the mean of the 2x2
    pixels around 8i + 3.5, exact for a field affine in the pixel), and signed_log1p(t p_max 10)."""
    u, v = np.meshgrid(np.arange(W // 8) * 8 + 3.5, np.arange(H // 8) * 8 + 3.5)
    out = np.empty((len(c2w), 6, H // 8, W // 8))
    for f, (pose, k) in enumerate(zip(c2w, K)):
        rays = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones_like(u)])
        out[f, :3] = np.einsum("ij,jhw->ihw", pose[:3, :3], rays)
        t = pose[:3, 3] * p_max * 10
        out[f, 3:] = (np.sign(t) * np.log1p(np.abs(t)))[:, None, None]
    return out.astype(np.float32)


def test_raymap_written_in_the_release_format_and_decoded_back(tmp_path, capsys):
    c2w = path()
    np.save(tmp_path / "poses.npy", c2w)
    assert main(["camera", "raymap", str(tmp_path / "poses.npy"), "--fov", "70", "--scene-depth", "2.5",
                 "--out", str(tmp_path / "raymap.npy")]) == 0
    rays = np.load(tmp_path / "raymap.npy")
    assert rays.shape == (9, 6, 60, 90) and rays.dtype == np.float32
    expected = release_raymap(c2w, default_intrinsics(9, H, W, 70.0), 1 / 2.5)
    np.testing.assert_allclose(rays, expected, atol=2e-6)
    assert main(["camera", "decode", str(tmp_path / "raymap.npy"), "--scene-depth", "2.5",
                 "--out", str(tmp_path / "back.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "back.npy"), c2w, atol=2e-5)
    focal = 360 / np.tan(np.radians(35))
    assert f"median fx {focal:.2f} fy {focal:.2f} cx 359.50 cy 239.50" in capsys.readouterr().out


def test_a_raymap_made_as_the_release_makes_it_decodes_to_its_cameras(tmp_path, capsys):
    c2w = path(seed=1)
    K = np.tile([[600.0, 0, 350.0], [0, 590.0, 245.0], [0, 0, 1]], (9, 1, 1))
    np.save(tmp_path / "release.npy", release_raymap(c2w, K, 1.0))
    assert main(["camera", "decode", str(tmp_path / "release.npy"), "--out", str(tmp_path / "traj.txt")]) == 0
    from aether.codecs.cameras import read_tum

    timestamps, back = read_tum(tmp_path / "traj.txt")
    np.testing.assert_allclose(back, c2w, atol=2e-5)
    np.testing.assert_allclose(timestamps, np.arange(9) / 12)
    assert "median fx 600.00 fy 590.00 cx 350.00 cy 245.00" in capsys.readouterr().out


def test_image_motion_of_a_sideways_step_is_focal_times_step_over_depth():
    """Points at one depth D all move by f t / D pixels under a sideways step t."""
    c2w = np.tile(np.eye(4), (5, 1, 1))
    c2w[:, 0, 3] = np.arange(5) * 0.02
    K = default_intrinsics(5, H, W, 60.0)
    summary = describe_motion(c2w, K, H, W, p_max=1 / 4.0)
    focal = K[0, 0, 0]
    assert summary.max_frame_pixels == pytest.approx(focal * 0.02 / 4.0, rel=1e-9)
    assert summary.clip_pixels == pytest.approx(focal * 0.08 / 4.0, rel=1e-9)
    assert summary.max_step_model_units == pytest.approx(0.005) and summary.max_step_raymap == pytest.approx(0.05)
    assert summary.translation == pytest.approx(0.08) and summary.rotation_deg == 0
    assert summary.warnings() == []


def test_show_warns_when_the_motion_will_not_show_or_is_implausible(tmp_path, capsys):
    """The #10 symptom: a metric path of millimetre steps in a room whose nearest wall is 3 m away."""
    c2w = np.tile(np.eye(4), (9, 1, 1))
    c2w[:, 2, 3] = np.arange(9) * 0.001
    write_tum(tmp_path / "slow.txt", np.arange(9) / 12, c2w)
    assert main(["camera", "show", str(tmp_path / "slow.txt"), "--scene-depth", "3",
                 "--plot", str(tmp_path / "views.png")]) == 0
    out = capsys.readouterr()
    assert "translation: 0.008 first to last" in out.out and (tmp_path / "views.png").stat().st_size > 0
    assert "warning: the camera motion is too small to show" in out.err
    # with a surface 1.5 mm away, each 1 mm step goes two thirds of the way to it: implausible
    assert main(["camera", "show", str(tmp_path / "slow.txt"), "--scene-depth", "0.0015"]) == 0
    out = capsys.readouterr()
    assert "too small" not in out.err and "warning: the camera motion is implausibly large" in out.err
    # 3 cm away, the 8 mm path shows without being implausible: no warning
    assert main(["camera", "show", str(tmp_path / "slow.txt"), "--scene-depth", "0.03"]) == 0
    assert "warning" not in capsys.readouterr().err
