"""aether-core's built-in plugins, registered through the ``aether`` entry point like any other."""

from __future__ import annotations

import argparse
import json

from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec


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


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name="plugins", summary="list every installed plugin", build=_plugins_command)]
