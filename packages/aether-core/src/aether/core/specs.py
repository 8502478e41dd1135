"""Pydantic specs that plugins return from the hooks in :mod:`aether.core.hookspecs`.

A spec names a plugin and how to build it; the registry adds where it came from. ``build`` is a
callable or, so that listing plugins imports nothing heavy, a ``"module:attr"`` reference that the
registry imports only when the plugin is built.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"
BUILDER_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"  # "package.module:attr", attr may be dotted


class PluginSpec(BaseModel):
    """One named, buildable plugin.

    ``build(**options)`` returns the plugin object (a module, a codec, a masking, ...);
    what the object must provide is documented on the hook that returns the spec. ``build`` may be
    given as ``"module:attr"`` (e.g. ``"my_package.encoders:MyEncoder"``): see :mod:`aether.core.registry`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="lower-case name used on the CLI and in configs")
    summary: str = Field(min_length=1, description="one line shown by `aether plugins`")
    build: Callable[..., Any] | Annotated[str, StringConstraints(pattern=BUILDER_PATTERN)] = Field(
        description="the builder, or a 'module:attr' reference to it imported when the plugin is built")


class ModalitySpec(PluginSpec):
    """A codec of one modality: ``video`` (pixels <-> latents) or ``depth`` (depth <-> 3-channel video)."""

    role: Literal["video", "depth"]


class CommandSpec(PluginSpec):
    """A CLI subcommand. ``build(parser)`` adds its arguments to ``parser`` (an
    ``argparse.ArgumentParser``) and returns ``run(args) -> int`` (the exit code).
    ``build`` must stay cheap: import heavy libraries inside ``run``."""
