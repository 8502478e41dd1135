"""The run's JSONL log (``<out>/log.jsonl``): one record per optimizer step and per evaluation."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from aether.core.atomic import write_text
from aether.core.errors import CheckpointError


class RunLog:
    """Appends records; on resume, records after the checkpoint's step are dropped first, so the
    log reads as one uninterrupted run."""

    def __init__(self, path: str | os.PathLike, resume_step: int | None = None) -> None:
        self.path = Path(path)
        if resume_step is None:
            write_text(self.path, "")
        elif self.path.is_file():
            records, bad = _records(self.path)
            if bad:  # the log is a record of the run, not its state: a damaged line must not stop a resume
                print(f"warning: {self.path}: dropped {len(bad)} unreadable line(s) (line {', '.join(map(str, bad))}); "
                      "the other records are kept", file=sys.stderr)
            kept = [json.dumps(r) for r in records if r.get("step", 0) < resume_step]
            write_text(self.path, "".join(f"{line}\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def _lines(path: Path) -> list[bytes]:
    """The log's complete lines. Each record is written with its newline in one call, so a last line
    without one was cut short (a kill, a full disk) and is left out."""
    return path.read_bytes().split(b"\n")[:-1]


def _record(line: bytes) -> dict[str, Any] | None:
    """The record of one line, or None if it is no JSON object with a whole-number step (if any)."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    step = record.get("step", 0) if isinstance(record, dict) else None
    return record if isinstance(step, int) and not isinstance(step, bool) else None


def _records(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The readable records of a log and the numbers of its unreadable (non-blank) lines."""
    records, bad = [], []
    for number, line in enumerate(_lines(path), 1):
        record = _record(line) if line.strip() else None
        if record is not None:
            records.append(record)
        elif line.strip():
            bad.append(number)
    return records, bad


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every complete record of a run log; CheckpointError names a damaged line."""
    records, bad = _records(Path(path))
    if bad:
        raise CheckpointError(f"{path}: line {bad[0]} is not a JSON record with a whole-number step; the log is "
                              "damaged (a resume drops such lines)")
    return records
