"""Plugins of aether.tasks.evaluation, registered through their own entry point."""

from __future__ import annotations

from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec


def _build_eval(parser):
    from aether.tasks.evaluation.commands import eval_command

    return eval_command(parser)


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name="eval", summary="compare predicted depth, poses or video with ground truth",
                        build=_build_eval)]
