"""Frames onto the model's grid: images, depth and intrinsics map alike; colour to the codec's input."""

import numpy as np
import pytest
import torch

from aether.codecs.errors import CodecError
from aether.codecs.frames import cover_crop, fit_depth, fit_frames, fit_intrinsics, frames_to_video, rgb_to_frames


def test_cover_crop_keeps_the_aspect_and_centres_the_crop():
    # 40 x 64 onto 32 x 48: scale 0.8 -> 32 x 51.2, rounded to 51 wide, 1 column cut on the left
    assert cover_crop(40, 64, 32, 48) == (0.8, (51, 32), (0, 1))
    # a tall image onto a wide grid: the width decides, the height is cut evenly
    assert cover_crop(100, 50, 32, 48) == (0.96, (48, 96), (32, 0))


def test_intrinsics_follow_the_pixels_they_describe():
    """A point seen at (u, v) in the source is seen where the fitted intrinsics project it."""
    K = np.array([[60.0, 0, 31.5], [0, 62.0, 19.0], [0, 0, 1]])
    point = np.array([0.3, -0.2, 2.0])
    u, v, _ = K @ point / point[2]
    fitted = fit_intrinsics(K, 40, 64, 32, 48)
    _, (new_w, new_h), (y0, x0) = cover_crop(40, 64, 32, 48)
    # pixel centres map as u' = s (u + 1/2) - 1/2, then shift by the crop
    expected = [(u + 0.5) * new_w / 64 - 0.5 - x0, (v + 0.5) * new_h / 40 - 0.5 - y0]
    np.testing.assert_allclose((fitted @ point / point[2])[:2], expected, atol=1e-12)
    np.testing.assert_array_equal(fit_intrinsics(K, 32, 48, 32, 48), K)


def test_depth_is_fitted_by_nearest_neighbour_so_invalid_pixels_never_blend():
    depth = np.where(np.indices((2, 40, 64))[2] % 2 == 0, 0.0, 5.0).astype(np.float32)  # 0 = invalid columns
    fitted = fit_depth(depth, 32, 48)
    assert fitted.shape == (2, 32, 48) and set(np.unique(fitted)) == {0.0, 5.0}
    assert fit_depth(depth[0], 32, 48).shape == (32, 48)
    np.testing.assert_array_equal(fit_depth(depth[0], 32, 48), fitted[0])


def test_frames_fit_and_enter_the_codec_as_the_release_scales_them():
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 64, 3), dtype=np.uint8)
    assert fit_frames(frames, 32, 48).shape == (3, 32, 48, 3)
    video = frames_to_video(frames, "cpu", torch.float32)
    assert video.shape == (1, 3, 3, 40, 64)
    torch.testing.assert_close(video, 2 * (torch.from_numpy(frames).permute(0, 3, 1, 2)[None].float() / 255) - 1,
                               rtol=0, atol=0)
    np.testing.assert_array_equal(rgb_to_frames((video + 1) / 2), frames)
    with pytest.raises(CodecError, match="uint8"):
        fit_frames(frames.astype(np.float32), 32, 48)
