"""Exceptions with messages that say what was wrong and what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class AetherError(Exception):
    """Base class of every error AETHER raises on bad input or state."""


class PluginError(AetherError, LookupError):
    """Unknown plugin name, conflicting registrations, or a malformed plugin."""


class ActionLayoutError(AetherError, TypeError):
    """An action encoder asked for a view of its channels that it does not hold (e.g. an AETHER raymap)."""


class ClipError(AetherError, ValueError):
    """A clip file or folder that cannot be read or fails validation."""


class CheckpointError(AetherError, FileNotFoundError):
    """A model folder or checkpoint that is missing, incomplete or corrupt."""


def describe_validation(exc: ValidationError, whole: str = "value") -> str:
    """A pydantic ``ValidationError`` on one line: ``field.path: message; ...`` (``whole`` names an
    error about the whole value rather than one field)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or whole}: {e['msg']}" for e in exc.errors())
