"""The options of `aether reconstruct | predict | plan` that name a plugin or a trajectory offer the
installed names, and a wrong one fails in one line before the model loads; `--no-progress` reaches the
sampler."""

from __future__ import annotations

import argparse

import pytest
from aether.core.cli import build_parser, main
from aether.core.registry import default_registry
from aether.tasks import commands
from aether.tasks.pipeline import AetherPipeline
from aether.tasks.trajectories import trajectory_names

TASKS = ("reconstruct", "predict", "plan")


def _parser(name: str) -> argparse.ArgumentParser:
    top = build_parser(default_registry())
    return next(a for a in top._actions if isinstance(a, argparse._SubParsersAction)).choices[name]


def _option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(a for a in parser._actions if flag in a.option_strings)


@pytest.mark.parametrize("task", TASKS)
def test_attention_offers_the_registered_backends(task):
    parser = _parser(task)
    backends = default_registry().names("attention_backend")
    assert {"sdpa", "xformers", "triton", "triton-rope"} <= set(backends)
    assert list(_option(parser, "--attention").choices) == backends
    assert "{" + ",".join(backends) + "}" in parser.format_help()


@pytest.mark.parametrize("task", ("predict", "plan"))
def test_named_offers_every_trajectory(task):
    assert list(_option(_parser(task), "--named").choices) == trajectory_names()


@pytest.mark.parametrize("argv", [["reconstruct", "clip.mp4"], ["predict", "a.png"], ["plan", "a.png", "b.png"]])
def test_a_bad_attention_name_fails_in_one_line_before_the_model_loads(argv, tmp_path, monkeypatch, capsys):
    def load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(AetherPipeline, "from_pretrained", load)
    assert main([*argv, "--model", str(tmp_path), "--out", str(tmp_path / "out"), "--attention", "flash9"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "argument --attention: invalid choice: 'flash9'" in lines[0], lines
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("task, inputs", [("reconstruct", ["clip.mp4"]), ("predict", ["a.png"])])
def test_no_progress_reaches_the_sampler(task, inputs):
    base = [*inputs, "--model", "m", "--out", "o"]
    assert commands._config(_parser(task).parse_args(base)).progress is True
    assert commands._config(_parser(task).parse_args([*base, "--no-progress"])).progress is False
