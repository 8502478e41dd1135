"""Plugins of aether.annotate.synthetic, registered through their own entry point."""

from __future__ import annotations
