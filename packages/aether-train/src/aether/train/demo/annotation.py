"""Demo stage 2: annotate the training clips with our pipeline and score the cameras against the
renderer's ground truth (which the training never sees)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aether.annotate.batch import annotate_dir
from aether.annotate.evaluation import evaluate_dir


def slice_folders(annotated: Path) -> list[Path]:
    """The per-clip folders of annotated slices (``annotated/<clip>/slice_*.safetensors``) that hold any."""
    return sorted(p for p in Path(annotated).iterdir() if p.is_dir() and any(p.glob("slice_*.safetensors")))


def annotate_clips(clips: Path, folder: Path, progress: bool = True) -> dict[str, Any]:
    """Annotate every clip of ``clips`` into ``folder/clips/<clip>/`` (resumable) and return the medians
    over clips as the evaluation summarises them (``accuracy``: rotation error in degrees, ATE in % of the
    path, RPE, focal error in %, coverage, seconds per frame, clips and failures) and the per-clip scores."""
    annotate_dir(clips, folder / "clips", progress=progress)
    report = evaluate_dir(clips, methods=("ours",), progress=False, annotated=folder / "clips")
    per_clip = {name.removesuffix(".safetensors"): entry.get("methods", {}).get("ours", entry)
                for name, entry in report["clips"].items()}
    return {"accuracy": {"our pipeline (median)": report["summary"]["ours"]}, "clips": per_clip}
