"""The one plugin contract shared by every AETHER package (pluggy project ``aether``).

Each hook returns a list of specs (:mod:`aether.core.specs`). Plugins are modules or objects
carrying ``@hookimpl`` functions, published through the entry-point group ``aether``::

    [project.entry-points.aether]
    my-plugin = "my_package.aether_plugin"

Our own packages register their built-ins exactly this way; a third party needs nothing more. A spec's
``build`` may name its builder as ``"module:attr"``, imported only when the plugin is built (see
:mod:`aether.core.specs`): plugin modules are imported on every CLI start and must stay light.
Every hook below must have a docstring: a test checks it.
"""

from __future__ import annotations

import pluggy

from aether.core.specs import CommandSpec, ModalitySpec, PluginSpec

PROJECT = "aether"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def aether_backbones() -> list[PluginSpec]:
    """Denoising backbones. ``build(**options)`` returns a ``torch.nn.Module`` called as
    ``backbone(latent (B, T, 96, h, w), timestep (B,), fps, prompt_embeds (B, L, D))`` (noisy latent +
    condition) and returning the ``(B, T, 56, h, w)`` prediction, like
    :class:`aether.core.backbone.AetherBackbone`. A model folder builds it with ``path=`` its
    ``transformer/`` folder and ``dtype=`` a ``torch.dtype``. Built-in: ``cogvideox``."""


@hookspec
def aether_action_encoders() -> list[PluginSpec]:
    """Action encoders: camera trajectories <-> latent action channels. ``build(**options)``
    returns an :class:`aether.core.interfaces.ActionEncoder`. Built-in: ``raymap`` (the default)."""


@hookspec
def aether_modalities() -> list[ModalitySpec]:
    """Modality codecs. ``role="video"``: a :class:`aether.core.interfaces.VideoCodec` (pixels <->
    16-channel latents, e.g. ``cogvideox``, ``pixel``); ``role="depth"``: a
    :class:`aether.core.interfaces.DepthCodec` (metric depth <-> 3-channel video in [-1, 1]). A model
    folder builds its video codec with no options, except ``cogvideox``: ``vae_dir``, ``dtype``, ``device``."""


@hookspec
def aether_task_maskings() -> list[PluginSpec]:
    """Task maskings: which colour frames condition the model, the CFG unconditional rule, default
    steps/guidance and training probability. ``build()`` returns a
    :class:`aether.core.interfaces.TaskMasking`. Built-in: ``reconstruction``, ``prediction``,
    ``planning``, ``unconditional``."""


@hookspec
def aether_attention_backends() -> list[PluginSpec]:
    """Attention implementations for the backbone. ``build()`` returns a diffusers attention
    processor. Built-in: ``sdpa`` (default), ``xformers`` (GPU), ``triton`` (fused RoPE attention),
    ``triton-rope`` (one-pass RoPE + PyTorch SDPA)."""


@hookspec
def aether_annotation_stages() -> list[PluginSpec]:
    """Stages of the camera annotation pipeline (the aether-annotate README). The spec name is ``<stage>.<method>``
    with stage one of ``masking``, ``slicing``, ``coarse``, ``refine``; ``build(**options)``
    returns a callable stage object documented in :mod:`aether.annotate`."""


@hookspec
def aether_cli_commands() -> list[CommandSpec]:
    """Subcommands of the ``aether`` console script (see :class:`aether.core.specs.CommandSpec`)."""
