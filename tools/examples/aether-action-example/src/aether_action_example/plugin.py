"""The entry point's module: one hook implementation, nothing else (the encoder's module, which imports
torch, is named by reference and imported only when the encoder is built)."""

from aether.core.hookspecs import hookimpl
from aether.core.specs import PluginSpec


@hookimpl
def aether_action_encoders():
    return [PluginSpec(name="plucker", summary="Plücker ray coordinates (example third-party plugin)",
                       build="aether_action_example.plucker:PluckerEncoder")]
