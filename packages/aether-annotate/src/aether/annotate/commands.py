"""CLI command ``aether annotate CLIP_OR_DIR --out DIR [--eval] [--workers N] [--shard K/N] [--summary]``; heavy
imports happen inside ``run``. A run with failed clips (for ``--summary``: failed or missing ones) ends with one
``error:`` line (exit status 2) after annotating the others."""

from __future__ import annotations

import argparse
from pathlib import Path

from aether.core.cli_help import examples
from aether.core.cli_options import add_plugin_option, add_progress_option, plugin_names


def annotate_command(parser: argparse.ArgumentParser):
    parser.add_argument("path", type=Path, help="a clip (.safetensors, frame folder) or a folder of clips")
    parser.add_argument("--out", required=True, type=Path, help="output folder (one sub-folder per clip)")
    parser.add_argument("--eval", action="store_true",
                        help="also score ours, PnP-only and COLMAP against the clips' ground-truth cameras")
    parser.add_argument("--use-given-K", action="store_true", help="keep the clips' K instead of estimating it")
    add_plugin_option(parser, "--masking", "annotation_stage", prefix="masking.", default="labels",
                      help="masking plugin")
    add_plugin_option(parser, "--slicing", "annotation_stage", prefix="slicing.", default="flow",
                      help="slicing plugin")
    add_plugin_option(parser, "--coarse", "annotation_stage", prefix="coarse.", default="pnp",
                      help="coarse camera plugin")
    parser.add_argument("--refine", choices=[*plugin_names("annotation_stage", "refine."), "none"], default="bundle",
                        help="refinement plugin, or none")
    parser.add_argument("--focal-prior", type=float, metavar="PIXELS",
                        help="focal length for slices whose motion cannot reveal it (default: the clip's K if any, "
                             "else the best estimate, labelled as such)")
    parser.add_argument("--workers", type=int, default=1, help="clips annotated at once, in parallel processes")
    parser.add_argument("--shard", metavar="K/N", help="annotate only share K of N (K from 0) of the clips, e.g. "
                                                       "one Slurm array job each; --summary merges them")
    parser.add_argument("--summary", action="store_true",
                        help="annotate nothing: merge what the runs (all shards) wrote into OUT/summary.json")
    add_progress_option(parser)
    parser.epilog = examples("aether annotate clips/ --out ann", "aether annotate clips/ --out ann --eval --workers 4",
                             "aether annotate clips/ --out ann --shard 0/4", "aether annotate clips/ --out ann --summary")

    def run(args: argparse.Namespace) -> int:
        import importlib.util

        from pydantic import ValidationError

        from aether.annotate.batch import annotate_dir, summarize_dir, summary_name
        from aether.annotate.pipeline import AnnotateConfig
        from aether.annotate.shards import Shard
        from aether.annotate.stages.base import AnnotateError
        from aether.core.errors import describe_validation

        try:
            config = AnnotateConfig(use_given_K=args.use_given_K, masking=args.masking, slicing=args.slicing,
                                    coarse=args.coarse, refine=None if args.refine == "none" else args.refine,
                                    focal_prior=args.focal_prior)
            shard = None if args.shard is None else Shard.parse(args.shard)
        except ValidationError as exc:
            raise AnnotateError(describe_validation(exc, "option")) from None
        except ValueError as exc:
            raise AnnotateError(str(exc)) from None
        if args.summary and (args.shard or args.eval):
            raise AnnotateError("--summary merges every shard's results; it takes no --shard or --eval")
        if args.summary:
            summary = summarize_dir(args.path, args.out, config)
        else:
            summary = annotate_dir(args.path, args.out, config, progress=args.progress, workers=args.workers,
                                   shard=shard)
        for name, entry in summary.items():
            detail = entry.get("error") or entry.get("reason") or f"{entry['slices']} slice(s), " \
                                                                   f"{entry['frames_kept']} frames"
            print(f"{name}: {entry['status']}{' (done before)' if entry['skipped'] else ''}: {detail}")
        failed = [name for name, entry in summary.items() if entry["status"] in ("failed", "missing")]
        if args.eval:
            from aether.annotate.evaluation import evaluate_dir
            from aether.annotate.locks import using_folder

            methods = ("ours", "pnp") + (("colmap",) if importlib.util.find_spec("pycolmap") else ())
            # "ours" is scored from the annotation just written, not run a second time; the folder lock
            # keeps another run starting meanwhile from sweeping away evaluation.json's temporary
            with using_folder(args.out):
                report = evaluate_dir(args.path, args.out, config, methods, progress=args.progress,
                                      annotated=args.out, known_intrinsics=args.use_given_K)
            for method, entry in report["summary"].items():
                values = ", ".join(f"{k} {v:.3f}" for k, v in entry.items() if isinstance(v, float))
                print(f"eval {method}: {entry['clips']} clips, {entry['failed']} failed; medians: {values}")
        if failed:
            first = summary[failed[0]]
            raise AnnotateError(f"{len(failed)} of {len(summary)} clip(s) {first['status']}, first {failed[0]}: "
                                f"{first.get('error') or first.get('reason')} (all in "
                                f"{args.out / summary_name(shard)}); a rerun retries them")
        return 0

    return run
