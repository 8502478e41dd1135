"""Write a folder of synthetic clips, resumably: finished files are skipped, each file is written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aether.annotate.synthetic.config import MOTION_KINDS, SCENE_KINDS, RenderConfig, SceneConfig
from aether.annotate.synthetic.render import render_clip
from aether.core.clip import save_clip
from aether.core.progress import progress_bar


def scene_for(seed: int, kind: str | None = None, motion: str | None = None, **options) -> SceneConfig:
    """The scene of clip seed ``seed``; ``kind`` / ``motion`` None draw one from the seed."""
    rng = np.random.default_rng([seed, 7])
    kind = kind or SCENE_KINDS[rng.integers(len(SCENE_KINDS))]
    motion = motion or MOTION_KINDS[rng.integers(len(MOTION_KINDS))]
    return SceneConfig(seed=seed, kind=kind, motion=motion, **options)


def clip_path(out: str | os.PathLike, index: int) -> Path:
    """``out/clip_0000.safetensors`` for index 0, and so on."""
    return Path(out) / f"clip_{index:04d}.safetensors"


def write_clips(out: str | os.PathLike, clips: int, seed: int = 0, render: RenderConfig | None = None,
                kind: str | None = None, motion: str | None = None, progress: bool = True,
                **options) -> list[Path]:
    """Render clips ``0 .. clips-1`` (clip ``i`` uses seed ``seed + i``) into ``out``; existing files are
    kept, so an interrupted run resumes. ``options`` go to :class:`SceneConfig`. Returns every path."""
    paths = [clip_path(out, i) for i in range(clips)]
    todo = [i for i, path in enumerate(paths) if not path.exists()]
    for i in progress_bar(todo, desc="synth", unit="clip", disable=not progress):
        save_clip(render_clip(scene_for(seed + i, kind, motion, **options), render), paths[i])
    return paths
