"""The trained backbone and the frozen parts around it, built from :class:`TrainConfig`."""

from __future__ import annotations

from pathlib import Path

import torch
from aether.core.backbone import AetherBackbone
from aether.core.model_folder import ModelFolder, default_scheduler_config
from aether.core.registry import default_registry
from aether.train.config import ConfigError, TrainConfig


def build_backbone(config: TrainConfig) -> AetherBackbone:
    """``tiny``: a seeded CPU-sized backbone at the data's latent size; else the model folder's."""
    if config.model.init == "tiny":
        h, w = config.data.latent_size
        overrides = {"sample_height": h, "sample_width": w, "sample_frames": max(config.data.frames),
                     **config.model.tiny}
        return AetherBackbone.tiny(seed=config.seed, **overrides)
    return ModelFolder(config.model.init).load_backbone(torch.float32)


def scheduler_config(config: TrainConfig) -> dict:
    """The diffusers scheduler config: the model folder's, or CogVideoX-5b-I2V's for ``tiny``."""
    if config.model.init == "tiny":
        return default_scheduler_config()
    return ModelFolder(config.model.init).scheduler_config()


def vae_dir(config: TrainConfig) -> Path | None:
    """The VAE folder of the ``cogvideox`` codec (``model.vae_dir`` or ``<init>/vae``); None otherwise."""
    if config.model.video_codec != "cogvideox":
        return None
    if config.model.vae_dir is not None:
        return config.model.vae_dir
    if config.model.init == "tiny":
        raise ConfigError("model.vae_dir: the cogvideox codec needs a VAE folder with a tiny backbone; "
                         "set model.vae_dir or use video_codec: pixel")
    return ModelFolder(config.model.init).vae_dir


def build_video_codec(config: TrainConfig, device: torch.device):
    """The frozen video codec plugin (weights, if any, never train)."""
    name, folder = config.model.video_codec, vae_dir(config)
    codec = default_registry().build("modality", name, **({"vae_dir": folder} if folder else {}))
    for part in vars(codec).values():
        if isinstance(part, torch.nn.Module):
            part.to(device).requires_grad_(False)
    return codec
