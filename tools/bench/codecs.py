"""Raymap codec throughput: ``aether.codecs.raymap`` vs straightforward NumPy versions of the same
formulas (docs/FORMATS.md#raymap-codec), measured in the same run. Encoding is compared with a per-frame NumPy encoder;
both decode methods with a NumPy transcription of the released heuristic (vectorised over frames, as
the release writes it). Prints times, ratios and max differences (``lstsq`` against the true cameras,
``released`` against the NumPy heuristic).

    .venv/bin/python tools/bench/codecs.py [--frames 41 --height 480 --width 720 --repeat 3
                                            --decode-repeat 30 --device cpu --threads 1]

Torch runs on one CPU thread by default, like NumPy: like with like, and steady on a busy machine,
where each of torch's parallel regions can wait a scheduler slice for a descheduled worker (on a
2-core machine with another job running, 2 threads made the decode 20-30x slower, not faster).
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


def numpy_decode_released(ray: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The released heuristic (docs/FORMATS.md#decoding-cameras) over all frames at once: ``(F, 6, h, w)`` ->
    ``c2w (F, 4, 4)``, ``focal (F,)``."""
    d = ray[:, :3].transpose(0, 2, 3, 1)
    o = np.sign(ray[:, 3:]) * (np.exp(np.abs(ray[:, 3:])) - 1) / 10.0
    o = o.transpose(0, 2, 3, 1)
    h, w = d.shape[1:3]
    centre = o.mean((1, 2))
    Z = (o + d).mean((1, 2)) - centre
    focal_ray = np.linalg.norm(Z, axis=-1)
    Wv = d[:, :, -1].mean(1) - d[:, :, 0].mean(1)
    Hv = d[:, 0].mean(1) - d[:, -1].mean(1)
    fov_x = np.arctan(np.linalg.norm(np.cross(Wv, Z), axis=-1) / (w - 1) * w / (2 * focal_ray))
    fov_y = np.arctan(np.linalg.norm(np.cross(Hv, Z), axis=-1) / (h - 1) * h / (2 * focal_ray))
    Y = np.cross(Z, Wv)
    X = np.cross(Y, Z)
    c2w = np.tile(np.eye(4), (len(ray), 1, 1))
    for i, axis in enumerate((X, Y, Z)):
        c2w[:, :3, i] = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    c2w[:, :3, 3] = centre
    return c2w, (width * 0.5 / np.tan(fov_x) + height * 0.5 / np.tan(fov_y)) / 2


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
    parser.add_argument("--decode-repeat", type=int, default=30, help="decodes take milliseconds: more runs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
    ray = raymap.unpack(packed)[0]
    ray_np = ray.cpu().numpy()
    reps = args.decode_repeat
    t_np_dec, (ref_c2w, ref_f) = _best(lambda: numpy_decode_released(ray_np, H, W), reps, lambda: None)
    t_rel, (rel_c2w, rel_K) = _best(lambda: raymap.decode(ray, H, W, method="released"), reps, sync)
    t_lsq, (lsq_c2w, lsq_K) = _best(lambda: raymap.decode(ray, H, W), reps, sync)

    def diff(a: torch.Tensor, b: np.ndarray) -> float:
        return np.abs(a.double().cpu().numpy() - b).max()

    print(f"raymap codec, {n} frames at {H}x{W}, device {args.device}, {args.threads} torch threads, "
          f"best of {args.repeat} (decode: {reps})")
    print(f"encode+pack:  numpy {t_np_enc * 1e3:7.1f} ms  aether {t_enc * 1e3:7.1f} ms  "
          f"speed-up x{t_np_enc / t_enc:.2f}  max |diff| {diff(packed[0], ref_packed):.2e}")
    print(f"decode released: numpy {t_np_dec * 1e3:5.1f} ms  aether {t_rel * 1e3:5.1f} ms  "
          f"speed-up x{t_np_dec / t_rel:.2f}  vs numpy: max |c2w diff| {diff(rel_c2w, ref_c2w):.2e}  "
          f"max |f diff| / f {(diff(rel_K[:, 0, 0], ref_f) / ref_f.min()):.2e}")
    print(f"decode lstsq:    numpy {t_np_dec * 1e3:5.1f} ms  aether {t_lsq * 1e3:5.1f} ms  "
          f"speed-up x{t_np_dec / t_lsq:.2f}  vs true cameras: max |c2w diff| {diff(lsq_c2w, c2w):.2e}  "
          f"max |K diff| / f {diff(lsq_K, K) / K[0, 0, 0]:.2e}")


if __name__ == "__main__":
    main()
