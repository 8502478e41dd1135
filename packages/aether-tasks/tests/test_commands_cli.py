"""`aether reconstruct | predict | plan`: one-line errors on bad input, and full runs on the tiny
model folder written by diffusers (once the backbone, model folder and codecs are installed)."""

import json

import numpy as np
import torch
import pytest

from aether.core.cli import main
from aether.core.media import write_png, write_video
from aether.core.testing.tiny_model import write_tiny_model

H, W = 32, 48


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr()


def one_line_error(capsys, argv, message):
    code, out = run_cli(capsys, *argv)
    assert code == 2, out
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out.err


def frames(n, h=H, w=W, seed=0):
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, 255, (n, h // 8, w // 8, 3)), np.ones((1, 8, 8, 1))).astype(np.uint8)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_image_or_short_clip_to_reconstruct_fails_in_one_line(tmp_path, capsys, model):
    image = write_png(tmp_path / "one.png", frames(1)[0])
    one_line_error(capsys, ["reconstruct", image, "--model", model, "--out", tmp_path / "o"], "single image")
    clip = write_video(tmp_path / "seven.mp4", frames(7), 10)
    one_line_error(capsys, ["reconstruct", clip, "--model", model, "--out", tmp_path / "o"],
                   "video has 7 frames")


def test_raymap_with_a_wrong_frame_count_fails_in_one_line(tmp_path, capsys, model):
    image = write_png(tmp_path / "obs.png", frames(1)[0])
    np.save(tmp_path / "r.npy", np.zeros((10, 6, H // 8, W // 8), np.float32))
    one_line_error(capsys, ["predict", image, "--raymap", tmp_path / "r.npy", "--model", model,
                            "--out", tmp_path / "o"], "has 10 frames")
    one_line_error(capsys, ["predict", image, "--raymap", tmp_path / "r.npy", "--frames", 9, "--model", model,
                            "--out", tmp_path / "o"], "but --frames is 9")


def test_shuffled_trajectory_integer_raymap_and_infinite_scale_fail_in_one_line(tmp_path, capsys, model):
    image = write_png(tmp_path / "obs.png", frames(1)[0])
    poses = "".join(f"{t} 0 0 {0.1 * t} 0 0 0 1\n" for t in [0, 1, 3, 2, 4, 5, 6, 7, 8])
    (tmp_path / "t.txt").write_text(poses)
    one_line_error(capsys, ["predict", image, "--trajectory", tmp_path / "t.txt", "--model", model,
                            "--out", tmp_path / "o"], "timestamps must increase, but pose 4 (2 s) follows pose 3")
    np.save(tmp_path / "r.npy", np.zeros((9, 6, H // 8, W // 8), np.int64))
    one_line_error(capsys, ["predict", image, "--raymap", tmp_path / "r.npy", "--model", model,
                            "--out", tmp_path / "o"], "a raymap holds floats, got int64")
    one_line_error(capsys, ["predict", image, "--named", "forward", "--scene-depth", "inf", "--model", model,
                            "--out", tmp_path / "o"], "scene_depth")


def test_tum_trajectory_with_a_wrong_frame_count_fails_in_one_line(tmp_path, capsys, model):
    cameras = pytest.importorskip("aether.codecs.cameras")
    image = write_png(tmp_path / "obs.png", frames(1)[0])
    cameras.write_tum(tmp_path / "t.txt", np.arange(10) / 10.0, np.tile(np.eye(4), (10, 1, 1)))
    one_line_error(capsys, ["predict", image, "--trajectory", tmp_path / "t.txt", "--model", model,
                            "--out", tmp_path / "o"], "has 10 frames")


def _needs_model_stack():
    for name in ("aether.core.model_folder", "aether.core.backbone", "aether.codecs.raymap",
                 "aether.codecs.video"):
        pytest.importorskip(name)


def test_model_folder_without_vae_fails_in_one_line(tmp_path, capsys):
    _needs_model_stack()
    model = write_tiny_model(tmp_path / "novae", vae=False)
    clip = write_video(tmp_path / "clip.mp4", frames(9), 10)
    one_line_error(capsys, ["reconstruct", clip, "--model", model, "--out", tmp_path / "o"], "vae")


def check_manifest(out, num_frames, size=(H, W)):
    manifest = json.loads((out / "result.json").read_text())
    depth = np.load(out / manifest["files"]["depth"])
    assert depth.shape == (num_frames, *size) and np.isfinite(depth).all()
    trajectory = np.loadtxt(out / manifest["files"]["trajectory_tum"])
    assert trajectory.shape == (num_frames, 8)
    for name in manifest["files"].values():
        assert (out / name).is_file()
    return manifest


def test_tiny_model_runs_all_three_commands(tmp_path, capsys, model):
    _needs_model_stack()
    clip = write_video(tmp_path / "clip.mp4", frames(12), 12)  # padded to 17 inside, 12 out
    code, out = run_cli(capsys, "reconstruct", clip, "--model", model, "--out", tmp_path / "rec", "--smooth")
    assert code == 0, out.err
    check_manifest(tmp_path / "rec", 12)

    image = write_png(tmp_path / "obs.png", frames(1)[0])
    goal = write_png(tmp_path / "goal.png", frames(1, seed=1)[0])
    code, out = run_cli(capsys, "predict", image, "--named", "forward", "--steps", 3, "--model", model,
                        "--out", tmp_path / "pred")
    assert code == 0, out.err
    check_manifest(tmp_path / "pred", 9)  # the tiny model's sample_frames

    code, out = run_cli(capsys, "plan", image, goal, "--frames", 17, "--steps", 2, "--model", model,
                        "--out", tmp_path / "plan")
    assert code == 0, out.err
    check_manifest(tmp_path / "plan", 17)


def test_pipeline_puts_the_vae_in_its_dtype_and_on_its_device(model):
    """The codec is no nn.Module: loading must place its VAE itself, not leave it fp32 on the CPU."""
    from aether.tasks.pipeline import AetherPipeline

    pipe = AetherPipeline.from_pretrained(model, dtype="bf16", device="cpu")
    vae_params = list(pipe.video_codec.vae.parameters())
    assert {p.dtype for p in vae_params} == {torch.bfloat16}
    assert {p.device.type for p in vae_params} == {"cpu"}
    assert next(pipe.backbone.parameters()).dtype == torch.bfloat16


# Folders written by diffusers' own classes, each VAE configured for another size than the model's frames:
# (latent height, latent width, transformer sample_frames, VAE sample size (H, W), default clip frames).
FOLDERS = [
    # frames as large as the VAE's sample size: diffusers' tiles fail there (its tiled encode crashes, its
    # tiled decode gives 50x56 frames); the codec runs untiled
    pytest.param(4, 6, 9, (32, 48), 9, id="32x48-vae-32x48"),
    # tiles on the latent grid (strides 40 and 32 px): tiled, as the release tiles 480x720 with its VAE
    pytest.param(4, 6, 9, (96, 80), 9, id="32x48-vae-96x80"),
    # the released VAE's size, frames far below a tile; sample_frames 13 is no 8m + 1 clip: 9 by default
    pytest.param(6, 8, 13, (480, 720), 9, id="48x64-vae-480x720"),
]


@pytest.mark.parametrize("latent_height, latent_width, sample_frames, vae_sample, default_frames", FOLDERS)
def test_all_three_commands_run_on_diffusers_folders_without_size_flags(
        tmp_path, capsys, latent_height, latent_width, sample_frames, vae_sample, default_frames):
    _needs_model_stack()
    model = write_tiny_model(tmp_path / "model", latent_height, latent_width, sample_frames, vae_sample=vae_sample)
    size = (8 * latent_height, 8 * latent_width)
    clip = write_video(tmp_path / "clip.mp4", frames(9, 48, 80), 12)  # another size: resized, centre-cropped
    image = write_png(tmp_path / "obs.png", frames(1, 48, 80)[0])
    goal = write_png(tmp_path / "goal.png", frames(1, 48, 80, seed=1)[0])
    runs = {"rec": (["reconstruct", clip], 9), "pred": (["predict", image, "--steps", 1], default_frames),
            "plan": (["plan", image, goal, "--steps", 1], default_frames)}
    for out, (argv, num_frames) in runs.items():
        code, printed = run_cli(capsys, *argv, "--model", model, "--out", tmp_path / out)
        assert code == 0, printed.err
        check_manifest(tmp_path / out, num_frames, size)
