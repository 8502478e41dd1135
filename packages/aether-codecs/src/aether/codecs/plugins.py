"""aether-codecs's built-in plugins, registered through the ``aether`` entry point like any other.

Nothing heavy (torch) is imported here: plugins are listed on every CLI start, so builders are named
as ``"module:attr"`` and imported only when built."""

from __future__ import annotations

from aether.core.hookspecs import hookimpl
from aether.core.specs import ModalitySpec, PluginSpec


@hookimpl
def aether_modalities():
    return [
        ModalitySpec(name="pixel", role="video", build="aether.codecs.video:PixelCodec",
                     summary="parameter-free codec: 8x8-pooled RGB + block motion (CPU tests and demos)"),
        ModalitySpec(name="cogvideox", role="video", build="aether.codecs.video:CogVideoXCodec.from_pretrained",
                     summary="CogVideoX VAE from a local diffusers folder (build(vae_dir=...))"),
        ModalitySpec(name="disparity", role="depth", build="aether.codecs.encoders:DisparityCodec",
                     summary="depth <-> sqrt-normalised disparity video"),
    ]


@hookimpl
def aether_action_encoders():
    return [PluginSpec(name="raymap", summary="camera raymap, 4 frames x 6 channels per latent",
                       build="aether.codecs.encoders:RaymapEncoder")]
