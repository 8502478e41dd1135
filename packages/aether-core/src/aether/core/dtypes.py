"""The one dtype vocabulary of every command, config and builder: ``fp32``, ``bf16``, ``fp16``.

diffusers' long spellings (``float32``, ``bfloat16``, ``float16``) are accepted as aliases so that
older scripts keep working; everything prints and stores the short names. torch is imported only when
a name is turned into a ``torch.dtype``, so command builders can use this module freely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aether.core.errors import AetherError

if TYPE_CHECKING:
    import torch

DTYPES = ("fp32", "bf16", "fp16")
ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
_TORCH_NAMES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class DtypeError(AetherError, ValueError):
    """A dtype name outside :data:`DTYPES` and its aliases."""


def dtype_name(name: str) -> str:
    """The short name of ``name`` (itself or an alias); use as an argparse ``type`` with ``choices=DTYPES``."""
    short = ALIASES.get(name, name)
    if short not in DTYPES:
        raise DtypeError(f"unknown dtype {name!r}; use one of {', '.join(DTYPES)}")
    return short


def torch_dtype(dtype: Any) -> "torch.dtype":
    """The ``torch.dtype`` of a name (or an alias); a ``torch.dtype`` of the vocabulary passes through."""
    import torch

    if isinstance(dtype, torch.dtype):
        if dtype not in {getattr(torch, name) for name in _TORCH_NAMES.values()}:
            raise DtypeError(f"unsupported dtype {dtype}; use one of {', '.join(DTYPES)}")
        return dtype
    return getattr(torch, _TORCH_NAMES[dtype_name(dtype)])
