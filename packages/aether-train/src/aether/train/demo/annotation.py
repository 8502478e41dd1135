"""Demo stage 2: annotate the training clips with our pipeline and score the cameras against the
renderer's ground truth (which the training never sees)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aether.annotate.batch import annotate_dir
from aether.annotate.evaluation import read_annotation, score, summarize
from aether.core.clip import iter_clip_paths, load_clip


def slice_folders(annotated: Path) -> list[Path]:
    """The per-clip folders of annotated slices (``annotated/<clip>/slice_*.safetensors``) that hold any."""
    return sorted(p for p in Path(annotated).iterdir() if p.is_dir() and any(p.glob("slice_*.safetensors")))


def score_annotated(clip_path: Path, folder: Path) -> dict[str, Any]:
    """Score the slices in ``folder`` (our pipeline's output for ``clip_path``) against the clip's ground truth."""
    clip = load_clip(clip_path)
    return score(read_annotation(clip, folder), clip)


def annotate_clips(clips: Path, folder: Path, progress: bool = True) -> dict[str, Any]:
    """Annotate every clip of ``clips`` into ``folder/clips/<clip>/`` (resumable) and return the medians
    over clips as the evaluation summarises them (``accuracy``: rotation error in degrees, ATE in % of the
    path, RPE, focal error in %, coverage, seconds per frame, clips and failures) and the per-clip scores."""
    annotate_dir(clips, folder / "clips", progress=progress)
    per_clip = {path.stem: score_annotated(path, folder / "clips" / path.stem) for path in iter_clip_paths(clips)}
    summary = summarize({name: {"methods": {"ours": scores}} for name, scores in per_clip.items()})
    return {"accuracy": {"our pipeline (median)": summary["ours"]}, "clips": per_clip}
