"""Atomic writes: finished files and folders get the umask's normal mode, everything is flushed to disk
before the rename that publishes it, and the temporaries a killed writer leaves are swept."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from aether.core import atomic
from aether.core.backbone import AetherBackbone
from aether.core.model_folder import write_model_folder
from safetensors.torch import save_file


def _safetensors(path: Path) -> Path:
    with atomic.atomic_path(path) as tmp:
        save_file({"x": torch.zeros(2)}, str(tmp))  # safetensors itself creates files 0600
    return path


def _tree(path: Path) -> Path:
    with atomic.atomic_dir(path) as tmp:
        (tmp / "sub").mkdir()
        save_file({"x": torch.zeros(2)}, str(tmp / "sub" / "w.safetensors"))
        atomic.write_json(tmp / "meta.json", {"a": 1})
    return path


WRITERS: dict[str, Callable[[Path], Path]] = {
    "write_text": lambda folder: atomic.write_text(folder / "a.txt", "x"),
    "write_json": lambda folder: atomic.write_json(folder / "new" / "a.json", {}),
    "write_array": lambda folder: atomic.write_array(folder / "a.npy", [1.0, 2.0]),
    "atomic_path + safetensors": lambda folder: _safetensors(folder / "w.safetensors"),
    "atomic_dir": lambda folder: _tree(folder / "tree"),
    "atomic_dir over an existing folder": lambda folder: _tree(_tree(folder / "tree")),
    "write_model_folder": lambda folder: write_model_folder(folder / "model", AetherBackbone.tiny(num_layers=1),
                                                            settings={"video_codec": "pixel"}),
}


@pytest.fixture
def umask(request):
    mask = os.umask(request.param)
    yield request.param
    os.umask(mask)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077], indirect=True, ids=oct)
@pytest.mark.parametrize("writer", WRITERS)
def test_written_files_and_folders_get_the_umasks_normal_mode(writer, umask, tmp_path):
    written = WRITERS[writer](tmp_path)
    for path in [written, *written.rglob("*")]:
        want = (0o777 if path.is_dir() else 0o666) & ~umask
        assert path.stat().st_mode & 0o777 == want, (path, oct(path.stat().st_mode & 0o777), oct(want))
    assert not [p for p in tmp_path.rglob(".*")]


@pytest.mark.parametrize("writer", ["write_text", "atomic_dir", "atomic_dir over an existing folder"])
def test_everything_is_flushed_before_the_rename_and_the_rename_after(writer, tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
                        or fsync(fd))
    monkeypatch.setattr(os, "replace", lambda src, dst: events.append(("replace", str(src), str(dst)))
                        or replace(src, dst))
    written = WRITERS[writer](tmp_path)
    published = [i for i, event in enumerate(events) if event[0] == "replace" and event[2] == str(written)][-1]
    tmp = events[published][1]
    synced_before = {event[1] for event in events[:published] if event[0] == "fsync"}
    inside = {str(Path(tmp) / p.relative_to(written)) for p in written.rglob("*")}
    assert {tmp} | inside <= synced_before
    assert ("fsync", str(written.parent)) in events[published + 1:]


def _leftover(make: Callable[[Path], object], folder: Path) -> str:
    """The name of the temporary ``make`` (a writer) works in, as a killed process would leave it."""
    seen = []
    with pytest.raises(KeyboardInterrupt):
        with make(folder) as tmp:
            seen.append(tmp.name)
            raise KeyboardInterrupt
    return seen[0]


def test_sweep_removes_what_killed_writers_left_and_nothing_else(tmp_path):
    names = [_leftover(lambda f: atomic.atomic_path(f / "slice_000.safetensors"), tmp_path),
             _leftover(lambda f: atomic.atomic_path(f / "log.jsonl"), tmp_path),
             _leftover(lambda f: atomic.atomic_dir(f / "step_00000004"), tmp_path),
             _leftover(lambda f: atomic.atomic_dir(f / "model"), tmp_path)]
    for name in names[:2]:
        (tmp_path / name).write_text("half")
    for name in names[2:]:
        (tmp_path / name / "sub").mkdir(parents=True)
    kept = ["slice_000.safetensors", ".hidden", "notes.tmp", ".config.yaml", "model", ".x.tmp", ".a.b.tmp"]
    for name in kept:
        (tmp_path / name).write_text("keep")
    (tmp_path / ".model.abcd1234.old").mkdir()  # swapped out, and its replacement arrived
    assert sorted(p.name for p in atomic.sweep_temporaries(tmp_path)) == sorted(names + [".model.abcd1234.old"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_sweep_puts_back_a_folder_swapped_out_before_its_replacement_arrived(tmp_path):
    _tree(tmp_path / "tree")
    swapped_out = tmp_path / ".tree.a1b2c3d4.old"
    os.replace(tmp_path / "tree", swapped_out)
    assert atomic.sweep_temporaries(tmp_path) == []
    assert (tmp_path / "tree" / "sub" / "w.safetensors").is_file() and not swapped_out.exists()


def test_write_array_keeps_the_name_and_the_values(tmp_path):
    path = atomic.write_array(tmp_path / "depth", np.arange(6.0).reshape(2, 3))  # no .npy: np.save would add one
    assert path == tmp_path / "depth" and sorted(p.name for p in tmp_path.iterdir()) == ["depth"]
    np.testing.assert_array_equal(np.load(path), np.arange(6.0).reshape(2, 3))


def test_a_file_is_not_replaced_by_a_folder_and_nothing_is_left_beside_it(tmp_path):
    # the rename failed with "Is a directory" and left an empty .out.*.old folder behind
    (tmp_path / "out").write_text("a file")
    with pytest.raises(FileExistsError, match="exists and is a file, not a folder"):
        with atomic.atomic_dir(tmp_path / "out") as tmp:
            (tmp / "x").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (tmp_path / "out").read_text() == "a file"
