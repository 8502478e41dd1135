"""The AETHER backbone: diffusers' ``CogVideoXTransformer3DModel`` with 96 input and 56 output
channels (docs/FORMATS.md#tensor-layout), the fps-aware rotary embedding and the stored empty-prompt embedding.

The released AetherV1 ``transformer/`` folder loads unchanged with :meth:`AetherBackbone.from_pretrained`;
:meth:`AetherBackbone.tiny` builds a CPU-sized model of the same class for tests.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from diffusers import CogVideoXTransformer3DModel
from torch import nn

from aether.core.attention import DEFAULT_BACKEND, build_attention_processor, install_attention_processor
from aether.core.errors import CheckpointError
from aether.core.interfaces import IN_CHANNELS, OUT_CHANNELS
from aether.core.rope import BASE_FPS, rotary_embedding

# A CPU-sized model of the released class: same code paths (CogVideoX 1.0, RoPE, patch 2).
TINY_CONFIG: dict[str, Any] = dict(
    num_attention_heads=2, attention_head_dim=16, in_channels=IN_CHANNELS, out_channels=OUT_CHANNELS,
    time_embed_dim=16, text_embed_dim=32, num_layers=2, sample_width=16, sample_height=16,
    sample_frames=9, max_text_seq_length=8, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=False,
)
_TRANSFORMER_ARGS = frozenset(inspect.signature(CogVideoXTransformer3DModel.__init__).parameters) - {"self"}
_ROPE_CACHE_SIZE = 8


def _check_channels(transformer: CogVideoXTransformer3DModel, where: str) -> None:
    cfg = transformer.config
    if cfg.in_channels != IN_CHANNELS or cfg.out_channels != OUT_CHANNELS:
        raise CheckpointError(
            f"{where} has {cfg.in_channels} input / {cfg.out_channels} output channels, AETHER needs "
            f"{IN_CHANNELS} / {OUT_CHANNELS}; expand a CogVideoX-I2V transformer with "
            "`aether model init-from-cogvideox`")


class AetherBackbone(nn.Module):
    """``(B, T, 96, h, w)`` noisy latent + condition -> ``(B, T, 56, h, w)`` prediction.

    Holds the diffusers transformer (``.transformer``) and, optionally, the empty-prompt text
    embedding ``(1, L, text_embed_dim)`` used whenever ``forward`` gets no ``prompt_embeds``.
    """

    def __init__(self, transformer: CogVideoXTransformer3DModel, prompt_embeds: torch.Tensor | None = None) -> None:
        super().__init__()
        _check_channels(transformer, "the transformer")
        self.transformer = transformer
        self.register_buffer("prompt_embeds", None, persistent=False)
        if prompt_embeds is not None:
            self.set_prompt_embeds(prompt_embeds)
        self._rope_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def config(self):
        """The diffusers transformer config (``attention_head_dim``, ``patch_size``, ...)."""
        return self.transformer.config

    @classmethod
    def from_pretrained(cls, transformer_dir: str | os.PathLike, dtype: torch.dtype = torch.float32,
                        prompt_embeds: torch.Tensor | None = None) -> "AetherBackbone":
        """Load a diffusers ``transformer/`` folder (config.json + safetensors, sharded or not).

        The folder's empty-prompt embedding is the model folder's to read
        (:meth:`aether.core.model_folder.ModelFolder.load_backbone` passes it as ``prompt_embeds``).
        """
        transformer_dir = Path(transformer_dir)
        if not (transformer_dir / "config.json").is_file():
            raise CheckpointError(f"{transformer_dir} has no config.json; point to a diffusers transformer/ folder "
                                  "(e.g. AetherV1's transformer/)")
        if not any(transformer_dir.glob("*.safetensors")):  # asked first: diffusers logs its own lines on the way
            raise CheckpointError(f"{transformer_dir} holds no .safetensors weights; copy or re-export the "
                                  "transformer/ folder with them (pickled .bin weights are never loaded)")
        try:
            # safetensors only: diffusers would otherwise unpickle a .bin, which can run code
            transformer = CogVideoXTransformer3DModel.from_pretrained(transformer_dir, torch_dtype=dtype,
                                                                      use_safetensors=True)
        except Exception as exc:  # diffusers/safetensors raise OSError, ValueError, SafetensorError, ...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(f"cannot load the transformer weights in {transformer_dir} ({reason}); "
                                  "the .safetensors files are missing, truncated or corrupt (pickled .bin weights are "
                                  "never loaded): re-download or re-export them") from exc
        _check_channels(transformer, str(transformer_dir))
        return cls(transformer, prompt_embeds).to(dtype)

    @classmethod
    def tiny(cls, seed: int = 0, **overrides: Any) -> "AetherBackbone":
        """A CPU-sized backbone (``TINY_CONFIG`` updated by ``overrides``), seeded weights and a seeded
        stand-in empty-prompt embedding ``(1, max_text_seq_length, text_embed_dim)``."""
        unknown = set(overrides) - _TRANSFORMER_ARGS
        if unknown:
            raise ValueError(f"unknown CogVideoXTransformer3DModel options {sorted(unknown)}; "
                             f"valid ones: {sorted(_TRANSFORMER_ARGS)}")
        config = {**TINY_CONFIG, **overrides}
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            transformer = CogVideoXTransformer3DModel(**config)
        embeds = torch.randn(1, config["max_text_seq_length"], config["text_embed_dim"], generator=generator)
        return cls(transformer, embeds)

    def set_prompt_embeds(self, prompt_embeds: torch.Tensor) -> None:
        """Store the empty-prompt embedding ``(1, L, text_embed_dim)``."""
        dim = self.config.text_embed_dim
        if prompt_embeds.ndim != 3 or prompt_embeds.shape[0] != 1 or prompt_embeds.shape[2] != dim:
            raise ValueError(f"prompt_embeds must be (1, L, {dim}), got {tuple(prompt_embeds.shape)}")
        param = next(self.transformer.parameters())
        self.prompt_embeds = prompt_embeds.to(device=param.device, dtype=param.dtype)

    def set_attention_backend(self, name: str = DEFAULT_BACKEND) -> None:
        """Use the installed attention backend ``name`` (``sdpa``, ``xformers``, ``triton``, ``triton-rope``,
        ...) in every layer."""
        install_attention_processor(self.transformer, build_attention_processor(name))

    def rotary(self, num_frames: int, height: int, width: int, fps: float,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The ``image_rotary_emb`` for a ``(T, h, w)`` latent grid at ``fps`` (None without RoPE); cached."""
        if not self.config.use_rotary_positional_embeddings:
            return None
        key = (num_frames, height, width, float(fps), str(device))
        if key not in self._rope_cache:
            if len(self._rope_cache) >= _ROPE_CACHE_SIZE:
                self._rope_cache.pop(next(iter(self._rope_cache)))
            self._rope_cache[key] = rotary_embedding(num_frames, height, width, float(fps), self.config, device)
        return self._rope_cache[key]

    def _check_inputs(self, latent: torch.Tensor, timestep: torch.Tensor) -> None:
        patch = self.config.patch_size
        if latent.ndim != 5 or latent.shape[2] != IN_CHANNELS:
            raise ValueError(f"latent must be (B, T, {IN_CHANNELS}, h, w) = cat(noisy 56, condition 40), "
                             f"got {tuple(latent.shape)}")
        if latent.shape[3] % patch or latent.shape[4] % patch:
            raise ValueError(f"latent height and width must be multiples of the patch size {patch}, "
                             f"got {latent.shape[3]}x{latent.shape[4]}")
        if not torch.isfinite(latent).all():
            raise ValueError("latent holds NaN or inf values; check the VAE encoding and the condition")
        if timestep.shape != (latent.shape[0],):
            raise ValueError(f"timestep must be a scalar or (B,) = ({latent.shape[0]},), got {tuple(timestep.shape)}")

    def forward(self, latent: torch.Tensor, timestep: torch.Tensor | float,
                fps: float | torch.Tensor | Sequence[float] = BASE_FPS,
                prompt_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """``latent (B, T, 96, h, w)``, ``timestep`` scalar or ``(B,)``, ``fps`` scalar or ``(B,)``,
        ``prompt_embeds (B or 1, L, D)`` (default: the stored empty prompt) -> ``(B, T, 56, h, w)``."""
        batch = latent.shape[0]
        timestep = torch.as_tensor(timestep, device=latent.device)
        if timestep.ndim == 0:
            timestep = timestep.expand(batch)
        self._check_inputs(latent, timestep)
        if prompt_embeds is None:
            if self.prompt_embeds is None:
                raise CheckpointError("no prompt_embeds given and the backbone holds no empty-prompt embedding; "
                                      "load it with its model folder (ModelFolder.load_backbone) or pass one")
            prompt_embeds = self.prompt_embeds
        prompt_embeds = prompt_embeds.to(device=latent.device, dtype=latent.dtype).expand(batch, -1, -1)
        fps = torch.as_tensor(fps, dtype=torch.float64).flatten().cpu()
        if fps.numel() == 1:
            fps = fps.expand(batch)
        if fps.shape != (batch,):
            raise ValueError(f"fps must be a scalar or (B,) = ({batch},), got shape {tuple(fps.shape)}")
        values = fps.unique()
        if len(values) == 1:
            return self._forward(latent, timestep, float(values[0]), prompt_embeds)
        # RoPE differs per fps: run each group of equal fps on its own and put the rows back in place
        out = latent.new_empty(batch, latent.shape[1], OUT_CHANNELS, *latent.shape[3:])
        for value in values:
            rows = (fps == value).nonzero().flatten().to(latent.device)
            out[rows] = self._forward(latent[rows], timestep[rows], float(value), prompt_embeds[rows])
        return out

    def _forward(self, latent: torch.Tensor, timestep: torch.Tensor, fps: float,
                 prompt_embeds: torch.Tensor) -> torch.Tensor:
        _, frames, _, height, width = latent.shape
        rotary = self.rotary(frames, height, width, fps, latent.device)
        return self.transformer(hidden_states=latent, encoder_hidden_states=prompt_embeds, timestep=timestep,
                                image_rotary_emb=rotary, return_dict=False)[0]
