"""The pytest configuration every AETHER suite shares: markers, warning filters, the ``gpu`` skip and
Triton's CPU interpreter.

Each ``pyproject.toml`` (the root's and every package's) loads it with ``-p aether.core.testing.pytest_plugin``
in its ``addopts``, so a package's suite run from its own folder and the whole tree run from the root get the
same set-up. It is deliberately not a ``pytest11`` entry point, which would load it into every pytest run of
anyone who installs aether-core. ``--import-mode=importlib`` and ``-p no:cacheprovider`` stay in ``addopts``:
pytest reads both from the command line before any plugin hook could set them.
"""

from __future__ import annotations

import pytest
import torch

from aether.core.kernels.interpreter import use_interpreter_without_cuda

MARKERS = (
    "gpu: needs a CUDA device (skipped without one)",
    "slow: takes more than a few seconds on 2 CPU cores",
)
# Third-party deprecations (diffusers, torch) are not ours to fix and would bury the summary.
WARNING_FILTERS = ("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests() -> None:
    """Before any conftest or test module is imported: Triton reads ``TRITON_INTERPRET`` on its first import."""
    use_interpreter_without_cuda()


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    for warning_filter in WARNING_FILTERS:
        config.addinivalue_line("filterwarnings", warning_filter)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without CUDA, ``gpu`` tests skip (a marker, so the skip is reported at the test)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
