"""``aether benchmark`` scoring predictions made elsewhere (``--pred``) on fake datasets in each layout:
known answers for the dataset figures, their weighting, sharding and the merge, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aether.codecs.cameras import write_tum
from aether.core.cli import main
from aether.tasks.evaluation import benchmark_scoring
from aether.tasks.evaluation.metrics import pose_metrics
from aether.tasks.evaluation.sintel_cameras import read_cam_folder


def _depth_data(fakes, root: Path, pred: Path, bonn_b_factor: float) -> None:
    """Sintel alley_2 and cave_2 (depth 1..80 m, >= 70 invalid), Bonn balloon2 (48 valid pixels) and crowd2
    (24 valid: half its ground truth is 0), KITTI one sequence; predictions twice the ground truth, except
    Bonn crowd2: ``bonn_b_factor`` times. Each in another format a method may write."""
    rng = np.random.default_rng(0)
    for seq in ("alley_2", "cave_2"):
        depth = rng.uniform(1, 80, (3, 5, 8)).astype(np.float32)
        fakes.write_sintel_depth(root, seq, fakes.frames(3, 5, 8, 1), depth)
        folder = pred / "sintel" / seq  # CUT3R's per-frame .npy files
        folder.mkdir(parents=True)
        for i, frame in enumerate(depth):
            np.save(folder / f"frame_{i:04d}.npy", 2 * frame)
    for seq, factor, invalid in (("balloon2", 2.0, 0), ("crowd2", bonn_b_factor, 12)):
        png = rng.integers(2000, 60000, (2, 4, 6))
        png.reshape(2, -1)[:, :invalid] = 0
        fakes.write_bonn(root, seq, fakes.frames(2, 4, 6, 2), png)
        (pred / "bonn").mkdir(parents=True, exist_ok=True)
        np.save(pred / "bonn" / f"{seq}.npy", factor * png / 5000.0)
    png = rng.integers(256, 20000, (2, 4, 6))
    fakes.write_kitti(root, "2011_09_26_drive_0002_sync_02", fakes.frames(2, 4, 6, 3), png)
    (pred / "kitti").mkdir()
    np.savez(pred / "kitti" / "2011_09_26_drive_0002_sync_02.npz", depth=2 * png / 256.0)


def _run(*argv) -> int:
    return main(["benchmark", *map(str, argv), "--no-progress"])


def test_depth_table_of_exact_predictions_and_valid_pixel_weighting(fakes, tmp_path, capsys):
    data, pred, out = tmp_path / "data", tmp_path / "exact", tmp_path / "out"
    _depth_data(fakes, data, pred, bonn_b_factor=2.0)
    assert _run("depth", "--data", data, "--out", out, "--pred", pred) == 0
    report = json.loads((out / "depth/benchmark.json").read_text())
    for dataset, figures in report["methods"]["exact"].items():
        assert figures["mean"]["abs_rel"] == pytest.approx(0, abs=1e-12), dataset
        assert figures["mean"]["delta_1"] == 1.0, dataset
    sintel = report["methods"]["exact"]["sintel"]["sequences"]
    gt = np.stack([np.fromfile(p, "<f4", offset=12).reshape(5, 8) for p in
                   sorted((data / "sintel/training/depth/alley_2").iterdir())])
    assert sintel["alley_2"]["valid_pixels"] == int((gt < 70).sum())  # max depth 70
    assert sintel["alley_2"]["scale"] == 0.5
    table = (out / "depth/benchmark.md").read_text()
    assert "| Method | Sintel Abs Rel ↓ | Sintel δ<1.25 (%) ↑ | Bonn Abs Rel ↓" in table
    assert "| exact | 0.000 | 100.0 | 0.000 | 100.0 | 0.000 | 100.0 |" in table
    assert "sintel: 12 sequence(s)" in table and "ambush_4" in table  # the protocol's 14, 2 given
    assert "| exact |" in capsys.readouterr().out

    # no alignment; Bonn crowd2 predicted 1.5x: Abs Rel 0.5, no pixel within 1.25 but all within 1.25^2
    out_none = tmp_path / "out_none"
    _depth_data(fakes, tmp_path / "data_b", tmp_path / "off", bonn_b_factor=1.5)
    assert _run("depth", "--data", tmp_path / "data_b", "--out", out_none, "--pred",
                f"half={tmp_path / 'off'}", "--align", "none", "--datasets", "bonn") == 0
    bonn = json.loads((out_none / "depth/benchmark.json").read_text())["methods"]["half"]["bonn"]
    assert [bonn["sequences"][s]["valid_pixels"] for s in ("balloon2", "crowd2")] == [48, 24]
    # weighted by 48 : 24 valid pixels (a plain mean would give 0.25 and 0.5); balloon2 is 2x off unaligned
    assert bonn["mean"]["abs_rel"] == pytest.approx((48 * 1.0 + 24 * 0.5) / 72, rel=1e-12)
    assert bonn["mean"]["delta_1"] == pytest.approx(0.0)
    assert bonn["mean"]["delta_2"] == pytest.approx(24 / 72)


def test_pose_table_known_answers_and_plain_mean(fakes, tmp_path):
    data, pred, out = tmp_path / "data", tmp_path / "cut3r", tmp_path / "out"
    gts = {("sintel", "alley_2"): fakes.trajectory(6, 0),
           ("tum", "rgbd_dataset_freiburg3_walking_xyz"): fakes.trajectory(7, 1),
           ("tum", "rgbd_dataset_freiburg3_sitting_static"): fakes.trajectory(7, 2),
           ("scannet", "scene0707_00"): fakes.trajectory(5, 3)}
    writers = {"sintel": fakes.write_sintel_cameras, "tum": fakes.write_tum_sequence, "scannet": fakes.write_scannet}
    for i, ((dataset, seq), c2w) in enumerate(gts.items()):
        writers[dataset](data, seq, fakes.frames(len(c2w), 4, 6, i), c2w)
    (pred / "sintel/alley_2").mkdir(parents=True)
    (pred / "tum").mkdir()
    (pred / "scannet").mkdir()
    est = {key: fakes.similar(c2w, 0.3, i) for i, (key, c2w) in enumerate(gts.items())}
    noisy = est["tum", "rgbd_dataset_freiburg3_sitting_static"]
    noisy[:, :3, 3] += np.random.default_rng(5).normal(0, 0.05, (len(noisy), 3))
    # CUT3R's pred_traj.txt with frame-index stamps (the ground truth's are 30 Hz: pairing is by index)
    write_tum(pred / "sintel/alley_2/pred_traj.txt", np.arange(6.0), est["sintel", "alley_2"])
    for seq in ("rgbd_dataset_freiburg3_walking_xyz", "rgbd_dataset_freiburg3_sitting_static"):
        np.savetxt(pred / "tum" / f"{seq}.txt", est["tum", seq][:, :3].reshape(-1, 12))  # KITTI lines
    np.save(pred / "scannet/scene0707_00.npy", est["scannet", "scene0707_00"])

    assert _run("pose", "--data", data, "--out", out, "--pred", f"m={pred}") == 0
    report = json.loads((out / "pose/benchmark.json").read_text())["methods"]["m"]
    for key in ("sintel", "scannet"):
        assert report[key]["mean"]["ate"] == pytest.approx(0, abs=1e-9)
        assert report[key]["mean"]["rpe_rot_deg"] == pytest.approx(0, abs=1e-5)
    tum = report["tum"]
    expected = pose_metrics(noisy, gts["tum", "rgbd_dataset_freiburg3_sitting_static"])
    assert tum["sequences"]["rgbd_dataset_freiburg3_sitting_static"]["ate"] == pytest.approx(expected["ate"], rel=1e-9)
    assert tum["sequences"]["rgbd_dataset_freiburg3_walking_xyz"]["ate"] == pytest.approx(0, abs=1e-9)
    assert expected["ate"] > 0.01
    for metric in ("ate", "rpe_trans", "rpe_rot_deg"):  # the plain mean of the two sequences
        assert tum["mean"][metric] == pytest.approx(
            np.mean([s[metric] for s in tum["sequences"].values()]), rel=1e-12)
    table = (out / "pose/benchmark.md").read_text()
    assert "| Method | Sintel ATE ↓ | Sintel RPE trans ↓ | Sintel RPE rot (°) ↓ | TUM dynamics ATE ↓" in table
    assert table.splitlines()[2].startswith("| m | 0.000 | 0.000 | 0.000 |")


def test_sintel_cam_files_give_the_inverse_of_world_to_camera(fakes, tmp_path):
    c2w = fakes.trajectory(4, 7)
    fakes.write_sintel_cameras(tmp_path, "alley_2", fakes.frames(4, 2, 2, 0), c2w)
    np.testing.assert_allclose(read_cam_folder(tmp_path / "sintel/training/camdata_left/alley_2").c2w, c2w,
                               atol=1e-12)


def test_shards_split_the_sequences_and_a_final_run_merges_without_rescoring(fakes, tmp_path, monkeypatch):
    data, pred = tmp_path / "data", tmp_path / "exact"
    _depth_data(fakes, data, pred, bonn_b_factor=3.0)
    out = tmp_path / "out"
    scores = out / "depth/scores/exact"
    assert _run("depth", "--data", data, "--out", out, "--pred", pred, "--shard", "1/2") == 0
    # 5 sequences in table order: sintel alley_2, cave_2, bonn balloon2, crowd2, kitti; shard 1 takes 2nd, 4th
    assert sorted(str(p.relative_to(scores)) for p in scores.rglob("*.json")) == ["bonn/crowd2.json",
                                                                                  "sintel/cave_2.json"]
    assert not (out / "depth/benchmark.md").exists()
    assert _run("depth", "--data", data, "--out", out, "--pred", pred, "--shard", "0/2") == 0
    assert len(list(scores.rglob("*.json"))) == 5

    calls = []
    real = benchmark_scoring.score_sequence
    monkeypatch.setattr(benchmark_scoring, "score_sequence", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert _run("depth", "--data", data, "--out", out, "--pred", pred) == 0
    assert calls == []  # merged from the shards' scores
    assert _run("depth", "--data", data, "--out", tmp_path / "direct", "--pred", pred) == 0
    merged, direct = (json.loads((o / "depth/benchmark.json").read_text())["methods"]
                      for o in (out, tmp_path / "direct"))
    assert merged == direct
    assert len(calls) == 5
    # other scoring settings rescore instead of reusing
    assert _run("depth", "--data", data, "--out", out, "--pred", pred, "--align", "scale") == 0
    assert len(calls) == 10


def test_unusable_runs_are_one_line_errors(fakes, tmp_path, capsys):
    data, pred = tmp_path / "data", tmp_path / "exact"
    _depth_data(fakes, data, pred, bonn_b_factor=2.0)
    (pred / "bonn/crowd2.npy").unlink()
    assert _run("depth", "--data", data, "--out", tmp_path / "o", "--pred", pred) == 2
    assert "exact: no prediction of bonn/crowd2" in capsys.readouterr().err
    assert _run("depth", "--data", data, "--out", tmp_path / "o", "--pred", pred, "--datasets", "sintel,nyu") == 2
    assert "unknown depth dataset 'nyu'" in capsys.readouterr().err
    assert _run("depth", "--data", data, "--out", tmp_path / "o") == 2
    assert "give a model folder or a prediction folder" in capsys.readouterr().err
    assert _run("pose", "--data", data, "--out", tmp_path / "o", "--pred", pred) == 2
    assert "no sintel sequence with frames and ground truth" in capsys.readouterr().err
    np.save(pred / "bonn/crowd2.npy", np.zeros((3, 4, 6)))  # 3 frames for 2
    assert _run("depth", "--data", data, "--out", tmp_path / "o", "--pred", pred) == 2
    assert "exact, bonn/crowd2: predicted depth has 3 frames but ground truth has 2" in capsys.readouterr().err
