"""``aether train``: ``aether train CONFIG [--resume]`` trains, ``aether train cache CONFIG``
pre-encodes latents, ``aether train export RUN_OR_CHECKPOINT OUT`` writes a model folder.

``cache`` and ``export`` are subcommands with their own ``--help``; any other first word is the CONFIG
of a training run. Under ``torchrun --nproc-per-node N $(which aether) train CONFIG`` every process runs
the same command and joins the process group. Heavy imports happen inside the ``run`` functions.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from pathlib import Path

from aether.core.cli_help import examples
from aether.core.cli_options import add_progress_option

USAGE = ("aether train CONFIG [--resume [--override-config]] | aether train cache CONFIG [--out DIR] | "
         "aether train export RUN_OR_CHECKPOINT OUT [--no-ema]")
TRAIN = "run"  # the subcommand a first word that names no other one goes to (``aether train CONFIG``)


class _AnyWord(Mapping):
    """The subcommand parsers by name, as argparse's choices, except that any word passes argparse's
    check of a choice (a CONFIG path too)."""

    def __init__(self, parsers: dict[str, argparse.ArgumentParser]) -> None:
        self._parsers = parsers

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        return self._parsers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsers)

    def __len__(self) -> int:
        return len(self._parsers)

    def __contains__(self, word: object) -> bool:
        return True


class _VerbOrConfig(argparse._SubParsersAction):
    """The subcommands, where a first word that names none is the CONFIG of :data:`TRAIN`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.choices = _AnyWord(self._name_parser_map)

    def __call__(self, parser, namespace, values, option_string=None):
        if values[0] not in self._name_parser_map:
            values = [TRAIN, *values]
        super().__call__(parser, namespace, values, option_string)


def _config(args: argparse.Namespace):
    """The config file, ``--no-progress`` applied."""
    from aether.train.config import load_config

    config = load_config(args.config)
    return config if args.progress else config.model_copy(update={"progress": False})


def _train(args: argparse.Namespace) -> int:
    from aether.train.config import ConfigError
    from aether.train.loop import train

    if args.override_config and not args.resume:
        raise ConfigError("--override-config applies to a resume; add --resume")
    result = train(_config(args), resume=args.resume, override_config=args.override_config)
    if result.model_dir is not None:
        print(result.model_dir)
    return 0


def _cache(args: argparse.Namespace) -> int:
    from aether.train.cache import write_cache

    config = _config(args)
    print(write_cache(config, args.out, progress=config.progress))
    return 0


def _export(args: argparse.Namespace) -> int:
    from aether.train.export import export_model

    print(export_model(args.source, args.out, ema=args.ema))
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    # no help=: argparse then leaves it out of the listed subcommands, `aether train CONFIG` is its spelling
    run = sub.add_parser(TRAIN, usage="aether train CONFIG [--resume [--override-config]] [--no-progress]",
                         description="multi-task post-training of the run a YAML / TOML CONFIG describes",
                         epilog=examples("aether train ft.yaml", "aether train ft.yaml --resume",
                                         "torchrun --nproc-per-node 8 $(which aether) train ft.yaml"))
    run.add_argument("config", type=Path, help="the run's YAML / TOML config")
    run.add_argument("--resume", action="store_true", help="continue from the run's newest readable checkpoint")
    run.add_argument("--override-config", action="store_true",
                     help="resume even though CONFIG differs from the checkpoint's: its optimizer settings and "
                          "learning-rate schedule take over at the checkpoint's step")
    add_progress_option(run)
    run.set_defaults(_train_run=_train)


def train_command(parser: argparse.ArgumentParser):
    parser.usage = USAGE
    parser.description = ("multi-task post-training: `aether train CONFIG` trains (or resumes) the run a YAML / TOML "
                          "config describes; `cache` and `export` have their own --help")
    parser.epilog = examples("aether train ft.yaml", "aether train cache ft.yaml",
                             "aether train export runs/ft exported-model", "aether train cache --help")
    sub = parser.add_subparsers(action=_VerbOrConfig, dest="verb", metavar="{CONFIG,cache,export}", required=True,
                                prog=parser.prog)  # not the usage line, which is set
    _add_train(sub)

    summary = "pre-encode the VAE posteriors of CONFIG's clips with the frozen video codec"
    cache = sub.add_parser("cache", help=summary, description=summary,
                           epilog=examples("aether train cache ft.yaml", "aether train cache ft.yaml --out cache/ft"))
    cache.add_argument("config", type=Path, help="the run's YAML / TOML config")
    cache.add_argument("--out", type=Path, help="the folder to write (default: the config's data.cache)")
    add_progress_option(cache)
    cache.set_defaults(_train_run=_cache)

    summary = "write a model folder from a run (its newest readable checkpoint) or a checkpoint"
    export = sub.add_parser("export", help=summary, description=summary,
                            epilog=examples("aether train export runs/ft exported-model",
                                            "aether train export runs/ft/checkpoints/step_00001000 raw-model --no-ema"))
    export.add_argument("source", type=Path, metavar="RUN_OR_CHECKPOINT", help="a run folder or one checkpoint")
    export.add_argument("out", type=Path, help="the model folder to write")
    export.add_argument("--no-ema", dest="ema", action="store_const", const=False,
                        help="the raw weights even if the checkpoint has EMA weights")
    export.set_defaults(_train_run=_export)

    return lambda args: args._train_run(args)
