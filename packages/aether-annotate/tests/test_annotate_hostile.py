"""Hostile input, crashes and concurrent runs of ``aether annotate`` (issue 16). A refusal exits 2 with one
``error:`` line before any work and changes no file of an earlier good run; a bad clip is reported, fails
the run (exit 2, one line) and leaves the good clips' folders as they were. Each crash scenario SIGKILLs a
forked annotate process at a chosen point, then checks what survived and that a rerun finishes the work.
Two runs started together on one output folder annotate each clip once, whole."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from safetensors.numpy import save_file

from aether.annotate import batch
from aether.annotate.synthetic import RenderConfig, SceneConfig, render_clip
from aether.core import atomic
from aether.core.testing import killed_when, run_killed
from aether.core.cli import main
from aether.core.clip import load_clip, save_clip

CLIPS = ("a", "b", "c")
FAST = ["--refine", "none", "--no-progress"]  # PnP only: a tiny clip takes a fraction of a second
# what a run keeps in its output folder besides the clip folders and summary.json
LOCKS = {".annotate.lock", ".locks"}


def _clip(seed: int):
    return render_clip(SceneConfig(seed=seed, kind="room", motion="orbit", dynamic_objects=1),
                       RenderConfig(height=72, width=108, frames=9))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three tiny clips, each annotated ok."""
    folder = tmp_path_factory.mktemp("clips")
    for seed, name in enumerate(CLIPS, start=1):
        save_clip(_clip(seed), folder / f"{name}.safetensors")
    return folder


def _annotate(clips: Path, out: Path, *options: str) -> list[str]:
    return ["annotate", str(clips), "--out", str(out), *FAST, *options]


@pytest.fixture(scope="module")
def good(clips, tmp_path_factory) -> Path:
    """The output folder of a finished run over ``clips``, written under umask 022."""
    out = tmp_path_factory.mktemp("good") / "out"
    mask = os.umask(0o022)
    try:
        assert main(_annotate(clips, out)) == 0
    finally:
        os.umask(mask)
    return out


@pytest.fixture
def copy(good, tmp_path) -> Path:
    """A copy of the good output folder, ``tmp_path/out``."""
    return Path(shutil.copytree(good, tmp_path / "out"))


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file and folder under ``folder``: content hash and mode."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir",
                                         p.stat().st_mode) for p in sorted(folder.rglob("*"))}


def _error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _assert_intact(out: Path, names: tuple[str, ...] = CLIPS) -> None:
    """Every clip folder holds an ok report and exactly the slices it names, readable; no temporaries."""
    assert not {p.name for p in out.iterdir() if p.name.startswith(".")} - LOCKS, sorted(os.listdir(out))
    for name in names:
        report = json.loads((out / name / batch.REPORT).read_text())
        assert report["status"] == "ok", report
        slices = sorted(p.name for p in (out / name).glob("slice_*"))
        assert slices == [batch.slice_name(i) for i in range(len(report["slices"]))]
        for i, entry in enumerate(report["slices"]):
            assert json.loads(load_clip(out / name / slices[i]).meta["frames"]) == entry["frames"]


def test_every_file_of_a_run_gets_the_umasks_normal_mode(good):
    _assert_intact(good)
    for path in [good, *good.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path


# ---------------------------------------------------------------- refusals: exit 2, one line, nothing changed
def _empty_folder(folder: Path) -> Path:
    (folder / "empty").mkdir()
    return folder / "empty"


def _a_file(folder: Path) -> Path:
    (folder / "file").write_text("x")
    return folder / "file"


# case -> (command line in a folder holding the good run's copy `out`, given the clips; words of the error)
REFUSALS: dict[str, tuple[Callable[[Path, Path], list[str]], list[str]]] = {
    "missing clip path": (lambda folder, clips: _annotate(folder / "nope.safetensors", folder / "out"),
                          ["nope.safetensors: no such file or folder"]),
    "folder without clips": (lambda folder, clips: _annotate(_empty_folder(folder), folder / "out"),
                             ["empty: no *.safetensors clips in the folder"]),
    "unknown masking": (lambda folder, clips: _annotate(clips, folder / "out", "--masking", "sam"),
                        ["argument --masking: invalid choice: 'sam' (choose from 'labels', 'motion')"]),
    "unknown refinement": (lambda folder, clips: _annotate(clips, folder / "out", "--refine", "ceres"),
                           ["argument --refine: invalid choice: 'ceres' (choose from 'bundle', 'none')"]),
    "another stage's plugin": (lambda folder, clips: _annotate(clips, folder / "out", "--slicing", "coarse.pnp"),
                               ["argument --slicing: invalid choice: 'coarse.pnp' (choose from 'flow')"]),
    "out is a file": (lambda folder, clips: _annotate(clips, _a_file(folder)),
                      ["file: not a folder; choose a folder for the annotations"]),
    "out below a file": (lambda folder, clips: _annotate(clips, _a_file(folder) / "out"),
                         ["file/out: Not a directory"]),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_exit_2_in_one_line_and_change_nothing(case, copy, clips, capsys):
    make_argv, words = REFUSALS[case]
    argv = make_argv(copy.parent, clips)
    before = _snapshot(copy)
    assert main(argv) == 2
    line = _error_line(capsys)
    assert all(word in line for word in words), line
    assert _snapshot(copy) == before


# ---------------------------------------------------------------- bad clips: reported, exit 2, good ones kept
def _raw(path: Path, metadata: dict | None = None, **tensors: np.ndarray) -> None:
    save_file(tensors, str(path), metadata=metadata)


def _rgb() -> np.ndarray:
    return np.zeros((3, 8, 8, 3), np.uint8)


def _truncated(path: Path) -> None:
    save_clip(_clip(1), path)
    path.write_bytes(path.read_bytes()[:5000])


# case -> (write the bad clip at the path, words of its error)
BAD_CLIPS: dict[str, tuple[Callable[[Path], object], str]] = {
    "zero-filled file": (lambda path: path.write_bytes(bytes(64)), "not a readable clip file"),
    "empty file": (lambda path: path.write_bytes(b""), "not a readable clip file"),
    "truncated clip": (_truncated, "not a readable clip file"),
    "clip without depth": (lambda path: save_clip(replace(_clip(1), depth=None), path),
                           "field(s) depth missing"),
    "rgb of the wrong type": (lambda path: _raw(path, {"fps": "12.0"}, rgb=_rgb().astype(np.float32)),
                              "field 'rgb': expected uint8, got float32"),
    "no fps": (lambda path: _raw(path, rgb=_rgb()), "field 'fps': missing"),
    "a folder named like a clip": (lambda path: path.mkdir(), "no image frames"),
}


@pytest.mark.parametrize("case", BAD_CLIPS)
def test_a_bad_clip_fails_the_run_keeps_the_others_and_is_retried(case, copy, clips, capsys):
    spoil, words = BAD_CLIPS[case]
    folder = Path(shutil.copytree(clips, copy.parent / "clips"))
    spoil(folder / "bad.safetensors")
    before = {name: _snapshot(copy / name) for name in CLIPS}
    assert main(_annotate(folder, copy)) == 2
    line = _error_line(capsys)
    assert line.startswith("error: 1 of 4 clip(s) failed, first bad.safetensors: ") and words in line, line
    assert {name: _snapshot(copy / name) for name in CLIPS} == before
    assert json.loads((copy / "bad" / batch.REPORT).read_text())["status"] == "failed"
    # fixed, the clip is annotated on the rerun; the others stay done
    if (folder / "bad.safetensors").is_dir():
        shutil.rmtree(folder / "bad.safetensors")
    save_clip(_clip(2), folder / "bad.safetensors")
    assert main(_annotate(folder, copy)) == 0
    out = capsys.readouterr().out
    assert "bad.safetensors: ok: 1 slice(s)" in out and out.count("(done before)") == 3
    _assert_intact(copy, (*CLIPS, "bad"))


# ---------------------------------------------------------------- what a rerun annotates again
def _touch(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


# case -> (change the copy of the good run or the clips, extra options of the rerun, clips annotated again)
REDOS: dict[str, tuple[Callable[[Path, Path], object], list[str], set[str]]] = {
    "nothing changed": (lambda out, clips: None, [], set()),
    "other options": (lambda out, clips: None, ["--refine", "bundle"], set(CLIPS)),
    "a changed clip": (lambda out, clips: _touch(clips / "b.safetensors"), [], {"b"}),
    "a slice deleted": (lambda out, clips: (out / "c" / batch.slice_name(0)).unlink(), [], {"c"}),
    "a torn report": (lambda out, clips: (out / "a" / batch.REPORT).write_text('{"status": "ok", '), [], {"a"}),
}


@pytest.mark.parametrize("case", REDOS)
def test_a_rerun_skips_only_ok_reports_of_the_same_options_input_and_slices(case, copy, clips, capsys):
    change, options, redone = REDOS[case]
    folder = Path(shutil.copytree(clips, copy.parent / "clips"))  # with the modification times
    change(copy, folder)
    before = {name: _snapshot(copy / name) for name in CLIPS}
    assert main(_annotate(folder, copy, *options)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {line.split(".")[0] for line in lines if "(done before)" not in line} == redone
    assert {name for name in CLIPS if _snapshot(copy / name) != before[name]} == redone
    _assert_intact(copy)


# ---------------------------------------------------------------- crash scenarios: SIGKILL, then rerun
def _swapping_in_a(src, dst) -> bool:
    return Path(dst).name == "a" and Path(src).name.startswith(".a.") and Path(src).name.endswith(".tmp")


# scenario -> (arm the kill, rerun options (the good run's copy is the output folder), left in it, missing there)
CRASHES: dict[str, tuple[Callable[[], None], list[str], list[str], list[str]]] = {
    # clip b's first slice written into its temporary folder, its report not yet
    "while writing a clip's folder": (
        lambda: killed_when(batch, "save_clip", lambda piece, path: Path(path).parent.name.startswith(".b."),
                             before=False),
        [], ["a/report.json", ".b.*.tmp/slice_000.safetensors"], ["b", "summary.json"]),
    # a rerun with other options replaces a's folder: the old one moved aside, the new one not yet in
    "between swapping out a clip's folder and in its replacement": (
        lambda: killed_when(os, "replace", _swapping_in_a),
        ["--refine", "bundle"], [".a.*.old/report.json", ".a.*.tmp/report.json"], ["a"]),
    "while writing the summary": (
        lambda: killed_when(atomic, "_finish", lambda tmp: tmp.name.startswith(".summary.")),
        [], ["a", "b", "c", ".summary.*.tmp.json"], []),
}


@pytest.mark.parametrize("crash", CRASHES)
def test_a_run_killed_midway_is_finished_by_a_rerun(crash, clips, good, tmp_path, capsys):
    arm, options, left, missing = CRASHES[crash]
    out = tmp_path / "out"
    if options:  # a rerun over the good run's folder
        shutil.copytree(good, out)
    argv = _annotate(clips, out, *options)
    assert run_killed(arm, argv) == -signal.SIGKILL
    assert all(list(out.glob(pattern)) for pattern in left), sorted(p.name for p in out.rglob("*"))
    assert not any((out / name).exists() for name in missing)
    capsys.readouterr()
    assert main(argv) == 0
    _assert_intact(out)
    summary = json.loads((out / batch.SUMMARY).read_text())
    assert all(entry["status"] == "ok" for entry in summary.values())
    config = json.loads((out / "a" / batch.REPORT).read_text())["config"]
    assert config["refine"] == ("bundle" if options else None)


# ---------------------------------------------------------------- two runs at once on one output folder
def test_two_runs_at_once_annotate_each_clip_once_and_whole(clips, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    names = [f"{name}{i}" for i in range(2) for name in CLIPS]
    for name in names:  # six clips, so that the runs overlap
        shutil.copy(clips / f"{name[0]}.safetensors", folder / f"{name}.safetensors")
    argv = [sys.executable, "-m", "aether.core.cli", *_annotate(folder, tmp_path / "out")]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    done = [line.split(".")[0] for out, _ in outputs for line in out.splitlines() if "(done before)" not in line]
    assert sorted(done) == sorted(names), outputs  # each clip annotated by exactly one of the runs
    _assert_intact(tmp_path / "out", tuple(names))
