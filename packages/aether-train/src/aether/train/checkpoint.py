"""Training checkpoints: ``<out>/checkpoints/step_00000100/`` holding

- ``model.safetensors`` (full backbone state), ``ema.safetensors`` (if EMA is on);
- ``state.pt``: optimizer, learning-rate schedule, sampler position and RNG states (tensors and plain
  data only: it is read with ``weights_only=True``, so a crafted file cannot run code);
- ``meta.json``: step, transformer and scheduler configs, codec names (what export needs), the run's config;
- ``empty_prompt_embeds.safetensors``.

A checkpoint is built in a temporary sibling folder, flushed to disk and renamed into place, so a crash
never leaves a half-written one; only the newest ``keep_last`` are kept. A resume reads the whole
checkpoint before applying any of it and falls back past damaged ones. Under DDP / FSDP every rank
takes part in gathering full tensors and rank 0 writes.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from aether.core.atomic import atomic_dir, write_json
from aether.core.errors import CheckpointError
from aether.core.model_folder import (
    PROMPT_EMBEDS_FILE,
    TRANSFORMER_SIZES,
    check_scheduler_config,
    check_sizes,
    check_state,
    load_prompt_embeds,
    model_shapes,
    write_prompt_embeds,
)
from aether.train.distributed import Dist, barrier
from aether.train.ema import EMA
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

CHECKPOINTS = "checkpoints"
MODEL, EMA_FILE, STATE, META = "model.safetensors", "ema.safetensors", "state.pt", "meta.json"
DAMAGED = ".damaged"  # suffix of a checkpoint set aside because it cannot be read
_NAME = re.compile(r"^step_(\d{8})$")
# what reading a truncated, emptied or overwritten file raises (torch.load: RuntimeError for a broken archive)
# what reading a damaged file raises; the weights-only unpickler, on garbage, also LookupError and struct.error
_UNREADABLE = (OSError, ValueError, RuntimeError, EOFError, LookupError, struct.error, SafetensorError)
# what meta.json must hold, and of which type (export and resume read each without further checks)
_META_FIELDS: dict[str, type | tuple[type, ...]] = {"step": int, "transformer_config": dict, "scheduler_config": dict,
                                                   "video_codec": str, "action_encoder": str, "config": dict,
                                                   "vae_dir": (str, type(None))}


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"step_{step:08d}"


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Finished checkpoints of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    found = [p for p in root.iterdir() if _NAME.match(p.name) and (p / META).is_file()] if root.is_dir() else []
    return sorted(found)


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def save_checkpoint(run_dir: Path, step: int, backbone: torch.nn.Module, optimizer, lr_schedule,
                    ema: EMA | None, meta: dict[str, Any], where: Dist, keep_last: int) -> Path:
    """Write the checkpoint after ``step`` optimizer steps; returns its folder (on every rank)."""
    full = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_state = get_model_state_dict(backbone, options=full)
    optim_state = get_optimizer_state_dict(backbone, optimizer, options=full)
    ema_state = ema.full_state() if ema is not None else None
    final = checkpoint_dir(run_dir, step)
    if where.main:
        with atomic_dir(final) as tmp:  # a rerun of the same step replaces it
            save_file(_contiguous(model_state), str(tmp / MODEL))
            if ema_state is not None:
                save_file(_contiguous(ema_state), str(tmp / EMA_FILE))
            torch.save({"optimizer": optim_state, "lr_schedule": lr_schedule.state_dict(),
                        "sampler": {"next_step": step}, "rng": {"torch": torch.get_rng_state()}},
                       tmp / STATE)
            write_prompt_embeds(tmp, backbone.prompt_embeds)
            write_json(tmp / META, {"step": step, **meta})
        for old in list_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(old)
    barrier(where)
    return final


def read_meta(checkpoint: str | os.PathLike) -> dict[str, Any]:
    path = Path(checkpoint) / META
    if not path.is_file():
        raise CheckpointError(f"{checkpoint} is not a training checkpoint (no {META}); give a folder "
                              f"<out>/{CHECKPOINTS}/step_NNNNNNNN or the run folder")
    meta = _read(path, lambda: json.loads(path.read_text()))
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} cannot be read (a JSON {type(meta).__name__}, not an object)")
    for key, kind in _META_FIELDS.items():
        if key not in meta or not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            found = "no value" if key not in meta else f"a JSON {type(meta[key]).__name__}"
            raise CheckpointError(f"{path} cannot be read ({key}: {found}, not the {_kind_name(kind)} a checkpoint "
                                  "writes); it is damaged or from another program")
    named = _NAME.match(Path(checkpoint).name)
    if meta["step"] < 0 or (named and meta["step"] != int(named.group(1))):
        raise CheckpointError(f"{path} cannot be read (step {meta['step']} in the folder of step "
                              f"{named.group(1) if named else '?'}); it is damaged")
    advice = "it is damaged or from another program"
    check_sizes(meta["transformer_config"], TRANSFORMER_SIZES, f"{path} transformer_config", advice)
    check_scheduler_config(meta["scheduler_config"], f"{path} scheduler_config", advice)
    return meta


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "whole number", dict: "object", str: "string", type(None): "null"}
    return " or ".join(names[k] for k in (kind if isinstance(kind, tuple) else (kind,)))


def _read(path: Path, read: Callable[[], Any]) -> Any:
    """``read()`` of the checkpoint file ``path``, any failure to parse it raised as one CheckpointError."""
    try:
        return read()
    except pickle.UnpicklingError:  # weights_only=True refuses garbage and foreign objects alike
        raise CheckpointError(f"{path} cannot be read: it is damaged or holds objects other than tensors and "
                              "plain data (refused: unpickling those could run code)") from None
    except _UNREADABLE as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {first})") from None


def load_weights(checkpoint: str | os.PathLike, ema: bool = False,
                 meta: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
    """The backbone state of a checkpoint (``ema=True``: the EMA weights, which must exist), checked against
    its ``meta`` (:func:`read_meta`'s, read here when not given)."""
    path = Path(checkpoint) / (EMA_FILE if ema else MODEL)
    if not path.is_file():
        raise CheckpointError(f"{checkpoint} has no {path.name}" + ("; the run had no EMA (ema_decay)" if ema else ""))
    weights = _read(path, lambda: load_file(str(path)))
    _check_weights(path, weights, read_meta(checkpoint) if meta is None else meta)
    return weights


def _check_weights(path: Path, weights: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """CheckpointError unless ``weights`` fit the checkpoint's transformer config: loading them would fail
    halfway (a traceback), or for a missing or integer tensor go on silently with wrong weights."""
    from diffusers import CogVideoXTransformer3DModel

    advice = "it is damaged or from another run"
    expected = {f"transformer.{k}": v for k, v in model_shapes(
        CogVideoXTransformer3DModel, meta["transformer_config"], f"{path.parent / META} transformer_config",
        advice).items()}
    check_state({k: (tuple(v.shape), str(v.dtype)) for k, v in weights.items()}, expected, path, advice)


def load_prompt(checkpoint: str | os.PathLike) -> torch.Tensor:
    return load_prompt_embeds(Path(checkpoint) / PROMPT_EMBEDS_FILE)


@dataclass
class Checkpoint:
    """Everything a resume needs from one checkpoint, read whole before any of it is applied."""

    path: Path
    meta: dict[str, Any]
    weights: dict[str, torch.Tensor]
    ema_weights: dict[str, torch.Tensor] | None
    state: dict[str, Any]

    @property
    def next_step(self) -> int:
        return int(self.state["sampler"]["next_step"])

    def restore(self, backbone: torch.nn.Module, optimizer, lr_schedule, ema: EMA | None,
                new_schedule: bool = False) -> int:
        """Load into the training objects (on every rank); returns the next step. ``new_schedule``
        keeps the optimizer settings and learning-rate schedule the objects were built with (a resume
        under a changed config), moved on to this checkpoint's step."""
        full = StateDictOptions(full_state_dict=True)
        set_model_state_dict(backbone, self.weights, options=full)
        settings = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
        set_optimizer_state_dict(backbone, optimizer, self.state["optimizer"], options=full)
        if new_schedule:
            for group, own in zip(optimizer.param_groups, settings):
                group.update(own)
            # a step count above 1 tells the schedule the optimizer has stepped; its step() sets the lr
            lr_schedule.load_state_dict({**lr_schedule.state_dict(), "last_epoch": self.next_step - 1,
                                         "_step_count": self.next_step + 1})
            lr_schedule.step()
        else:
            lr_schedule.load_state_dict(self.state["lr_schedule"])
        torch.set_rng_state(self.state["rng"]["torch"])
        if ema is not None:
            ema.load(self.ema_weights if self.ema_weights is not None else self.weights)
        return self.next_step


def read_checkpoint(checkpoint: str | os.PathLike) -> Checkpoint:
    """Read a whole checkpoint; a missing, damaged or foreign file raises CheckpointError naming it."""
    path = Path(checkpoint)
    meta = read_meta(path)
    weights = load_weights(path, meta=meta)
    ema_weights = load_weights(path, ema=True, meta=meta) if (path / EMA_FILE).is_file() else None
    state_path = path / STATE
    state = _read(state_path, lambda: torch.load(state_path, map_location="cpu", weights_only=True))
    if not _complete(state):
        raise CheckpointError(f"{state_path} lacks the optimizer, schedule, sampler or RNG state a resume needs")
    _check_fit(path, meta, weights, ema_weights, state)
    load_prompt(path)  # a checkpoint reads whole or not at all: the next export needs it
    return Checkpoint(path, meta, weights, ema_weights, state)


def _complete(state: Any) -> bool:
    """Whether ``state`` has the shape :func:`save_checkpoint` gives it."""
    try:
        optimizer, rng, step = state["optimizer"], state["rng"]["torch"], state["sampler"]["next_step"]
        return (isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict)
                and isinstance(optimizer.get("param_groups"), list)
                and all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in optimizer["param_groups"])
                and isinstance(state["lr_schedule"], dict) and isinstance(step, int) and not isinstance(step, bool)
                and isinstance(rng, torch.Tensor))
    except (KeyError, TypeError):
        return False


def _check_fit(path: Path, meta: dict[str, Any], weights: dict[str, torch.Tensor],
               ema_weights: dict[str, torch.Tensor] | None, state: dict[str, Any]) -> None:
    """CheckpointError unless the checkpoint's parts agree: optimizer state for exactly its weights (which
    :func:`load_weights` checked against the transformer config) and one step throughout. Loading would
    otherwise fail halfway (a traceback), or go on from the wrong step or schedule."""
    advice = "it is damaged or from another run"
    step, schedule = state["sampler"]["next_step"], state["lr_schedule"]
    if step != meta["step"] or schedule.get("last_epoch") != step:
        raise CheckpointError(f"{path / STATE} cannot be read (its step {step} and schedule step "
                              f"{schedule.get('last_epoch')!r} are not meta.json's {meta['step']}); {advice}")
    optimizer = state["optimizer"]
    params = [name for group in optimizer["param_groups"] for name in group["params"]]
    if sorted(params) != sorted(optimizer["state"]) or not set(params) <= weights.keys():
        raise CheckpointError(f"{path / STATE} cannot be read (its optimizer state is not for {MODEL}'s tensors); "
                              f"{advice}")
    for name, moments in optimizer["state"].items():
        if not isinstance(moments, dict) or any(
                not isinstance(moments.get(k), torch.Tensor) or moments[k].shape != weights[name].shape
                for k in ("exp_avg", "exp_avg_sq")):
            raise CheckpointError(f"{path / STATE} cannot be read (its optimizer state of {name} does not fit the "
                                  f"weights); {advice}")
    rng = state["rng"]["torch"]
    if rng.dtype != torch.uint8 or rng.shape != torch.get_rng_state().shape:
        raise CheckpointError(f"{path / STATE} cannot be read (its RNG state is a {rng.dtype} tensor of shape "
                              f"{tuple(rng.shape)}, not torch's); {advice}")


def newest_readable(run_dir: str | os.PathLike) -> Checkpoint | None:
    """The newest checkpoint of a run that reads whole (None if the run has none). A damaged newer one
    is renamed ``step_N.damaged`` (kept for a look, out of the way of resuming and pruning) and
    reported on stderr; if none reads, CheckpointError names each, and nothing is renamed."""
    damaged: list[tuple[Path, CheckpointError]] = []
    for path in reversed(list_checkpoints(run_dir)):
        try:
            found = read_checkpoint(path)
        except CheckpointError as exc:
            damaged.append((path, exc))
            continue
        for bad, exc in damaged:
            aside = bad.with_name(bad.name + DAMAGED)
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(bad, aside)
            print(f"warning: {exc}; resuming from {path.name} instead (the damaged one is now {aside.name})",
                  file=sys.stderr)
        return found
    if damaged:
        raise CheckpointError(f"no checkpoint of {run_dir} can be read: {'; '.join(str(e) for _, e in damaged)}; "
                              f"move {Path(run_dir) / CHECKPOINTS} away to start the run over")
    return None


def resume_point(run_dir: str | os.PathLike, where: Dist) -> Checkpoint | None:
    """The checkpoint to resume from, the same on every rank: rank 0 picks it (setting damaged ones
    aside), then the others read it."""
    found = newest_readable(run_dir) if where.main else None
    barrier(where)
    if not where.main:
        latest = latest_checkpoint(run_dir)
        found = read_checkpoint(latest) if latest is not None else None
    return found
