"""Hostile input and crashes (issue 16). Each case copies one good tiny run, does one bad thing to it and
runs ``aether train``: a refusal exits 2 with one ``error:`` line and changes no file of the good run; a
recovery says what it did and ends where the uninterrupted run ended. Each crash scenario SIGKILLs a
forked training process at a chosen point, then checks what survived and that a resume finishes the
run exactly as the uninterrupted one did."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Callable

import pytest
import torch
from aether.core import atomic
from aether.core.testing import killed_when, run_killed
from aether.core.cli import main
from aether.train import checkpoint as ckpt
from aether.train.config import TrainConfig, dump_config
from aether.train.loop import train
from aether.train.runlog import RunLog, read_log
from safetensors.torch import load_file

STEPS, EVERY = 6, 2
LAST, BEFORE = f"step_{STEPS:08d}", f"step_{STEPS - EVERY:08d}"  # the newest checkpoint and the one before


ConfigFactory = Callable[..., TrainConfig]


@pytest.fixture(scope="module")
def configs(clips, tiny_config) -> ConfigFactory:
    """The short run's config: ``configs(out, **overrides)``."""
    return lambda out, **overrides: tiny_config(clips, out, **{"steps": STEPS, "checkpoint_every": EVERY,
                                                               "keep_last": 3, "eval_examples": 0, **overrides})


def _write_config(configs: ConfigFactory, folder: Path, out: Path | None = None, **overrides) -> Path:
    """``folder/config.yaml`` of the tiny run into ``out`` (default ``folder/run``)."""
    path = folder / "config.yaml"
    path.write_text(dump_config(configs(out or folder / "run", **overrides)))
    return path


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file and folder under ``folder``: content hash and mode."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir",
                                         p.stat().st_mode) for p in sorted(folder.rglob("*"))}


def _weights(run: Path, step: int = STEPS) -> dict[str, torch.Tensor]:
    return ckpt.load_weights(ckpt.checkpoint_dir(run, step))


@pytest.fixture(scope="module")
def good(configs, tmp_path_factory) -> Path:
    """A finished run (checkpoints at 2, 4 and 6, exported model), written under umask 022."""
    run = tmp_path_factory.mktemp("good") / "run"
    mask = os.umask(0o022)
    try:
        train(configs(run))
    finally:
        os.umask(mask)
    return run


@pytest.fixture
def copy(good, configs, tmp_path) -> Path:
    """A copy of the good run in ``tmp_path/run``, with ``tmp_path/config.yaml`` pointing at it."""
    shutil.copytree(good, tmp_path / "run")
    _write_config(configs, tmp_path)
    return tmp_path


def test_every_file_of_a_run_gets_the_umasks_normal_mode(good):
    for path in [good, *good.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path


# ---------------------------------------------------------------- refusals: exit 2, one line, nothing changed
def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _every_checkpoint_damaged(folder: Path, configs: ConfigFactory) -> list[str]:
    for path in ckpt.list_checkpoints(folder / "run"):
        _zero(path / ckpt.MODEL)
    return ["train", str(folder / "config.yaml"), "--resume"]


def _export_damaged(folder: Path, configs: ConfigFactory) -> list[str]:
    """The export of a damaged checkpoint named by its folder: no other one may stand in for it."""
    checkpoint = folder / "run" / ckpt.CHECKPOINTS / LAST
    _zero(checkpoint / ckpt.MODEL)
    return ["train", "export", str(checkpoint), str(folder / "exported")]


def _export_all_damaged(folder: Path, configs: ConfigFactory) -> list[str]:
    for path in ckpt.list_checkpoints(folder / "run"):
        _zero(path / ckpt.MODEL)
    return ["train", "export", str(folder / "run"), str(folder / "exported")]


def _out_at(relative: str) -> Callable[[Path, ConfigFactory], list[str]]:
    """A run whose ``out`` is ``relative`` to a folder holding a file ``file``."""
    def argv(folder: Path, configs: ConfigFactory) -> list[str]:
        (folder / "file").write_text("x")
        return ["train", str(_write_config(configs, folder, out=folder / relative))]
    return argv


# case -> (prepare the copy in the folder and return the command line, words of the one-line error)
REFUSALS: dict[str, tuple[Callable[[Path, ConfigFactory], list[str]], list[str]]] = {
    "fresh run in a used folder": (
        lambda folder, configs: ["train", str(folder / "config.yaml")],
        ["holds an earlier run (checkpoints, log.jsonl, model)", "pass --resume"]),
    "resume under a changed lr and steps": (
        lambda folder, configs: ["train", str(_write_config(configs, folder, steps=8, optim={"lr": 1e-3})),
                                 "--resume"],
        ["trained with another config (optim.lr: 0.003 -> 0.001; steps: 6 -> 8)", "--override-config"]),
    "override to fewer steps than done": (
        lambda folder, configs: ["train", str(_write_config(configs, folder, steps=4)), "--resume",
                                 "--override-config"],
        ["steps: 4 is below the checkpoint's step 6"]),
    "override without resume": (
        lambda folder, configs: ["train", str(folder / "config.yaml"), "--override-config"], ["add --resume"]),
    "every checkpoint damaged": (
        _every_checkpoint_damaged,
        ["no checkpoint of", "model.safetensors cannot be read (SafetensorError", "to start the run over"]),
    "export of damaged weights": (
        _export_damaged, [f"{LAST}/model.safetensors cannot be read (SafetensorError: Error while deserializing"]),
    "export of a run whose checkpoints are all damaged": (
        _export_all_damaged, ["no checkpoint of", "model.safetensors cannot be read (SafetensorError"]),
    "override of the architecture": (
        lambda folder, configs: ["train", str(_write_config(configs, folder, steps=8,
                                                            model={"tiny": {"num_layers": 2}})),
                                 "--resume", "--override-config"],
        ["--override-config cannot change what the weights are (model.tiny", "choose another out folder"]),
    "out is a file": (_out_at("file"), ["out: cannot write to", "(File exists); choose a writable folder"]),
    "out below a file": (_out_at("file/run"), ["out: cannot write to", "(Not a directory); choose a writable folder"]),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_exit_2_in_one_line_and_change_nothing(case, copy, configs, capsys):
    make_argv, words = REFUSALS[case]
    argv = make_argv(copy, configs)
    before = _snapshot(copy / "run")
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(word in lines[0] for word in words), lines[0]
    assert _snapshot(copy / "run") == before
    assert not (copy / "exported").exists()


# ---------------------------------------------------------------- recoveries: say so, end like the good run
class _Payload:
    """Unpickled without ``weights_only``, it creates ``marker``: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _newest(run: Path, name: str) -> Path:
    return run / ckpt.CHECKPOINTS / LAST / name


def _crafted_state(run: Path) -> None:
    state = torch.load(_newest(run, ckpt.STATE), weights_only=True)
    torch.save({**state, "optimizer": _Payload(run.parent / "pwned")}, _newest(run, ckpt.STATE))


def _truncated_state(run: Path) -> None:
    path = _newest(run, ckpt.STATE)
    path.write_bytes(path.read_bytes()[:1000])


# damage done to the newest checkpoint -> words of the warning
DAMAGES: dict[str, tuple[Callable[[Path], object], str]] = {
    "crafted state.pt": (_crafted_state, "holds objects other than tensors and plain data"),
    "0-byte weights": (lambda run: _zero(_newest(run, ckpt.MODEL)), "model.safetensors cannot be read"),
    # a pickle header, then an opcode that pops an empty stack: the unpickler raises IndexError
    "garbage state": (lambda run: _newest(run, ckpt.STATE).write_bytes(b"\x80\x02\x87"), "state.pt cannot be read"),
    "truncated state": (_truncated_state, "state.pt cannot be read (RuntimeError: PytorchStreamReader"),
    "state without its parts": (lambda run: torch.save({"sampler": 3}, _newest(run, ckpt.STATE)),
                                "lacks the optimizer, schedule, sampler or RNG state"),
    "garbage meta.json": (lambda run: _newest(run, ckpt.META).write_text('{"step": 6,'),
                          "meta.json cannot be read (JSONDecodeError"),
    "meta.json not an object": (lambda run: _newest(run, ckpt.META).write_text("[6]"),
                                "meta.json cannot be read (a JSON list, not an object)"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(damage, copy, good, capsys):
    spoil, words = DAMAGES[damage]
    spoil(copy / "run")
    assert main(["train", str(copy / "config.yaml"), "--resume"]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and words in warning[0], warning
    assert f"resuming from {BEFORE} instead (the damaged one is now {LAST}.damaged)" in warning[0]
    assert not (copy / "pwned").exists()
    assert (copy / "run" / ckpt.CHECKPOINTS / f"{LAST}.damaged").is_dir()
    resumed, expected = _weights(copy / "run"), _weights(good)
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)


# what the weights-only unpickler raises on garbage, one short example each (found by feeding it random bytes)
UNPICKLER_GARBAGE = {"UnpicklingError": b"\x80\x02A", "IndexError": b"\x80\x02\x87", "KeyError": b"\x80\x02h\xf0",
                     "struct.error": b"\x80\x02J", "EOFError": b"\x80\x02\x88", "UnicodeDecodeError": b"\x80\x02c\x85S",
                     "random": bytes(range(256)) * 16}


@pytest.mark.parametrize("garbage", UNPICKLER_GARBAGE.values(), ids=UNPICKLER_GARBAGE)
def test_any_garbage_state_is_a_damaged_checkpoint(garbage, copy):
    _newest(copy / "run", ckpt.STATE).write_bytes(garbage)
    with pytest.raises(ckpt.CheckpointError, match="state.pt cannot be read"):
        ckpt.read_checkpoint(_newest(copy / "run", ckpt.STATE).parent)


@pytest.mark.parametrize("damaged, words", [(ckpt.MODEL, "model.safetensors cannot be read"),
                                             (ckpt.PROMPT_EMBEDS_FILE, "not a readable safetensors file")])
def test_export_of_a_run_passes_over_a_damaged_newest_checkpoint(damaged, words, copy, good, capsys):
    _zero(_newest(copy / "run", damaged))
    assert main(["train", "export", str(copy / "run"), str(copy / "exported")]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and words in warning[0], warning
    assert warning[0].endswith(f"exporting {BEFORE} instead")
    exported = load_file(str(copy / "exported" / "transformer" / "diffusion_pytorch_model.safetensors"))
    expected = ckpt.load_weights(good / ckpt.CHECKPOINTS / BEFORE)
    assert all(torch.equal(exported[k], expected[f"transformer.{k}"]) for k in exported)
    assert (copy / "run" / ckpt.CHECKPOINTS / LAST).is_dir()  # an export only reads: the damaged one stays


def test_override_config_continues_on_the_new_schedule(copy, configs, tmp_path_factory):
    changed = {"steps": 8, "optim": {"lr": 1e-3}}
    assert main(["train", str(_write_config(configs, copy, **changed)), "--resume", "--override-config"]) == 0
    fresh = train(configs(tmp_path_factory.mktemp("fresh") / "run", export=False, **changed))
    log = [r for r in read_log(copy / "run" / "log.jsonl") if "lr" in r]
    assert [r["step"] for r in log] == list(range(8))
    assert [r["lr"] for r in log[STEPS:]] == [r["lr"] for r in fresh.history[STEPS:]]
    assert "lr: 0.001" in (copy / "run" / "config.yaml").read_text()


def test_orphan_temporaries_are_swept_on_resume(copy):
    orphans = [copy / "run" / ckpt.CHECKPOINTS / ".step_00000008.abcd_123.tmp", copy / "run" / ".model.x1y2z3w4.tmp",
               copy / "run" / ".log.q1w2e3r4.tmp.jsonl", copy / "run" / ".config.a1b2c3d4.tmp.yaml"]
    for orphan in orphans[:2]:
        orphan.mkdir()
        (orphan / "model.safetensors").write_bytes(b"half")
    for orphan in orphans[2:]:
        orphan.write_text("half")
    assert main(["train", str(copy / "config.yaml"), "--resume"]) == 0
    assert not any(orphan.exists() for orphan in orphans)


# ---------------------------------------------------------------- crash scenarios: SIGKILL, then resume
def _torn_log_line() -> None:
    """Step 3's record: half of it written, then the kill."""
    def when(log: RunLog, record: dict) -> bool:
        if record.get("step") == 3:
            with log.path.open("a") as f:
                f.write(f"{json.dumps(record)[:20]}")
        return record.get("step") == 3
    killed_when(RunLog, "write", when)


# scenario -> (arm the kill, what it leaves in the run folder, what it leaves missing there)
CRASHES: dict[str, tuple[Callable[[], None], list[str], list[str]]] = {
    # the fourth step's checkpoint: its weights written into the temporary folder, the rest not yet
    "while writing a checkpoint": (
        lambda: killed_when(ckpt, "save_file", lambda state, path: ".step_00000004." in path, before=False),
        ["checkpoints/step_00000002", "checkpoints/.step_00000004.*.tmp"], ["checkpoints/step_00000004"]),
    "mid log line": (_torn_log_line, ["checkpoints/step_00000002"], ["checkpoints/step_00000004"]),
    "while writing the model folder": (
        lambda: killed_when(atomic, "_finish", lambda tmp: tmp.name.startswith(".model.")),
        [f"checkpoints/{LAST}", ".model.*.tmp"], ["model"]),
    "between swapping out a model folder and in its replacement": (
        lambda: killed_when(os, "replace",
                             lambda src, dst: Path(dst).name == "model" and Path(src).name.startswith(".model.")),
        [".model.*.old", ".model.*.tmp"], ["model"]),
}


@pytest.mark.parametrize("crash", CRASHES)
def test_a_run_killed_midway_resumes_to_the_same_end(crash, good, configs, tmp_path):
    config = _write_config(configs, tmp_path)
    if crash.startswith("between"):  # a rerun of the finished run re-exports over its model folder
        shutil.copytree(good, tmp_path / "run")
    arm, left, missing = CRASHES[crash]
    argv = ["train", str(config), "--resume"]
    assert run_killed(arm, argv) == -signal.SIGKILL
    run = tmp_path / "run"
    assert all(list(run.glob(pattern)) for pattern in left), sorted(p.name for p in run.rglob("*"))
    assert not any((run / name).exists() for name in missing)
    assert (run / "log.jsonl").read_text().endswith("\n") != (crash == "mid log line")
    assert main(argv) == 0
    assert not list(run.rglob(".*"))
    resumed, expected = _weights(run), _weights(good)
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)
    assert [r["step"] for r in read_log(run / "log.jsonl")] == list(range(STEPS))
    assert [r["loss"] for r in read_log(run / "log.jsonl")] == [r["loss"] for r in read_log(good / "log.jsonl")]
    assert _snapshot(run / "model").keys() == _snapshot(good / "model").keys()
