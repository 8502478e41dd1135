"""Initialise an AETHER backbone from CogVideoX-I2V (docs/FORMATS.md#tensor-layout): 32 -> 16 channels becomes 96 -> 56.

Input channels: noisy colour ``0:16`` <- old ``0:16`` (noisy latent), colour condition ``56:72`` <- old
``16:32`` (image condition), all others zero. Output channels: colour ``0:16`` <- old ``0:16``, the rest
zero. So the expanded model's colour output equals the original's on the same colour inputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from diffusers import CogVideoXTransformer3DModel

from aether.core.errors import CheckpointError
from aether.core.interfaces import COLOUR_CHANNELS, IN_CHANNELS, OUT_CHANNELS
from aether.core.model_folder import PROMPT_EMBEDS_FILE, TRANSFORMER, VAE, load_prompt_embeds, write_model_folder

I2V_IN_CHANNELS = 2 * COLOUR_CHANNELS  # noisy latent + image condition
I2V_OUT_CHANNELS = COLOUR_CHANNELS
COLOUR_CONDITION_START = OUT_CHANNELS  # the condition follows the 56 noisy channels


def _expand_input(weight: torch.Tensor) -> torch.Tensor:
    """Patch-embedding weight ``(inner, 32, *patch)`` -> ``(inner, 96, *patch)``. Both the Conv2d
    (CogVideoX 1.0) and the Linear (1.5) flatten channels outermost, so a view covers both."""
    old = weight.reshape(weight.shape[0], I2V_IN_CHANNELS, -1)
    new = old.new_zeros(weight.shape[0], IN_CHANNELS, old.shape[2])
    new[:, :COLOUR_CHANNELS] = old[:, :COLOUR_CHANNELS]
    new[:, COLOUR_CONDITION_START:COLOUR_CONDITION_START + COLOUR_CHANNELS] = old[:, COLOUR_CHANNELS:]
    return new.reshape(weight.shape[0], -1, *weight.shape[2:]) if weight.ndim > 2 else new.reshape(weight.shape[0], -1)


def _expand_output(tensor: torch.Tensor) -> torch.Tensor:
    """``proj_out`` weight ``(16 * p * p, inner)`` or bias ``(16 * p * p,)`` -> 56 channels. diffusers'
    unpatchify splits the features as ``(C, p, p)`` (channel outermost), so colour is the first block."""
    old = tensor.reshape(I2V_OUT_CHANNELS, -1, *tensor.shape[1:])
    new = old.new_zeros(OUT_CHANNELS, *old.shape[1:])
    new[:COLOUR_CHANNELS] = old
    return new.reshape(-1, *tensor.shape[1:])


def expand_transformer(model: CogVideoXTransformer3DModel) -> CogVideoXTransformer3DModel:
    """A 96 -> 56 channel copy of a 32 -> 16 channel CogVideoX-I2V transformer (old weights untouched)."""
    cfg = model.config
    if cfg.in_channels != I2V_IN_CHANNELS or cfg.out_channels != I2V_OUT_CHANNELS:
        raise CheckpointError(f"expected a CogVideoX-I2V transformer with {I2V_IN_CHANNELS} input / "
                              f"{I2V_OUT_CHANNELS} output channels, got {cfg.in_channels} / {cfg.out_channels}")
    state = model.state_dict()
    state["patch_embed.proj.weight"] = _expand_input(state["patch_embed.proj.weight"])
    state["proj_out.weight"] = _expand_output(state["proj_out.weight"])
    state["proj_out.bias"] = _expand_output(state["proj_out.bias"])
    config = {k: v for k, v in cfg.items() if not k.startswith("_")}
    with torch.device("meta"):  # no random init of billions of weights that are overwritten anyway
        expanded = CogVideoXTransformer3DModel(**{**config, "in_channels": IN_CHANNELS, "out_channels": OUT_CHANNELS})
    expanded.load_state_dict(state, strict=False, assign=True)
    # buffers that are not in the state dict (e.g. non-persistent positional tables) are rebuilt
    for name, buffer in model.named_buffers():
        if name not in state:
            module_name, _, attr = name.rpartition(".")
            setattr(expanded.get_submodule(module_name), attr, buffer.clone())
    return expanded


def _transformer_dir(src: Path) -> Path:
    for candidate in (src / TRANSFORMER, src):
        if (candidate / "config.json").is_file():
            return candidate
    raise CheckpointError(f"{src} is neither a CogVideoX-I2V model folder (with transformer/) nor a transformer "
                          "folder (with config.json); point to e.g. a local CogVideoX-5b-I2V download")


def init_from_cogvideox(src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool = False,
                        dtype: torch.dtype = torch.bfloat16) -> Path:
    """Write an AETHER model folder at ``dst`` from the CogVideoX-I2V folder ``src``: the expanded
    transformer, the default scheduler, ``src``'s ``vae/`` and ``empty_prompt_embeds.safetensors``
    when present (otherwise add the latter with ``aether model embed-prompt``)."""
    src = Path(src)
    transformer_dir = _transformer_dir(src)
    try:
        model = CogVideoXTransformer3DModel.from_pretrained(transformer_dir, torch_dtype=dtype)
    except Exception as exc:  # diffusers/safetensors raise many types on bad folders
        raise CheckpointError(f"cannot load the CogVideoX transformer in {transformer_dir} ({exc}); "
                              "re-download it") from exc
    embeds_path, vae_dir = src / PROMPT_EMBEDS_FILE, src / VAE
    return write_model_folder(dst, expand_transformer(model),
                              prompt_embeds=load_prompt_embeds(embeds_path) if embeds_path.is_file() else None,
                              vae_dir=vae_dir if vae_dir.is_dir() else None, overwrite=overwrite)
