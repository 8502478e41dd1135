"""Hostile input to `aether reconstruct | predict | plan`: each case ends in exit 2 and one ``error:`` line,
before the model is even looked at where the input alone is wrong, and leaves an earlier good result in
``--out`` untouched. And a writer killed (SIGKILL) at any point of replacing a result leaves the complete
old result or, once the next writer starts, the complete new one."""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from aether.core.cli import main
from aether.core.media import write_png, write_video
from aether.core.testing import killed_when

H, W = 32, 48


def frames(n: int, h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, 255, (n, h // 8, w // 8, 3)), np.ones((1, 8, 8, 1))).astype(np.uint8)


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry below ``folder`` (hidden ones too) and its content hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def synthetic_result(version: int):
    """Old (0) and new (1) results that differ in every output file."""
    from aether.tasks.result import TaskResult, disparity_from_depth
    from aether.tasks.trajectories import named_trajectory

    rng = np.random.default_rng(version)
    f, h, w = 5, 16, 24
    depth = rng.uniform(1.0, 3.0, (f, h, w)).astype(np.float32)
    K = np.tile([[20.0, 0, w / 2], [0, 20.0, h / 2], [0, 0, 1]], (f, 1, 1))
    return TaskResult(rgb=rng.integers(0, 255, (f, h, w, 3), dtype=np.uint8), depth=depth,
                      disparity=disparity_from_depth(depth), K=K, fps=8.0 + version,
                      c2w=named_trajectory(("forward", "orbit-left")[version], f))


def write_result(version: int, out: Path) -> None:
    from aether.tasks.outputs import OutputConfig, write_outputs

    write_outputs(synthetic_result(version), out, config=OutputConfig(max_points=200))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The old (``0/``) and the new (``1/``) result, written undisturbed."""
    root = tmp_path_factory.mktemp("reference")
    for version in (0, 1):
        write_result(version, root / str(version))
    return root


@pytest.fixture(scope="module")
def results(reference) -> dict[int, dict[str, str]]:
    """The files of the old and the new result."""
    found = {version: snapshot(reference / str(version)) for version in (0, 1)}
    assert found[0].keys() == found[1].keys() and all(found[0][k] != found[1][k] for k in found[0])
    return found


@pytest.fixture(scope="module")
def good(tmp_path_factory, reference) -> Path:
    """A folder holding an earlier result, which no failing run may touch."""
    return Path(shutil.copytree(reference / "0", tmp_path_factory.mktemp("good") / "out"))


def _pickle(path: Path, proof: Path) -> Path:
    """An object array that, if unpickled, creates ``proof``."""
    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(proof),)

    np.save(path, np.array([Payload()], dtype=object), allow_pickle=True)
    return path


def _frame_folder(root: Path, sizes=((H, W),) * 9, meta: str | None = None) -> Path:
    for i, (h, w) in enumerate(sizes):
        write_png(root / "rgb" / f"{i:03d}.png", frames(1, h, w, seed=i)[0])
    if meta is not None:
        (root / "meta.json").write_text(meta)
    return root


def _pickled_intrinsics(folder: Path, proof: Path) -> Path:
    _pickle(folder / "K.npy", proof)
    return folder


def _save(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def _raymap(root: Path, bad: float) -> Path:
    raymap = np.zeros((9, 6, H // 8, W // 8), np.float32)
    raymap[3, 2, 1, 1] = bad
    np.save(root / "raymap.npy", raymap)
    return root / "raymap.npy"


def _image(root: Path) -> Path:
    return write_png(root / "obs.png", frames(1)[0])


def _clip(root: Path) -> Path:
    return write_video(root / "clip.mp4", frames(9), 12)


# A hostile input, built in a fresh folder -> (command line before --model / --out, what the error says).
# The model named is missing: the input must be refused before the model folder is opened.
INPUTS = {
    "frames of mixed sizes": (lambda t: ["reconstruct", _frame_folder(t / "v", [(H, W)] * 8 + [(H + 8, W)])],
                              "008.png: frame of shape (40, 48, 3) differs"),
    "meta.json not JSON": (lambda t: ["reconstruct", _frame_folder(t / "v", meta="{fps: 12")], "not valid JSON"),
    "meta.json fps not a number": (lambda t: ["reconstruct", _frame_folder(t / "v", meta='{"fps": [12]}')],
                                   "field 'fps': expected a number"),
    "meta.json fps = 1e300": (lambda t: ["reconstruct", _frame_folder(t / "v", meta='{"fps": 1e300}')],
                              "field 'fps': must be a positive number of at most 960 frames per second, got 1e+300"),
    "pickled K.npy": (lambda t: ["reconstruct", _pickled_intrinsics(_frame_folder(t / "v"), t / "proof")],
                      "K.npy: not a readable .npy array"),
    "NaN raymap": (lambda t: ["predict", _image(t), "--raymap", _raymap(t, np.nan)], "1 NaN or infinite values"),
    "infinite raymap": (lambda t: ["predict", _image(t), "--raymap", _raymap(t, -np.inf)],
                        "1 NaN or infinite values"),
    "pickled raymap": (lambda t: ["predict", _image(t), "--raymap", _pickle(t / "r.npy", t / "proof")],
                       "r.npy: not a readable .npy array"),
    "raymap not NumPy": (lambda t: ["plan", _image(t), _image(t), "--raymap", _image(t)],
                         "obs.png: not a readable .npy array"),
    "raymap of the wrong rank": (lambda t: ["predict", _image(t), "--raymap", _save(t / "r.npy", np.zeros((9, 6)))],
                                 "a raymap has shape (F, 6, H/8, W/8), got (9, 6)"),
    "--steps 0": (lambda t: ["predict", _image(t), "--steps", 0], "steps: Input should be greater than or equal to 1"),
    "--steps 0 (reconstruct)": (lambda t: ["reconstruct", _clip(t), "--steps", 0], "greater than or equal to 1"),
    "--fps 1e300": (lambda t: ["predict", _image(t), "--fps", 1e300], "--fps: frame rate must be a number"),
    "--fps 1e300 (reconstruct)": (lambda t: ["reconstruct", _clip(t), "--fps", 1e300], "--fps: frame rate must be"),
    "--fps nan": (lambda t: ["plan", _image(t), _image(t), "--fps", "nan"], "--fps: frame rate must be"),
    "--fps 0": (lambda t: ["predict", _image(t), "--fps", 0], "--fps: frame rate must be"),
    "--frames 10": (lambda t: ["predict", _image(t), "--named", "forward", "--frames", 10],
                    "--frames has 10 frames"),
    "unknown --named": (lambda t: ["predict", _image(t), "--named", "sideways"], "invalid choice: 'sideways'"),
    "--name outside --out": (lambda t: ["predict", _image(t), "--name", "../escape"], "must be a plain file name"),
}


def run_cli(capsys, argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.err


def assert_one_line_error(code: int, err: str, message: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


@pytest.mark.parametrize("case", INPUTS)
def test_hostile_input_fails_in_one_line_before_the_model_and_keeps_the_old_result(case, tmp_path, capsys, good):
    build, message = INPUTS[case]
    before = snapshot(good)
    code, err = run_cli(capsys, [*build(tmp_path), "--model", tmp_path / "no-model", "--out", good])
    assert_one_line_error(code, err, message)
    assert snapshot(good) == before
    assert not (tmp_path / "proof").exists(), "a pickle was unpickled"


def _model_folder(root: Path, vae_config: str = "{}", embed_width: int = 16) -> Path:
    """A model folder whose parts are all present (configs, prompt embedding), without weights: it must be
    refused before any weight is loaded."""
    import torch
    from safetensors.torch import save_file

    for part, file, text in [("transformer", "config.json", '{"text_embed_dim": 16}'),
                             ("vae", "config.json", vae_config), ("scheduler", "scheduler_config.json", "{}")]:
        (root / part).mkdir(parents=True)
        (root / part / file).write_text(text)
    save_file({"prompt_embeds": torch.zeros(1, 226, embed_width)}, root / "empty_prompt_embeds.safetensors")
    return root


# a spoiled model folder -> what the error says
MODELS = {
    "vae config not JSON": (lambda t: _model_folder(t / "m", vae_config="{garbage"),
                            "vae/config.json is not valid JSON"),
    "prompt embeddings of the wrong width": (lambda t: _model_folder(t / "m", embed_width=7),
                                             "embeddings of width 7 but the transformer's text_embed_dim is 16"),
}


@pytest.mark.parametrize("case", MODELS)
def test_a_spoiled_model_folder_fails_in_one_line_and_keeps_the_old_result(case, tmp_path, capsys, good):
    build, message = MODELS[case]
    before = snapshot(good)
    code, err = run_cli(capsys, ["predict", _image(tmp_path), "--model", build(tmp_path), "--out", good])
    assert_one_line_error(code, err, message)
    assert snapshot(good) == before


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` made unwritable, even for root (the immutable attribute) where chmod is not enough."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = ["chmod", "755", folder]
    elif shutil.which("chattr") and subprocess.run(["chattr", "+i", folder], capture_output=True).returncode == 0:
        undo = ["chattr", "-i", folder]
    else:
        pytest.skip("cannot make a folder read-only for root here")
    try:
        yield folder
    finally:
        subprocess.run(undo, check=True)


def test_an_unwritable_out_fails_in_one_line_before_the_model(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    missing = ["--model", tmp_path / "no-model"]
    for out, message in [(tmp_path / "file", "is a file; the output must go to a folder"),
                         (tmp_path / "file" / "sub", "Not a directory")]:
        code, err = run_cli(capsys, ["reconstruct", _clip(tmp_path), *missing, "--out", out])
        assert_one_line_error(code, err, message)
    assert (tmp_path / "file").read_text() == "mine"
    with read_only(tmp_path / "ro") as ro:
        for out in (ro, ro / "sub"):
            code, err = run_cli(capsys, ["predict", _image(tmp_path), *missing, "--out", out])
            assert_one_line_error(code, err, str(ro))


# ------------------------------------------------------------------------------- killed writers
KILL_POINTS = {  # where the child kills itself -> whether the old result survives (else the new one wins)
    "between two outputs": True, "while sealing the staging folder": True,
    "before the first move": False, "before the manifest move": False, "before removing the staging folder": False,
}


def crash_child(out: Path, point: str) -> None:
    """Write the new result into ``out`` and SIGKILL this (forked) process at ``point`` of the writer."""
    staging = out / ".result.commit"
    kills = {
        "between two outputs": lambda src, dst: Path(dst).name == "result_disparity.mp4",
        "while sealing the staging folder": lambda src, dst: Path(dst) == staging,
        "before the first move": lambda src, dst: Path(src).parent == staging,
        "before the manifest move": lambda src, dst: Path(dst) == out / "result.json",
    }
    if point == "before removing the staging folder":
        killed_when(os, "rmdir", lambda path: Path(path) == staging)
    else:
        killed_when(os, "replace", kills[point])
    write_result(1, out)


def _which(files: dict[str, str], results: dict[int, dict[str, str]]) -> int | None:
    return next((version for version, expected in results.items() if files == expected), None)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_writer_killed_mid_replace_leaves_the_old_or_the_new_result_whole(point, tmp_path, reference, results):
    out = Path(shutil.copytree(reference / "0", tmp_path / "out"))
    # a forked child: the kill and the patched os functions stay out of this process (daemonic: never outlives it)
    child = multiprocessing.get_context("fork").Process(target=crash_child, args=(out, point), daemon=True)
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL, f"the writer was not killed (exit code {child.exitcode})"

    visible = {k: v for k, v in snapshot(out).items() if not k.startswith(".")}
    if "result.json" in visible:  # a manifest on view always describes a whole result
        assert _which(visible, results) is not None
    else:
        assert (out / ".result.commit" / "result.json").is_file()  # the move was under way: it will finish

    from aether.tasks.outputs import prepare_output_dir

    prepare_output_dir(out)  # what the next writer does first
    assert _which(snapshot(out), results) == (0 if KILL_POINTS[point] else 1)
