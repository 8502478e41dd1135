"""Annotate a folder of clips resumably: each clip's outputs go to ``OUT/<clip name>/`` (one
``slice_000.safetensors`` per slice, then ``report.json`` written last, atomically); a clip whose report exists is
skipped. A clip that cannot be read or annotated gets a report with ``status: failed`` instead of stopping the run."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tqdm import tqdm

from aether.annotate.pipeline import AnnotateConfig, annotate_clip
from aether.core.atomic import write_json
from aether.core.clip import iter_clip_paths, load_clip, save_clip
from aether.core.errors import AetherError

REPORT = "report.json"


def clip_folder(out: str | os.PathLike, clip_path: Path) -> Path:
    """Where the outputs of the clip file or frame folder ``clip_path`` go under ``out``."""
    return Path(out) / clip_path.name.removesuffix(".safetensors")


def annotate_dir(path: str | os.PathLike, out: str | os.PathLike, config: AnnotateConfig | None = None,
                 progress: bool = True) -> dict:
    """Annotate the clip ``path`` or every clip of the folder ``path`` into ``out``. Returns
    ``{clip name: {"status", "slices", "frames_kept", "error"/"reason", "skipped"}}``, also written to
    ``out/summary.json``."""
    out = Path(out)
    summary: dict[str, dict] = {}
    for clip_path in tqdm(iter_clip_paths(path), desc="annotate", unit="clip", disable=not progress):
        target = clip_folder(out, clip_path)
        if (target / REPORT).exists():
            report, skipped = json.loads((target / REPORT).read_text()), True
        else:
            skipped = False
            try:
                pieces, report = annotate_clip(load_clip(clip_path), config)
            except AetherError as exc:
                pieces, report = [], {"status": "failed", "error": str(exc)}
            except Exception as exc:  # a bug or library failure on one clip must not stop the folder run
                pieces, report = [], {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            report = {"clip": str(clip_path), **report}
            for stale in target.glob("slice_*.safetensors"):  # left by an interrupted earlier run
                stale.unlink()
            for i, piece in enumerate(pieces):
                save_clip(piece, target / f"slice_{i:03d}.safetensors")
            write_json(target / REPORT, report)
        summary[clip_path.name] = {"status": report.get("status"), "slices": len(report.get("slices", [])),
                                   "frames_kept": report.get("frames_kept", 0), "skipped": skipped,
                                   **{k: report[k] for k in ("error", "reason") if k in report}}
    write_json(out / "summary.json", summary)
    return summary
