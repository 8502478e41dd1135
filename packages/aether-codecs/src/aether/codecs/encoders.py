"""The depth codec and the raymap action encoder (docs/FORMATS.md) as the plugin objects of
:mod:`aether.core.interfaces` (built by name through the registry; see :mod:`aether.codecs.plugins`)."""

from __future__ import annotations

import torch

from aether.codecs import depth as depth_codec
from aether.codecs import raymap
from aether.codecs.errors import CodecError
from aether.core.interfaces import ActionEncoder, DepthCodec


class DisparityCodec(DepthCodec):
    """The depth codec (:mod:`aether.codecs.depth`, docs/FORMATS.md#depth-codec) as a plugin object."""

    def encode(self, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return depth_codec.encode(depth)

    def decode(self, video: torch.Tensor, p_max: torch.Tensor | None = None) -> torch.Tensor:
        return depth_codec.decode(video, p_max)


class RaymapEncoder(ActionEncoder):
    """The raymap (docs/FORMATS.md#raymap-codec), packed to ``(B, T, 24, h, w)``; decode unpacks and fits cameras, by
    default with one set of intrinsics per clip (each batch element is one clip from one camera)."""

    def __init__(self, layout: str = "strided", method: str = "lstsq", shared_intrinsics: bool = True) -> None:
        if layout not in ("strided", "consecutive") or method not in ("lstsq", "released"):
            raise CodecError(f"raymap encoder: layout must be 'strided' or 'consecutive' and method "
                             f"'lstsq' or 'released', got {layout!r} and {method!r}")
        self.layout, self.method, self.shared_intrinsics = layout, method, shared_intrinsics

    def encode(self, c2w: torch.Tensor, K: torch.Tensor, height: int, width: int,
               p_max: torch.Tensor | None = None) -> torch.Tensor:
        return raymap.encode_packed(c2w, K, height, width, p_max, self.layout)

    def decode(self, action: torch.Tensor, height: int, width: int,
               p_max: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return raymap.decode(self.to_raymap(action), height, width, p_max, self.method,
                             self.shared_intrinsics)

    def to_raymap(self, action: torch.Tensor) -> torch.Tensor:
        return raymap.unpack(action, self.layout)

    def from_raymap(self, rays: torch.Tensor) -> torch.Tensor:
        return raymap.pack(rays, self.layout)
