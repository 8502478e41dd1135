"""Shared fixture: a few tiny synthetic RGB-D clips with exact cameras."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from aether.annotate.synthetic.config import RenderConfig
from aether.annotate.synthetic.writer import write_clips

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> Path:
    """Four 17-frame 24 fps clips (room and street scenes) at 40 x 64 (resized and cropped to 32 x 48 on load)."""
    out = tmp_path_factory.mktemp("clips")
    write_clips(out, 4, seed=0, render=RenderConfig(height=40, width=64, frames=17, fps=24.0), progress=False)
    return out


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the tiny model's ops are too small to split, and `-n 2` already fills the cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
