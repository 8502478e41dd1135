"""Test helper: a tiny random model folder in the released layout, written by diffusers itself.

``write_tiny_model(path)`` creates ``transformer/`` (CogVideoXTransformer3DModel, in 96 / out 56,
one layer), ``vae/`` (AutoencoderKLCogVideoX, 8 channels per block), ``scheduler/`` (the
CogVideoX-5b-I2V DPM scheduler config) and ``empty_prompt_embeds.safetensors``. Frames are
``(8 * sample_height) x (8 * sample_width)`` = 32 x 48 pixels by default; the VAE's configured sample
size is twice that unless ``vae_sample`` sets it. Shared by the tasks and train tests and by the app's.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
from safetensors.torch import save_file

TEXT_LEN, TEXT_DIM = 226, 16
# the scheduler config shipped with CogVideoX-5b-I2V (and used by AetherV1)
SCHEDULER_CONFIG = dict(beta_end=0.012, beta_schedule="scaled_linear", beta_start=0.00085,
                        clip_sample=False, clip_sample_range=1.0, num_train_timesteps=1000,
                        prediction_type="v_prediction",
                        rescale_betas_zero_snr=True, sample_max_value=1.0, set_alpha_to_one=True,
                        snr_shift_scale=1.0, steps_offset=0, timestep_spacing="trailing")


def tiny_transformer(latent_height: int = 4, latent_width: int = 6,
                     frames: int = 9) -> CogVideoXTransformer3DModel:
    return CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=96, out_channels=56, time_embed_dim=8,
        text_embed_dim=TEXT_DIM, num_layers=1, sample_height=latent_height, sample_width=latent_width,
        sample_frames=frames, use_rotary_positional_embeddings=True, max_text_seq_length=TEXT_LEN)


def tiny_vae(sample_height: int = 64, sample_width: int = 96) -> AutoencoderKLCogVideoX:
    """diffusers tiles frames larger than half the configured sample size (the codec only where that is exact)."""
    return AutoencoderKLCogVideoX(block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4,
                                  latent_channels=16, sample_height=sample_height, sample_width=sample_width)


def write_tiny_model(path: str | Path, latent_height: int = 4, latent_width: int = 6, frames: int = 9,
                     seed: int = 0, vae: bool = True, vae_sample: tuple[int, int] | None = None) -> Path:
    """Write the tiny model folder to ``path`` (``vae=False`` leaves ``vae/`` out; ``vae_sample`` is the
    VAE's configured ``(height, width)``, default twice the frame) and return it."""
    path = Path(path)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        tiny_transformer(latent_height, latent_width, frames).save_pretrained(path / "transformer")
        if vae:
            tiny_vae(*(vae_sample or (latent_height * 16, latent_width * 16))).save_pretrained(path / "vae")
        save_file({"prompt_embeds": torch.randn(1, TEXT_LEN, TEXT_DIM)},
                  path / "empty_prompt_embeds.safetensors")
    CogVideoXDPMScheduler(**SCHEDULER_CONFIG).save_pretrained(path / "scheduler")
    return path
