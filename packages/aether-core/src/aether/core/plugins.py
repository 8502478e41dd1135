"""aether-core's built-in plugins, registered through the ``aether`` entry point like any other."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec, PluginSpec


def _plugins_command(parser: argparse.ArgumentParser):
    parser.add_argument("--json", action="store_true", help="print a JSON list of objects")
    parser.add_argument("--kind", help="only plugins of this kind")

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


def _model_command(parser: argparse.ArgumentParser):
    from aether.core.model_commands import model_command

    return model_command(parser)


def _build_cogvideox(path: str | os.PathLike | None = None, dtype="float32", **tiny_options):
    """``path``: a model folder or a ``transformer/`` folder; ``dtype``: a torch dtype or its name.
    Without ``path``, a tiny CPU model (``AetherBackbone.tiny(**tiny_options)``)."""
    import torch

    from aether.core.backbone import AetherBackbone
    from aether.core.model_folder import TRANSFORMER, ModelFolder

    if path is None:
        return AetherBackbone.tiny(**tiny_options)
    if tiny_options:
        raise ValueError(f"options {sorted(tiny_options)} apply only to the tiny backbone (no path)")
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if names.get(dtype, dtype) not in names.values():
        raise ValueError(f"dtype must be one of {', '.join(names)}, got {dtype!r}")
    dtype = names.get(dtype, dtype)
    if (Path(path) / TRANSFORMER).is_dir():
        return ModelFolder(path).load_backbone(dtype)
    return AetherBackbone.from_pretrained(path, dtype)


def _attention(builder: str):
    def build():
        from aether.core import attention

        return getattr(attention, builder)()
    return build


@hookimpl
def aether_backbones() -> list[PluginSpec]:
    return [PluginSpec(name="cogvideox", summary="CogVideoX transformer, 96 -> 56 channels (AetherV1)",
                       build=_build_cogvideox)]


@hookimpl
def aether_attention_backends() -> list[PluginSpec]:
    return [
        PluginSpec(name="sdpa", summary="PyTorch SDPA + separate RoPE (diffusers' processor, default)",
                   build=_attention("build_sdpa")),
        PluginSpec(name="xformers", summary="xformers memory-efficient attention (CUDA)",
                   build=_attention("build_xformers")),
        PluginSpec(name="triton", summary="fused RoPE flash attention (Triton)", build=_attention("build_triton")),
        PluginSpec(name="triton-rope", summary="one-pass RoPE (Triton) + PyTorch SDPA; fastest on an H200",
                   build=_attention("build_triton_rope")),
    ]


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name="plugins", summary="list every installed plugin", build=_plugins_command),
            CommandSpec(name="model", summary="model folders: init-from-cogvideox, info, embed-prompt",
                        build=_model_command)]
