"""Pre-encoded latents (``aether train cache CONFIG``): for every clip and frame count, a fixed set
and frame rate, a fixed set of ``data.cache_windows`` windows with their colour and depth latents
from the frozen video codec, so training skips the VAE encoder. Training with ``data.cache`` set
draws one of a clip's cached windows where the online dataset would draw a fresh one.

Layout: ``<cache>/index.json`` (what the cache was made for) and one safetensors file per clip,
frame count and fps, ``clip_00000_T17_fps12.safetensors``, holding the windows stacked on a
leading axis: ``rgb (N, F, H, W, 3)`` uint8, ``depth``, ``c2w``, ``K``, ``action``, ``fps``, ``p_max`` and
``colour_latents``, ``depth_latents (N, T, 16, h, w)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from aether.codecs import depth as depth_codec
from aether.core.atomic import atomic_path, sweep_temporaries, write_json
from aether.core.errors import CheckpointError
from aether.train.config import TrainConfig
from aether.train.data import ClipWindows, collate
from aether.train.model import build_video_codec
from aether.train.objective import latents_of
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

INDEX = "index.json"
_STORED = ("depth", "c2w", "K", "action", "fps", "p_max", "colour_latents", "depth_latents")


def _file(cache: Path, clip: int, frames: int, fps: float) -> Path:
    return cache / f"clip_{clip:05d}_T{frames}_fps{fps:g}.safetensors"


def _index(config: TrainConfig, paths: list[Path]) -> dict:
    data = config.data
    return {"clips": [str(p) for p in paths], "frames": data.frames, "fps": data.fps, "height": data.height,
            "width": data.width, "windows": data.cache_windows, "video_codec": config.model.video_codec,
            "action_encoder": config.model.action_encoder, "seed": config.seed}


def write_cache(config: TrainConfig, out: str | Path | None = None, progress: bool = True) -> Path:
    """Encode every clip's windows into ``out`` (default ``data.cache``); finished files are kept,
    so an interrupted run resumes."""
    cache = Path(out or config.data.cache or "")
    if not str(cache) or cache == Path("."):
        raise CheckpointError("no cache folder: pass --out or set data.cache in the config")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dataset, codec = ClipWindows(config, 1), build_video_codec(config, device)
    cache.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(cache)  # files a killed earlier run was writing
    write_json(cache / INDEX, _index(config, dataset.paths))
    jobs = [(i, n, f) for i in range(len(dataset.paths)) for n in config.data.frames for f in config.data.fps]
    for clip, frames, fps in tqdm(jobs, desc="cache", unit="file", disable=not progress):
        path = _file(cache, clip, frames, fps)
        if path.exists():
            continue
        rngs = [np.random.default_rng([config.seed, clip, frames, int(fps * 1000), w])
                for w in range(config.data.cache_windows)]
        batch = collate([dataset.example(clip, frames, fps, rng) for rng in rngs])
        batch["colour_latents"], batch["depth_latents"] = (x.cpu() for x in latents_of(batch, codec, device))
        tensors = {key: batch[key].contiguous() for key in _STORED}
        tensors["rgb"] = ((batch["video"] + 1) * 127.5).round().to(torch.uint8).permute(0, 1, 3, 4, 2).contiguous()
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp))
    return cache


class CachedWindows(ClipWindows):
    """:class:`ClipWindows` reading pre-encoded windows; the example also holds the latents."""

    def __init__(self, config: TrainConfig, global_batch: int) -> None:
        super().__init__(config, global_batch)
        self.cache = Path(config.data.cache)
        index_path = self.cache / INDEX
        if not index_path.is_file():
            raise CheckpointError(f"data.cache: {self.cache} holds no {INDEX}; write it with `aether train cache CONFIG`")
        found, wanted = json.loads(index_path.read_text()), _index(config, self.paths)
        stale = [key for key in ("clips", "frames", "fps", "height", "width", "video_codec", "action_encoder")
                 if found.get(key) != wanted[key]]
        if stale:
            raise CheckpointError(f"data.cache: {self.cache} was written for other {', '.join(stale)}; "
                                  "rerun `aether train cache CONFIG` into an empty folder")
        self.windows = int(found["windows"])

    def example(self, index: int, frames: int, fps: float, rng: np.random.Generator) -> dict:
        stored = load_file(str(_file(self.cache, index, frames, fps)))
        w = int(rng.integers(self.windows))
        example = {key: stored[key][w] for key in _STORED}
        example["video"] = stored["rgb"][w].permute(0, 3, 1, 2).float() / 127.5 - 1.0
        example["depth_video"] = depth_codec.encode(example["depth"])[0]
        return example
