"""Fused RoPE attention vs diffusers' default CogVideoX path (RoPE applied separately, then SDPA) and
xformers, at the AETHER shape, measured in one run. Prints times and ratios against the default path.

    .venv/bin/python tools/bench/attention.py [--batch 2 --heads 48 --head-dim 64 --text 226
                                               --latent 11 30 45 --dtype bf16 --backward --sweep]

On a GPU the default path is also timed with each SDPA backend forced (flash, efficient, cuDNN), so
the ratio names what it beat; ``--sweep`` times our kernel's tile variants (the best one belongs in
``attention_triton.CUDA_TUNING``). Without a GPU it says so, shrinks the shape (CPU SDPA at 15k
tokens takes minutes; ``--full`` keeps it) and times the torch reference only: the Triton interpreter
is for correctness, not speed. The last line is ``RESULT name=attention-fwd|attention-fwd-bwd ...
ratio=<our speed / the default path's>`` (its time over ours).
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import replace
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers.models.embeddings import apply_rotary_emb

from aether.core.kernels import attention_triton
from aether.core.kernels.attention_triton import Tile, Tuning, fused_rope_attention
from timing import describe_device, kernel_time, result_line

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
DEFAULT = "diffusers SDPA + RoPE"


def diffusers_default(q, k, v, cos, sin, text_len):
    """What ``CogVideoXAttnProcessor2_0`` does: rotate the video slice of q and k, then SDPA."""
    q, k = q.clone(), k.clone()
    q[:, :, text_len:] = apply_rotary_emb(q[:, :, text_len:], (cos, sin))
    k[:, :, text_len:] = apply_rotary_emb(k[:, :, text_len:], (cos, sin))
    return F.scaled_dot_product_attention(q, k, v)


def sdpa_forced(backend) -> Callable:
    """The default path with SDPA restricted to one backend."""
    from torch.nn.attention import sdpa_kernel

    def run(*args):
        with sdpa_kernel(backend):
            return diffusers_default(*args)
    return run


def xformers_path(q, k, v, cos, sin, text_len):
    """Separate RoPE, then xformers' memory-efficient attention (layout ``(B, N, heads, D)``)."""
    import xformers.ops

    q, k = q.clone(), k.clone()
    q[:, :, text_len:] = apply_rotary_emb(q[:, :, text_len:], (cos, sin))
    k[:, :, text_len:] = apply_rotary_emb(k[:, :, text_len:], (cos, sin))
    out = xformers.ops.memory_efficient_attention(*(t.transpose(1, 2) for t in (q, k, v)))
    return out.transpose(1, 2)


def ours(tuning: Tuning | None = None) -> Callable:
    return lambda *args: fused_rope_attention(*args, tuning=tuning)


def candidates(device: torch.device) -> dict[str, Callable]:
    found = {DEFAULT: diffusers_default}
    if device.type != "cuda":
        return found
    from torch.nn.attention import SDPBackend

    for label, backend in [("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                           ("cuDNN", SDPBackend.CUDNN_ATTENTION)]:
        found[f"{DEFAULT} [{label} only]"] = sdpa_forced(backend)
    found["triton fused RoPE (ours)"] = ours()
    found["triton RoPE pass + SDPA (ours)"] = attention_triton.rope_then_sdpa
    try:
        import xformers.ops  # noqa: F401
        found["xformers + RoPE"] = xformers_path
    except ImportError:
        print("xformers not installed: skipped")
    return found


def sweep_variants(backward: bool) -> dict[str, Callable]:
    """Our kernel with each tile variant of the timed passes: forward tiles alone, or the two backward
    kernels' tiles (forward at its default). The first of each list is the default."""
    base = attention_triton.CUDA_TUNING
    variants = {}
    if not backward:
        for t in [base.forward, Tile(128, 128, 4, 3), Tile(128, 128, 8, 2), Tile(128, 64, 8, 3),
                  Tile(64, 128, 4, 2), Tile(256, 64, 8, 2), Tile(128, 256, 8, 2), Tile(256, 128, 8, 2)]:
            variants[f"fwd {t}"] = replace(base, forward=t)
    else:
        for t in [base.dkdv, Tile(32, 128, 4, 3), Tile(64, 128, 4, 2), Tile(32, 64, 4, 3), Tile(16, 128, 4, 2),
                  Tile(32, 128, 8, 2), Tile(64, 64, 4, 3)]:
            variants[f"dkdv {t}"] = replace(base, dkdv=t)
        for t in [base.dq, Tile(128, 64, 4, 4), Tile(128, 32, 4, 4), Tile(64, 64, 4, 3), Tile(128, 128, 4, 2),
                  Tile(64, 32, 4, 3)]:
            variants[f"dq {t}"] = replace(base, dq=t)
    return {name: ours(tuning) for name, tuning in variants.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--heads", type=int, default=48)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--text", type=int, default=226)
    parser.add_argument("--latent", type=int, nargs=3, default=[11, 30, 45], metavar=("T", "H", "W"),
                        help="video tokens per axis after patchify")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16")
    parser.add_argument("--backward", action="store_true", help="time forward + backward")
    parser.add_argument("--sweep", action="store_true", help="also time our kernel's tile variants (GPU)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs on CPU (GPU: ~200 ms of runs)")
    parser.add_argument("--full", action="store_true", help="keep the full shape on CPU")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(describe_device(device))
    dtype = DTYPES[args.dtype]
    if device.type == "cpu":
        print("no GPU present: timing the torch reference only, in fp32")
        dtype = torch.float32
        if not args.full:
            args.batch, args.heads, args.latent = 1, 4, [3, 10, 15]
    video = args.latent[0] * args.latent[1] * args.latent[2]
    n = args.text + video
    print(f"shape: batch {args.batch}, {args.heads} heads x {args.head_dim}, {args.text} text + {video} video "
          f"tokens, {str(dtype).removeprefix('torch.')}, {'fwd+bwd' if args.backward else 'fwd'}")
    flop = 4 * args.batch * args.heads * n * n * args.head_dim * (3.5 if args.backward else 1.0)

    g = torch.Generator(device=device).manual_seed(0)
    q, k, v = (torch.randn(args.batch, args.heads, n, args.head_dim, device=device, dtype=dtype, generator=g)
               for _ in range(3))
    angles = torch.rand(video, args.head_dim // 2, device=device, generator=g) * 6.0
    cos, sin = (f(angles).repeat_interleave(2, -1) for f in (torch.cos, torch.sin))
    grad = torch.randn(q.shape, device=device, dtype=dtype, generator=g)
    leaves = [t.detach().requires_grad_(args.backward) for t in (q, k, v)]

    def run(fn) -> list[torch.Tensor]:
        """Output, and the input gradients when timing the backward."""
        for t in leaves:
            t.grad = None
        with contextlib.nullcontext() if args.backward else torch.no_grad():
            out = fn(*leaves, cos, sin, args.text)
            if not args.backward:
                return [out]
            out.backward(grad)
        return [out.detach()] + [t.grad for t in leaves]

    reference = [t.float() for t in run(diffusers_default)]
    times: dict[str, float] = {}
    found = candidates(device)
    if args.sweep and device.type == "cuda":
        found.update(sweep_variants(args.backward))
    for name, fn in found.items():
        try:
            got = run(fn)
            err = max((a.float() - b).abs().max().item() for a, b in zip(got, reference))
            times[name] = kernel_time(lambda fn=fn: run(fn), device, args.repeat)
        except Exception as exc:  # one unsupported backend or tile must not hide the others' figures
            print(f"{name:58s} FAILED: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            continue
        print(f"{name:58s} {times[name] * 1e3:9.2f} ms  {flop / times[name] / 1e12:6.1f} TFLOP/s  "
              f"x{times[DEFAULT] / times[name]:.2f} vs default  max |diff| {err:.1e}")
    bench = "attention-fwd-bwd" if args.backward else "attention-fwd"
    if args.sweep and device.type == "cuda":
        for part in ("fwd", "dkdv", "dq"):
            timed = {name: t for name, t in times.items() if name.startswith(part + " ")}
            if timed:
                best = min(timed, key=timed.get)
                print(f"best {part}: {best} ({timed[best] * 1e3:.2f} ms)")
    ours_name = "triton fused RoPE (ours)"
    if ours_name in times:
        best_stock = min((t for name, t in times.items() if name.startswith(DEFAULT)))
        print(f"ours vs the fastest SDPA backend: x{best_stock / times[ours_name]:.2f}")
        print(result_line(bench, device, ratio=times[DEFAULT] / times[ours_name], value=times[ours_name]))
    else:
        print(result_line(bench, device, value=times[DEFAULT]))


if __name__ == "__main__":
    main()
