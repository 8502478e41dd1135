"""`aether train CONFIG`, `aether train cache CONFIG` and `aether train export RUN OUT`: the two verbs are
subcommands with their own help, a config path is still the whole training command line, and
`--no-progress` overrides the config's ``progress``."""

from __future__ import annotations

import pytest
import yaml
from aether.core.cli import main

CONFIG = {"out": "run", "steps": 2, "data": {"clips": ["clips"]}}


@pytest.mark.parametrize("verb, shown", [("cache", ["usage: aether train cache", "--out OUT", "--no-progress"]),
                                         ("export", ["usage: aether train export", "RUN_OR_CHECKPOINT", "--no-ema"])])
def test_each_verb_has_its_own_help(verb, shown, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", verb, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(text in out for text in shown), out
    assert "--resume" not in out


def test_the_train_help_lists_the_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "aether train CONFIG [--resume" in out and "cache" in out and "export" in out


@pytest.mark.parametrize("extra, progress", [([], True), (["--no-progress"], False)])
def test_a_config_path_trains_and_no_progress_overrides_it(extra, progress, tmp_path, monkeypatch):
    import aether.train.loop

    seen = {}

    class Result:
        model_dir = None

    def train(config, resume, override_config):
        seen.update(progress=config.progress, resume=resume)
        return Result()

    monkeypatch.setattr(aether.train.loop, "train", train)
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    assert main(["train", str(path), "--resume", *extra]) == 0
    assert seen == {"progress": progress, "resume": True}


def test_cache_takes_no_resume(tmp_path, capsys):
    assert main(["train", "cache", str(tmp_path / "ft.yaml"), "--resume"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "unrecognized arguments: --resume" in lines[0], lines
