"""Plugins of aether.tasks.evaluation, registered through their own entry point."""

from __future__ import annotations
