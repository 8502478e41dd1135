"""Export a training checkpoint to the released model folder layout that
:meth:`aether.tasks.pipeline.AetherPipeline.from_pretrained` loads."""

from __future__ import annotations

import os
from pathlib import Path

from aether.core.backbone import AetherBackbone
from aether.core.model_folder import write_model_folder
from aether.train.checkpoint import EMA_FILE, META, latest_checkpoint, load_prompt, load_weights, read_meta
from diffusers import CogVideoXTransformer3DModel


def resolve_checkpoint(run_dir_or_checkpoint: str | os.PathLike) -> Path:
    """A checkpoint folder itself, or the newest checkpoint of a run folder."""
    path = Path(run_dir_or_checkpoint)
    if (path / META).is_file():
        return path
    found = latest_checkpoint(path)
    if found is None:
        read_meta(path)  # raises the error that explains what was expected
    return found


def export_model(run_dir_or_checkpoint: str | os.PathLike, out_dir: str | os.PathLike, ema: bool | None = None,
                 overwrite: bool = True) -> Path:
    """Write the model folder of a checkpoint (or a run's newest) to ``out_dir``: ``transformer/``,
    ``scheduler/``, ``empty_prompt_embeds.safetensors``, ``aether.json`` naming the codecs, and the
    VAE copied from the training config's ``vae/`` for the cogvideox codec. ``ema=None`` exports
    the EMA weights when the checkpoint has them."""
    checkpoint = resolve_checkpoint(run_dir_or_checkpoint)
    meta = read_meta(checkpoint)
    use_ema = (checkpoint / EMA_FILE).is_file() if ema is None else ema
    transformer = CogVideoXTransformer3DModel.from_config(meta["transformer_config"])
    backbone = AetherBackbone(transformer, load_prompt(checkpoint))
    backbone.load_state_dict(load_weights(checkpoint, ema=use_ema))
    return write_model_folder(out_dir, backbone, scheduler_config=meta["scheduler_config"],
                              settings={"video_codec": meta["video_codec"], "action_encoder": meta["action_encoder"]},
                              vae_dir=meta.get("vae_dir"), overwrite=overwrite)
