"""The camera annotation pipeline (the aether-annotate README): masking, slicing, coarse cameras and refinement, each
stage a plugin built by name from the registry, run on one clip."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aether.annotate.stages.base import AnnotateError, Cameras, Frames
from aether.annotate.stages.intrinsics import intrinsics_matrix
from aether.core.clip import Clip
from aether.core.errors import describe_validation
from aether.core.registry import Registry, default_registry

STAGES = ("masking", "slicing", "coarse", "refine")


class AnnotateConfig(BaseModel):
    """Which plugin runs each stage (method names: ``labels`` for ``masking.labels``, ...; the full plugin
    name works too) and their options, passed to the plugin's ``build``."""

    # inf would pass ``gt=0`` (a focal_prior of inf px turns every unobservable slice into "no slices")
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    masking: str = "labels"
    slicing: str = "flow"
    coarse: str = "pnp"
    refine: str | None = Field("bundle", description="None skips refinement (the PnP-only baseline)")
    masking_options: dict[str, Any] = Field(default_factory=dict)
    slicing_options: dict[str, Any] = Field(default_factory=dict)
    coarse_options: dict[str, Any] = Field(default_factory=dict)
    refine_options: dict[str, Any] = Field(default_factory=dict)
    use_given_K: bool = Field(False, description="keep the clip's K (fixed) instead of estimating intrinsics")
    focal_prior: float | None = Field(None, gt=0, description="focal length (pixels, fx = fy) to use where the "
                                                              "motion leaves it unobservable; default the clip's K")
    max_features: int = Field(2000, ge=10, description="SIFT keypoints per frame (slicing)")
    max_tracks: int = Field(800, ge=10, description="point tracks alive at once (coarse, refine)")
    edge_margin: int = Field(5, ge=0, le=50, description="pixels kept clear of depth edges for points")

    @field_validator("masking", "slicing", "coarse", "refine")
    @classmethod
    def _method(cls, value: str | None, info) -> str | None:
        prefix = f"{info.field_name}."
        return value[len(prefix):] if value is not None and value.startswith(prefix) else value

    @field_validator("masking_options", "slicing_options", "coarse_options", "refine_options")
    @classmethod
    def _json(cls, value: dict[str, Any]) -> dict[str, Any]:
        # The config is stored in every report and compared on reruns: a value JSON cannot hold (a NumPy
        # scalar) would otherwise fail there, mid-run, instead of here.
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"options must be JSON values (finite numbers, strings, lists, dicts): {exc}") from None
        return value


def build_stage(stage: str, method: str, options: dict[str, Any], registry: Registry | None = None):
    """The stage object of plugin ``<stage>.<method>`` built with ``options``."""
    if stage not in STAGES:
        raise AnnotateError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    try:
        return (registry or default_registry()).build("annotation_stage", f"{stage}.{method}", **options)
    except ValidationError as exc:  # of the stage's options
        raise AnnotateError(f"{stage}.{method}: invalid options: {describe_validation(exc, 'options')}") from None


def build_stages(config: AnnotateConfig, registry: Registry | None = None) -> dict[str, Any]:
    """The stage objects ``config`` names, by stage (a skipped refinement left out); raises
    :class:`~aether.core.errors.PluginError` / :class:`AnnotateError` for an unknown name or bad options."""
    return {name: build_stage(name, getattr(config, name), getattr(config, f"{name}_options"), registry)
            for name in STAGES if getattr(config, name) is not None}


def _slice_clip(clip: Clip, frames: np.ndarray, cams: Cameras, mask: np.ndarray) -> Clip:
    """The annotated clip of one slice: original frames ``frames (N,)`` with K and c2w filled."""
    piece = clip.select(frames)
    piece.K = np.repeat(cams.K[None], len(frames), 0).astype(np.float32)
    piece.c2w = cams.c2w.astype(np.float32)
    piece.dynamic_mask = mask[frames].astype(np.uint8)
    piece.meta = {**clip.meta, "frames": json.dumps([int(i) for i in frames]), "annotated_by": "aether-annotate"}
    return piece.validate("annotated slice")


# Focal lengths (times the image width) that a pinhole camera can have: fields of view of 169 to 0.6 degrees
FOCAL_WIDTHS = (0.05, 100.0)


def check_intrinsics(K: np.ndarray, width: int, height: int, what: str, fix: str) -> None:
    """Raise :class:`AnnotateError` unless ``K (..., 3, 3)`` has focal lengths in :data:`FOCAL_WIDTHS` times
    ``width`` and its principal point inside the image: damaged intrinsics would give wrong cameras silently."""
    K = np.asarray(K, np.float64).reshape(-1, 3, 3)
    lo, hi = (factor * width for factor in FOCAL_WIDTHS)
    focal = K[:, [0, 1], [0, 1]]
    bad = np.flatnonzero(~((focal >= lo) & (focal <= hi)).all(1))
    if len(bad):
        fx, fy = focal[bad[0]]
        raise AnnotateError(f"{what} (frame {bad[0]}): fx={fx:g}, fy={fy:g} px is no focal length of a "
                            f"{width}x{height} image (expected {lo:g} to {hi:g} px); {fix}")
    centre = K[:, :2, 2]
    bad = np.flatnonzero(~((centre >= -0.5) & (centre <= [width - 0.5, height - 0.5])).all(1))
    if len(bad):
        cx, cy = centre[bad[0]]
        raise AnnotateError(f"{what} (frame {bad[0]}): principal point ({cx:g}, {cy:g}) lies outside the "
                            f"{width}x{height} image; {fix}")


def _check_given(clip: Clip, config: AnnotateConfig) -> None:
    """Refuse intrinsics the pipeline would use that are damaged: the clip's K (given, or standing in for
    focal lengths the motion cannot reveal) and ``focal_prior``."""
    lo, hi = (factor * clip.width for factor in FOCAL_WIDTHS)
    if config.focal_prior is not None and not lo <= config.focal_prior <= hi:
        raise AnnotateError(f"focal_prior {config.focal_prior:g} px is no focal length of a {clip.width}x"
                            f"{clip.height} image (expected {lo:g} to {hi:g} px); give it in pixels of these frames")
    if clip.K is not None and (config.use_given_K or config.focal_prior is None):
        fix = "fix the clip's K or annotate without use_given_K (--use-given-K)" if config.use_given_K else \
            "fix the clip's K, remove it, or give focal_prior (--focal-prior)"
        check_intrinsics(clip.K, clip.width, clip.height, "the clip's K", fix)


def _prior(clip: Clip, config: AnnotateConfig, frame: int) -> tuple[np.ndarray | None, str | None]:
    """The intrinsics ``(3, 3)`` standing in for a focal length the slice starting at ``frame`` cannot reveal,
    and where they come from: ``focal_prior`` (principal point at the image centre), else the clip's K."""
    if config.focal_prior is not None:
        centre = ((clip.width - 1) / 2, (clip.height - 1) / 2)
        return intrinsics_matrix(config.focal_prior, config.focal_prior, *centre), \
            f"focal_prior {config.focal_prior:g} px"
    if clip.K is not None:
        return clip.K[frame].astype(np.float64), "the clip's K"
    return None, None


def _focal(intrinsics: dict | None, prior_name: str | None) -> dict:
    """A slice's report on its focal length: ``given``, ``measured``, or ``unobservable`` with the reason and
    what stands in for it (a prior, or the best estimate, which is then no measurement)."""
    if intrinsics is None:
        return {"focal": "given"}
    status = intrinsics.get("focal")  # a third party's coarse stage may not say
    if status != "unobservable":
        return {"focal": status} if status else {}
    source = prior_name if intrinsics["source"] == "prior" else intrinsics["source"]
    return {"focal": "unobservable", "focal_reason": intrinsics["reason"], "focal_source": source}


def annotate_clip(clip: Clip, config: AnnotateConfig | None = None,
                  registry: Registry | None = None) -> tuple[list[Clip], dict]:
    """Annotate one RGB-D clip: one :class:`Clip` per slice (K ``(N, 3, 3)``, c2w ``(N, 4, 4)`` with world =
    the slice's first frame, meta ``frames`` = its original frame indices as a JSON list) and a JSON-able
    report: ``status`` (``ok`` / ``no slices``), ``dropped`` ({frame: reason}), ``cuts``, ``slices`` (frames,
    K, residuals, timings per slice), ``timings``. Raises :class:`AnnotateError` for clips it cannot use."""
    config = config or AnnotateConfig()
    clip.require("depth", where="annotation (the pipeline lifts points with the depth)")
    if config.use_given_K:
        clip.require("K", where="annotation with use_given_K")
    _check_given(clip, config)
    stages = build_stages(config, registry)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    mask, mask_info = stages["masking"](clip)
    timings["masking"] = time.perf_counter() - start
    frames = Frames(clip.rgb, clip.depth, ~mask, np.arange(clip.num_frames), config.max_features, config.max_tracks,
                    config.edge_margin)
    start = time.perf_counter()
    plan = stages["slicing"](frames)
    timings["slicing"] = time.perf_counter() - start
    dropped = {int(i): reason for i, reason in plan.dropped.items()}
    pieces, slices = [], []
    for positions in plan.slices:
        part = frames.select(positions)
        given = clip.K[positions[0]].astype(np.float64) if config.use_given_K else None
        prior, prior_name = _prior(clip, config, positions[0])
        times = {}
        start = time.perf_counter()
        try:
            cams = stages["coarse"](part, given, prior)
        except AnnotateError as exc:
            dropped.update({int(i): f"coarse cameras failed: {exc}" for i in positions})
            continue
        times["coarse"] = time.perf_counter() - start
        if "refine" in stages and cams.registered >= 2:
            start = time.perf_counter()
            cams = stages["refine"](part, cams, fix_intrinsics=cams.intrinsics_fixed)
            times["refine"] = time.perf_counter() - start
        kept = np.asarray(positions[:cams.registered])
        dropped.update({int(i): f"not registered: {cams.reason}" for i in positions[cams.registered:]})
        if len(kept) < 2:
            dropped.update({int(i): f"slice too short after registration: {cams.reason}" for i in kept})
            continue
        pieces.append(_slice_clip(clip, kept, cams, mask))
        slices.append({"frames": kept.tolist(), "K": np.round(cams.K, 4).tolist(),
                       **_focal(cams.info.get("intrinsics"), prior_name), **cams.info,
                       "timings": {k: round(v, 3) for k, v in times.items()}})
        for key, value in times.items():
            timings[key] = timings.get(key, 0.0) + value
    report = {"source": clip.source, "frames": clip.num_frames, "status": "ok" if pieces else "no slices",
              "frames_kept": int(sum(len(s["frames"]) for s in slices)), "config": config.model_dump(mode="json"),
              "masking": mask_info, "dropped": {str(k): v for k, v in sorted(dropped.items())}, "cuts": plan.cuts,
              "slicing_stats": plan.stats, "slices": slices, "timings": {k: round(v, 3) for k, v in timings.items()}}
    if not pieces:
        common = Counter(reason.split(" (")[0] for reason in dropped.values()).most_common(1)
        report["reason"] = f"no usable slice; most frames dropped for: {common[0][0]}" if common else \
            "no usable slice"
    return pieces, report
