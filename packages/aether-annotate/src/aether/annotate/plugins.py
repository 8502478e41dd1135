"""aether-annotate's built-in plugins, registered through the ``aether`` entry point like any other:
the four annotation stages and the ``annotate`` command."""

from __future__ import annotations

from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec, PluginSpec


@hookimpl
def aether_annotation_stages() -> list[PluginSpec]:
    return [
        PluginSpec(name="masking.labels", summary="dynamic pixels from class labels (motion mask without labels)",
                   build="aether.annotate.stages.masking:LabelMasking"),
        PluginSpec(name="masking.motion", summary="dynamic pixels from depth-aware optical-flow residuals",
                   build="aether.annotate.stages.masking:MotionMasking"),
        PluginSpec(name="slicing.flow", summary="drop dark/textureless/dynamic frames, cut on SIFT and flow checks",
                   build="aether.annotate.stages.slicing:FlowSlicing"),
        PluginSpec(name="coarse.pnp", summary="intrinsics from depth-lifted tracks, poses by PnP + RANSAC",
                   build="aether.annotate.stages.coarse:PnPCoarse"),
        PluginSpec(name="refine.bundle", summary="bundle adjustment with Cauchy reprojection and depth residuals",
                   build="aether.annotate.stages.refine:BundleRefine"),
    ]


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name="annotate", summary="recover cameras (K, c2w) of RGB-D clips, sliced, with reports",
                        build="aether.annotate.commands:annotate_command")]
