"""Score annotated cameras against ground truth, next to two baselines run on the same frames:
COLMAP incremental SfM (pycolmap) and PnP-only (our pipeline without refinement).

Metrics per method (``camera_errors``): rotation error in degrees after the best global rotation,
ATE after Sim(3) alignment (metres and % of the ground-truth path length), RPE between consecutive
frames, focal error in %. A method that annotates several slices is scored per slice (each aligned
on its own) and the slices are averaged weighted by frame count; ``coverage`` is the fraction of the
clip's frames that got a camera. A method that fails becomes an entry with ``error``, never a crash.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from aether.codecs.trajectory import pose_metrics
from aether.core.atomic import write_json
from aether.core.clip import Clip, iter_clip_paths, load_clip
from aether.core.errors import AetherError
from aether.core.progress import progress_bar

METHODS = ("ours", "pnp", "colmap")
# The AnnotateConfig field naming the refinement stage plugin; None skips refinement (PnP-only baseline).
PNP_ONLY_OVERRIDES = {"refine": None}
SUMMARY_KEYS = ("rot_err_deg", "ate_pct", "rpe_rot_deg", "focal_err_pct", "coverage", "seconds_per_frame")


class EvaluationError(AetherError, ValueError):
    """Ground truth or estimates that cannot be compared."""


@dataclass
class CameraEstimate:
    """Cameras estimated for some frames of a clip: ``frames (N,)`` indices into the clip, ``c2w (N, 4, 4)``
    (any world frame and scale), ``K (N, 3, 3)`` in pixels with integer pixel centres."""

    frames: np.ndarray
    c2w: np.ndarray
    K: np.ndarray


@dataclass
class MethodRun:
    """What one method produced on one clip: its estimates (one per slice), wall time and failure."""

    estimates: list[CameraEstimate]
    seconds: float
    error: str | None = None


def rotation_errors_deg(rot_est: np.ndarray, rot_gt: np.ndarray) -> np.ndarray:
    """Per-frame angle ``(N,)`` in degrees between ``rot_gt (N, 3, 3)`` and ``rot_est`` after the one
    rotation ``A`` minimising ``sum ||A R_est - R_gt||`` (orthogonal Procrustes over all frames)."""
    u, _, vt = np.linalg.svd((rot_gt @ np.swapaxes(rot_est, -1, -2)).sum(0))
    align = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    rel = np.swapaxes(rot_gt, -1, -2) @ align @ rot_est
    # atan2(2 sin, 2 cos) keeps small angles accurate where arccos of the trace loses ~1e-4 rad on float32 input.
    skew = np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0], rel[:, 1, 0] - rel[:, 0, 1]], -1)
    return np.degrees(np.arctan2(np.linalg.norm(skew, axis=-1), np.trace(rel, axis1=-2, axis2=-1) - 1))


def camera_errors(c2w_est: np.ndarray, K_est: np.ndarray, c2w_gt: np.ndarray, K_gt: np.ndarray) -> dict:
    """Errors of estimated cameras ``c2w_est (N, 4, 4)``, ``K_est (N, 3, 3)`` against ground truth of the
    same frames: ``rot_err_deg`` (mean per-frame angle after rotation alignment), ``ate`` (metres, after
    Sim(3) alignment), ``ate_pct`` (% of the ground-truth path length; None for a static camera),
    ``rpe_trans`` (metres), ``rpe_rot_deg``, ``focal_err_pct`` (mean |f - f_gt| / f_gt of fx and fy)."""
    est, gt = np.asarray(c2w_est, np.float64), np.asarray(c2w_gt, np.float64)
    k_est, k_gt = np.asarray(K_est, np.float64), np.asarray(K_gt, np.float64)
    if est.shape != gt.shape or est.ndim != 3 or est.shape[1:] != (4, 4) or k_est.shape != (len(est), 3, 3) \
            or k_gt.shape != k_est.shape:
        raise EvaluationError(f"need c2w (N, 4, 4) and K (N, 3, 3) for the same N frames, got c2w {est.shape} / "
                              f"{gt.shape} and K {k_est.shape} / {k_gt.shape}")
    if len(est) < 2:
        raise EvaluationError("need at least 2 frames to align a trajectory")
    path = float(np.linalg.norm(np.diff(gt[:, :3, 3], axis=0), axis=1).sum())
    moving = path > 1e-6
    metrics = pose_metrics(est, gt, align="sim3" if moving else "none")
    focal = np.abs(k_est[:, [0, 1], [0, 1]] - k_gt[:, [0, 1], [0, 1]]) / k_gt[:, [0, 1], [0, 1]]
    return {"rot_err_deg": float(rotation_errors_deg(est[:, :3, :3], gt[:, :3, :3]).mean()),
            "ate": metrics["ate"] if moving else None,
            "ate_pct": 100.0 * metrics["ate"] / path if moving else None,
            "rpe_trans": metrics["rpe_trans"] if moving else None, "rpe_rot_deg": metrics["rpe_rot_deg"],
            "focal_err_pct": float(100.0 * focal.mean()), "path_length": path}


def score(run: MethodRun, clip: Clip) -> dict:
    """Frame-weighted mean of ``camera_errors`` over ``run``'s slices, plus ``frames``, ``coverage``,
    ``seconds`` and ``seconds_per_frame`` (per frame of the clip); ``error`` when nothing can be scored."""
    out = {"seconds": run.seconds, "seconds_per_frame": run.seconds / clip.num_frames, "error": run.error}
    usable = [e for e in run.estimates if len(e.frames) >= 3]
    if run.error is None and not usable:
        out["error"] = "no slice with at least 3 registered frames"
    if out["error"] is not None:
        return {**out, "frames": 0, "coverage": 0.0}
    parts = [(len(e.frames), camera_errors(e.c2w, e.K, clip.c2w[e.frames], clip.K[e.frames])) for e in usable]
    weights = np.array([n for n, _ in parts], np.float64)
    for key in parts[0][1]:
        values = [(w, m[key]) for w, m in zip(weights, (m for _, m in parts)) if m[key] is not None]
        out[key] = float(np.average([v for _, v in values], weights=[w for w, _ in values])) if values else None
    out["frames"] = int(weights.sum())
    out["coverage"] = float(weights.sum() / clip.num_frames)
    out["slices"] = len(usable)
    return out


# --------------------------------------------------------------------------- methods
def slice_frames(piece: Clip, index: int, report: dict, total: int) -> np.ndarray:
    """Original frame indices of annotated slice ``index``: slice meta ``frames`` (JSON list), else the
    report's ``slices[index]["frames"]``, else all frames when the slice is as long as the clip."""
    frames = piece.meta.get("frames")
    if frames is None:
        slices = report.get("slices") or []
        frames = slices[index].get("frames") if index < len(slices) and isinstance(slices[index], dict) else None
    if frames is None and piece.num_frames == total:
        frames = list(range(total))
    if frames is None:
        raise EvaluationError(f"slice {index}: cannot tell which frames it holds (no meta 'frames' and no "
                              "report slices[i].frames)")
    frames = np.asarray(json.loads(frames) if isinstance(frames, str) else frames, np.int64)
    if len(frames) != piece.num_frames:
        raise EvaluationError(f"slice {index}: {len(frames)} frame indices for {piece.num_frames} frames")
    return frames


def _estimates(pieces: list[Clip], report: dict, total: int) -> list[CameraEstimate]:
    """The cameras of annotated slices ``pieces`` (with the pipeline's ``report``) of a ``total``-frame clip."""
    return [CameraEstimate(slice_frames(p, i, report, total), p.c2w, p.K)
            for i, p in enumerate(pieces) if p.c2w is not None and p.K is not None]


def _timed(method: Callable[[], list[CameraEstimate]]) -> MethodRun:
    start = time.perf_counter()
    try:
        estimates = method()
    except Exception as exc:  # any failure of a method is a report entry, not a crash of the evaluation
        return MethodRun([], time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
    return MethodRun(estimates, time.perf_counter() - start)


def run_pipeline(clip: Clip, config=None, overrides: dict | None = None) -> MethodRun:
    """Our pipeline ``aether.annotate.pipeline.annotate_clip`` on ``clip`` (cameras removed first), with
    ``overrides`` applied to its ``AnnotateConfig`` (e.g. :data:`PNP_ONLY_OVERRIDES`)."""
    def method() -> list[CameraEstimate]:
        from aether.annotate.pipeline import AnnotateConfig, annotate_clip

        cfg = config or AnnotateConfig()
        if overrides:
            unknown = set(overrides) - set(type(cfg).model_fields)
            if unknown:
                raise EvaluationError(f"AnnotateConfig has no field(s) {sorted(unknown)} to set for this baseline")
            cfg = cfg.model_copy(update=overrides)
        given_k = clip.K if getattr(cfg, "use_given_K", False) else None
        blind = Clip(rgb=clip.rgb, fps=clip.fps, depth=clip.depth, K=given_k, dynamic_mask=None, source=clip.source,
                     extras=dict(clip.extras), meta=dict(clip.meta))
        pieces, report = annotate_clip(blind, cfg)
        return _estimates(pieces, report, clip.num_frames)
    return _timed(method)


def run_colmap(clip: Clip, known_intrinsics: bool = False, use_masks: bool = True,
               matcher: str = "sequential", workdir: str | os.PathLike | None = None) -> MethodRun:
    """COLMAP incremental SfM (pycolmap) on the clip's frames, one shared camera (SIMPLE_PINHOLE, or
    PINHOLE fixed to the true K when ``known_intrinsics``); dynamic pixels masked out when
    ``use_masks`` and the clip has a dynamic mask. The largest reconstruction is scored."""
    def method() -> list[CameraEstimate]:
        import cv2
        import pycolmap

        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            root = Path(tmp)
            images, masks = root / "images", root / "masks"
            images.mkdir()
            masks.mkdir()
            names = [f"frame_{i:04d}.png" for i in range(clip.num_frames)]
            for i, name in enumerate(names):
                cv2.imwrite(str(images / name), cv2.cvtColor(clip.rgb[i], cv2.COLOR_RGB2BGR))
                if use_masks and clip.dynamic_mask is not None:
                    cv2.imwrite(str(masks / f"{name}.png"), (1 - clip.dynamic_mask[i]) * 255)
            reader = pycolmap.ImageReaderOptions()
            if use_masks and clip.dynamic_mask is not None:
                reader.mask_path = str(masks)
            options = pycolmap.IncrementalPipelineOptions()
            if known_intrinsics:
                k = clip.K[0].astype(np.float64)
                # COLMAP puts pixel centres at +0.5; our K has them at integers.
                reader.camera_model = "PINHOLE"
                reader.camera_params = f"{k[0, 0]},{k[1, 1]},{k[0, 2] + 0.5},{k[1, 2] + 0.5}"
                options.ba_refine_focal_length = False
                options.ba_refine_principal_point = False
            else:
                reader.camera_model = "SIMPLE_PINHOLE"
            database = root / "database.db"
            pycolmap.extract_features(database, images, camera_mode=pycolmap.CameraMode.SINGLE,
                                      reader_options=reader, device=pycolmap.Device.cpu)
            if matcher == "sequential":
                pycolmap.match_sequential(database, device=pycolmap.Device.cpu)
            elif matcher == "exhaustive":
                pycolmap.match_exhaustive(database, device=pycolmap.Device.cpu)
            else:
                raise EvaluationError(f"unknown matcher {matcher!r}; use 'sequential' or 'exhaustive'")
            models = pycolmap.incremental_mapping(database, images, root / "sparse", options)
        if not models:
            raise EvaluationError("COLMAP registered no images (no initial pair found)")
        model = max(models.values(), key=lambda m: m.num_reg_images())
        frames, c2w, K = [], [], []
        for image in model.images.values():
            if not image.has_pose:
                continue
            frames.append(names.index(image.name))
            c2w.append(np.linalg.inv(np.vstack([image.cam_from_world().matrix(), [0, 0, 0, 1]])))
            k = np.array(image.camera.calibration_matrix(), np.float64)
            k[:2, 2] -= 0.5
            K.append(k)
        order = np.argsort(frames)
        return [CameraEstimate(np.asarray(frames)[order], np.asarray(c2w)[order], np.asarray(K)[order])]
    return _timed(method)


def read_annotation(clip: Clip, folder: str | os.PathLike) -> MethodRun:
    """What :func:`aether.annotate.batch.annotate_dir` wrote for ``clip`` into ``folder`` (``report.json``
    and ``slice_*.safetensors``) as our pipeline's run, timed by the report's stage timings: scoring an
    annotation that exists needs no second run."""
    from aether.annotate.batch import REPORT

    folder = Path(folder)
    if not (folder / REPORT).is_file():
        raise EvaluationError(f"{folder} holds no {REPORT}; annotate the clip first (`aether annotate`)")
    report = json.loads((folder / REPORT).read_text())
    seconds = float(sum(report.get("timings", {}).values()))
    if report.get("status") == "failed":
        return MethodRun([], seconds, report.get("error", "annotation failed"))
    pieces = [load_clip(path) for path in sorted(folder.glob("slice_*.safetensors"))]
    return MethodRun(_estimates(pieces, report, clip.num_frames), seconds)


# --------------------------------------------------------------------------- clips and folders
def evaluate_clip(clip: Clip, config=None, methods: tuple[str, ...] = METHODS,
                  annotated: str | os.PathLike | None = None, **colmap_options) -> dict:
    """``{method: score}`` for each of ``methods`` (``ours``, ``pnp``, ``colmap``) on a clip with ground-truth
    ``K`` and ``c2w``. ``ours`` reads the clip's annotation folder ``annotated`` when given (see
    :func:`read_annotation`), else runs the pipeline. ``colmap_options`` go to :func:`run_colmap`."""
    clip.require("K", "c2w", where="evaluation (ground-truth cameras)")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise EvaluationError(f"unknown method(s) {sorted(unknown)}; choose from {', '.join(METHODS)}")
    runs = {"ours": lambda: read_annotation(clip, annotated) if annotated is not None else run_pipeline(clip, config),
            "pnp": lambda: run_pipeline(clip, config, PNP_ONLY_OVERRIDES),
            "colmap": lambda: run_colmap(clip, **colmap_options)}
    return {name: score(runs[name](), clip) for name in methods}


def summarize(results: dict[str, dict]) -> dict[str, dict]:
    """Per method, the number of clips and failures and the median of each of :data:`SUMMARY_KEYS` over
    the clips where it did not fail (None when it failed on all)."""
    summary: dict[str, dict] = {}
    for per_clip in results.values():
        for method, metrics in per_clip.get("methods", {}).items():
            entry = summary.setdefault(method, {"clips": 0, "failed": 0, **{k: [] for k in SUMMARY_KEYS}})
            entry["clips"] += 1
            if metrics.get("error") is not None:
                entry["failed"] += 1
                continue
            for key in SUMMARY_KEYS:
                if metrics.get(key) is not None:
                    entry[key].append(metrics[key])
    for entry in summary.values():
        for key in SUMMARY_KEYS:
            entry[key] = float(np.median(entry[key])) if entry[key] else None
    return summary


def evaluate_dir(path: str | os.PathLike, out_dir: str | os.PathLike | None = None, config=None,
                 methods: tuple[str, ...] = METHODS, progress: bool = True,
                 annotated: str | os.PathLike | None = None, **colmap_options) -> dict:
    """Evaluate every clip of ``path`` (a clip or a folder of clips with ground truth); a clip that cannot
    be read or scored becomes an entry with ``error``. ``annotated``: the ``out`` folder of an
    :func:`aether.annotate.batch.annotate_dir` run over ``path``, read for ``ours`` instead of annotating
    again. Returns ``{"clips": {name: {...}}, "summary": ...}`` and writes it to
    ``out_dir/evaluation.json`` (atomically) when ``out_dir`` is given."""
    from aether.annotate.batch import clip_folder

    results: dict[str, dict] = {}
    for clip_path in progress_bar(iter_clip_paths(path), desc="evaluate", unit="clip", disable=not progress):
        try:
            clip = load_clip(clip_path)
            folder = None if annotated is None else clip_folder(annotated, clip_path)
            results[clip_path.name] = {"frames": clip.num_frames,
                                       "methods": evaluate_clip(clip, config, methods, folder, **colmap_options)}
        except AetherError as exc:
            results[clip_path.name] = {"error": str(exc)}
    report = {"clips": results, "summary": summarize(results)}
    if out_dir is not None:
        write_json(Path(out_dir) / "evaluation.json", report)
    return report
