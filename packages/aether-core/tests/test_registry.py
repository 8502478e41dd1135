import inspect
import json

import pytest

from aether.core import hookspecs
from aether.core.cli import main
from aether.core.errors import PluginError
from aether.core.hookspecs import hookimpl
from aether.core.registry import KINDS, Registry, default_registry
from aether.core.specs import PluginSpec


class _Thing:
    def __init__(self, size=1):
        self.size = size


def _plugin(name, kind_hook="aether_action_encoders"):
    class Plugin:
        pass

    def hook():
        return [PluginSpec(name=name, summary=f"test {name}", build=_Thing)]

    setattr(Plugin, kind_hook, staticmethod(hookimpl(hook)))
    return Plugin()


def test_every_hook_is_documented_and_has_a_kind():
    hooks = {name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
             if name.startswith("aether_")}
    assert hooks == {hook for hook, _ in KINDS.values()}
    for name in hooks:
        doc = inspect.getdoc(getattr(hookspecs, name))
        assert doc and len(doc) > 40, f"hook {name} needs a docstring saying what build() returns"


def test_lookup_and_build_by_name():
    registry = Registry()
    registry.register(_plugin("ray7"), distribution="acme-rays", version="2.0")
    entry = registry.entry("action_encoder", "ray7")
    assert (entry.distribution, entry.version) == ("acme-rays", "2.0")
    assert registry.build("action_encoder", "ray7", size=3).size == 3


def test_unknown_name_lists_available():
    registry = Registry()
    registry.register(_plugin("ray7"))
    registry.register(_plugin("plucker"))
    with pytest.raises(PluginError, match=r"unknown action encoder 'nope'; available: plucker, ray7"):
        registry.get("action_encoder", "nope")
    with pytest.raises(PluginError, match="unknown plugin kind"):
        registry.get("nonsense", "x")


def test_two_plugins_claiming_one_name_names_both_distributions():
    registry = Registry()
    registry.register(_plugin("ray7"), distribution="acme-rays")
    registry.register(_plugin("ray7"), distribution="other-rays")
    with pytest.raises(PluginError, match=r"'ray7'.*(acme-rays.*other-rays|other-rays.*acme-rays)"):
        registry.entries()


def test_wrong_spec_type_is_rejected():
    registry = Registry()
    registry.register(_plugin("bad", kind_hook="aether_modalities"), distribution="acme")
    with pytest.raises(PluginError, match="must return ModalitySpec"):
        registry.entries()


def test_spec_name_is_validated():
    with pytest.raises(ValueError):
        PluginSpec(name="Has Space", summary="x", build=_Thing)


def test_installed_core_plugins_found_through_entry_points(capsys):
    entries = default_registry().entries()
    assert any(e.kind == "command" and e.name == "plugins" and e.distribution == "aether-core"
               for e in entries)
    assert main(["plugins", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"kind": "command", "name": "plugins", "distribution": "aether-core"}.items() <= listed[0].items() or \
        any(row["name"] == "plugins" and row["distribution"] == "aether-core" for row in listed)
    assert all(set(row) == {"kind", "name", "distribution", "version"} for row in listed)


def test_version_flag_lists_core(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from aether.core import __version__
    assert f"aether-core {__version__}" in capsys.readouterr().out
