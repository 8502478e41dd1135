"""Triton packed raymap vs the torch path (``pack_reference(raymap_reference(...))``), measured in one
run, with the kernel's effective write bandwidth (the kernel reads only the cameras) as a share of the
device's copy bandwidth measured in the same run.

    .venv/bin/python tools/bench/raymap.py [--batch 2 --frames 41 --height 480 --width 720 --repeat 5]

Without a GPU it says so and times the torch path only. The last line is
``RESULT name=raymap ... ratio=<kernel speed / torch path speed>``.
"""

from __future__ import annotations

import argparse

import torch
from scipy.spatial.transform import Rotation

from aether.core.kernels.raymap_reference import pack_reference, raymap_reference
from aether.core.kernels.raymap_triton import packed_raymap_triton
from timing import describe_device, kernel_time, result_line


def cameras(batch: int, frames: int, height: int, width: int, device: torch.device):
    """Random rotations and translations, per-frame intrinsics with off-centre principal points."""
    R = torch.tensor(Rotation.random(batch * frames, random_state=0).as_matrix(), dtype=torch.float32)
    c2w = torch.eye(4).repeat(batch, frames, 1, 1)
    c2w[..., :3, :3] = R.view(batch, frames, 3, 3)
    c2w[..., :3, 3] = torch.randn(batch, frames, 3)
    K = torch.tensor([[0.8 * width, 0, 0.52 * width], [0, 0.8 * width, 0.47 * height], [0, 0, 1]])
    return c2w.to(device), K.repeat(batch, frames, 1, 1).to(device)


def copy_bandwidth(device: torch.device) -> float:
    """Bytes read plus written per second by a 1 GiB device-to-device copy: the ceiling to compare with."""
    src = torch.empty(2**28, device=device, dtype=torch.float32).uniform_()
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / kernel_time(lambda: dst.copy_(src), device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=41)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs on CPU (GPU: ~200 ms of runs)")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(describe_device(device))
    print(f"shape: batch {args.batch}, {args.frames} frames, {args.height}x{args.width}")
    c2w, K = cameras(args.batch, args.frames, args.height, args.width, device)
    p_max = torch.full((args.batch,), 0.7, device=device)

    def torch_path():
        return pack_reference(raymap_reference(c2w, K, args.height, args.width, p_max))

    ref_time = kernel_time(torch_path, device, args.repeat)
    print(f"{'torch path':14s} {ref_time * 1e3:9.3f} ms   speed-up x1.00")
    if device.type != "cuda":
        print("no GPU present: the Triton kernel is not timed (the interpreter is for correctness only)")
        print(result_line("raymap", device, value=ref_time))
        return
    time = kernel_time(lambda: packed_raymap_triton(c2w, K, args.height, args.width, p_max), device)
    out = packed_raymap_triton(c2w, K, args.height, args.width, p_max)
    err = (out - torch_path()).abs().max().item()
    written = out.numel() * out.element_size() / time
    ceiling = copy_bandwidth(device)
    print(f"{'triton kernel':14s} {time * 1e3:9.3f} ms   speed-up x{ref_time / time:.2f}   "
          f"{written / 1e9:.1f} GB/s written = {100 * written / ceiling:.1f}% of the device's copy bandwidth "
          f"({ceiling / 1e12:.2f} TB/s read + written)   max |diff| {err:.2e}")
    print(result_line("raymap", device, ratio=ref_time / time, value=time))


if __name__ == "__main__":
    main()
