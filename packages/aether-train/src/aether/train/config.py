"""The training configuration: one pydantic model read from YAML or TOML (``aether train CONFIG``).

Every field is validated when the file is read; plugin names are checked against the installed
registry so a typo lists what is available, and a bad value names its field (``optim.lr: ...``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from aether.core.errors import AetherError, describe_validation
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

TRAIN_FRAMES = (17, 25, 33, 41)        # docs/FORMATS.md#tasks: frame counts of one training clip
TRAIN_FPS = (8.0, 10.0, 12.0, 15.0, 24.0)
SPATIAL = 8                            # pixels per latent cell
Posterior = Literal["sample", "mode"]


class ConfigError(AetherError, ValueError):
    """A training config that cannot be read or does not validate."""


class _Section(BaseModel):
    # inf / nan (YAML .inf, 1e999) would pass every bound check of a float field
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1 for a number field (steps: true would train one step)
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation is not bool:
            raise ValueError(f"expected a value of another type, got {str(value).lower()}")
        return value


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float)):  # unhashable keys are the config check's to refuse
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


class DataConfig(_Section):
    """Where clips come from and how windows are sampled from them."""

    clips: list[Path] = Field(min_length=1, description="clip files or folders of *.safetensors clips")
    frames: list[int] = Field(list(TRAIN_FRAMES), min_length=1, description="frame counts T, each 8m + 1")
    fps: list[float] = Field(list(TRAIN_FPS), min_length=1, description="frame rates to resample clips to")
    height: int = Field(480, ge=16, le=8192, description="model frame height in pixels (multiple of 16)")
    width: int = Field(720, ge=16, le=8192, description="model frame width in pixels (multiple of 16)")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes (0 = in the main process)")
    cache: Path | None = Field(None, description="pre-encoded latents from `aether train cache` (else online)")
    cache_windows: int = Field(4, ge=1, description="windows per clip and frame count `aether train cache` stores")
    posterior: Posterior = Field("sample", description="the video codec's posterior, for targets and colour "
                                                       "conditions: sampled per example (as the release samples its "
                                                       "conditions) or its mode")

    @field_validator("frames")
    @classmethod
    def _frames(cls, value: list[int]) -> list[int]:
        bad = [n for n in value if n < 9 or (n - 1) % 8]
        if bad:
            raise ValueError(f"frame counts must be 8m + 1 >= 9 (9, 17, 25, 33, 41), got {bad}")
        return sorted(set(value))

    @field_validator("fps")
    @classmethod
    def _fps(cls, value: list[float]) -> list[float]:
        if any(not 0 < f <= 240 for f in value):
            raise ValueError(f"fps values must be in (0, 240], got {value}")
        return sorted(set(value))

    @field_validator("height", "width")
    @classmethod
    def _size(cls, value: int) -> int:
        # latents are /8 and the transformer patches them by 2
        if value % (2 * SPATIAL):
            raise ValueError(f"must be a multiple of {2 * SPATIAL}, got {value}")
        return value

    @property
    def latent_size(self) -> tuple[int, int]:
        return self.height // SPATIAL, self.width // SPATIAL


class ModelConfig(_Section):
    """The backbone to train and the frozen codecs around it."""

    init: str = Field("tiny", description="'tiny' (a random CPU-sized backbone) or a model folder to start from")
    tiny: dict[str, Any] = Field(default_factory=dict, description="CogVideoXTransformer3DModel overrides of 'tiny'")
    video_codec: str = Field("cogvideox", description="video codec plugin (modality of role video)")
    vae_dir: Path | None = Field(None, description="VAE folder of the cogvideox codec (default: <init>/vae)")
    action_encoder: str = Field("raymap", description="action encoder plugin")
    attention: str = Field("sdpa", description="attention backend plugin")
    activation_checkpointing: bool = False

    @field_validator("tiny")
    @classmethod
    def _tiny(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            return value
        import inspect

        from aether.core.model_folder import TRANSFORMER_SIZES
        from diffusers import CogVideoXTransformer3DModel

        known = set(inspect.signature(CogVideoXTransformer3DModel.__init__).parameters) - {"self"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown CogVideoXTransformer3DModel options {unknown}; valid ones: {sorted(known)}")
        for key, bound in TRANSFORMER_SIZES.items():
            size = value.get(key, 1)
            if not (isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= bound):
                raise ValueError(f"{key} must be a whole number from 1 to {bound}, got {size!r}")
        return value


class TasksConfig(_Section):
    """Multi-task condition sampling (docs/FORMATS.md#tasks): colour-condition masking shares and the action share."""

    probabilities: dict[str, float] | None = Field(
        None, description="task masking -> share; default: every registered masking's train_probability")
    action_keep: float = Field(0.5, ge=0.0, le=1.0, description="probability that the action condition is kept")

    @field_validator("probabilities")
    @classmethod
    def _shares(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and (any(p < 0 for p in value.values()) or sum(value.values()) <= 0):
            raise ValueError(f"shares must be >= 0 with a positive sum, got {value}")
        return value


class LossConfig(_Section):
    """the aether-train README, how it works objectives and their weights; stage 2 adds the decoded-space losses."""

    stage: Literal[1, 2] = 1
    latent: float = Field(1.0, ge=0.0, description="weight of the latent diffusion MSE")
    ms_ssim: float = Field(1.0, ge=0.0, description="stage 2: weight of 1 - MS-SSIM on colour")
    depth: float = Field(1.0, ge=0.0, description="stage 2: weight of the scale-and-shift-invariant depth loss")
    depth_gradient: float = Field(0.5, ge=0.0, description="alpha of the multi-scale gradient-matching term")
    gradient_scales: int = Field(4, ge=1, le=8, description="scales of the gradient-matching term")
    pointmap: float = Field(1.0, ge=0.0, description="stage 2: weight of the pointmap loss")
    pointmap_norm: Literal["l1", "l2"] = "l1"


class OptimConfig(_Section):
    """AdamW with a OneCycle learning-rate schedule."""

    lr: float = Field(1e-4, gt=0.0, description="peak learning rate")
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = Field(1e-4, ge=0.0)
    eps: float = Field(1e-8, gt=0.0)
    warmup: float = Field(0.05, gt=0.0, lt=1.0, description="OneCycle pct_start")
    div_factor: float = Field(25.0, ge=1.0)
    final_div_factor: float = Field(100.0, ge=1.0)
    max_grad_norm: float | None = Field(1.0, gt=0.0, description="gradient clipping (None = off)")


class DistributedConfig(_Section):
    """How ``torchrun`` processes share the work (ignored in a single process)."""

    strategy: Literal["ddp", "fsdp"] = "ddp"
    hybrid: bool = Field(False, description="fsdp: shard inside a node, replicate across nodes (HSDP)")
    reshard_after_forward: bool = Field(False, description="fsdp: False keeps parameters gathered (ZeRO-2 style)")


class TrainConfig(_Section):
    """One training run; ``out`` holds the log, checkpoints and the exported model folder."""

    out: Path
    seed: int = Field(0, ge=0, lt=2**63, description="seed of every random draw (numpy's and torch's range)")
    steps: int = Field(ge=1, description="optimizer steps")
    micro_batch: int = Field(1, ge=1, description="examples per process per forward pass")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    bf16: bool = Field(True, description="bf16 autocast on GPU (CPU runs in fp32)")
    ema_decay: float | None = Field(None, gt=0.0, lt=1.0, description="EMA of the weights (None = off)")
    checkpoint_every: int = Field(1000, ge=1)
    keep_last: int = Field(3, ge=1, description="checkpoints kept")
    max_minutes: float | None = Field(None, gt=0.0, description="stop cleanly with a checkpoint after this long")
    log_every: int = Field(10, ge=1, description="steps between console summaries (with progress on)")
    eval_examples: int = Field(4, ge=0, description="fixed examples of the per-task evaluation at start and end")
    progress: bool = True
    export: bool = Field(True, description="write the model folder <out>/model at the end")
    data: DataConfig
    model: ModelConfig = ModelConfig()
    tasks: TasksConfig = TasksConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    distributed: DistributedConfig = DistributedConfig()

    @field_validator("out", mode="before")
    @classmethod
    def _out(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a folder, got an empty path (it would mean the current folder)")
        return value

    @model_validator(mode="after")
    def _plugins(self) -> TrainConfig:
        from aether.core.registry import default_registry

        registry = default_registry()
        videos = sorted(e.name for e in registry.entries() if e.kind == "modality" and e.spec.role == "video")
        _known("model.video_codec", self.model.video_codec, videos, "video codec")
        _known("model.action_encoder", self.model.action_encoder, registry.names("action_encoder"),
               "action encoder")
        _known("model.attention", self.model.attention, registry.names("attention_backend"), "attention backend")
        for name in (self.tasks.probabilities or {}):
            _known("tasks.probabilities", name, registry.names("task_masking"), "task masking")
        return self

    @property
    def tokens_per_frame(self) -> int:
        """Transformer tokens per latent frame (patch 2)."""
        h, w = self.data.latent_size
        return (h // 2) * (w // 2)


def _known(field: str, name: str, available: list[str], what: str) -> None:
    if name not in available:
        raise ValueError(f"{field}: unknown {what} {name!r}; available: {', '.join(available) or 'none installed'}")


def parse_config(data: dict[str, Any], where: str = "config") -> TrainConfig:
    """Validate a config mapping; errors name each bad field."""
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe_validation(exc, 'config')}") from None


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read a ``.yaml`` / ``.yml`` / ``.toml`` training config; relative paths stay relative to the cwd."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            data = yaml.load(text, _UniqueKeyLoader) or {}
        elif path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise ConfigError(f"{path}: unknown config type {path.suffix!r}; use .yaml, .yml or .toml")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc}); save the config as UTF-8") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read; a config is a few levels of fields") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()} ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of fields, got {type(data).__name__}")
    return parse_config(data, str(path))


# Settings that change how a run is watched, kept or where it lives, not what it trains: a resume may change them.
RESUMABLE = frozenset({"out", "progress", "log_every", "max_minutes", "checkpoint_every", "keep_last", "export",
                       "eval_examples", "data.num_workers"})


def config_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """``field: old -> new`` for each setting outside :data:`RESUMABLE` that differs between two
    ``model_dump(mode="json")`` configs, by dotted field name."""
    changes = []
    for key in sorted(old.keys() | new.keys()):
        name, before, after = prefix + key, old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            changes += config_changes(before, after, f"{name}.")
        elif before != after and name not in RESUMABLE:
            changes.append(f"{name}: {before!r} -> {after!r}")
    return changes


def dump_config(config: TrainConfig) -> str:
    """The config as YAML (what the run folder keeps as ``config.yaml``)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
