"""Progress bars for terminals and logs alike.

On a terminal a bar redraws in place as often as tqdm likes; where stderr is a file or a pipe (CI
logs, ``> run.log``) every redraw is a new line of log, so there it is redrawn at most every
:data:`LOG_INTERVAL_S` seconds. Every progress bar in the packages comes from :func:`progress_bar`.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable

from tqdm.auto import tqdm

LOG_INTERVAL_S = 10.0  # seconds between redraws of a bar that is not on a terminal


def _on_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(iterable: Iterable | None = None, **options: Any) -> tqdm:
    """``tqdm(iterable, **options)``, redrawn at most every :data:`LOG_INTERVAL_S` seconds off a terminal."""
    if not _on_terminal(options.get("file") or sys.stderr):
        options.setdefault("mininterval", LOG_INTERVAL_S)
    return tqdm(iterable, **options)


def print_above_bars(line: str) -> None:
    """Print ``line`` to stdout without breaking a progress bar being drawn."""
    tqdm.write(line)
