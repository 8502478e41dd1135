"""Export a training checkpoint to the released model folder layout that
:meth:`aether.tasks.pipeline.AetherPipeline.from_pretrained` loads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from aether.core.backbone import AetherBackbone
from aether.core.errors import CheckpointError
from aether.core.model_folder import write_model_folder
from aether.train.checkpoint import EMA_FILE, META, list_checkpoints, load_prompt, load_weights, read_meta
from diffusers import CogVideoXTransformer3DModel


def readable_weights(run_dir_or_checkpoint: str | os.PathLike,
                     ema: bool | None = None) -> tuple[Path, dict, dict[str, torch.Tensor]]:
    """The checkpoint to export, its metadata and weights: a checkpoint folder itself, or a run folder's newest
    whose metadata and weights read (a damaged newer one is named on stderr and passed over, left in place).
    ``ema=None`` takes the EMA weights when the checkpoint has them."""
    path = Path(run_dir_or_checkpoint)
    explicit = (path / META).is_file()
    candidates = [path] if explicit else list(reversed(list_checkpoints(path)))
    if not candidates:
        read_meta(path)  # raises the error that explains what was expected
    damaged: list[CheckpointError] = []
    for checkpoint in candidates:
        try:
            meta = read_meta(checkpoint)
            weights = load_weights(checkpoint, ema=(checkpoint / EMA_FILE).is_file() if ema is None else ema, meta=meta)
            load_prompt(checkpoint)  # read again by the export: a damaged one passes over this checkpoint too
        except CheckpointError as exc:
            damaged.append(exc)
            continue
        for exc in damaged:
            print(f"warning: {exc}; exporting {checkpoint.name} instead", file=sys.stderr)
        return checkpoint, meta, weights
    raise damaged[0] if explicit else CheckpointError(f"no checkpoint of {path} can be read: "
                                                      f"{'; '.join(map(str, damaged))}")


def export_model(run_dir_or_checkpoint: str | os.PathLike, out_dir: str | os.PathLike, ema: bool | None = None,
                 overwrite: bool = True) -> Path:
    """Write the model folder of a checkpoint (or a run's newest readable one) to ``out_dir``:
    ``transformer/``, ``scheduler/``, ``empty_prompt_embeds.safetensors``, ``aether.json`` naming the codecs,
    and the VAE copied from the training config's ``vae/`` for the cogvideox codec. ``ema=None`` exports
    the EMA weights when the checkpoint has them."""
    checkpoint, meta, weights = readable_weights(run_dir_or_checkpoint, ema)
    transformer = CogVideoXTransformer3DModel.from_config(meta["transformer_config"])
    backbone = AetherBackbone(transformer, load_prompt(checkpoint))
    backbone.load_state_dict(weights)
    return write_model_folder(out_dir, backbone, scheduler_config=meta["scheduler_config"],
                              settings={"video_codec": meta["video_codec"], "action_encoder": meta["action_encoder"]},
                              vae_dir=meta.get("vae_dir"), overwrite=overwrite)
