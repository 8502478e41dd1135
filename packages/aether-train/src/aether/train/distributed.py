"""Process groups and model wrapping for ``torchrun``: DDP, or FSDP2 (``fully_shard``) per
transformer block, optionally hybrid (shard inside a node, replicate across nodes: the aether-train README, how it
works).

A single process (no ``WORLD_SIZE`` in the environment) trains the bare module.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from aether.train.config import DistributedConfig
from torch import nn


@dataclass(frozen=True)
class Dist:
    """This process's place: ``rank`` of ``world`` processes, ``local_world`` of them on this node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Join the ``torchrun`` process group (NCCL on GPU, gloo on CPU); a plain process gets ``Dist()``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world == 1:
        return Dist(device=device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local_rank,
                local_world=int(os.environ.get("LOCAL_WORLD_SIZE", str(dist.get_world_size()))), device=device)


def wrap_model(backbone: nn.Module, config: DistributedConfig, where: Dist) -> nn.Module:
    """The module the training step calls: the backbone itself, DDP around it, or the backbone
    sharded in place with FSDP2 (each transformer block, then the root)."""
    if not where.enabled:
        return backbone
    if config.strategy == "ddp":
        ids = [where.device.index] if where.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(backbone, device_ids=ids)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if config.hybrid:
        mesh = init_device_mesh(where.device.type, (where.world // where.local_world, where.local_world),
                                mesh_dim_names=("replicate", "shard"))
    else:
        mesh = init_device_mesh(where.device.type, (where.world,))
    options = {"mesh": mesh, "reshard_after_forward": config.reshard_after_forward}
    for block in backbone.transformer.transformer_blocks:
        fully_shard(block, **options)
    fully_shard(backbone, **options)
    return backbone


def sync_gradients(model: nn.Module, enabled: bool):
    """A context in which backward all-reduces gradients only if ``enabled`` (accumulation steps skip it)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext() if enabled else model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        model.set_requires_gradient_sync(enabled)
    return contextlib.nullcontext()


def from_rank0(flag: bool, where: Dist) -> bool:
    """``flag`` of rank 0, the same on every rank (e.g. a time-budget decision)."""
    if not where.enabled:
        return flag
    value = torch.tensor([float(flag)], device=where.device)
    dist.broadcast(value, 0)
    return bool(value.item())


def sum_over_ranks(values: torch.Tensor, where: Dist) -> torch.Tensor:
    """Elementwise sum of ``values`` over ranks (for logging)."""
    if where.enabled:
        values = values.to(where.device).clone()
        dist.all_reduce(values)
    return values.cpu()


def barrier(where: Dist) -> None:
    if where.enabled:
        dist.barrier()


def close(where: Dist) -> None:
    if where.enabled and dist.is_initialized():
        dist.destroy_process_group()
