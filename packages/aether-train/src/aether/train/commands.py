"""``aether train``: ``aether train CONFIG [--resume]`` trains, ``aether train cache CONFIG``
pre-encodes latents, ``aether train export RUN_OR_CHECKPOINT OUT`` writes a model folder.

Under ``torchrun --nproc-per-node N $(which aether) train CONFIG`` every process runs the same
command and joins the process group. Heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

USAGE = ("aether train CONFIG [--resume [--override-config]] | aether train cache CONFIG [--out DIR] | "
         "aether train export RUN_OR_CHECKPOINT OUT [--no-ema]")


def train_command(parser: argparse.ArgumentParser):
    parser.usage = USAGE
    parser.add_argument("args", nargs="+", metavar="[cache|export] PATH", help="a YAML / TOML config, or a verb and its paths")
    parser.add_argument("--resume", action="store_true", help="continue from the run's newest readable checkpoint")
    parser.add_argument("--override-config", action="store_true",
                        help="resume even though CONFIG differs from the checkpoint's: its optimizer settings and "
                             "learning-rate schedule take over at the checkpoint's step")
    parser.add_argument("--out", type=Path, help="cache: the folder to write (default: data.cache)")
    parser.add_argument("--no-ema", dest="ema", action="store_const", const=False,
                        help="export: the raw weights even if the checkpoint has EMA weights")

    def run(args: argparse.Namespace) -> int:
        from aether.train.config import ConfigError, load_config

        verb, paths = (args.args[0], args.args[1:]) if args.args[0] in ("cache", "export") else ("train", args.args)
        expected = {"train": 1, "cache": 1, "export": 2}[verb]
        if len(paths) != expected:
            raise ConfigError(f"`aether train {'' if verb == 'train' else verb + ' '}` takes {expected} path(s), "
                              f"got {len(paths)}; usage: {USAGE}")
        if args.override_config and not args.resume:
            raise ConfigError("--override-config applies to a resume; add --resume")
        if verb == "export":
            from aether.train.export import export_model

            print(export_model(paths[0], paths[1], ema=args.ema))
            return 0
        config = load_config(paths[0])
        if verb == "cache":
            from aether.train.cache import write_cache

            print(write_cache(config, args.out, progress=config.progress))
            return 0
        from aether.train.loop import train

        result = train(config, resume=args.resume, override_config=args.override_config)
        if result.model_dir is not None:
            print(result.model_dir)
        return 0
    return run
