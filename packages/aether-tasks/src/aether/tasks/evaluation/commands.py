"""The ``aether eval depth|pose|video`` command: compare a prediction with ground truth, print a
table, optionally write the numbers as JSON (``--out``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from aether.core.cli_help import examples
from aether.core.errors import ClipError


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise ClipError(f"{path}: no such file; pass {what}")
    return path


def _evaluate_depth(args: argparse.Namespace) -> dict[str, Any]:
    from aether.tasks.evaluation.depth_files import read_depth
    from aether.tasks.evaluation.metrics import depth_metrics

    return depth_metrics(read_depth(args.pred, args.png_scale), read_depth(args.gt, args.png_scale),
                         align=args.align, max_depth=args.max_depth, resize=args.resize)


def _evaluate_pose(args: argparse.Namespace) -> dict[str, Any]:
    from aether.tasks.evaluation.association import pair_poses
    from aether.tasks.evaluation.metrics import pose_metrics
    from aether.tasks.evaluation.trajectory_files import read_trajectory

    est, gt = read_trajectory(args.pred), read_trajectory(args.gt)
    match, i_est, i_gt = pair_poses(est, gt, args.match, args.max_diff, args.offset)
    metrics = pose_metrics(est.c2w[i_est], gt.c2w[i_gt], align=args.align, delta=args.delta)
    return {"match": match, "pairs": len(i_est), "estimated_poses": len(est.c2w),
            "ground_truth_poses": len(gt.c2w), "align": args.align, "delta": args.delta, **metrics}


def _evaluate_video(args: argparse.Namespace) -> dict[str, Any]:
    from aether.core.clip import load_frames
    from aether.tasks.evaluation.metrics import video_metrics

    inputs = [_existing(path, "a video file or a folder of frames") for path in (args.pred, args.gt)]
    if args.out is not None:
        out = args.out.resolve()
        for path in inputs:  # a JSON written over a video or into a frame folder would destroy the input
            if out == path.resolve() or out.is_relative_to(path.resolve()):
                raise ClipError(f"--out {args.out} would overwrite the input {path}; write the metrics elsewhere")
    (pred, pred_fps), (gt, gt_fps) = load_frames(inputs[0]), load_frames(inputs[1])
    metrics = video_metrics(pred, gt)
    if pred_fps is not None and gt_fps is not None and abs(pred_fps - gt_fps) > 1e-3 * gt_fps:
        # frame i of each then shows a different moment: say so rather than score it silently
        metrics["notes"].insert(0, f"the predicted video is {pred_fps:g} fps but the ground truth {gt_fps:g} fps; "
                                   "frames were compared by index")
    return metrics


def _json_numbers(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with non-finite numbers as null (JSON has no infinity; Python would write ``Infinity``,
    which other readers reject), with a note saying which."""
    import math

    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if not bad:
        return metrics
    notes = [*metrics.get("notes", []), *(f"{k} is {metrics[k]} and is written as null" for k in bad)]
    return {**{k: None if k in bad else v for k, v in metrics.items()}, "notes": notes}


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
    from aether.tasks.evaluation.depth_alignment import DEPTH_ALIGNMENTS
    from aether.tasks.evaluation.metrics import RESIZES
    from aether.codecs.align_modes import ALIGN_MODES

    parser.epilog = examples("aether eval depth out/result_depth.npy gt/depth/", "aether eval pose out/ gt.txt",
                             "aether eval video out/result.mp4 gt.mp4")
    depth = sub.add_parser(
        "depth", help="video depth: Abs Rel, Sq Rel, RMSE, log RMSE, delta < 1.25^k",
        description="score a predicted depth video against ground truth: Abs Rel, Sq Rel, RMSE, log RMSE and "
                    "delta < 1.25^k over the valid pixels of every frame, after a per-sequence alignment",
        epilog=examples("aether eval depth out/ sintel/alley_1/depth/ --max-depth 70",
                        "aether eval depth pred.npy gt/ --png-scale 5000 --align median --out depth.json"))
    depth_formats = ("Sintel .dpt, 16-bit .png, .npy (F, H, W), .npz, a folder of per-frame files, an aether "
                     "output folder or a clip")
    _add_common(depth, _evaluate_depth, f"predicted depth: {depth_formats}",
                f"ground-truth depth (0 = invalid): {depth_formats}")
    depth.add_argument("--align", choices=DEPTH_ALIGNMENTS, default="l1-scale-shift",
                       help="per-sequence alignment: the release's L1 scale & shift by Adam (default), its IRLS "
                            "L1 scale, least-squares scale & shift, median scale, or none (metric)")
    depth.add_argument("--max-depth", type=float, default=None,
                       help="ignore ground truth at or beyond this depth and clip the aligned prediction "
                            "there (the protocol: 70 for Sintel and Bonn, none for KITTI)")
    depth.add_argument("--resize", choices=RESIZES, default="bicubic",
                       help="how a prediction of another size is resized to the ground truth's (default: "
                            "bicubic, as the protocol)")
    depth.add_argument("--png-scale", type=float, default=None, metavar="DIVISOR",
                       help="depth = 16-bit PNG value / DIVISOR: 5000 (Bonn, TUM), 256 (KITTI), 1000 (ScanNet)")
    pose = sub.add_parser(
        "pose", help="camera pose: ATE and RPE (translation, rotation) as evo computes them",
        description="score an estimated camera trajectory against ground truth: ATE and RPE (translation, "
                    "rotation) after pairing the poses and aligning the estimate, as evo_ape / evo_rpe compute them",
        epilog=examples("aether eval pose out/ groundtruth.txt",
                        "aether eval pose est.txt gt.txt --align se3 --delta 10",
                        "aether eval pose est.npy gt.npy --match index --out pose.json"))
    pose_formats = ("TUM, KITTI (12 numbers a line), ScanNet (16 a line, or a folder of per-frame 4x4 files), "
                    ".npy (N, 4, 4) c2w, or an aether output folder")
    _add_common(pose, _evaluate_pose, f"estimated trajectory: {pose_formats}", f"ground truth: {pose_formats}")
    pose.add_argument("--align", choices=ALIGN_MODES, default="sim3",
                      help="alignment onto the ground truth: sim3 (evo -as, default), se3 (-a), scale (-s), none")
    pose.add_argument("--delta", type=int, default=1, help="RPE over pose pairs this many frames apart")
    pose.add_argument("--match", choices=("auto", "time", "index"), default="auto",
                      help="pair poses by nearest timestamp (evo's association) or by index; auto: by time when "
                           "both files have timestamps (TUM)")
    pose.add_argument("--max-diff", type=float, default=0.01,
                      help="largest timestamp difference of a matched pair, seconds (evo's --t_max_diff)")
    pose.add_argument("--offset", type=float, default=0.0,
                      help="seconds added to the estimate's timestamps before matching (evo's --t_offset)")
    video = sub.add_parser(
        "video", help="generated video: PSNR, SSIM, MS-SSIM, LPIPS",
        description="score a generated video against the real one frame by frame: PSNR, SSIM, MS-SSIM and "
                    "LPIPS (when the lpips package is installed), averaged over frames",
        epilog=examples("aether eval video out/result.mp4 gt.mp4 --out video.json"))
    _add_common(video, _evaluate_video, "predicted video (a video file or a folder of frames)",
                "ground-truth video (a video file or a folder of frames)")

    def run(args: argparse.Namespace) -> int:
        from aether.core.atomic import write_json

        metrics = args._evaluate(args)
        print(format_table(metrics))
        if args.out is not None:
            write_json(args.out, {"what": args.what, "pred": str(args.pred), "gt": str(args.gt),
                                  **_json_numbers(metrics)})
        return 0

    return run
