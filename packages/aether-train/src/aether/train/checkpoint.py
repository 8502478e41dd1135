"""Training checkpoints: ``<out>/checkpoints/step_00000100/`` holding

- ``model.safetensors`` (full backbone state), ``ema.safetensors`` (if EMA is on);
- ``state.pt``: optimizer, learning-rate schedule, sampler position and RNG states;
- ``meta.json``: step, transformer and scheduler configs, codec names (what export needs);
- ``empty_prompt_embeds.safetensors``.

A checkpoint is built in a temporary sibling folder and renamed into place, so a crash never
leaves a half-written one; only the newest ``keep_last`` are kept. Under DDP / FSDP every rank
takes part in gathering full tensors and rank 0 writes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from aether.core.atomic import write_json
from aether.core.errors import CheckpointError
from aether.core.model_folder import PROMPT_EMBEDS_FILE, load_prompt_embeds, write_prompt_embeds
from aether.train.distributed import Dist, barrier
from aether.train.ema import EMA
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
_NAME = re.compile(r"^step_(\d{8})$")


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
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            save_file(_contiguous(model_state), str(tmp / MODEL))
            if ema_state is not None:
                save_file(_contiguous(ema_state), str(tmp / EMA_FILE))
            torch.save({"optimizer": optim_state, "lr_schedule": lr_schedule.state_dict(),
                        "sampler": {"next_step": step}, "rng": {"torch": torch.get_rng_state()}},
                       tmp / STATE)
            write_prompt_embeds(tmp, backbone.prompt_embeds)
            write_json(tmp / META, {"step": step, **meta})
            if final.exists():  # a rerun of the same step replaces it
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for old in list_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(old)
    barrier(where)
    return final


def read_meta(checkpoint: str | os.PathLike) -> dict[str, Any]:
    path = Path(checkpoint) / META
    if not path.is_file():
        raise CheckpointError(f"{checkpoint} is not a training checkpoint (no {META}); give a folder "
                              f"<out>/{CHECKPOINTS}/step_NNNNNNNN or the run folder")
    return json.loads(path.read_text())


def load_weights(checkpoint: str | os.PathLike, ema: bool = False) -> dict[str, torch.Tensor]:
    """The backbone state of a checkpoint (``ema=True``: the EMA weights, which must exist)."""
    path = Path(checkpoint) / (EMA_FILE if ema else MODEL)
    if not path.is_file():
        raise CheckpointError(f"{checkpoint} has no {path.name}" + ("; the run had no EMA (ema_decay)" if ema else ""))
    return load_file(str(path))


def load_prompt(checkpoint: str | os.PathLike) -> torch.Tensor:
    return load_prompt_embeds(Path(checkpoint) / PROMPT_EMBEDS_FILE)


def load_checkpoint(checkpoint: Path, backbone: torch.nn.Module, optimizer, lr_schedule,
                    ema: EMA | None) -> int:
    """Restore everything :func:`save_checkpoint` wrote (on every rank); returns the next step."""
    full = StateDictOptions(full_state_dict=True)
    set_model_state_dict(backbone, load_weights(checkpoint), options=full)
    state = torch.load(Path(checkpoint) / STATE, map_location="cpu", weights_only=False)
    set_optimizer_state_dict(backbone, optimizer, state["optimizer"], options=full)
    lr_schedule.load_state_dict(state["lr_schedule"])
    torch.set_rng_state(state["rng"]["torch"])
    if ema is not None:
        ema.load(load_weights(checkpoint, ema=(Path(checkpoint) / EMA_FILE).is_file()))
    return int(state["sampler"]["next_step"])
