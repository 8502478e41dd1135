"""The one error type the codecs raise on bad input, and the input-batching check they share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aether.core.errors import AetherError

if TYPE_CHECKING:  # NumPy-only codec modules import this one without loading torch
    import torch


class CodecError(AetherError, ValueError):
    """Bad codec input: wrong shape, non-finite values, invalid camera, unknown option."""


def with_batch(x: torch.Tensor, ndim: int, name: str) -> tuple[torch.Tensor, bool]:
    """``x`` with a leading batch dim (``ndim`` dims in all), and whether one was added: codecs take
    batched ``(B, ...)`` or unbatched input and return the same batching."""
    if x.dim() == ndim - 1:
        return x.unsqueeze(0), True
    if x.dim() != ndim:
        raise CodecError(f"{name} must have {ndim} dims (batched) or {ndim - 1}, got shape {tuple(x.shape)}")
    return x, False

