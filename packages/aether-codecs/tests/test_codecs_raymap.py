"""Raymap codec (SPEC §4): packing layout by hand, exact round trips, bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation

from aether.codecs import raymap
from aether.codecs.errors import CodecError
from aether.codecs.plugins import RaymapEncoder


def _cameras(n: int, seed: int, fx=300.0, fy=280.0, cx=150.0, cy=100.0, dtype=torch.float32):
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.random(n, random_state=seed).as_matrix()
    c2w[:, :3, 3] = rng.normal(size=(n, 3))
    K = np.tile([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], (n, 1, 1))
    return torch.tensor(c2w, dtype=dtype), torch.tensor(K, dtype=dtype)


def test_pack_nine_frames_by_hand():
    frames = torch.arange(9.0).view(9, 1, 1, 1).expand(9, 6, 1, 1)  # value = frame index
    packed = raymap.pack(frames)
    assert packed.shape == (3, 24, 1, 1)
    # padded = [0, 1, 2, 0, 1, ..., 8]; strided: latent t holds padded t, t+3, t+6, t+9 at channels n*6 + c
    expected = [[0, 0, 3, 6], [1, 1, 4, 7], [2, 2, 5, 8]]
    got = packed[:, ::6, 0, 0]
    assert got.tolist() == expected
    assert (packed.view(3, 4, 6) == packed.view(3, 4, 6)[:, :, :1]).all()  # all 6 channels of one frame together
    consecutive = raymap.pack(frames, layout="consecutive")[:, ::6, 0, 0]
    assert consecutive.tolist() == [[0, 1, 2, 0], [1, 2, 3, 4], [5, 6, 7, 8]]


@settings(max_examples=15, deadline=None)
@given(k=st.integers(1, 3), B=st.integers(1, 2), layout=st.sampled_from(["strided", "consecutive"]),
       seed=st.integers(0, 2**31))
def test_unpack_inverts_pack_exactly(k, B, layout, seed):
    x = torch.randn(B, 4 * k + 1, 6, 2, 3, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(raymap.unpack(raymap.pack(x, layout), layout), x)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), f=st.floats(40, 800), aspect=st.floats(0.7, 1.4),
       cx=st.floats(0.2, 0.8), cy=st.floats(0.2, 0.8), p_max=st.floats(0.05, 3),
       size=st.sampled_from([(32, 48), (48, 32)]))
def test_lstsq_decode_recovers_cameras(seed, f, aspect, cx, cy, p_max, size):
    H, W = size
    c2w, K = _cameras(5, seed % 1000, f, f * aspect, cx * W, cy * H)
    ray = raymap.encode(c2w, K, H, W, p_max=p_max)
    c2w_d, K_d = raymap.decode(ray, H, W, p_max=p_max)
    rel = Rotation.from_matrix(c2w_d[:, :3, :3].double().numpy()).inv() * Rotation.from_matrix(
        c2w[:, :3, :3].double().numpy())
    assert np.degrees(rel.magnitude()).max() < 1e-3
    t_err = (c2w_d[:, :3, 3] - c2w[:, :3, 3]).norm(dim=-1) / c2w[:, :3, 3].norm(dim=-1).clamp_min(1e-2)
    assert t_err.max() < 1e-4
    assert ((K_d - K).abs() / K[:, :1, :1]).max() < 1e-4  # focal and principal point, relative to focal
    assert (torch.linalg.det(c2w_d[:, :3, :3]) > 0).all()


def test_batched_unbatched_released_and_plugin():
    c2w, K = _cameras(9, 7, 200, 200, 63.5, 47.5, dtype=torch.float64)  # centred principal point
    H, W = 96, 128
    single = raymap.encode(c2w, K, H, W)
    batched = raymap.encode(torch.stack([c2w, c2w]), torch.stack([K, K]), H, W, p_max=torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(batched[0], single)
    torch.testing.assert_close(raymap.decode(batched, H, W, p_max=torch.tensor([1.0, 2.0]))[0][1], c2w)
    # the released heuristic is exact on position and direction for a centred, square-pixel camera
    c2w_r, K_r = raymap.decode(single, H, W, method="released")
    torch.testing.assert_close(c2w_r, c2w, atol=1e-6, rtol=0)
    torch.testing.assert_close(K_r, K, atol=1e-4, rtol=0)
    enc = RaymapEncoder()
    packed = enc.encode(c2w[None], K[None], H, W)
    assert packed.shape == (1, 3, 24, 12, 16)
    torch.testing.assert_close(packed, raymap.encode_packed(c2w[None], K[None], H, W))
    c2w_p, K_p = enc.decode(packed, H, W)
    torch.testing.assert_close(c2w_p[0], c2w)
    torch.testing.assert_close(K_p[0], K)


def test_mirrored_raymap_decodes_to_a_proper_camera():
    """A mirrored direction field (columns reversed, as a generated raymap may be) has no exact
    camera: lstsq falls back, frame by frame, to the released heuristic's proper rotation."""
    c2w, K = _cameras(5, 4, 200, 200, 63.5, 47.5, dtype=torch.float64)
    ray = raymap.encode(c2w, K, 96, 128)
    ray[2:4, :3] = ray[2:4, :3].flip(-1)
    c2w_d, K_d = raymap.decode(ray, 96, 128)
    assert (torch.linalg.det(c2w_d[:, :3, :3]) > 0).all() and (K_d[:, 0, 0] > 0).all()
    torch.testing.assert_close(c2w_d[[0, 1, 4]], c2w[[0, 1, 4]])  # untouched frames still exact
    c2w_r, K_r = raymap.decode(ray[2:4], 96, 128, method="released")
    torch.testing.assert_close(c2w_d[2:4], c2w_r)
    torch.testing.assert_close(K_d[2:4], K_r)


def test_shared_intrinsics_are_exact_on_clean_raymaps_and_outvote_a_bad_frame():
    H, W = 96, 128
    c2w_a, K_a = _cameras(5, 11, 200, 190, 70.0, 40.0, dtype=torch.float64)
    c2w_b, K_b = _cameras(5, 12, 150, 150, 63.5, 47.5, dtype=torch.float64)  # centred principal point
    ray = raymap.encode(torch.stack([c2w_a, c2w_b]), torch.stack([K_a, K_b]), H, W)
    c2w_d, K_d = raymap.decode(ray, H, W, shared_intrinsics=True)
    torch.testing.assert_close(c2w_d, torch.stack([c2w_a, c2w_b]))
    torch.testing.assert_close(K_d, torch.stack([K_a, K_b]))
    # one frame of clip b zooms in (its directions' camera x and y spread shrink by 1.25): its own fit
    # reads the zoom, the shared fit keeps the clip's intrinsics and still finds its exact rotation
    # (a centred principal point keeps the grid's rays symmetric, so the stretch does not turn it)
    zoomed = K_b[2].clone()
    zoomed[:2, :2] *= 1.25
    zoomed_ray = raymap.encode(c2w_b[2:3], zoomed[None], H, W)[0]
    ray[1, 2] = zoomed_ray
    torch.testing.assert_close(raymap.decode(ray[1], H, W)[1][2], zoomed)
    c2w_s, K_s = raymap.decode(ray[1], H, W, shared_intrinsics=True)
    torch.testing.assert_close(K_s, K_b)
    torch.testing.assert_close(c2w_s, c2w_b)


def test_shared_intrinsics_cut_rotation_noise_and_are_the_encoder_default():
    H, W = 64, 96
    c2w, K = _cameras(17, 5, 80, 80, 45.0, 33.0, dtype=torch.float64)
    ray = raymap.encode(c2w, K, H, W)
    noisy = ray + 0.05 * torch.randn(ray.shape, generator=torch.Generator().manual_seed(0), dtype=ray.dtype)

    def rotation_error(decoded):
        rel = Rotation.from_matrix(decoded[:, :3, :3].numpy()).inv() * Rotation.from_matrix(c2w[:, :3, :3].numpy())
        return np.degrees(rel.magnitude()).mean()

    own = rotation_error(raymap.decode(noisy, H, W)[0])
    shared = rotation_error(raymap.decode(noisy, H, W, shared_intrinsics=True)[0])
    assert shared < 0.8 * own  # 0.96 against 1.38 degrees on this seed
    packed = raymap.pack(noisy[None])
    torch.testing.assert_close(RaymapEncoder().decode(packed, H, W)[0][0],
                               raymap.decode(noisy, H, W, shared_intrinsics=True)[0])


def test_bad_input_raises():
    c2w, K = _cameras(9, 1)
    bad_K = K.clone()
    bad_K[2, 0, 0] = 0
    with pytest.raises(CodecError, match="focal"):
        raymap.encode(c2w, bad_K, 32, 48)
    with pytest.raises(CodecError, match="multiples of 8"):
        raymap.encode(c2w, K, 30, 48)
    nan = c2w.clone()
    nan[0, 0, 3] = float("nan")
    with pytest.raises(CodecError, match="NaN"):
        raymap.encode(nan, K, 32, 48)
    with pytest.raises(CodecError, match="4k\\+1"):
        raymap.pack(torch.zeros(8, 6, 4, 6))
    with pytest.raises(CodecError, match="4k\\+1"):
        raymap.pack(torch.zeros(1, 6, 4, 6))
    ray = raymap.encode(c2w, K, 32, 48)
    with pytest.raises(CodecError, match="method"):
        raymap.decode(ray, 32, 48, method="magic")
    with pytest.raises(CodecError, match="layout"):
        raymap.pack(ray, layout="zigzag")
    with pytest.raises(CodecError, match="raymap must be"):
        raymap.decode(ray, 64, 48)
    with pytest.raises(CodecError, match="p_max"):
        raymap.decode(ray, 32, 48, p_max=0.0)
    with pytest.raises(CodecError, match="one value per batch"):
        raymap.encode(c2w[None], K[None], 32, 48, p_max=torch.ones(3))
    with pytest.raises(CodecError, match="method"):
        RaymapEncoder(method="magic")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_encode_packed_on_cuda_matches_reference():
    c2w, K = _cameras(9, 3)
    expected = raymap.pack(raymap.encode(c2w, K, 96, 128, p_max=0.5))
    got = raymap.encode_packed(c2w.cuda(), K.cuda(), 96, 128, p_max=0.5)
    torch.testing.assert_close(got.cpu(), expected, atol=1e-5, rtol=1e-5)
