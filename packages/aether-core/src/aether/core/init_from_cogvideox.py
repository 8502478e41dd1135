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
from aether.core.model_folder import (PROMPT_EMBEDS_FILE, TRANSFORMER, VAE, check_weights, load_prompt_embeds,
                                      read_transformer_config, read_vae_config, write_model_folder)

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


def _check_destination(src: Path, dst: Path, overwrite: bool) -> None:
    """CheckpointError before minutes of loading when ``dst`` cannot be written as asked: it exists without
    ``overwrite``, is a file (the folder swap would fail half-way), or overlaps ``src`` (``--overwrite`` would
    delete the weights being read)."""
    if dst.exists() and not overwrite:
        raise CheckpointError(f"{dst} already exists; choose another destination or pass --overwrite to replace it")
    if dst.exists() and not dst.is_dir():
        raise CheckpointError(f"{dst} is a file, not a model folder; --overwrite replaces only a folder: remove the "
                              "file or choose another destination")
    source, target = src.resolve(), dst.resolve()
    if source == target or source.is_relative_to(target) or target.is_relative_to(source):
        raise CheckpointError(f"destination {dst} overlaps the source {src}; write the AETHER model folder outside "
                              "the CogVideoX folder")


def _check_vae(vae_dir: Path) -> None:
    """CheckpointError unless ``vae_dir`` is a VAE folder whose weights fit its config, so that a damaged
    ``vae/`` is not copied into a folder that looks complete."""
    from diffusers import AutoencoderKLCogVideoX

    advice = "re-copy CogVideoX-5b-I2V's vae/ folder, or remove it and copy one into the result later"
    if not vae_dir.is_dir():
        raise CheckpointError(f"{vae_dir} is not a folder; {advice}")
    if not (vae_dir / "config.json").is_file():
        raise CheckpointError(f"{vae_dir} has no config.json; {advice}")
    check_weights(vae_dir, AutoencoderKLCogVideoX, read_vae_config(vae_dir, advice))


def init_from_cogvideox(src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool = False,
                        dtype: torch.dtype = torch.bfloat16) -> Path:
    """Write an AETHER model folder at ``dst`` from the CogVideoX-I2V folder ``src``: the expanded
    transformer, the default scheduler, ``src``'s ``vae/`` and ``empty_prompt_embeds.safetensors``
    when present (otherwise add the latter with ``aether model embed-prompt``)."""
    src, dst = Path(src), Path(dst)
    transformer_dir = _transformer_dir(src)
    _check_destination(src, dst, overwrite)
    config = read_transformer_config(transformer_dir, "re-download the transformer/ folder")  # before any build
    embeds_path, vae_dir = src / PROMPT_EMBEDS_FILE, src / VAE
    if vae_dir.exists():
        _check_vae(vae_dir)
    embeds = load_prompt_embeds(embeds_path) if embeds_path.is_file() else None
    width, length = config.get("text_embed_dim"), config.get("max_text_seq_length")
    if embeds is not None and ((width is not None and embeds.shape[2] != width)
                               or (length is not None and embeds.shape[1] != length)):
        # the written folder would be refused by every command that loads it
        raise CheckpointError(f"{embeds_path} holds embeddings of shape {tuple(embeds.shape)} but the transformer "
                              f"needs (1, {length}, {width}) (max_text_seq_length, text_embed_dim); the file is from "
                              "another model: remove it and run `aether model embed-prompt` on the result")
    try:
        model = CogVideoXTransformer3DModel.from_pretrained(transformer_dir, torch_dtype=dtype)
    except Exception as exc:  # diffusers/safetensors raise many types on bad folders
        raise CheckpointError(f"cannot load the CogVideoX transformer in {transformer_dir} ({exc}); "
                              "re-download it") from exc
    return write_model_folder(dst, expand_transformer(model), prompt_embeds=embeds,
                              vae_dir=vae_dir if vae_dir.is_dir() else None, overwrite=overwrite)
