"""What inference-parity colour conditions cost training: the one-frame VAE encodes of the observation and
goal images (``aether.train.latents``) against the clip encodes training needs anyway (colour and depth),
and the cache bytes per window of posteriors (mean and log-variance, plus the two one-frame posteriors)
against the single latent sample the cache used to hold. Also prints how far the one-frame encodings
are from the clip encoding's first and last latents, the conditions training used before.

    .venv/bin/python tools/bench/condition_cost.py [--frames 17 --height 240 --width 360 --vae full|tiny
                                                    --repeat 2 --device cpu]

``--vae full`` is CogVideoX-5b's VAE architecture with random weights (nothing is downloaded).
"""

from __future__ import annotations

import argparse

import torch
from aether.codecs.video import CogVideoXCodec
from aether.train.latents import encode_posteriors
from fullsize import COGVIDEOX_5B_VAE, TINY_VAE, random_init_
from diffusers import AutoencoderKLCogVideoX
from timing import best_time, result_line


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=360)
    parser.add_argument("--vae", choices=("full", "tiny"), default="full")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(**(COGVIDEOX_5B_VAE if args.vae == "full" else TINY_VAE))
    codec = CogVideoXCodec(random_init_(vae).to(device))
    # a smooth moving pattern, so the causal encoder sees motion over the clip
    t = torch.linspace(0, 1, args.frames, device=device).view(-1, 1, 1, 1)
    y = torch.linspace(-1, 1, args.height, device=device).view(1, 1, -1, 1)
    x = torch.linspace(-1, 1, args.width, device=device).view(1, 1, 1, -1)
    phase = torch.tensor([0.0, 2.0, 4.0], device=device).view(1, 3, 1, 1)
    video = torch.sin(6 * x + 4 * t + phase) * torch.cos(4 * y - 3 * t)
    video = video[None].clamp(-1, 1)
    depth_video = video.mean(2, keepdim=True).expand_as(video).contiguous()
    last = args.frames - 1

    clip_time = best_time(lambda: (codec.posterior(video), codec.posterior(depth_video)), device, args.repeat)
    image_time = best_time(lambda: codec.posterior(video[:, [0, last]].flatten(0, 1)[:, None]), device, args.repeat)
    post = encode_posteriors(codec, video, depth_video, [0, last])
    clip_latents = codec.sample(post.colour)
    first, goal = codec.sample(post.images[0]), codec.sample(post.images[last])
    before = 2 * clip_latents.numel() * 4                       # colour and depth latents, fp32
    after = (post.colour.numel() + post.depth.numel() + 2 * post.images[0].numel()) * 4
    print(f"{args.frames} frames {args.height}x{args.width}, {args.vae} VAE on {device}")
    print(f"clip encodes (colour + depth) {clip_time:.3f} s; one-frame encodes (observation + goal) {image_time:.3f} s "
          f"(+{100 * image_time / clip_time:.1f} %)")
    print(f"cache per window: {before / 2**20:.2f} MiB of latents before, {after / 2**20:.2f} MiB of posteriors now "
          f"(x{after / before:.2f})")
    print(f"one-frame encode vs the clip's latent: observation {100 * relative(clip_latents[:, :1], first):.1f} %, "
          f"goal {100 * relative(clip_latents[:, -1:], goal):.1f} % relative")
    print(result_line("condition_cost", device, extra_encode=image_time / clip_time, cache_bytes=after / before,
                      observation_gap=relative(clip_latents[:, :1], first),
                      goal_gap=relative(clip_latents[:, -1:], goal)))


if __name__ == "__main__":
    main()
