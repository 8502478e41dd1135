"""AETHER train: Multi-task post-training of AETHER, from one CPU to a cluster."""

from importlib.metadata import version as _version

__version__ = _version("aether-train")
