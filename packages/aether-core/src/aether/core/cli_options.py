"""Options several commands share, spelt once: ``--no-progress`` and options that name a plugin
(their choices are the registry's names, so argparse lists them in ``--help`` and refuses any other
name before a command starts its work)."""

from __future__ import annotations

import argparse

from aether.core.registry import default_registry


def plugin_names(kind: str, prefix: str = "") -> list[str]:
    """The installed plugins of ``kind`` whose names start with ``prefix``, the prefix dropped
    (annotation stages are registered as ``masking.labels``, chosen as ``--masking labels``)."""
    return [name[len(prefix):] for name in default_registry().names(kind) if name.startswith(prefix)]


def add_plugin_option(parser: argparse.ArgumentParser, flag: str, kind: str, help: str, prefix: str = "",
                      **kwargs) -> argparse.Action:
    """``flag`` taking the name of an installed plugin of ``kind`` (see :func:`plugin_names`)."""
    return parser.add_argument(flag, choices=plugin_names(kind, prefix), help=help, **kwargs)


def add_progress_option(parser: argparse.ArgumentParser) -> argparse.Action:
    """``--no-progress``: ``args.progress`` is False (progress bars hidden)."""
    return parser.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
