"""Listing the per-frame files of a folder in frame order: :mod:`aether.core.frame_folders`, which
clip loading shares."""

from aether.core.frame_folders import frame_files

__all__ = ["frame_files"]
