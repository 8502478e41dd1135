"""What the frozen video codec gives a training example, drawn the way inference draws it.

Per example: the clip's colour and depth latents (the targets), and the colour condition's observed
latents made as the pipeline makes them (:meth:`aether.core.interfaces.TaskMasking.observed_frames`):
the whole clip's encoding for reconstruction, the observation and goal images encoded each on its own
as a one-frame video for prediction and planning. The codec's posteriors are computed once per batch
(or read from the cache) and sampled per example with generators seeded by
:func:`aether.train.sampler.posterior_seeds`: the condition's generator draws in the order a pipeline
pass's generator does, so an example's condition is what the pipeline builds at that seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from aether.core.errors import CheckpointError
from aether.core.interfaces import TaskMasking, VideoCodec


@dataclass
class Posteriors:
    """A batch's codec posteriors (:meth:`VideoCodec.posterior`): ``colour``, ``depth (B, T, P, h, w)``
    of the clips and ``images[f] (B, 1, P, h, w)`` of video frame ``f`` encoded on its own."""

    colour: torch.Tensor
    depth: torch.Tensor
    images: dict[int, torch.Tensor]


def single_frames(maskings: Iterable[TaskMasking], num_frames: int) -> list[int]:
    """The video frames of an ``F``-frame clip that some masking observes on their own, sorted."""
    return sorted({f for masking in maskings for f in (masking.observed_frames(num_frames) or [])})


@torch.no_grad()
def encode_posteriors(codec: VideoCodec, video: torch.Tensor, depth_video: torch.Tensor,
                      frames: list[int]) -> Posteriors:
    """Posteriors of clips ``video``, ``depth_video (B, F, 3, H, W)`` in [-1, 1] and of their ``frames``
    as one-frame videos (all of them in one codec call)."""
    images = {}
    if frames:
        B, K = video.shape[0], len(frames)
        stacked = codec.posterior(video[:, frames].flatten(0, 1)[:, None])  # (B K, 1, P, h, w), example-major
        stacked = stacked.view(B, K, *stacked.shape[2:])
        images = {f: stacked[:, k:k + 1] for k, f in enumerate(frames)}
    return Posteriors(codec.posterior(video), codec.posterior(depth_video), images)


def posteriors_of(batch: dict, codec: VideoCodec, frames: list[int], device: torch.device) -> Posteriors:
    """The batch's posteriors: from the cache if it holds them (``colour_posterior``, ``depth_posterior``,
    ``image_posteriors (B, K, P, h, w)`` of frames ``image_frames (B, K)``), else from the frozen codec."""
    if "colour_posterior" not in batch:
        return encode_posteriors(codec, batch["video"].to(device), batch["depth_video"].to(device), frames)
    cached = batch["image_frames"][0].tolist()
    missing = sorted(set(frames) - set(cached))
    if missing:
        raise CheckpointError(f"data.cache holds no one-frame encodings of frames {missing}, which the task "
                              "maskings observe; rerun `aether train cache CONFIG` into an empty folder")
    images = batch["image_posteriors"].to(device)
    return Posteriors(batch["colour_posterior"].to(device), batch["depth_posterior"].to(device),
                      {f: images[:, k:k + 1] for k, f in enumerate(cached)})


def observed(codec: VideoCodec, posteriors: Posteriors, index: int, masking: TaskMasking, num_frames: int,
             generator: torch.Generator | None) -> torch.Tensor | None:
    """Example ``index``'s observed colour latents ``(1, K, 16, h, w)`` for ``masking`` (None if it observes
    none), drawn with ``generator`` in time order (its mode without one)."""
    frames = masking.observed_frames(num_frames)
    if frames is None:
        keep = masking.keep_mask(posteriors.colour.shape[1]).to(posteriors.colour.device)
        return codec.sample(posteriors.colour[index:index + 1], generator)[:, keep] if keep.any() else None
    if not frames:
        return None
    return torch.cat([codec.sample(posteriors.images[f][index:index + 1], generator) for f in frames], dim=1)
