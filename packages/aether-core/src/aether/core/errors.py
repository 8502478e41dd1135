"""Exceptions with messages that say what was wrong and what to do."""


class AetherError(Exception):
    """Base class of every error AETHER raises on bad input or state."""


class PluginError(AetherError, LookupError):
    """Unknown plugin name, conflicting registrations, or a malformed plugin."""


class ClipError(AetherError, ValueError):
    """A clip file or folder that cannot be read or fails validation."""


class CheckpointError(AetherError, FileNotFoundError):
    """A model folder or checkpoint that is missing, incomplete or corrupt."""
