"""A progress bar off a terminal (a log file, a pipe) redraws every few seconds, not once per step;
on a terminal it stays live."""

from __future__ import annotations

import io

import pytest
import tqdm.std
from aether.core.progress import LOG_INTERVAL_S, progress_bar

STEPS, SECONDS_PER_STEP = 1000, 0.5


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clock(monkeypatch):
    """tqdm's clock, advanced by the test (no waiting, no timing)."""
    now = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: now[0])
    monkeypatch.setattr(tqdm.std.tqdm, "monitor_interval", 0)
    return now


def _redraws(stream: io.StringIO, clock: list[float]) -> int:
    for _ in progress_bar(range(STEPS), file=stream, desc="steps"):
        clock[0] += SECONDS_PER_STEP
    return stream.getvalue().count("\r")


def test_a_log_gets_a_line_every_few_seconds(clock):
    redraws = _redraws(io.StringIO(), clock)
    assert 2 <= redraws <= STEPS * SECONDS_PER_STEP / LOG_INTERVAL_S + 3


def test_a_terminal_gets_every_step(clock):
    assert _redraws(_Terminal(), clock) >= STEPS
