"""What each kind of plugin object provides. Tensor layouts crossing package boundaries:

- colour video: ``(B, F, 3, H, W)`` float in [-1, 1], ``F = 4k + 1`` frames;
- latents: ``(B, T, C, H/8, W/8)`` with ``T = k + 1`` latent frames (the transformer's layout);
- depth: ``(B, F, H, W)`` metres, 0 = invalid; cameras: ``c2w (B, F, 4, 4)``, ``K (B, F, 3, 3)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

COLOUR_CHANNELS = 16   # latent channels of one video modality
DEPTH_CHANNELS = 16
ACTION_CHANNELS = 24   # 4 frames x 6 raymap channels per latent frame
OUT_CHANNELS = COLOUR_CHANNELS + DEPTH_CHANNELS + ACTION_CHANNELS  # 56
CONDITION_CHANNELS = COLOUR_CHANNELS + ACTION_CHANNELS  # 40
IN_CHANNELS = OUT_CHANNELS + CONDITION_CHANNELS  # 96


class VideoCodec(ABC):
    """Pixels <-> latents. ``encode((B, F, 3, H, W)) -> (B, T, 16, H/8, W/8)``; ``decode`` inverts,
    unclamped (colour consumers clamp; the depth codec averages channels first, SPEC §8)."""

    latent_channels: int = COLOUR_CHANNELS
    spatial_factor: int = 8
    temporal_factor: int = 4

    @abstractmethod
    def encode(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A stochastic codec samples with ``generator`` if given (deterministic without); others ignore it."""

    @abstractmethod
    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...


class DepthCodec(ABC):
    """Metric depth <-> 3-channel video in [-1, 1] (SPEC §3)."""

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


class TaskMasking(ABC):
    """Which observed colour latents condition the model, and how CFG drops them."""

    name: str
    train_probability: float  # share of training examples using this colour condition (SPEC §1)
    default_steps: int
    default_guidance: float
    dynamic_cfg: bool

    @abstractmethod
    def keep_mask(self, num_latent_frames: int) -> torch.Tensor:
        """``(T,)`` bool: latent frames whose colour latents are given as condition."""

    def colour_condition(self, colour_latents: torch.Tensor) -> torch.Tensor:
        """``(B, T, 16, h, w)`` clean colour latents -> the colour condition (others zeroed)."""
        keep = self.keep_mask(colour_latents.shape[1]).to(colour_latents.device)
        return colour_latents * keep.view(1, -1, 1, 1, 1).to(colour_latents.dtype)

    @abstractmethod
    def unconditional(self, condition: torch.Tensor) -> torch.Tensor:
        """``(B, T, 40, h, w)`` condition -> the CFG unconditional branch's condition."""
