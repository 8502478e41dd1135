import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from aether.core.cli import main
from aether.core.media import read_video, write_video
from aether.tasks.evaluation.metrics import depth_metrics, pose_metrics, video_metrics


def test_eval_depth_prints_table_and_writes_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 90, (3, 8, 8))
    pred = 0.5 * gt + rng.normal(0, 0.5, gt.shape)
    np.save(tmp_path / "pred.npy", pred)
    np.save(tmp_path / "gt.npy", gt)
    out = tmp_path / "m" / "depth.json"
    code = main(["eval", "depth", str(tmp_path / "pred.npy"), str(tmp_path / "gt.npy"),
                 "--align", "scale-shift", "--max-depth", "70", "--out", str(out)])
    assert code == 0
    expected = depth_metrics(pred, gt, align="scale-shift", max_depth=70)
    written = json.loads(out.read_text())
    assert written["what"] == "depth"
    assert {k: written[k] for k in expected} == pytest.approx(expected)
    table = capsys.readouterr().out
    assert ["abs_rel", f"{expected['abs_rel']:.6g}"] in [line.split() for line in table.splitlines()]


def test_eval_video_matches_metrics_on_decoded_frames(tmp_path):
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 255, (3, 32, 48, 3), dtype=np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-20, 20, gt.shape), 0, 255).astype(np.uint8)
    write_video(tmp_path / "pred.mp4", pred, fps=8)
    write_video(tmp_path / "gt.mp4", gt, fps=8)
    out = tmp_path / "video.json"
    assert main(["eval", "video", str(tmp_path / "pred.mp4"), str(tmp_path / "gt.mp4"),
                 "--out", str(out)]) == 0
    expected = video_metrics(read_video(tmp_path / "pred.mp4")[0], read_video(tmp_path / "gt.mp4")[0])
    written = json.loads(out.read_text())
    assert written["psnr"] == pytest.approx(expected["psnr"])
    assert written["ssim"] == pytest.approx(expected["ssim"])
    assert written["ms_ssim"] is None and written["notes"] == expected["notes"]


def _write_tum(path, c2w):
    quat = Rotation.from_matrix(c2w[:, :3, :3]).as_quat()  # x y z w, TUM's order
    rows = [f"{i:.6f} " + " ".join(f"{v:.12f}" for v in (*c2w[i, :3, 3], *quat[i])) for i in range(len(c2w))]
    path.write_text("\n".join(rows) + "\n")


def test_eval_pose_reads_tum_files(tmp_path):
    pytest.importorskip("aether.codecs.cameras")
    pytest.importorskip("aether.codecs.trajectory")
    rng = np.random.default_rng(2)
    gt = np.tile(np.eye(4), (12, 1, 1))
    gt[:, :3, :3] = Rotation.from_rotvec(np.cumsum(rng.normal(0, 0.1, (12, 3)), 0)).as_matrix()
    gt[:, :3, 3] = np.cumsum(rng.normal(0, 0.3, (12, 3)), 0)
    est = gt.copy()
    est[:, :3, 3] = 3.0 * gt[:, :3, 3] + rng.normal(0, 0.05, (12, 3))
    _write_tum(tmp_path / "est.txt", est)
    _write_tum(tmp_path / "gt.txt", gt)
    out = tmp_path / "pose.json"
    assert main(["eval", "pose", str(tmp_path / "est.txt"), str(tmp_path / "gt.txt"), "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    expected = pose_metrics(est, gt)
    assert {k: written[k] for k in expected} == pytest.approx(expected, abs=1e-8)


def test_eval_bad_input_is_one_line_error(tmp_path, capsys):
    np.save(tmp_path / "pred.npy", np.ones((2, 4, 4)))
    np.save(tmp_path / "gt.npy", np.ones((3, 4, 4)))
    assert main(["eval", "depth", str(tmp_path / "pred.npy"), str(tmp_path / "gt.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 frames but ground truth has 3" in err
    assert main(["eval", "depth", str(tmp_path / "missing.npy"), str(tmp_path / "gt.npy")]) == 2
    assert "missing.npy: no such file" in capsys.readouterr().err
