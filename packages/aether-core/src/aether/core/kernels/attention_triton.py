"""Fused RoPE + flash attention in Triton, forward and backward, and the diffusers attention processor
that uses it.

``fused_rope_attention(q, k, v, cos, sin, text_len)``: ``q, k, v (B, heads, N, D)``, ``cos, sin
(N - text_len, D)`` -> ``(B, heads, N, D)``. Tokens ``[text_len:]`` of q and k are rotated inside the
forward kernel as they are loaded for q (diffusers' interleaved convention), by one RoPE pass for k.
The backward is a flash backward over rotated q and k (one RoPE pass each) whose dQ and dK are rotated
back in place. Runs on CUDA tensors, or on CPU when ``TRITON_INTERPRET=1`` is set before Triton is first
imported.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aether.core.kernels.attention_reference import (apply_rope, check_rope_inputs, joint_output, joint_qkv,
                                                    rope_attention_reference)


def triton_usable(x: torch.Tensor) -> bool:
    """True when the Triton kernel can run on ``x`` (CUDA, or the interpreter on CPU)."""
    if importlib.util.find_spec("triton") is None:  # CPU installs without Triton use the reference
        return False
    return x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"


@dataclass(frozen=True)
class Tile:
    """Launch shape of one kernel: query rows x key rows per program, warps, pipeline stages."""

    block_m: int
    block_n: int
    num_warps: int = 4
    num_stages: int = 2


@dataclass(frozen=True)
class Tuning:
    """Tiles of the forward, the dK/dV and the dQ kernels."""

    forward: Tile
    dkdv: Tile
    dq: Tile


# The interpreter is slow: small tiles keep CPU tests quick and still cover several tiles per row.
INTERPRETER_TUNING = Tuning(Tile(16, 16), Tile(16, 16), Tile(16, 16))
# 16-bit inputs with heads up to 64 wide, AETHER's case: the fastest of `tools/bench/attention.py --sweep`
# on an H200 (tools/bench/RESULTS.md; backward variants within 1 % of each other are left as they were)
CUDA_TUNING = Tuning(forward=Tile(128, 128, 4, 3), dkdv=Tile(32, 128, 4, 2), dq=Tile(128, 64, 4, 3))
# fp32 or wider heads: tiles four times smaller, so every pipeline stage fits in shared memory
CUDA_TUNING_WIDE = Tuning(forward=Tile(64, 32, 4, 2), dkdv=Tile(32, 64, 4, 2), dq=Tile(64, 32, 4, 2))


def default_tuning(x: torch.Tensor) -> Tuning:
    """The tiles for ``x (B, heads, N, D)``'s device, element size and head width."""
    if not x.is_cuda:
        return INTERPRETER_TUNING
    return CUDA_TUNING if x.element_size() <= 2 and x.shape[-1] <= 64 else CUDA_TUNING_WIDE


def _precision(x: torch.Tensor) -> str | None:
    return "ieee" if x.dtype == torch.float32 else None  # tf32 would miss the fp32 tolerance


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, text_len: int, inverse: bool,
          out: torch.Tensor | None = None) -> torch.Tensor:
    """RoPE (or its transpose) on tokens ``[text_len:]`` of contiguous ``x (B, heads, N, D)``, one pass."""
    import triton

    from aether.core.kernels.attention_triton_kernel import rope_kernel

    B, H, N, D = x.shape
    out = torch.empty_like(x) if out is None else out
    block = 64 if x.is_cuda else 16
    rope_kernel[(triton.cdiv(N, block), B * H)](x, cos, sin, out, N, text_len, INVERSE=inverse, BLOCK=block, D=D)
    return out


def _forward_kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                    text_len: int, tuning: Tuning) -> tuple[torch.Tensor, torch.Tensor]:
    """Contiguous inputs -> output ``(B, heads, N, D)`` and base-2 log-sum-exp ``(B * heads, N)`` fp32."""
    import triton

    from aether.core.kernels.attention_triton_kernel import rope_flash_fwd

    B, H, N, D = q.shape
    k = _rope(k, cos, sin, text_len, inverse=False)
    out = torch.empty_like(q)
    lse = torch.empty(B * H, N, device=q.device, dtype=torch.float32)
    tile = tuning.forward
    rope_flash_fwd[(triton.cdiv(N, tile.block_m), B * H)](
        q, k, v, cos, sin, out, lse, N, text_len, D ** -0.5, D=D,
        BLOCK_M=tile.block_m, BLOCK_N=tile.block_n, PRECISION=_precision(q), num_warps=tile.num_warps,
        num_stages=tile.num_stages)
    return out, lse


def _backward_kernels(grad_out: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      out: torch.Tensor, lse: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, text_len: int,
                      tuning: Tuning) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dQ, dK, dV ``(B, heads, N, D)`` of the fused attention, all inputs contiguous."""
    import triton

    from aether.core.kernels.attention_triton_kernel import flash_bwd_dkdv, flash_bwd_dq

    B, H, N, D = q.shape
    delta = (grad_out.float() * out.float()).sum(-1).view(B * H, N)  # rowsum(dO * O), the softmax term
    q_rot = _rope(q, cos, sin, text_len, inverse=False)
    k_rot = _rope(k, cos, sin, text_len, inverse=False)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    common = dict(D=D, PRECISION=_precision(q))
    tile = tuning.dkdv
    flash_bwd_dkdv[(triton.cdiv(N, tile.block_n), B * H)](
        q_rot, k_rot, v, grad_out, lse, delta, dk, dv, N, D ** -0.5, BLOCK_M=tile.block_m, BLOCK_N=tile.block_n,
        num_warps=tile.num_warps, num_stages=tile.num_stages, **common)
    tile = tuning.dq
    flash_bwd_dq[(triton.cdiv(N, tile.block_m), B * H)](
        q_rot, k_rot, v, grad_out, lse, delta, dq, N, D ** -0.5, BLOCK_M=tile.block_m, BLOCK_N=tile.block_n,
        num_warps=tile.num_warps, num_stages=tile.num_stages, **common)
    # gradients reached the rotated q and k: rotate them back (the rotation's transpose), in place
    _rope(dq, cos, sin, text_len, inverse=True, out=dq)
    _rope(dk, cos, sin, text_len, inverse=True, out=dk)
    return dq, dk, dv


class _FusedRopeAttention(torch.autograd.Function):
    """Triton forward and backward; the backward recomputes nothing but RoPE (flash attention keeps
    the log-sum-exp of each query row)."""

    @staticmethod
    def forward(ctx, q, k, v, cos, sin, text_len, tuning):
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        cos, sin = cos.float().contiguous(), sin.float().contiguous()
        out, lse = _forward_kernel(q, k, v, cos, sin, text_len, tuning)
        ctx.save_for_backward(q, k, v, out, lse, cos, sin)
        ctx.text_len, ctx.tuning = text_len, tuning
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse, cos, sin = ctx.saved_tensors
        grads = _backward_kernels(grad_out.contiguous(), q, k, v, out, lse, cos, sin, ctx.text_len, ctx.tuning)
        return (*grads, None, None, None, None)


class _Rope(torch.autograd.Function):
    """RoPE on tokens ``[text_len:]`` in one Triton pass; its backward is the transpose, one pass too."""

    @staticmethod
    def forward(ctx, x, cos, sin, text_len):
        ctx.save_for_backward(cos, sin)
        ctx.text_len = text_len
        return _rope(x.contiguous(), cos, sin, text_len, inverse=False)

    @staticmethod
    def backward(ctx, grad):
        cos, sin = ctx.saved_tensors
        return _rope(grad.contiguous(), cos, sin, ctx.text_len, inverse=True), None, None, None


def rope_then_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                   text_len: int) -> torch.Tensor:
    """Our one-pass RoPE on q and k, then PyTorch's SDPA (whichever backend it picks):
    ``(B, heads, N, D)`` -> ``(B, heads, N, D)``; the reference where Triton cannot run."""
    check_rope_inputs(q, k, v, cos, sin, text_len)
    if not triton_usable(q):
        return rope_attention_reference(q, k, v, cos, sin, text_len)
    cos, sin = cos.float().contiguous(), sin.float().contiguous()
    return F.scaled_dot_product_attention(_Rope.apply(q, cos, sin, text_len), _Rope.apply(k, cos, sin, text_len), v)


def fused_rope_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cos: torch.Tensor,
                         sin: torch.Tensor, text_len: int, tuning: Tuning | None = None) -> torch.Tensor:
    """RoPE (video tokens only) + softmax attention: ``(B, heads, N, D)`` -> ``(B, heads, N, D)``.

    Uses the Triton kernels where :func:`triton_usable`, else :func:`rope_attention_reference`;
    ``tuning`` overrides :func:`default_tuning` (benchmarks sweep it).
    """
    check_rope_inputs(q, k, v, cos, sin, text_len)
    if not triton_usable(q):
        return rope_attention_reference(q, k, v, cos, sin, text_len)
    if q.shape[-1] not in (16, 32, 64, 128, 256):
        raise ValueError(f"head dim {q.shape[-1]} unsupported by the Triton kernel; use 16, 32, 64, 128 or 256")
    return _FusedRopeAttention.apply(q, k, v, cos, sin, text_len, tuning or default_tuning(q))


class TritonRopeAttnProcessor:
    """Drop-in for diffusers' ``CogVideoXAttnProcessor2_0`` using :func:`fused_rope_attention`, or
    with ``fused=False`` :func:`rope_then_sdpa` (on an H200 the faster of the two, as PyTorch's SDPA
    runs cuDNN's Hopper kernel there; tools/bench/RESULTS.md).

    Falls back to SDPA + separate RoPE when an attention mask is given, for cross-attention or without
    a rotary embedding (cases the fused kernel does not cover).
    """

    def __init__(self, fused: bool = True) -> None:
        self._attention = fused_rope_attention if fused else rope_then_sdpa

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``hidden_states (B, N_video, C)``, ``encoder_hidden_states (B, N_text, C)`` -> same two shapes."""
        query, key, value, text_len = joint_qkv(attn, hidden_states, encoder_hidden_states)
        if attention_mask is None and image_rotary_emb is not None and not attn.is_cross_attention:
            out = self._attention(query, key, value, *image_rotary_emb, text_len)
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
