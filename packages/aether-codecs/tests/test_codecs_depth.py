"""Depth codec (docs/FORMATS.md#depth-codec) against hand-computed values and round trips."""

import pytest
from hypothesis import given, settings, strategies as st
import torch

from aether.codecs import depth
from aether.codecs.errors import CodecError
from aether.codecs.encoders import DisparityCodec


def test_hand_computed_values():
    d = torch.tensor([[[1.0, 4.0], [0.0, 16.0]]])  # (F=1, H=2, W=2); nearest depth 1 m
    video, p_max = depth.encode(d)
    assert p_max.item() == 1.0
    # q = sqrt(1/d): 1, 0.5, invalid 0, 0.25 -> x = 2q - 1
    expected = torch.tensor([[1.0, 0.0], [-1.0, -0.5]])
    assert video.shape == (1, 3, 2, 2)
    torch.testing.assert_close(video[0], expected.expand(3, 2, 2))
    torch.testing.assert_close(depth.decode(video, p_max)[0], torch.tensor([[1.0, 4.0], [1000.0, 16.0]]))


def test_decode_averages_the_channels_unclamped_and_clips_only_the_disparity():
    # (1.5, 0.5, -0.5) average 0.5: q = 0.75, p' = 0.5625 (clamping each channel first would give 1/3)
    video = torch.tensor([1.5, 0.5, -0.5]).view(1, 3, 1, 1)
    torch.testing.assert_close(depth.decode(video), torch.tensor([[[1 / 0.5625]]]))
    # above 1: q = 2, p' = 4, clipped to 1; far below: p' clipped to 1e-3
    torch.testing.assert_close(depth.decode(torch.full((1, 3, 1, 2), 3.0)), torch.ones(1, 1, 2))
    torch.testing.assert_close(depth.decode(torch.full((1, 3, 1, 1), -0.99)), torch.full((1, 1, 1), 1000.0))


def test_unclipped_disparity_keeps_the_release_value_in_range_and_its_gradient_beyond():
    # channel means 0.5 (q 0.75), 3 (q 2, the release clips p' 4 to 1), -0.99 (q 0.005, clipped up to 1e-3)
    # and -3 (q -1: beyond the far end, where the release's q^2 turns back up to the nearest depth; q |q| = -1
    # keeps falling)
    means = torch.tensor([0.5, 3.0, -0.99, -3.0])
    video = means.view(1, 1, 4).expand(3, 1, 4).unsqueeze(0).clone().requires_grad_(True)
    clipped, free = depth.disparity(video), depth.disparity(video, clip=False)
    torch.testing.assert_close(clipped[0, 0], torch.tensor([0.5625, 1.0, 1e-3, 1.0]))
    torch.testing.assert_close(free[0, 0], torch.tensor([0.5625, 4.0, 2.5e-5, -1.0]))
    torch.testing.assert_close(depth.decode(video), 1 / clipped)
    free.sum().backward()
    slope = video.grad[0, 0, 0] * 3  # d p' / d mean, spread over three channels
    # q |q| has slope |q| per unit of the mean: never zero away from q = 0, and positive on both sides
    torch.testing.assert_close(slope, torch.tensor([0.75, 2.0, 0.005, 1.0]))


def test_round_trip_batched_with_scale():
    g = torch.Generator().manual_seed(0)
    d = torch.rand(2, 5, 8, 16, generator=g) * 30 + 0.5
    d[1, 2, 3, 4] = 0
    video, p_max = depth.encode(d)
    assert video.shape == (2, 5, 3, 8, 16) and video.min() >= -1 and video.max() <= 1
    torch.testing.assert_close(p_max, 1 / d.where(d > 0, torch.inf).flatten(1).amin(1))
    back = depth.decode(video, p_max)
    valid = d > 0
    assert ((back - d).abs() / d)[valid].max() < 1e-5
    relative = depth.decode(video)  # unknown scale: units of the nearest depth
    torch.testing.assert_close(relative * (1 / p_max).view(2, 1, 1, 1), back)


def test_plugin_codec_and_bad_input():
    codec = DisparityCodec()
    d = torch.full((1, 1, 2, 2), 3.0)
    video, p_max = codec.encode(d)
    torch.testing.assert_close(codec.decode(video, p_max), d)
    with pytest.raises(CodecError, match="NaN"):
        depth.encode(torch.tensor([[[float("nan")]]]))
    with pytest.raises(CodecError, match="no valid"):
        depth.encode(torch.zeros(1, 2, 2))
    with pytest.raises(CodecError, match="dims"):
        depth.encode(torch.ones(2, 2))
    with pytest.raises(CodecError, match="3 channels"):
        depth.decode(torch.zeros(1, 2, 4, 2, 2))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), near=st.floats(0.01, 10), span=st.floats(1.0, 900.0),
       invalid=st.floats(0, 0.5))
def test_round_trip_property(seed, near, span, invalid):
    g = torch.Generator().manual_seed(seed)
    d = near * (1 + torch.rand(3, 4, 5, generator=g, dtype=torch.float64) * (span - 1))
    d[torch.rand(3, 4, 5, generator=g, dtype=torch.float64) < invalid] = 0
    d[0, 0, 0] = near  # at least one valid pixel
    video, p_max = depth.encode(d)
    back = depth.decode(video, p_max)
    valid = d > 0
    assert ((back - d).abs() / d)[valid].max() < 1e-5
    assert (video.permute(1, 0, 2, 3)[:, ~valid] == -1).all()  # invalid pixels encode to -1
