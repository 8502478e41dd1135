"""How every ``aether`` command's help reads: defaults shown, examples kept as written, and an
argument error answered in one ``error:`` line (the CLI's :class:`AetherError` boundary) instead of
argparse's usage block."""

from __future__ import annotations

import argparse

from aether.core.errors import AetherError


class UsageError(AetherError):
    """A command line argparse refuses (unknown option, invalid choice, missing argument)."""


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already says its default, the
    option is a flag or it has none (``None``); a description or epilog of several lines (examples)
    is kept as written, a one-line one wrapped."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.nargs == 0 or action.default in (None, argparse.SUPPRESS)
                or not action.option_strings):
            return text
        default = action.default
        if isinstance(default, (list, tuple)) and not default:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else "%(default)s"
        return f"{text} (default: {shown})" if text else f"default: {shown}"


class AetherArgumentParser(argparse.ArgumentParser):
    """The parser of ``aether`` and, through ``add_subparsers``, of every command below it."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def examples(*command_lines: str) -> str:
    """An epilog listing ``command_lines`` under ``examples:``."""
    return "examples:\n" + "\n".join(f"  {line}" for line in command_lines)
