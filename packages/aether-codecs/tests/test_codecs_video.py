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
    assert codec.vae.use_slicing
    video = torch.rand(2, 9, 3, 16, 24, generator=torch.Generator().manual_seed(1)) * 2 - 1
    z = codec.encode(video)
    assert z.shape == (2, 3, 16, 2, 3)
    with torch.no_grad():  # the VAE's own layout (B, C, F, H, W) and unscaled mode
        ref = codec.vae.encode(video[1:].permute(0, 2, 1, 3, 4)).latent_dist.mode()
        ref_out = codec.vae.decode(z[1:].permute(0, 2, 1, 3, 4) / 0.7).sample
    torch.testing.assert_close(z[1:], 0.7 * ref.permute(0, 2, 1, 3, 4))
    out = codec.decode(z)
    assert out.shape == video.shape
    torch.testing.assert_close(out[1:], ref_out.permute(0, 2, 1, 3, 4))
    with pytest.raises(CheckpointError, match="config.json"):
        CogVideoXCodec.from_pretrained(tiny_vae_dir / "missing")


def tiny_vae(sample_height=64, sample_width=96, seed=0, **config):
    torch.manual_seed(seed)
    config = {"block_out_channels": (8, 8, 8, 8), "layers_per_block": 1, "norm_num_groups": 4, **config}
    return AutoencoderKLCogVideoX(sample_height=sample_height, sample_width=sample_width, **config).eval()


def vae_layout(x):
    """(B, F, C, H, W) <-> the VAE's (B, C, F, H, W)."""
    return x.permute(0, 2, 1, 3, 4)


def test_cogvideox_decode_is_unclamped():
    vae = tiny_vae()
    with torch.no_grad():
        vae.decoder.conv_out.conv.weight.mul_(50)  # a decoder whose output leaves [-1, 1]
    latents = torch.randn(1, 3, 16, 4, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        raw = vae_layout(vae.decode(vae_layout(latents) * (1 / vae.config.scaling_factor)).sample)
    out = CogVideoXCodec(vae).decode(latents)
    assert raw.abs().max() > 1.5  # the values a clamp to [-1, 1] would change
    torch.testing.assert_close(out, raw)


def test_cogvideox_encode_samples_the_posterior_with_the_generator_or_takes_its_mode():
    vae = tiny_vae()
    codec = CogVideoXCodec(vae)
    video = torch.rand(1, 5, 3, 32, 48, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        dist = vae.encode(vae_layout(video)).latent_dist
        sampled = dist.sample(torch.Generator().manual_seed(7))
    scale = vae.config.scaling_factor
    torch.testing.assert_close(codec.encode(video, torch.Generator().manual_seed(7)), scale * vae_layout(sampled))
    torch.testing.assert_close(codec.encode(video), scale * vae_layout(dist.mode()))
    assert not torch.allclose(sampled, dist.mode())


# (VAE sample size, frame size, exact?): diffusers tiles frames larger than half the sample size, but its tiles
# land on the untiled latent grid only where their strides and extents are multiples of 8 pixels and the kept
# parts add up; 64x96 frames with a VAE configured for 64x96 would give 9x12 latents and 70x110 decoded frames.
# Frames within one tile (the 480x720 VAE here) are exact: diffusers does not tile them.
TILING = [((64, 96), (64, 96), False), ((96, 160), (64, 96), True), ((32, 48), (32, 48), False),
          ((96, 80), (32, 48), True), ((480, 720), (64, 96), True)]


@pytest.mark.parametrize("sample, frame, exact", TILING)
def test_cogvideox_tiles_only_where_the_tiles_give_the_exact_latent_grid(sample, frame, exact):
    vae = tiny_vae(*sample)
    codec = CogVideoXCodec(vae)
    (H, W), (h, w) = frame, (frame[0] // 8, frame[1] // 8)
    video = torch.rand(1, 1, 3, H, W, generator=torch.Generator().manual_seed(2)) * 2 - 1
    latents = codec.encode(video)
    decoded = codec.decode(latents)
    assert latents.shape == (1, 1, 16, h, w) and decoded.shape == video.shape
    assert codec.tiles_exactly(H, W, encode=True) is exact and codec.tiles_exactly(h, w, encode=False) is exact
    vae.use_tiling = exact  # the known answers: diffusers' own tiled / untiled calls
    with torch.no_grad():
        want = vae.encode(vae_layout(video).contiguous()).latent_dist.mode() * vae.config.scaling_factor
        want_decoded = vae.decode(vae_layout(latents) / vae.config.scaling_factor).sample
    torch.testing.assert_close(latents, vae_layout(want))
    torch.testing.assert_close(decoded, vae_layout(want_decoded))
    assert vae.use_tiling is exact  # each call restores the flag it found


def test_cogvideox_codec_rejects_a_vae_of_another_layout_in_one_line():
    for config, message in (({"latent_channels": 8}, "8 latent channels"),
                            ({"block_out_channels": (8, 8, 8), "down_block_types": ("CogVideoXDownBlock3D",) * 3,
                              "up_block_types": ("CogVideoXUpBlock3D",) * 3}, "spatial factor 4")):
        with pytest.raises(CheckpointError, match=message) as info:
            CogVideoXCodec(tiny_vae(**config))
        assert "\n" not in str(info.value)
