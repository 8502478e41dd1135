"""The entry point's module: one hook implementation, nothing else."""

from aether.core.hookspecs import hookimpl
from aether.core.specs import PluginSpec


def _build(**options):
    from aether_action_example.plucker import PluckerEncoder

    return PluckerEncoder(**options)


@hookimpl
def aether_action_encoders():
    return [PluginSpec(name="plucker", summary="Plücker ray coordinates (example third-party plugin)",
                       build=_build)]
