"""aether-core's built-in plugins, registered through the ``aether`` entry point like any other.

Nothing heavy (torch) is imported here: plugins are listed on every CLI start, so builders are named
as ``"module:attr"`` and imported only when built."""

from __future__ import annotations

import argparse
import json

from aether.core.cli_help import examples
from aether.core.hookspecs import hookimpl
from aether.core.registry import KINDS
from aether.core.specs import CommandSpec, PluginSpec


def _plugins_command(parser: argparse.ArgumentParser):
    parser.add_argument("--json", action="store_true", help="print a JSON list of objects")
    parser.add_argument("--kind", choices=KINDS, help="only plugins of this kind")
    parser.epilog = examples("aether plugins", "aether plugins --kind attention_backend --json")

    def run(args: argparse.Namespace) -> int:
        from aether.core.registry import default_registry

        entries = [e for e in default_registry().entries() if args.kind in (None, e.kind)]
        if args.json:
            print(json.dumps([e.as_dict() for e in entries], indent=2))
            return 0
        rows = [("KIND", "NAME", "DISTRIBUTION", "VERSION", "SUMMARY")]
        rows += [(e.kind, e.name, e.distribution, e.version, e.spec.summary) for e in entries]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
        return 0

    return run


@hookimpl
def aether_backbones() -> list[PluginSpec]:
    return [PluginSpec(name="cogvideox", summary="CogVideoX transformer, 96 -> 56 channels (AetherV1)",
                       build="aether.core.backbone_plugin:build_cogvideox")]


@hookimpl
def aether_attention_backends() -> list[PluginSpec]:
    return [
        PluginSpec(name="sdpa", summary="PyTorch SDPA + separate RoPE (diffusers' processor, default)",
                   build="aether.core.attention:build_sdpa"),
        PluginSpec(name="xformers", summary="xformers memory-efficient attention (CUDA)",
                   build="aether.core.attention:build_xformers"),
        PluginSpec(name="triton", summary="fused RoPE flash attention (Triton)",
                   build="aether.core.attention:build_triton"),
        PluginSpec(name="triton-rope", summary="one-pass RoPE (Triton) + PyTorch SDPA; fastest on an H200",
                   build="aether.core.attention:build_triton_rope"),
    ]


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name="plugins", summary="list every installed plugin", build=_plugins_command),
            CommandSpec(name="model", summary="model folders: init-from-cogvideox, info, embed-prompt",
                        build="aether.core.model_commands:model_command")]
