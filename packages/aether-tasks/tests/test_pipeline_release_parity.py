"""What the pipeline does around the model, as the release does it (docs/FORMATS.md#around-the-model), against known
answers computed
with a tiny random diffusers VAE: the disparity of unclamped decoded channels, the seeded posterior samples
drawn before the noise, and the post-reconstruction of prediction / planning from the decoded RGB."""

import numpy as np
import torch

from aether.codecs.video import CogVideoXCodec
from aether.core.registry import default_registry
from aether.core.testing.tiny_model import SCHEDULER_CONFIG, tiny_vae
from aether.tasks.pipeline import AetherPipeline
from aether.tasks.sampling import SamplingConfig
from aether.tasks.trajectories import named_trajectory

H, W = 32, 48


class RecordingBackbone(torch.nn.Module):
    """A fixed function of the model input (every channel counts); records each input."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, timestep, fps, prompt_embeds):
        self.calls.append(x.clone())
        return 0.5 * x[:, :, :56] + x[:, :, 56:].mean(2, keepdim=True)


def vae_pipeline(decoder_gain=1.0):
    """The pipeline with a tiny VAE codec (untiled at 32x48), the real depth and raymap codecs."""
    torch.manual_seed(0)
    vae = tiny_vae(2 * H, 2 * W).eval()
    with torch.no_grad():
        vae.decoder.conv_out.conv.weight.mul_(decoder_gain)
    registry = default_registry()
    backbone = RecordingBackbone()
    pipe = AetherPipeline(backbone, CogVideoXCodec(vae), registry.build("modality", "disparity"),
                          registry.build("action_encoder", "raymap"), SCHEDULER_CONFIG,
                          prompt_embeds=torch.zeros(1, 5, 4), height=H, width=W, default_frames=9)
    return pipe, vae, backbone


def frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, 3), dtype=np.uint8)


def vae_video(frames_uint8):
    """uint8 (F, H, W, 3) -> the VAE's (1, 3, F, H, W) in [-1, 1] (x / 255 * 2 - 1, as the release)."""
    return (torch.from_numpy(frames_uint8).permute(3, 0, 1, 2)[None].float() / 255 * 2 - 1).contiguous()


def to_ours(x):
    """The VAE's (B, C, F, H, W) -> (B, F, C, H, W)."""
    return x.permute(0, 2, 1, 3, 4)


def test_disparity_averages_the_decoded_depth_channels_unclamped():
    pipe, vae, _ = vae_pipeline(decoder_gain=2.0)  # a fifth of the decoded values outside [-1, 1]
    action = pipe.action_from_cameras(named_trajectory("forward", 9))
    colour_depth = torch.randn(1, 3, 32, H // 8, W // 8, generator=torch.Generator().manual_seed(1))
    geometry = pipe.decode_geometry(torch.cat([colour_depth, action], dim=2))
    with torch.no_grad():
        raw = vae.decode(colour_depth[:, :, 16:].permute(0, 2, 1, 3, 4) * (1 / vae.config.scaling_factor)).sample
    assert raw.abs().max() > 1.5 and (raw.std(1) > 0.5).any()  # out of range, channels disagree
    # only p' is clipped (docs/FORMATS.md#around-the-model)
    disparity = ((raw.mean(1)[0] * 0.5 + 0.5) ** 2).clamp(1e-3, 1)
    np.testing.assert_allclose(geometry["disparity"], disparity.numpy(), rtol=1e-5, atol=1e-6)


def test_the_seed_samples_the_colour_posteriors_before_the_initial_noise():
    pipe, vae, backbone = vae_pipeline()
    clip, goal = frames(9), frames(1, seed=1)
    config = SamplingConfig(seed=5, steps=1, progress=False)
    sf = vae.config.scaling_factor
    with torch.no_grad():
        clip_dist, obs_dist, goal_dist = (vae.encode(vae_video(x)).latent_dist for x in (clip, clip[:1], goal))

    pipe.reconstruct(clip, config=config)
    generator = torch.Generator().manual_seed(5)
    posterior = sf * to_ours(clip_dist.sample(generator))
    noise = torch.randn(1, 3, 56, H // 8, W // 8, generator=generator)
    first = backbone.calls[0]
    torch.testing.assert_close(first[:, :, 56:72], posterior)
    torch.testing.assert_close(first[:, :, :56], noise)

    pipe.reconstruct(clip, config=config.model_copy(update={"posterior": "mode"}))
    first = backbone.calls[1]  # after the first pass (one step)
    torch.testing.assert_close(first[:, :, 56:72], sf * to_ours(clip_dist.mode()))
    torch.testing.assert_close(first[:, :, :56], torch.randn(noise.shape, generator=torch.Generator().manual_seed(5)))

    backbone.calls.clear()
    pipe.plan(clip[0], goal[0], config=config)  # observation, then goal, then the noise
    generator = torch.Generator().manual_seed(5)
    observation, target = (sf * to_ours(dist.sample(generator)) for dist in (obs_dist, goal_dist))
    noise = torch.randn(1, 3, 56, H // 8, W // 8, generator=generator)
    first = backbone.calls[0]  # CFG: [unconditional, conditional]
    torch.testing.assert_close(first[1:, :1, 56:72], observation)
    torch.testing.assert_close(first[1:, -1:, 56:72], target)
    torch.testing.assert_close(first[:, :, :56], noise.expand(2, -1, -1, -1, -1))


def test_prediction_reconstructs_its_video_decoded_to_rgb_and_re_encoded():
    pipe, vae, backbone = vae_pipeline()
    sampled = []
    sample = pipe.sample
    pipe.sample = lambda *args, **kwargs: sampled.append(sample(*args, **kwargs)) or sampled[-1]
    config = SamplingConfig(seed=3, steps=1, progress=False)
    result = pipe.predict(frames(1)[0], config=config)  # 1 CFG step, then 4 reconstruction steps at seed 3
    generated = sampled[0][:, :, :16]
    with torch.no_grad():
        decoded = vae.decode(generated.permute(0, 2, 1, 3, 4) * (1 / vae.config.scaling_factor)).sample
        rgb = (decoded * 0.5 + 0.5).clamp(0, 1)  # what the release returns and re-encodes
        posterior = vae.encode(2 * rgb - 1).latent_dist.sample(torch.Generator().manual_seed(3))
    reencoded = vae.config.scaling_factor * to_ours(posterior)
    assert len(backbone.calls) == 1 + 4
    torch.testing.assert_close(backbone.calls[1][:, :, 56:72], reencoded)
    np.testing.assert_array_equal(result.rgb, (rgb[0] * 255).round().byte().permute(1, 2, 3, 0).numpy())

    backbone.calls.clear()
    pipe.predict(frames(1)[0], config=config, post_reconstruction="latents")  # the shortcut: no VAE round trip
    torch.testing.assert_close(backbone.calls[1][:, :, 56:72], sampled[-2][:, :, :16])
