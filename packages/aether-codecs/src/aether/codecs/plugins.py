"""aether-codecs's built-in plugins, registered through the ``aether`` entry point like any other."""

from __future__ import annotations

import torch

from aether.codecs import depth as depth_codec
from aether.codecs import raymap
from aether.codecs.errors import CodecError
from aether.core.hookspecs import hookimpl
from aether.core.interfaces import ActionEncoder, DepthCodec
from aether.core.specs import ModalitySpec, PluginSpec


class DisparityCodec(DepthCodec):
    """SPEC §3 depth codec (:mod:`aether.codecs.depth`) as a plugin object."""

    def encode(self, depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return depth_codec.encode(depth)

    def decode(self, video: torch.Tensor, p_max: torch.Tensor | None = None) -> torch.Tensor:
        return depth_codec.decode(video, p_max)


class RaymapEncoder(ActionEncoder):
    """SPEC §4 raymap, packed to ``(B, T, 24, h, w)``; decode unpacks and fits cameras, by default with
    one set of intrinsics per clip (each batch element is one clip from one camera)."""

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
        return raymap.decode(raymap.unpack(action, self.layout), height, width, p_max, self.method,
                             self.shared_intrinsics)


def _pixel(**options):
    from aether.codecs.video import PixelCodec

    return PixelCodec(**options)


def _cogvideox(vae_dir, **options):
    from aether.codecs.video import CogVideoXCodec

    return CogVideoXCodec.from_pretrained(vae_dir, **options)


@hookimpl
def aether_modalities():
    return [
        ModalitySpec(name="pixel", role="video", build=_pixel,
                     summary="parameter-free codec: 8x8-pooled RGB + block motion (CPU tests and demos)"),
        ModalitySpec(name="cogvideox", role="video", build=_cogvideox,
                     summary="CogVideoX VAE from a local diffusers folder (build(vae_dir=...))"),
        ModalitySpec(name="disparity", role="depth", build=DisparityCodec,
                     summary="depth <-> sqrt-normalised disparity video (SPEC §3)"),
    ]


@hookimpl
def aether_action_encoders():
    return [PluginSpec(name="raymap", summary="camera raymap, 4 frames x 6 channels per latent (SPEC §4)",
                       build=RaymapEncoder)]
