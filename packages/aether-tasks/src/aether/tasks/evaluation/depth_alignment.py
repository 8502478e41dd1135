"""Per-sequence depth alignments (docs/FORMATS.md#long-videos-and-evaluation): fits of ``gt ≈ scale · pred + shift``
over the valid pixels of a whole sequence, ``pred`` and ``gt`` flattened to ``(N,)``.

- ``l1-scale-shift``: the release's default, an L1 fit by Adam (lr 1e-4, at most 1000 steps, stop
  when the summed loss changes by less than 1e-6) from ``s = median(gt) / median(pred)``, ``t = 0``.
  With that learning rate the fit moves ``s`` and ``t`` by about 1e-4 a step, so at most ~0.1 from
  the start: what the published numbers were computed with, not the L1 optimum.
- ``irls-scale``: the release's "scale", an L1 scale by 10 Weiszfeld (IRLS) steps from
  ``mean(gt) / mean(pred)``, clamped at 1e-3;
- ``scale-shift``: least-squares scale and shift;
- ``scale``: ``median(gt) / median(pred)`` (MonST3R's median scaling);
- ``none``: metric depth.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from aether.tasks.evaluation.errors import MetricInputError

DepthAlignment = Literal["l1-scale-shift", "irls-scale", "scale-shift", "scale", "none"]
DEPTH_ALIGNMENTS = ("l1-scale-shift", "irls-scale", "scale-shift", "scale", "none")
BAND_STEPS = 100  # half-width of the L1 fit's band of pixels summed each step, in learning rates


class _L1Sums:
    """``sum |s pred + t - gt|`` and its gradient ``(sum sign(r) pred, sum sign(r))`` over ``pred, gt (N,)``,
    ``sign(0) = 0`` as autograd has it, summed in NumPy float64.

    A pixel whose residual at the centre ``(s0, t0)`` exceeds ``margin (|pred| + 1)`` keeps its sign while
    ``|s - s0|`` and ``|t - t0|`` stay within ``margin / 2``, so those pixels' sums are linear in ``s, t`` and
    taken once; only the band of the others is summed each step, and the band is rebuilt around the current
    ``(s, t)`` when the fit leaves that box. The sums equal the full ones up to the order of additions.
    """

    def __init__(self, pred: np.ndarray, gt: np.ndarray, margin: float) -> None:
        self.pred, self.gt, self.margin = pred, gt, margin
        self.centre: tuple[float, float] | None = None

    def _rebuild(self, s: float, t: float) -> None:
        residual = self.pred * s + t - self.gt
        near = np.abs(residual) <= self.margin * (np.abs(self.pred) + 1)
        far = ~near
        sign = np.sign(residual[far])
        # the far pixels' sum sign * (s pred + t - gt) = s * fixed_pred + t * fixed_count - fixed_gt
        self.fixed = (float(sign @ self.pred[far]), float(sign.sum()), float(sign @ self.gt[far]))
        self.band_pred, self.band_gt = self.pred[near], self.gt[near]
        self.centre = (s, t)

    def __call__(self, s: float, t: float) -> tuple[float, float, float]:
        """``(loss, d loss / d s, d loss / d t)`` at ``(s, t)``."""
        if self.centre is None or max(abs(s - self.centre[0]), abs(t - self.centre[1])) > self.margin / 2:
            self._rebuild(s, t)
        residual = self.band_pred * s
        residual += t
        residual -= self.band_gt
        fixed_pred, fixed_count, fixed_gt = self.fixed
        loss = float(np.abs(residual).sum()) + (s * fixed_pred + t * fixed_count - fixed_gt)
        np.sign(residual, out=residual)
        # einsum sums in its own loop: BLAS's dot starts threads on ~10k values, which costs ms per step
        return loss, float(np.einsum("i,i", residual, self.band_pred)) + fixed_pred, float(residual.sum()) + fixed_count


def l1_scale_shift(pred: np.ndarray, gt: np.ndarray, lr: float = 1e-4, max_iters: int = 1000,
                   tol: float = 1e-6) -> tuple[float, float]:
    """The release's Adam fit of ``s, t`` minimising ``sum |s pred + t - gt|`` over ``pred, gt (N,)``.

    torch's Adam takes the steps; the loss and its gradient come from :class:`_L1Sums` (the same values as
    the release's autograd up to the order of additions; a whole sequence holds tens of millions of pixels).
    """
    import torch

    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    # torch.median takes the lower middle value of an even count, as the release's start does
    start = (torch.median(torch.from_numpy(gt)) / torch.median(torch.from_numpy(pred))).item()
    params = torch.tensor([start, 0.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([params], lr=lr)
    # Adam moves each parameter by about lr a step: a band this wide is rebuilt every ~50 steps at most
    sums = _L1Sums(pred, gt, margin=BAND_STEPS * lr)
    previous = None
    for _ in range(max_iters):
        loss, grad_s, grad_t = sums(*params.detach().tolist())
        params.grad = torch.tensor([grad_s, grad_t], dtype=torch.float64)
        optimizer.step()
        if previous is not None and abs(previous - loss) < tol:
            break
        previous = loss
    scale, shift = params.detach().tolist()
    return scale, shift


def irls_scale(pred: np.ndarray, gt: np.ndarray, iterations: int = 10) -> float:
    """The release's L1 scale: Weiszfeld steps ``s = sum(w p g) / sum(w p²)``, ``w = 1 / (|s p - g| + 1e-8)``."""
    s = np.mean(gt) / np.mean(pred)
    for _ in range(iterations):
        weights = 1.0 / (np.abs(s * pred - gt) + 1e-8)
        s = np.sum(weights * pred * gt) / np.sum(weights * pred ** 2)
    return float(np.maximum(s, 1e-3))  # NaN stays NaN, for the caller's check


def fit_depth_alignment(pred: np.ndarray, gt: np.ndarray, mode: DepthAlignment) -> tuple[float, float]:
    """``(scale, shift)`` mapping valid ``pred (N,)`` onto ``gt (N,)`` by ``mode``."""
    if mode == "none":
        return 1.0, 0.0
    if mode == "l1-scale-shift":
        return l1_scale_shift(pred, gt)
    if mode == "irls-scale":
        return irls_scale(pred, gt), 0.0
    if mode == "scale":
        return float(np.median(gt) / np.median(pred)), 0.0
    if mode == "scale-shift":
        design = np.stack([pred, np.ones_like(pred)], axis=1)
        (scale, shift), *_ = np.linalg.lstsq(design, gt, rcond=None)
        return float(scale), float(shift)
    raise MetricInputError(f"unknown depth alignment {mode!r}; choose one of: {', '.join(DEPTH_ALIGNMENTS)}")
