"""The cogvideox backbone: diffusers-saved folders load and match diffusers' own forward bit for bit."""

import sys
import types

import pytest
import torch
import torch.nn.functional as F
from diffusers import CogVideoXTransformer3DModel
from diffusers.models.attention_processor import CogVideoXAttnProcessor2_0
from diffusers.models.embeddings import get_3d_rotary_pos_embed

from aether.core import attention
from aether.core.backbone import TINY_CONFIG, AetherBackbone
from aether.core.errors import CheckpointError, PluginError
from aether.core.registry import default_registry
from aether.core.rope import resize_crop_region


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny 96 -> 56 transformer written by diffusers itself, plain and sharded."""
    torch.manual_seed(1)
    model = CogVideoXTransformer3DModel(**TINY_CONFIG).eval()
    root = tmp_path_factory.mktemp("backbone")
    model.save_pretrained(root / "plain" / "transformer")
    model.save_pretrained(root / "sharded" / "transformer", max_shard_size="50KB")
    return model, root


def _inputs(batch=2, frames=3, size=8):
    gen = torch.Generator().manual_seed(0)
    latent = torch.randn(batch, frames, 96, size, size, generator=gen)
    prompt = torch.randn(1, TINY_CONFIG["max_text_seq_length"], TINY_CONFIG["text_embed_dim"], generator=gen)
    return latent, torch.tensor([999, 10][:batch]), prompt


def _diffusers_forward(model, latent, timestep, prompt):
    frames, size = latent.shape[1], latent.shape[-1]
    grid = (size // 2, size // 2)
    base = (TINY_CONFIG["sample_width"] // 2, TINY_CONFIG["sample_height"] // 2)
    rotary = get_3d_rotary_pos_embed(TINY_CONFIG["attention_head_dim"], resize_crop_region(*grid, *base), grid, frames)
    with torch.no_grad():
        return model(latent, prompt.expand(latent.shape[0], -1, -1), timestep, image_rotary_emb=rotary,
                     return_dict=False)[0]


@pytest.mark.parametrize("layout", ["plain", "sharded"])
def test_plugin_loads_diffusers_folder_bit_identically(saved, layout):
    model, root = saved
    if layout == "sharded":
        assert len(list((root / "sharded" / "transformer").glob("*.safetensors"))) > 1
    backbone = default_registry().build("backbone", "cogvideox", path=root / layout / "transformer").eval()
    latent, timestep, prompt = _inputs()
    with torch.no_grad():
        ours = backbone(latent, timestep, fps=12.0, prompt_embeds=prompt)
    assert ours.shape == (2, 3, 56, 8, 8)
    assert torch.equal(ours, _diffusers_forward(model, latent, timestep, prompt))


def test_sdpa_backend_matches_default_processor(saved):
    model, root = saved
    backbone = AetherBackbone.from_pretrained(root / "plain" / "transformer").eval()
    latent, timestep, prompt = _inputs(batch=1)
    with torch.no_grad():
        before = backbone(latent, timestep[:1], prompt_embeds=prompt)
        backbone.set_attention_backend("sdpa")
        after = backbone(latent, timestep[:1], prompt_embeds=prompt)
    assert all(isinstance(p, CogVideoXAttnProcessor2_0) for p in backbone.transformer.attn_processors.values())
    assert torch.equal(before, after)


def test_mixed_fps_batch_equals_per_sample_runs():
    backbone = AetherBackbone.tiny().eval()
    latent, timestep, _ = _inputs()
    with torch.no_grad():
        mixed = backbone(latent, timestep, fps=torch.tensor([12.0, 24.0]))
        first = backbone(latent[:1], timestep[:1], fps=12.0)
        second = backbone(latent[1:], timestep[1:], fps=24.0)
    assert torch.equal(mixed[:1], first) and torch.equal(mixed[1:], second)
    assert not torch.allclose(second, backbone(latent[1:], timestep[1:], fps=12.0).detach())


def test_stored_prompt_embeds_are_the_default():
    backbone = AetherBackbone.tiny().eval()
    latent, timestep, _ = _inputs(batch=1)
    with torch.no_grad():
        stored = backbone(latent, timestep[:1], prompt_embeds=backbone.prompt_embeds)
        assert torch.equal(backbone(latent, timestep[:1]), stored)


def test_corrupt_weights_give_checkpoint_error(saved, tmp_path):
    model, _ = saved
    model.save_pretrained(tmp_path / "transformer")
    weights = next((tmp_path / "transformer").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        AetherBackbone.from_pretrained(tmp_path / "transformer")
    with pytest.raises(CheckpointError, match="no config.json"):
        AetherBackbone.from_pretrained(tmp_path / "nowhere")


def test_wrong_channel_counts_point_to_init(tmp_path):
    CogVideoXTransformer3DModel(**(TINY_CONFIG | dict(in_channels=32, out_channels=16))).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="init-from-cogvideox"):
        AetherBackbone.from_pretrained(tmp_path)


@pytest.mark.parametrize("shape, message", [((1, 3, 95, 8, 8), "96"), ((1, 3, 96, 7, 8), "patch size")])
def test_bad_latents_raise(shape, message):
    with pytest.raises(ValueError, match=message):
        AetherBackbone.tiny()(torch.zeros(shape), 1)
    bad = torch.zeros(1, 3, 96, 8, 8)
    bad[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        AetherBackbone.tiny()(bad, 1)
    with pytest.raises(ValueError, match="unknown CogVideoXTransformer3DModel options"):
        AetherBackbone.tiny(num_layerz=1)


def test_triton_backend_builds_or_says_why():
    try:
        processor = default_registry().build("attention_backend", "triton")
    except PluginError as exc:
        assert "sdpa" in str(exc)
    else:
        assert callable(processor)


@pytest.mark.skipif(attention.xformers_problem() is None, reason="xformers is usable here")
def test_xformers_backend_without_xformers_or_cuda_says_why():
    with pytest.raises(PluginError, match="xformers"):
        default_registry().build("attention_backend", "xformers")


def test_xformers_processor_matches_sdpa_with_a_stand_in(monkeypatch):
    """The processor's layout handling, with memory_efficient_attention replaced by SDPA on (B, N, H, D)."""
    def memory_efficient_attention(q, k, v, attn_bias=None):
        assert q.shape[2] == TINY_CONFIG["num_attention_heads"]  # heads on axis 2
        q, k, v = (x.transpose(1, 2) for x in (q, k, v))
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias).transpose(1, 2)

    ops = types.SimpleNamespace(memory_efficient_attention=memory_efficient_attention)
    monkeypatch.setitem(sys.modules, "xformers", types.SimpleNamespace(ops=ops))
    monkeypatch.setitem(sys.modules, "xformers.ops", ops)
    backbone = AetherBackbone.tiny().eval()
    latent, timestep, _ = _inputs()
    with torch.no_grad():
        reference = backbone(latent, timestep)
        attention.install_attention_processor(backbone.transformer, attention.XFormersCogVideoXAttnProcessor())
        assert torch.allclose(backbone(latent, timestep), reference, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["triton", "triton-rope", "xformers"])
def test_gpu_backends_match_sdpa_in_training(backend):
    """Each GPU attention backend in the whole backbone, bf16 autocast as training runs it: output and
    every parameter's gradient against diffusers' SDPA processor."""
    if backend == "xformers" and attention.xformers_problem():
        pytest.skip(attention.xformers_problem())
    torch.manual_seed(0)
    backbone = AetherBackbone.tiny(attention_head_dim=64).cuda()
    latent, timestep, prompt = (t.cuda() for t in _inputs(size=16))

    def run(name):
        backbone.set_attention_backend(name)
        backbone.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = backbone(latent, timestep, prompt_embeds=prompt)
        out.float().square().mean().backward()
        return out.float(), {n: p.grad.float() for n, p in backbone.named_parameters() if p.grad is not None}

    want, want_grads = run("sdpa")
    got, got_grads = run(backend)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want, atol=3e-2, rtol=3e-2)
    assert got_grads.keys() == want_grads.keys()
    for name, grad in want_grads.items():
        scale = grad.abs().max().clamp_min(1e-6)
        assert (got_grads[name] - grad).abs().max() / scale < 5e-2, name
