"""Levenberg-Marquardt for a :class:`~aether.annotate.stages.bundle.BundleProblem` with the track points
eliminated (Schur complement), under a Cauchy loss.

Each point's 3 unknowns touch only its own observations, so the normal equations reduce to a dense system over
the intrinsics and poses (``n_intr + 6 (N - 1)`` unknowns, 243 for 41 frames), solved exactly; the points
follow by back-substitution. An exact step converges in a few iterations where SciPy's TRF with its inexact
(LSMR) steps needs hundreds of evaluations to reach the same optimum. The Cauchy loss ``rho(z) = log(1 + z)``
is applied per residual, as ``scipy.optimize.least_squares(loss="cauchy")`` does, by iteratively reweighted
least squares (weights ``rho'(z) = 1 / (1 + z)``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aether.annotate.stages.bundle import BundleProblem


@dataclass
class Solution:
    """``x`` reached after ``iterations`` accepted steps and ``evaluations`` residual evaluations; ``cost``
    the robust cost there; ``converged``: the last step lowered the cost by less than the tolerance."""

    x: np.ndarray
    iterations: int
    evaluations: int
    cost: float
    converged: bool


@dataclass
class _System:
    """The weighted normal equations at one ``x``: camera block ``cams (C, C)``, camera-point block
    ``cross (C, P, 3)``, point blocks ``points (P, 3, 3)``, gradients ``grad_cams (C,)``, ``grad_points (P, 3)``."""

    cams: np.ndarray
    cross: np.ndarray
    points: np.ndarray
    grad_cams: np.ndarray
    grad_points: np.ndarray


def cauchy_cost(residuals: np.ndarray, scale: float) -> float:
    """``0.5 sum scale^2 log(1 + (r / scale)^2)``: the cost ``least_squares(loss="cauchy", f_scale=scale)``
    minimises."""
    return float(0.5 * scale ** 2 * np.log1p((residuals / scale) ** 2).sum())


def _normal_equations(problem: BundleProblem, x: np.ndarray, residuals: np.ndarray, scale: float) -> _System:
    """The Gauss-Newton system at ``x`` with the Cauchy IRLS weights of ``residuals (5 M,)``."""
    n_cams, n_points = problem.n_intr + problem.n_pose, problem.n_points
    r = residuals.reshape(-1, 5)
    w = 1.0 / (1.0 + (r / scale) ** 2)
    blocks = problem.blocks(x)
    local = problem.n_intr + 6  # each observation's camera columns: intrinsics, then its frame's pose
    cam_jac, point_jac = blocks[:, :, :local], blocks[:, :, local:]
    # frame 0's pose columns (-1) go to a spare last row/column, dropped below
    col = np.where(problem.cols[:, :local] >= 0, problem.cols[:, :local], n_cams)
    # per observation J^T W (batched matmul: einsum here would not use BLAS)
    cam_t, point_t = np.swapaxes(cam_jac * w[:, :, None], 1, 2), np.swapaxes(point_jac * w[:, :, None], 1, 2)
    size = n_cams + 1
    cams = np.bincount((col[:, :, None] * size + col[:, None, :]).ravel(), (cam_t @ cam_jac).ravel(),
                       size * size).reshape(size, size)
    pt = problem.point
    cross = np.bincount(((col[:, :, None] * n_points + pt[:, None, None]) * 3 + np.arange(3)).ravel(),
                        (cam_t @ point_jac).ravel(), size * n_points * 3)
    points = np.bincount((pt[:, None] * 9 + np.arange(9)).ravel(), (point_t @ point_jac).ravel(), n_points * 9)
    grad_cams = np.bincount(col.ravel(), (cam_t @ r[:, :, None]).ravel(), size)
    grad_points = np.bincount((pt[:, None] * 3 + np.arange(3)).ravel(), (point_t @ r[:, :, None]).ravel(),
                              n_points * 3)
    return _System(cams[:-1, :-1], cross.reshape(size, n_points, 3)[:-1], points.reshape(-1, 3, 3),
                   grad_cams[:-1], grad_points.reshape(-1, 3))


def _step(system: _System, damping: float) -> tuple[np.ndarray, np.ndarray]:
    """The Levenberg-Marquardt step ``(cameras (C,), points (P, 3))``: the normal equations with their
    diagonal scaled by ``1 + damping``, the points eliminated."""
    points = system.points + damping * np.einsum("pii->pi", system.points)[:, :, None] * np.eye(3)
    inverse = np.linalg.inv(points)
    n_cams = len(system.cams)
    flat = system.cross.reshape(n_cams, -1)
    flat_inv = (np.swapaxes(system.cross, 0, 1) @ inverse).swapaxes(0, 1).reshape(n_cams, -1)  # W V^-1
    # the floor keeps a parameter no residual touches where it is instead of making the system singular
    reduced = system.cams + damping * np.diag(np.maximum(np.diag(system.cams), 1.0)) - flat_inv @ flat.T
    rhs = -system.grad_cams + flat_inv @ system.grad_points.ravel()
    d_cams = np.linalg.solve(reduced, rhs)
    d_points = -(inverse @ (system.grad_points + (d_cams @ flat).reshape(-1, 3))[:, :, None])[:, :, 0]
    return d_cams, d_points


def solve(problem: BundleProblem, x0: np.ndarray, scale: float, lower: np.ndarray, upper: np.ndarray,
          max_iterations: int = 10, ftol: float = 1e-6) -> Solution:
    """Minimise the Cauchy cost of ``problem`` (scale ``scale``, pixels) from ``x0`` within the box
    ``lower``-``upper`` (steps are clipped into it): at most ``max_iterations`` accepted steps, stopping once one
    lowers the cost by less than ``ftol`` of it."""
    x, residuals = x0.copy(), problem.residuals(x0)
    cost, damping, evaluations = cauchy_cost(residuals, scale), 1e-4, 1
    for iteration in range(max_iterations):
        system = _normal_equations(problem, x, residuals, scale)
        while True:
            d_cams, d_points = _step(system, damping)
            trial = np.clip(x + np.concatenate([d_cams, d_points.ravel()]), lower, upper)
            trial_residuals = problem.residuals(trial)
            trial_cost, evaluations = cauchy_cost(trial_residuals, scale), evaluations + 1
            if trial_cost < cost:
                break
            damping *= 10.0
            if damping > 1e8:  # no descent left: at a minimum to working precision
                return Solution(x, iteration, evaluations, cost, True)
        drop = cost - trial_cost
        x, residuals, cost, damping = trial, trial_residuals, trial_cost, max(damping / 10.0, 1e-8)
        if drop < ftol * cost:
            return Solution(x, iteration + 1, evaluations, cost, True)
    return Solution(x, max_iterations, evaluations, cost, False)
