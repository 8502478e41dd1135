"""Metric scale on a synthetic clip with known cameras and metric depth.

A perfect model stands in for the network: its outputs are the clip's own geometry passed through the
depth and raymap codecs the way training encodes it (normalised by the clip's p_max) and decoded the way
the pipeline decodes it (p_max unknown). `--scene-depth`, `--known-baseline` and `--known-depth` must
bring those relative outputs back to the clip's metres within 1 %, and `--scene-depth` must encode an
action exactly as training encoded that clip's cameras."""

import json

import numpy as np
import pytest
import torch

from aether.codecs import depth as depth_codec
from aether.codecs import raymap
from aether.codecs.cameras import relative_to_first, write_tum
from aether.core.cli import main
from aether.core.errors import AetherError
from aether.core.media import write_png, write_video
from aether.core.testing.tiny_model import write_tiny_model
from aether.tasks.pipeline import AetherPipeline
from aether.tasks.result import TaskResult, disparity_from_depth

synthetic = pytest.importorskip("aether.annotate.synthetic")
H, W, F = 32, 48, 9  # the tiny model's size and frames


@pytest.fixture(scope="module")
def clip():
    """Metric ground truth: depth (F, H, W) metres, c2w (F, 4, 4) first = identity, K, p_max, rgb."""
    c = synthetic.render_clip(synthetic.SceneConfig(seed=1, motion="forward", dynamic_objects=0),
                              synthetic.RenderConfig(height=H, width=W, frames=F, fov_deg=60, principal_jitter=0))
    depth = c.depth.astype(np.float64)
    return {"rgb": c.rgb, "depth": depth, "c2w": relative_to_first(c.c2w.astype(np.float64)),
            "K": c.K.astype(np.float64), "p_max": float(1 / depth.min())}


def perfect_model(clip) -> TaskResult:
    """The clip's geometry as the model would output it: relative units (the nearest depth)."""
    video, p_max = depth_codec.encode(torch.from_numpy(clip["depth"]))
    relative_depth = depth_codec.decode(video).numpy()
    rays = raymap.encode(torch.from_numpy(clip["c2w"]), torch.from_numpy(clip["K"]), H, W, p_max)
    c2w, K = raymap.decode(rays, H, W)
    return TaskResult(rgb=clip["rgb"], depth=relative_depth, disparity=disparity_from_depth(relative_depth),
                      c2w=c2w.numpy(), K=K.numpy(), fps=12.0, task="reconstruction")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def written(out):
    manifest = json.loads((out / "result.json").read_text())
    from aether.codecs.cameras import read_tum

    return np.load(out / manifest["files"]["depth"]), read_tum(out / manifest["files"]["trajectory_tum"])[1]


def assert_metric(out, clip):
    depth, c2w = written(out)
    assert np.abs(depth / clip["depth"] - 1).max() < 0.01
    moved = np.linalg.norm(clip["c2w"][:, :3, 3], axis=1).max()
    assert np.abs(c2w[:, :3, 3] - clip["c2w"][:, :3, 3]).max() < 0.01 * moved


@pytest.mark.parametrize("option", ["baseline", "depth"])
def test_reconstruct_known_baseline_or_depth_restores_metres(tmp_path, capsys, monkeypatch, model, clip, option):
    monkeypatch.setattr(AetherPipeline, "reconstruct", lambda self, frames, **kw: perfect_model(clip))
    video = write_video(tmp_path / "clip.mp4", clip["rgb"], 12)
    if option == "baseline":
        distance = float(np.linalg.norm(clip["c2w"][8, :3, 3] - clip["c2w"][0, :3, 3]))
        flags = ["--known-baseline", "0", "8", repr(distance)]
    else:  # the depth of frame 4 at twice the resolution, as a depth sensor beside the camera would give it
        np.save(tmp_path / "depth4.npy", np.kron(clip["depth"][4], np.ones((2, 2))).astype(np.float32))
        flags = ["--known-depth", "4", str(tmp_path / "depth4.npy")]
    code = main(["reconstruct", str(video), "--model", str(model), "--out", str(tmp_path / "o"), *flags])
    assert code == 0, capsys.readouterr().err
    assert "metric scale: 1 model unit (the nearest depth) = " in capsys.readouterr().err
    assert_metric(tmp_path / "o", clip)


def test_predict_scene_depth_scales_the_action_as_training_did_and_returns_metres(tmp_path, capsys, monkeypatch,
                                                                                  model, clip):
    seen = {}

    def predict(self, image, action=None, **kw):
        seen["action"] = action
        return perfect_model(clip)

    monkeypatch.setattr(AetherPipeline, "predict", predict)
    write_tum(tmp_path / "metric.txt", np.arange(F) / 12, clip["c2w"])
    image = write_png(tmp_path / "obs.png", clip["rgb"][0])
    code = main(["predict", str(image), "--trajectory", str(tmp_path / "metric.txt"), "--scene-depth",
                 repr(1 / clip["p_max"]), "--model", str(model), "--out", str(tmp_path / "o")])
    assert code == 0, capsys.readouterr().err
    # training's action for this clip: its metric cameras times its own p_max; the origins (channels 3-5 of
    # each of the 4 packed frames) carry the scale, the directions the (here 60 degree) intrinsics
    trained = raymap.encode_packed(torch.from_numpy(clip["c2w"])[None], torch.from_numpy(clip["K"])[None], H, W,
                                   clip["p_max"])
    origins = [c for n in range(4) for c in range(6 * n + 3, 6 * n + 6)]
    torch.testing.assert_close(seen["action"][:, :, origins].double(), trained[:, :, origins], atol=1e-5, rtol=0)
    assert_metric(tmp_path / "o", clip)


def test_predict_warns_before_sampling_when_the_motion_will_not_show(tmp_path, capsys, monkeypatch, model):
    def sample(self, *args, **kwargs):
        raise AetherError("sampling started")

    monkeypatch.setattr(AetherPipeline, "sample", sample)
    c2w = np.tile(np.eye(4), (F, 1, 1))
    c2w[:, 2, 3] = np.arange(F) * 0.001  # millimetre steps with the nearest wall 3 m away
    write_tum(tmp_path / "slow.txt", np.arange(F) / 12, c2w)
    image = write_png(tmp_path / "obs.png", np.zeros((H, W, 3), np.uint8))
    code = main(["predict", str(image), "--trajectory", str(tmp_path / "slow.txt"), "--scene-depth", "3",
                 "--model", str(model), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1] == "error: sampling started"
    assert any(line.startswith("warning: the camera motion is too small to show") for line in err[:-1])

