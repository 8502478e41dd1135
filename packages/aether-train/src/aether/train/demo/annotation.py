"""Demo stage 2: annotate the training clips with our pipeline and score the cameras against the
renderer's ground truth (which the training never sees)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aether.annotate.batch import REPORT, annotate_dir
from aether.annotate.evaluation import SUMMARY_KEYS, CameraEstimate, MethodRun, score
from aether.core.clip import iter_clip_paths, load_clip

ACCURACY_KEYS = ("rot_err_deg", "ate_pct", "focal_err_pct", "coverage", "seconds_per_frame")


def slice_folders(annotated: Path) -> list[Path]:
    """The per-clip folders of annotated slices (``annotated/<clip>/slice_*.safetensors``) that hold any."""
    return sorted(p for p in Path(annotated).iterdir() if p.is_dir() and any(p.glob("slice_*.safetensors")))


def score_annotated(clip_path: Path, folder: Path) -> dict[str, Any]:
    """Score the slices in ``folder`` (our pipeline's output for ``clip_path``) against the clip's ground truth."""
    clip = load_clip(clip_path)
    report = json.loads((folder / REPORT).read_text())
    if report.get("status") == "failed":
        return {"error": report.get("error", "annotation failed")}
    estimates = []
    for path in sorted(folder.glob("slice_*.safetensors")):
        piece = load_clip(path)
        estimates.append(CameraEstimate(np.asarray(json.loads(piece.meta["frames"]), np.int64), piece.c2w, piece.K))
    seconds = float(sum(report.get("timings", {}).values()))
    return score(MethodRun(estimates, seconds), clip)


def annotate_clips(clips: Path, folder: Path, progress: bool = True) -> dict[str, Any]:
    """Annotate every clip of ``clips`` into ``folder/clips/<clip>/`` (resumable) and return the median
    accuracy over clips (``accuracy``: rotation error in degrees, ATE in % of the path, focal error in %,
    coverage, seconds per frame) and the per-clip scores."""
    annotate_dir(clips, folder / "clips", progress=progress)
    per_clip = {path.stem: score_annotated(path, folder / "clips" / path.stem) for path in iter_clip_paths(clips)}
    scored = [s for s in per_clip.values() if s.get("error") is None]
    medians = {key: float(np.median([s[key] for s in scored if s.get(key) is not None]))
               for key in ACCURACY_KEYS if key in SUMMARY_KEYS and any(s.get(key) is not None for s in scored)}
    medians.update(clips=len(scored), failed=len(per_clip) - len(scored))
    return {"accuracy": {"our pipeline (median)": medians}, "clips": per_clip}
