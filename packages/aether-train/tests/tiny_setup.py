"""Test helper: the tiny CPU training config (1-layer backbone, pixel codec, 32 x 48 frames = 4 x 6
latents, 9-frame windows). Imported by the tests and conftest (``sys.path`` holds this folder)."""

from __future__ import annotations

from pathlib import Path

from aether.train.config import TrainConfig, parse_config

HEIGHT, WIDTH = 32, 48


def tiny_config(clips: Path, out: Path, **overrides) -> TrainConfig:
    """The tiny CPU config; ``overrides`` replace top-level fields (sections are merged)."""
    data = {"out": str(out), "steps": 200, "micro_batch": 4, "seed": 0, "progress": False, "checkpoint_every": 50,
                "eval_examples": 8,
                "data": {"clips": [str(clips)], "frames": [9], "fps": [12, 24], "height": HEIGHT, "width": WIDTH},
                "model": {"init": "tiny", "video_codec": "pixel", "tiny": {"num_layers": 1}},
                "optim": {"lr": 3e-3, "warmup": 0.1}}
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return parse_config(data)
