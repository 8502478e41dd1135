"""Seconds and peak GPU memory of the FULL-SIZE AETHER transformer (the released config: CogVideoX-5b-I2V
sizes, 5.6 B parameters, random weights built on the GPU) at one reconstruction window (41 frames of
480x720 -> latent (B, 11, 96, 60, 90), 226 prompt tokens of width 4096), per attention backend.

    .venv/bin/python tools/bench/full_model.py [--only step cfg train vae levers]
                                               [--attention sdpa triton xformers]
                                               [--repeat 3] [--repeat-slow 1] [--tiny] [--threads N]
                                               [--train-precision autocast|bf16]

Parts: ``step`` one denoising step (forward, batch 1, bf16); ``cfg`` a prediction step with CFG (both
branches as batch 2); ``train`` one training step through the trainer's objective (fp32 weights, bf16
autocast, activation checkpointing, the trainer's AdamW + gradient clipping; ``--train-precision bf16``:
bf16 weights and optimizer state instead), forward+backward and the optimizer timed apart; ``vae`` the
CogVideoX-5b VAE (random weights, bf16, tiling + slicing) encoding and decoding the window; ``levers``
one reconstruction step with the memory levers of small cards (group / sequential CPU offload, fp8
weight storage, torchao int8 / fp8 weights where installed). Ratios are ours / stock: a backend against
sdpa, a lever against the resident bf16 model.
Each measurement prints a line and ``RESULT name=... device=... value=<s> memory=<GiB> [ratio=...]``;
the last line is ``RESULT name=total`` (wall seconds, largest peak). A failing part prints ``FAILED``
(traceback on stderr), the others still run, and the exit status is 1.

``--tiny`` (automatic without a GPU) runs every code path on a tiny config of the same classes: on
CPU, times are meaningless, memory is the process's peak RSS, triton runs only under
``TRITON_INTERPRET=1`` and the offload levers move nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from aether.codecs.encoders import RaymapEncoder
from aether.codecs.video import CogVideoXCodec, PixelCodec
from aether.core.attention import DEFAULT_BACKEND
from aether.core.backbone import AetherBackbone
from aether.core.interfaces import IN_CHANNELS, OUT_CHANNELS
from aether.core.model_folder import default_scheduler_config
from aether.core.rope import BASE_FPS
from aether.tasks.sampling import make_scheduler
from aether.train.config import LossConfig, OptimConfig
from aether.train.objective import Objective
from fullsize import (COGVIDEOX_5B_VAE, RELEASED_TRANSFORMER, TINY_TRANSFORMER, TINY_VAE, build_backbone,
                      build_vae, count_parameters, free_memory, peak_gib, reset_peak)
from timing import best_time, describe_device, result_line
from train_step import training_inputs

PARTS = ("step", "cfg", "train", "vae", "levers")
LEVERS = ("resident", "group_offload", "sequential_offload", "fp8_storage", "torchao_int8", "torchao_fp8")
SMALL_CARD_GIB = 24
TIMESTEP = 999  # any timestep costs the same


@dataclass(frozen=True)
class Size:
    """A transformer and VAE config and the window they are timed on."""

    name: str
    transformer: dict[str, Any]
    vae: dict[str, Any]
    frames: int   # video frames, 4k + 1
    height: int
    width: int
    vae_height: int  # the tiny VAE needs frames past its tile size to tile
    vae_width: int

    def latent(self, batch: int, channels: int = IN_CHANNELS) -> tuple[int, ...]:
        return (batch, (self.frames - 1) // 4 + 1, channels, self.height // 8, self.width // 8)


FULL = Size("full (released AetherV1 config)", RELEASED_TRANSFORMER, COGVIDEOX_5B_VAE, 41, 480, 720, 480, 720)
TINY = Size("tiny", TINY_TRANSFORMER, TINY_VAE, 9, 32, 48, 64, 96)


class Skip(Exception):
    """A measurement that cannot run here: its reason is printed, and it is not a failure."""


@dataclass
class Bench:
    """What the parts share: settings, the cached inference model, failures and the largest peak."""

    device: torch.device
    size: Size
    backends: list[str]
    repeat: int
    repeat_slow: int
    train_precision: str = "autocast"
    dtype: torch.dtype = torch.bfloat16
    failures: list[str] = field(default_factory=list)
    largest_peak: float = 0.0
    _backbone: AetherBackbone | None = None

    def inference_backbone(self) -> AetherBackbone:
        """The bf16 inference model, built once for ``step``, ``cfg`` and the resident lever."""
        if self._backbone is None:
            start = time.perf_counter()
            self._backbone = build_backbone(self.size.transformer, self.device, self.dtype)
            print(f"built the {self.size.name} transformer: {count_parameters(self._backbone) / 1e9:.2f} B "
                  f"parameters, {self.dtype}, {time.perf_counter() - start:.1f} s")
        return self._backbone

    def release(self) -> None:
        self._backbone = None
        free_memory(self.device)

    def report(self, name: str, text: str, seconds: float, memory: float, ratio: float | None = None) -> None:
        """A human line, then the machine line."""
        self.largest_peak = max(self.largest_peak, memory)
        print(f"{text:44s} {seconds:9.4f} s  peak {memory:7.2f} GiB" + (f"  x{ratio:.3f}" if ratio else ""))
        fields = dict(value=seconds, memory=memory) | (dict(ratio=ratio) if ratio else {})
        print(result_line(name, self.device, **fields), flush=True)  # a run killed at its limit keeps these

    def attempt(self, label: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn``; a :class:`Skip` prints its reason, any other error is recorded and printed as
        ``FAILED`` with the traceback on stderr, so the next measurement still runs."""
        try:
            return fn()
        except Skip as reason:
            print(f"skipped {label}: {reason}", flush=True)
        except Exception as exc:  # one bug must not lose the other numbers
            self.failures.append(label)
            message = " ".join(str(exc).split())[:300]
            print(f"FAILED {label}: {type(exc).__name__}: {message}", flush=True)
            traceback.print_exc(file=sys.stderr)
        return None


def measure(bench: Bench, fn: Callable[[], Any], repeat: int, warmup: int = 1) -> tuple[float, float]:
    """Best seconds of ``fn`` and the peak memory over the warm-up and timed calls."""
    free_memory(bench.device)
    reset_peak(bench.device)
    seconds = best_time(fn, bench.device, repeat, warmup)
    return seconds, peak_gib(bench.device)


def check_finite(tensor: torch.Tensor, what: str) -> None:
    if not torch.isfinite(tensor).all():
        raise FloatingPointError(f"{what} holds NaN or inf values")


def select_backend(backbone: AetherBackbone, name: str, device: torch.device) -> None:
    """Install attention backend ``name``, or :class:`Skip` with the reason it cannot run here."""
    if name.startswith("triton") and device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise Skip("needs CUDA (or TRITON_INTERPRET=1 on CPU); without it the processor silently runs the "
                   "torch reference")
    try:
        backbone.set_attention_backend(name)
    except Exception as exc:  # a backend that cannot be built is skipped, not failed
        raise Skip(f"cannot be built ({' '.join(str(exc).split())})") from exc


def denoise_step(bench: Bench, backbone: AetherBackbone, batch: int) -> Callable[[], torch.Tensor]:
    """One transformer forward on random latents + condition, with the stored (random) empty prompt."""
    latent = torch.randn(bench.size.latent(batch), device=bench.device, dtype=bench.dtype)
    timestep = torch.full((batch,), TIMESTEP, device=bench.device, dtype=torch.long)

    def step() -> torch.Tensor:
        with torch.no_grad():  # not inference_mode: offload hooks assign .data on parameters
            return backbone(latent, timestep, BASE_FPS)
    return step


def time_forward(bench: Bench, backbone: AetherBackbone, batch: int, repeat: int) -> tuple[float, float]:
    """Seconds and peak memory of :func:`denoise_step`; the last output must be finite and well shaped."""
    step, outputs = denoise_step(bench, backbone, batch), []
    seconds, memory = measure(bench, lambda: outputs.__setitem__(slice(None), [step()]), repeat)
    want = bench.size.latent(batch, OUT_CHANNELS)
    if tuple(outputs[0].shape) != want:
        raise ValueError(f"output shape {tuple(outputs[0].shape)}, want {want}")
    check_finite(outputs[0], "the transformer output")
    return seconds, memory


def forward_part(bench: Bench, part: str, batch: int, what: str) -> None:
    """``step`` / ``cfg``: the forward per attention backend, ratios against sdpa."""
    backbone = bench.inference_backbone()
    print(f"[{part}] {what}: latent {bench.size.latent(batch)}, {bench.dtype}, no_grad")
    base = None
    for backend in bench.backends:
        def one(backend: str = backend) -> None:
            nonlocal base
            select_backend(backbone, backend, bench.device)
            seconds, memory = time_forward(bench, backbone, batch, bench.repeat)
            base = base or (seconds if backend == "sdpa" else None)
            bench.report(f"{part}.{backend}", f"{part} {backend}", seconds, memory,
                         seconds / base if base and backend != "sdpa" else None)
        bench.attempt(f"{part}/{backend}", one)
    backbone.set_attention_backend(DEFAULT_BACKEND)


def part_step(bench: Bench) -> None:
    forward_part(bench, "step", 1, "one denoising step (reconstruction, no CFG)")


def part_cfg(bench: Bench) -> None:
    forward_part(bench, "cfg", 2, "one prediction step with CFG (uncond + cond as one batch)")


def part_train(bench: Bench) -> None:
    """Forward+backward per backend and the optimizer step once, with the optimizer state allocated first
    so every backend's peak includes it (as in a real run)."""
    bench.release()  # the model, gradients and AdamW state need the card to themselves
    device, batch = bench.device, 1
    pure_bf16 = bench.train_precision == "bf16"
    weights = torch.bfloat16 if pure_bf16 else torch.float32
    start = time.perf_counter()
    backbone = build_backbone(bench.size.transformer, device, weights).train()
    backbone.transformer.enable_gradient_checkpointing()
    opt = OptimConfig()
    optimizer = torch.optim.AdamW(backbone.parameters(), lr=opt.lr, betas=opt.betas, eps=opt.eps,
                                  weight_decay=opt.weight_decay)
    objective = Objective(LossConfig(stage=1), make_scheduler(default_scheduler_config()), PixelCodec(),
                          RaymapEncoder())
    inputs = training_inputs(bench.size.latent(batch, OUT_CHANNELS), device)
    use_autocast = not pure_bf16 and device.type == "cuda"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_autocast)
    precision = ("bf16 weights, gradients and AdamW state, no autocast" if pure_bf16
                 else "fp32 weights + bf16 autocast (the trainer's)" if use_autocast
                 else "fp32, no autocast (the trainer's on CPU)")
    print(f"[train] batch {batch}, stage 1 objective, {precision}, activation checkpointing, torch AdamW "
          f"(foreach, lr {opt.lr}, state in the weights' dtype) + clip_grad_norm_ {opt.max_grad_norm}; "
          f"built in {time.perf_counter() - start:.1f} s")

    def model(latent: torch.Tensor, timestep: torch.Tensor, fps: torch.Tensor) -> torch.Tensor:
        return backbone(latent.to(weights), timestep, fps)  # the objective builds fp32 inputs
    losses: list[torch.Tensor] = []

    def forward_backward() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = objective(model, inputs, {})["total"].mean()
        loss.backward()
        losses[:] = [loss.detach()]

    def optimizer_step() -> None:
        torch.nn.utils.clip_grad_norm_(backbone.parameters(), opt.max_grad_norm)
        optimizer.step()

    primed, optim, base = None, (0.0, 0.0), None
    for backend in bench.backends:
        def one(backend: str = backend) -> None:
            nonlocal primed, optim, base
            select_backend(backbone, backend, device)
            if primed is None:  # gradients, then the optimizer (allocating its state) on the first backend
                forward_backward()
                optim = measure(bench, optimizer_step, bench.repeat)
                bench.report("train.optimizer", "train optimizer step (AdamW + clip)", *optim)
                primed = backend
            seconds, memory = measure(bench, forward_backward, bench.repeat, warmup=0 if backend == primed else 1)
            check_finite(losses[0], "the training loss")
            base = base or (seconds if backend == "sdpa" else None)
            other = base and backend != "sdpa"
            bench.report(f"train.fwd_bwd.{backend}", f"train forward+backward {backend}", seconds, memory,
                         seconds / base if other else None)
            total = seconds + optim[0]
            bench.report(f"train.step.{backend}", f"train step {backend} (fwd+bwd+optimizer)", total,
                         max(memory, optim[1]), total / (base + optim[0]) if other else None)
        bench.attempt(f"train/{backend}", one)


WARM_FRAMES = 9  # the VAE runs 8 frames (2 latents) at a time: a short clip loads the same kernels


def part_vae(bench: Bench) -> None:
    """Encode and decode of the window through the codec AETHER runs (``CogVideoXCodec``: tiling and
    slicing on), with the CogVideoX-5b VAE config and random weights. Warmed up once on a short clip of
    the same frame size (a full call takes seconds), then timed on the whole window."""
    bench.release()
    size, device = bench.size, bench.device
    codec = CogVideoXCodec(build_vae(size.vae, device, bench.dtype))
    print(f"[vae] AutoencoderKLCogVideoX {count_parameters(codec.vae) / 1e6:.1f} M parameters, scaling factor "
          f"{codec.scaling_factor}, {bench.dtype}, tiling + slicing; {size.frames} frames of "
          f"{size.vae_height}x{size.vae_width}")
    video = torch.rand(1, size.frames, 3, size.vae_height, size.vae_width, device=device, dtype=bench.dtype) * 2 - 1
    latents: list[torch.Tensor] = []
    frames: list[torch.Tensor] = []

    def encode(clip: torch.Tensor = video) -> None:
        latents[:] = [codec.encode(clip)]

    def decode() -> None:
        with torch.no_grad():
            frames[:] = [codec.decode(latents[0])]

    encode(video[:, :WARM_FRAMES])
    decode()
    seconds, memory = measure(bench, encode, bench.repeat_slow, warmup=0)
    want = (1, (size.frames - 1) // 4 + 1, codec.latent_channels, size.vae_height // 8, size.vae_width // 8)
    if tuple(latents[0].shape) != want:
        raise ValueError(f"latents {tuple(latents[0].shape)}, want {want}")
    check_finite(latents[0], "the VAE latents")
    bench.report("vae.encode", "vae encode", seconds, memory)
    seconds, memory = measure(bench, decode, bench.repeat_slow, warmup=0)
    if tuple(frames[0].shape) != tuple(video.shape):
        raise ValueError(f"decoded {tuple(frames[0].shape)}, want {tuple(video.shape)}")
    check_finite(frames[0], "the decoded video")
    bench.report("vae.decode", "vae decode", seconds, memory)


def need_accelerate(device: torch.device) -> None:
    """diffusers' group-offload hooks call accelerate's ``send_to_device``; ``cpu_offload`` is accelerate's."""
    from diffusers.utils import is_accelerate_available

    if not is_accelerate_available():
        raise Skip("needs accelerate, which is not installed")


def group_offload(backbone: AetherBackbone, device: torch.device) -> str:
    """diffusers group offloading: weights in pinned CPU memory, one block on the GPU at a time, the
    next block's copy overlapped with compute on a side stream."""
    backbone.transformer.to("cpu")
    stream = device.type == "cuda"  # streams need an accelerator
    backbone.transformer.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"),
                                              offload_type="block_level", num_blocks_per_group=1, use_stream=stream)
    return f"diffusers enable_group_offload(block_level, 1 block/group{', stream' if stream else ''})"


def sequential_offload(backbone: AetherBackbone, device: torch.device) -> str:
    """accelerate's cpu_offload (what pipelines' enable_sequential_cpu_offload uses): each leaf module's
    weights copied in for its own forward, no overlap."""
    from accelerate import cpu_offload

    backbone.transformer.to("cpu")
    cpu_offload(backbone.transformer, execution_device=device)
    return "accelerate cpu_offload (per module, no overlap)"


def fp8_storage(backbone: AetherBackbone, device: torch.device) -> str:
    """diffusers layerwise casting: weights stored in float8_e4m3fn, cast to bf16 layer by layer (norms
    and the patch embedding stay bf16); no extra package needed."""
    backbone.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    return "diffusers enable_layerwise_casting(float8_e4m3fn storage, bf16 compute)"


TORCHAO_CONFIGS = {"int8": ("Int8WeightOnlyConfig", "int8_weight_only"),  # new API name, then the old one
                   "fp8": ("Float8WeightOnlyConfig", "float8_weight_only")}


def torchao_config(kind: str, device: torch.device) -> Callable[[], Any]:
    """torchao's weight-only ``kind`` config factory, or :class:`Skip` where torchao cannot do it here."""
    try:
        from torchao import quantization
    except Exception as exc:  # ImportError, or a torchao built for another torch
        raise Skip(f"torchao does not import ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from exc
    if kind == "fp8" and device.type != "cuda":
        raise Skip("fp8 weight-only kernels need a CUDA GPU (compute capability 8.9+)")
    factory = next((getattr(quantization, n) for n in TORCHAO_CONFIGS[kind] if hasattr(quantization, n)), None)
    if factory is None:
        raise Skip(f"this torchao has neither {' nor '.join(TORCHAO_CONFIGS[kind])}")
    return factory


def torchao_weights(kind: str) -> Callable[[AetherBackbone, torch.device], str]:
    def apply(backbone: AetherBackbone, device: torch.device) -> str:
        from torchao.quantization import quantize_

        factory = torchao_config(kind, device)
        quantize_(backbone.transformer, factory())
        return f"torchao quantize_({factory.__name__}())"
    return apply


# lever -> (check raising Skip before 5.6 B parameters are built for nothing, setup on the built model)
LEVER_SETUP: dict[str, tuple[Callable[[torch.device], Any], Callable[[AetherBackbone, torch.device], str]]] = {
    "group_offload": (need_accelerate, group_offload),
    "sequential_offload": (need_accelerate, sequential_offload),
    "fp8_storage": (lambda device: None, fp8_storage),
    "torchao_int8": (lambda device: torchao_config("int8", device), torchao_weights("int8")),
    "torchao_fp8": (lambda device: torchao_config("fp8", device), torchao_weights("fp8")),
}
# host copies or unfused dequantisation make these slow and steady: few repeats suffice
SLOW_LEVERS = {"group_offload", "sequential_offload", "torchao_int8", "torchao_fp8"}
OFFLOAD_LEVERS = {"group_offload", "sequential_offload"}


def run_lever(bench: Bench, lever: str, base: list[float]) -> None:
    """One reconstruction step (batch 1, sdpa) with ``lever`` on a freshly built bf16 model."""
    if lever == "resident":
        backbone, how = bench.inference_backbone(), "bf16 weights resident on the device"
    else:
        check, setup = LEVER_SETUP[lever]
        check(bench.device)
        bench.release()  # nothing else resident: the peak is the lever's own
        backbone = build_backbone(bench.size.transformer, bench.device, bench.dtype)
        how = setup(backbone, bench.device)
    backbone.set_attention_backend(DEFAULT_BACKEND)
    if bench.device.type != "cuda" and lever in OFFLOAD_LEVERS:
        how += " [CPU: hooks only, nothing moves]"
    repeat = bench.repeat_slow if lever in SLOW_LEVERS else bench.repeat
    seconds, memory = time_forward(bench, backbone, 1, repeat)
    print(f"  {lever}: {how}; peak under {SMALL_CARD_GIB} GiB: {'yes' if memory < SMALL_CARD_GIB else 'no'}")
    if lever == "resident":
        base.append(seconds)
    ratio = seconds / base[0] if base and lever != "resident" else None
    bench.report(f"lever.{lever}", f"lever {lever}", seconds, memory, ratio)


def part_levers(bench: Bench) -> None:
    print(f"[levers] one reconstruction step, batch 1, {DEFAULT_BACKEND} attention; ratio = lever / resident")
    base: list[float] = []
    for lever in LEVERS:
        bench.attempt(f"levers/{lever}", lambda lever=lever: run_lever(bench, lever, base))
    bench.release()


RUN: dict[str, Callable[[Bench], None]] = {"step": part_step, "cfg": part_cfg, "train": part_train,
                                           "vae": part_vae, "levers": part_levers}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run (in this order)")
    parser.add_argument("--attention", nargs="+", default=["sdpa", "triton", "triton-rope", "xformers"],
                        help="attention backends for step, cfg and train (sdpa always runs first: the ratios' base)")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls of step, cfg, train, resident/fp8 levers")
    parser.add_argument("--repeat-slow", type=int, default=1, help="timed calls of the VAE and the offload levers")
    parser.add_argument("--train-precision", choices=("autocast", "bf16"), default="autocast",
                        help="train: fp32 weights + bf16 autocast (the trainer's) or bf16 weights and AdamW state")
    parser.add_argument("--tiny", action="store_true", help="tiny config of the same classes (CPU-sized)")
    parser.add_argument("--threads", type=int, help="CPU intra-op threads (default: torch's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(describe_device(device))
    if device.type != "cuda" and not args.tiny:
        print("no GPU present: the full-size model needs one; running --tiny")
        args.tiny = True
    backends = ["sdpa"] + [b for b in dict.fromkeys(args.attention) if b != "sdpa"]
    bench = Bench(device, TINY if args.tiny else FULL, backends, args.repeat, args.repeat_slow, args.train_precision)
    size = bench.size
    print(f"config {size.name}: {size.frames} frames of {size.height}x{size.width} -> latent {size.latent(1)}, "
          f"{size.transformer['max_text_seq_length']} text tokens x {size.transformer['text_embed_dim']}")
    for part in (p for p in PARTS if p in args.only):
        part_start = time.perf_counter()
        bench.attempt(part, lambda part=part: RUN[part](bench))
        bench.attempt(f"{part}/cleanup", lambda: free_memory(device))  # raises only on a broken CUDA context
        print(f"[{part}] done in {time.perf_counter() - part_start:.1f} s", flush=True)
    if bench.failures:
        print(f"{len(bench.failures)} failed: {', '.join(bench.failures)}")
    bench.report("total", "total wall time, largest peak", time.perf_counter() - start, bench.largest_peak)
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
