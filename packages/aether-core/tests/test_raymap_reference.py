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
