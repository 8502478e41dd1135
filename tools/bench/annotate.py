"""Camera annotation accuracy and speed: our pipeline vs PnP-only vs COLMAP (pycolmap), on the same
synthetic clips rendered in this run (seeds from --seed, alternating room/street scenes, every other
pair of clips with moving objects). Prints per-clip rows, then per method the median rotation error (deg),
ATE (% of trajectory length), RPE rotation (deg), focal error (%), coverage and seconds per frame,
whether the issue's targets (rot < 0.2 deg, ATE < 0.5 %, focal < 0.5 %, better than COLMAP) hold, the
speed ratio COLMAP / ours, and with ``--workers N`` the speed-up of ``annotate_dir`` over the same clips in
N processes against one.

    .venv/bin/python tools/bench/annotate.py                      # small: 4 clips, 17 frames, 120x180
    .venv/bin/python tools/bench/annotate.py --clips 20 --frames 41 --height 240 --width 360   # the issue
    .venv/bin/python tools/bench/annotate.py --methods ours --workers 2                        # processes
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from aether.annotate.evaluation import METHODS, evaluate_clip, summarize
from aether.annotate.synthetic import RenderConfig, render_clip, scene_for
from aether.core.atomic import write_json

TARGETS = {"rot_err_deg": 0.2, "ate_pct": 0.5, "focal_err_pct": 0.5}
COLUMNS = ("rot_err_deg", "ate_pct", "rpe_rot_deg", "focal_err_pct", "coverage", "seconds_per_frame")


def pipeline_config(known_intrinsics: bool):
    """Our pipeline's config with intrinsics given or estimated; None when the pipeline is not installed."""
    try:
        from aether.annotate.pipeline import AnnotateConfig
    except ImportError:
        return None
    return AnnotateConfig(use_given_K=known_intrinsics)


def _cpu_seconds() -> float:
    """CPU seconds used by this process and its finished children (the workers, once their pool is shut)."""
    return sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF,
                                                                         resource.RUSAGE_CHILDREN)))


def time_workers(clips: dict, config, workers: int) -> None:
    """Print the seconds of ``annotate_dir`` over ``clips`` ({name: Clip}) in one process and in ``workers``
    (their start-up included), the speed-up, and the CPU seconds of each: on a machine shared with other jobs
    the wall times swing with their load, the CPU seconds much less (extra CPU = the workers' overhead)."""
    from aether.annotate.batch import annotate_dir
    from aether.core.clip import save_clip

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        for name, clip in clips.items():
            save_clip(clip, folder / f"{name}.safetensors")
        seconds, cpu = {}, {}
        for count in (1, workers):
            start, start_cpu = time.perf_counter(), _cpu_seconds()
            annotate_dir(folder, Path(tmp) / f"out{count}", config, progress=False, workers=count)
            seconds[count], cpu[count] = time.perf_counter() - start, _cpu_seconds() - start_cpu
    print(f"workers: {len(clips)} clips, 1 process {seconds[1]:.1f} s ({cpu[1]:.1f} CPU s), {workers} processes "
          f"{seconds[workers]:.1f} s ({cpu[workers]:.1f} CPU s), speed-up {seconds[1] / seconds[workers]:.2f} on "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--width", type=int, default=180)
    parser.add_argument("--seed", type=int, default=1000, help="first clip seed (keep away from development seeds)")
    parser.add_argument("--known-intrinsics", action="store_true", help="give every method the true K")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--json", help="also write every per-clip result to this JSON file")
    parser.add_argument("--workers", type=int, default=0,
                        help="also time annotate_dir over the clips with this many processes against one")
    args = parser.parse_args()
    try:
        import pycolmap

        pycolmap.logging.minloglevel = 2  # COLMAP's INFO lines would drown the table
    except ImportError:
        pass

    render = RenderConfig(height=args.height, width=args.width, frames=args.frames)
    config = pipeline_config(args.known_intrinsics)
    print(f"{args.clips} clips of {args.frames} frames at {args.height}x{args.width}, seeds {args.seed}.."
          f"{args.seed + args.clips - 1}, intrinsics {'known' if args.known_intrinsics else 'unknown'}")
    print(f"{'clip':28s} {'method':7s} " + " ".join(f"{c:>17s}" for c in COLUMNS) + "  error")
    results, rendered = {}, {}
    for i in range(args.clips):
        # Rooms and streets alternate; every other pair of clips has moving objects; the motion follows the seed.
        scene = scene_for(args.seed + i, kind=("room", "street")[i % 2], dynamic_objects=3 * ((i // 2) % 2))
        start = time.perf_counter()
        clip = render_clip(scene, render)
        name = f"{scene.seed}-{scene.kind}-{scene.motion}-dyn{scene.dynamic_objects}"
        print(f"# rendered {name} in {time.perf_counter() - start:.1f} s")
        per_method = evaluate_clip(clip, config, tuple(args.methods), known_intrinsics=args.known_intrinsics)
        results[name] = {"methods": per_method}
        if args.workers:
            rendered[name] = clip
        for method, metrics in per_method.items():
            print(f"{name:28s} {method:7s} " + " ".join(f"{_fmt(metrics.get(c)):>17s}" for c in COLUMNS)
                  + f"  {metrics.get('error') or ''}")
    summary = summarize(results)
    print("\nmedians over clips")
    print(f"{'method':7s} {'clips':>5s} {'failed':>6s} " + " ".join(f"{c:>17s}" for c in COLUMNS))
    for method, entry in summary.items():
        print(f"{method:7s} {entry['clips']:5d} {entry['failed']:6d} "
              + " ".join(f"{_fmt(entry[c]):>17s}" for c in COLUMNS))
    ours, colmap = summary.get("ours"), summary.get("colmap")
    if ours:
        for key, limit in TARGETS.items():
            value = ours[key]
            verdict = "n/a" if value is None else ("met" if value < limit else "NOT met")
            line = f"target {key} < {limit}: {verdict} ({_fmt(value)})"
            if colmap and colmap[key] is not None and value is not None:
                line += f"; COLMAP {_fmt(colmap[key])}: ours is {'better' if value < colmap[key] else 'NOT better'}"
            print(line)
        if colmap and colmap["seconds_per_frame"] and ours["seconds_per_frame"]:
            print(f"speed: ours {ours['seconds_per_frame']:.3f} s/frame, COLMAP {colmap['seconds_per_frame']:.3f} "
                  f"s/frame, ratio COLMAP/ours {colmap['seconds_per_frame'] / ours['seconds_per_frame']:.2f}")
    if args.workers and config is not None:
        time_workers(rendered, config, args.workers)
    if args.json:
        write_json(args.json, {"args": vars(args), "clips": results, "summary": summary})


if __name__ == "__main__":
    main()
