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
            kept = [line for line in self.path.read_text().splitlines()
                    if line and json.loads(line).get("step", 0) < resume_step]
            write_text(self.path, "".join(f"{line}\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of a run log."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]
