"""AetherPipeline with a stand-in backbone whose v-prediction implies a known clean latent: the
tasks must decode exactly the depth, cameras and colour that latent was built from.

The codecs here are exact, invertible stand-ins (test-only) so the known answers are exact; the
same tests also run with the real ``disparity`` depth codec and ``raymap`` action encoder once
aether-codecs registers them.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aether.core.errors import ActionLayoutError, PluginError
from aether.core.interfaces import ActionEncoder
from aether.core.registry import default_registry
from aether.core.testing.tiny_model import SCHEDULER_CONFIG
from aether.tasks.pipeline import AetherPipeline, TaskInputError
from aether.tasks.sampling import SamplingConfig, make_scheduler
from aether.tasks.trajectories import named_trajectory

H, W = 16, 24
QUIET = SamplingConfig(progress=False)


# --------------------------------------------------------------------------- exact stand-ins
class BlockCodec:
    """Latent frame t = pixel frame 4t, 8x8 mean-pooled, in channels 0:3; decoding repeats it."""

    def encode(self, video, generator=None):
        pooled = F.avg_pool2d(video[0, ::4].float(), 8)[None]
        return torch.cat([pooled, torch.zeros(1, pooled.shape[1], 13, *pooled.shape[-2:])], 2)

    def decode(self, latents):
        frames = torch.repeat_interleave(latents[0, :, :3], 4, dim=0)[3:]
        return F.interpolate(frames, scale_factor=8, mode="nearest")[None]


class DisparityCodec:
    """docs/FORMATS.md#depth-codec: x = 2 sqrt(p / p_max) - 1 on 3 channels; decode to relative depth."""

    def encode(self, depth):
        p = 1 / depth
        p_max = p.flatten(1).max(1).values
        q = (p / p_max.view(-1, 1, 1, 1)).sqrt()
        return (2 * q - 1)[:, :, None].expand(-1, -1, 3, -1, -1), p_max

    def decode(self, video, p_max=None):
        q = video.mean(2) / 2 + 0.5
        return 1 / (q * q).clamp(1e-3, 1)


class PoseCodec(ActionEncoder):
    """Consecutive packing of 16 numbers per frame (c2w[:3], fx, fy, cx, cy) into 6 x h x w slots."""

    def encode(self, c2w, K, height, width, p_max=None):
        values = torch.cat([c2w[0, :, :3].flatten(1), K[0, :, [0, 1, 0, 1], [0, 1, 2, 2]]], 1)
        h, w = height // 8, width // 8
        slots = torch.zeros(len(values) + 3, 6 * h * w)
        slots[3:, :16] = values
        return slots.view(1, -1, 24, h, w)

    def decode(self, action, height, width, p_max=None):
        values = action.reshape(-1, action[0, 0, 0].numel() * 6)[3:, :16].double()
        c2w = torch.eye(4, dtype=torch.float64).repeat(len(values), 1, 1)
        c2w[:, :3] = values[:, :12].view(-1, 3, 4)
        K = torch.eye(3, dtype=torch.float64).repeat(len(values), 1, 1)
        K[:, [0, 1, 0, 1], [0, 1, 2, 2]] = values[:, 12:]
        return c2w[None], K[None]


class KnownBackbone(torch.nn.Module):
    """v-prediction implying the clean latent ``x0 (1, T, 56, h, w)``; records its inputs."""

    def __init__(self, x0):
        super().__init__()
        self.x0, self.calls = x0, []
        self.alphas = make_scheduler(SCHEDULER_CONFIG).alphas_cumprod.float()

    def forward(self, x, timestep, fps, prompt_embeds):
        self.calls.append((x.clone(), fps, prompt_embeds.shape))
        alpha = self.alphas[int(timestep[0])]
        return (alpha.sqrt() * x[:, :, :56] - self.x0) / (1 - alpha).sqrt()


def scene(num_frames):
    """Block-constant rgb, depth (metres) and a trajectory whose clean latent is exactly decodable."""
    rng = np.random.default_rng(0)
    num_latent = (num_frames - 1) // 4 + 1
    blocks = rng.uniform(1.0, 4.0, (num_latent, H // 8, W // 8))
    per_frame = np.repeat(blocks, 4, axis=0)[3:]
    depth = np.kron(per_frame, np.ones((8, 8))).astype(np.float32)
    rgb_blocks = rng.integers(0, 255, (num_latent, H // 8, W // 8, 3))
    rgb = np.kron(np.repeat(rgb_blocks, 4, axis=0)[3:], np.ones((1, 8, 8, 1))).astype(np.uint8)
    c2w = named_trajectory("orbit-left", num_frames)
    K = np.tile([[20.0, 0, W / 2], [0, 21.0, H / 2], [0, 0, 1]], (num_frames, 1, 1))
    return rgb, depth, c2w, K


def to_video(frames):
    """uint8 (F, H, W, 3) -> (1, F, 3, H, W) in [-1, 1], as the pipeline feeds its video codec."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2)[None].float() / 127.5 - 1


def known_pipeline(rgb, depth, c2w, K, codecs, dtype=torch.float32):
    video_codec, depth_codec, action_encoder = codecs
    depth_video, _ = depth_codec.encode(torch.from_numpy(depth)[None])
    action = action_encoder.encode(torch.from_numpy(c2w)[None].float(), torch.from_numpy(K)[None].float(), H, W)
    x0 = torch.cat([video_codec.encode(to_video(rgb)), video_codec.encode(depth_video), action], dim=2).float()
    backbone = KnownBackbone(x0)
    pipe = AetherPipeline(backbone, video_codec, depth_codec, action_encoder, SCHEDULER_CONFIG,
                          prompt_embeds=torch.zeros(1, 5, 4), height=H, width=W, default_frames=9,
                          dtype=dtype)
    return pipe, backbone


def codec_sets():
    yield pytest.param((BlockCodec(), DisparityCodec(), PoseCodec()), id="stand-ins")
    registry = default_registry()
    try:  # the real depth codec and raymap action encoder, once aether-codecs provides them
        real = (BlockCodec(), registry.build("modality", "disparity"), registry.build("action_encoder", "raymap"))
    except PluginError:
        return
    yield pytest.param(real, id="real-codecs")
    # the paper text's packing, which a model trained from scratch may use
    yield pytest.param((real[0], real[1], type(real[2])(layout="consecutive")), id="real-codecs-consecutive")


@pytest.fixture(params=list(codec_sets()))
def codecs(request):
    return request.param


def check_geometry(result, depth, c2w, K, atol=1e-3):
    nearest = depth.min()  # relative depth: units of the clip's nearest depth (p_max unknown)
    np.testing.assert_allclose(result.depth, depth / nearest, rtol=1e-3)
    np.testing.assert_allclose(result.disparity, nearest / depth, rtol=1e-3)
    np.testing.assert_allclose(result.c2w, c2w, atol=atol)
    np.testing.assert_allclose(result.K, K, atol=atol)


def test_reconstruction_decodes_the_known_depth_and_cameras(codecs):
    rgb, depth, c2w, K = scene(9)
    pipe, backbone = known_pipeline(rgb, depth, c2w, K, codecs)
    result = pipe.reconstruct(rgb, fps=10.0, config=QUIET)
    assert (result.task, result.fps, result.rgb.shape) == ("reconstruction", 10.0, (9, H, W, 3))
    np.testing.assert_array_equal(result.rgb, rgb)
    check_geometry(result, depth, c2w, K)
    assert len(backbone.calls) == 4  # 4 steps, no CFG: batch 1
    x, fps, prompt_shape = backbone.calls[0]
    assert x.shape == (1, 3, 96, H // 8, W // 8) and fps == 10.0 and prompt_shape == (1, 5, 4)
    torch.testing.assert_close(x[:, :, 56:72], codecs[0].encode(to_video(rgb)))  # every frame observed
    assert x[:, :, 72:].abs().max() == 0  # no action


def test_prediction_conditions_on_the_image_and_trajectory_then_reconstructs(codecs):
    rgb, depth, c2w, K = scene(9)
    pipe, backbone = known_pipeline(rgb, depth, c2w, K, codecs)
    action = pipe.action_from_cameras(c2w, K)
    result = pipe.predict(rgb[0], fps=12.0, action=action, config=SamplingConfig(steps=3, progress=False))
    assert result.task == "prediction" and result.rgb.shape == (9, H, W, 3)
    assert np.abs(result.rgb.astype(int) - rgb).max() <= 1  # generated colour = the known x0's colour
    check_geometry(result, depth, c2w, K)
    assert len(backbone.calls) == 3 + 4  # 3 guided steps, then the 4-step reconstruction pass
    x = backbone.calls[0][0]
    assert x.shape[0] == 2  # CFG: [uncond, cond] in one batch
    torch.testing.assert_close(x[1:, :1, 56:72], codecs[0].encode(to_video(rgb[:1])))
    assert x[1:, 1:, 56:72].abs().max() == 0 and x[:1, :, 56:72].abs().max() == 0
    torch.testing.assert_close(x[:, :, 72:], action.expand(2, -1, -1, -1, -1))  # action kept in both branches


def test_planning_puts_observation_first_and_goal_last(codecs):
    rgb, depth, c2w, K = scene(17)
    pipe, backbone = known_pipeline(rgb, depth, c2w, K, codecs)
    result = pipe.plan(rgb[0], rgb[-1], num_frames=17, config=SamplingConfig(steps=2, progress=False))
    assert result.task == "planning" and result.depth.shape == (17, H, W)
    check_geometry(result, depth, c2w, K)
    cond = backbone.calls[0][0][1, :, 56:72]
    torch.testing.assert_close(cond[None, :1], codecs[0].encode(to_video(rgb[:1])))
    torch.testing.assert_close(cond[None, -1:], codecs[0].encode(to_video(rgb[-1:])))
    assert cond[1:-1].abs().max() == 0 and backbone.calls[0][0][0, :, 56:72].abs().max() == 0


def test_a_clip_of_other_length_is_padded_to_8m_plus_1_and_trimmed(codecs):
    rgb, depth, c2w, K = scene(17)
    pipe, backbone = known_pipeline(rgb, depth, c2w, K, codecs)
    result = pipe.reconstruct(rgb[:12], config=QUIET)  # 12 frames -> one pass of 17
    np.testing.assert_array_equal(result.rgb, rgb[:12])
    check_geometry(result, depth[:12], c2w[:12], K[:12])
    assert len(backbone.calls) == 4 and backbone.calls[0][0].shape[1] == 5  # 5 latent frames
    observed = backbone.calls[0][0][:, :, 56:72]
    padded = np.concatenate([rgb[:12], np.repeat(rgb[11:12], 5, axis=0)])
    torch.testing.assert_close(observed, codecs[0].encode(to_video(padded)))


def test_long_videos_run_as_windows(codecs):
    rgb, depth, c2w, K = scene(9)
    pipe, backbone = known_pipeline(rgb, depth, c2w, K, codecs)
    frames = np.concatenate([rgb, rgb[:8]])  # 17 frames, windows of 9 every 8: (0, 9), (8, 17)
    result = pipe.reconstruct(frames, config=QUIET, window=9, stride=8)
    assert result.rgb.shape == (17, H, W, 3) and result.c2w.shape == (17, 4, 4)
    assert len(backbone.calls) == 2 * 4


def test_bad_input_gives_one_line_errors(codecs):
    rgb, depth, c2w, K = scene(9)
    pipe, _ = known_pipeline(rgb, depth, c2w, K, codecs)
    cases = [(lambda: pipe.reconstruct(rgb[0]), "single image"),
             (lambda: pipe.reconstruct(rgb[:7]), "video has 7 frames"),
             (lambda: pipe.predict(rgb[0], num_frames=10), "has 10 frames.*use 9"),
             (lambda: pipe.predict(rgb[0], num_frames=13), "has 13 frames.*8m \\+ 1"),
             (lambda: pipe.action_from_cameras(c2w[:8]), "trajectory has 8 frames"),
             (lambda: pipe.predict(rgb[0], num_frames=17, action=pipe.action_from_cameras(c2w)),
              "trajectory has 9 frames but 17"),
             (lambda: pipe.predict(rgb), "one uint8 RGB image")]
    for call, message in cases:
        with pytest.raises(TaskInputError, match=message) as info:
            call()
        assert "\n" not in str(info.value)


def test_frames_of_another_size_are_resized_and_centre_cropped(codecs):
    rgb, depth, c2w, K = scene(9)
    pipe, _ = known_pipeline(rgb, depth, c2w, K, codecs)
    wide = np.zeros((9, 16, 48, 3), np.uint8)
    wide[:, :, 12:36] = rgb  # the centre 24 columns hold the clip
    np.testing.assert_array_equal(pipe.reconstruct(wide, config=QUIET).rgb, rgb)


def test_bf16_model_inputs_give_the_same_geometry_to_bf16_precision(codecs):
    rgb, depth, c2w, K = scene(9)
    pipe, backbone = known_pipeline(rgb, depth, c2w, K, codecs, dtype=torch.bfloat16)
    result = pipe.reconstruct(rgb, config=QUIET)
    assert backbone.calls[0][0].dtype == torch.bfloat16
    np.testing.assert_allclose(result.depth, depth / depth.min(), rtol=0.05)
    np.testing.assert_allclose(result.c2w, c2w, atol=0.05)


def test_a_raymap_is_packed_the_way_the_models_action_encoder_packs(codecs):
    rgb, depth, c2w, K = scene(9)
    pipe, _ = known_pipeline(rgb, depth, c2w, K, codecs)
    if type(codecs[2]).from_raymap is ActionEncoder.from_raymap:  # an encoder that reads no raymaps says so
        with pytest.raises(ActionLayoutError, match="does not read raymaps"):
            pipe.action_from_raymap(np.zeros((9, 6, H // 8, W // 8), np.float32))
        return
    from aether.codecs import raymap as raymap_codec

    unpacked = raymap_codec.encode(torch.from_numpy(c2w).float(), torch.from_numpy(K).float(), H, W).numpy()
    torch.testing.assert_close(pipe.action_from_raymap(unpacked), pipe.action_from_cameras(c2w, K))
