"""Fused RoPE attention (Triton, interpreter on CPU) vs the SDPA + RoPE reference and diffusers."""

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.models.attention_processor import Attention, CogVideoXAttnProcessor2_0
from diffusers.models.embeddings import apply_rotary_emb, get_3d_rotary_pos_embed

from aether.core.kernels.attention_reference import apply_rope, rope_attention_reference
from aether.core.kernels import attention_triton
from aether.core.kernels.attention_triton import Tile, TritonRopeAttnProcessor, fused_rope_attention

pytest.importorskip("triton")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _inputs(D, n=30, text_len=6, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, 2, n, D, generator=g).to(DEVICE, dtype) for _ in range(3))
    angles = torch.rand(n - text_len, D // 2, generator=g) * 6.0
    cos = angles.cos().repeat_interleave(2, -1).to(DEVICE)
    sin = angles.sin().repeat_interleave(2, -1).to(DEVICE)
    return q, k, v, cos, sin, text_len


def test_apply_rope_matches_diffusers():
    q, _, _, cos, sin, text_len = _inputs(64)
    ours = apply_rope(q, cos, sin, text_len)
    assert torch.equal(ours[..., :text_len, :], q[..., :text_len, :])
    torch.testing.assert_close(ours[..., text_len:, :], apply_rotary_emb(q[..., text_len:, :], (cos, sin)))


# None: the default for the inputs; then tiles of unequal sizes in each kernel
TUNINGS = [None, attention_triton.Tuning(Tile(16, 32), Tile(32, 16), Tile(16, 32))]


def _assert_matches_reference(attention, inputs, atol, grad_atol=None):
    """Output and q/k/v gradients (in the inputs' dtype) of ``attention(q, k, v, cos, sin, text_len)``
    against the fp32 reference."""
    q, k, v, cos, sin, text_len = inputs
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    refs = [t.float().requires_grad_(True) for t in (q, k, v)]
    out = attention(*leaves, cos, sin, text_len)
    ref = rope_attention_reference(*refs, cos, sin, text_len)
    torch.testing.assert_close(out.float(), ref, atol=atol, rtol=0)
    grad = torch.randn_like(ref)
    out.backward(grad.to(q.dtype))
    ref.backward(grad)
    for ours, want in zip(leaves, refs):
        assert ours.grad.dtype == q.dtype
        torch.testing.assert_close(ours.grad.float(), want.grad, atol=grad_atol or atol, rtol=0)


@pytest.mark.parametrize("tuning", TUNINGS, ids=["default", "other"])
@pytest.mark.parametrize("D,n,text_len", [(64, 30, 6), (128, 37, 5), (64, 24, 0), (32, 70, 70), (64, 64, 10)])
def test_forward_and_backward_match_reference(D, n, text_len, tuning):
    fused = lambda *args: fused_rope_attention(*args, tuning=tuning)  # noqa: E731
    _assert_matches_reference(fused, _inputs(D, n, text_len), atol=2e-3)


def test_backward_is_the_transpose_for_any_cos_sin():
    """cos/sin drawn per element (not in RoPE's equal pairs): dQ and dK need the rotation's transpose,
    not its inverse, and autograd through the reference gives exactly that."""
    q, k, v, _, _, text_len = _inputs(64, 40, 8)
    g = torch.Generator().manual_seed(3)
    cos, sin = (torch.randn(32, 64, generator=g).to(DEVICE) for _ in range(2))
    _assert_matches_reference(fused_rope_attention, (q, k, v, cos, sin, text_len), atol=2e-3)


# Triton's interpreter computes bf16 wrongly (NumPy has no bf16), so bf16 is checked on GPU only
@pytest.mark.parametrize("dtype", [torch.float16, pytest.param(torch.bfloat16, marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="bf16 needs CUDA (the interpreter has no bf16)"))])
@pytest.mark.parametrize("D", [64, 128])
def test_half_precision_matches_reference(D, dtype):
    inputs = _inputs(D, 150, 26, dtype=dtype)  # several tiles of 64 on GPU
    _assert_matches_reference(fused_rope_attention, inputs, atol=2e-2, grad_atol=5e-2)


def test_bad_shapes_raise():
    q, k, v, cos, sin, text_len = _inputs(64)
    with pytest.raises(ValueError, match="cos/sin"):
        fused_rope_attention(q, k, v, cos[1:], sin[1:], text_len)
    with pytest.raises(ValueError, match="text_len"):
        fused_rope_attention(q, k, v, cos, sin, 99)


@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts launches of the Triton kernel, to prove the processor did not fall back."""
    calls = []
    launch = attention_triton._forward_kernel
    monkeypatch.setattr(attention_triton, "_forward_kernel", lambda *a: calls.append(1) or launch(*a))
    return calls


@pytest.mark.parametrize("fused", [True, False])
def test_processor_equals_diffusers_cogvideox_processor(kernel_calls, fused):
    torch.manual_seed(0)
    attn = Attention(query_dim=128, dim_head=64, heads=2, qk_norm="layer_norm", eps=1e-6, bias=True,
                     out_bias=True, processor=CogVideoXAttnProcessor2_0()).to(DEVICE)
    _, _, _, cos, sin, _ = _inputs(64, n=30, text_len=6)
    video = torch.randn(1, 24, 128, device=DEVICE)
    text = torch.randn(1, 6, 128, device=DEVICE)
    want = attn(video, text, image_rotary_emb=(cos, sin))
    attn.set_processor(TritonRopeAttnProcessor(fused=fused))
    got = attn(video, text, image_rotary_emb=(cos, sin))
    for ours, ref in zip(got, want):
        torch.testing.assert_close(ours, ref, atol=2e-3, rtol=0)
    assert bool(kernel_calls) == fused


def test_processor_in_tiny_cogvideox_transformer(kernel_calls):
    torch.manual_seed(0)
    model = CogVideoXTransformer3DModel(num_attention_heads=2, attention_head_dim=64, in_channels=4, out_channels=4,
                                        num_layers=1, sample_width=8, sample_height=8, sample_frames=5,
                                        text_embed_dim=16, time_embed_dim=8, max_text_seq_length=6,
                                        use_rotary_positional_embeddings=True).to(DEVICE).eval()
    latent = torch.randn(1, 2, 4, 8, 8, device=DEVICE)
    text = torch.randn(1, 6, 16, device=DEVICE)
    timestep = torch.tensor([500], device=DEVICE)
    rope = tuple(t.to(DEVICE) for t in get_3d_rotary_pos_embed(64, ((0, 0), (4, 4)), (4, 4), 2))
    with torch.no_grad():
        want = model(latent, text, timestep, image_rotary_emb=rope).sample
        model.set_attn_processor(TritonRopeAttnProcessor())
        got = model(latent, text, timestep, image_rotary_emb=rope).sample
    torch.testing.assert_close(got, want, atol=2e-3, rtol=0)
    assert kernel_calls


def test_rope_pass_then_sdpa_matches_reference_forward_and_backward():
    _assert_matches_reference(attention_triton.rope_then_sdpa, _inputs(64, 45, 7), atol=1e-5)
