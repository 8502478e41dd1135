"""The shared pytest plugin, loaded the way every pyproject loads it (``-p aether.core.testing.pytest_plugin``)
into a pytest run of its own over a throw-away suite: markers known under ``--strict-markers``, the ``gpu``
skip, quiet third-party deprecations, and ``TRITON_INTERPRET`` set before any conftest is imported."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import torch

CONFTEST = """
import os

import pytest

SEEN = os.environ.get("TRITON_INTERPRET")  # what Triton would read, were it imported here


@pytest.fixture
def interpret_at_conftest_import():
    return SEEN
"""

TESTS = """
import warnings

import pytest


@pytest.mark.gpu
def test_on_a_gpu():
    pass


@pytest.mark.slow
def test_slow():
    pass


def test_deprecations_are_not_ours():
    warnings.warn("an old API", DeprecationWarning)
    warnings.warn("a changing default", FutureWarning)


def test_the_interpreter_was_chosen_first(interpret_at_conftest_import):
    assert interpret_at_conftest_import == {expected!r}
"""


def test_markers_gpu_skip_warning_filters_and_interpreter(tmp_path):
    cuda = torch.cuda.is_available()
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # keep the repository's own configuration out
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_suite.py").write_text(TESTS.format(expected=None if cuda else "1"))
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "PYTEST_ADDOPTS")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "aether.core.testing.pytest_plugin", "-p",
                          "no:cacheprovider", "--strict-markers", "-rs", str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    if cuda:
        assert "4 passed in" in out, out
    else:
        assert "3 passed, 1 skipped in" in out, out
        assert re.search(r"SKIPPED \[1\] test_suite\.py:\d+: needs a CUDA device", out), out
    assert "warnings summary" not in out, out
