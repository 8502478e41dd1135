"""The CLI boundary: a bad file, a full or read-only disk and invalid values exit 2 with one ``error:``
line; a broken plugin is named in one ``warning:`` line while every other plugin and command works."""

from __future__ import annotations

import json

import pytest
from aether.core.cli import main
from aether.core.errors import ClipError
from aether.core.hookspecs import hookimpl
from aether.core.registry import Registry, default_registry
from aether.core.specs import CommandSpec
from pydantic import BaseModel, ValidationError


class _Settings(BaseModel):
    frames: int
    fps: float


def _validation_error() -> ValidationError:
    try:
        _Settings.model_validate({"frames": "many", "fps": "fast\nand more"})
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a ValidationError")


# what a command raises -> the one line the user sees
RAISED = {
    "missing file": (FileNotFoundError(2, "No such file or directory", "/data/clip.safetensors"),
                     "error: /data/clip.safetensors: No such file or directory"),
    "permission": (PermissionError(13, "Permission denied", "/out/run"), "error: /out/run: Permission denied"),
    "full disk": (OSError(28, "No space left on device", "/out/run/log.jsonl"),
                  "error: /out/run/log.jsonl: No space left on device"),
    "rename across devices": (OSError(18, "Invalid cross-device link", "/a/x", None, "/b/x"),
                              "error: /a/x -> /b/x: Invalid cross-device link"),
    "no errno": (OSError("the device went away"), "error: the device went away"),
    "validation": (_validation_error(), "error: _Settings: frames: Input should be a valid integer, unable to parse "
                                        "string as an integer; fps: Input should be a valid number, unable to parse "
                                        "string as a number"),
    "aether error": (ClipError("clip.safetensors: no rgb"), "error: clip.safetensors: no rgb"),
}


def _raising(exc: BaseException) -> Registry:
    class Plugin:
        @staticmethod
        @hookimpl
        def aether_cli_commands():
            def build(parser):
                def run(args):
                    raise exc
                return run
            return [CommandSpec(name="boom", summary="raises", build=build)]

    registry = Registry()
    registry.register(Plugin())
    return registry


@pytest.mark.parametrize("case", RAISED)
def test_bad_files_and_values_exit_2_with_one_line(case, capsys):
    exc, line = RAISED[case]
    assert main(["boom"], registry=_raising(exc)) == 2
    assert capsys.readouterr().err.splitlines() == [line]


# broken plugin -> (files of its package, what the warning says happened)
BROKEN = {
    "entry point at a missing module": ({}, "was not loaded (ModuleNotFoundError: No module named 'acme_plugin')"),
    "raises on import": ({"acme_plugin.py": "raise RuntimeError('no licence server')\n"},
                         "was not loaded (RuntimeError: no licence server)"),
    "hook raises": ({"acme_plugin.py": "from aether.core.hookspecs import hookimpl\n\n@hookimpl\n"
                                       "def aether_action_encoders():\n    raise ValueError('bad weights path')\n"},
                    "gave no action_encoder plugins (ValueError: bad weights path)"),
}


@pytest.fixture
def fresh_registry():
    default_registry.cache_clear()
    yield
    default_registry.cache_clear()


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_plugin_is_named_and_the_rest_keep_working(case, tmp_path, monkeypatch, fresh_registry, capsys):
    files, happened = BROKEN[case]
    info = tmp_path / "acme_tools-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tools\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[aether]\nacme = acme_plugin\n")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["plugins", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"warning: plugin 'acme' from acme-tools 1.0 {happened}; "
                                "reinstall acme-tools or uninstall it"]
    listed = {(row["kind"], row["name"]) for row in json.loads(out)}
    assert {("command", "plugins"), ("attention_backend", "sdpa")} <= listed
    assert main(["model", "info", str(tmp_path / "nowhere")]) == 2  # another command still runs
