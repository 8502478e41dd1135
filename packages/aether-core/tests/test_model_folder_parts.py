"""The model folder is read in one place: configs, prompt embedding, and every part built by the registry."""

import json

import pytest
import torch
from diffusers import CogVideoXDPMScheduler

from aether.core.backbone import AetherBackbone
from aether.core.errors import CheckpointError
from aether.core.hookspecs import hookimpl
from aether.core.model_folder import ModelFolder, write_model_folder
from aether.core.registry import Registry
from aether.core.specs import ModalitySpec, PluginSpec


@pytest.fixture(scope="module")
def backbone():
    return AetherBackbone.tiny().eval()


@pytest.fixture()
def folder(tmp_path, backbone):
    return write_model_folder(tmp_path / "model", backbone, settings={"video_codec": "pixel", "backbone": "rec"})


def _recording_registry(calls: list):
    """Backbone ``rec`` and video codecs ``pixel`` / ``cogvideox`` that record the options they are built with."""
    class Plugin:
        @staticmethod
        @hookimpl
        def aether_backbones():
            return [PluginSpec(name="rec", summary="x", build=lambda **o: calls.append(("backbone", o)))]

        @staticmethod
        @hookimpl
        def aether_modalities():
            return [ModalitySpec(name=name, role="video", summary="x",
                                 build=lambda name=name, **o: calls.append((name, o)))
                    for name in ("pixel", "cogvideox")]

    registry = Registry()
    registry.register(Plugin())
    return registry


def test_scheduler_config_is_the_saved_one(folder):
    assert ModelFolder(folder).scheduler_config() == dict(CogVideoXDPMScheduler.load_config(folder / "scheduler"))


def test_sample_size_is_checked(folder, backbone):
    assert ModelFolder(folder).sample_size() == (backbone.config.sample_height, backbone.config.sample_width)
    config_path = folder / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "sample_height": 7}))
    with pytest.raises(CheckpointError, match="sample size 7x16 latents is not a multiple of the patch size 2"):
        ModelFolder(folder).sample_size()
    del config["sample_width"]
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="config.json lacks sample_width"):
        ModelFolder(folder).sample_size()


def test_parts_are_built_through_the_registry_with_the_folders_files(folder, tmp_path, backbone):
    calls = []
    registry = _recording_registry(calls)
    model = ModelFolder(folder)
    model.build_backbone(registry, torch.bfloat16)
    model.build_video_codec(registry, torch.bfloat16, torch.device("cpu"))
    assert calls == [("backbone", {"path": folder / "transformer", "dtype": torch.bfloat16}), ("pixel", {})]

    vae = tmp_path / "vae_src"
    vae.mkdir()
    (vae / "config.json").write_text("{}")
    with_vae = ModelFolder(write_model_folder(tmp_path / "with-vae", backbone, vae_dir=vae))
    calls.clear()
    with_vae.build_video_codec(registry, torch.float16, torch.device("cpu"))
    assert calls == [("cogvideox", {"vae_dir": with_vae.vae_dir, "dtype": torch.float16,
                                    "device": torch.device("cpu")})]


def test_the_prompt_embedding_is_read_by_the_folder_only(folder, backbone):
    bare = AetherBackbone.from_pretrained(folder / "transformer")
    assert bare.prompt_embeds is None  # the file next to transformer/ is the folder's to read
    assert torch.equal(ModelFolder(folder).load_backbone().prompt_embeds, backbone.prompt_embeds)
