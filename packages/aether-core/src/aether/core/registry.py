"""Plugin discovery and look-up by name.

Plugins come from the entry-point group ``aether``; each spec is attributed to the distribution that
published it so conflicts and listings can name it. A plugin that fails to import, or whose hook
raises, is left out and described in ``Registry.problems``: one broken package must not take the
other plugins (and every command) down with it.

A spec's ``build`` may be a ``"module:attr"`` reference: it is imported here, when the plugin is
built, and never while plugins are listed, so ``aether --help`` stays free of heavy imports.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

import pluggy

from aether.core import hookspecs
from aether.core.errors import PluginError
from aether.core.specs import CommandSpec, ModalitySpec, PluginSpec

# kind -> (hook name, spec class the hook must return)
KINDS: dict[str, tuple[str, type[PluginSpec]]] = {
    "backbone": ("aether_backbones", PluginSpec),
    "action_encoder": ("aether_action_encoders", PluginSpec),
    "modality": ("aether_modalities", ModalitySpec),
    "task_masking": ("aether_task_maskings", PluginSpec),
    "attention_backend": ("aether_attention_backends", PluginSpec),
    "annotation_stage": ("aether_annotation_stages", PluginSpec),
    "command": ("aether_cli_commands", CommandSpec),
}
LOCAL = "<local>"


@dataclass(frozen=True)
class PluginEntry:
    """A spec together with where it came from."""

    kind: str
    spec: PluginSpec
    distribution: str
    version: str

    @property
    def name(self) -> str:
        return self.spec.name

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "distribution": self.distribution,
                "version": self.version}


class Registry:
    """Every plugin of every kind, indexed by ``(kind, name)``."""

    def __init__(self, manager: pluggy.PluginManager | None = None) -> None:
        self.manager = manager or pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self._origins: dict[int, tuple[str, str]] = {}
        self._load_problems: list[str] = []
        self._hook_problems: list[str] = []
        self._index: dict[str, dict[str, PluginEntry]] | None = None

    @classmethod
    def from_entry_points(cls) -> "Registry":
        """A registry holding every plugin installed in this environment that loads."""
        registry = cls()
        for point in entry_points(group=hookspecs.PROJECT):
            dist = (point.dist.metadata["Name"], point.dist.version) if point.dist else (LOCAL, "")
            try:
                registry.register(point.load(), *dist, name=point.name)
            except Exception as exc:  # whatever a third party's import raises, the other plugins must work
                registry._load_problems.append(
                    f"plugin {point.name!r} from {dist[0]} {dist[1]} was not loaded ({_first_line(exc)}); "
                    f"reinstall {dist[0]} or uninstall it")
        return registry

    def register(self, plugin: object, distribution: str = LOCAL, version: str = "", name: str | None = None) -> None:
        """Add a plugin object in-process (tests, notebooks); installed ones come from entry points."""
        self.manager.register(plugin, name=name)
        self._origins[id(plugin)] = (distribution, version)
        self._index = None

    @property
    def problems(self) -> list[str]:
        """One line per plugin left out because it failed to load or its hook raised."""
        self._ensure_index()
        return self._load_problems + self._hook_problems

    def _specs(self, impl: pluggy.HookImpl, kind: str) -> list:
        """What one plugin's hook returns; a hook that raises is noted in ``problems`` and gives none."""
        try:
            return list(impl.function() or [])
        except Exception as exc:  # a third party's bug must not hide every other plugin
            dist, version = self._origins.get(id(impl.plugin), (LOCAL, ""))
            self._hook_problems.append(
                f"plugin {impl.plugin_name!r} from {dist} {version} gave no {kind} plugins ({_first_line(exc)}); "
                f"reinstall {dist} or uninstall it")
            return []

    def _build_index(self) -> dict[str, dict[str, PluginEntry]]:
        index: dict[str, dict[str, PluginEntry]] = {}
        self._hook_problems = []
        for kind, (hook_name, spec_cls) in KINDS.items():
            entries: dict[str, PluginEntry] = {}
            for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                dist, version = self._origins.get(id(impl.plugin), (LOCAL, ""))
                for spec in self._specs(impl, kind):
                    if not isinstance(spec, spec_cls):
                        raise PluginError(
                            f"plugin {impl.plugin_name!r} from {dist} returned {type(spec).__name__} "
                            f"from {hook_name}; it must return {spec_cls.__name__} objects")
                    if spec.name in entries:
                        other = entries[spec.name].distribution
                        raise PluginError(
                            f"two plugins claim the {kind} name {spec.name!r}: one from {other} and "
                            f"one from {dist}; uninstall one of them or rename its plugin")
                    entries[spec.name] = PluginEntry(kind, spec, dist, version)
            index[kind] = entries
        return index

    def _ensure_index(self) -> dict[str, dict[str, PluginEntry]]:
        if self._index is None:
            self._index = self._build_index()
        return self._index

    def _kind(self, kind: str) -> dict[str, PluginEntry]:
        if kind not in KINDS:
            raise PluginError(f"unknown plugin kind {kind!r}; kinds are: {', '.join(KINDS)}")
        return self._ensure_index()[kind]

    def names(self, kind: str) -> list[str]:
        return sorted(self._kind(kind))

    def entry(self, kind: str, name: str) -> PluginEntry:
        entries = self._kind(kind)
        if name not in entries:
            available = ", ".join(sorted(entries)) or "none installed"
            raise PluginError(f"unknown {kind.replace('_', ' ')} {name!r}; available: {available}")
        return entries[name]

    def get(self, kind: str, name: str) -> PluginSpec:
        """The spec registered as ``name`` for ``kind``; an unknown name lists the available ones."""
        return self.entry(kind, name).spec

    def builder(self, kind: str, name: str) -> Callable[..., Any]:
        """The callable that builds the plugin ``name`` of ``kind`` (its ``"module:attr"`` imported)."""
        entry = self.entry(kind, name)
        return _resolve_builder(entry.spec.build, f"{kind.replace('_', ' ')} {name!r} from {entry.distribution}")

    def build(self, kind: str, name: str, **options: Any) -> Any:
        """Build the plugin ``name`` of ``kind`` with ``options``."""
        return self.builder(kind, name)(**options)

    def entries(self) -> list[PluginEntry]:
        """Every plugin, sorted by kind then name."""
        return [self._kind(kind)[name] for kind in KINDS for name in self.names(kind)]


def _resolve_builder(build: Callable[..., Any] | str, what: str) -> Callable[..., Any]:
    """``build`` itself, or the object a ``"module:attr"`` reference names (``attr`` may be dotted)."""
    if callable(build):
        return build
    module_name, _, path = build.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for attr in path.split("."):
            found = getattr(found, attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"{what}: its builder {build!r} cannot be loaded ({_first_line(exc)}); "
                          "reinstall the package that provides it") from exc
    if not callable(found):
        raise PluginError(f"{what}: its builder {build!r} is a {type(found).__name__}, not a callable")
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@functools.cache
def default_registry() -> Registry:
    """The process-wide registry of installed plugins (loaded once)."""
    return Registry.from_entry_points()
