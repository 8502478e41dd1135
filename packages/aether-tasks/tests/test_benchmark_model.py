"""``aether benchmark`` end to end with the tiny diffusers-built model on fake datasets in each layout:
predictions at the release's cover size (spatial windows where a side is longer), the table, and resuming
after an interruption without recomputing finished sequences."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aether.core.cli import main
from aether.core.testing.tiny_model import write_tiny_model
from aether.tasks.evaluation import benchmark_inference

FAST = ["--dtype", "fp32", "--no-progress"]  # the model is 32 x 48 pixels; 9-frame clips are one window


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model"))


def test_depth_benchmark_runs_the_model_and_resumes_after_an_interruption(fakes, tmp_path, model, monkeypatch):
    data, out = tmp_path / "data", tmp_path / "out"
    rng = np.random.default_rng(0)
    sintel_gt = rng.uniform(1, 90, (9, 20, 40)).astype(np.float32)  # aspect 2: covers 32 x 64, two windows
    fakes.write_sintel_depth(data, "alley_2", fakes.frames(9, 20, 40, 0), sintel_gt)
    bonn_png = rng.integers(0, 30000, (9, 64, 96))  # twice the model size: resized down, one window; 0 = invalid
    fakes.write_bonn(data, "balloon2", fakes.frames(9, 64, 96, 1), bonn_png)
    fakes.write_kitti(data, "drive_0002", fakes.frames(9, 32, 48, 2), rng.integers(0, 5000, (9, 32, 48)))

    calls, interrupted = [], []
    real = benchmark_inference.reconstruct_sequence

    def interrupted_on_second(*args, **kwargs):
        calls.append(args[1].shape)
        if len(calls) == 2 and not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(benchmark_inference, "reconstruct_sequence", interrupted_on_second)
    argv = ["benchmark", "depth", "--data", str(data), "--out", str(out), "--model", str(model), *FAST]
    assert main(argv) == 130
    predictions = out / "depth/predictions"
    finished = predictions / "sintel/alley_2/result.json"
    assert finished.is_file() and not (predictions / "bonn/balloon2/result.json").exists()
    assert not (out / "depth/benchmark.md").exists()
    stamp = finished.stat().st_mtime_ns

    calls.clear()
    assert main(argv) == 0
    assert calls == [(9, 64, 96, 3), (9, 32, 48, 3)]  # Bonn and KITTI only
    assert finished.stat().st_mtime_ns == stamp
    assert np.load(predictions / "sintel/alley_2/result_depth.npy").shape == (9, 32, 64)
    assert np.load(predictions / "bonn/balloon2/result_depth.npy").shape == (9, 32, 48)
    report = json.loads((out / "depth/benchmark.json").read_text())
    assert report["settings"]["inference"] | {"model": None} == {
        "model": None, "window": 41, "stride": 8, "steps": 4, "guidance": 1.0, "seed": 3407, "fps": 12.0,
        "dtype": "fp32", "depth_clip": 100.0}
    rows = report["methods"]["aether"]
    assert rows["sintel"]["sequences"]["alley_2"]["valid_pixels"] == int((sintel_gt < 70).sum())
    assert rows["bonn"]["sequences"]["balloon2"]["valid_pixels"] == int((bonn_png > 0).sum())
    assert rows["kitti"]["sequences"]["drive_0002"]["valid_pixels"] > 0
    for dataset in rows.values():
        assert dataset["mean"]["abs_rel"] >= 0 and 0 <= dataset["mean"]["delta_1"] <= 1
    assert (out / "depth/benchmark.md").read_text().splitlines()[2].startswith("| aether | ")

    calls.clear()  # finished: nothing recomputed, and other inference settings are refused
    assert main(argv) == 0 and calls == []
    assert main([*argv, "--steps", "2"]) == 2


def test_pose_benchmark_puts_the_model_next_to_other_predictions(fakes, tmp_path, model, capsys):
    data, out, exact = tmp_path / "data", tmp_path / "out", tmp_path / "exact"
    gts = {"sintel": ("alley_2", fakes.trajectory(9, 0), fakes.write_sintel_cameras),
           "tum": ("rgbd_dataset_freiburg3_walking_xyz", fakes.trajectory(9, 1), fakes.write_tum_sequence),
           "scannet": ("scene0707_00", fakes.trajectory(9, 2), fakes.write_scannet)}
    for i, (dataset, (seq, c2w, write)) in enumerate(gts.items()):
        write(data, seq, fakes.frames(9, 32, 48, i), c2w)
        (exact / dataset).mkdir(parents=True)
        np.save(exact / dataset / f"{seq}.npy", fakes.similar(c2w, 2.0, i))
    argv = ["benchmark", "pose", "--data", str(data), "--out", str(out), "--model", str(model),
            "--pred", f"exact={exact}", *FAST]
    assert main(argv) == 0
    report = json.loads((out / "pose/benchmark.json").read_text())
    assert report["settings"]["inference"]["stride"] == 32
    for dataset, (seq, c2w, _) in gts.items():
        assert report["methods"]["exact"][dataset]["mean"]["ate"] == pytest.approx(0, abs=1e-9)
        model_row = report["methods"]["aether"][dataset]["sequences"][seq]
        assert np.isfinite(model_row["ate"]) and model_row["ate"] >= 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| Method | Sintel ATE ↓")
    assert [line.split(" | ")[0] for line in lines[2:4]] == ["| aether", "| exact"]
