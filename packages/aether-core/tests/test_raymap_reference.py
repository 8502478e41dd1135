import math

import torch

from aether.core.kernels.raymap_reference import (pack_reference, raymap_reference,
                                                  signed_expm1, signed_log1p, unpack_reference)


def test_pack_strided_hand_computed_nine_frames():
    # 9 frames = 4k+1 with k=2 -> 3 latent frames; padded = [0,1,2,0,1,...,8] (12 frames)
    frames = torch.arange(9, dtype=torch.float32).view(1, 9, 1, 1, 1).expand(1, 9, 6, 1, 1)
    packed = pack_reference(frames)
    assert packed.shape == (1, 3, 24, 1, 1)
    padded = [0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    for t in range(3):
        for n in range(4):
            expect = padded[t + n * 3]
            assert torch.all(packed[0, t, n * 6:(n + 1) * 6] == expect), (t, n)
    assert torch.equal(unpack_reference(packed), frames)


def test_pack_consecutive_and_round_trip():
    x = torch.randn(2, 13, 6, 3, 4)
    packed = pack_reference(x, "consecutive")
    padded = torch.cat([x[:, :3], x], 1)
    assert torch.equal(packed[:, 1, 6:12], padded[:, 5])
    assert torch.equal(unpack_reference(packed, "consecutive"), x)
    assert torch.equal(unpack_reference(pack_reference(x)), x)


def test_raymap_identity_camera_hand_computed():
    H, W = 16, 24
    K = torch.tensor([[10.0, 0, 11.5], [0, 10.0, 7.5], [0, 0, 1]]).view(1, 1, 3, 3)
    c2w = torch.eye(4).view(1, 1, 4, 4).clone()
    c2w[0, 0, :3, 3] = torch.tensor([0.1, -0.2, 0.0])
    r = raymap_reference(c2w, K, H, W, p_max=torch.tensor([2.0]))
    assert r.shape == (1, 1, 6, 2, 3)
    # bilinear /8 samples pixel coordinate 8j + 3.5; directions are affine in (u, v)
    assert math.isclose(r[0, 0, 0, 0, 0].item(), (3.5 - 11.5) / 10, abs_tol=1e-6)
    assert math.isclose(r[0, 0, 1, 1, 2].item(), (11.5 - 7.5) / 10, abs_tol=1e-6)
    assert torch.allclose(r[0, 0, 2], torch.ones(2, 3))
    assert math.isclose(r[0, 0, 3, 0, 0].item(), math.log1p(0.1 * 2 * 10), rel_tol=1e-6)
    assert math.isclose(r[0, 0, 4, 1, 1].item(), -math.log1p(0.2 * 2 * 10), rel_tol=1e-6)
    assert torch.allclose(signed_expm1(signed_log1p(torch.tensor([-3.0, 0.0, 2.5]))),
                          torch.tensor([-3.0, 0.0, 2.5]))


def test_raymap_equals_full_resolution_rays_bilinearly_downsampled():
    """docs/FORMATS.md#raymap-codec literally: rays on every integer pixel, then F.interpolate bilinear /8."""
    import torch.nn.functional as F

    B, n, H, W = 2, 3, 32, 48
    c2w = torch.eye(4, dtype=torch.float64).repeat(B, n, 1, 1)
    q, r = torch.linalg.qr(torch.randn(B, n, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    c2w[..., :3, :3] = q * torch.linalg.det(q)[..., None, None]  # orthonormal, det +1
    c2w[..., :3, 3] = torch.randn(B, n, 3, dtype=torch.float64)
    K = torch.tensor([[40.0, 0, 20.3], [0, 37.0, 17.1], [0, 0, 1]], dtype=torch.float64).repeat(B, n, 1, 1)
    p_max = torch.tensor([0.5, 2.0], dtype=torch.float64)
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64),
                          indexing="ij")
    cam = torch.stack([(u - K[..., 0, 2, None, None]) / K[..., 0, 0, None, None],
                       (v - K[..., 1, 2, None, None]) / K[..., 1, 1, None, None],
                       torch.ones(B, n, H, W, dtype=torch.float64)], -1)
    dirs = torch.einsum("bfij,bfhwj->bfihw", c2w[..., :3, :3], cam)
    origins = signed_log1p(c2w[..., :3, 3] * p_max.view(B, 1, 1) * 10)[..., None, None].expand(B, n, 3, H, W)
    full = torch.cat([dirs, origins], 2).reshape(B * n, 6, H, W)
    want = F.interpolate(full, size=(H // 8, W // 8), mode="bilinear", align_corners=False)
    got = raymap_reference(c2w, K, H, W, p_max)
    torch.testing.assert_close(got, want.view(B, n, 6, H // 8, W // 8), atol=1e-12, rtol=1e-12)
