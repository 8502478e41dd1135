"""The release's L1 scale & shift fit, summed over a band of pixels near the line (what makes it fast
enough for whole benchmark sequences), against the release's own autograd formulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aether.tasks.evaluation import depth_alignment


def release_fit(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """The release: Adam (lr 1e-4) on ``sum |s pred + t - gt|`` by autograd, <= 1000 steps, stop on a loss
    change < 1e-6, from the median ratio."""
    p, g = torch.from_numpy(pred), torch.from_numpy(gt)
    s = torch.tensor(torch.median(g).item() / torch.median(p).item(), dtype=torch.float64, requires_grad=True)
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    optimizer, previous = torch.optim.Adam([s, t], lr=1e-4), None
    for _ in range(1000):
        optimizer.zero_grad()
        loss = torch.sum(torch.abs(s * p + t - g))
        loss.backward()
        optimizer.step()
        if previous is not None and abs(previous - loss.item()) < 1e-6:
            break
        previous = loss.item()
    return s.item(), t.item()


@pytest.mark.parametrize("offset", [0.0, 30.0])
def test_band_fit_gives_the_release_result(offset, monkeypatch):
    rng = np.random.default_rng(int(offset))
    gt = rng.uniform(1, 70, 2000)
    pred = np.minimum(gt / 0.4 * np.exp(rng.normal(0, 0.25, gt.size)) + offset, 100.0)
    rebuilds = []
    real = depth_alignment._L1Sums._rebuild
    monkeypatch.setattr(depth_alignment._L1Sums, "_rebuild", lambda self, s, t: rebuilds.append(s) or real(self, s, t))
    ours = depth_alignment.l1_scale_shift(pred, gt)
    np.testing.assert_allclose(ours, release_fit(pred, gt), rtol=1e-12, atol=1e-14)
    assert len(rebuilds) >= 5  # the fit crossed many bands: each rebuild is exercised
