"""Training windows from folders of clips (the clip format of :mod:`aether.core.clip`).

One example is a window of ``F`` frames resampled to ``fps``, fitted to the model size and
encoded online (SPEC §3 depth, SPEC §4 raymap with poses relative to the window's first frame and
translations scaled by the window's ``p_max``). Latents are not made here: the frozen video codec
runs in the training process (or they come from the cache, :mod:`aether.train.cache`).

Example tensors (a batch stacks them with a leading ``B``):
``video (F, 3, H, W)`` in [-1, 1], ``depth (F, H, W)`` metres, ``depth_video (F, 3, H, W)``,
``p_max ()``, ``c2w (F, 4, 4)`` relative to frame 0, ``K (F, 3, 3)`` at model size,
``action (T, 24, h, w)``, ``fps ()``; plus ``keys``: ``(step, slot)`` of each example.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from aether.codecs import depth as depth_codec
from aether.codecs.cameras import relative_to_first
from aether.core.clip import Clip, iter_clip_paths, load_clip
from aether.core.errors import ClipError
from aether.core.registry import default_registry
from aether.tasks.pipeline import cover_crop, fit_frames
from aether.train.config import TrainConfig
from aether.train.sampler import WINDOW, clip_for, example_rng, step_rng
from torch.utils.data import Dataset, default_collate


def clip_paths(config: TrainConfig) -> list[Path]:
    """Every clip file or frame folder of ``config.data.clips`` in a fixed order."""
    paths = [p for entry in config.data.clips for p in iter_clip_paths(entry)]
    if not paths:
        raise ClipError(f"data.clips: no clips found in {', '.join(map(str, config.data.clips))}; "
                        "write some with `aether synth` or point to folders of *.safetensors clips")
    return paths


def window(num_frames: int, clip_fps: float, frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Frame indices ``(frames,)`` of a random window of a clip resampled from ``clip_fps`` to
    ``fps`` (stride ``clip_fps / fps``); a clip too short for the window repeats its last frame."""
    span = (frames - 1) * clip_fps / fps + 1
    start = rng.uniform(0, max(0.0, num_frames - span))
    indices = np.round(start + np.arange(frames) * clip_fps / fps).astype(np.int64)
    return np.minimum(indices, num_frames - 1)


def fit_window(clip: Clip, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resize to cover ``height x width`` and centre-crop, as the pipeline does: uint8
    ``rgb (F, H, W, 3)``, ``depth (F, H, W)`` (nearest, so invalid zeros never blend in) and the
    matching intrinsics ``K (F, 3, 3)``."""
    rgb = fit_frames(clip.rgb, height, width)
    _, size, (y0, x0) = cover_crop(clip.height, clip.width, height, width)
    if (clip.height, clip.width) == (height, width):
        return rgb, clip.depth, clip.K.copy()
    depth = np.stack([cv2.resize(d, size, interpolation=cv2.INTER_NEAREST)[y0:y0 + height, x0:x0 + width]
                      for d in clip.depth])
    sx, sy = size[0] / clip.width, size[1] / clip.height
    K = clip.K.astype(np.float64).copy()
    # pixel centres map as u' = (u + 0.5) s - 0.5, then the crop shifts them
    K[:, 0, 0], K[:, 0, 2] = K[:, 0, 0] * sx, (K[:, 0, 2] + 0.5) * sx - 0.5 - x0
    K[:, 1, 1], K[:, 1, 2] = K[:, 1, 1] * sy, (K[:, 1, 2] + 0.5) * sy - 0.5 - y0
    return rgb, depth, K.astype(np.float32)


class ClipWindows(Dataset):
    """Map-style dataset indexed by ``(step, slot)`` keys (see :mod:`aether.train.sampler`)."""

    def __init__(self, config: TrainConfig, global_batch: int) -> None:
        self.config, self.global_batch = config, global_batch
        self.paths = clip_paths(config)
        self.encoder = default_registry().build("action_encoder", config.model.action_encoder)

    def __len__(self) -> int:
        return len(self.paths)

    def shape_at(self, step: int) -> tuple[int, float]:
        """The frame count and fps of every example of ``step``: a step's batch shares its shape and
        its RoPE positions, so every process runs the same model calls (FSDP needs that)."""
        rng, data = step_rng(self.config.seed, step), self.config.data
        return data.frames[int(rng.integers(len(data.frames)))], data.fps[int(rng.integers(len(data.fps)))]

    def __getitem__(self, key: tuple[int, int]) -> dict:
        step, slot = key
        index = clip_for(self.config.seed, step, slot, self.global_batch, len(self.paths))
        example = self.example(index, *self.shape_at(step), example_rng(self.config.seed, step, slot, WINDOW))
        example["keys"] = torch.tensor(key)
        return example

    def example(self, index: int, frames: int, fps: float, rng: np.random.Generator) -> dict:
        """A window of ``frames`` frames at ``fps`` of clip ``index`` drawn with ``rng``, encoded (module doc)."""
        path = self.paths[index]
        clip = load_clip(path)
        clip.require("depth", "K", "c2w", where=str(path))
        indices = window(clip.num_frames, clip.fps, frames, fps, rng)
        data = self.config.data
        rgb, depth, K = fit_window(clip.select(indices), data.height, data.width)
        video = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        depth = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))
        depth_video, p_max = depth_codec.encode(depth)
        c2w = relative_to_first(torch.from_numpy(clip.c2w[indices]).double()).float()
        K = torch.from_numpy(K)
        action = self.encoder.encode(c2w[None], K[None], data.height, data.width, p_max[None])[0]
        return {"video": video, "depth": depth, "depth_video": depth_video, "p_max": p_max, "c2w": c2w,
                "K": K, "action": action, "fps": torch.tensor(fps, dtype=torch.float32)}


def collate(examples: list[dict]) -> dict:
    """Stack examples into a batch (every tensor gains a leading ``B``)."""
    return default_collate(examples)


def worker_init(_: int) -> None:
    """One intra-op thread per worker: workers run in parallel already."""
    torch.set_num_threads(1)
