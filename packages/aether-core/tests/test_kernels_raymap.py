"""Triton packed raymap (interpreter on CPU) vs pack_reference(raymap_reference(...))."""

import pytest
import torch
from scipy.spatial.transform import Rotation

from aether.core.kernels.raymap_reference import pack_reference, raymap_reference

pytest.importorskip("triton")
from aether.core.kernels.raymap_triton import packed_raymap_triton  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _cameras(B, n, seed):
    R = torch.tensor(Rotation.random(B * n, random_state=seed).as_matrix(), dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    c2w = torch.eye(4).repeat(B, n, 1, 1)
    c2w[..., :3, :3] = R.view(B, n, 3, 3)
    c2w[..., :3, 3] = torch.randn(B, n, 3, generator=g) * 2
    K = torch.tensor([[30.0, 0, 21.3], [0, 35.0, 12.7], [0, 0, 1]]).repeat(B, n, 1, 1)
    K[..., 0, 0] += torch.rand(B, n, generator=g) * 10  # per-frame focal lengths
    return c2w.to(DEVICE), K.to(DEVICE)


@pytest.mark.parametrize("B,n,layout,with_pmax", [(1, 5, "strided", False), (2, 9, "strided", True),
                                                  (2, 9, "consecutive", True), (1, 13, "strided", True)])
def test_packed_raymap_equals_reference(B, n, layout, with_pmax):
    c2w, K = _cameras(B, n, seed=n)
    p_max = torch.linspace(0.5, 3.0, B, device=DEVICE) if with_pmax else None
    got = packed_raymap_triton(c2w, K, 32, 48, p_max, layout=layout)
    want = pack_reference(raymap_reference(c2w, K, 32, 48, p_max), layout=layout)
    assert got.shape == (B, (n + 3) // 4, 24, 4, 6)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_bad_inputs_raise():
    c2w, K = _cameras(1, 5, seed=0)
    with pytest.raises(ValueError, match="4k\\+1"):
        packed_raymap_triton(c2w[:, :4], K[:, :4], 32, 48)
    with pytest.raises(ValueError, match="multiples of 8"):
        packed_raymap_triton(c2w, K, 30, 48)
    with pytest.raises(ValueError, match="layout"):
        packed_raymap_triton(c2w, K, 32, 48, layout="diagonal")
