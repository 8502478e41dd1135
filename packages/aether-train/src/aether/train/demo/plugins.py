"""The ``aether demo`` command, registered through aether-train's second entry point."""

from __future__ import annotations

import argparse

from aether.core.cli_help import examples
from aether.core.cli_options import add_progress_option
from aether.core.hookspecs import hookimpl
from aether.core.specs import CommandSpec


def _demo_command(parser: argparse.ArgumentParser):
    from aether.train.demo.config import DemoConfig

    default = {name: field.default for name, field in DemoConfig.model_fields.items()}
    parser.add_argument("--out", default="demo-out", help="folder for every stage and report.html "
                        "(an existing one is resumed: finished stages are reused)")
    parser.add_argument("--minutes", type=float, help=f"training time budget (default: {default['minutes']})")
    parser.add_argument("--train-clips", type=int, help=f"synthetic training clips (default: {default['train_clips']})")
    parser.add_argument("--heldout-clips", type=int, help=f"held-out clips (default: {default['heldout_clips']})")
    parser.add_argument("--seed", type=int, help=f"seed of the training clips (default: {default['seed']})")
    parser.add_argument("--no-annotate", action="store_true",
                        help="train on the renderer's exact cameras instead of annotated ones")
    add_progress_option(parser)
    parser.epilog = examples("aether demo", "aether demo --out demo-out --minutes 2 --no-progress > demo.log 2>&1")

    def run(args: argparse.Namespace) -> int:
        from pydantic import ValidationError

        from aether.core.errors import AetherError
        from aether.train.demo.run import run_demo

        options = {"minutes": args.minutes, "train_clips": args.train_clips, "heldout_clips": args.heldout_clips,
                   "seed": args.seed}
        try:
            config = DemoConfig(annotate=not args.no_annotate, progress=args.progress,
                                **{key: value for key, value in options.items() if value is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise AetherError(f"invalid option --{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
        run_demo(args.out, config)
        return 0

    return run


@hookimpl
def aether_cli_commands() -> list[CommandSpec]:
    return [CommandSpec(name="demo", summary="render, annotate, train a tiny AETHER and evaluate it, end to end "
                        "on the CPU; writes an HTML report", build=_demo_command)]
