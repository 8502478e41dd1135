"""Triton source of the packed raymap kernel; imported only at the first launch (see
``attention_triton_kernel`` for why)."""

import triton
import triton.language as tl


@triton.jit
def packed_raymap_kernel(c2w_ptr, k_ptr, pmax_ptr, out_ptr, n_frames, n_latent, h, w, s_ray,
                         STRIDED: tl.constexpr, BLOCK: tl.constexpr):
    """One latent frame of one batch item, BLOCK latent pixels, all 24 packed channels."""
    bt = tl.program_id(0)
    b = bt // n_latent
    t = bt % n_latent
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < h * w
    u = (offs % w).to(tl.float32) * 8.0 + 3.5
    v = (offs // w).to(tl.float32) * 8.0 + 3.5
    scale = tl.load(pmax_ptr + b) * s_ray
    for n in tl.static_range(4):
        padded = t + n * n_latent if STRIDED else 4 * t + n
        frame = tl.where(padded < 3, padded, padded - 3)
        pose = c2w_ptr + (b * n_frames + frame).to(tl.int64) * 16
        intr = k_ptr + (b * n_frames + frame).to(tl.int64) * 9
        x = (u - tl.load(intr + 2)) / tl.load(intr + 0)
        y = (v - tl.load(intr + 5)) / tl.load(intr + 4)
        base = out_ptr + (bt.to(tl.int64) * 24 + n * 6) * h * w + offs
        for row in tl.static_range(3):
            d = tl.load(pose + row * 4) * x + tl.load(pose + row * 4 + 1) * y + tl.load(pose + row * 4 + 2)
            tl.store(base + row * h * w, d, mask=ok)
            o = tl.load(pose + row * 4 + 3) * scale
            mag = tl.log(1.0 + tl.abs(o))
            o_log = tl.where(o < 0, -mag, mag) + tl.zeros((BLOCK,), tl.float32)
            tl.store(base + (3 + row) * h * w, o_log, mask=ok)
