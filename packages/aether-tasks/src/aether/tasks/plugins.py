"""aether-tasks's built-in plugins, registered through the ``aether`` entry point like any other.

Nothing heavy (torch) is imported here: plugins are listed on every CLI start.
"""

from __future__ import annotations

from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec, PluginSpec

_MASKINGS = {
    "reconstruction": "every latent frame observed: 4D reconstruction (4 steps, no CFG)",
    "prediction": "first latent frame observed: video prediction (50 steps, dynamic CFG 3.0)",
    "planning": "first and last latent frames observed: visual planning (50 steps, dynamic CFG 3.0)",
    "unconditional": "no colour condition (the 2 % training share)",
}
_COMMANDS = {
    "reconstruct": "4D reconstruction of a video: depth and cameras (aether reconstruct VIDEO)",
    "predict": "video prediction from one image, optionally along a camera trajectory",
    "plan": "visual planning from an observation image to a goal image",
}


def _masking_builder(name: str):
    def build():
        from aether.tasks.maskings import MASKINGS

        return MASKINGS[name]()
    return build


def _command_builder(name: str):
    def build(parser):
        from aether.tasks import commands

        return getattr(commands, f"{name}_command")(parser)
    return build


@hookimpl
def aether_task_maskings() -> list[PluginSpec]:
    return [PluginSpec(name=name, summary=summary, build=_masking_builder(name))
            for name, summary in _MASKINGS.items()]


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name=name, summary=summary, build=_command_builder(name))
            for name, summary in _COMMANDS.items()]
