"""Pointmaps by hand and by reprojection."""

import pytest
import torch

from aether.codecs.errors import CodecError
from aether.codecs.pointmap import pointmap


def test_hand_computed_point():
    K = torch.tensor([[[100.0, 0, 2], [0, 50, 1], [0, 0, 1]]])
    c2w = torch.eye(4)[None].clone()
    c2w[0, :3, 3] = torch.tensor([1.0, 2.0, 3.0])
    depth = torch.full((1, 3, 4), 2.0)
    pts = pointmap(depth, c2w, K)  # unbatched (F, H, W) -> (F, H, W, 3)
    assert pts.shape == (1, 3, 4, 3)
    torch.testing.assert_close(pts[0, 1, 2], torch.tensor([1.0, 2.0, 5.0]))          # principal point
    torch.testing.assert_close(pts[0, 2, 3], torch.tensor([1.0 + 2 / 100, 2.0 + 2 / 50, 5.0]))


def test_points_reproject_to_their_pixels():
    g = torch.Generator().manual_seed(0)
    angle = torch.tensor(0.3, dtype=torch.float64)
    c2w = torch.eye(4, dtype=torch.float64).repeat(1, 2, 1, 1)
    c2w[0, 1, :3, :3] = torch.tensor([[torch.cos(angle), 0, torch.sin(angle)], [0, 1, 0],
                                      [-torch.sin(angle), 0, torch.cos(angle)]])
    c2w[0, 1, :3, 3] = torch.tensor([0.5, -0.2, 0.1])
    K = torch.tensor([[30.0, 0, 7.3], [0, 32, 4.1], [0, 0, 1]], dtype=torch.float64).expand(1, 2, 3, 3)
    depth = torch.rand(1, 2, 8, 12, generator=g, dtype=torch.float64) * 5 + 1
    pts = pointmap(depth, c2w, K)
    cam = torch.einsum("ij,hwj->hwi", c2w[0, 1, :3, :3].T, pts[0, 1] - c2w[0, 1, :3, 3])
    torch.testing.assert_close(cam[..., 2], depth[0, 1])
    pix = torch.einsum("ij,hwj->hwi", K[0, 1], cam / cam[..., 2:])
    v, u = torch.meshgrid(torch.arange(8.0, dtype=torch.float64), torch.arange(12.0, dtype=torch.float64),
                          indexing="ij")
    torch.testing.assert_close(pix[..., 0], u, atol=1e-9, rtol=0)
    torch.testing.assert_close(pix[..., 1], v, atol=1e-9, rtol=0)


def test_bad_input():
    with pytest.raises(CodecError, match="focal"):
        pointmap(torch.ones(1, 2, 2), torch.eye(4)[None], torch.zeros(1, 3, 3))
    with pytest.raises(CodecError, match="depth"):
        pointmap(torch.ones(2, 2), torch.eye(4)[None], torch.eye(3)[None])
