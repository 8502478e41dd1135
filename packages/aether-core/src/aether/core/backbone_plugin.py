"""The builder of the ``cogvideox`` backbone plugin (named by ``aether.core.plugins``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aether.core.backbone import AetherBackbone
from aether.core.dtypes import torch_dtype
from aether.core.model_folder import TRANSFORMER, ModelFolder


def build_cogvideox(path: str | os.PathLike | None = None, dtype: Any = "fp32", **tiny_options: Any) -> AetherBackbone:
    """``path``: a model folder (with its prompt embedding) or a ``transformer/`` folder; ``dtype``: a
    name of :mod:`aether.core.dtypes` or a torch dtype. Without ``path``, a tiny CPU model
    (``AetherBackbone.tiny(**tiny_options)``)."""
    if path is None:
        return AetherBackbone.tiny(**tiny_options)
    if tiny_options:
        raise ValueError(f"options {sorted(tiny_options)} apply only to the tiny backbone (no path)")
    dtype = torch_dtype(dtype)
    if (Path(path) / TRANSFORMER).is_dir():
        return ModelFolder(path).load_backbone(dtype)
    return AetherBackbone.from_pretrained(path, dtype)
