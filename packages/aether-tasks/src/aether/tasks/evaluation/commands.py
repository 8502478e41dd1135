"""The ``aether eval depth|pose|video`` command: compare a prediction with ground truth, print a
table, optionally write the numbers as JSON (``--out``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

import numpy as np

from aether.core.errors import ClipError


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise ClipError(f"{path}: no such file; pass {what}")
    return path


def load_depth(path: str | Path) -> np.ndarray:
    """Depth ``(F, H, W)`` or ``(H, W)`` from a ``.npy`` file or any clip :func:`load_clip` reads."""
    path = _existing(path, "a .npy depth array or a clip with depth")
    if path.suffix == ".npy":
        return np.load(path)
    from aether.core.clip import load_clip

    clip = load_clip(path)
    clip.require("depth", where=str(path))
    return clip.depth


def _evaluate_depth(args: argparse.Namespace) -> dict[str, Any]:
    from aether.tasks.evaluation.metrics import depth_metrics

    return depth_metrics(load_depth(args.pred), load_depth(args.gt), align=args.align,
                         max_depth=args.max_depth)


def _evaluate_pose(args: argparse.Namespace) -> dict[str, Any]:
    from aether.codecs.cameras import read_tum
    from aether.tasks.evaluation.metrics import pose_metrics

    _, est = read_tum(_existing(args.pred, "a TUM trajectory file"))
    _, gt = read_tum(_existing(args.gt, "a TUM trajectory file"))
    return pose_metrics(est, gt)


def _evaluate_video(args: argparse.Namespace) -> dict[str, Any]:
    from aether.core.media import read_video
    from aether.tasks.evaluation.metrics import video_metrics

    pred, _ = read_video(_existing(args.pred, "a video file"))
    gt, _ = read_video(_existing(args.gt, "a video file"))
    return video_metrics(pred, gt)


def format_table(metrics: dict[str, Any]) -> str:
    """Two aligned columns, metric and value; notes (a list of strings) follow the table."""
    rows = [(name, f"{value:.6g}" if isinstance(value, float) else "n/a" if value is None else str(value))
            for name, value in metrics.items() if name != "notes"]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    return "\n".join(lines + [f"note: {note}" for note in metrics.get("notes", [])])


def _add_common(parser: argparse.ArgumentParser, evaluate: Callable[[argparse.Namespace], dict],
                pred_help: str, gt_help: str) -> None:
    parser.add_argument("pred", help=pred_help)
    parser.add_argument("gt", help=gt_help)
    parser.add_argument("--out", type=Path, help="also write the metrics to this JSON file")
    parser.set_defaults(_evaluate=evaluate)


def eval_command(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the ``eval`` subcommands to ``parser``; return the runner."""
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    depth = sub.add_parser("depth", help="video depth: Abs Rel, Sq Rel, RMSE, log RMSE, delta < 1.25^k")
    _add_common(depth, _evaluate_depth, "predicted depth (.npy (F, H, W) or a clip)",
                "ground-truth depth (.npy or a clip with depth; 0 = invalid)")
    depth.add_argument("--align", choices=("scale", "scale-shift", "none"), default="scale",
                       help="per-sequence alignment: median scale (default), least-squares scale & "
                            "shift, or none")
    depth.add_argument("--max-depth", type=float, default=None,
                       help="ignore ground truth at or beyond this depth (CUT3R: 70 for Sintel and Bonn)")
    pose = sub.add_parser("pose", help="camera pose: ATE, RPE translation, RPE rotation after Sim(3)")
    _add_common(pose, _evaluate_pose, "estimated TUM trajectory", "ground-truth TUM trajectory")
    video = sub.add_parser("video", help="generated video: PSNR, SSIM, MS-SSIM, LPIPS")
    _add_common(video, _evaluate_video, "predicted mp4", "ground-truth mp4")

    def run(args: argparse.Namespace) -> int:
        from aether.core.atomic import write_json

        metrics = args._evaluate(args)
        print(format_table(metrics))
        if args.out is not None:
            write_json(args.out, {"what": args.what, "pred": str(args.pred), "gt": str(args.gt), **metrics})
        return 0

    return run
