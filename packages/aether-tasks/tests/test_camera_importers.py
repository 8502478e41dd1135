"""`aether camera convert`: every importer on files written the way the original tool writes them, with
known poses, back in our convention (c2w, OpenCV axes, first pose the identity) to 1e-9."""

import json

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aether.core.cli import main
from aether.tasks.camera_paths import model_intrinsics, read_camera_path

GL = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV <-> OpenGL camera axes


def known_poses(n=5, seed=0):
    """``(n, 4, 4)`` OpenCV c2w poses in some world frame (first pose not the identity)."""
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(rng.normal(0, 0.6, (n, 3))).as_matrix()
    c2w[:, :3, 3] = rng.normal(0, 2.0, (n, 3))
    return c2w


def expected(c2w):
    return np.linalg.inv(c2w[0]) @ c2w


def convert(capsys, source, tmp_path, *options):
    out = tmp_path / "out.npy"
    code = main(["camera", "convert", str(source), str(out), "--to", "npy", *options])
    assert code == 0, capsys.readouterr().err
    return np.load(out)


def write_colmap(folder, c2w, model, params, binary):
    pycolmap = pytest.importorskip("pycolmap")
    rec = pycolmap.Reconstruction()
    camera = pycolmap.Camera.create_from_model_id(1, getattr(pycolmap.CameraModelId, model), 1.0, 640, 480)
    camera.params = params
    rec.add_camera_with_trivial_rig(camera)
    w2c = np.linalg.inv(c2w)
    # image ids in reverse frame order: the importer must order frames by image name
    for frame in reversed(range(len(c2w))):
        image = pycolmap.Image(image_id=len(c2w) - frame, name=f"frame_{frame:04d}.jpg", camera_id=1)
        rec.add_image_with_trivial_frame(image, pycolmap.Rigid3d(w2c[frame, :3]))
    folder.mkdir(parents=True)
    (rec.write_binary if binary else rec.write_text)(str(folder))
    return folder


@pytest.mark.parametrize("binary", [False, True])
def test_colmap_models_come_back_in_our_convention(tmp_path, capsys, binary):
    c2w = known_poses()
    folder = write_colmap(tmp_path / "sparse" / "0", c2w, "OPENCV", [500.0, 510.0, 330.0, 250.0, 0.1, 0, 0, 0],
                          binary)
    if not binary:  # an image with no 2-D points has an empty POINTS2D line, which must not shift the pairs
        assert "\n\n" in (folder / "images.txt").read_text()
    np.testing.assert_allclose(convert(capsys, tmp_path, tmp_path), expected(c2w), rtol=0, atol=1e-9)
    path = read_camera_path(tmp_path)
    assert path.size == (480, 640)
    # COLMAP's top-left pixel centre is (0.5, 0.5); ours (0, 0). Distortion is dropped.
    np.testing.assert_allclose(path.K[0], [[500, 0, 329.5], [0, 510, 249.5], [0, 0, 1]], atol=1e-12)


def test_colmap_single_focal_model_and_its_intrinsics_at_the_model_size(tmp_path):
    write_colmap(tmp_path / "m", known_poses(3), "SIMPLE_RADIAL", [500.0, 320.0, 240.0, 0.01], binary=False)
    path = read_camera_path(tmp_path / "m", "colmap")
    np.testing.assert_allclose(path.K[0], [[500, 0, 319.5], [0, 500, 239.5], [0, 0, 1]], atol=1e-12)
    # 640x480 covers 720x480 at scale 1.125 (720x540), then 30 rows are cropped off the top: a centred
    # principal point stays centred in our pixel coordinates
    K = model_intrinsics(path, 480, 720)
    np.testing.assert_allclose(K[0], [[562.5, 0, 359.5], [0, 562.5, 239.5], [0, 0, 1]], atol=1e-9)


def test_blender_transforms_json_with_camera_angle_x(tmp_path, capsys):
    """The original NeRF Blender scenes: OpenGL c2w, camera_angle_x, file paths without extension, image
    size only in the PNGs."""
    c2w = known_poses()
    (tmp_path / "train").mkdir()
    frames = []
    for i, pose in enumerate(c2w):
        cv2.imwrite(str(tmp_path / "train" / f"r_{i}.png"), np.zeros((40, 60, 3), np.uint8))
        frames.append({"file_path": f"./train/r_{i}", "rotation": 0.0126, "transform_matrix": (pose @ GL).tolist()})
    (tmp_path / "transforms.json").write_text(json.dumps({"camera_angle_x": 0.6911112070083618, "frames": frames}))
    np.testing.assert_allclose(convert(capsys, tmp_path / "transforms.json", tmp_path), expected(c2w),
                               rtol=0, atol=1e-9)
    path = read_camera_path(tmp_path)
    focal = 30 / np.tan(0.6911112070083618 / 2)
    assert path.size == (40, 60)
    np.testing.assert_allclose(path.K[0], [[focal, 0, 30], [0, focal, 20], [0, 0, 1]], atol=1e-9)


def test_instant_ngp_transforms_json_with_fl_x(tmp_path, capsys):
    c2w = known_poses(4, seed=1)
    meta = {"fl_x": 400.0, "fl_y": 410.0, "cx": 310.0, "cy": 235.0, "w": 640, "h": 480,
            "frames": [{"file_path": f"images/{i:04d}.jpg", "transform_matrix": (p @ GL).tolist()}
                       for i, p in enumerate(c2w)]}
    (tmp_path / "transforms.json").write_text(json.dumps(meta, indent=2))
    np.testing.assert_allclose(convert(capsys, tmp_path / "transforms.json", tmp_path, "--from", "nerf"),
                               expected(c2w), rtol=0, atol=1e-9)
    np.testing.assert_allclose(read_camera_path(tmp_path).K[0], [[400, 0, 310], [0, 410, 235], [0, 0, 1]])


def test_kitti_pose_lines(tmp_path, capsys):
    """KITTI odometry poses: 12 numbers a line, the 3x4 c2w row-major in scientific notation."""
    c2w = known_poses(6, seed=2)
    lines = [" ".join(f"{v:.17e}" for v in pose[:3].ravel()) for pose in c2w]
    (tmp_path / "00.txt").write_text("\n".join(lines) + "\n")
    np.testing.assert_allclose(convert(capsys, tmp_path / "00.txt", tmp_path), expected(c2w), rtol=0, atol=1e-9)


@pytest.mark.parametrize("fmt", ["npy", "opengl-c2w"])
def test_arrays_in_either_axis_convention(tmp_path, capsys, fmt):
    c2w = known_poses(5, seed=3)
    np.save(tmp_path / "poses.npy", c2w @ GL if fmt == "opengl-c2w" else c2w)
    np.testing.assert_allclose(convert(capsys, tmp_path / "poses.npy", tmp_path, "--from", fmt), expected(c2w),
                               rtol=0, atol=1e-9)


def test_tum_output_keeps_the_timestamps_of_a_tum_input(tmp_path, capsys):
    from aether.codecs.cameras import read_tum, write_tum

    c2w = known_poses(5, seed=4)
    write_tum(tmp_path / "in.txt", np.arange(5) * 0.1 + 3.0, c2w)
    assert main(["camera", "convert", str(tmp_path / "in.txt"), str(tmp_path / "out.txt"), "--to", "tum"]) == 0
    timestamps, poses = read_tum(tmp_path / "out.txt")
    np.testing.assert_allclose(timestamps, np.arange(5) * 0.1 + 3.0)
    np.testing.assert_allclose(poses, expected(c2w), atol=1e-7)  # TUM text holds 9 decimals


def test_an_unreadable_camera_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "poses.txt").write_text("1 2 3\n")
    assert main(["camera", "convert", str(tmp_path / "poses.txt"), str(tmp_path / "o.npy"), "--to", "npy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "pass --from" in err[0]


@pytest.mark.parametrize("spoil, message", [
    (lambda c2w: c2w[1, :3, :3].__imul__(2.0), "rotation of frame 1 is not orthonormal"),
    (lambda c2w: c2w[2, :3, :3].__imul__(-1.0), "rotation of frame 2 is a reflection"),
    (lambda c2w: c2w[0].__setitem__((0, 3), np.nan), "non-finite values"),
])
def test_poses_that_are_not_rigid_are_a_one_line_error(tmp_path, capsys, spoil, message):
    c2w = np.tile(np.eye(4), (3, 1, 1))
    spoil(c2w)
    np.save(tmp_path / "poses.npy", c2w)
    assert main(["camera", "convert", str(tmp_path / "poses.npy"), str(tmp_path / "o.npy"), "--to", "npy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o.npy").exists()
