"""Pydantic specs that plugins return from the hooks in :mod:`aether.core.hookspecs`.

A spec names a plugin and knows how to build it; the registry adds where it came from.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"


class PluginSpec(BaseModel):
    """One named, buildable plugin.

    ``build(**options)`` returns the plugin object (a module, a codec, a masking, ...);
    what the object must provide is documented on the hook that returns the spec.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="lower-case name used on the CLI and in configs")
    summary: str = Field(min_length=1, description="one line shown by `aether plugins`")
    build: Callable[..., Any]


class ModalitySpec(PluginSpec):
    """A codec of one modality: ``video`` (pixels <-> latents) or ``depth`` (depth <-> 3-channel video)."""

    role: Literal["video", "depth"]


class CommandSpec(PluginSpec):
    """A CLI subcommand. ``build(parser)`` adds its arguments to ``parser`` (an
    ``argparse.ArgumentParser``) and returns ``run(args) -> int`` (the exit code).
    ``build`` must stay cheap: import heavy libraries inside ``run``."""
