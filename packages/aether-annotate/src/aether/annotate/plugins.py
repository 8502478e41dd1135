"""aether-annotate's built-in plugins, registered through the ``aether`` entry point like any other:
the four annotation stages and the ``annotate`` command."""

from __future__ import annotations

from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec, PluginSpec


def _lazy(module: str, name: str):
    """A ``build(**options)`` that imports the stage's module only when it is built."""
    def build(**options):
        import importlib

        return getattr(importlib.import_module(f"aether.annotate.stages.{module}"), name)(**options)
    return build


@hookimpl
def aether_annotation_stages() -> list[PluginSpec]:
    return [
        PluginSpec(name="masking.labels", summary="dynamic pixels from class labels (motion mask without labels)",
                   build=_lazy("masking", "LabelMasking")),
        PluginSpec(name="masking.motion", summary="dynamic pixels from depth-aware optical-flow residuals",
                   build=_lazy("masking", "MotionMasking")),
        PluginSpec(name="slicing.flow", summary="drop dark/textureless/dynamic frames, cut on SIFT and flow checks",
                   build=_lazy("slicing", "FlowSlicing")),
        PluginSpec(name="coarse.pnp", summary="intrinsics from depth-lifted tracks, poses by PnP + RANSAC",
                   build=_lazy("coarse", "PnPCoarse")),
        PluginSpec(name="refine.bundle", summary="bundle adjustment with Cauchy reprojection and depth residuals",
                   build=_lazy("refine", "BundleRefine")),
    ]


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    def build(parser):
        from aether.annotate.commands import annotate_command

        return annotate_command(parser)
    return [CommandSpec(name="annotate", summary="recover cameras (K, c2w) of RGB-D clips, sliced, with reports",
                        build=build)]
