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
Each file's metadata stamps the clip it was made from (size and modification time): an entry that is
missing, unreadable, of other shapes or dtypes, made from an older version of its clip, or holding
non-finite values is re-encoded with a warning (``write_cache`` and training both check).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from aether.codecs import depth as depth_codec
from aether.codecs.frames import frames_to_video
from aether.core.atomic import atomic_path, sweep_temporaries, write_json
from aether.core.errors import CheckpointError
from aether.core.json_files import read_json_object
from aether.core.progress import progress_bar
from aether.train.config import TrainConfig
from aether.train.data import ClipWindows, check_clip, collate
from aether.train.model import build_video_codec, vae_dir
from aether.train.conditions import TaskSampler
from aether.train.latents import encode_posteriors, single_frames
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

INDEX = "index.json"
FORMAT = "posteriors-1"  # what the files hold; caches of latents (no format) are refused
_STORED = ("depth", "c2w", "K", "action", "fps", "p_max", "colour_posterior", "depth_posterior",
           "image_posteriors")


def _file(cache: Path, clip: int, frames: int, fps: float) -> Path:
    return cache / f"clip_{clip:05d}_T{frames}_fps{fps:g}.safetensors"


def _index(config: TrainConfig, paths: list[Path]) -> dict:
    data = config.data
    vae = vae_dir(config)  # posteriors of another VAE would be other latents under the same codec name
    return {"format": FORMAT, "clips": [str(p) for p in paths], "frames": data.frames, "fps": data.fps,
            "height": data.height, "width": data.width, "windows": data.cache_windows,
            "video_codec": config.model.video_codec, "vae": str(Path(vae).resolve()) if vae else None,
            "action_encoder": config.model.action_encoder, "seed": config.seed}


def _stamp(clip: Path) -> str:
    """What says a clip changed: size and newest modification time of its file (or of its folder's files)."""
    files = [clip] if clip.is_file() else [p for p in clip.rglob("*") if p.is_file()]
    stats = [p.stat() for p in files]
    return f"{sum(s.st_size for s in stats)}:{max((s.st_mtime_ns for s in stats), default=0)}"


_DTYPES = {"rgb": "U8", "image_frames": "I64"}  # every other tensor is float32


def _entry_problem(path: Path, clip: Path, frames: int, height: int, width: int, windows: int,
                   image_frames: list[int]) -> str | None:
    """Why the cache file ``path`` cannot serve windows of ``frames`` frames of ``clip`` (None if it can),
    from its header alone: missing, truncated, other tensors, shapes or dtypes, or an older clip."""
    if not path.is_file():
        return "missing"
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > os.path.getsize(path) - 8:
                return "truncated header"
            header = json.loads(f.read(size))
        meta = header.pop("__metadata__", None) or {}
        end = max(int(t["data_offsets"][1]) for t in header.values())
        shapes = {key: tuple(t["shape"]) for key, t in header.items()}
        dtypes = {key: t["dtype"] for key, t in header.items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, struct.error) as exc:
        return f"unreadable header ({exc})"
    if os.path.getsize(path) != 8 + size + end:
        return "truncated"
    if set(shapes) != {*_STORED, "rgb", "image_frames"}:
        return f"holds {sorted(shapes)}"
    wrong = [key for key, dtype in dtypes.items() if dtype != _DTYPES.get(key, "F32")]
    if wrong:
        return f"dtype of {', '.join(wrong)}"
    N, F, T = windows, frames, shapes["action"][1] if len(shapes["action"]) > 1 else -1
    latent = shapes["colour_posterior"][2:]
    expected = {"rgb": (N, F, height, width, 3), "depth": (N, F, height, width), "c2w": (N, F, 4, 4),
                "K": (N, F, 3, 3), "fps": (N,), "p_max": (N,), "action": (N, T, *shapes["action"][2:]),
                "colour_posterior": (N, T, *latent), "depth_posterior": (N, T, *latent),
                "image_frames": (len(image_frames),), "image_posteriors": (N, len(image_frames), *latent)}
    wrong = [f"{key} {shapes[key]} (expected {shape})" for key, shape in expected.items() if shapes[key] != shape]
    if wrong or len(shapes["action"]) != 5 or len(latent) != 3:
        return f"shapes {'; '.join(wrong) or 'of action or posteriors'}"
    if meta.get("clip_stamp") != _stamp(clip):
        return f"made from another version of {clip}"
    return None


def _encode_entry(config: TrainConfig, example: Callable[..., dict], clip_path: Path, codec, device: torch.device,
                  path: Path, clip: int, frames: int, fps: float, seed: int, windows: int) -> None:
    """Encode ``windows`` windows of ``frames`` frames at ``fps`` of clip ``clip`` (``example``: the online
    :meth:`ClipWindows.example`) into ``path``, atomically, stamped with the clip's version."""
    rngs = [np.random.default_rng([seed, clip, frames, int(fps * 1000), w]) for w in range(windows)]
    batch = collate([example(clip, frames, fps, rng) for rng in rngs])
    image_frames = single_frames(TaskSampler(config.tasks).maskings.values(), frames)
    posteriors = encode_posteriors(codec, batch["video"].to(device), batch["depth_video"].to(device),
                                   image_frames)
    batch["colour_posterior"], batch["depth_posterior"] = posteriors.colour.cpu(), posteriors.depth.cpu()
    images = [posteriors.colour[:, :0]] + [posteriors.images[f] for f in image_frames]  # (N, K, P, h, w)
    batch["image_posteriors"] = torch.cat(images, 1).cpu()
    tensors = {key: batch[key].contiguous() for key in _STORED}
    tensors["image_frames"] = torch.tensor(image_frames, dtype=torch.int64)
    tensors["rgb"] = ((batch["video"] + 1) * 127.5).round().to(torch.uint8).permute(0, 1, 3, 4, 2).contiguous()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"clip_stamp": _stamp(clip_path)})


def _warn(path: Path, problem: str) -> None:
    print(f"warning: cache entry {path}: {problem}; encoding it again", file=sys.stderr)


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
    data = config.data
    jobs = [(clip, frames, fps) for (frames, fps), clips in sorted(dataset.clips.items()) for clip in clips]
    for clip, frames, fps in progress_bar(jobs, desc="cache", unit="file", disable=not progress):
        path = _file(cache, clip, frames, fps)
        # a finished entry is kept (an interrupted run resumes), one that cannot serve is encoded again
        problem = _entry_problem(path, dataset.paths[clip], frames, data.height, data.width, data.cache_windows,
                                 single_frames(maskings, frames))
        if problem is None:
            continue
        if problem != "missing":
            _warn(path, problem)
        _encode_entry(config, dataset.example, dataset.paths[clip], codec, device, path, clip, frames, fps,
                      config.seed, data.cache_windows)
    return cache


class CachedWindows(ClipWindows):
    """:class:`ClipWindows` reading pre-encoded windows; the example also holds the latents."""

    def __init__(self, config: TrainConfig, global_batch: int) -> None:
        super().__init__(config, global_batch, check=False)  # the cache's entries are checked instead
        self.cache = Path(config.data.cache)
        index_path = self.cache / INDEX
        if not index_path.is_file():
            raise CheckpointError(f"data.cache: {self.cache} holds no {INDEX}; write it with "
                                  "`aether train cache CONFIG`")
        found = read_json_object(index_path, CheckpointError, "rerun `aether train cache CONFIG` into an empty folder")
        wanted = _index(config, self.paths)
        stale = [key for key in ("format", "clips", "frames", "fps", "height", "width", "video_codec", "vae",
                                 "action_encoder")
                 if found.get(key) != wanted[key]]
        if stale:
            raise CheckpointError(f"data.cache: {self.cache} was written for other {', '.join(stale)}; "
                                  "rerun `aether train cache CONFIG` into an empty folder")
        windows, seed = found.get("windows"), found.get("seed")
        if not (isinstance(windows, int) and windows > 0 and isinstance(seed, int)):
            raise CheckpointError(f"data.cache: {index_path}: 'windows' and 'seed' must be integers (windows > 0); "
                                  "rerun `aether train cache CONFIG` into an empty folder")
        self.windows, self.cache_seed = windows, seed
        self._codec = None
        maskings = TaskSampler(config.tasks).maskings.values()
        for (frames, fps), clips in sorted(self.clips.items()):  # before step 1, from the headers alone
            for clip in clips:
                path = _file(self.cache, clip, frames, fps)
                problem = _entry_problem(path, self.paths[clip], frames, config.data.height, config.data.width,
                                         self.windows, single_frames(maskings, frames))
                if problem is not None:
                    self.encode_again(path, clip, frames, fps, problem)

    def encode_again(self, path: Path, clip: int, frames: int, fps: float, problem: str) -> None:
        """Re-encode a cache entry that cannot serve, as `aether train cache` writes it (its seed and window count),
        saying so; the clip is checked first, so a damaged clip is refused by name rather than cached."""
        _warn(path, problem)
        check_clip(self.paths[clip])
        in_worker = torch.utils.data.get_worker_info() is not None  # CUDA cannot start in a forked worker
        device = torch.device("cuda" if torch.cuda.is_available() and not in_worker else "cpu")
        if self._codec is None or self._codec[0] != device:
            self._codec = (device, build_video_codec(self.config, device))
        online = partial(ClipWindows.example, self)  # this dataset's clips and encoder, encoding online
        _encode_entry(self.config, online, self.paths[clip], self._codec[1], device, path, clip, frames, fps,
                      self.cache_seed, self.windows)

    def _read(self, path: Path) -> dict[str, torch.Tensor] | None:
        """The entry's tensors, or None if they do not read or hold non-finite values."""
        try:
            stored = load_file(str(path))
        except (OSError, SafetensorError):
            return None
        return stored if all(torch.isfinite(t).all() for t in stored.values() if t.is_floating_point()) else None

    def example(self, index: int, frames: int, fps: float, rng: np.random.Generator) -> dict:
        path = _file(self.cache, index, frames, fps)
        stored = self._read(path)
        if stored is None:  # damaged since the check at the start (or in its data, which the check does not read)
            self.encode_again(path, index, frames, fps, "unreadable or non-finite values")
            stored = self._read(path)
            if stored is None:
                raise CheckpointError(f"data.cache: {path} cannot be read back after encoding it again; "
                                      "check the disk, or delete the cache folder and rerun "
                                      "`aether train cache CONFIG`")
        w = int(rng.integers(self.windows))
        example = {key: stored[key][w] for key in _STORED}
        example["image_frames"] = stored["image_frames"]
        example["video"] = frames_to_video(stored["rgb"][w].numpy(), "cpu", torch.float32)[0]
        example["depth_video"] = depth_codec.encode(example["depth"])[0]
        return example
