import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aether.tasks.trajectories import named_trajectory
from aether.tasks.windows import (WindowError, plan_tiles, plan_windows, reconstruct_long,
                                  reconstruct_tiled)


def test_plan_windows_released_defaults():
    assert plan_windows(100) == [(0, 41), (24, 65), (48, 89), (59, 100)]
    assert plan_windows(41) == [(0, 41)]
    assert plan_windows(10) == [(0, 9), (1, 10)]  # shorter than a window: largest 4k + 1 that fits


@pytest.mark.parametrize("num_frames, window, stride", [(100, 41, 24), (57, 17, 8), (23, 9, 1), (5, 41, 24)])
def test_plan_windows_cover_every_frame_with_overlap(num_frames, window, stride):
    spans = plan_windows(num_frames, window, stride)
    assert spans[0][0] == 0 and spans[-1][1] == num_frames
    assert all((stop - start - 1) % 4 == 0 for start, stop in spans)
    assert all(b[0] < a[1] and b[1] > a[1] for a, b in zip(spans, spans[1:]))  # overlap, always progress


@pytest.mark.parametrize("args, message", [
    ((100, 40, 24), "window must be 4k \\+ 1"), ((4, 41, 24), "at least 5 frames"),
    ((100, 41, 41), "stride must be between 1 and window - 1 = 40")])
def test_plan_windows_rejects_bad_settings(args, message):
    with pytest.raises(WindowError, match=message):
        plan_windows(*args)


def random_trajectory(n, seed):
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(np.cumsum(rng.normal(0, 0.05, (n, 3)), 0)).as_matrix()
    c2w[:, :3, 3] = np.cumsum(rng.normal(0, 0.2, (n, 3)), 0)
    return np.linalg.inv(c2w[0]) @ c2w


def window_runner(c2w, depth, rng, calls):
    """A stand-in model: each window in its own frame (first camera identity), with its own
    random depth scale and an independent random translation scale."""
    from aether.tasks.result import TaskResult

    n, h, w = depth.shape
    K = np.tile([[10.0, 0, w / 2], [0, 10.0, h / 2], [0, 0, 1]], (n, 1, 1))
    rgb = rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)

    def run(start, stop):
        calls.append((start, stop))
        local = np.linalg.inv(c2w[start]) @ c2w[start:stop]
        local[:, :3, 3] *= rng.uniform(0.2, 5.0)
        d = (depth[start:stop] * rng.uniform(0.2, 5.0)).astype(np.float32)
        return TaskResult(rgb=rgb[start:stop], depth=d, disparity=(d.min() / d).astype(np.float32),
                          c2w=local, K=K[start:stop], fps=12.0, task="reconstruction")
    return run, rgb, K


@pytest.mark.parametrize("c2w", [random_trajectory(100, 0), named_trajectory("forward", 100)],
                         ids=["random", "collinear-forward"])
def test_reconstruct_long_recovers_ground_truth_up_to_global_scale(c2w):
    rng = np.random.default_rng(3)
    depth = rng.uniform(1.0, 4.0, (100, 6, 8))
    calls = []
    run, rgb, K = window_runner(c2w, depth, rng, calls)
    out = reconstruct_long(run, 100)
    assert calls == plan_windows(100)
    assert out.depth.shape == (100, 6, 8) and out.c2w.shape == (100, 4, 4) and out.rgb.shape == (100, 6, 8, 3)
    np.testing.assert_array_equal(out.rgb, rgb)
    np.testing.assert_allclose(out.K, K)
    np.testing.assert_allclose(out.c2w[0], np.eye(4), atol=1e-12)
    depth_scale = np.median(out.depth / depth)
    np.testing.assert_allclose(out.depth, depth_scale * depth, rtol=1e-5)
    np.testing.assert_allclose(out.c2w[:, :3, :3], c2w[:, :3, :3], atol=1e-9)
    t_gt, t_out = c2w[:, :3, 3], out.c2w[:, :3, 3]
    pose_scale = (t_out * t_gt).sum() / (t_gt ** 2).sum()
    np.testing.assert_allclose(t_out, pose_scale * t_gt, atol=1e-9 * np.abs(t_out).max())
    assert out.fps == 12.0 and out.task == "reconstruction"


def test_reconstruct_long_pure_rotation_uses_depth_scale():
    c2w = named_trajectory("turn-left", 30, degrees=3.0)
    rng = np.random.default_rng(4)
    depth = rng.uniform(1.0, 4.0, (30, 4, 4))
    run, _, _ = window_runner(c2w, depth, rng, [])
    out = reconstruct_long(run, 30, window=9, stride=4)
    assert np.isfinite(out.c2w).all()
    np.testing.assert_allclose(out.c2w, c2w, atol=1e-9)


def test_reconstruct_long_rejects_wrong_window_length():
    rng = np.random.default_rng(5)
    run, _, _ = window_runner(random_trajectory(20, 1), rng.uniform(1, 2, (20, 4, 4)), rng, [])
    with pytest.raises(WindowError, match=r"run_window\(0, 17\) returned 16 frames; expected 17"):
        reconstruct_long(lambda a, b: run(a, b - 1), 20, window=17, stride=8)


@pytest.mark.parametrize("height, width, tile",
                         [(20, 30, (12, 16)), (480, 720, (480, 720)), (500, 1000, (480, 720))])
def test_plan_tiles_cover_the_frame(height, width, tile):
    tiles = plan_tiles(height, width, tile)
    covered = np.zeros((height, width), int)
    for y0, y1, x0, x1 in tiles:
        assert (y1 - y0, x1 - x0) == (min(tile[0], height), min(tile[1], width))
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1
    # 30 px in 16-px tiles overlapping by >= 4 px: two would overlap by 2, so three at x = 0, 7, 14
    assert plan_tiles(20, 30, (12, 16)) == [(y, y + 12, x, x + 16) for y in (0, 8) for x in (0, 7, 14)]


def test_reconstruct_tiled_recovers_full_frame():
    from aether.tasks.result import TaskResult

    rng = np.random.default_rng(6)
    f, h, w = 3, 20, 30
    depth = rng.uniform(1.0, 4.0, (f, h, w))
    rgb = rng.integers(0, 255, (f, h, w, 3), dtype=np.uint8)
    c2w = random_trajectory(f, 2)
    K = np.tile([[25.0, 0, 15.0], [0, 24.0, 10.0], [0, 0, 1]], (f, 1, 1))

    def run_tile(y0, y1, x0, x1):
        s = rng.uniform(0.2, 5.0)  # one scale per tile for depth and translation, as a model gives
        local_K = K.copy()
        local_K[:, 0, 2] -= x0
        local_K[:, 1, 2] -= y0
        local = c2w.copy()
        local[:, :3, 3] *= s
        d = (depth[:, y0:y1, x0:x1] * s).astype(np.float32)
        return TaskResult(rgb=rgb[:, y0:y1, x0:x1], depth=d, disparity=(d.min() / d).astype(np.float32),
                          c2w=local, K=local_K, fps=8.0, task="reconstruction")

    out = reconstruct_tiled(run_tile, h, w, tile=(12, 16))
    scale = np.median(out.depth / depth)
    np.testing.assert_allclose(out.depth, scale * depth, rtol=1e-5)
    np.testing.assert_array_equal(out.rgb, rgb)
    np.testing.assert_allclose(out.K, K)
    np.testing.assert_allclose(out.c2w[:, :3, :3], c2w[:, :3, :3], atol=1e-9)
    np.testing.assert_allclose(out.c2w[:, :3, 3], scale * c2w[:, :3, 3], rtol=1e-5, atol=1e-9)
