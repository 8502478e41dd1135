"""The run's JSONL log (``<out>/log.jsonl``): one record per optimizer step and per evaluation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aether.core.atomic import write_text


class RunLog:
    """Appends records; on resume, records after the checkpoint's step are dropped first, so the
    log reads as one uninterrupted run."""

    def __init__(self, path: str | os.PathLike, resume_step: int | None = None) -> None:
        self.path = Path(path)
        if resume_step is None:
            write_text(self.path, "")
        elif self.path.is_file():
            kept = [line for line in _lines(self.path) if json.loads(line).get("step", 0) < resume_step]
            write_text(self.path, "".join(f"{line}\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def _lines(path: Path) -> list[str]:
    """The log's complete lines. Each record is written with its newline in one call, so a last line
    without one was cut short (a kill, a full disk) and is left out."""
    return [line for line in path.read_text().split("\n")[:-1] if line]


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every complete record of a run log."""
    return [json.loads(line) for line in _lines(Path(path))]
