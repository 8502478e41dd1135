"""What each kind of plugin object provides. Tensor layouts crossing package boundaries:

- colour video: ``(B, F, 3, H, W)`` float in [-1, 1], ``F = 4k + 1`` frames;
- latents: ``(B, T, C, H/8, W/8)`` with ``T = k + 1`` latent frames (the transformer's layout);
- depth: ``(B, F, H, W)`` metres, 0 = invalid; cameras: ``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from aether.core.errors import ActionLayoutError

COLOUR_CHANNELS = 16   # latent channels of one video modality
DEPTH_CHANNELS = 16
ACTION_CHANNELS = 24   # 4 frames x 6 raymap channels per latent frame
OUT_CHANNELS = COLOUR_CHANNELS + DEPTH_CHANNELS + ACTION_CHANNELS  # 56
CONDITION_CHANNELS = COLOUR_CHANNELS + ACTION_CHANNELS  # 40
IN_CHANNELS = OUT_CHANNELS + CONDITION_CHANNELS  # 96


class VideoCodec(ABC):
    """Pixels <-> latents. ``encode((B, F, 3, H, W)) -> (B, T, 16, H/8, W/8)``; ``decode`` inverts,
    unclamped (colour consumers clamp; the depth codec averages channels first, docs/FORMATS.md#around-the-model)."""

    latent_channels: int = COLOUR_CHANNELS
    spatial_factor: int = 8
    temporal_factor: int = 4

    @abstractmethod
    def encode(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A stochastic codec samples with ``generator`` if given (deterministic without); others ignore it.
        Equals ``sample(posterior(video), generator)``."""

    @abstractmethod
    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...

    def posterior(self, video: torch.Tensor) -> torch.Tensor:
        """``(B, F, 3, H, W)`` -> the encoder's posterior parameters ``(B, T, P, h, w)``, which
        :meth:`sample` turns into latents: training caches them and draws its own samples. A
        deterministic codec's parameters are its latents."""
        return self.encode(video)

    def sample(self, posterior: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents ``(B, T, 16, h, w)`` from :meth:`posterior`'s parameters: drawn with ``generator``
        (the same draws ``encode`` makes with it), or the mode without one."""
        return posterior


class DepthCodec(ABC):
    """Metric depth <-> 3-channel video in [-1, 1] (docs/FORMATS.md#depth-codec)."""

    @abstractmethod
    def encode(self, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, F, H, W)`` depth -> (``(B, F, 3, H, W)`` video, ``(B,)`` p_max)."""

    @abstractmethod
    def decode(self, video: torch.Tensor, p_max: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, F, 3, H, W)`` video -> ``(B, F, H, W)`` depth (relative if ``p_max`` is None)."""


class ActionEncoder(ABC):
    """Camera trajectory <-> latent action channels (``channels`` per latent frame)."""

    channels: int = ACTION_CHANNELS

    @abstractmethod
    def encode(self, c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
               p_max: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, F, 4, 4)``, ``(B, F, 3, 3)`` -> ``(B, T, channels, height/8, width/8)``."""

    @abstractmethod
    def decode(self, action: torch.Tensor, height: int, width: int,
               p_max: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, channels, h, w)`` -> (``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)``)."""

    def to_raymap(self, action: torch.Tensor) -> torch.Tensor:
        """``(B, T, channels, h, w)`` -> the raymap ``(B, F, 6, h, w)`` the channels hold
        (docs/FORMATS.md#raymap-codec): world ray
        directions of camera z = 1, then ``signed_log1p(t p_max s_ray)`` origins (stage-2 training's pointmap
        loss reads it). The default holds none and says so: nothing may read other channels as a raymap."""
        raise ActionLayoutError(f"the {type(self).__name__} action encoder's channels hold no AETHER "
                                "raymap (ray directions and origins)")

    def from_raymap(self, raymap: torch.Tensor) -> torch.Tensor:
        """A raymap ``(B, F, 6, h, w)`` (the release's ``--raymap`` input, docs/FORMATS.md#raymap-codec) -> this action
        ``(B, T, channels, h, w)``. The default cannot and says so."""
        raise ActionLayoutError(f"the {type(self).__name__} action encoder does not read raymaps; give the "
                                "trajectory as camera poses (a TUM file) instead")


class TaskMasking(ABC):
    """Which observed colour latents condition the model, and how CFG drops them."""

    name: str
    train_probability: float  # share of training examples using this colour condition (docs/FORMATS.md#tasks)
    default_steps: int
    default_guidance: float
    dynamic_cfg: bool

    @abstractmethod
    def keep_mask(self, num_latent_frames: int) -> torch.Tensor:
        """``(T,)`` bool: latent frames whose colour latents are given as condition."""

    def observed_frames(self, num_frames: int) -> list[int] | None:
        """How inference observes the kept latents of an ``F``-frame clip, which training reproduces:
        ``None``, the kept latents of the whole clip encoded as one video; or video frame indices, each
        encoded on its own as a one-frame video, one per kept latent frame in time order.

        Default: the whole clip when every latent frame is kept (reconstruction), else frame ``4t`` for
        each kept latent ``t``, so latent 0 observes the first frame and the last latent the last frame
        (the observation and goal images of prediction and planning)."""
        keep = self.keep_mask((num_frames - 1) // VideoCodec.temporal_factor + 1)
        if bool(keep.all()):
            return None
        return [int(t) * VideoCodec.temporal_factor for t in keep.nonzero().flatten()]

    @abstractmethod
    def unconditional(self, condition: torch.Tensor) -> torch.Tensor:
        """``(B, T, 40, h, w)`` condition -> the CFG unconditional branch's condition."""
