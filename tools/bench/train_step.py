"""Samples/s and peak memory of one AETHER training step (forward, backward, AdamW) through the
trainer's own objective, for the tiny config on CPU and a mid-size config on a GPU, with each
attention backend asked for; ratios are against the sdpa run measured in the same run.

    .venv/bin/python tools/bench/train_step.py [--config tiny|mid] [--attention sdpa triton]
                                               [--batch 4] [--frames 17] [--stage 1|2]
                                               [--checkpointing] [--repeat 5] [--threads N]

Without a GPU only the tiny config runs and ``triton`` is skipped (the Triton interpreter is for
correctness, not speed). CPU peak memory is the process's peak RSS so far (it only grows).
"""

from __future__ import annotations

import argparse
import resource

import torch
from aether.codecs.encoders import RaymapEncoder
from aether.codecs.video import PixelCodec
from aether.core.backbone import AetherBackbone
from aether.core.interfaces import ACTION_CHANNELS, COLOUR_CHANNELS, OUT_CHANNELS
from aether.core.model_folder import default_scheduler_config
from aether.core.rope import BASE_FPS
from aether.tasks.sampling import make_scheduler
from aether.train.conditions import TaskDraw, TaskSampler
from aether.train.config import LossConfig, TasksConfig
from aether.train.objective import ModelInputs, Objective
from timing import best_time, describe_device

# (transformer overrides, frame height, frame width)
CONFIGS = {
    "tiny": ({"num_layers": 1}, 32, 48),
    "mid": ({"num_layers": 8, "num_attention_heads": 16, "attention_head_dim": 64, "time_embed_dim": 512,
                 "text_embed_dim": 4096, "max_text_seq_length": 226}, 240, 368),
}


def training_inputs(shape: tuple[int, ...], device: torch.device) -> ModelInputs:
    """Seeded random clean latents ``shape = (B, T, 56, h, w)``, noise, a prediction-task condition
    (observation and action kept), timesteps and fps 12, on ``device``."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(shape, generator=g)
    draws = [TaskDraw("prediction", True)] * shape[0]
    observed = [x0[i:i + 1, :1, :COLOUR_CHANNELS] for i in range(shape[0])]  # the first latent, as an observation
    condition = TaskSampler(TasksConfig()).condition(draws, observed, x0[:, :, -ACTION_CHANNELS:])
    return ModelInputs(x0=x0.to(device), noise=torch.randn(x0.shape, generator=g).to(device),
                       condition=condition.to(device),
                       timesteps=torch.randint(0, 1000, (shape[0],), generator=g).to(device),
                       fps=torch.full((shape[0],), BASE_FPS), draws=draws)


def make_step(config: str, attention: str, batch: int, frames: int, stage: int, checkpointing: bool,
              device: torch.device):
    """A closure running one training step on fixed random inputs, and the samples it holds."""
    overrides, height, width = CONFIGS[config]
    h, w, latent_frames = height // 8, width // 8, (frames - 1) // 4 + 1
    backbone = AetherBackbone.tiny(sample_height=h, sample_width=w, sample_frames=frames, **overrides).to(device)
    backbone.set_attention_backend(attention)
    if checkpointing:
        backbone.transformer.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(backbone.parameters(), lr=1e-5)
    scheduler = make_scheduler(default_scheduler_config())
    objective = Objective(LossConfig(stage=stage), scheduler, PixelCodec(), RaymapEncoder())
    inputs = training_inputs((batch, latent_frames, OUT_CHANNELS, h, w), device)
    pixels = {"video": torch.rand(batch, frames, 3, height, width, device=device) * 2 - 1,
              "depth": torch.rand(batch, frames, height, width, device=device) + 1,
              "p_max": torch.ones(batch, device=device), "action": inputs.x0[:, :, -ACTION_CHANNELS:]}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def step() -> None:
        with autocast:
            loss = objective(backbone, inputs, pixels)["total"].mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=CONFIGS, help="default: mid on a GPU, tiny on CPU")
    parser.add_argument("--attention", nargs="+", default=["sdpa", "triton"], help="backends to time")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=17, help="video frames per example (4k + 1)")
    parser.add_argument("--stage", type=int, choices=(1, 2), default=1)
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, help="CPU intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(describe_device(device))
    config = args.config or ("mid" if device.type == "cuda" else "tiny")
    backends = ["sdpa"] + [b for b in args.attention if b != "sdpa"]
    if device.type == "cpu":
        if config != "tiny":
            print("no GPU present: the mid config is for GPUs; timing tiny")
            config = "tiny"
        if "triton" in backends:
            print("no GPU present: triton skipped")
            backends.remove("triton")
    _, height, width = CONFIGS[config]
    print(f"config {config}: {args.batch} x {args.frames} frames of {height}x{width}, stage {args.stage}, "
          f"{'bf16 autocast' if device.type == 'cuda' else f'fp32, {torch.get_num_threads()} CPU threads'}"
          f"{', activation checkpointing' if args.checkpointing else ''}")
    base = None
    for backend in backends:
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        step = make_step(config, backend, args.batch, args.frames, args.stage, args.checkpointing, device)
        seconds = best_time(step, device, args.repeat)
        rate = args.batch / seconds
        base = base or rate
        print(f"{backend:8s} {rate:10.2f} samples/s  {seconds * 1e3:9.1f} ms/step  x{rate / base:.2f} vs sdpa  "
              f"peak {'GPU' if device.type == 'cuda' else 'RSS'} {peak_memory_mib(device):9.0f} MiB")


if __name__ == "__main__":
    main()
