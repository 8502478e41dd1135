"""Annotation as a data engine (issue 19): ``--workers N`` processes on one machine, ``--shard K/N`` shares
for array jobs and ``--summary`` merging them, with the per-clip locks and resumability of a single run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aether.annotate import batch
from aether.annotate.shards import Shard
from aether.annotate.synthetic import RenderConfig, SceneConfig, render_clip
from aether.core.cli import main
from aether.core.clip import save_clip

NAMES = tuple(f"clip_{i}" for i in range(6))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Six tiny clips (orbits: each annotates ok with the full pipeline in about a second)."""
    folder = tmp_path_factory.mktemp("clips")
    for seed, name in enumerate(NAMES, start=1):
        clip = render_clip(SceneConfig(seed=seed, kind="room", motion="orbit", dynamic_objects=1),
                           RenderConfig(height=72, width=108, frames=9))
        save_clip(clip, folder / f"{name}.safetensors")
    return folder


def _argv(clips: Path, out: Path, *options: str) -> list[str]:
    return ["annotate", str(clips), "--out", str(out), "--no-progress", *options]


def _reports(out: Path, names=NAMES) -> dict[str, dict]:
    """Each clip's report without its timings (the only part that differs between equal runs)."""
    reports = {}
    for name in names:
        report = json.loads((out / name / batch.REPORT).read_text())
        report.pop("timings")
        for entry in report["slices"]:
            entry.pop("timings")
        reports[name] = report
    return reports


def test_shards_partition_the_clips_deterministically_and_completely():
    names = [f"clip_{i:05d}.safetensors" for i in range(400)]
    for count in (1, 3, 8):
        shares = [[n for n in names if Shard(index=k, count=count).holds(n)] for k in range(count)]
        assert sorted(sum(shares, [])) == names  # every clip in exactly one shard
        assert min(len(s) for s in shares) > 0.6 * len(names) / count  # and shares of similar size
        # a clip's shard depends on its name only: another listing puts it in the same shard
        assert [n for n in names[::-1] if Shard.parse(f"{count - 1}/{count}").holds(n)] == shares[-1][::-1]
    for bad in ("3/3", "1", "a/2", "-1/2", "1/0"):
        with pytest.raises(ValueError):
            Shard.parse(bad)


def test_shards_then_summary_merge_every_clip(clips, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_argv(clips, out, "--shard", "0/2", "--refine", "none")) == 0
    first = json.loads((out / "summary.shard-0-of-2.json").read_text())
    assert set(first) == {f"{n}.safetensors" for n in NAMES if Shard(index=0, count=2).holds(f"{n}.safetensors")}
    capsys.readouterr()
    assert main(_argv(clips, out, "--summary", "--refine", "none")) == 2  # shard 1 has not run yet
    assert "missing" in capsys.readouterr().err
    assert main(_argv(clips, out, "--shard", "1/2", "--refine", "none")) == 0
    assert main(_argv(clips, out, "--summary", "--refine", "none")) == 0
    merged = json.loads((out / batch.SUMMARY).read_text())
    assert set(merged) == {f"{n}.safetensors" for n in NAMES}
    assert all(entry["status"] == "ok" for entry in merged.values())
    # merged from reports of the same options only
    assert main(_argv(clips, out, "--summary")) == 2


def test_a_killed_workers_run_is_finished_by_a_rerun_as_one_worker_would_have(clips, tmp_path):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "aether.core.cli", *_argv(clips, out, "--workers", "2")]
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(out.glob(f"*/{batch.REPORT}")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)  # the run and its workers, as a scheduler ending a job does
    run.communicate()
    assert run.returncode == -signal.SIGKILL
    done = {p.parent.name for p in out.glob(f"*/{batch.REPORT}")}
    assert done and done != set(NAMES), "the kill was to come while clips were left"
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    redone = {line.split(".")[0] for line in again.stdout.splitlines() if "(done before)" not in line}
    assert redone == set(NAMES) - done  # finished clips are kept, the rest annotated
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name not in {".annotate.lock", ".locks"}]
    for name in NAMES:
        report = json.loads((out / name / batch.REPORT).read_text())
        assert report["status"] == "ok"
        assert len(list((out / name).glob("slice_*"))) == len(report["slices"])
    # the clips annotated by the killed run's workers and by the rerun's are those of a one-process run
    assert main(_argv(clips, tmp_path / "one")) == 0
    assert _reports(out) == _reports(tmp_path / "one")
    assert json.loads((tmp_path / "one" / batch.SUMMARY).read_text()) == {
        name: {**entry, "skipped": False} for name, entry in json.loads((out / batch.SUMMARY).read_text()).items()}
