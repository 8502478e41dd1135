"""AETHER codecs: Depth, raymap, camera, pointmap and video codecs exact to the released AetherV1 model."""

from importlib.metadata import version as _version

__version__ = _version("aether-codecs")
