"""PixelCodec by hand, CogVideoXCodec against a tiny random diffusers VAE."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLCogVideoX

from aether.codecs.errors import CodecError
from aether.codecs.video import CogVideoXCodec, PixelCodec
from aether.core.errors import CheckpointError
from aether.core.registry import default_registry


def test_pixel_codec_layout_and_exact_on_block_constant_video():
    codec = PixelCodec()
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(2, 9, 3, 2, 3, generator=g) * 2 - 1
    video = coarse.repeat_interleave(8, -1).repeat_interleave(8, -2)  # constant on 8x8 blocks
    z = codec.encode(video)
    assert z.shape == (2, 3, 16, 2, 3)
    # latent 1 holds frames 1..4, each as 3 RGB channels (x rgb_scale) + 1 motion channel
    torch.testing.assert_close(z[:, 1].reshape(2, 4, 4, 2, 3)[:, :, :3], 2 * coarse[:, 1:5])
    torch.testing.assert_close(z[:, 0].reshape(2, 4, 4, 2, 3)[:, 2, :3], 2 * coarse[:, 0])  # frame 0 repeated
    # decode = bilinear x8 upsampling of each frame's block means, frames back in order
    expected = F.interpolate(coarse.flatten(0, 1), scale_factor=8, mode="bilinear", align_corners=False)
    torch.testing.assert_close(codec.decode(z), expected.view_as(video))
    torch.testing.assert_close(codec.decode(codec.encode(torch.full((1, 5, 3, 8, 8), 0.25))),
                               torch.full((1, 5, 3, 8, 8), 0.25))
    with pytest.raises(CodecError, match="4k\\+1"):
        codec.encode(torch.zeros(1, 8, 3, 16, 16))
    with pytest.raises(CodecError, match="latents"):
        codec.decode(torch.zeros(1, 2, 12, 2, 2))


def test_pixel_codec_motion_channel_is_block_flow_from_the_previous_frame():
    # a smooth texture sliding 2 px to the right per frame: a quarter of a block, times motion_scale 4
    texture = cv2.GaussianBlur(np.random.default_rng(0).uniform(-1, 1, (48, 120)).astype(np.float32), (0, 0), 2.0)
    texture = torch.from_numpy(texture / np.abs(texture).max())
    frames = torch.stack([texture[:, 20 - 2 * f:20 - 2 * f + 64] for f in range(9)])
    video = frames[None, :, None].expand(1, 9, 3, 48, 64).contiguous()
    motion = PixelCodec().encode(video)[0, :, 3::4]                         # (T, 4, h, w)
    assert torch.equal(motion[0], torch.zeros_like(motion[0]))              # frame 0 and its copies stand still
    interior = motion[1:, :, 1:-1, 1:-1]
    assert (interior - 1.0).abs().median() < 0.05 and interior.min() > 0.5
    static = video[:, :1].expand(1, 9, 3, 48, 64)
    assert PixelCodec().encode(static)[0, :, 3::4].abs().max() < 1e-3


@pytest.fixture(scope="module")
def tiny_vae_dir(tmp_path_factory):
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(block_out_channels=(8, 8, 16, 16), norm_num_groups=4, layers_per_block=1,
                                 scaling_factor=0.7)
    path = tmp_path_factory.mktemp("vae")
    vae.save_pretrained(path)
    return path


def test_cogvideox_codec_layouts_and_scaling(tiny_vae_dir):
    codec = default_registry().build("modality", "cogvideox", vae_dir=tiny_vae_dir)
    assert isinstance(codec, CogVideoXCodec) and codec.scaling_factor == pytest.approx(0.7)
    assert codec.vae.use_slicing and codec.vae.use_tiling
    video = torch.rand(2, 9, 3, 16, 24, generator=torch.Generator().manual_seed(1)) * 2 - 1
    z = codec.encode(video)
    assert z.shape == (2, 3, 16, 2, 3)
    with torch.no_grad():  # the VAE's own layout (B, C, F, H, W) and unscaled mode
        ref = codec.vae.encode(video[1:].permute(0, 2, 1, 3, 4)).latent_dist.mode()
        ref_out = codec.vae.decode(z[1:].permute(0, 2, 1, 3, 4) / 0.7).sample
    torch.testing.assert_close(z[1:], 0.7 * ref.permute(0, 2, 1, 3, 4))
    out = codec.decode(z)
    assert out.shape == video.shape
    torch.testing.assert_close(out[1:], ref_out.permute(0, 2, 1, 3, 4).clamp(-1, 1))
    with pytest.raises(CheckpointError, match="config.json"):
        CogVideoXCodec.from_pretrained(tiny_vae_dir / "missing")
