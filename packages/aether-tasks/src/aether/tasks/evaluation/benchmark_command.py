"""The ``aether benchmark depth|pose`` command (see :mod:`aether.tasks.evaluation.benchmark`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from aether.core.cli_help import examples
from aether.core.cli_options import add_progress_option
from aether.core.dtypes import DTYPES, dtype_name
from aether.tasks.evaluation.benchmark_datasets import LAYOUTS
from aether.tasks.evaluation.depth_alignment import DEPTH_ALIGNMENTS


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N (e.g. 0/4), got {text!r}") from None
    return k, n


def _pred(text: str) -> tuple[str, Path]:
    """``NAME=DIR`` or ``DIR`` (named after its folder)."""
    name, sep, folder = text.partition("=")
    return (name, Path(folder)) if sep else (Path(text).resolve().name, Path(text))


def benchmark_command(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the ``benchmark`` subcommands to ``parser``; return the runner."""

    parser.epilog = examples("aether benchmark depth --data data --out bench --model aether-model",
                             "aether benchmark pose --data data --out bench --model aether-model")
    sub = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    for task, title, stride in (("depth", "video depth: Abs Rel and delta < 1.25, Sintel / Bonn / KITTI", 8),
                                ("pose", "camera pose: ATE, RPE trans, RPE rot, Sintel / TUM dynamics / ScanNet", 32)):
        p = sub.add_parser(task, help=title, description=title, epilog=examples(
            f"aether benchmark {task} --data data --out bench --model aether-model",
            f"aether benchmark {task} --data data --out bench --model aether-model --shard 0/4   # one of 4 jobs",
            f"aether benchmark {task} --data data --out bench --pred cut3r=preds/cut3r   # merge, add a method"))
        p.add_argument("--data", type=Path, required=True, help="data root in CUT3R's layout (its data/ folder)")
        p.add_argument("--out", type=Path, required=True, help=f"output folder (the run writes OUT/{task}/)")
        p.add_argument("--model", type=Path, help="model folder to run (transformer/, vae/, scheduler/)")
        p.add_argument("--name", default="aether", help="the model's row in the table (default: aether)")
        p.add_argument("--pred", type=_pred, action="append", default=[], metavar="[NAME=]DIR",
                       help="score another method's predictions, DIR/<dataset>/<seq>, as row NAME (default: DIR's "
                            "name); repeatable")
        p.add_argument("--datasets", type=lambda text: tuple(text.split(",")), default=(),
                       help=f"comma-separated, in column order (default: {','.join(LAYOUTS[task])})")
        p.add_argument("--shard", type=_shard, metavar="K/N",
                       help="take sequences K, K+N, K+2N, ... (K from 0): one array job each; a last run without "
                            "--shard merges them and writes the table")
        p.add_argument("--window", type=int, default=41, help="frames per temporal window")
        p.add_argument("--stride", type=int, help=f"frames between temporal windows (default: {stride})")
        p.add_argument("--steps", type=int, default=4, help="denoising steps")
        p.add_argument("--seed", type=int, default=3407, help="seed of every window's pass")
        p.add_argument("--dtype", type=dtype_name, choices=DTYPES, default="bf16",
                       help="model dtype (default: bf16, as the release's evaluation)")
        p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
        add_progress_option(p)
        if task == "depth":
            p.add_argument("--align", choices=DEPTH_ALIGNMENTS, default="l1-scale-shift",
                           help="per-sequence alignment (default: the release's L1 scale & shift)")

    def run(args: argparse.Namespace) -> int:
        from aether.tasks.evaluation.benchmark import BenchmarkConfig, BenchmarkError, run_benchmark

        preds = dict(args.pred)
        if len(preds) != len(args.pred):
            raise BenchmarkError("two --pred folders have the same row name; name them NAME=DIR")
        config = BenchmarkConfig(task=args.task, data=args.data, out=args.out, datasets=args.datasets,
                                 model=args.model, name=args.name, preds=preds, shard=args.shard,
                                 window=args.window, stride=args.stride, steps=args.steps, seed=args.seed,
                                 dtype=args.dtype, device=args.device, progress=args.progress,
                                 **({"align": args.align} if args.task == "depth" else {}))
        result = run_benchmark(config)
        if result is None:
            k, n = args.shard
            print(f"shard {k}/{n} done; a run without --shard merges the shards and writes the table")
        else:
            print(result["table"])
            for note in result["notes"]:
                print(f"note: {note}")
            print(args.out / args.task / "benchmark.md")
        return 0

    return run
