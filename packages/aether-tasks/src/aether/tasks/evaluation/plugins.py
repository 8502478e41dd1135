"""Plugins of aether.tasks.evaluation, registered through their own entry point."""

from __future__ import annotations

from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name="eval", summary="compare predicted depth, poses or video with ground truth",
                        build="aether.tasks.evaluation.commands:eval_command"),
            CommandSpec(name="benchmark", summary="the paper's video-depth or camera-pose table: run the model on "
                        "the datasets (resumable, shardable) and score it and other methods",
                        build="aether.tasks.evaluation.benchmark_command:benchmark_command")]
