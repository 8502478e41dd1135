"""Fused RoPE attention vs diffusers' default CogVideoX path (RoPE applied separately, then SDPA) and
xformers, at the AETHER shape, measured in one run. Prints times and ratios against the default path.

    .venv/bin/python tools/bench/attention.py [--batch 2 --heads 48 --head-dim 64 --text 226
                                               --latent 11 30 45 --dtype bf16 --backward --repeat 5]

Without a GPU it says so, shrinks the shape (CPU SDPA at 15k tokens takes minutes; ``--full`` keeps
it) and times the torch reference only: the Triton interpreter is for correctness, not speed.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from diffusers.models.embeddings import apply_rotary_emb

from aether.core.kernels.attention_triton import fused_rope_attention
from timing import best_time, describe_device

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def diffusers_default(q, k, v, cos, sin, text_len):
    """What ``CogVideoXAttnProcessor2_0`` does: rotate the video slice of q and k, then SDPA."""
    q, k = q.clone(), k.clone()
    q[:, :, text_len:] = apply_rotary_emb(q[:, :, text_len:], (cos, sin))
    k[:, :, text_len:] = apply_rotary_emb(k[:, :, text_len:], (cos, sin))
    return F.scaled_dot_product_attention(q, k, v)


def xformers_path(q, k, v, cos, sin, text_len):
    """Separate RoPE, then xformers' memory-efficient attention (layout ``(B, N, heads, D)``)."""
    import xformers.ops

    q, k = q.clone(), k.clone()
    q[:, :, text_len:] = apply_rotary_emb(q[:, :, text_len:], (cos, sin))
    k[:, :, text_len:] = apply_rotary_emb(k[:, :, text_len:], (cos, sin))
    out = xformers.ops.memory_efficient_attention(*(t.transpose(1, 2) for t in (q, k, v)))
    return out.transpose(1, 2)


def candidates(device: torch.device) -> dict:
    found = {"diffusers SDPA + RoPE": diffusers_default}
    if device.type != "cuda":
        return found
    found["triton fused RoPE"] = fused_rope_attention
    try:
        import xformers.ops  # noqa: F401
        found["xformers + RoPE"] = xformers_path
    except ImportError:
        print("xformers not installed: skipped")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--heads", type=int, default=48)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--text", type=int, default=226)
    parser.add_argument("--latent", type=int, nargs=3, default=[11, 30, 45], metavar=("T", "H", "W"),
                        help="video tokens per axis after patchify")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16")
    parser.add_argument("--backward", action="store_true", help="time forward + backward")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="keep the full shape on CPU")
    args = parser.parse_args()

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
          f"tokens, {args.dtype if device.type == 'cuda' else 'fp32'}, {'fwd+bwd' if args.backward else 'fwd'}")

    g = torch.Generator(device=device).manual_seed(0)
    q, k, v = (torch.randn(args.batch, args.heads, n, args.head_dim, device=device, dtype=dtype, generator=g)
               for _ in range(3))
    angles = torch.rand(video, args.head_dim // 2, device=device, generator=g) * 6.0
    cos, sin = (f(angles).repeat_interleave(2, -1) for f in (torch.cos, torch.sin))
    if args.backward:
        for t in (q, k, v):
            t.requires_grad_(True)

    results, baseline = {}, None
    for name, fn in candidates(device).items():
        def step(fn=fn):
            out = fn(q, k, v, cos, sin, args.text)
            if args.backward:
                out.sum().backward()
            return out

        results[name] = best_time(step, device, args.repeat)
        with torch.no_grad():
            out = fn(q, k, v, cos, sin, args.text).float()
        baseline = out if baseline is None else baseline
        err = (out - baseline).abs().max().item()
        ref_time = next(iter(results.values()))
        print(f"{name:24s} {results[name] * 1e3:10.2f} ms   speed-up x{ref_time / results[name]:.2f}   "
              f"max |diff| vs default {err:.2e}")


if __name__ == "__main__":
    main()
