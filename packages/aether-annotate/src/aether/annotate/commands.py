"""CLI command ``aether annotate CLIP_OR_DIR --out DIR [--eval]``; heavy imports happen inside ``run``."""

from __future__ import annotations

import argparse
from pathlib import Path


def annotate_command(parser: argparse.ArgumentParser):
    parser.add_argument("path", type=Path, help="a clip (.safetensors, frame folder) or a folder of clips")
    parser.add_argument("--out", required=True, type=Path, help="output folder (one sub-folder per clip)")
    parser.add_argument("--eval", action="store_true",
                        help="also score ours, PnP-only and COLMAP against the clips' ground-truth cameras")
    parser.add_argument("--use-given-K", action="store_true", help="keep the clips' K instead of estimating it")
    parser.add_argument("--masking", default="labels", help="masking plugin (default labels)")
    parser.add_argument("--slicing", default="flow", help="slicing plugin (default flow)")
    parser.add_argument("--coarse", default="pnp", help="coarse camera plugin (default pnp)")
    parser.add_argument("--refine", default="bundle", help="refinement plugin, or 'none' (default bundle)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")

    def run(args: argparse.Namespace) -> int:
        import importlib.util

        from aether.annotate.batch import annotate_dir
        from aether.annotate.pipeline import AnnotateConfig

        config = AnnotateConfig(use_given_K=args.use_given_K, masking=args.masking, slicing=args.slicing,
                                coarse=args.coarse, refine=None if args.refine == "none" else args.refine)
        summary = annotate_dir(args.path, args.out, config, progress=not args.no_progress)
        for name, entry in summary.items():
            detail = entry.get("error") or entry.get("reason") or f"{entry['slices']} slice(s), " \
                                                                   f"{entry['frames_kept']} frames"
            print(f"{name}: {entry['status']}{' (done before)' if entry['skipped'] else ''}: {detail}")
        if args.eval:
            from aether.annotate.evaluation import evaluate_dir

            methods = ("ours", "pnp") + (("colmap",) if importlib.util.find_spec("pycolmap") else ())
            # "ours" is scored from the annotation just written, not run a second time
            report = evaluate_dir(args.path, args.out, config, methods, progress=not args.no_progress,
                                  annotated=args.out, known_intrinsics=args.use_given_K)
            for method, entry in report["summary"].items():
                values = ", ".join(f"{k} {v:.3f}" for k, v in entry.items() if isinstance(v, float))
                print(f"eval {method}: {entry['clips']} clips, {entry['failed']} failed; medians: {values}")
        return 0

    return run
