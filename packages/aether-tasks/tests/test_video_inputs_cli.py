"""Inputs as people have them, through the CLI: `aether reconstruct` on a plain folder of frames and
`aether predict` on a 16-bit gray PNG (on the tiny model folder), `aether eval video` on frame folders;
every image written by OpenCV."""

import json

import numpy as np
import pytest

from aether.core.cli import main
from aether.core.testing.tiny_model import write_tiny_model

cv2 = pytest.importorskip("cv2")

H, W = 32, 48


def frames(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, 255, (n, H // 8, W // 8, 3)), np.ones((1, 8, 8, 1))).astype(np.uint8)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    for name in ("aether.core.model_folder", "aether.core.backbone", "aether.codecs.raymap", "aether.codecs.video"):
        pytest.importorskip(name)
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr()


def manifest(out):
    return json.loads((out / "result.json").read_text())


def test_reconstruct_a_frame_folder_at_the_default_or_given_fps(tmp_path, capsys, model):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames(9), start=1):
        assert cv2.imwrite(str(folder / f"{i:06d}.png"), frame[..., ::-1])

    code, out = run_cli(capsys, "reconstruct", folder, "--model", model, "--out", tmp_path / "rec")
    assert code == 0, out.err
    assert f"note: {folder} states no frame rate; using the default 12 fps (set --fps)" in out.err
    result = manifest(tmp_path / "rec")
    assert result["fps"] == 12.0 and np.load(tmp_path / "rec" / result["files"]["depth"]).shape == (9, H, W)

    code, out = run_cli(capsys, "reconstruct", folder, "--fps", 8, "--model", model, "--out", tmp_path / "rec8")
    assert code == 0, out.err
    assert "note:" not in out.err and manifest(tmp_path / "rec8")["fps"] == 8.0


def test_predict_from_a_16_bit_gray_png(tmp_path, capsys, model):
    assert cv2.imwrite(str(tmp_path / "obs.png"), frames(1)[0, ..., 0].astype(np.uint16) * 257)
    code, out = run_cli(capsys, "predict", tmp_path / "obs.png", "--steps", 1, "--model", model,
                        "--out", tmp_path / "pred")
    assert code == 0, out.err
    assert manifest(tmp_path / "pred")["task"] == "prediction"


def test_eval_video_takes_a_frame_folder(tmp_path):
    from aether.tasks.evaluation.metrics import video_metrics

    gt = frames(3)
    pred = np.clip(gt.astype(int) + np.random.default_rng(2).integers(-20, 20, gt.shape), 0, 255).astype(np.uint8)
    for name, video in (("pred", pred), ("gt", gt)):
        (tmp_path / name).mkdir()
        for i, frame in enumerate(video):
            assert cv2.imwrite(str(tmp_path / name / f"frame_{i}.png"), frame[..., ::-1])
    assert main(["eval", "video", str(tmp_path / "pred"), str(tmp_path / "gt"), "--out", str(tmp_path / "v.json")]) == 0
    written, expected = json.loads((tmp_path / "v.json").read_text()), video_metrics(pred, gt)
    assert written["psnr"] == pytest.approx(expected["psnr"]) and written["ssim"] == pytest.approx(expected["ssim"])
