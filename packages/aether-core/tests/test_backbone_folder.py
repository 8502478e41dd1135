"""Model folders: validation messages, atomic export, settings, scheduler defaults, `aether model`."""

import json

import pytest
import torch
from diffusers import CogVideoXDPMScheduler

from aether.core.backbone import AetherBackbone
from aether.core.cli import main
from aether.core.errors import CheckpointError
from aether.core.model_folder import (ModelFolder, ModelSettings, default_scheduler_config, write_model_folder,
                                      write_prompt_embeds)


@pytest.fixture(scope="module")
def backbone():
    return AetherBackbone.tiny().eval()


@pytest.fixture()
def folder(tmp_path, backbone):
    """An exported folder with a stand-in vae/ (only its config.json is checked here)."""
    vae = tmp_path / "vae_src"
    vae.mkdir()
    (vae / "config.json").write_text("{}")
    return write_model_folder(tmp_path / "model", backbone, vae_dir=vae)


def test_export_round_trip(folder, backbone):
    loaded = ModelFolder(folder)
    assert loaded.settings == ModelSettings()
    assert torch.equal(loaded.prompt_embeds(), backbone.prompt_embeds)
    restored = loaded.load_backbone().eval()
    latent = torch.randn(1, 2, 96, 8, 8)
    with torch.no_grad():
        assert torch.equal(restored(latent, 5), backbone(latent, 5))
    assert not [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_default_scheduler_is_cogvideox_5b_i2v(folder):
    scheduler = ModelFolder(folder).load_scheduler()
    assert isinstance(scheduler, CogVideoXDPMScheduler)
    for key, value in default_scheduler_config().items():
        assert scheduler.config[key] == value
    assert scheduler.config.prediction_type == "v_prediction" and scheduler.config.timestep_spacing == "trailing"


def test_existing_destination_needs_overwrite(folder, backbone):
    with pytest.raises(ValueError, match="already exists"):
        write_model_folder(folder, backbone)
    write_model_folder(folder, backbone, settings={"video_codec": "pixel"}, overwrite=True)
    assert ModelFolder(folder).settings.video_codec == "pixel"
    assert not (folder / "vae").exists()


@pytest.mark.parametrize("remove, message", [
    ("vae", "no vae/ folder; copy CogVideoX-5b-I2V's vae/"),
    ("scheduler/scheduler_config.json", "no scheduler/scheduler_config.json"),
    ("transformer", "no transformer/ folder"),
    ("empty_prompt_embeds.safetensors", "embed-prompt"),
])
def test_missing_parts_are_named(folder, remove, message):
    import shutil

    target = folder / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(CheckpointError, match=message):
        ModelFolder(folder)


def test_bad_settings_and_prompt_file(folder):
    (folder / "aether.json").write_text(json.dumps({"video_codek": "pixel"}))
    with pytest.raises(CheckpointError, match="video_codek"):
        ModelFolder(folder)
    (folder / "aether.json").write_text("{}")
    (folder / "empty_prompt_embeds.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        ModelFolder(folder).prompt_embeds()
    with pytest.raises(ValueError, match=r"\(1, L, D\)"):
        write_prompt_embeds(folder, torch.zeros(2, 3))


def test_cli_info_and_embed_prompt(folder, capsys):
    assert main(["model", "info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["transformer"]["in_channels"] == 96 and info["prompt_embeds"] == [1, 8, 32]
    assert info["scheduler"] == "CogVideoXDPMScheduler"
    (folder / "empty_prompt_embeds.safetensors").unlink()
    assert main(["model", "embed-prompt", str(folder)]) == 2  # no T5 here: a clear error
    assert "empty_prompt_embeds.safetensors" in capsys.readouterr().err
