"""Training windows from folders of clips (the clip format of :mod:`aether.core.clip`).

One example is a window of ``F`` frames resampled to ``fps`` (by dropping frames, never repeating
any), fitted to the model size and encoded online (docs/FORMATS.md: depth codec, raymap with poses relative
to the window's first frame and translations scaled by the window's ``p_max``). Latents are not made
here: the frozen video codec runs in the training process (or they come from the cache,
:mod:`aether.train.cache`).

Example tensors (a batch stacks them with a leading ``B``):
``video (F, 3, H, W)`` in [-1, 1], ``depth (F, H, W)`` metres, ``depth_video (F, 3, H, W)``,
``p_max ()``, ``c2w (F, 4, 4)`` relative to frame 0, ``K (F, 3, 3)`` at model size,
``action (T, 24, h, w)``, ``fps ()``; plus ``keys``: ``(step, slot)`` of each example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from aether.codecs import depth as depth_codec
from aether.codecs.cameras import relative_to_first
from aether.codecs.errors import CodecError
from aether.codecs.frames import fit_depth, fit_frames, fit_intrinsics, frames_to_video
from aether.core.clip import Clip, clip_length, iter_clip_paths, load_clip
from aether.core.errors import ClipError
from aether.core.progress import progress_bar
from aether.core.registry import default_registry
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


def check_depth(depth: np.ndarray, where: str) -> None:
    """Refuse depth ``(F, H, W)`` that the depth codec would turn into wrong targets: a frame without a valid
    pixel encodes as all far (the whole window's, if every frame is empty, cannot be normalised), and a
    depth so near that ``1 / depth`` overflows float32 makes ``p_max`` infinite."""
    valid = depth > 0
    empty = np.flatnonzero(~valid.reshape(len(depth), -1).any(1))
    if empty.size:
        raise ClipError(f"{where}: field 'depth': frame {int(empty[0])} has no valid (positive) pixel "
                        f"({empty.size} such frame(s)); training would teach it as all far. Fix the depth or cut "
                        "those frames out of the clip")
    nearest = float(depth[valid].min())
    with np.errstate(divide="ignore", over="ignore"):
        overflow = not np.isfinite(np.float32(1) / np.float32(nearest))
    if overflow:
        raise ClipError(f"{where}: field 'depth': nearest depth {nearest:g} m has no finite float32 disparity; "
                        "mark such pixels invalid (0)")


def check_clip(path: Path) -> None:
    """Refuse, naming ``path``, a clip training cannot use: unreadable or invalid (:func:`load_clip`),
    without depth or cameras, or with depth the codec would mis-encode (:func:`check_depth`)."""
    clip = load_clip(path)
    clip.require("depth", "K", "c2w", where=str(path))
    check_depth(clip.depth, str(path))


def window_problem(num_frames: int, clip_fps: float, frames: int, fps: float) -> str | None:
    """Why a clip of ``num_frames`` frames at ``clip_fps`` cannot give a window of ``frames`` frames at
    ``fps``, or None if it can. Resampling only drops frames: repeating any would show the model
    cameras that stop."""
    if clip_fps < fps * (1 - 1e-9):
        return "slower"
    if (frames - 1) * clip_fps / fps + 1 > num_frames + 1e-9:
        return "shorter"
    return None


def window(num_frames: int, clip_fps: float, frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Frame indices ``(frames,)`` of a random window of a clip resampled from ``clip_fps`` to ``fps``
    (stride ``clip_fps / fps >= 1``); the clip must hold it (:func:`window_problem`)."""
    problem = window_problem(num_frames, clip_fps, frames, fps)
    if problem is not None:
        raise ClipError(f"a {num_frames}-frame clip at {clip_fps:g} fps is {problem} than a window of {frames} "
                        f"frames at {fps:g} fps")
    span = (frames - 1) * clip_fps / fps + 1
    start = rng.uniform(0, max(0.0, num_frames - span))
    return np.minimum(np.round(start + np.arange(frames) * clip_fps / fps).astype(np.int64), num_frames - 1)


def fit_window(clip: Clip, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resize to cover ``height x width`` and centre-crop, as the pipeline does: uint8 ``rgb (F, H, W, 3)``,
    ``depth (F, H, W)`` and the matching intrinsics ``K (F, 3, 3)``."""
    return (fit_frames(clip.rgb, height, width), fit_depth(clip.depth, height, width),
            fit_intrinsics(clip.K, clip.height, clip.width, height, width).astype(np.float32))


class ClipWindows(Dataset):
    """Map-style dataset indexed by ``(step, slot)`` keys (see :mod:`aether.train.sampler`).

    Each step draws one window shape ``(frames, fps)`` among those some clip can give, and each example
    a clip among those that can: a clip slower than the fps or shorter than the window never gives it
    (:attr:`skipped` counts these pairs; :meth:`summary` reports them)."""

    def __init__(self, config: TrainConfig, global_batch: int, check: bool = True) -> None:
        self.config, self.global_batch = config, global_batch
        self.paths = clip_paths(config)
        if check:  # a bad clip is found now, not when step 5000 first draws it
            self.check_clips()
        self.encoder = default_registry().build("action_encoder", config.model.action_encoder)
        lengths = [clip_length(path) for path in self.paths]
        self.clips: dict[tuple[int, float], list[int]] = {}
        self.skipped: dict[tuple[int, float], dict[str, int]] = {}
        for frames in config.data.frames:
            for fps in config.data.fps:
                problems = [window_problem(n, clip_fps, frames, fps) for n, clip_fps in lengths]
                fitting = [i for i, problem in enumerate(problems) if problem is None]
                if fitting:
                    self.clips[(frames, fps)] = fitting
                if len(fitting) < len(problems):
                    self.skipped[(frames, fps)] = {reason: problems.count(reason) for reason in ("slower", "shorter")
                                                   if reason in problems}
        if not self.clips:
            found = ", ".join(sorted({f"{n} frames at {clip_fps:g} fps" for n, clip_fps in lengths}))
            raise ClipError(f"data.clips: no clip can give a window of data.frames {config.data.frames} at data.fps "
                            f"{config.data.fps} without repeating frames (the clips hold {found}); lower "
                            "data.frames or data.fps, or add longer clips")
        self.shapes = sorted(self.clips)

    def __len__(self) -> int:
        return len(self.paths)

    def check_clips(self) -> None:
        """Read every clip once and refuse, naming each (the first few), those training cannot use."""
        problems = []
        for path in progress_bar(self.paths, desc="checking clips", unit="clip",
                                 disable=not self.config.progress or len(self.paths) < 2):
            try:
                check_clip(path)
            except ClipError as exc:
                problems.append(str(exc))
        if problems:
            shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            raise ClipError(f"data.clips: {len(problems)} of {len(self.paths)} clip(s) cannot be trained on: {shown}")

    def shape_at(self, step: int) -> tuple[int, float]:
        """The frame count and fps of every example of ``step``: a step's batch shares its shape and
        its RoPE positions, so every process runs the same model calls (FSDP needs that)."""
        return self.shapes[int(step_rng(self.config.seed, step).integers(len(self.shapes)))]

    def summary(self) -> dict:
        """What the clips give: per window shape ``"<frames>@<fps>"``, how many clips give it and how many
        were skipped as slower than the fps or shorter than the window."""
        return {"clips": len(self.paths),
                "windows": {f"{frames}@{fps:g}": {"clips": len(self.clips.get((frames, fps), [])),
                                                  **self.skipped.get((frames, fps), {})}
                            for frames in self.config.data.frames for fps in self.config.data.fps}}

    def __getitem__(self, key: tuple[int, int]) -> dict:
        step, slot = key
        shape = self.shape_at(step)
        fitting = self.clips[shape]
        index = fitting[clip_for(self.config.seed, step, slot, self.global_batch, len(fitting))]
        example = self.example(index, *shape, example_rng(self.config.seed, step, slot, WINDOW))
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
        video = frames_to_video(rgb, "cpu", torch.float32)[0]  # as the pipeline turns frames into its input
        depth = torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))
        c2w = relative_to_first(torch.from_numpy(clip.c2w[indices]).double()).float()
        K = torch.from_numpy(K)
        try:  # the codecs' error would not say which clip (e.g. a crop that leaves no valid depth)
            depth_video, p_max = depth_codec.encode(depth)
            action = self.encoder.encode(c2w[None], K[None], data.height, data.width, p_max[None])[0]
        except CodecError as exc:
            raise ClipError(f"{path}: frames {indices[0]}..{indices[-1]} at {fps:g} fps fitted to "
                            f"{data.height}x{data.width}: {exc}") from None
        return {"video": video, "depth": depth, "depth_video": depth_video, "p_max": p_max, "c2w": c2w,
                "K": K, "action": action, "fps": torch.tensor(fps, dtype=torch.float32)}


def collate(examples: list[dict]) -> dict:
    """Stack examples into a batch (every tensor gains a leading ``B``)."""
    return default_collate(examples)


def worker_init(_: int) -> None:
    """One intra-op thread per worker: workers run in parallel already."""
    torch.set_num_threads(1)
