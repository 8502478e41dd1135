"""Resumable stages: a stage that finished left ``<out>/<name>/stage.json`` (written atomically, last),
so running the demo again reuses it instead of redoing the work."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from aether.core.atomic import sweep_temporaries, write_json

MARKER = "stage.json"


def run_stage(out: Path, name: str, work: Callable[[Path], dict[str, Any]], log: Callable[[str], None] = print
              ) -> dict[str, Any]:
    """Run ``work(stage_dir) -> summary`` unless ``out/name`` already holds a finished stage; return the
    summary (with ``seconds`` and ``reused``). A stage interrupted half-way has no marker and runs again
    (its own files may let it skip what it already did)."""
    folder = Path(out) / name
    marker = folder / MARKER
    if marker.is_file():
        summary = json.loads(marker.read_text())
        log(f"[{name}] reusing the finished stage in {folder}")
        return {**summary, "reused": True}
    folder.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(folder)  # files an interrupted run was writing
    log(f"[{name}] running")
    start = time.perf_counter()
    summary = {**work(folder), "seconds": round(time.perf_counter() - start, 2)}
    write_json(marker, summary)
    return {**summary, "reused": False}
