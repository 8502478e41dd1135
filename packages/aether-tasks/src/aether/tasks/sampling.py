"""The denoising loop: CogVideoX DPM (default) or DDIM scheduler, v-prediction, classifier-free
guidance with the released dynamic weight (docs/FORMATS.md#tensor-layout), seeded noise and a progress bar.

The model is any callable ``denoiser(x (B, T, 96, h, w), timestep (B,)) -> (B, T, 56, h, w)``:
the pipeline closes over the backbone, the fps and the prompt embedding.
"""

from __future__ import annotations

import math
from typing import Callable, Literal

import torch
from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler
from diffusers.utils.torch_utils import randn_tensor
from pydantic import BaseModel, ConfigDict, Field

from aether.core.interfaces import OUT_CHANNELS
from aether.core.progress import progress_bar

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SCHEDULERS = {"dpm": CogVideoXDPMScheduler, "ddim": CogVideoXDDIMScheduler}


class SamplingConfig(BaseModel):
    """How to sample one task; ``None`` fields take the masking's defaults (see :meth:`resolved`)."""

    model_config = ConfigDict(extra="forbid")

    steps: int | None = Field(None, ge=1, le=1000, description="denoising steps")
    guidance: float | None = Field(None, ge=0.0, description="CFG weight w; <= 1 turns CFG off")
    dynamic_cfg: bool | None = Field(None, description="use the released dynamic CFG weight")
    scheduler: Literal["dpm", "ddim"] = "dpm"
    eta: float = Field(0.0, ge=0.0, le=1.0, description="DDIM/DPM noise weight")
    seed: int | None = Field(0, description="seed of the pass's one generator, drawn from in the release's order: "
                                            "colour-condition posterior samples, initial noise, solver noise; "
                                            "None = random")
    posterior: Literal["sample", "mode"] = Field(
        "sample", description="colour conditions: the VAE posterior sampled with the seeded generator (the "
                              "release) or its mode (noise-free, seed-independent)")
    latents: Literal["model", "float32"] = Field(
        "model", description="dtype of the latents and the noise between steps: the model's (the release; a bf16 "
                             "run matches its sample at the same seed) or float32 (closer to an fp32 run)")
    progress: bool = True

    def resolved(self, masking) -> "SamplingConfig":
        """A copy with unset steps / guidance / dynamic_cfg taken from ``masking``'s defaults."""
        return self.model_copy(update={
            "steps": self.steps or masking.default_steps,
            "guidance": masking.default_guidance if self.guidance is None else self.guidance,
            "dynamic_cfg": masking.dynamic_cfg if self.dynamic_cfg is None else self.dynamic_cfg})


def dynamic_guidance(guidance: float, timestep: float, num_steps: int) -> float:
    """The released dynamic CFG weight ``1 + w (1 - cos(pi ((N - t) / N)^5)) / 2``.

    As in the released AETHER and diffusers CogVideoX pipelines, ``N`` is the number of inference
    steps and ``t`` the scheduler's *training* timestep (e.g. 999 ... 0), not the step index; we
    keep that exactly, since it is what the released weights were sampled with.
    """
    return 1.0 + guidance * (1.0 - math.cos(math.pi * ((num_steps - timestep) / num_steps) ** 5.0)) / 2.0


def make_scheduler(config: dict, kind: str = "dpm"):
    """A fresh CogVideoX DPM or DDIM scheduler from one config (the released folder ships the DPM
    config; DDIM reads the same fields)."""
    if kind not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {kind!r}; use one of {', '.join(SCHEDULERS)}")
    return SCHEDULERS[kind].from_config(config)


def seeded_generator(seed: int | None, device: torch.device | str) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (a random seed if None)."""
    generator = torch.Generator(device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def denoise(denoiser: Denoiser, condition: torch.Tensor, scheduler, config: SamplingConfig,
            uncond_condition: torch.Tensor | None = None, dtype: torch.dtype = torch.float32,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample the model output ``(B, T, 56, h, w)`` given ``condition (B, T, 40, h, w)``.

    ``config`` must be resolved (steps, guidance, dynamic_cfg set). CFG runs when guidance > 1 and
    ``uncond_condition`` is given: both branches go through the model as one batch (uncond first).
    The latents and the noise drawn from ``generator`` (default: seeded by ``config.seed``) are held
    in the model's ``dtype`` between steps as in the release (its bf16 sample at the same seed needs
    both: bf16 and float32 normal draws differ), or in float32 with ``config.latents="float32"``; the
    prediction and the CFG mix are float32, and the scheduler steps from the held latents.
    """
    if config.steps is None or config.guidance is None or config.dynamic_cfg is None:
        raise ValueError("denoise needs a resolved SamplingConfig; call config.resolved(masking)")
    if generator is None:
        generator = seeded_generator(config.seed, condition.device)
    held = dtype if config.latents == "model" else torch.float32
    batch, frames, _, h, w = condition.shape
    use_cfg = config.guidance > 1.0 and uncond_condition is not None
    model_condition = torch.cat([uncond_condition, condition]) if use_cfg else condition
    model_condition = model_condition.to(dtype)

    scheduler.set_timesteps(config.steps, device=condition.device)
    timesteps = scheduler.timesteps
    latents = randn_tensor((batch, frames, OUT_CHANNELS, h, w), generator=generator,
                           device=condition.device, dtype=held) * scheduler.init_noise_sigma
    is_dpm = isinstance(scheduler, CogVideoXDPMScheduler)
    old_pred = None
    for i, t in enumerate(progress_bar(timesteps, desc="denoising", disable=not config.progress, leave=False)):
        model_in = torch.cat([latents] * 2) if use_cfg else latents
        model_in = scheduler.scale_model_input(model_in, t)
        model_in = torch.cat([model_in.to(dtype), model_condition], dim=2)
        pred = denoiser(model_in, t.expand(model_in.shape[0])).float()
        if use_cfg:
            weight = (dynamic_guidance(config.guidance, t.item(), config.steps) if config.dynamic_cfg
                      else config.guidance)
            pred_uncond, pred_cond = pred.chunk(2)
            pred = pred_uncond + weight * (pred_cond - pred_uncond)
        if is_dpm:
            previous = timesteps[i - 1] if i > 0 else None
            latents, old_pred = scheduler.step(pred, old_pred, t, previous, latents, eta=config.eta,
                                               generator=generator, return_dict=False)
        else:
            latents = scheduler.step(pred, t, latents, eta=config.eta, generator=generator,
                                     return_dict=False)[0]
        latents = latents.to(held)
    return latents
