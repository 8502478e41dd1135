"""fps-aware 3D RoPE: bit-identical to diffusers at 12 fps, temporal positions scaled by 12/fps."""

import pytest
import torch
from diffusers.models.embeddings import get_3d_rotary_pos_embed

from aether.core.rope import resize_crop_region, rotary_embedding

CONFIG = dict(patch_size=2, attention_head_dim=64, sample_height=60, sample_width=90)


@pytest.mark.parametrize("grid, base, expected", [
    ((30, 45), (45, 30), ((0, 0), (30, 45))),   # the base 480x720 grid itself
    ((4, 4), (45, 30), ((0, 8), (30, 38))),     # square: full height, centred columns
    ((10, 45), (45, 30), ((10, 0), (20, 45))),  # wide: full width, rows centred at (30 - 10) / 2
])
def test_crop_region_matches_hand_values(grid, base, expected):
    assert resize_crop_region(*grid, *base) == expected


@pytest.mark.parametrize("frames, height, width", [(5, 60, 90), (7, 60, 90), (11, 60, 90), (3, 8, 8), (4, 16, 40)])
def test_fps_12_is_bit_identical_to_diffusers(frames, height, width):
    grid = (height // 2, width // 2)
    crop = resize_crop_region(*grid, 45, 30)
    ref_cos, ref_sin = get_3d_rotary_pos_embed(64, crop, grid, frames)
    cos, sin = rotary_embedding(frames, height, width, 12.0, CONFIG)
    assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)


def test_temporal_positions_scale_with_fps():
    # at 6 fps latent frame t sits at 2t: frames 0, 1 of a 2-frame clip = frames 0, 2 of a 3-frame clip at 12 fps
    dim_t = CONFIG["attention_head_dim"] // 4
    slow, _ = rotary_embedding(2, 8, 8, 6.0, CONFIG)
    base, _ = rotary_embedding(3, 8, 8, 12.0, CONFIG)
    tokens = 16  # 4x4 patches per frame
    assert torch.allclose(slow[:tokens], base[:tokens])
    assert torch.allclose(slow[tokens:, :dim_t], base[2 * tokens:, :dim_t], atol=1e-6)
    # spatial columns do not depend on fps
    assert torch.equal(slow[tokens:, dim_t:], base[2 * tokens:, dim_t:])
    fast, _ = rotary_embedding(2, 8, 8, 24.0, CONFIG)
    angle = torch.arccos(fast[tokens, 0].clamp(-1, 1))  # first temporal frequency is 1 rad per position
    assert angle.item() == pytest.approx(0.5, abs=1e-5)


@pytest.mark.parametrize("kwargs", [dict(num_frames=0), dict(height=7), dict(fps=0.0), dict(fps=float("nan"))])
def test_invalid_inputs_raise(kwargs):
    args = dict(num_frames=3, height=8, width=8, fps=12.0) | kwargs
    with pytest.raises(ValueError):
        rotary_embedding(config=CONFIG, **args)
