"""Plain-torch reference of CogVideoX attention with RoPE on the video tokens (the Triton kernel in
:mod:`aether.core.kernels.attention_triton` is tested against this; CPU machines use it directly).

Layouts: ``q, k, v (B, heads, N, D)`` with ``N = text_len + video_len``; ``cos, sin (video_len, D)``
in diffusers' interleaved convention (``apply_rotary_emb(..., use_real=True, use_real_unbind_dim=-1)``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rotate_interleaved(x: torch.Tensor) -> torch.Tensor:
    """Pairs ``(x0, x1)`` -> ``(-x1, x0)`` along the last dim, as diffusers does for CogVideoX."""
    pairs = x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2)
    return torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, text_len: int) -> torch.Tensor:
    """Rotate tokens ``[text_len:]`` of ``x (B, heads, N, D)``; text tokens pass unchanged."""
    video = x[..., text_len:, :]
    rotated = (video.float() * cos.float() + rotate_interleaved(video.float()) * sin.float()).to(x.dtype)
    return torch.cat([x[..., :text_len, :], rotated], dim=-2)


def check_rope_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor,
                      sin: torch.Tensor, text_len: int) -> None:
    """One-line ValueErrors for shapes the fused kernel and the reference cannot take."""
    if q.dim() != 4 or q.shape != k.shape or q.shape != v.shape:
        raise ValueError(f"q, k, v must share one (B, heads, N, D) shape; got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    n, d = q.shape[-2:]
    if not 0 <= text_len <= n:
        raise ValueError(f"text_len {text_len} is outside [0, N={n}]")
    if d % 2:
        raise ValueError(f"head dim {d} must be even for interleaved RoPE")
    want = (n - text_len, d)
    if tuple(cos.shape) != want or tuple(sin.shape) != want:
        raise ValueError(f"cos/sin must be (video_len, D) = {want}; got {tuple(cos.shape)}, {tuple(sin.shape)}")


def rope_attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor,
                             sin: torch.Tensor, text_len: int) -> torch.Tensor:
    """RoPE on the video part of q and k, then SDPA: ``(B, heads, N, D)`` -> ``(B, heads, N, D)``."""
    check_rope_inputs(q, k, v, cos, sin, text_len)
    return F.scaled_dot_product_attention(apply_rope(q, cos, sin, text_len),
                                          apply_rope(k, cos, sin, text_len), v)


def joint_qkv(attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """The prologue of diffusers' CogVideoX attention processor, shared by our processors: text tokens
    ``(B, N_text, C)`` before video tokens ``(B, N_video, C)``, projected and split into heads
    ``q, k, v (B, heads, N, D)``, q/k normalised; also returns ``text_len = N_text``."""
    text_len = encoder_hidden_states.size(1)
    tokens = torch.cat([encoder_hidden_states, hidden_states], dim=1)
    batch = tokens.shape[0]
    query, key, value = attn.to_q(tokens), attn.to_k(tokens), attn.to_v(tokens)
    head_dim = key.shape[-1] // attn.heads
    query, key, value = (t.view(batch, -1, attn.heads, head_dim).transpose(1, 2) for t in (query, key, value))
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    # under autocast the norms return fp32 next to a bf16 value; SDPA would cast all three to bf16,
    # and the fused kernels need one dtype
    return query.to(value.dtype), key.to(value.dtype), value, text_len


def joint_output(attn, out: torch.Tensor, text_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The epilogue: attention output ``(B, heads, N, D)`` -> output projection, split back into
    ``(hidden_states (B, N_video, C), encoder_hidden_states (B, N_text, C))`` as diffusers returns them."""
    batch, heads, _, head_dim = out.shape
    out = out.transpose(1, 2).reshape(batch, -1, heads * head_dim)
    out = attn.to_out[1](attn.to_out[0](out))
    encoder_hidden_states, hidden_states = out.split([text_len, out.size(1) - text_len], dim=1)
    return hidden_states, encoder_hidden_states

