"""The release demo's cameras from the CLI: ``--cameras released`` reads the raymap with the release's heuristic,
``--smooth released`` smooths as its demo always does, on the tiny model folder; an action encoder that has no
such option is refused before the model loads."""

import json

import numpy as np
import pytest
import torch

from aether.codecs import raymap
from aether.codecs.cameras import read_tum
from aether.core.cli import main
from aether.core.media import write_video
from aether.core.testing.tiny_model import write_tiny_model
from aether.tasks.pipeline import AetherPipeline, TaskInputError
from aether.tasks.smoothing import SmoothingConfig, smooth_trajectory

H, W = 32, 48


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def reconstruct(tmp_path, model, clip, name, *options):
    assert main(["reconstruct", str(clip), "--model", str(model), "--out", str(tmp_path / name), "--steps", "2",
                 "--no-progress", *options]) == 0
    intrinsics = json.loads((tmp_path / name / "result_intrinsics.json").read_text())
    return read_tum(tmp_path / name / "result_trajectory.txt")[1], np.array(intrinsics["K"])


def test_released_cameras_and_smoothing_from_the_cli(tmp_path, model):
    rng = np.random.default_rng(0)
    clip = write_video(tmp_path / "clip.mp4", np.kron(rng.integers(0, 255, (13, H // 8, W // 8, 3)),
                                                      np.ones((1, 8, 8, 1))).astype(np.uint8), 12)
    ours, K_ours = reconstruct(tmp_path, model, clip, "ours")
    smoothed, _ = reconstruct(tmp_path, model, clip, "smoothed", "--smooth", "released")
    np.testing.assert_allclose(smoothed, smooth_trajectory(ours, SmoothingConfig(method="released")), atol=1e-6)

    released, K = reconstruct(tmp_path, model, clip, "released", "--cameras", "released")
    # the release's intrinsics: one focal, the principal point at the centre of the pixel grid
    np.testing.assert_allclose(K[:, 0, 0], K[:, 1, 1])
    np.testing.assert_allclose(K[:, :2, 2], np.tile([(W - 1) / 2, (H - 1) / 2], (len(K), 1)))
    assert not np.allclose(K, K_ours, rtol=1e-3)  # the least-squares fit of a barely trained model differs
    both, _ = reconstruct(tmp_path, model, clip, "both", "--cameras", "released", "--smooth", "released")
    np.testing.assert_allclose(both, smooth_trajectory(released, SmoothingConfig(method="released")), atol=1e-6)


def test_the_released_decode_is_the_codec_heuristic_on_the_model_output(model):
    pipe = AetherPipeline.from_pretrained(model, device="cpu",
                                          action_options={"method": "released", "shared_intrinsics": False})
    latents = torch.randn(1, 3, 56, H // 8, W // 8, generator=torch.Generator().manual_seed(1))
    geometry = pipe.decode_geometry(latents)
    c2w, K = raymap.decode(raymap.unpack(latents[:, :, 32:]).double(), H, W, method="released")
    np.testing.assert_allclose(geometry["c2w"], np.linalg.inv(c2w[0, 0].numpy()) @ c2w[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(geometry["K"], K[0].numpy(), rtol=1e-6)


def test_an_action_encoder_without_the_option_is_refused_before_loading(model):
    with pytest.raises(TaskInputError, match="action encoder 'raymap' takes no option fit"):
        AetherPipeline.from_pretrained(model, device="cpu", action_options={"fit": "released"})
