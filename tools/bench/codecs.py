"""Raymap codec throughput: ``aether.codecs.raymap`` vs a straightforward per-frame NumPy version of
the same formulas (SPEC §4), measured in the same run. Prints times, ratios and the max difference.

    .venv/bin/python tools/bench/codecs.py [--frames 41 --height 480 --width 720 --repeat 3 --device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from aether.codecs import raymap


def numpy_encode_packed(c2w: np.ndarray, K: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per frame: full-res z = 1 rays rotated to the world, log origins, bilinear /8 (the mean of the
    2x2 pixels around 8i+3.5), then strided packing. ``(F, 4, 4)``, ``(F, 3, 3)`` -> ``(T, 24, h, w)``."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for pose, k in zip(c2w, K):
        cam = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones_like(u)], -1)
        dirs = cam @ pose[:3, :3].T
        small = 0.25 * (dirs[3::8, 3::8] + dirs[4::8, 3::8] + dirs[3::8, 4::8] + dirs[4::8, 4::8])
        origin = np.sign(pose[:3, 3]) * np.log1p(np.abs(pose[:3, 3] * 10.0))
        frames.append(np.concatenate([small, np.broadcast_to(origin, small.shape)], -1).transpose(2, 0, 1))
    padded = frames[:3] + frames
    T = len(padded) // 4
    return np.stack([np.concatenate([padded[t + n * T] for n in range(4)]) for t in range(T)])


def numpy_decode(packed: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: unpack, least-squares ``d = M [u v 1]``, QR into R K^-1, mean origin."""
    T, _, h, w = packed.shape
    frames = [packed[t, n * 6:(n + 1) * 6] for n in range(4) for t in range(T)][3:]
    v, u = np.mgrid[0:h, 0:w].astype(np.float64) * 8 + 3.5
    A = np.stack([u.ravel(), v.ravel(), np.ones(h * w)], 1)
    poses, intr = [], []
    for ray in frames:
        M = np.linalg.lstsq(A, ray[:3].reshape(3, -1).T, rcond=None)[0].T
        Q, U = np.linalg.qr(M)
        s = np.sign(np.diag(U))
        R, U = Q * s, U * s[:, None]
        U = U / U[2, 2]
        fx, fy = 1 / U[0, 0], 1 / U[1, 1]
        pose = np.eye(4)
        pose[:3, :3] = R
        o = ray[3:].reshape(3, -1).mean(1)
        pose[:3, 3] = np.sign(o) * np.expm1(np.abs(o)) / 10.0
        poses.append(pose)
        intr.append([[fx, 0, -U[0, 2] * fx], [0, fy, -U[1, 2] * fy], [0, 0, 1]])
    return np.stack(poses), np.asarray(intr)


def _best(fn, repeat: int, sync) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=41)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    n, H, W = args.frames, args.height, args.width
    rng = np.random.default_rng(0)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.random(n, random_state=0).as_matrix()
    c2w[:, :3, 3] = np.cumsum(rng.normal(scale=0.1, size=(n, 3)), 0)
    K = np.tile([[0.8 * W, 0, W / 2 - 3], [0, 0.8 * W, H / 2 + 5], [0, 0, 1]], (n, 1, 1))
    c2w_t = torch.tensor(c2w, dtype=torch.float32, device=args.device)[None]
    K_t = torch.tensor(K, dtype=torch.float32, device=args.device)[None]
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    t_np_enc, ref_packed = _best(lambda: numpy_encode_packed(c2w, K, H, W), args.repeat, lambda: None)
    t_enc, packed = _best(lambda: raymap.encode_packed(c2w_t, K_t, H, W), args.repeat, sync)
    t_np_dec, (ref_c2w, _) = _best(lambda: numpy_decode(ref_packed, H, W), args.repeat, lambda: None)
    t_dec, (dec_c2w, _) = _best(lambda: raymap.decode(raymap.unpack(packed), H, W), args.repeat, sync)

    diff_enc = np.abs(packed[0].double().cpu().numpy() - ref_packed).max()
    diff_dec = np.abs(dec_c2w[0].double().cpu().numpy() - ref_c2w).max()
    print(f"raymap codec, {n} frames at {H}x{W}, device {args.device}, best of {args.repeat}")
    print(f"encode+pack: numpy {t_np_enc * 1e3:8.1f} ms  aether {t_enc * 1e3:8.1f} ms  "
          f"speed-up x{t_np_enc / t_enc:.2f}  max |diff| {diff_enc:.2e}")
    print(f"unpack+decode: numpy {t_np_dec * 1e3:6.1f} ms  aether {t_dec * 1e3:8.1f} ms  "
          f"speed-up x{t_np_dec / t_dec:.2f}  max |c2w diff| {diff_dec:.2e}")


if __name__ == "__main__":
    main()
