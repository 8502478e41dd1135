"""Camera smoothing accuracy: ours (``rts``, Kalman + RTS) against the release demo's (``released``) and against
no smoothing, on every named camera path with Gaussian noise of known size on the centres and orientations.
Prints the mean ATE (Sim(3)-aligned, in path units) and RPE (translation; rotation in degrees) of each over
``--seeds`` noise draws, per path and noise level ("-": a path whose centre stays put, where the Sim(3) scale
collapses), and ends with the ratios released / rts of the mean ATE and RPE rotation.

    .venv/bin/python tools/bench/smoothing.py [--frames 41 --seeds 20 --noise 0.2 0.5 1.0]

``--noise`` is in units of a path's per-frame motion: centres get ``noise * 0.05`` and rotations
``noise * 2`` degrees (the named paths move 0.05 and turn 2 degrees a frame).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from aether.codecs.trajectory import pose_metrics
from aether.tasks.smoothing import SmoothingConfig, smooth_trajectory
from aether.tasks.trajectories import DEFAULT_DEGREES, DEFAULT_STEP, named_trajectory, trajectory_names

import timing

METHODS = {"raw": None, "rts": SmoothingConfig(method="rts"), "released": SmoothingConfig(method="released")}
METRICS = ("ate", "rpe_trans", "rpe_rot_deg")


def noisy(c2w: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    out = c2w.copy()
    out[:, :3, 3] += noise * DEFAULT_STEP * rng.normal(size=(len(c2w), 3))
    wobble = Rotation.from_rotvec(np.radians(noise * DEFAULT_DEGREES) * rng.normal(size=(len(c2w), 3)))
    out[:, :3, :3] = (Rotation.from_matrix(c2w[:, :3, :3]) * wobble).as_matrix()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=41)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.2, 0.5, 1.0])
    args = parser.parse_args()
    totals: dict[str, list[np.ndarray]] = {name: [] for name in METHODS}
    print(f"{'path':<14}{'noise':>6}  " + "  ".join(f"{m:>26}" for m in METHODS))
    print(f"{'':<20}  " + "  ".join(f"{'ATE  RPE-t  RPE-deg':>26}" for _ in METHODS))
    for name in trajectory_names():
        clean = named_trajectory(name, args.frames)
        for noise in args.noise:
            rows = {method: [] for method in METHODS}
            for seed in range(args.seeds):
                measured = noisy(clean, noise, np.random.default_rng(seed))
                for method, config in METHODS.items():
                    estimate = measured if config is None else smooth_trajectory(measured, config)
                    metrics = pose_metrics(estimate, clean)
                    rows[method].append([metrics[key] for key in METRICS])
            means = {method: np.mean(values, axis=0) for method, values in rows.items()}
            moves = np.ptp(clean[:, :3, 3], axis=0).max() > 0
            for method, mean in means.items():
                totals[method].append(mean if moves else np.r_[np.nan, np.nan, mean[2]])
            print(f"{name:<14}{noise:>6.2f}  " + "  ".join(
                (f"{m[0]:>10.4f}{m[1]:>8.4f}" if moves else f"{'-':>10}{'-':>8}") + f"{m[2]:>8.3f}"
                for m in means.values()))
    mean = {method: np.nanmean(values, axis=0) for method, values in totals.items()}
    print("mean ATE / RPE-deg: " + ", ".join(f"{method} {m[0]:.4f} / {m[2]:.3f}" for method, m in mean.items()))
    print(timing.result_line("smoothing", torch.device("cpu"), ratio=mean["released"][0] / mean["rts"][0],
                             rot_ratio=mean["released"][2] / mean["rts"][2], raw_ratio=mean["raw"][0] / mean["rts"][0]))


if __name__ == "__main__":
    main()
