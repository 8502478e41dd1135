"""aether-annotate's built-in plugins, registered through the ``aether`` entry point like any other."""

from __future__ import annotations
