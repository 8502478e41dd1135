"""The declared Python floor is one the code runs on: aether.train.config imports tomllib (3.11+)."""

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOOR = ">=3.11"
PYPROJECTS = sorted(ROOT.glob("packages/*/pyproject.toml"))
PYPROJECTS += sorted(ROOT.glob("tools/examples/*/pyproject.toml"))


@pytest.mark.parametrize("pyproject", PYPROJECTS, ids=lambda p: p.parent.name)
def test_every_package_declares_the_floor(pyproject):
    assert tomllib.loads(pyproject.read_text())["project"]["requires-python"] == FLOOR


def test_the_linters_target_is_the_floor():
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["target-version"] == "py" + FLOOR.removeprefix(">=").replace(".", "")
