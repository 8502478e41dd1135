"""The error ``aether eval`` raises on inputs it cannot compare."""

from __future__ import annotations

from aether.core.errors import AetherError


class MetricInputError(AetherError, ValueError):
    """Predictions and ground truth that cannot be compared (files, shapes, counts, values)."""
