import json

import numpy as np
import pytest

from aether.core.media import read_image, read_video
from aether.tasks.outputs import OPENCV_TO_GLTF, OutputConfig, OutputError, colorize, write_outputs
from aether.tasks.trajectories import named_trajectory

pytest.importorskip("aether.codecs.pointmap")
pytest.importorskip("aether.codecs.cameras")

F, H, W = 5, 24, 32


def make_result():
    from aether.tasks.result import TaskResult

    rng = np.random.default_rng(0)
    depth = rng.uniform(1.0, 3.0, (F, H, W)).astype(np.float32)
    depth[0, 0, 0] = 0.0  # one invalid pixel
    inv = np.where(depth > 0, 1 / np.maximum(depth, 1e-6), 0)
    K = np.tile([[30.0, 0, W / 2], [0, 30.0, H / 2], [0, 0, 1]], (F, 1, 1))
    # smooth colours, so that H.264 round trips them closely
    ramp = np.linspace(0, 200, W)[None, None, :, None] + np.array([0, 20, 40])
    rgb = (ramp + 10 * np.arange(F)[:, None, None, None] + np.zeros((F, H, W, 3))).astype(np.uint8)
    return TaskResult(rgb=rgb, depth=depth,
                      disparity=(inv / inv.max()).astype(np.float32), c2w=named_trajectory("orbit-left", F),
                      K=K, fps=10.0, task="reconstruction")


def test_write_outputs_and_read_everything_back(tmp_path):
    import trimesh

    from aether.codecs.cameras import read_tum

    result = make_result()
    manifest = write_outputs(result, tmp_path / "out")
    out = tmp_path / "out"
    assert json.loads((out / "result.json").read_text()) == manifest
    assert all((out / rel).is_file() for rel in manifest["files"].values())
    assert sorted(p.name for p in out.iterdir()) == sorted([*manifest["files"].values(), "result.json"])
    assert manifest["num_frames"] == F and manifest["shapes"]["depth"] == [F, H, W]

    rgb, fps = read_video(out / manifest["files"]["rgb_video"])
    assert rgb.shape == (F, H, W, 3) and fps == 10.0
    assert np.abs(rgb.astype(int) - result.rgb).mean() < 3  # H.264 is lossy
    disparity, _ = read_video(out / manifest["files"]["disparity_video"])
    assert disparity.shape == (F, H, W, 3)
    np.testing.assert_array_equal(np.load(out / manifest["files"]["depth"]), result.depth)

    stamps, c2w = read_tum(out / manifest["files"]["trajectory_tum"])
    np.testing.assert_allclose(stamps, np.arange(F) / 10.0, atol=1e-6)
    np.testing.assert_allclose(c2w, result.c2w, atol=1e-6)
    intrinsics = json.loads((out / manifest["files"]["intrinsics"]).read_text())
    assert (intrinsics["width"], intrinsics["height"]) == (W, H)
    np.testing.assert_allclose(intrinsics["K"], result.K)

    # every valid pixel kept (fewer than max_points), in frame-major raster order
    ply = trimesh.load(out / manifest["files"]["points_ply"])
    assert len(ply.vertices) == F * H * W - 1 == manifest["shapes"]["points"][0]
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    rays = np.stack([(u - W / 2) / 30.0, (v - H / 2) / 30.0, np.ones_like(u, float)], -1)
    frame1 = rays * result.depth[1, ..., None]
    frame1 = frame1 @ result.c2w[1, :3, :3].T + result.c2w[1, :3, 3]
    start = H * W - 1
    np.testing.assert_allclose(ply.vertices[start:start + H * W], frame1.reshape(-1, 3), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ply.colors[start:start + H * W, :3], result.rgb[1].reshape(-1, 3))

    scene = trimesh.load(out / manifest["files"]["scene_glb"])
    placed = {type(g).__name__: g for g in scene.dump(concatenate=False)}  # with node transforms applied
    np.testing.assert_allclose(placed["PointCloud"].vertices, ply.vertices @ OPENCV_TO_GLTF[:3, :3].T,
                               rtol=1e-5, atol=1e-5)
    frusta = placed["Path3D"].vertices
    assert np.isclose(frusta, 0).all(1).any()  # the first camera's apex sits at the origin
    assert manifest["shapes"]["frusta"] == F

    plot = read_image(out / manifest["files"]["trajectory_plot"])
    assert plot.ndim == 3 and plot.shape[2] == 3 and plot.std() > 0


def test_point_cap_and_name(tmp_path):
    manifest = write_outputs(make_result(), tmp_path, name="clip7", config=OutputConfig(max_points=50))
    assert manifest["shapes"]["points"] == [50, 3]
    assert (tmp_path / "clip7.json").is_file() and manifest["files"]["points_ply"] == "clip7_points.ply"


def test_ground_truth_overlay_plot(tmp_path):
    pytest.importorskip("aether.codecs.trajectory")
    result = make_result()
    gt = result.c2w.copy()
    gt[:, :3, 3] *= 3.0
    manifest = write_outputs(result, tmp_path, gt_c2w=gt)
    assert (tmp_path / manifest["files"]["trajectory_plot"]).is_file()


def test_inconsistent_result_writes_nothing(tmp_path):
    result = make_result()
    result.K = result.K[:3]
    with pytest.raises(OutputError, match=r"field 'K' has shape \(3, 3, 3\); expected \(5, 3, 3\)"):
        write_outputs(result, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_colorize_endpoints_follow_the_colormap():
    import matplotlib

    colours = colorize(np.array([0.0, 1.0, 2.0]), "viridis")
    expected = (np.array(matplotlib.colormaps["viridis"]([0.0, 1.0]))[:, :3] * 255).round()
    np.testing.assert_array_equal(colours, expected[[0, 1, 1]])
    with pytest.raises(OutputError, match="unknown matplotlib colormap 'nope'"):
        colorize(np.zeros(3), "nope")


def test_ground_truth_of_wrong_length_is_rejected_before_writing(tmp_path):
    result = make_result()
    with pytest.raises(OutputError, match=r"ground-truth poses \(3, 4, 4\) do not match"):
        write_outputs(result, tmp_path / "out", gt_c2w=result.c2w[:3])
    assert not (tmp_path / "out").exists()


def test_the_scene_leaves_out_points_far_beyond_the_scene(tmp_path):
    """A few pixels at the disparity floor (1000x deeper) stay in the PLY but not in the GLB a viewer frames."""
    import trimesh
    result = make_result()
    result.depth[0, 1, :3] = 1000.0 * np.median(result.depth)
    manifest = write_outputs(result, tmp_path)
    ply = trimesh.load(tmp_path / manifest["files"]["points_ply"])
    scene = trimesh.load(tmp_path / manifest["files"]["scene_glb"])
    glb = {type(g).__name__: g for g in scene.dump(concatenate=False)}["PointCloud"]
    deep = ply.vertices[:, 2] > 100 * np.median(result.depth)  # the first camera is the world: z is depth
    assert deep.sum() == 3 and len(glb.vertices) == len(ply.vertices) - 3
    np.testing.assert_allclose(glb.vertices, ply.vertices[~deep] @ OPENCV_TO_GLTF[:3, :3].T, rtol=1e-5, atol=1e-5)
