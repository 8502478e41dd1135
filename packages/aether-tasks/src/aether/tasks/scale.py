"""Metric scale: the one rule that ties the model's units to metres (docs/CAMERAS.md).

The model works in units of the clip's nearest depth: depth is normalised by the clip's largest
disparity ``p_max = 1 / nearest depth`` (docs/FORMATS.md#depth-codec) and the action's translations are multiplied by
the same ``p_max`` before ``s_ray`` and the log (docs/FORMATS.md#raymap-codec). So one number, metres per model unit
``= 1 / p_max`` (the nearest depth in metres), converts both depth and camera translations, and any
one of these gives it:

- ``scene_depth`` D: the nearest surface is D metres away, ``p_max = 1 / D``;
- ``p_max`` in 1/metres, as the annotation of a training clip stores it;
- ``baseline`` (i, j, metres): the known distance between the cameras of frames i and j;
- ``depth_file`` (with ``depth_frame``): metric depth (metres, 0 = invalid) of one frame.

The first two are known before sampling, so an action can be encoded the way training encoded it; the
last two come from a reconstruction, after it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aether.codecs.frames import fit_depth
from aether.tasks.pipeline import TaskInputError
from aether.tasks.result import TaskResult


# a metric length or disparity: positive and finite (an infinite scene depth would scale everything to 0)
Metric = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class ScaleConfig(BaseModel):
    """How the user tells the metric scale; at most one source. Empty: relative units, as before."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scene_depth: Metric | None = Field(None, description="nearest scene depth in metres (p_max = 1/D)")
    p_max: Metric | None = Field(None, description="the clip's largest disparity, 1/metres")
    baseline: tuple[int, int, Metric] | None = Field(
        None, description="frames i, j and the metric distance between their cameras")
    depth_file: Path | None = Field(None, description=".npy metric depth (H, W) of one frame, 0 = invalid")
    depth_frame: int = Field(0, ge=0, description="the frame depth_file shows")

    @model_validator(mode="after")
    def _one_source(self) -> "ScaleConfig":
        given = [name for name in ("scene_depth", "p_max", "baseline", "depth_file") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give one metric scale source, not {' and '.join(given)}")
        if self.scene_depth is not None and self.scene_depth < 1e-300:  # 1 / D would overflow to inf
            raise ValueError(f"scene_depth {self.scene_depth:g} m is too small to invert; give metres")
        return self

    @property
    def known(self) -> bool:
        return any(getattr(self, name) is not None for name in ("scene_depth", "p_max", "baseline", "depth_file"))

    def prior_p_max(self) -> float | None:
        """``p_max`` known before sampling (from ``scene_depth`` or ``p_max``), else None."""
        return 1.0 / self.scene_depth if self.scene_depth is not None else self.p_max

    def metres_per_unit(self, result: TaskResult) -> float | None:
        """Metres per model unit for ``result`` (relative depth and cameras), or None without a source."""
        if self.prior_p_max() is not None:
            return 1.0 / self.prior_p_max()
        if self.baseline is not None:
            return scale_from_baseline(result.c2w, *self.baseline)
        if self.depth_file is not None:
            from aether.core.media import read_array

            if self.depth_frame >= result.num_frames:
                raise TaskInputError(f"--known-depth frame {self.depth_frame} is past the result's "
                                     f"{result.num_frames} frames")
            known = read_array(self.depth_file)
            if known.ndim != 2:
                raise TaskInputError(f"a known depth map must be one frame (H, W) in metres, got "
                                     f"{known.shape}")
            metric = fit_depth(known, *result.depth.shape[1:])
            return scale_from_depth(result.depth[self.depth_frame], metric)
        return None


def scale_from_baseline(c2w: np.ndarray, i: int, j: int, metres: float) -> float:
    """Metres per unit making the distance between the cameras of frames ``i`` and ``j`` of ``c2w (F, 4, 4)``
    equal ``metres``."""
    if not (0 <= i < len(c2w) and 0 <= j < len(c2w)) or i == j:
        raise TaskInputError(f"--known-baseline needs two different frames in [0, {len(c2w) - 1}], got {i} and {j}")
    distance = float(np.linalg.norm(c2w[j, :3, 3] - c2w[i, :3, 3]))
    if not distance > 1e-9:
        raise TaskInputError(f"the cameras of frames {i} and {j} coincide in the result; pick frames further apart")
    return metres / distance


def scale_from_depth(relative: np.ndarray, metric: np.ndarray) -> float:
    """Metres per unit as the median of ``metric / relative`` over pixels valid in both ``(H, W)`` maps
    (the median ignores the few pixels a generated depth gets wrong)."""
    valid = np.isfinite(metric) & (metric > 0) & np.isfinite(relative) & (relative > 0)
    if not valid.any():
        raise TaskInputError("the known depth has no valid pixel (metres > 0) where the result has depth")
    return float(np.median(metric[valid] / relative[valid]))


def to_metric(result: TaskResult, metres_per_unit: float) -> TaskResult:
    """``result`` with depth and camera translations multiplied by ``metres_per_unit`` (disparity stays
    normalised, rotations and intrinsics unchanged)."""
    c2w = result.c2w.copy()
    c2w[:, :3, 3] *= metres_per_unit
    return dataclasses.replace(result, depth=result.depth * metres_per_unit, c2w=c2w)
