"""Shared fixtures: a few tiny synthetic RGB-D clips with exact cameras, and the tiny CPU training config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aether.annotate.synthetic.config import RenderConfig
from aether.annotate.synthetic.writer import write_clips
from aether.train.config import TrainConfig, parse_config


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> Path:
    """Four 17-frame 24 fps clips (room and street scenes) at 40 x 64 (resized and cropped to 32 x 48 on load)."""
    out = tmp_path_factory.mktemp("clips")
    write_clips(out, 4, seed=0, render=RenderConfig(height=40, width=64, frames=17, fps=24.0), progress=False)
    return out


def _tiny_config(clips: Path, out: Path, **overrides) -> TrainConfig:
    """1-layer backbone, pixel codec, 32 x 48 frames (4 x 6 latents), 9-frame windows; ``overrides`` replace
    top-level fields (sections are merged)."""
    data = {"out": str(out), "steps": 200, "micro_batch": 4, "seed": 0, "progress": False, "checkpoint_every": 50,
            "eval_examples": 8,
            "data": {"clips": [str(clips)], "frames": [9], "fps": [12, 24], "height": 32, "width": 48},
            "model": {"init": "tiny", "video_codec": "pixel", "tiny": {"num_layers": 1}},
            "optim": {"lr": 3e-3, "warmup": 0.1}}
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return parse_config(data)


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., TrainConfig]:
    """The tiny CPU config factory: ``tiny_config(clips, out, **overrides)``."""
    return _tiny_config


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the tiny model's ops are too small to split, and `-n 2` already fills the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
