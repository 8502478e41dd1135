"""A spec's builder given as ``"module:attr"``: imported when the plugin is built, never when listed."""

import sys
import textwrap

import pytest

from aether.core.cli import main
from aether.core.errors import PluginError
from aether.core.hookspecs import hookimpl
from aether.core.registry import Registry
from aether.core.specs import CommandSpec, PluginSpec


@pytest.fixture()
def lazy_module(tmp_path, monkeypatch):
    """A module ``lazy_parts`` on the path, not yet imported: it records that it was imported."""
    (tmp_path / "lazy_parts.py").write_text(textwrap.dedent("""
        class Encoder:
            def __init__(self, size=1):
                self.size = size

            @classmethod
            def sized(cls, size):
                return cls(size * 10)

        def command(parser):
            parser.add_argument("--size", type=int, default=2)
            return lambda args: args.size
        NOT_CALLABLE = 3
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_parts", raising=False)
    yield "lazy_parts"
    sys.modules.pop("lazy_parts", None)


def _registry(*specs):
    class Plugin:
        @staticmethod
        @hookimpl
        def aether_action_encoders():
            return [s for s in specs if not isinstance(s, CommandSpec)]

        @staticmethod
        @hookimpl
        def aether_cli_commands():
            return [s for s in specs if isinstance(s, CommandSpec)]

    registry = Registry()
    registry.register(Plugin(), distribution="acme")
    return registry


def test_a_named_builder_is_imported_only_when_built(lazy_module):
    registry = _registry(PluginSpec(name="lazy", summary="x", build=f"{lazy_module}:Encoder"),
                         PluginSpec(name="sized", summary="x", build=f"{lazy_module}:Encoder.sized"))
    assert [e.name for e in registry.entries()] == ["lazy", "sized"]
    assert lazy_module not in sys.modules
    assert registry.build("action_encoder", "lazy", size=3).size == 3
    assert registry.build("action_encoder", "sized", size=3).size == 30  # a dotted attribute


def test_a_command_named_by_reference_runs(lazy_module):
    registry = _registry(CommandSpec(name="lazy-cmd", summary="x", build=f"{lazy_module}:command"))
    assert main(["lazy-cmd", "--size", "5"], registry=registry) == 5


def test_a_callable_builder_still_works():
    registry = _registry(PluginSpec(name="direct", summary="x", build=lambda size=1: size))
    assert registry.build("action_encoder", "direct", size=4) == 4


@pytest.mark.parametrize("build, message", [
    ("no_such_module_xyz:Thing", r"action encoder 'bad' from acme: its builder 'no_such_module_xyz:Thing' "
                                 r"cannot be loaded \(ModuleNotFoundError"),
    ("lazy_parts:Missing", r"cannot be loaded \(AttributeError"),
    ("lazy_parts:NOT_CALLABLE", r"is a int, not a callable"),
])
def test_a_broken_reference_names_the_plugin(lazy_module, build, message):
    registry = _registry(PluginSpec(name="bad", summary="x", build=build))
    with pytest.raises(PluginError, match=message):
        registry.build("action_encoder", "bad")


@pytest.mark.parametrize("build", ["no_colon", "a:", ":b", "a b:c", 3])
def test_a_malformed_reference_is_refused_by_the_spec(build):
    with pytest.raises(ValueError):
        PluginSpec(name="bad", summary="x", build=build)
