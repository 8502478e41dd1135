"""Damaged training data, fuzzed: clips training cannot use are refused by name before step 1 (not when a
step first draws them), and cache entries that cannot serve (truncated, another resolution, made from an
older clip, non-finite values) are encoded again with a warning instead of crashing or training on them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from aether.core.cli import main
from aether.core.clip import Clip, iter_clip_paths, load_clip, save_clip
from aether.core.errors import CheckpointError, ClipError
from aether.train.cache import CachedWindows, write_cache
from aether.train.config import dump_config
from aether.train.data import ClipWindows
from safetensors import safe_open
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file, save_file


def _save_raw(clip: Clip, path: Path) -> None:
    """Write a clip file as a third-party tool would: no validation."""
    tensors = {k: np.ascontiguousarray(getattr(clip, k)) for k in ("rgb", "depth", "K", "c2w")
               if getattr(clip, k) is not None}
    save_numpy(tensors, str(path), metadata={"fps": repr(float(clip.fps))})


def _no_depth(c: Clip) -> Clip:
    c.depth = None
    return c


def _no_cameras(c: Clip) -> Clip:
    c.K = c.c2w = None
    return c


def _nan_depth(c: Clip) -> Clip:
    c.depth[12, 20, 30] = np.nan
    return c


def _nan_c2w(c: Clip) -> Clip:
    c.c2w[14, 0, 3] = np.nan
    return c


def _empty_depth_frame(c: Clip) -> Clip:
    c.depth[5] = 0   # the codec would encode the frame as all far
    return c


def _subnormal_depth(c: Clip) -> Clip:
    c.depth[3, 20, 30] = 1e-40  # 1 / depth overflows float32: p_max = inf, NaN targets
    return c


DAMAGES: dict[str, tuple[Callable[[Clip], Clip], str]] = {
    "no depth": (_no_depth, "field(s) depth missing"),
    "no cameras": (_no_cameras, "field(s) K, c2w missing"),
    "nan depth": (_nan_depth, "field 'depth': 1 non-finite values"),
    "nan c2w": (_nan_c2w, "field 'c2w': non-finite values"),
    "empty depth frame": (_empty_depth_frame, "field 'depth': frame 5 has no valid (positive) pixel (1 such"),
    "subnormal depth": (_subnormal_depth, "field 'depth': nearest depth 9.99995e-41 m has no finite float32"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_clip_training_cannot_use_is_refused_before_step_1(damage, clips, tiny_config, tmp_path):
    """Clips were loaded only when a step drew them: a bad one among thousands stopped the run at that step."""
    edit, words = DAMAGES[damage]
    data = tmp_path / "data"
    data.mkdir()
    for path in iter_clip_paths(clips):
        shutil.copy(path, data / path.name)
    bad = data / "zz_bad.safetensors"
    _save_raw(edit(load_clip(iter_clip_paths(clips)[1])), bad)
    config = tiny_config(data, tmp_path / "run")
    with pytest.raises(ClipError) as refused:
        ClipWindows(config, global_batch=4)
    assert str(refused.value) == f"data.clips: 1 of 5 clip(s) cannot be trained on: {bad}: " + \
        str(refused.value).split(f"{bad}: ", 1)[1]
    assert words in str(refused.value)


def test_the_cli_refuses_a_bad_clip_before_the_run_folder_is_written(clips, tiny_config, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(iter_clip_paths(clips)[0], data / "a.safetensors")
    _save_raw(_empty_depth_frame(load_clip(iter_clip_paths(clips)[1])), data / "b.safetensors")
    config = tiny_config(data, tmp_path / "run", steps=2, eval_examples=0, export=False)
    (tmp_path / "config.yaml").write_text(dump_config(config))
    assert main(["train", str(tmp_path / "config.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: data.clips: 1 of 2 clip(s) cannot be trained on: ")
    assert str(data / "b.safetensors") in err[0]
    # nothing written, so the fixed data reruns without --resume
    assert not (tmp_path / "run" / "log.jsonl").exists() and not (tmp_path / "run" / "checkpoints").exists()


def test_a_window_cropped_to_no_valid_depth_names_its_clip(clips, tiny_config, tmp_path):
    """Valid depth only in the first column, which fitting 40 x 64 to 32 x 48 crops away: the codec's error
    did not say which clip."""
    data = tmp_path / "data"
    data.mkdir()
    clip = load_clip(iter_clip_paths(clips)[1])
    clip.depth[:, :, 1:] = 0
    save_clip(clip, data / "edge.safetensors")
    dataset = ClipWindows(tiny_config(data, tmp_path / "run"), global_batch=1)
    with pytest.raises(ClipError, match=r"edge\.safetensors: frames 5\.\.13 at 24 fps fitted to 32x48: a depth clip "
                                        r"has no valid \(positive, finite\) pixel"):
        dataset.example(0, 9, 24.0, np.random.default_rng(0))


# --------------------------------------------------------------------------- the cache
@pytest.fixture(scope="module")
def cached(clips, tiny_config, tmp_path_factory) -> tuple[Path, Path]:
    """One clip and its cache (2 windows per shape, 9 frames at 12 and 24 fps), written once."""
    root = tmp_path_factory.mktemp("cached")
    (root / "data").mkdir()
    shutil.copy(iter_clip_paths(clips)[0], root / "data" / "a.safetensors")
    write_cache(tiny_config(root / "data", root / "run", data={"cache": str(root / "cache"), "cache_windows": 2}),
                progress=False)
    return root / "data", root / "cache"


@pytest.fixture
def copy(cached, tiny_config, tmp_path):
    """A copy of the clip and its cache (file times kept, the index naming the copied clip) and a config using them."""
    shutil.copytree(cached[0], tmp_path / "data")
    shutil.copytree(cached[1], tmp_path / "cache")
    index = tmp_path / "cache" / "index.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), "clips": [str(tmp_path / "data" / "a.safetensors")]}))
    config = tiny_config(tmp_path / "data", tmp_path / "run", data={"cache": str(tmp_path / "cache"),
                                                                     "cache_windows": 2})
    return config, tmp_path / "cache" / "clip_00000_T9_fps12.safetensors"


def _metadata(path: Path) -> dict:
    with safe_open(str(path), "pt") as f:
        return f.metadata()


def _truncate(entry: Path, _: Path) -> None:
    entry.write_bytes(entry.read_bytes()[:-100])


def _other_resolution(entry: Path, _: Path) -> None:
    t = load_file(str(entry))
    t["rgb"] = t["rgb"].repeat_interleave(2, 2).repeat_interleave(2, 3).contiguous()
    t["depth"] = t["depth"].repeat_interleave(2, 2).repeat_interleave(2, 3).contiguous()
    save_file(t, str(entry), metadata=_metadata(entry))


def _nan_posterior(entry: Path, _: Path) -> None:
    t = load_file(str(entry))
    t["colour_posterior"][1, 0, 0, 0, 0] = float("nan")
    save_file(t, str(entry), metadata=_metadata(entry))


ENTRY_DAMAGES = {"truncated": (_truncate, "truncated"),
                 "another resolution": (_other_resolution, "shapes rgb (2, 9, 64, 96, 3) (expected (2, 9, 32, 48, 3)); "
                                                           "depth (2, 9, 64, 96) (expected (2, 9, 32, 48))"),
                 "non-finite posterior": (_nan_posterior, "unreadable or non-finite values")}


@pytest.mark.parametrize("damage", ENTRY_DAMAGES)
def test_a_damaged_cache_entry_is_encoded_again(damage, copy, cached, capsys):
    """A truncated entry crashed the run with a SafetensorError traceback, one of another resolution trained the
    model on 64 x 96 windows, and a NaN posterior stopped it with a ValueError traceback."""
    config, entry = copy
    good = load_file(str(cached[1] / entry.name))
    edit, words = ENTRY_DAMAGES[damage]
    edit(entry, cached[0])
    dataset = CachedWindows(config, 4)
    example = dataset.example(0, 9, 12.0, np.random.default_rng(0))
    err = capsys.readouterr().err
    assert err == f"warning: cache entry {entry}: {words}; encoding it again\n"
    again = load_file(str(entry))
    assert again.keys() == good.keys() and all(torch.equal(again[k], good[k]) for k in good)
    assert example["video"].shape == (9, 3, 32, 48)
    assert torch.isfinite(example["colour_posterior"]).all()


def test_an_entry_of_an_edited_clip_is_encoded_from_the_new_clip(copy, capsys):
    """The cache kept serving windows of the clip as it was when cached."""
    config, entry = copy
    clip_path = Path(config.data.clips[0]) / "a.safetensors"
    clip = load_clip(clip_path)
    clip.rgb[:] = 7
    save_clip(clip, clip_path)
    example = CachedWindows(config, 4).example(0, 9, 12.0, np.random.default_rng(0))
    assert f"warning: cache entry {entry}: made from another version of {clip_path}; encoding it again" in \
        capsys.readouterr().err
    assert torch.equal(example["video"], torch.full_like(example["video"], 7 / 255 * 2 - 1))


def test_aether_train_cache_rewrites_a_damaged_entry_it_used_to_keep(copy, cached, capsys):
    config, entry = copy
    _truncate(entry, cached[0])
    write_cache(config, progress=False)
    assert capsys.readouterr().err == f"warning: cache entry {entry}: truncated; encoding it again\n"
    assert entry.read_bytes() == (cached[1] / entry.name).read_bytes()


def test_a_cache_of_another_vae_is_refused(copy, tiny_config, tmp_path):
    """The index named the codec, not its VAE: posteriors of one VAE trained a model on another's latents."""
    config, _ = copy
    index = tmp_path / "cache" / "index.json"
    found = json.loads(index.read_text())
    index.write_text(json.dumps({**found, "video_codec": "cogvideox", "vae": str((tmp_path / "vae-a").resolve())}))
    other = tiny_config(tmp_path / "data", tmp_path / "run",
                        data={"cache": str(tmp_path / "cache"), "cache_windows": 2},
                        model={"video_codec": "cogvideox", "vae_dir": str(tmp_path / "vae-b")})
    with pytest.raises(CheckpointError, match=r"was written for other vae; rerun `aether train cache CONFIG`"):
        CachedWindows(other, 4)


def test_an_index_that_is_not_json_is_refused(copy, tmp_path):
    """It escaped as a JSONDecodeError traceback."""
    config, _ = copy
    (tmp_path / "cache" / "index.json").write_text('{"format": "posteriors-1", "cl')
    with pytest.raises(CheckpointError,
                       match=r"index\.json is not valid JSON \(.*\); rerun `aether train cache CONFIG`"):
        CachedWindows(config, 4)
