"""Fused RoPE + flash attention (forward in Triton, backward by recompute) and the diffusers
attention processor that uses it.

``fused_rope_attention(q, k, v, cos, sin, text_len)``: ``q, k, v (B, heads, N, D)``, ``cos, sin
(N - text_len, D)`` -> ``(B, heads, N, D)``. Tokens ``[text_len:]`` of q and k are rotated inside the
kernel as they are loaded (diffusers' interleaved convention), so rotated q/k never reach memory.
Runs on CUDA tensors, or on CPU when ``TRITON_INTERPRET=1`` is set before Triton is first imported.
"""

from __future__ import annotations

import importlib.util
import os

import torch
import torch.nn.functional as F

from aether.core.kernels.attention_reference import (apply_rope, check_rope_inputs, joint_output, joint_qkv,
                                                    rope_attention_reference)


def triton_usable(x: torch.Tensor) -> bool:
    """True when the Triton kernel can run on ``x`` (CUDA, or the interpreter on CPU)."""
    if importlib.util.find_spec("triton") is None:  # CPU installs without Triton use the reference
        return False
    return x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"


def _forward_kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                    text_len: int) -> torch.Tensor:
    import triton  # imported at launch: CPU installs of aether-core need no Triton

    from aether.core.kernels.attention_triton_kernel import rope_flash_fwd

    B, H, N, D = q.shape
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    cos, sin = cos.float().contiguous(), sin.float().contiguous()
    out = torch.empty_like(q)
    block = 64 if q.is_cuda else 16  # the interpreter is slow: small tiles keep CPU tests quick
    grid = (triton.cdiv(N, block), B * H)
    precision = "ieee" if q.dtype == torch.float32 else None  # tf32 would miss the fp32 tolerance
    rope_flash_fwd[grid](q, k, v, cos, sin, out, N, text_len, D ** -0.5, D=D, BLOCK_M=block, BLOCK_N=block,
                          PRECISION=precision)
    return out


class _FusedRopeAttention(torch.autograd.Function):
    """Triton forward; backward recomputes the reference in torch (RoPE's transpose rotation included)."""

    @staticmethod
    def forward(ctx, q, k, v, cos, sin, text_len):
        ctx.save_for_backward(q, k, v, cos, sin)
        ctx.text_len = text_len
        return _forward_kernel(q, k, v, cos, sin, text_len)

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, cos, sin = ctx.saved_tensors
        with torch.enable_grad():
            inputs = [t.detach().requires_grad_(True) for t in (q, k, v)]
            out = rope_attention_reference(*inputs, cos, sin, ctx.text_len)
            grads = torch.autograd.grad(out, inputs, grad_out)
        return (*grads, None, None, None)


def fused_rope_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor,
                         sin: torch.Tensor, text_len: int) -> torch.Tensor:
    """RoPE (video tokens only) + softmax attention: ``(B, heads, N, D)`` -> ``(B, heads, N, D)``.

    Uses the Triton kernel where :func:`triton_usable`, else :func:`rope_attention_reference`.
    """
    check_rope_inputs(q, k, v, cos, sin, text_len)
    if not triton_usable(q):
        return rope_attention_reference(q, k, v, cos, sin, text_len)
    if q.shape[-1] not in (16, 32, 64, 128, 256):
        raise ValueError(f"head dim {q.shape[-1]} unsupported by the Triton kernel; use 16, 32, 64, 128 or 256")
    return _FusedRopeAttention.apply(q, k, v, cos, sin, text_len)


class TritonRopeAttnProcessor:
    """Drop-in for diffusers' ``CogVideoXAttnProcessor2_0`` using :func:`fused_rope_attention`.

    Falls back to SDPA + separate RoPE when an attention mask is given, for cross-attention or without
    a rotary embedding (cases the fused kernel does not cover).
    """

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``hidden_states (B, N_video, C)``, ``encoder_hidden_states (B, N_text, C)`` -> same two shapes."""
        query, key, value, text_len = joint_qkv(attn, hidden_states, encoder_hidden_states)
        if attention_mask is None and image_rotary_emb is not None and not attn.is_cross_attention:
            out = fused_rope_attention(query, key, value, *image_rotary_emb, text_len)
        else:
            if attention_mask is not None:
                batch, seq = query.shape[0], query.shape[2]
                attention_mask = attn.prepare_attention_mask(attention_mask, seq, batch)
                attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])
            if image_rotary_emb is not None:
                query = apply_rope(query, *image_rotary_emb, text_len)
                if not attn.is_cross_attention:
                    key = apply_rope(key, *image_rotary_emb, text_len)
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask)
        return joint_output(attn, out, text_len)
