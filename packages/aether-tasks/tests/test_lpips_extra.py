"""Video metrics without the lpips package skip LPIPS and say which extra installs it."""

import sys

import numpy as np

from aether.tasks.evaluation.metrics import video_metrics


def test_video_metrics_without_lpips_name_the_lpips_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # `import lpips` now raises ImportError
    video = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    result = video_metrics(video, video)
    assert result["lpips"] is None and result["ssim"] == 1.0
    assert "LPIPS skipped: the `lpips` package is not installed (pip install 'aether-tasks[lpips]')" in result["notes"]
