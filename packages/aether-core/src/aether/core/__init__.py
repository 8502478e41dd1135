"""AETHER core: Plugin contract, clip format, CLI, the AETHER backbone and Triton kernels."""

from importlib.metadata import version as _version

__version__ = _version("aether-core")
