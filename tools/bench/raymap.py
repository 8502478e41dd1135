"""Triton packed raymap vs the torch path (``pack_reference(raymap_reference(...))``), measured in one
run, with the kernel's effective write bandwidth (the kernel reads only the cameras).

    .venv/bin/python tools/bench/raymap.py [--batch 2 --frames 41 --height 480 --width 720 --repeat 5]

Without a GPU it says so and times the torch path only.
"""

from __future__ import annotations

import argparse

import torch
from scipy.spatial.transform import Rotation

from aether.core.kernels.raymap_reference import pack_reference, raymap_reference
from aether.core.kernels.raymap_triton import packed_raymap_triton
from timing import best_time, describe_device


def cameras(batch: int, frames: int, height: int, width: int, device: torch.device):
    """Random rotations and translations, per-frame intrinsics with off-centre principal points."""
    R = torch.tensor(Rotation.random(batch * frames, random_state=0).as_matrix(), dtype=torch.float32)
    c2w = torch.eye(4).repeat(batch, frames, 1, 1)
    c2w[..., :3, :3] = R.view(batch, frames, 3, 3)
    c2w[..., :3, 3] = torch.randn(batch, frames, 3)
    K = torch.tensor([[0.8 * width, 0, 0.52 * width], [0, 0.8 * width, 0.47 * height], [0, 0, 1]])
    return c2w.to(device), K.repeat(batch, frames, 1, 1).to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=41)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(describe_device(device))
    print(f"shape: batch {args.batch}, {args.frames} frames, {args.height}x{args.width}")
    c2w, K = cameras(args.batch, args.frames, args.height, args.width, device)
    p_max = torch.full((args.batch,), 0.7, device=device)

    def torch_path():
        return pack_reference(raymap_reference(c2w, K, args.height, args.width, p_max))

    ref_time = best_time(torch_path, device, args.repeat)
    print(f"{'torch path':14s} {ref_time * 1e3:9.3f} ms   speed-up x1.00")
    if device.type != "cuda":
        print("no GPU present: the Triton kernel is not timed (the interpreter is for correctness only)")
        return
    time = best_time(lambda: packed_raymap_triton(c2w, K, args.height, args.width, p_max), device, args.repeat)
    out = packed_raymap_triton(c2w, K, args.height, args.width, p_max)
    err = (out - torch_path()).abs().max().item()
    gbps = out.numel() * out.element_size() / time / 1e9
    print(f"{'triton kernel':14s} {time * 1e3:9.3f} ms   speed-up x{ref_time / time:.2f}   "
          f"{gbps:.1f} GB/s written   max |diff| {err:.2e}")


if __name__ == "__main__":
    main()
