"""Full-size AETHER parts with random weights, built straight on the target device (nothing is
downloaded): the released transformer and VAE configs, tiny stand-ins of the same classes for CPU
runs, and the memory helpers the full-size benches share.

Weights are drawn on the device itself: initialising 5.6 B parameters on the CPU takes minutes.
"""

from __future__ import annotations

import gc
import resource
from typing import Any

import torch
from aether.core.backbone import TINY_CONFIG, AetherBackbone
from aether.core.interfaces import IN_CHANNELS, OUT_CHANNELS
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
from torch import nn

GIB = 2**30

# AetherV1's transformer/config.json: CogVideoX-5b-I2V sizes with 96 in / 56 out channels
# (docs/FORMATS.md#tensor-layout); everything not named is diffusers' default (CogVideoX 1.0 path: no
# patch_size_t, no ofs embedding).
RELEASED_TRANSFORMER: dict[str, Any] = dict(
    num_attention_heads=48, attention_head_dim=64, in_channels=IN_CHANNELS, out_channels=OUT_CHANNELS,
    time_embed_dim=512, text_embed_dim=4096, num_layers=42, sample_width=90, sample_height=60,
    sample_frames=49, patch_size=2, max_text_seq_length=226, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=False,
)
# CPU-sized, same class and code paths; 64-wide heads as in the release (the Triton kernel's tile)
TINY_TRANSFORMER: dict[str, Any] = {**TINY_CONFIG, "num_layers": 2, "num_attention_heads": 2,
                                    "attention_head_dim": 64}

# CogVideoX-5b(-I2V)'s vae/config.json: diffusers' defaults for the class (those are CogVideoX-2b's
# architecture, which the 5b VAE shares) except the latent scaling factor, 0.7 for 5b (1.15258426 for 2b).
COGVIDEOX_5B_VAE: dict[str, Any] = dict(scaling_factor=0.7)
# Few channels; sample size 96x160 puts the tiling threshold at 48x80 pixels, so 64x96 frames are tiled
# (strides of 40 and 64 pixels stay multiples of 8, as 200 and 288 do at full size).
TINY_VAE: dict[str, Any] = dict(block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=4,
                                sample_height=96, sample_width=160, scaling_factor=0.7)


@torch.no_grad()
def random_init_(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Matrices and kernels ~ N(0, std), biases 0, norm scales 1: small enough that 42 residual blocks
    stay finite in bf16."""
    for name, param in module.named_parameters():
        if param.ndim >= 2:
            param.normal_(0.0, std)
        elif name.endswith("bias"):
            param.zero_()
        else:
            param.fill_(1.0)
    return module


def build_on_device(cls: type[nn.Module], config: dict[str, Any], device: torch.device, dtype: torch.dtype,
                    std: float = 0.02, seed: int = 0) -> nn.Module:
    """``cls(**config)`` with random weights allocated once, in ``dtype``, on ``device``: built on the
    meta device (no allocation, no CPU init), then materialised and drawn there. Modules with buffers
    (which ``to_empty`` would leave uninitialised) are built on the device directly instead.
    ``nn.Module.to``: diffusers' override only adds a warning about fp32-kept modules (none here)."""
    torch.manual_seed(seed)
    with torch.device("meta"):
        module = cls(**config)
    if any(True for _ in module.buffers()):
        with torch.device(device):
            module = cls(**config)
        module = nn.Module.to(module, dtype)
    else:
        module = nn.Module.to(module, dtype).to_empty(device=device)
    return random_init_(module, std)


def build_backbone(config: dict[str, Any], device: torch.device, dtype: torch.dtype,
                   std: float = 0.02, seed: int = 0) -> AetherBackbone:
    """An :class:`AetherBackbone` of ``config`` with random weights and a random stand-in empty-prompt
    embedding ``(1, max_text_seq_length, text_embed_dim)``, on ``device`` in ``dtype``, in eval mode."""
    transformer = build_on_device(CogVideoXTransformer3DModel, config, device, dtype, std, seed)
    embeds = torch.randn(1, config["max_text_seq_length"], config["text_embed_dim"], device=device, dtype=dtype)
    return AetherBackbone(transformer, embeds).eval()


def build_vae(config: dict[str, Any], device: torch.device, dtype: torch.dtype, seed: int = 0
              ) -> AutoencoderKLCogVideoX:
    """diffusers' CogVideoX VAE of ``config`` (over the class defaults) with random weights, eval mode."""
    return build_on_device(AutoencoderKLCogVideoX, config, device, dtype, seed=seed).eval()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (timings and memory peaks need it); nothing to wait for on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory(device: torch.device) -> None:
    """Drop unreferenced tensors and hand cached CUDA blocks back, so the next part starts clean."""
    gc.collect()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()


def reset_peak(device: torch.device) -> None:
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    """Peak GPU memory allocated by tensors since :func:`reset_peak`; on CPU the process's peak RSS
    (it only grows, so CPU numbers are not per measurement)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / GIB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
