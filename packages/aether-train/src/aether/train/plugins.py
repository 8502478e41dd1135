"""aether-train's built-in plugins, registered through the ``aether`` entry point like any other.

Nothing heavy (torch) is imported here: plugins are listed on every CLI start.
"""

from __future__ import annotations

from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name="train", build="aether.train.commands:train_command",
                        summary="multi-task post-training (aether train CONFIG; cache; export)")]
