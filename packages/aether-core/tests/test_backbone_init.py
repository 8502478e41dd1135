"""Initialising the 96 -> 56 backbone from a 32 -> 16 CogVideoX-I2V transformer."""

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel

from aether.core.backbone import TINY_CONFIG, AetherBackbone
from aether.core.cli import main
from aether.core.errors import CheckpointError
from aether.core.init_from_cogvideox import expand_transformer
from aether.core.model_folder import ModelFolder
from aether.core.rope import rotary_embedding


@pytest.fixture(scope="module")
def i2v():
    torch.manual_seed(3)
    return CogVideoXTransformer3DModel(**(TINY_CONFIG | dict(in_channels=32, out_channels=16))).eval()


def _colour_inputs():
    gen = torch.Generator().manual_seed(4)
    old = torch.randn(2, 3, 32, 8, 8, generator=gen)  # noisy 0:16 + image condition 16:32
    new = torch.randn(2, 3, 96, 8, 8, generator=gen)  # depth, raymap and action channels: anything
    new[:, :, 0:16], new[:, :, 56:72] = old[:, :, :16], old[:, :, 16:]
    return old, new, torch.randn(2, 8, 32, generator=gen), torch.tensor([900, 30])


def test_expanded_colour_output_equals_original(i2v):
    expanded = expand_transformer(i2v).eval()
    old, new, prompt, timestep = _colour_inputs()
    rotary = rotary_embedding(3, 8, 8, 12.0, i2v.config)
    with torch.no_grad():
        reference = i2v(old, prompt, timestep, image_rotary_emb=rotary, return_dict=False)[0]
        out = expanded(new, prompt, timestep, image_rotary_emb=rotary, return_dict=False)[0]
    assert torch.allclose(out[:, :, :16], reference, atol=1e-5)
    assert torch.count_nonzero(out[:, :, 16:]) == 0  # new outputs start at zero
    assert torch.count_nonzero(expanded.patch_embed.proj.weight[:, 16:56]) == 0
    assert torch.count_nonzero(expanded.patch_embed.proj.weight[:, 72:]) == 0


def test_only_i2v_channel_counts_are_expanded():
    with pytest.raises(CheckpointError, match="32 input / 16 output"):
        expand_transformer(AetherBackbone.tiny().transformer)


def test_cli_init_from_diffusers_folder(i2v, tmp_path):
    src = tmp_path / "cogvideox-i2v"
    i2v.save_pretrained(src / "transformer", max_shard_size="50KB")
    (src / "vae").mkdir()
    (src / "vae" / "config.json").write_text("{}")
    assert main(["model", "init-from-cogvideox", str(src), str(tmp_path / "aether"), "--dtype", "float32"]) == 0
    folder = ModelFolder(tmp_path / "aether", require_prompt_embeds=False)
    old, new, prompt, timestep = _colour_inputs()
    backbone = AetherBackbone.from_pretrained(folder.transformer_dir).eval()
    with torch.no_grad():
        reference = i2v(old, prompt, timestep, image_rotary_emb=rotary_embedding(3, 8, 8, 12.0, i2v.config),
                        return_dict=False)[0]
        out = backbone(new, timestep, fps=12.0, prompt_embeds=prompt)
    assert torch.allclose(out[:, :, :16], reference, atol=1e-5)
    assert main(["model", "init-from-cogvideox", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
