"""AETHER tasks: Reconstruction, prediction and planning pipelines, outputs and evaluation."""

from importlib.metadata import version as _version

__version__ = _version("aether-tasks")
