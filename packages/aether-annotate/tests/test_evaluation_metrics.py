"""Evaluation of annotated cameras: metrics against known answers, slice scoring, folder runs, COLMAP."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import replace

import numpy as np
import pytest

from aether.annotate.evaluation import (CameraEstimate, MethodRun, camera_errors, evaluate_dir, rotation_errors_deg,
                                        run_colmap, score)
from aether.annotate.synthetic import RenderConfig, SceneConfig, render_clip
from aether.annotate.synthetic.cameras import rotation
from aether.codecs.trajectory import pose_metrics
from aether.core.clip import Clip, save_clip


def _trajectory(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = rotation(rng.normal(0, 0.3, n), rng.normal(0, 0.1, n), rng.normal(0, 0.05, n))
    c2w[:, :3, 3] = np.cumsum(rng.normal(0, 0.3, (n, 3)), 0)
    K = np.tile(np.array([[300.0, 0, 179.5], [0, 300.0, 119.5], [0, 0, 1]]), (n, 1, 1))
    return c2w, K


def _similarity(c2w: np.ndarray, scale: float, seed: int = 1) -> np.ndarray:
    """``c2w`` seen in another world frame: rotated, scaled and shifted."""
    rng = np.random.default_rng(seed)
    q = rotation(*rng.uniform(-3, 3, (3, 1)))[0]
    out = c2w.copy()
    out[:, :3, :3] = q @ c2w[:, :3, :3]
    out[:, :3, 3] = scale * c2w[:, :3, 3] @ q.T + rng.normal(0, 5, 3)
    return out


def test_a_similar_trajectory_has_zero_error():
    c2w, K = _trajectory()
    errors = camera_errors(_similarity(c2w, 2.5), K, c2w, K)
    for key in ("rot_err_deg", "ate", "ate_pct", "rpe_trans", "rpe_rot_deg", "focal_err_pct"):
        assert errors[key] == pytest.approx(0.0, abs=1e-5), key
    path = np.linalg.norm(np.diff(c2w[:, :3, 3], axis=0), axis=1).sum()
    assert errors["path_length"] == pytest.approx(path)


def test_known_rotation_focal_and_ate_errors():
    n, theta = 8, 2.0
    c2w, K = _trajectory(n)
    gt = c2w.copy()
    gt[:, :3, :3] = np.eye(3)
    est = gt.copy()
    # +theta / -theta about z on alternate frames: the best global rotation is the identity by symmetry.
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    est[:, :3, :3] = rotation(np.zeros(n), np.zeros(n), np.radians(theta) * signs)
    np.testing.assert_allclose(rotation_errors_deg(est[:, :3, :3], gt[:, :3, :3]), theta, atol=1e-9)
    k_est = K.copy()
    k_est[:, 0, 0] *= 1.01
    k_est[:, 1, 1] *= 0.98
    est[:, :3, 3] += np.random.default_rng(3).normal(0, 0.05, (n, 3))
    errors = camera_errors(est, k_est, gt, K)
    assert errors["rot_err_deg"] == pytest.approx(theta)
    assert errors["focal_err_pct"] == pytest.approx(1.5)
    ate = pose_metrics(est, gt)["ate"]
    assert errors["ate_pct"] == pytest.approx(100 * ate / errors["path_length"]) and ate > 0.01


def test_static_camera_has_no_ate_and_bad_shapes_raise():
    c2w, K = _trajectory(4)
    c2w[:, :3, 3] = 0.0
    errors = camera_errors(c2w, K, c2w, K)
    assert errors["ate_pct"] is None and errors["rot_err_deg"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="same N frames"):
        camera_errors(c2w[:3], K, c2w, K)


def _clip_with_cameras(n: int = 10) -> Clip:
    c2w, K = _trajectory(n)
    return Clip(rgb=np.zeros((n, 8, 8, 3), np.uint8), fps=12.0, K=K.astype(np.float32),
                c2w=c2w.astype(np.float32))


def test_score_weights_slices_by_frames_and_reports_failures():
    clip = _clip_with_cameras(10)
    c2w, K = clip.c2w.astype(np.float64), clip.K.astype(np.float64)
    first, second = np.arange(6), np.arange(6, 10)
    k_off = K[second].copy()
    k_off[:, [0, 1], [0, 1]] *= 1.02
    run = MethodRun([CameraEstimate(first, _similarity(c2w[first], 3.0), K[first]),
                     CameraEstimate(second, _similarity(c2w[second], 0.5, seed=4), k_off),
                     CameraEstimate(np.array([0, 1]), c2w[:2], K[:2])], seconds=2.0)
    result = score(run, clip)
    assert result["focal_err_pct"] == pytest.approx((6 * 0 + 4 * 2.0) / 10)
    assert result["rot_err_deg"] == pytest.approx(0.0, abs=1e-5)
    assert (result["frames"], result["coverage"], result["slices"]) == (10, 1.0, 2)
    assert result["seconds_per_frame"] == pytest.approx(0.2)
    failed = score(MethodRun([], 1.0, "RuntimeError: boom"), clip)
    assert failed["error"] == "RuntimeError: boom" and failed["coverage"] == 0.0


def test_evaluate_dir_with_a_stand_in_pipeline(tmp_path, monkeypatch):
    """A local stand-in for aether.annotate.pipeline returns the true cameras as two slices."""
    seen = {}

    class AnnotateConfig:
        model_fields = {"refine": None}

        def model_copy(self, update):
            seen["update"] = update
            return self

    def annotate_clip(clip, config):
        seen["had_cameras"] = clip.c2w is not None
        truth = load_truth()
        pieces = [replace(truth.select(slice(0, 5)), meta={"frames": json.dumps(list(range(5)))}),
                  truth.select(slice(5, 10))]
        return pieces, {"slices": [{}, {"frames": list(range(5, 10))}]}

    stand_in = types.ModuleType("aether.annotate.pipeline")
    stand_in.AnnotateConfig, stand_in.annotate_clip = AnnotateConfig, annotate_clip
    monkeypatch.setitem(sys.modules, "aether.annotate.pipeline", stand_in)
    truth_clip = _clip_with_cameras(10)
    load_truth = lambda: truth_clip  # noqa: E731
    save_clip(truth_clip, tmp_path / "clips" / "a.safetensors")
    (tmp_path / "clips" / "b.safetensors").write_bytes(b"not a clip")
    report = evaluate_dir(tmp_path / "clips", tmp_path / "out", methods=("ours", "pnp"), progress=False)
    assert seen == {"had_cameras": False, "update": {"refine": None}}
    ours = report["clips"]["a.safetensors"]["methods"]["ours"]
    assert ours["error"] is None and ours["coverage"] == 1.0 and ours["ate_pct"] == pytest.approx(0.0, abs=1e-4)
    assert "not a readable clip" in report["clips"]["b.safetensors"]["error"]
    assert report["summary"]["ours"]["clips"] == 1 and report["summary"]["ours"]["rot_err_deg"] < 1e-4
    assert json.loads((tmp_path / "out" / "evaluation.json").read_text()) == report


def test_colmap_baseline_recovers_a_rendered_trajectory():
    pytest.importorskip("pycolmap")
    clip = render_clip(SceneConfig(seed=100, kind="room", motion="mixed", dynamic_objects=1),
                       RenderConfig(height=120, width=180, frames=10))
    result = score(run_colmap(clip, known_intrinsics=True), clip)
    assert result["error"] is None, result["error"]
    assert result["coverage"] >= 0.8 and result["rot_err_deg"] < 1.0 and result["ate_pct"] < 3.0
    assert result["focal_err_pct"] == pytest.approx(0.0, abs=1e-3)


def test_evaluate_dir_reads_a_written_annotation_instead_of_running_again(tmp_path, monkeypatch):
    import aether.annotate.evaluation as evaluation

    def no_second_run(*args, **kwargs):
        raise AssertionError("the pipeline ran again")

    monkeypatch.setattr(evaluation, "run_pipeline", no_second_run)
    truth = _clip_with_cameras(10)
    save_clip(truth, tmp_path / "clips" / "a.safetensors")
    save_clip(truth, tmp_path / "clips" / "b.safetensors")
    written = tmp_path / "annotated"
    # a: two slices as annotate_dir writes them (frames in the slice meta, then in the report); b: failed
    save_clip(replace(truth.select(slice(0, 6)), meta={"frames": json.dumps(list(range(6)))}),
              written / "a" / "slice_000.safetensors")
    save_clip(truth.select(slice(6, 10)), written / "a" / "slice_001.safetensors")
    (written / "a" / "report.json").write_text(json.dumps(
        {"status": "ok", "slices": [{}, {"frames": [6, 7, 8, 9]}], "timings": {"coarse": 1.5, "refine": 0.5}}))
    (written / "b").mkdir()
    (written / "b" / "report.json").write_text(json.dumps({"status": "failed", "error": "too dark"}))
    report = evaluate_dir(tmp_path / "clips", methods=("ours",), progress=False, annotated=written)
    a = report["clips"]["a.safetensors"]["methods"]["ours"]
    assert a["error"] is None and (a["coverage"], a["slices"], a["seconds"]) == (1.0, 2, 2.0)
    assert a["rot_err_deg"] < 1e-4 and a["focal_err_pct"] < 1e-4
    assert report["clips"]["b.safetensors"]["methods"]["ours"]["error"] == "too dark"
    assert report["summary"]["ours"]["failed"] == 1
    missing = evaluate_dir(tmp_path / "clips", methods=("ours",), progress=False, annotated=tmp_path / "nothing")
    assert "annotate the clip first" in missing["clips"]["a.safetensors"]["error"]
