"""Windows of clips: frame rate resampling, fitting to the model size with matching intrinsics,
online encodings, and the deterministic, resumable (step, slot) sampler."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from aether.codecs import raymap
from aether.core.clip import iter_clip_paths, load_clip, save_clip
from aether.core.errors import ClipError
from aether.train.data import ClipWindows, fit_window, window, window_problem
from aether.train.sampler import StepBatches


def test_window_strides_by_the_clip_fps_and_fits_the_clip():
    rng = np.random.default_rng(0)
    for fps in (8.0, 12.0, 24.0):
        for _ in range(20):
            idx = window(40, 24.0, 9, fps, rng)
            assert len(idx) == 9 and idx.min() >= 0 and idx.max() < 40
            assert np.allclose(np.diff(idx), 24.0 / fps, atol=1) and (np.diff(idx) >= 1).all()
    assert np.array_equal(window(17, 24.0, 9, 12.0, rng), np.arange(0, 17, 2))   # exactly fits


def test_windows_never_repeat_frames():
    """A target fps above the clip's would duplicate frames ([59 59 60 60 ...]) and a short clip would freeze
    on its last one: both teach the model that cameras stop, so such windows are refused, not padded."""
    assert window_problem(17, 24.0, 9, 24.0) is None and window_problem(17, 24.0, 9, 12.0) is None
    assert window_problem(40, 12.0, 9, 24.0) == "slower"
    assert window_problem(16, 24.0, 9, 12.0) == "shorter"   # 9 frames at stride 2 span 17
    for bad in ((5, 12.0, 9, 12.0), (40, 12.0, 9, 24.0)):
        with pytest.raises(ClipError, match="than a window"):
            window(*bad, np.random.default_rng(0))


def test_clips_that_cannot_give_a_shape_are_skipped_and_counted(clips, tiny_config, tmp_path):
    """Four 17-frame clips at 24 fps plus one 9-frame clip at 12 fps: 17 frames at 12 fps (a span of 33) fit
    no clip, 9 frames at 24 fps skip the slow clip, and every drawn example comes from a clip that fits."""
    extra = tmp_path / "extra"
    extra.mkdir()
    clip = load_clip(iter_clip_paths(clips)[0])
    save_clip(replace(clip.select(np.arange(9)), fps=12.0), extra / "slow.safetensors")
    config = tiny_config(clips, tmp_path / "run", data={"clips": [str(clips), str(extra)], "frames": [9, 17],
                                                         "fps": [12, 24]})
    data = ClipWindows(config, global_batch=4)
    slow = [p.name for p in data.paths].index("slow.safetensors")
    assert data.summary() == {"clips": 5, "windows": {"9@12": {"clips": 5}, "9@24": {"clips": 4, "slower": 1},
                                                      "17@12": {"clips": 0, "shorter": 5},
                                                      "17@24": {"clips": 4, "slower": 1}}}
    assert {data.shape_at(step) for step in range(40)} == {(9, 12.0), (9, 24.0), (17, 24.0)}
    picked = []
    data.example = lambda index, frames, fps, rng: picked.append((index, frames, fps)) or {}
    for step in range(30):
        for slot in range(4):
            data[(step, slot)]
    assert {fps for index, _, fps in picked if index == slow} == {12.0}
    with pytest.raises(ClipError, match="no clip can give a window"):
        ClipWindows(tiny_config(extra, tmp_path / "run2", data={"frames": [17], "fps": [24]}), global_batch=4)


def test_every_example_of_a_step_shares_frames_and_fps(clips, tiny_config, tmp_path):
    config = tiny_config(clips, tmp_path, data={"frames": [9, 17], "fps": [12, 24]})
    data = ClipWindows(config, global_batch=4)
    shapes = {data.shape_at(step) for step in range(40)}
    assert shapes == {(9, 12.0), (9, 24.0), (17, 24.0)}   # 17 frames at 12 fps would outrun the 17-frame clips
    batch = [data[(5, slot)] for slot in range(3)]
    frames, fps = data.shape_at(5)
    assert all(len(e["video"]) == frames and float(e["fps"]) == fps for e in batch)


def test_fit_window_keeps_projections_consistent(clips):
    clip = load_clip(iter_clip_paths(clips)[0])
    rgb, depth, K = fit_window(clip, 32, 48)
    assert rgb.shape == (17, 32, 48, 3) and depth.shape == (17, 32, 48)
    # a pixel centre of the fitted frame back-projects to the same ray as its source position
    scale = 0.8  # 40 x 64 -> 32 x 51.2 (rounded to 51), then 1-pixel crop on the left
    u, v = 20.0, 10.0
    x0 = (round(64 * scale) - 48) // 2
    src = np.array([(u + x0 + 0.5) / (round(64 * scale) / 64) - 0.5, (v + 0.5) / scale - 0.5, 1.0])
    ray_fit = np.linalg.inv(K[0].astype(np.float64)) @ [u, v, 1.0]
    ray_src = np.linalg.inv(clip.K[0].astype(np.float64)) @ src
    assert np.allclose(ray_fit, ray_src, atol=1e-5)


def test_examples_are_encoded_online_and_deterministic(clips, tiny_config, tmp_path):
    config = tiny_config(clips, tmp_path)
    height, width = config.data.height, config.data.width
    data = ClipWindows(config, global_batch=4)
    a, b = data[(3, 1)], data[(3, 1)]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["video"].shape == (9, 3, height, width) and a["action"].shape == (3, 24, 4, 6)
    assert a["video"].min() >= -1 and a["depth_video"].max() <= 1 and a["p_max"] > 0
    assert torch.allclose(a["c2w"][0], torch.eye(4), atol=1e-5)          # relative to the first frame
    expected = raymap.encode_packed(a["c2w"][None], a["K"][None], height, width, a["p_max"][None])[0]
    assert torch.allclose(a["action"], expected)
    assert not torch.equal(data[(3, 2)]["video"], a["video"])


def test_step_batches_cover_the_global_batch_and_resume_mid_run():
    single = list(StepBatches(0, 3, micro_batch=4))
    ranks = [list(StepBatches(0, 3, micro_batch=1, grad_accum=2, rank=r, world=2)) for r in range(2)]
    for step in range(3):
        mine = sorted(key for r in ranks for batch in r[2 * step:2 * step + 2] for key in batch)
        assert mine == sorted(single[step]) == [(step, s) for s in range(4)]
    assert list(StepBatches(2, 3, micro_batch=4)) == single[2:]
