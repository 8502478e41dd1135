"""Hostile files for the clip loader, the model folder and the video writer: each is refused with one
clear error (an ``AetherError``, which the CLI prints as one line), and a pickle is never unpickled."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from aether.core.clip import load_clip
from aether.core.errors import AetherError, CheckpointError, ClipError
from aether.core.media import MAX_FPS, write_png, write_video
from aether.core.model_folder import ModelFolder

H, W = 16, 24


class _Payload:
    """Creates a folder when unpickled: the proof that a loader ran a pickle's code."""

    def __init__(self, proof: Path) -> None:
        self.proof = proof

    def __reduce__(self):
        return os.mkdir, (str(self.proof),)


def _pickle(path: Path, proof: Path) -> None:
    np.save(path, np.array([_Payload(proof)], dtype=object), allow_pickle=True)


def _frames_folder(root: Path, sizes=((H, W),) * 3) -> Path:
    for i, (h, w) in enumerate(sizes):
        write_png(root / "rgb" / f"{i:03d}.png", np.full((h, w, 3), 40 * i, np.uint8))
    return root


def _mixed_rgb(root: Path) -> None:
    _frames_folder(root, [(H, W), (H, W), (H + 8, W)])


def _mixed_depth(root: Path) -> None:
    _frames_folder(root)
    (root / "depth").mkdir()
    for i, shape in enumerate([(H, W), (H, W - 8), (H, W)]):
        np.save(root / "depth" / f"{i:03d}.npy", np.ones(shape, np.float32))


def _meta(text: str):
    def make(root: Path) -> None:
        _frames_folder(root)
        for i in range(3):  # 16-bit depth, in units of meta.json's depth_scale
            write_png(root / "depth" / f"{i:03d}.png", np.full((H, W), 1000, np.uint16))
        (root / "meta.json").write_text(text)
    return make


def _array_file(name: str, write):
    def make(root: Path) -> None:
        _frames_folder(root)
        (root / name).parent.mkdir(exist_ok=True)
        write(root / name, root.parent / "proof")
    return make


# a hostile frame folder -> what the error says
FOLDERS = {
    "frames of mixed sizes": (_mixed_rgb, "002.png: frame of shape (24, 24, 3) differs"),
    "depth maps of mixed sizes": (_mixed_depth, "001.npy: frame of shape (16, 16) differs"),
    "meta.json not JSON": (_meta("{fps: 12,"), "meta.json is not valid JSON"),
    "meta.json not UTF-8": (lambda root: (_frames_folder(root), (root / "meta.json").write_bytes(b"\xff\xfe{")),
                            "meta.json is not valid JSON"),
    "meta.json a list": (_meta("[12]"), "meta.json must hold a JSON object"),
    "meta.json fps not a number": (_meta('{"fps": "fast"}'), "field 'fps': expected a number, got 'fast'"),
    "meta.json depth_scale a list": (_meta('{"depth_scale": [1]}'), "field 'depth_scale'"),
    "pickled K.npy": (_array_file("K.npy", _pickle), "K.npy: not a readable .npy array"),
    "pickled depth map": (_array_file("depth/000.npy", _pickle), "000.npy: not a readable .npy array"),
    "c2w.npy not NumPy": (_array_file("c2w.npy", lambda p, _: p.write_bytes(b"\x80\x04garbage")),
                          "c2w.npy: not a readable .npy array"),
    "K.npy truncated": (_array_file("K.npy", lambda p, _: p.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr")),
                        "K.npy: not a readable .npy array"),
    "K.npy of strings": (_array_file("K.npy", lambda p, _: np.save(p, np.array(["a", "b"]))),
                         "expected a numeric array, got dtype <U1"),
    "K.npy an npz archive": (_array_file("K.npy", lambda p, _: np.savez(open(p, "wb"), K=np.eye(3))),
                             "an .npz archive"),
}


@pytest.mark.parametrize("case", FOLDERS)
def test_hostile_frame_folders_are_refused_in_one_line(case, tmp_path):
    make, message = FOLDERS[case]
    make(tmp_path / "clip")
    with pytest.raises(ClipError) as info:
        load_clip(tmp_path / "clip")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "proof").exists(), "a pickle was unpickled"


def test_a_good_frame_folder_still_loads(tmp_path):
    root = _frames_folder(tmp_path / "clip")
    (root / "meta.json").write_text('{"fps": 7.5, "depth_scale": 0.01}')
    np.save(root / "K.npy", np.array([[10.0, 0, W / 2], [0, 10.0, H / 2], [0, 0, 1]]))
    clip = load_clip(root)
    assert clip.rgb.shape == (3, H, W, 3) and clip.fps == 7.5 and clip.K.shape == (3, 3, 3)


def _model_folder(root: Path, embed_width: int = 16) -> Path:
    """A model folder as ModelFolder sees it: configs and the prompt embedding (no weights needed)."""
    for part, file, config in [("transformer", "config.json", {"text_embed_dim": 16, "sample_height": 4}),
                               ("vae", "config.json", {"latent_channels": 16}),
                               ("scheduler", "scheduler_config.json", {"num_train_timesteps": 1000})]:
        (root / part).mkdir(parents=True)
        (root / part / file).write_text(json.dumps(config))
    save_file({"prompt_embeds": torch.zeros(1, 8, embed_width)}, root / "empty_prompt_embeds.safetensors")
    return root


def _rewrite(file: str, text: str):
    return lambda root: (root / file).write_text(text)


# a hostile model folder -> what the error says
MODELS = {
    "vae config not JSON": (_rewrite("vae/config.json", "{garbage"), "vae/config.json is not valid JSON"),
    "vae config a list": (_rewrite("vae/config.json", "[]"), "vae/config.json must hold a JSON object"),
    "scheduler config not JSON": (_rewrite("scheduler/scheduler_config.json", ""),
                                  "scheduler_config.json is not valid JSON"),
    "transformer config a string": (_rewrite("transformer/config.json", '"x"'),
                                    "transformer/config.json must hold a JSON object"),
    "prompt embeddings of the wrong width": (
        lambda root: save_file({"prompt_embeds": torch.zeros(1, 8, 7)}, root / "empty_prompt_embeds.safetensors"),
        "embeddings of width 7 but the transformer's text_embed_dim is 16"),
    "prompt embeddings not safetensors": (_rewrite("empty_prompt_embeds.safetensors", "{}"),
                                          "is not a readable safetensors file"),
}


@pytest.mark.parametrize("case", MODELS)
def test_hostile_model_folders_are_refused_before_loading(case, tmp_path):
    spoil, message = MODELS[case]
    spoil(_model_folder(tmp_path / "model"))
    with pytest.raises(CheckpointError) as info:
        ModelFolder(tmp_path / "model")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_good_model_folder_still_opens(tmp_path):
    folder = ModelFolder(_model_folder(tmp_path / "model"))
    assert folder.prompt_embeds().shape == (1, 8, 16)
    shutil.rmtree(tmp_path / "model" / "vae")
    (tmp_path / "model" / "aether.json").write_text('{"video_codec": "pixel"}')
    assert ModelFolder(tmp_path / "model").settings.video_codec == "pixel"  # no vae/ needed then


@pytest.mark.parametrize("fps", [1e300, float("inf"), float("nan"), 0.0, -12.0, MAX_FPS * 1.01])
def test_a_video_at_an_impossible_frame_rate_is_refused_not_written_broken(fps, tmp_path):
    with pytest.raises(AetherError, match="frame rate must be a number in"):
        write_video(tmp_path / "v.mp4", np.zeros((2, H, W, 3), np.uint8), fps)
    assert list(tmp_path.iterdir()) == []
