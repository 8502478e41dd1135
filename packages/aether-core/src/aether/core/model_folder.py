"""The AETHER model folder: a local diffusers-layout folder (docs/FORMATS.md#tensor-layout, a superset of the release)::

    transformer/                       diffusers config.json + safetensors (sharded or not)
    scheduler/scheduler_config.json    CogVideoXDPMScheduler (v-prediction)
    vae/                               CogVideoX VAE (not needed if aether.json names another video codec)
    empty_prompt_embeds.safetensors    tensor ``prompt_embeds`` (1, L, text_embed_dim)
    aether.json                        optional :class:`ModelSettings`
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aether.core.atomic import atomic_dir, write_json
from aether.core.errors import CheckpointError, describe_validation
from aether.core.json_files import read_json_object

if TYPE_CHECKING:
    from aether.core.registry import Registry

TRANSFORMER = "transformer"
SCHEDULER = "scheduler"
VAE = "vae"
SETTINGS_FILE = "aether.json"
PROMPT_EMBEDS_FILE = "empty_prompt_embeds.safetensors"
PROMPT_EMBEDS_KEY = "prompt_embeds"
NAME = r"^[a-z0-9][a-z0-9_.\-]*$"
VAE_CODEC = "cogvideox"  # the video codec plugin whose weights are the folder's vae/


class ModelSettings(BaseModel):
    """``aether.json``: which plugins the folder's parts are for (all optional, defaults = AetherV1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    video_codec: str = Field("cogvideox", pattern=NAME, description="modality plugin of role video")
    action_encoder: str = Field("raymap", pattern=NAME, description="action encoder plugin")
    backbone: str = Field("cogvideox", pattern=NAME, description="backbone plugin")


def default_scheduler_config() -> dict[str, Any]:
    """CogVideoX-5b-I2V's scheduler settings, for ``CogVideoXDPMScheduler`` (v-prediction, zero-SNR)."""
    return dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, num_train_timesteps=1000,
                prediction_type="v_prediction", rescale_betas_zero_snr=True, snr_shift_scale=1.0,
                timestep_spacing="trailing", set_alpha_to_one=True, clip_sample=False, steps_offset=0)


def _read_settings(root: Path) -> ModelSettings:
    path = root / SETTINGS_FILE
    if not path.is_file():
        return ModelSettings()
    try:
        return ModelSettings.model_validate(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if isinstance(exc, json.JSONDecodeError) else describe_validation(exc)
        raise CheckpointError(f"{path} is invalid ({first}); fix it or delete it to use the defaults") from exc


class ModelFolder:
    """A validated model folder; every missing part is named with what to do about it.

    ``require_prompt_embeds=False`` accepts a folder still lacking ``empty_prompt_embeds.safetensors``
    (e.g. before ``aether model embed-prompt`` writes it).
    """

    def __init__(self, path: str | os.PathLike, require_prompt_embeds: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise CheckpointError(f"model folder {self.path} does not exist; give the path of a local AETHER "
                                  "model folder (e.g. a downloaded AetherV1)")
        self.settings = _read_settings(self.path)
        self._require(TRANSFORMER, "config.json", "copy AetherV1's transformer/ there or export one with the trainer")
        self._require(SCHEDULER, "scheduler_config.json",
                      "copy CogVideoX-5b-I2V's scheduler/ there (see default_scheduler_config())")
        if self.reads_vae:
            self._require(VAE, "config.json",
                          f"copy CogVideoX-5b-I2V's vae/ there or set video_codec in {SETTINGS_FILE}")
        if require_prompt_embeds:
            if not self.prompt_embeds_path.is_file():
                raise CheckpointError(f"model folder {self.path} has no {PROMPT_EMBEDS_FILE}; run `aether model "
                                      "embed-prompt` where T5 is available or copy the file from the released model")
            self.prompt_embeds()  # a wrong file fails here, before minutes of weight loading

    def _require(self, folder: str, file: str, advice: str) -> None:
        if not (self.path / folder).is_dir():
            raise CheckpointError(f"model folder {self.path} has no {folder}/ folder; {advice}")
        if not (self.path / folder / file).is_file():
            raise CheckpointError(f"model folder {self.path} has no {folder}/{file}; {advice}")
        read_json_object(self.path / folder / file, CheckpointError, advice)

    @property
    def reads_vae(self) -> bool:
        """Whether the folder's video codec is the one that loads ``vae/`` (``cogvideox``)."""
        return self.settings.video_codec == VAE_CODEC

    @property
    def transformer_dir(self) -> Path:
        return self.path / TRANSFORMER

    @property
    def scheduler_dir(self) -> Path:
        return self.path / SCHEDULER

    @property
    def vae_dir(self) -> Path:
        return self.path / VAE

    @property
    def prompt_embeds_path(self) -> Path:
        return self.path / PROMPT_EMBEDS_FILE

    def prompt_embeds(self) -> torch.Tensor:
        """The empty-prompt embedding ``(1, L, text_embed_dim)``, as wide as the transformer expects."""
        embeds = load_prompt_embeds(self.prompt_embeds_path)
        width = self.transformer_config().get("text_embed_dim")
        if width is not None and embeds.shape[2] != width:
            raise CheckpointError(f"{self.prompt_embeds_path} holds embeddings of width {embeds.shape[2]} but "
                                  f"the transformer's text_embed_dim is {width}; the file is from another model, "
                                  "recompute it with `aether model embed-prompt` or copy this model's")
        return embeds

    def transformer_config(self) -> dict[str, Any]:
        """The transformer's diffusers ``config.json`` as a dict."""
        return read_json_object(self.transformer_dir / "config.json", CheckpointError,
                                "re-copy the transformer/ folder")

    def sample_size(self) -> tuple[int, int]:
        """The transformer's ``(sample_height, sample_width)`` in latent cells, checked against its patch size."""
        config, where = self.transformer_config(), self.transformer_dir / "config.json"
        missing = [key for key in ("sample_height", "sample_width") if key not in config]
        if missing:
            raise CheckpointError(f"{where} lacks {', '.join(missing)}")
        patch = config.get("patch_size", 2)
        if config["sample_height"] % patch or config["sample_width"] % patch:
            raise CheckpointError(f"{where}: sample size {config['sample_height']}x{config['sample_width']} "
                                  f"latents is not a multiple of the patch size {patch}")
        return config["sample_height"], config["sample_width"]

    def scheduler_config(self) -> dict[str, Any]:
        """The diffusers scheduler config (``scheduler/scheduler_config.json``) as a dict."""
        return read_json_object(self.scheduler_dir / "scheduler_config.json", CheckpointError,
                                "re-copy the scheduler/ folder")

    def load_backbone(self, dtype: torch.dtype = torch.float32):
        """The :class:`aether.core.backbone.AetherBackbone` of this folder with its prompt embedding."""
        from aether.core.backbone import AetherBackbone

        return AetherBackbone.from_pretrained(self.transformer_dir, dtype, prompt_embeds=self.prompt_embeds())

    def build_backbone(self, registry: Registry, dtype: torch.dtype) -> Any:
        """The backbone plugin ``aether.json`` names, built from ``transformer/`` in ``dtype`` (the
        prompt embedding is :meth:`prompt_embeds`'s to give)."""
        return registry.build("backbone", self.settings.backbone, path=self.transformer_dir, dtype=dtype)

    def build_video_codec(self, registry: Registry, dtype: torch.dtype, device: torch.device) -> Any:
        """The video codec plugin ``aether.json`` names: ``cogvideox`` loads ``vae/`` in ``dtype`` onto
        ``device`` (a codec is no ``nn.Module`` a caller could move); others (e.g. ``pixel``) take no files."""
        options = {"vae_dir": self.vae_dir, "dtype": dtype, "device": device} if self.reads_vae else {}
        return registry.build("modality", self.settings.video_codec, **options)

    def load_scheduler(self):
        """The folder's ``CogVideoXDPMScheduler``."""
        from diffusers import CogVideoXDPMScheduler

        return CogVideoXDPMScheduler.from_pretrained(self.scheduler_dir)


def load_prompt_embeds(path: str | os.PathLike) -> torch.Tensor:
    """``empty_prompt_embeds.safetensors`` -> its ``(1, L, text_embed_dim)`` tensor ``prompt_embeds``."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; run `aether model embed-prompt` where T5 is available "
                              f"or copy {PROMPT_EMBEDS_FILE} from the released model folder")
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises several types on damaged files
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc}); recompute or re-copy it") from exc
    embeds = tensors.get(PROMPT_EMBEDS_KEY)
    if embeds is None or embeds.ndim != 3 or embeds.shape[0] != 1:
        raise CheckpointError(f"{path} must hold a tensor {PROMPT_EMBEDS_KEY!r} of shape (1, L, D); "
                              f"found {({k: tuple(v.shape) for k, v in tensors.items()})}")
    return embeds


def _save_prompt_embeds(path: Path, prompt_embeds: torch.Tensor) -> None:
    from safetensors.torch import save_file

    if prompt_embeds.ndim != 3 or prompt_embeds.shape[0] != 1:
        raise ValueError(f"prompt_embeds must be (1, L, D), got {tuple(prompt_embeds.shape)}")
    save_file({PROMPT_EMBEDS_KEY: prompt_embeds.detach().cpu().contiguous()}, str(path))


def write_prompt_embeds(folder: str | os.PathLike, prompt_embeds: torch.Tensor) -> Path:
    """Atomically write ``empty_prompt_embeds.safetensors`` ``(1, L, D)`` into ``folder``."""
    from aether.core.atomic import atomic_path

    path = Path(folder) / PROMPT_EMBEDS_FILE
    with atomic_path(path) as tmp:
        _save_prompt_embeds(tmp, prompt_embeds)
    return path


def write_model_folder(dst: str | os.PathLike, backbone: Any, scheduler_config: dict[str, Any] | None = None,
                       prompt_embeds: torch.Tensor | None = None, settings: ModelSettings | dict | None = None,
                       vae_dir: str | os.PathLike | None = None, overwrite: bool = False,
                       max_shard_size: str = "10GB") -> Path:
    """Write a model folder at ``dst``, built in a temporary sibling and renamed into place.

    ``backbone``: an ``AetherBackbone`` or a diffusers ``CogVideoXTransformer3DModel``;
    ``scheduler_config``: ``CogVideoXDPMScheduler`` settings (default :func:`default_scheduler_config`);
    ``prompt_embeds``: ``(1, L, D)``, default the backbone's stored one (the file is skipped if neither);
    ``vae_dir``: a VAE folder to copy in. An existing ``dst`` is replaced only with ``overwrite``.
    """
    from diffusers import CogVideoXDPMScheduler

    dst = Path(dst)
    if dst.exists() and not overwrite:
        raise ValueError(f"{dst} already exists; choose another destination or pass overwrite=True")
    settings = ModelSettings.model_validate(settings or {}) if not isinstance(settings, ModelSettings) else settings
    transformer = getattr(backbone, "transformer", backbone)
    if prompt_embeds is None:
        prompt_embeds = getattr(backbone, "prompt_embeds", None)
    with atomic_dir(dst) as tmp:
        transformer.save_pretrained(tmp / TRANSFORMER, safe_serialization=True, max_shard_size=max_shard_size)
        CogVideoXDPMScheduler(**(scheduler_config or default_scheduler_config())).save_pretrained(tmp / SCHEDULER)
        if prompt_embeds is not None:
            _save_prompt_embeds(tmp / PROMPT_EMBEDS_FILE, prompt_embeds)
        if vae_dir is not None:
            shutil.copytree(vae_dir, tmp / VAE)
        write_json(tmp / SETTINGS_FILE, settings.model_dump())
    return dst

