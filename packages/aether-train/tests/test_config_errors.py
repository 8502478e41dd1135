"""Config files: YAML and TOML load the same config; bad values and unknown plugins say which field."""

from __future__ import annotations

import pytest
from aether.core.cli import main
from aether.train.config import ConfigError, load_config, parse_config

BASE = {"out": "run", "steps": 10, "data": {"clips": ["clips"]}}


def test_yaml_and_toml_give_the_same_config(tmp_path):
    (tmp_path / "a.yaml").write_text("out: run\nsteps: 10\ndata:\n  clips: [clips]\n  frames: [9, 17]\n")
    (tmp_path / "a.toml").write_text('out = "run"\nsteps = 10\n[data]\nclips = ["clips"]\nframes = [9, 17]\n')
    assert load_config(tmp_path / "a.yaml") == load_config(tmp_path / "a.toml")
    assert load_config(tmp_path / "a.yaml").data.fps == [8.0, 10.0, 12.0, 15.0, 24.0]  # docs/FORMATS.md#tasks default


@pytest.mark.parametrize("section, field, value, words", [
    ("model", "video_codec", "vqgan", ["model.video_codec", "'vqgan'", "cogvideox, pixel"]),
    ("model", "action_encoder", "plucker-x", ["model.action_encoder", "raymap"]),
    ("model", "attention", "flash9", ["model.attention", "sdpa"]),
    ("tasks", "probabilities", {"inpainting": 1.0}, ["tasks.probabilities", "planning, prediction"]),
])
def test_unknown_plugin_names_list_the_available_ones(section, field, value, words):
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, section: {field: value}})
    assert all(word in str(err.value) for word in words), str(err.value)


@pytest.mark.parametrize("patch, where", [
    ({"steps": 0}, "steps"),
    ({"optim": {"lr": -1}}, "optim.lr"),
    ({"data": {"clips": ["c"], "frames": [16]}}, "data.frames"),
    ({"data": {"clips": ["c"], "height": 40}}, "data.height"),
    ({"loss": {"stage": 3}}, "loss.stage"),
    ({"distributed": {"strategy": "zero3"}}, "distributed.strategy"),
    ({"optim": {"lrr": 1e-3}}, "optim.lrr"),
])
def test_bad_values_name_their_field(patch, where):
    with pytest.raises(ConfigError, match=rf"{where}: "):
        parse_config({**BASE, **patch})


def test_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("out: run\nsteps: 10\ndata: {clips: [c]}\nmodel: {video_codec: nope}\n")
    assert main(["train", str(tmp_path / "bad.yaml")]) == 2
    assert "unknown video codec 'nope'; available: cogvideox, pixel" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert main(["train", "export", str(tmp_path)]) == 2
