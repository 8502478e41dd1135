"""AETHER annotate: Synthetic 4D clips and the four-stage camera annotation pipeline."""

from importlib.metadata import version as _version

__version__ = _version("aether-annotate")
