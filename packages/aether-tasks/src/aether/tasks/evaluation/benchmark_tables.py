"""The dataset figures of a benchmark and the table of them, as the paper prints it
(docs/FORMATS.md#long-videos-and-evaluation).

Depth: each metric's mean over a dataset's sequences weighted by their valid-pixel counts. Pose: the
plain mean over sequences of the ATE and RPE RMSEs.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from aether.tasks.evaluation.benchmark_datasets import DatasetLayout, Task

MEAN_METRICS: dict[Task, tuple[str, ...]] = {
    "depth": ("abs_rel", "sq_rel", "rmse", "log_rmse", "delta_1", "delta_2", "delta_3"),
    "pose": ("ate", "rpe_trans", "rpe_rot_deg"),
}


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def _three(value: float) -> str:
    return f"{value:.3f}"


# the paper's columns per dataset: (metric, heading, format)
COLUMNS: dict[Task, tuple[tuple[str, str, Callable[[float], str]], ...]] = {
    "depth": (("abs_rel", "Abs Rel ↓", _three), ("delta_1", "δ<1.25 (%) ↑", _percent)),
    "pose": (("ate", "ATE ↓", _three), ("rpe_trans", "RPE trans ↓", _three),
             ("rpe_rot_deg", "RPE rot (°) ↓", _three)),
}


def dataset_mean(task: Task, scores: list[dict[str, Any]]) -> dict[str, float]:
    """The dataset figure of each of ``MEAN_METRICS[task]`` over per-sequence ``scores``."""
    weights = np.array([s["valid_pixels"] for s in scores], np.float64) if task == "depth" else None
    return {m: float(np.average([s[m] for s in scores], weights=weights)) for m in MEAN_METRICS[task]}


def markdown_table(task: Task, datasets: list[DatasetLayout],
                   means: dict[str, dict[str, dict[str, float]]]) -> str:
    """A Markdown table, one row per method and the paper's columns per dataset; ``means[method][dataset]``."""
    columns = [(d.name, metric, f"{d.title} {heading}", fmt)
               for d in datasets for metric, heading, fmt in COLUMNS[task]]
    lines = ["| Method | " + " | ".join(c[2] for c in columns) + " |", "|---|" + "---:|" * len(columns)]
    for method, figures in means.items():
        cells = (fmt(figures[name][metric]) for name, metric, _, fmt in columns)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
