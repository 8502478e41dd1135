"""Pre-encoded windows (``aether train cache CONFIG``): for every clip, frame count and frame rate it
can give (:meth:`ClipWindows.example`), a fixed set of ``data.cache_windows`` windows with the frozen
video codec's posteriors, so training skips the VAE encoder and still draws its own samples
(:mod:`aether.train.latents`). Training with ``data.cache`` set draws one of a clip's cached windows
where the online dataset would draw a fresh one.

Layout: ``<cache>/index.json`` (what the cache was made for) and one safetensors file per clip,
frame count and fps, ``clip_00000_T17_fps12.safetensors``, holding the windows stacked on a
leading axis: ``rgb (N, F, H, W, 3)`` uint8, ``depth``, ``c2w``, ``K``, ``action``, ``fps``, ``p_max``,
``colour_posterior``, ``depth_posterior (N, T, P, h, w)`` of the clip and ``image_posteriors
(N, K, P, h, w)`` of the frames ``image_frames (K,)`` that the task maskings observe on their own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from aether.codecs import depth as depth_codec
from aether.codecs.frames import frames_to_video
from aether.core.atomic import atomic_path, sweep_temporaries, write_json
from aether.core.errors import CheckpointError
from aether.core.progress import progress_bar
from aether.train.config import TrainConfig
from aether.train.data import ClipWindows, collate
from aether.train.model import build_video_codec
from aether.train.conditions import TaskSampler
from aether.train.latents import encode_posteriors, single_frames
from safetensors.torch import load_file, save_file

INDEX = "index.json"
FORMAT = "posteriors-1"  # what the files hold; caches of latents (no format) are refused
_STORED = ("depth", "c2w", "K", "action", "fps", "p_max", "colour_posterior", "depth_posterior",
           "image_posteriors")


def _file(cache: Path, clip: int, frames: int, fps: float) -> Path:
    return cache / f"clip_{clip:05d}_T{frames}_fps{fps:g}.safetensors"


def _index(config: TrainConfig, paths: list[Path]) -> dict:
    data = config.data
    return {"format": FORMAT, "clips": [str(p) for p in paths], "frames": data.frames, "fps": data.fps,
            "height": data.height, "width": data.width, "windows": data.cache_windows,
            "video_codec": config.model.video_codec, "action_encoder": config.model.action_encoder, "seed": config.seed}


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
    maskings = TaskSampler(config.tasks).maskings.values()
    jobs = [(clip, frames, fps) for (frames, fps), clips in sorted(dataset.clips.items()) for clip in clips]
    for clip, frames, fps in progress_bar(jobs, desc="cache", unit="file", disable=not progress):
        path = _file(cache, clip, frames, fps)
        if path.exists():
            continue
        rngs = [np.random.default_rng([config.seed, clip, frames, int(fps * 1000), w])
                for w in range(config.data.cache_windows)]
        batch = collate([dataset.example(clip, frames, fps, rng) for rng in rngs])
        image_frames = single_frames(maskings, frames)
        posteriors = encode_posteriors(codec, batch["video"].to(device), batch["depth_video"].to(device),
                                       image_frames)
        batch["colour_posterior"], batch["depth_posterior"] = posteriors.colour.cpu(), posteriors.depth.cpu()
        images = [posteriors.colour[:, :0]] + [posteriors.images[f] for f in image_frames]  # (N, K, P, h, w)
        batch["image_posteriors"] = torch.cat(images, 1).cpu()
        tensors = {key: batch[key].contiguous() for key in _STORED}
        tensors["image_frames"] = torch.tensor(image_frames, dtype=torch.int64)
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
            raise CheckpointError(f"data.cache: {self.cache} holds no {INDEX}; write it with "
                                  "`aether train cache CONFIG`")
        found, wanted = json.loads(index_path.read_text()), _index(config, self.paths)
        stale = [key for key in ("format", "clips", "frames", "fps", "height", "width", "video_codec",
                                 "action_encoder")
                 if found.get(key) != wanted[key]]
        if stale:
            raise CheckpointError(f"data.cache: {self.cache} was written for other {', '.join(stale)}; "
                                  "rerun `aether train cache CONFIG` into an empty folder")
        self.windows = int(found["windows"])

    def example(self, index: int, frames: int, fps: float, rng: np.random.Generator) -> dict:
        stored = load_file(str(_file(self.cache, index, frames, fps)))
        w = int(rng.integers(self.windows))
        example = {key: stored[key][w] for key in _STORED}
        example["image_frames"] = stored["image_frames"]
        example["video"] = frames_to_video(stored["rgb"][w].numpy(), "cpu", torch.float32)[0]
        example["depth_video"] = depth_codec.encode(example["depth"])[0]
        return example
