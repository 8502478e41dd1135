"""Attention backends of the backbone: diffusers attention processors built by plugin name.

Every backend's ``build()`` returns a processor with the call signature of diffusers'
``CogVideoXAttnProcessor2_0`` (joint text + video attention, RoPE on the video tokens only), so
installing one is ``model.set_attn_processor(processor)``.
"""

from __future__ import annotations

import functools

import torch
from diffusers.models.attention_processor import Attention, CogVideoXAttnProcessor2_0

from aether.core.errors import PluginError
from aether.core.kernels.attention_reference import apply_rope, joint_output, joint_qkv

DEFAULT_BACKEND = "sdpa"


def build_sdpa() -> CogVideoXAttnProcessor2_0:
    """diffusers' own CogVideoX processor (PyTorch SDPA + separate RoPE): the reference."""
    return CogVideoXAttnProcessor2_0()


class XFormersCogVideoXAttnProcessor:
    """``CogVideoXAttnProcessor2_0`` with ``xformers.ops.memory_efficient_attention`` in place of
    SDPA (diffusers has xformers processors for other models but none for CogVideoX)."""

    def __init__(self) -> None:
        import xformers.ops

        self._attention = xformers.ops.memory_efficient_attention

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``hidden_states (B, N_video, C)``, ``encoder_hidden_states (B, N_text, C)`` -> the same two shapes."""
        query, key, value, text_len = joint_qkv(attn, hidden_states, encoder_hidden_states)
        if image_rotary_emb is not None:
            query = apply_rope(query, *image_rotary_emb, text_len)
            if not attn.is_cross_attention:
                key = apply_rope(key, *image_rotary_emb, text_len)
        bias = None
        if attention_mask is not None:
            batch, seq = query.shape[0], query.shape[2]
            bias = attn.prepare_attention_mask(attention_mask, seq, batch)
            bias = bias.view(batch, attn.heads, -1, bias.shape[-1]).to(query.dtype)
        # xformers wants (B, N, H, D)
        out = self._attention(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_bias=bias)
        return joint_output(attn, out.transpose(1, 2), text_len)


@functools.cache
def xformers_problem() -> str | None:
    """Why the xformers backend cannot run here (a one-line advice), or None when it can. A tiny
    probe call catches wheels that import but carry no operator for this torch / CUDA."""
    try:
        import xformers.ops
    except ImportError:
        return ("attention backend 'xformers' needs the xformers package "
                "(pip install xformers, matching your torch); or use attention backend 'sdpa'")
    if not torch.cuda.is_available():
        return "attention backend 'xformers' needs a CUDA GPU; on CPU use attention backend 'sdpa'"
    probe = torch.ones(1, 8, 1, 64, device="cuda", dtype=torch.bfloat16)
    try:
        xformers.ops.memory_efficient_attention(probe, probe, probe)
    except Exception as exc:  # e.g. NotImplementedError: a wheel built for another torch / CUDA
        return (f"attention backend 'xformers' cannot run here: xformers {xformers.__version__} has no "
                f"operator for torch {torch.__version__} ({str(exc).splitlines()[0]}); install the xformers "
                "wheel built for this torch, or use attention backend 'sdpa'")
    return None


def build_xformers() -> XFormersCogVideoXAttnProcessor:
    """The xformers processor; a clear error where xformers, CUDA or a matching operator is missing."""
    problem = xformers_problem()
    if problem:
        raise PluginError(problem)
    return XFormersCogVideoXAttnProcessor()


def build_triton(fused: bool = True):
    """Our fused RoPE flash attention (``aether.core.kernels.attention_triton``); ``fused=False``: our
    one-pass RoPE, then PyTorch's SDPA."""
    try:
        from aether.core.kernels.attention_triton import TritonRopeAttnProcessor
    except ImportError as exc:
        raise PluginError(f"attention backend 'triton' is unavailable ({exc}); install triton "
                          "(pip install aether-core[gpu]) or use attention backend 'sdpa'") from exc
    return TritonRopeAttnProcessor(fused=fused)


def build_triton_rope():
    """One Triton pass of RoPE on q and k, then PyTorch's SDPA (its fastest kernel for the device)."""
    return build_triton(fused=False)


def build_attention_processor(name: str):
    """The processor of the installed attention backend ``name`` (an unknown name lists the known ones)."""
    from aether.core.registry import default_registry

    return default_registry().build("attention_backend", name)


def install_attention_processor(model: torch.nn.Module, processor) -> None:
    """Use ``processor`` in every attention layer of the diffusers ``model``."""
    model.set_attn_processor(processor)

