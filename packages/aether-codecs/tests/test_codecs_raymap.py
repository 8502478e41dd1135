"""Raymap codec (docs/FORMATS.md#raymap-codec): packing layout by hand, exact round trips, the released heuristic
against a NumPy transcription of docs/FORMATS.md#raymap-codec, decode speed, bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.spatial.transform import Rotation

from aether.codecs import raymap
from aether.codecs.errors import CodecError
from aether.codecs.encoders import RaymapEncoder


def _cameras(n: int, seed: int, fx=300.0, fy=280.0, cx=150.0, cy=100.0, dtype=torch.float32):
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.random(n, random_state=seed).as_matrix()
    c2w[:, :3, 3] = rng.normal(size=(n, 3))
    K = np.tile([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], (n, 1, 1))
    return torch.tensor(c2w, dtype=dtype), torch.tensor(K, dtype=dtype)


def _spec_released(ray: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """the released heuristic (docs/FORMATS.md#decoding-cameras) written out term by term in NumPy, over all frames at
    once: raymap ``(F, 6, h, w)`` (p_max = 1) -> ``c2w (F, 4, 4)``, ``focal (F,)``."""
    d = ray[:, :3].transpose(0, 2, 3, 1)                                          # (F, h, w, 3)
    o = (np.sign(ray[:, 3:]) * (np.exp(np.abs(ray[:, 3:])) - 1) / 10).transpose(0, 2, 3, 1)
    h, w = d.shape[1:3]
    centre = o.mean((1, 2))
    Z = (o + d).mean((1, 2)) - centre
    focal_ray = np.linalg.norm(Z, axis=-1)
    Wv = d[:, :, -1].mean(1) - d[:, :, 0].mean(1)
    fov_x = np.arctan(np.linalg.norm(np.cross(Wv, Z), axis=-1) / (w - 1) * w / (2 * focal_ray))
    Hv = d[:, 0].mean(1) - d[:, -1].mean(1)
    fov_y = np.arctan(np.linalg.norm(np.cross(Hv, Z), axis=-1) / (h - 1) * h / (2 * focal_ray))
    Y = np.cross(Z, Wv)
    X = np.cross(Y, Z)
    c2w = np.tile(np.eye(4), (len(ray), 1, 1))
    c2w[:, :3, :3] = np.stack([a / np.linalg.norm(a, axis=-1, keepdims=True) for a in (X, Y, Z)], -1)
    c2w[:, :3, 3] = centre
    return c2w, (width * 0.5 / np.tan(fov_x) + height * 0.5 / np.tan(fov_y)) / 2


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


@pytest.mark.parametrize("method", ["lstsq", "released"])
def test_origins_are_unlogged_per_pixel_then_averaged(method):
    """docs/FORMATS.md#raymap-codec: invert the log at every pixel, then average (the mean of the logs differs on a
    generated raymap). One camera on a 2x2 raymap, origins by hand, p_max = 2 (divide by 10 * 2)."""
    c2w, K = _cameras(1, 0, 10, 10, 7.5, 7.5, dtype=torch.float64)
    ray = raymap.encode(c2w, K, 16, 16)
    ln = math.log
    ray[0, 3] = torch.tensor([[0, 0], [0, ln(101)]], dtype=ray.dtype)               # 0, 0, 0, 100: mean 25
    ray[0, 4] = -ln(3)                                                              # -2 everywhere
    ray[0, 5] = torch.tensor([[ln(2), -ln(2)], [ln(5), -ln(5)]], dtype=ray.dtype)   # 1, -1, 4, -4: mean 0
    c2w_d, _ = raymap.decode(ray, 16, 16, p_max=2.0, method=method)
    torch.testing.assert_close(c2w_d[0, :3, 3], torch.tensor([1.25, -0.1, 0.0], dtype=torch.float64))
    torch.testing.assert_close(c2w_d[0, :3, :3], c2w[0, :3, :3])


def test_released_focal_averages_the_x_and_y_fields_of_view():
    """A centred camera with fx = 200, fy = 100 (H x W = 96 x 128): the x field of view reads 200, the y
    one 100, and the release's single focal is their mean, 150; rotation and position stay exact."""
    c2w, K = _cameras(3, 8, 200, 100, 63.5, 47.5, dtype=torch.float64)
    c2w_r, K_r = raymap.decode(raymap.encode(c2w, K, 96, 128), 96, 128, method="released")
    expected = torch.tensor([[150, 0, 63.5], [0, 150, 47.5], [0, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(K_r, expected.expand(3, 3, 3))
    torch.testing.assert_close(c2w_r, c2w)


def test_released_decode_is_the_spec_heuristic_on_noisy_raymaps():
    """fx != fy, an off-centre principal point and noise on every channel, as in a generated raymap:
    ``method="released"`` is the released heuristic (docs/FORMATS.md#decoding-cameras) to float64 rounding (float32
    input: to its precision)."""
    H, W = 96, 128
    c2w, K = _cameras(9, 21, 210, 180, 70.0, 41.0, dtype=torch.float64)
    ray = raymap.encode(c2w, K, H, W)
    ray += 0.05 * torch.randn(ray.shape, generator=torch.Generator().manual_seed(3), dtype=ray.dtype)
    pose, focal = _spec_released(ray.numpy(), H, W)
    c2w_r, K_r = raymap.decode(ray, H, W, method="released")
    np.testing.assert_allclose(c2w_r.numpy(), pose, rtol=0, atol=1e-12)
    np.testing.assert_allclose(K_r[:, 0, 0].numpy(), focal, rtol=1e-12)
    torch.testing.assert_close(K_r[:, 1, 1], K_r[:, 0, 0])
    torch.testing.assert_close(K_r[:, :2, 2], torch.tensor([[(W - 1) / 2, (H - 1) / 2]]).double().expand(9, 2))
    c2w_32, K_32 = raymap.decode(ray.float(), H, W, method="released")
    np.testing.assert_allclose(c2w_32.numpy(), pose, rtol=0, atol=1e-5)
    np.testing.assert_allclose(K_32[:, 0, 0].numpy(), focal, rtol=1e-5)


def test_released_decode_gives_the_release_point_cloud():
    """The release builds its point clouds from the heuristic's pose and focal with rays through pixel centres,
    ``(x + 0.5 - W/2) / f``: our pointmap of the released decode (principal point ``(W-1)/2``) is that cloud."""
    from aether.codecs.pointmap import pointmap

    H, W = 96, 128
    c2w, K = _cameras(5, 22, 150, 140, 60.0, 50.0, dtype=torch.float64)
    ray = raymap.encode(c2w, K, H, W)
    ray += 0.05 * torch.randn(ray.shape, generator=torch.Generator().manual_seed(4), dtype=ray.dtype)
    pose, focal = _spec_released(ray.numpy(), H, W)
    depth = 1 + np.random.default_rng(5).random((5, H, W))
    x, y = np.meshgrid(np.arange(W), np.arange(H))
    camera = np.stack([(x - W / 2 + 0.5)[None] / focal[:, None, None], (y - H / 2 + 0.5)[None] / focal[:, None, None],
                       np.ones((5, H, W))], -1)
    release = depth[..., None] * np.einsum("fij,fhwj->fhwi", pose[:, :3, :3], camera) + pose[:, None, None, :3, 3]
    c2w_r, K_r = raymap.decode(ray, H, W, method="released")
    np.testing.assert_allclose(pointmap(torch.from_numpy(depth), c2w_r, K_r).numpy(), release, rtol=0, atol=1e-10)


def test_lstsq_decode_is_the_least_squares_camera_of_a_noisy_raymap():
    """On a noisy raymap, ``lstsq`` splits the least-squares ``d = M [u v 1]`` of each frame, over the
    full-resolution pixels its latent pixels sample (u = 8j + 3.5, v = 8i + 3.5), as ``M = R U`` with U
    upper triangular and ``K^-1 = U / U[2, 2]`` less its skew (noise leaves M's scale and skew free)."""
    H, W = 64, 96
    c2w, K = _cameras(5, 2, 90, 70, 40.0, 35.0, dtype=torch.float64)
    ray = raymap.encode(c2w, K, H, W)
    ray += 0.05 * torch.randn(ray.shape, generator=torch.Generator().manual_seed(1), dtype=ray.dtype)
    c2w_d, K_d = raymap.decode(ray, H, W)
    v, u = np.mgrid[0:H // 8, 0:W // 8] * 8 + 3.5
    A = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], 1)
    for frame, pose, k in zip(ray.numpy(), c2w_d.numpy(), K_d.numpy()):
        M = np.linalg.lstsq(A, frame[:3].reshape(3, -1).T, rcond=None)[0].T
        U = pose[:3, :3].T @ M
        np.testing.assert_allclose(np.tril(U, -1), 0, atol=1e-12)
        K_inv = U / U[2, 2]
        K_inv[0, 1] = 0
        np.testing.assert_allclose(K_inv, np.linalg.inv(k), rtol=0, atol=1e-12)


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
    for channel in (1, 4):  # a direction, an origin
        for value in (float("nan"), float("-inf")):
            bad = ray.clone()
            bad[3, channel, 2, 5] = value
            with pytest.raises(CodecError, match="NaN/inf"):
                raymap.decode(bad, 32, 48)
    with pytest.raises(CodecError, match="at least 2x2"):
        raymap.decode(raymap.encode(c2w, K, 8, 48), 8, 48)
    with pytest.raises(CodecError, match="one value per batch"):
        raymap.encode(c2w[None], K[None], 32, 48, p_max=torch.ones(3))
    with pytest.raises(CodecError, match="method"):
        RaymapEncoder(method="magic")


@pytest.mark.gpu
def test_encode_packed_on_cuda_matches_reference():
    c2w, K = _cameras(9, 3)
    expected = raymap.pack(raymap.encode(c2w, K, 96, 128, p_max=0.5))
    got = raymap.encode_packed(c2w.cuda(), K.cuda(), 96, 128, p_max=0.5)
    torch.testing.assert_close(got.cpu(), expected, atol=1e-5, rtol=1e-5)
