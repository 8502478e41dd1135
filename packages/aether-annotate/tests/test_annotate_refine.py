"""The refinement stage's bundle adjustment: its analytic Jacobian against finite differences, the
Schur-complement Levenberg-Marquardt against known optima, and the stage's default on a rendered clip."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from aether.annotate.evaluation import camera_errors
from aether.annotate.pipeline import AnnotateConfig, annotate_clip
from aether.annotate.stages.bundle import BundleProblem
from aether.annotate.stages.schur import cauchy_cost, solve
from aether.annotate.synthetic import RenderConfig, SceneConfig, render_clip

INTRINSICS = np.array([100.0, 110.0, 50.0, 40.0])


def _dense_jacobian(problem: BundleProblem, x: np.ndarray) -> np.ndarray:
    """``(5 M, len(x))``: the per-observation blocks placed at the columns they name."""
    jac = np.zeros((5 * len(problem.point), len(x)))
    rows = 5 * np.arange(len(problem.point))[:, None] + np.arange(5)
    blocks = problem.blocks(x)
    for j in range(problem.cols.shape[1]):
        used = problem.cols[:, j] >= 0
        np.add.at(jac, (rows[used], problem.cols[used, j][:, None]), blocks[used, :, j])
    return jac


def _poses(rng: np.random.Generator, frames: int, rot_sigma: float, trans_sigma: float) -> np.ndarray:
    c2w = np.tile(np.eye(4), (frames, 1, 1))
    c2w[1:, :3, :3] = Rotation.from_rotvec(rng.normal(0, rot_sigma, (frames - 1, 3))).as_matrix()
    c2w[1:, :3, 3] = rng.normal(0, trans_sigma, (frames - 1, 3))
    return c2w


@pytest.mark.parametrize("mode", ["fixed", "square", "separate"])
def test_the_bundle_jacobian_matches_finite_differences(mode):
    rng = np.random.default_rng(0)
    frames, points, m = 4, 10, 40
    point = np.concatenate([np.arange(points), rng.integers(0, points, m - points)])
    frame = rng.integers(0, frames, m)
    problem = BundleProblem(point, frame, rng.uniform(0, 100, (m, 2)), rng.uniform(1, 5, m), frames, INTRINSICS,
                            mode, 100.0)
    c2w = _poses(rng, frames, 0.3, 0.3)
    x = problem.pack(INTRINSICS, c2w, rng.normal(0, 1, (points, 3)) + [0, 0, 6])
    assert len(x) == {"fixed": 0, "square": 3, "separate": 4}[mode] + 6 * (frames - 1) + 3 * points
    step = 1e-6
    numeric = np.stack([(problem.residuals(x + step * e) - problem.residuals(x - step * e)) / (2 * step)
                        for e in np.eye(len(x))], 1)
    np.testing.assert_allclose(_dense_jacobian(problem, x), numeric, atol=1e-3)
    np.testing.assert_allclose(problem.unpack(x)[2], c2w, atol=1e-12)


def _scene(mode: str, noise_px: float, seed: int = 1) -> tuple[BundleProblem, np.ndarray, np.ndarray]:
    """A bundle problem whose every point is seen by every frame, observed with ``noise_px`` pixel noise (plus
    10 px on 5 % of the observations when noisy), its true ``x`` and a start ``x0`` perturbed from it."""
    rng = np.random.default_rng(seed)
    frames, points = 5, 40
    c2w, world = _poses(rng, frames, 0.05, 0.2), rng.uniform([-2, -2, 4], [2, 2, 8], (points, 3))
    point, frame = np.tile(np.arange(points), frames), np.repeat(np.arange(frames), points)
    cam = np.einsum("mji,mj->mi", c2w[frame, :3, :3], world[point] - c2w[frame, :3, 3])
    xy = INTRINSICS[:2] * cam[:, :2] / cam[:, 2:] + INTRINSICS[2:] + rng.normal(0, noise_px, (len(point), 2))
    if noise_px:
        xy[rng.random(len(point)) < 0.05] += 10.0
    problem = BundleProblem(point, frame, xy, cam[:, 2], frames, INTRINSICS, mode, 100.0)
    start = INTRINSICS * [1.02, 0.98, 1.0, 1.0] + [0, 0, 1.5, -1.0]
    truth = problem.pack(INTRINSICS, c2w, world)
    x0 = problem.pack(start, _poses(rng, frames, 0.01, 0.02) @ c2w, world + rng.normal(0, 0.05, world.shape))
    return problem, truth, x0


def test_levenberg_marquardt_recovers_exact_observations():
    problem, truth, x0 = _scene("separate", noise_px=0.0)
    free = np.full(len(x0), np.inf)
    fit = solve(problem, x0, 1.0, -free, free, max_iterations=30, ftol=1e-15)
    np.testing.assert_allclose(fit.x, truth, atol=1e-6)
    assert fit.cost < 1e-12 < cauchy_cost(problem.residuals(x0), 1.0)


@pytest.mark.parametrize("mode", ["fixed", "square"])
def test_levenberg_marquardt_reaches_scipys_robust_optimum(mode):
    problem, _, x0 = _scene(mode, noise_px=0.3)
    reference = least_squares(problem.residuals, x0, jac=lambda x: _dense_jacobian(problem, x), loss="cauchy",
                              f_scale=1.0, method="trf", ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=500)
    free = np.full(len(x0), np.inf)
    fit = solve(problem, x0, 1.0, -free, free, max_iterations=50, ftol=1e-14)
    assert fit.converged and fit.iterations < 50
    assert fit.cost == pytest.approx(reference.cost, rel=1e-7)
    np.testing.assert_allclose(fit.x, reference.x, atol=1e-5)


def test_a_few_steps_get_most_of_the_way():
    problem, _, x0 = _scene("square", noise_px=0.3)
    free = np.full(len(x0), np.inf)
    start, optimum = (cauchy_cost(problem.residuals(x), 1.0) for x in (x0, solve(problem, x0, 1.0, -free, free,
                                                                                 50, 1e-14).x))
    three = solve(problem, x0, 1.0, -free, free, max_iterations=3)
    assert three.iterations == 3 and not three.converged
    assert three.cost - optimum < 1e-3 * (start - optimum)


def test_steps_stay_within_the_bounds():
    problem, _, x0 = _scene("square", noise_px=0.0)
    lower, upper = np.full(len(x0), -np.inf), np.full(len(x0), np.inf)
    lower[0] = upper[0] = x0[0]  # the focal length held where the start has it (2 % off the truth)
    fit = solve(problem, x0, 1.0, lower, upper, max_iterations=10)
    assert fit.x[0] == x0[0] and fit.cost < cauchy_cost(problem.residuals(x0), 1.0)


def test_every_slice_is_refined_by_default_and_beats_pnp_only():
    clip = render_clip(SceneConfig(seed=11, kind="room", motion="orbit", dynamic_objects=0),
                       RenderConfig(height=96, width=144, frames=13))
    blind = replace(clip, c2w=None, K=None, dynamic_mask=None)
    errors, K, reports = {}, {}, {}
    for name, config in {"refined": AnnotateConfig(), "pnp": AnnotateConfig(refine=None)}.items():
        pieces, reports[name] = annotate_clip(blind, config)
        frames = json.loads(pieces[0].meta["frames"])
        errors[name] = camera_errors(pieces[0].c2w, pieces[0].K, clip.c2w[frames], clip.K[frames])
        K[name] = pieces[0].K
    refine = reports["refined"]["slices"][0]["refine"]
    assert refine["why"].endswith(">= skip_below_px 0 px") and refine["iterations"] == 3
    assert refine["intrinsics"] == "fixed" and "refine_intrinsics off" in refine["intrinsics_why"]
    assert refine["reprojection_px"]["after"] < refine["reprojection_px"]["before"]
    np.testing.assert_array_equal(K["refined"], K["pnp"])  # the coarse stage's intrinsics kept
    assert errors["refined"]["ate_pct"] < errors["pnp"]["ate_pct"]
    assert errors["refined"]["rot_err_deg"] < errors["pnp"]["rot_err_deg"]


def test_a_pose_no_observation_touches_stays_put():
    full, truth, x0 = _scene("fixed", noise_px=0.0)
    seen = full.frame < 4  # the last of the 5 frames loses its observations
    problem = BundleProblem(full.point[seen], full.frame[seen], full.xy[seen], full.depth[seen], 5, INTRINSICS,
                            "fixed", 100.0)
    free = np.full(len(x0), np.inf)
    fit = solve(problem, x0, 1.0, -free, free, max_iterations=30, ftol=1e-15)
    np.testing.assert_array_equal(fit.x[18:24], x0[18:24])  # frame 4's rotation vector and translation
    np.testing.assert_allclose(fit.x[:18], truth[:18], atol=1e-6)
