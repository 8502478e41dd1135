"""An exponential moving average of the trained weights, kept in the parameters' own layout (FSDP2
shards stay sharded) and gathered to full tensors only for checkpoints."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributed.tensor import DTensor, distribute_tensor


class EMA:
    """``shadow = decay * shadow + (1 - decay) * param`` after every optimizer step."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {name: p.detach().clone() for name, p in module.named_parameters()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for name, p in module.named_parameters():
            self.shadow[name].lerp_(p.detach(), 1.0 - self.decay)

    def full_state(self) -> dict[str, torch.Tensor]:
        """Every shadow tensor, whole and on the CPU (a collective under FSDP: call on every rank)."""
        return {name: (t.full_tensor() if isinstance(t, DTensor) else t).cpu() for name, t in self.shadow.items()}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Set the shadow from full tensors (as :meth:`full_state` gives)."""
        for name, t in self.shadow.items():
            value = state[name].to(t.dtype)
            if isinstance(t, DTensor):  # keep only this rank's shard
                value = distribute_tensor(value.to(t.device_mesh.device_type), t.device_mesh, t.placements)
            t.copy_(value)
