"""Regressions from fuzzing `aether model` (init-from-cogvideox, embed-prompt) and `aether eval video`: each
damaged input ends in one `error:` line with status 2, or in the right numbers and notes."""

import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import CogVideoXTransformer3DModel
from safetensors.torch import load_file, save_file

from aether.core.cli import main
from aether.core.testing.tiny_model import TEXT_DIM, TEXT_LEN, tiny_vae, write_tiny_model
from aether.tasks.evaluation.metrics import video_metrics


def _error(capsys) -> str:
    """The one ``error:`` line, last on stderr (transformers may draw progress bars before it)."""
    err = capsys.readouterr().err
    errors = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.endswith(errors[0] + "\n"), err
    return errors[0]


@pytest.fixture(scope="module")
def cogvideox(tmp_path_factory) -> Path:
    """A tiny CogVideoX-I2V folder: a 32 -> 16 channel transformer and a VAE."""
    src = tmp_path_factory.mktemp("cog") / "CogVideoX"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        CogVideoXTransformer3DModel(
            num_attention_heads=2, attention_head_dim=16, in_channels=32, out_channels=16, time_embed_dim=8,
            text_embed_dim=TEXT_DIM, num_layers=1, sample_height=4, sample_width=6, sample_frames=9,
            use_rotary_positional_embeddings=True, max_text_seq_length=TEXT_LEN).save_pretrained(src / "transformer")
        tiny_vae().save_pretrained(src / "vae")
    return src


def _copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / "CogVideoX"))


def test_init_into_an_existing_folder_is_an_error_not_a_traceback(cogvideox, tmp_path, capsys):
    dst = tmp_path / "model"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    assert main(["model", "init-from-cogvideox", str(cogvideox), str(dst)]) == 2
    assert f"{dst} already exists; choose another destination or pass --overwrite" in _error(capsys)
    assert [p.name for p in dst.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_init_overlapping_the_source_keeps_the_source(cogvideox, tmp_path, capsys, where):
    src = _copy(cogvideox, tmp_path)
    args = {"same": (src, src), "inside": (src, src / "transformer"), "parent": (src / "transformer", src)}[where]
    assert main(["model", "init-from-cogvideox", str(args[0]), str(args[1]), "--overwrite"]) == 2
    assert "overlaps the source" in _error(capsys)
    assert sorted(p.name for p in src.iterdir()) == ["transformer", "vae"]
    assert sorted(p.name for p in (src / "transformer").iterdir()) == ["config.json",
                                                                       "diffusion_pytorch_model.safetensors"]


def test_init_over_a_file_keeps_it_and_leaves_no_temporaries(cogvideox, tmp_path, capsys):
    dst = tmp_path / "model"
    dst.write_text("not a model")
    assert main(["model", "init-from-cogvideox", str(cogvideox), str(dst), "--overwrite"]) == 2
    assert f"{dst} is a file, not a model folder" in _error(capsys)
    assert dst.read_text() == "not a model" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_init_with_a_huge_layer_count_fails_at_once(cogvideox, tmp_path, capsys):
    src = _copy(cogvideox, tmp_path)
    config_path = src / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["num_layers"] = 10**9  # used to hang building a billion-layer model
    config_path.write_text(json.dumps(config))
    assert main(["model", "init-from-cogvideox", str(src), str(tmp_path / "model")]) == 2
    assert "num_layers must be a whole number from 1 to 1024, not 1000000000" in _error(capsys)


def test_init_refuses_a_damaged_vae_instead_of_copying_it(cogvideox, tmp_path, capsys):
    src = _copy(cogvideox, tmp_path)
    (src / "vae" / "config.json").unlink()
    assert main(["model", "init-from-cogvideox", str(src), str(tmp_path / "model")]) == 2
    assert f"{src / 'vae'} has no config.json" in _error(capsys)
    assert not (tmp_path / "model").exists()


def test_init_refuses_an_embedding_the_result_could_not_use(cogvideox, tmp_path, capsys):
    src = _copy(cogvideox, tmp_path)
    save_file({"prompt_embeds": torch.zeros(1, TEXT_LEN, 7)}, src / "empty_prompt_embeds.safetensors")
    assert main(["model", "init-from-cogvideox", str(src), str(tmp_path / "model")]) == 2
    assert f"holds embeddings of shape (1, {TEXT_LEN}, 7) but the transformer needs (1, {TEXT_LEN}, {TEXT_DIM})" \
        in _error(capsys)
    assert not (tmp_path / "model").exists()


def test_init_from_a_bare_transformer_says_vae_and_embedding_are_missing(cogvideox, tmp_path, capsys):
    dst = tmp_path / "model"
    assert main(["model", "init-from-cogvideox", str(cogvideox / "transformer"), str(dst), "--dtype", "fp32"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"wrote {dst}",
                   f"note: {cogvideox / 'transformer'} has no vae/; copy CogVideoX-5b-I2V's vae/ into {dst} before "
                   "using it",
                   f"note: {dst} has no empty_prompt_embeds.safetensors; run `aether model embed-prompt {dst} --t5 "
                   "CogVideoX-5b-I2V` or copy the file in"]


def _t5(path: Path, width: int) -> Path:
    """A tiny T5 folder (tokenizer/, text_encoder/) whose embeddings are ``width`` wide."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models

    with torch.random.fork_rng():
        torch.manual_seed(0)
        config = transformers.T5Config(vocab_size=32, d_model=width, d_ff=8, num_layers=1, num_heads=2, d_kv=4)
        transformers.T5EncoderModel(config).save_pretrained(path / "text_encoder")
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(chr(97 + i), -1.0) for i in range(26)]
    transformers.T5Tokenizer(tokenizer_object=Tokenizer(models.Unigram(vocab, unk_id=2)),
                             extra_ids=0).save_pretrained(path / "tokenizer")
    return path


def _model_without_embedding(tmp_path: Path) -> Path:
    model = write_tiny_model(tmp_path / "model")
    (model / "empty_prompt_embeds.safetensors").unlink()
    return model


def test_embed_prompt_with_a_null_max_text_seq_length_uses_226(tmp_path, capsys):
    t5 = _t5(tmp_path / "t5", TEXT_DIM)
    model = _model_without_embedding(tmp_path)
    config_path = model / "transformer" / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "max_text_seq_length": None}))
    assert main(["model", "embed-prompt", str(model), "--t5", str(t5)]) == 0  # was a TypeError traceback
    assert load_file(model / "empty_prompt_embeds.safetensors")["prompt_embeds"].shape == (1, 226, TEXT_DIM)


def test_embed_prompt_refuses_a_t5_of_another_width(tmp_path, capsys):
    t5 = _t5(tmp_path / "t5", 12)
    model = _model_without_embedding(tmp_path)
    assert main(["model", "embed-prompt", str(model), "--t5", str(t5)]) == 2
    assert f"gives embeddings of width 12 but {model / 'transformer' / 'config.json'} has text_embed_dim " \
           f"{TEXT_DIM}" in _error(capsys)
    assert not (model / "empty_prompt_embeds.safetensors").exists()


@pytest.mark.parametrize("damage", ["tokenizer", "text_encoder"])
def test_embed_prompt_with_damaged_t5_files_is_one_line(tmp_path, capsys, damage):
    t5 = _t5(tmp_path / "t5", TEXT_DIM)
    broken = {"tokenizer": t5 / "tokenizer" / "tokenizer.json", "text_encoder": t5 / "text_encoder" / "model.safetensors"}
    broken[damage].write_bytes(broken[damage].read_bytes()[:40])
    model = _model_without_embedding(tmp_path)
    assert main(["model", "embed-prompt", str(model), "--t5", str(t5)]) == 2
    assert f"cannot load T5 from {t5}/tokenizer and text_encoder" in _error(capsys)
    assert not (model / "empty_prompt_embeds.safetensors").exists()


def _frames(folder: Path, video: np.ndarray) -> Path:
    import cv2

    folder.mkdir()
    for i, frame in enumerate(video):
        cv2.imwrite(str(folder / f"{i:03d}.png"), frame[..., ::-1])
    return folder


def test_identical_videos_write_strict_json(tmp_path, capsys):
    video = np.random.default_rng(3).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    pred, gt = _frames(tmp_path / "pred", video), _frames(tmp_path / "gt", video)
    out = tmp_path / "video.json"
    assert main(["eval", "video", str(pred), str(gt), "--out", str(out)]) == 0
    assert ["psnr", "inf"] in [line.split() for line in capsys.readouterr().out.splitlines()]

    def no_constants(name):
        raise AssertionError(f"{name} is not JSON")

    written = json.loads(out.read_text(), parse_constant=no_constants)  # used to hold Infinity
    assert written["psnr"] is None and written["ssim"] == 1.0
    assert "PSNR is infinite: 2 of 2 frames equal the ground truth exactly" in written["notes"]
    assert "psnr is inf and is written as null" in written["notes"]


@pytest.mark.parametrize("side", [1, 10])
def test_ssim_of_frames_smaller_than_its_window_is_skipped(side):
    rng = np.random.default_rng(side)
    pred, gt = (rng.integers(0, 256, (2, side, side, 3), dtype=np.uint8) for _ in range(2))
    result = video_metrics(pred, gt)  # 1 px was a ValueError, 10 px an SSIM without its window
    mse = ((pred.astype(float) - gt.astype(float)) ** 2).mean(axis=(1, 2, 3))
    assert result["psnr"] == pytest.approx(np.mean(10 * np.log10(255.0 ** 2 / mse)))
    assert result["ssim"] is None
    assert "SSIM skipped: frames must be at least 11 px on each side (its window)" in result["notes"]


def test_lpips_of_frames_too_small_for_alexnet_is_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", types.ModuleType("lpips"))  # installed, but must not be run
    video = np.random.default_rng(4).integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    result = video_metrics(video, video[:, ::-1])  # a flipped view: torch refused its negative strides
    assert result["lpips"] is None
    assert "LPIPS skipped: frames must be at least 31 px on each side" in result["notes"]


def test_out_onto_an_input_is_refused(tmp_path, capsys):
    video = np.random.default_rng(5).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    pred, gt = _frames(tmp_path / "pred", video), _frames(tmp_path / "gt", video[:, ::-1])
    before = sorted(p.name for p in gt.iterdir())
    for out in (gt / "metrics.json", gt / "000.png"):
        assert main(["eval", "video", str(pred), str(gt), "--out", str(out)]) == 2
        assert f"--out {out} would overwrite the input {gt}" in _error(capsys)
    assert sorted(p.name for p in gt.iterdir()) == before


def test_videos_of_different_frame_rates_get_a_note(tmp_path, capsys):
    from aether.core.media import write_video

    video = np.random.default_rng(6).integers(0, 256, (3, 32, 48, 3), dtype=np.uint8)
    write_video(tmp_path / "pred.mp4", video, fps=8)
    write_video(tmp_path / "gt.mp4", video, fps=12)
    assert main(["eval", "video", str(tmp_path / "pred.mp4"), str(tmp_path / "gt.mp4")]) == 0
    assert "note: the predicted video is 8 fps but the ground truth 12 fps; frames were compared by index" \
        in capsys.readouterr().out.splitlines()
