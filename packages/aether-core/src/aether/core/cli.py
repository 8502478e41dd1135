"""The ``aether`` console script. Its subcommands come from the ``aether_cli_commands`` hook,
so installing a package (ours or a third party's) adds its commands."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import distributions

from pydantic import ValidationError

from aether.core.cli_help import AetherArgumentParser, examples
from aether.core.errors import AetherError, describe_validation
from aether.core.registry import Registry, default_registry


def installed_versions() -> dict[str, str]:
    """Versions of every installed ``aether-*`` distribution, by name."""
    found = {}
    for dist in distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().startswith("aether-"):
            found[name] = dist.version
    return dict(sorted(found.items()))


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print each installed aether package's version")

    def __call__(self, parser, namespace, values, option_string=None):
        for name, version in installed_versions().items():
            print(f"{name} {version}")
        parser.exit()


def build_parser(registry: Registry) -> argparse.ArgumentParser:
    parser = AetherArgumentParser(prog="aether", description="AETHER geometry-aware world model.",
                                  epilog=examples("aether plugins", "aether reconstruct clip.mp4 --model MODEL "
                                                  "--out out", "aether COMMAND --help"))
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for entry in registry.entries():
        if entry.kind != "command":
            continue
        sub_parser = sub.add_parser(entry.name, help=entry.spec.summary, description=entry.spec.summary)
        sub_parser.set_defaults(_run=registry.builder("command", entry.name)(sub_parser))
    return parser


def _os_error(exc: OSError) -> str:
    """``path: reason`` (both paths for a rename), as the shell's tools say it."""
    paths = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p is not None)
    return f"{paths}: {exc.strerror}" if paths and exc.strerror else str(exc)


def main(argv: list[str] | None = None, registry: Registry | None = None) -> int:
    """Run the CLI; bad input, bad files and a full or read-only disk exit with status 2 and a one-line
    ``error:`` message. Plugins that failed to load are named in ``warning:`` lines; the rest work."""
    registry = registry or default_registry()
    try:
        parser = build_parser(registry)
        for problem in registry.problems:
            print(f"warning: {problem}", file=sys.stderr)
        args = parser.parse_args(argv)
        return int(args._run(args) or 0)
    except AetherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"error: {exc.title}: {describe_validation(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
