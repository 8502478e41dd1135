"""The one error type the codecs raise on bad input."""

from aether.core.errors import AetherError


class CodecError(AetherError, ValueError):
    """Bad codec input: wrong shape, non-finite values, invalid camera, unknown option."""
