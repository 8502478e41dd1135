"""The AETHER model folder: a local diffusers-layout folder (docs/FORMATS.md#tensor-layout, a superset of the release)::

    transformer/                       diffusers config.json + safetensors (sharded or not)
    scheduler/scheduler_config.json    CogVideoXDPMScheduler (v-prediction)
    vae/                               CogVideoX VAE (not needed if aether.json names another video codec)
    empty_prompt_embeds.safetensors    tensor ``prompt_embeds`` (1, L, text_embed_dim)
    aether.json                        optional :class:`ModelSettings`
"""

from __future__ import annotations

import json
import math
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
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"
WEIGHTS_INDEX = "diffusion_pytorch_model.safetensors.index.json"
# Size bounds of a hand-edited config: far above AetherV1 (42 layers, 48 x 64 heads, 60 x 90 latents), far
# below sizes whose model takes minutes to build or exhausts memory before a weight is read.
MAX_LAYERS = 1024
MAX_SIZE = 65536
MAX_SAMPLE = 1024  # latent cells per side (8192 pixels)
# transformer config keys that must be whole numbers >= 1 (at most MAX_SIZE unless named here)
TRANSFORMER_SIZES = {"num_layers": MAX_LAYERS, "num_attention_heads": MAX_SIZE, "attention_head_dim": MAX_SIZE,
                      "in_channels": MAX_SIZE, "out_channels": MAX_SIZE, "text_embed_dim": MAX_SIZE,
                      "time_embed_dim": MAX_SIZE, "patch_size": MAX_SAMPLE, "sample_height": MAX_SAMPLE,
                      "sample_width": MAX_SAMPLE, "sample_frames": MAX_SIZE, "max_text_seq_length": MAX_SIZE,
                      "temporal_compression_ratio": 64}
VAE_SIZES = {"layers_per_block": 64, "in_channels": MAX_SIZE, "out_channels": MAX_SIZE,
              "latent_channels": MAX_SIZE, "norm_num_groups": MAX_SIZE, "sample_height": 8 * MAX_SAMPLE,
              "sample_width": 8 * MAX_SAMPLE, "temporal_compression_ratio": 64}
# scheduler settings CogVideoXDPMScheduler / CogVideoXDDIMScheduler accept (diffusers fails mid-sampling otherwise)
_SCHEDULER_CHOICES = {"beta_schedule": ("linear", "scaled_linear", "squaredcos_cap_v2"),
                      "prediction_type": ("v_prediction", "epsilon", "sample"),
                      "timestep_spacing": ("trailing", "leading", "linspace")}


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
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        first = describe_validation(exc) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
        raise CheckpointError(f"{path} is invalid ({first}); fix it or delete it to use the defaults") from exc


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_sizes(config: dict[str, Any], sizes: dict[str, int], where: str | Path, advice: str) -> None:
    """CheckpointError unless each key of ``sizes`` that ``config`` sets is a whole number in [1, its bound]
    (a string, a fraction, 0 or a billion layers fail later, or hang building the model)."""
    for key, bound in sizes.items():
        value = config.get(key)
        if value is None and key not in ("sample_height", "sample_width", "sample_frames", "num_layers"):
            continue  # null means "not used" for optional sizes (e.g. CogVideoX 1.0's patch_size_t)
        if key in config and not (_whole(value) and 1 <= value <= bound):
            raise CheckpointError(f"{where}: {key} must be a whole number from 1 to {bound}, not {value!r}; "
                                  f"{advice}")


def check_scheduler_config(
        config: dict[str, Any], where: str | Path,
        advice: str = "re-copy CogVideoX-5b-I2V's scheduler/ (see default_scheduler_config())") -> None:
    """CheckpointError unless the scheduler settings ``config`` sets are ones the CogVideoX schedulers run with."""
    steps = config.get("num_train_timesteps", 1000)
    if not (_whole(steps) and 1 <= steps <= 100_000):
        raise CheckpointError(f"{where}: num_train_timesteps must be a whole number from 1 to 100000, not {steps!r}; "
                              f"{advice}")
    for key in ("beta_start", "beta_end"):
        if key in config and not (_real(config[key]) and 0 < config[key] < 1):
            raise CheckpointError(f"{where}: {key} must be a number between 0 and 1, not {config[key]!r}; {advice}")
    if "snr_shift_scale" in config and not (_real(config["snr_shift_scale"]) and config["snr_shift_scale"] > 0):
        raise CheckpointError(f"{where}: snr_shift_scale must be a positive number, not {config['snr_shift_scale']!r}; "
                              f"{advice}")
    if "steps_offset" in config and not (_whole(config["steps_offset"]) and 0 <= config["steps_offset"] < steps):
        raise CheckpointError(f"{where}: steps_offset must be a whole number from 0 to num_train_timesteps - 1, "
                              f"not {config['steps_offset']!r}; {advice}")
    for key, choices in _SCHEDULER_CHOICES.items():
        if key in config and config[key] not in choices:
            raise CheckpointError(f"{where}: {key} must be one of {', '.join(choices)}, not {config[key]!r}; {advice}")


def _weight_files(folder: Path) -> list[Path] | None:
    """The safetensors files of a diffusers folder (sharded or not); None if it has none (diffusers then
    reports the missing weights or reads ``.bin`` itself)."""
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        weight_map = read_json_object(index, CheckpointError, f"re-copy the {folder.name}/ folder").get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise CheckpointError(f"{index} has no weight_map of tensor names to shard files; re-copy the "
                                  f"{folder.name}/ folder")
        shards = [folder / name for name in sorted(set(weight_map.values()))]
        for shard in shards:
            if not shard.is_file():
                raise CheckpointError(f"{index} names the shard {shard.name}, which {folder} lacks; re-copy the "
                                      f"{folder.name}/ folder")
        return shards
    return [folder / WEIGHTS_FILE] if (folder / WEIGHTS_FILE).is_file() else None


def model_shapes(model_class: Any, config: dict[str, Any], where: str | Path,
                 advice: str) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of ``model_class.from_config(config)``, built on the meta device (no memory;
    the config's sizes must be bounded first, see :func:`check_sizes`)."""
    import torch

    try:
        with torch.device("meta"):
            return {k: tuple(v.shape) for k, v in model_class.from_config(config).state_dict().items()}
    except Exception as exc:  # diffusers raises TypeError, ValueError, ... on values it cannot build
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{where} does not describe a model diffusers can build ({type(exc).__name__}: "
                              f"{first}); {advice}") from None


def check_state(found: dict[str, tuple[tuple[int, ...], str]], expected: dict[str, tuple[int, ...]], where: str | Path,
                advice: str) -> None:
    """CheckpointError unless ``found`` (name -> shape, dtype name) holds exactly the ``expected`` names and shapes,
    in floating point: integer weights would be cast to numbers silently, missing ones stay uninitialised and extra
    ones (e.g. of layers a lowered num_layers dropped) would be ignored."""
    missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    if missing or extra:
        words = [f"lacks {len(missing)} tensors the config needs (e.g. {missing[0]})" if missing else "",
                 f"holds {len(extra)} tensors the config has no place for (e.g. {extra[0]})" if extra else ""]
        raise CheckpointError(f"the weights in {where} {' and '.join(w for w in words if w)}; {advice}")
    for key, shape in expected.items():
        got, dtype = found[key]
        if got != shape:
            raise CheckpointError(f"{where}: tensor {key} has shape {got} but the config needs {shape}; {advice}")
        if not dtype.upper().startswith(("F", "BF", "TORCH.FLOAT", "TORCH.BFLOAT")):
            raise CheckpointError(f"{where}: tensor {key} holds {dtype} values, not floating point; {advice}")


def check_weights(folder: Path, model_class: Any, config: dict[str, Any]) -> None:
    """CheckpointError unless the safetensors weights in ``folder`` fit the model ``config`` describes
    (:func:`check_state`), read from the files' headers only."""
    from safetensors import safe_open

    files = _weight_files(folder)
    if files is None:
        return
    advice = f"re-copy or re-export the {folder.name}/ folder (its config.json and weights must match)"
    expected = model_shapes(model_class, config, folder / "config.json", advice)
    found: dict[str, tuple[tuple[int, ...], str]] = {}
    for file in files:
        try:
            with safe_open(str(file), "pt") as tensors:
                for key in tensors.keys():
                    part = tensors.get_slice(key)
                    found[key] = (tuple(part.get_shape()), part.get_dtype())
        except Exception as exc:  # safetensors raises several types on damaged files
            raise CheckpointError(f"{file} is not a readable safetensors file ({exc}); {advice}") from None
    check_state(found, expected, folder, advice)


def read_transformer_config(transformer_dir: Path, advice: str = "re-copy the transformer/ folder") -> dict[str, Any]:
    """``transformer_dir/config.json`` as a dict; CheckpointError unless its sizes are bounded whole numbers (a
    hand-edited ``num_layers`` of 10**9 would hang building the model)."""
    where = transformer_dir / "config.json"
    config = read_json_object(where, CheckpointError, advice)
    check_sizes(config, TRANSFORMER_SIZES, where, advice)
    return config


def read_vae_config(vae_dir: Path, advice: str = "re-copy CogVideoX-5b-I2V's vae/ folder") -> dict[str, Any]:
    """``vae_dir/config.json`` as a dict; CheckpointError unless its sizes and factors are sane numbers."""
    where = vae_dir / "config.json"
    config = read_json_object(where, CheckpointError, advice)
    check_sizes(config, VAE_SIZES, where, advice)
    blocks = config.get("block_out_channels", [])
    if not (isinstance(blocks, list) and len(blocks) <= 16 and all(_whole(b) and 1 <= b <= MAX_SIZE for b in blocks)):
        raise CheckpointError(f"{where}: block_out_channels must be a list of whole numbers from 1 to {MAX_SIZE}, "
                              f"not {blocks!r}; {advice}")
    for key in ("scaling_factor", "shift_factor"):
        if config.get(key) is not None and not _real(config[key]):
            raise CheckpointError(f"{where}: {key} must be a number, not {config[key]!r}; {advice}")
    return config


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
            self.vae_config()
        self.transformer_config(), self.scheduler_config()  # their values are checked there
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
        config = self.transformer_config()
        width, length = config.get("text_embed_dim"), config.get("max_text_seq_length")
        if width is not None and embeds.shape[2] != width:
            raise CheckpointError(f"{self.prompt_embeds_path} holds embeddings of width {embeds.shape[2]} but "
                                  f"the transformer's text_embed_dim is {width}; the file is from another model, "
                                  "recompute it with `aether model embed-prompt` or copy this model's")
        if length is not None and embeds.shape[1] != length:
            # the model was trained on exactly max_text_seq_length padded tokens (embed-prompt pads to it)
            raise CheckpointError(f"{self.prompt_embeds_path} holds {embeds.shape[1]} tokens but the transformer's "
                                  f"max_text_seq_length is {length}; the file is from another model, recompute it "
                                  "with `aether model embed-prompt` or copy this model's")
        return embeds

    def transformer_config(self) -> dict[str, Any]:
        """The transformer's diffusers ``config.json`` as a dict, its sizes checked."""
        return read_transformer_config(self.transformer_dir)

    def vae_config(self) -> dict[str, Any]:
        """The VAE's diffusers ``config.json`` as a dict, its sizes checked."""
        return read_vae_config(self.vae_dir)

    def sample_size(self) -> tuple[int, int]:
        """The transformer's ``(sample_height, sample_width)`` in latent cells, checked against its patch size."""
        config, where = self.transformer_config(), self.transformer_dir / "config.json"
        missing = [key for key in ("sample_height", "sample_width") if key not in config]
        if missing:
            raise CheckpointError(f"{where} lacks {', '.join(missing)}")
        patch = config.get("patch_size") or 2
        if config["sample_height"] % patch or config["sample_width"] % patch:
            raise CheckpointError(f"{where}: sample size {config['sample_height']}x{config['sample_width']} "
                                  f"latents is not a multiple of the patch size {patch}")
        return config["sample_height"], config["sample_width"]

    def scheduler_config(self) -> dict[str, Any]:
        """The diffusers scheduler config (``scheduler/scheduler_config.json``) as a dict."""
        where = self.scheduler_dir / "scheduler_config.json"
        config = read_json_object(where, CheckpointError, "re-copy the scheduler/ folder")
        check_scheduler_config(config, where)
        return config

    def load_backbone(self, dtype: torch.dtype = torch.float32):
        """The :class:`aether.core.backbone.AetherBackbone` of this folder with its prompt embedding."""
        from aether.core.backbone import AetherBackbone

        self.check_transformer_weights()
        return AetherBackbone.from_pretrained(self.transformer_dir, dtype, prompt_embeds=self.prompt_embeds())

    def check_transformer_weights(self) -> None:
        """CheckpointError unless ``transformer/``'s weights fit its config (see :func:`check_weights`)."""
        from diffusers import CogVideoXTransformer3DModel

        check_weights(self.transformer_dir, CogVideoXTransformer3DModel, self.transformer_config())

    def build_backbone(self, registry: Registry, dtype: torch.dtype) -> Any:
        """The backbone plugin ``aether.json`` names, built from ``transformer/`` in ``dtype`` (the
        prompt embedding is :meth:`prompt_embeds`'s to give)."""
        if self.settings.backbone == "cogvideox":  # the plugin whose files are the CogVideoX transformer's
            self.check_transformer_weights()
        return registry.build("backbone", self.settings.backbone, path=self.transformer_dir, dtype=dtype)

    def build_video_codec(self, registry: Registry, dtype: torch.dtype, device: torch.device) -> Any:
        """The video codec plugin ``aether.json`` names: ``cogvideox`` loads ``vae/`` in ``dtype`` onto
        ``device`` (a codec is no ``nn.Module`` a caller could move); others (e.g. ``pixel``) take no files."""
        options = {"vae_dir": self.vae_dir, "dtype": dtype, "device": device} if self.reads_vae else {}
        if self.reads_vae:
            from diffusers import AutoencoderKLCogVideoX

            check_weights(self.vae_dir, AutoencoderKLCogVideoX, self.vae_config())
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
    if embeds is None or embeds.ndim != 3 or embeds.shape[0] != 1 or 0 in embeds.shape:
        raise CheckpointError(f"{path} must hold a tensor {PROMPT_EMBEDS_KEY!r} of shape (1, L, D); "
                              f"found {({k: tuple(v.shape) for k, v in tensors.items()})}")
    # integers would be cast to embeddings silently, NaN would only show as NaN latents minutes later
    if not embeds.is_floating_point() or not torch.isfinite(embeds).all():
        raise CheckpointError(f"{path}: {PROMPT_EMBEDS_KEY!r} must hold finite floating-point values, found "
                              f"{'non-finite values' if embeds.is_floating_point() else embeds.dtype}; "
                              "recompute it with `aether model embed-prompt` or re-copy it")
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

