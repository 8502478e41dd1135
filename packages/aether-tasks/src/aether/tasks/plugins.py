"""aether-tasks's built-in plugins, registered through the ``aether`` entry point like any other.

Nothing heavy (torch) is imported here: plugins are listed on every CLI start.
"""

from __future__ import annotations

from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec, PluginSpec

# name -> (builder, summary); builders are imported only when built
_MASKINGS = {
    "reconstruction": ("aether.tasks.maskings:ReconstructionMasking",
                       "every latent frame observed: 4D reconstruction (4 steps, no CFG)"),
    "prediction": ("aether.tasks.maskings:PredictionMasking",
                   "first latent frame observed: video prediction (50 steps, dynamic CFG 3.0)"),
    "planning": ("aether.tasks.maskings:PlanningMasking",
                 "first and last latent frames observed: visual planning (50 steps, dynamic CFG 3.0)"),
    "unconditional": ("aether.tasks.maskings:UnconditionalMasking", "no colour condition (the 2 % training share)"),
}
_COMMANDS = {
    "reconstruct": ("aether.tasks.commands:reconstruct_command",
                    "4D reconstruction of a video: depth and cameras (aether reconstruct VIDEO)"),
    "predict": ("aether.tasks.commands:predict_command",
                "video prediction from one image, optionally along a camera trajectory"),
    "plan": ("aether.tasks.commands:plan_command", "visual planning from an observation image to a goal image"),
    "camera": ("aether.tasks.camera_commands:camera_command",
               "camera paths: convert (TUM, COLMAP, NeRF, KITTI, npy), raymap, decode, show (docs/CAMERAS.md)"),
    "app": ("aether.tasks.app.command:app_command",
            "serve reconstruction, prediction and planning in a local web page (Gradio: aether-tasks[app])"),
}


@hookimpl
def aether_task_maskings() -> list[PluginSpec]:
    return [PluginSpec(name=name, summary=summary, build=build) for name, (build, summary) in _MASKINGS.items()]


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name=name, summary=summary, build=build) for name, (build, summary) in _COMMANDS.items()]
