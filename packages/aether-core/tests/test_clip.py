import json

import numpy as np
import pytest

from aether.core.clip import DEFAULT_FPS, Clip, clip_length, load_clip, save_clip
from aether.core.errors import ClipError
from aether.core.media import write_png, write_video


def make_clip(n=5, h=16, w=24, seed=0):
    rng = np.random.default_rng(seed)
    K = np.tile(np.array([[20.0, 0, 12], [0, 20.0, 8], [0, 0, 1]], np.float32), (n, 1, 1))
    c2w = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
    c2w[:, 2, 3] = np.arange(n) * 0.1
    return Clip(rgb=rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8), fps=12.0,
                depth=rng.uniform(1, 5, (n, h, w)).astype(np.float32), K=K, c2w=c2w,
                dynamic_mask=np.zeros((n, h, w), np.uint8), source="unit",
                extras={"labels": np.ones((n, h, w), np.uint8)}, meta={"scene": "room"})


def test_round_trip(tmp_path):
    clip = make_clip()
    path = save_clip(clip, tmp_path / "a.safetensors")
    back = load_clip(path)
    for name in ("rgb", "depth", "K", "c2w", "dynamic_mask"):
        np.testing.assert_array_equal(getattr(back, name), getattr(clip, name))
    np.testing.assert_array_equal(back.extras["labels"], clip.extras["labels"])
    assert (back.fps, back.source, back.meta) == (12.0, "unit", {"scene": "room"})
    assert [p.name for p in tmp_path.iterdir()] == ["a.safetensors"]  # no temp file left


def test_select_slices_every_frame_field():
    sub = make_clip().select(slice(1, 3))
    assert sub.num_frames == 2 and sub.K.shape == (2, 3, 3) and sub.extras["labels"].shape[0] == 2


def test_truncated_file(tmp_path):
    path = save_clip(make_clip(), tmp_path / "a.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ClipError, match=r"a\.safetensors: not a readable clip file.*truncated"):
        load_clip(path)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.depth.__setitem__((0, 0, 0), np.nan), r"field 'depth': 1 non-finite"),
    (lambda c: c.depth.__setitem__((0, 0, 0), -1.0), r"field 'depth': 1 negative"),
    (lambda c: c.c2w.__setitem__((2, 0, 0), 1.5), r"field 'c2w'.*frame 2 is not orthonormal"),
    (lambda c: c.K.__setitem__((1, 0, 0), 0.0), r"field 'K': focal lengths must be positive"),
    (lambda c: setattr(c, "depth", c.depth[:3]), r"field 'depth': expected shape \(5, 16, 24\)"),
    (lambda c: setattr(c, "fps", 0.0), r"field 'fps'"),
])
def test_invalid_clips_are_rejected_naming_file_and_field(tmp_path, mutate, message):
    clip = make_clip()
    mutate(clip)
    with pytest.raises(ClipError, match=r"bad\.safetensors: " + message):
        save_clip(clip, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


def test_invalid_file_written_by_someone_else(tmp_path):
    from safetensors.numpy import save_file
    clip = make_clip()
    c2w = clip.c2w.copy()
    c2w[0, :3, :3] *= -1  # a reflection
    save_file({"rgb": clip.rgb, "c2w": c2w}, str(tmp_path / "x.safetensors"), metadata={"fps": "10"})
    with pytest.raises(ClipError, match="x.safetensors: field 'c2w'.*reflection"):
        load_clip(tmp_path / "x.safetensors")


def test_frame_folder_with_16bit_depth(tmp_path):
    clip = make_clip(n=3)
    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    for i in range(3):
        write_png(tmp_path / "rgb" / f"{i:04d}.png", clip.rgb[i])
        write_png(tmp_path / "depth" / f"{i:04d}.png", np.round(clip.depth[i] * 1000).astype(np.uint16))
    np.save(tmp_path / "K.npy", clip.K[0])
    (tmp_path / "meta.json").write_text(json.dumps({"fps": 15, "depth_scale": 0.001}))
    back = load_clip(tmp_path)
    np.testing.assert_array_equal(back.rgb, clip.rgb)
    np.testing.assert_allclose(back.depth, clip.depth, atol=5e-4 + 1e-6)
    assert back.K.shape == (3, 3, 3) and back.fps == 15


def test_mp4_has_colour_and_fps(tmp_path):
    frames = np.zeros((6, 32, 48, 3), np.uint8)
    frames[:, :, :24] = 200
    write_video(tmp_path / "v.mp4", frames, fps=8)
    back = load_clip(tmp_path / "v.mp4")
    assert back.rgb.shape == (6, 32, 48, 3) and back.depth is None and back.fps == 8
    assert abs(float(back.rgb[:, :, :20].mean()) - 200) < 3 and float(back.rgb[:, :, 28:].mean()) < 3


def test_unknown_suffix_and_missing(tmp_path):
    with pytest.raises(ClipError, match="no such file"):
        load_clip(tmp_path / "nope.safetensors")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ClipError, match="unknown clip type"):
        load_clip(tmp_path / "a.txt")


def test_clip_length_reads_only_headers_and_agrees_with_loading(tmp_path):
    clip = make_clip(n=5)
    path = save_clip(clip, tmp_path / "a.safetensors")
    assert clip_length(path) == (5, clip.fps)
    folder = tmp_path / "frames"
    (folder / "rgb").mkdir(parents=True)
    for i in range(3):
        write_png(folder / "rgb" / f"{i:04d}.png", clip.rgb[i])
    assert clip_length(folder) == (3, DEFAULT_FPS) == (load_clip(folder).num_frames, load_clip(folder).fps)
    (folder / "meta.json").write_text(json.dumps({"fps": 15}))
    assert clip_length(folder) == (3, 15.0)
    (folder / "meta.json").write_text(json.dumps({"fps": "fast"}))
    with pytest.raises(ClipError, match="field 'fps': expected a number"):
        clip_length(folder)
    path.write_bytes(path.read_bytes()[:100])  # a corrupt header: loading names what is wrong
    with pytest.raises(ClipError, match="not a readable clip file"):
        clip_length(path)
