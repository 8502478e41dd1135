"""Damaged inputs and options of ``aether annotate`` found by fuzzing: implausible intrinsics (given K, the
clip's K standing in for an unobservable focal length, --focal-prior), non-finite or non-JSON stage options,
clip names that collide with the run's own files, and worker processes that die mid-run. Each is refused with
one ``error:`` line (exit 2) or reported per clip while the other clips are annotated."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from aether.annotate import batch
from aether.annotate.pipeline import AnnotateConfig, build_stage
from aether.annotate.stages.base import AnnotateError
from aether.annotate.synthetic import RenderConfig, SceneConfig, render_clip
from aether.core.cli import main
from aether.core.clip import Clip, save_clip

FAST = ["--refine", "none", "--no-progress"]


@pytest.fixture(scope="module")
def clip() -> Clip:
    """A tiny clip (9 frames of 72x108) that annotates ok."""
    return render_clip(SceneConfig(seed=1, kind="room", motion="orbit", dynamic_objects=1),
                       RenderConfig(height=72, width=108, frames=9))


def _error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _summary(out: Path) -> dict:
    return json.loads((out / batch.SUMMARY).read_text())


def _with_K(clip: Clip, **entries: float) -> Clip:
    K = clip.K.copy()
    for name, value in entries.items():
        K[:, {"fx": 0, "fy": 1, "cx": 0, "cy": 1}[name], {"fx": 0, "fy": 1, "cx": 2, "cy": 2}[name]] = value
    return replace(clip, K=K)


# case -> (K entries, options, words of the error)
BAD_K = {
    "huge focal, given": ({"fx": 1e9, "fy": 1e9}, ["--use-given-K"],
                          "the clip's K (frame 0): fx=1e+09, fy=1e+09 px is no focal length of a 108x72 image "
                          "(expected 5.4 to 10800 px); fix the clip's K or annotate without use_given_K"),
    "tiny focal, given": ({"fx": 1e-6, "fy": 1e-6}, ["--use-given-K"], "fx=1e-06, fy=1e-06 px is no focal length"),
    "principal point outside, given": ({"cx": 1e4, "cy": -1e4}, ["--use-given-K"],
                                       "the clip's K (frame 0): principal point (10000, -10000) lies outside the "
                                       "108x72 image"),
    # not given, the clip's K stands in for a focal length the motion cannot reveal
    "huge focal, as the prior": ({"fx": 1e9, "fy": 1e9}, [], "fix the clip's K, remove it, or give focal_prior"),
}


@pytest.mark.parametrize("case", BAD_K)
def test_implausible_intrinsics_fail_the_clip_and_the_others_are_annotated(case, clip, tmp_path, capsys):
    entries, options, words = BAD_K[case]
    clips = tmp_path / "clips"
    save_clip(clip, clips / "good.safetensors")
    save_clip(_with_K(clip, **entries), clips / "bad.safetensors")
    out = tmp_path / "out"
    assert main(["annotate", str(clips), "--out", str(out), *FAST, *options]) == 2
    line = _error_line(capsys)
    assert line.startswith("error: 1 of 2 clip(s) failed, first bad.safetensors: ") and words in line, line
    summary = _summary(out)
    assert summary["bad.safetensors"]["status"] == "failed" and summary["good.safetensors"]["status"] == "ok"
    assert not list((out / "bad").glob("slice_*"))  # no cameras written from the damaged K


@pytest.mark.parametrize(("prior", "words"), [
    ("inf", "error: focal_prior: Input should be a finite number"),
    ("1e300", "error: 1 of 1 clip(s) failed, first good.safetensors: focal_prior 1e+300 px is no focal length of "
              "a 108x72 image (expected 5.4 to 10800 px)"),
])
def test_an_implausible_focal_prior_is_refused(prior, words, clip, tmp_path, capsys):
    save_clip(clip, tmp_path / "good.safetensors")
    argv = ["annotate", str(tmp_path / "good.safetensors"), "--out", str(tmp_path / "out"), *FAST]
    assert main([*argv, "--focal-prior", prior]) == 2
    assert _error_line(capsys).startswith(words)


@pytest.mark.parametrize("options", [
    {"refine_options": {"depth_weight": float("inf")}},
    {"coarse_options": {"intrinsics": {"max_focal_std": float("nan")}}},
    {"masking_options": {"dilate": np.int64(3)}},  # would fail mid-run, where the config goes into a report
])
def test_non_finite_or_non_json_stage_options_are_refused_by_the_config(options):
    with pytest.raises(ValidationError, match=r"options must be JSON values \(finite numbers"):
        AnnotateConfig(**options)


@pytest.mark.parametrize(("stage", "method", "options"), [
    ("refine", "bundle", {"depth_weight": float("inf")}),  # NaN residuals: "converged" after no step
    ("refine", "bundle", {"cauchy_px": float("nan")}),
    ("coarse", "pnp", {"ransac_px": float("inf")}),
])
def test_non_finite_stage_options_are_refused_by_the_stage(stage, method, options):
    with pytest.raises(AnnotateError, match=f"{stage}.{method}: invalid options: .*finite number"):
        build_stage(stage, method, options)


def test_clips_named_like_the_runs_own_files_are_reported_and_the_others_annotated(clip, tmp_path, capsys):
    clips = tmp_path / "clips"
    names = [".annotate.lock", ".locks", ".b.abcdefgh.tmp", "summary.json", "a"]
    for name in names:
        save_clip(clip, clips / f"{name}.safetensors")
    out = tmp_path / "out"
    argv = ["annotate", str(clips), "--out", str(out), *FAST]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert line.startswith("error: 4 of 5 clip(s) failed, first .annotate.lock.safetensors: ") and \
        "its output folder name '.annotate.lock' is reserved for the run's own files" in line, line
    summary = _summary(out)
    assert [summary[f"{n}.safetensors"]["status"] for n in names] == ["failed"] * 4 + ["ok"]
    # the lock file and folder are still what they were, nothing was left to sweep away
    assert (out / ".annotate.lock").is_file() and sorted(os.listdir(out / ".locks")) == ["a.lock"]
    assert sorted(os.listdir(out)) == [".annotate.lock", ".locks", "a", "summary.json"]
    assert main(argv) == 2  # a rerun says the same, and keeps a
    assert "a.safetensors: ok (done before)" in capsys.readouterr().out


def _spawned_children() -> set[int]:
    """Pids of this process's spawned children (the pool's workers), read from /proc: multiprocessing's own
    list would reap them from this thread, racing the pool's manager thread."""
    pids = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread or child that ended meanwhile
            for pid in (task / "children").read_text().split():
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.add(int(pid))
    return pids


def _kill_workers(every: bool, stop: threading.Event) -> None:
    """SIGKILL the run's worker processes as they appear: every one, or only the first."""
    killed: set[int] = set()
    while not stop.is_set():
        for pid in _spawned_children() - killed:
            if every or not killed:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        stop.wait(0.005)


@pytest.mark.parametrize("every", [False, True])
def test_a_dead_worker_does_not_end_the_run(every, clip, tmp_path, capsys):
    clips = tmp_path / "clips"
    for i in range(4):
        save_clip(clip, clips / f"c{i}.safetensors")
    out = tmp_path / "out"
    stop = threading.Event()
    killer = threading.Thread(target=_kill_workers, args=(every, stop), daemon=True)
    killer.start()
    try:
        code = main(["annotate", str(clips), "--out", str(out), *FAST, "--workers", "2"])
    finally:
        stop.set()
        killer.join()
    statuses = {entry["status"] for entry in _summary(out).values()}
    if not every:  # the clips the dead worker took down are annotated in a fresh pool
        assert code == 0 and statuses == {"ok"}
        return
    assert code == 2 and statuses == {"failed"}
    line = _error_line(capsys)
    assert line.startswith("error: 4 of 4 clip(s) failed, first c0.safetensors: ") and \
        "a worker process died (killed, or out of memory) before the clip was done, 2 times" in line, line
