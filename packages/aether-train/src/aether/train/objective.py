"""The training objective: a batch of windows -> model inputs (latents, seeded task conditions,
timesteps and noise) -> per-example losses of stage 1 or 2 (SPEC §6).

The model input is assembled exactly as :mod:`aether.tasks.sampling` does at inference:
``cat([noisy (56), condition (40)], channel)`` with the integer training timestep, the example's
fps and the stored empty-prompt embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from aether.codecs import depth as depth_codec
from aether.codecs import raymap as raymap_codec
from aether.core.interfaces import ACTION_CHANNELS, COLOUR_CHANNELS, DEPTH_CHANNELS
from aether.train import losses
from aether.train.conditions import TaskDraw, TaskSampler
from aether.train.config import LossConfig
from aether.train.sampler import CONDITION, DIFFUSION, example_rng

_DEPTH = slice(COLOUR_CHANNELS, COLOUR_CHANNELS + DEPTH_CHANNELS)
_RAYMAP = slice(COLOUR_CHANNELS + DEPTH_CHANNELS, COLOUR_CHANNELS + DEPTH_CHANNELS + ACTION_CHANNELS)


@dataclass
class ModelInputs:
    """One micro-batch ready for the model: ``x0``/``noise`` ``(B, T, 56, h, w)``, ``condition
    (B, T, 40, h, w)``, ``timesteps (B,)`` int, ``fps (B,)`` and each example's task draw."""

    x0: torch.Tensor
    noise: torch.Tensor
    condition: torch.Tensor
    timesteps: torch.Tensor
    fps: torch.Tensor
    draws: list[TaskDraw]


def latents_of(batch: dict, video_codec, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour and depth latents ``(B, T, 16, h, w)``: from the cache if the batch has them, else
    from the frozen video codec."""
    if "colour_latents" in batch:
        return batch["colour_latents"].to(device), batch["depth_latents"].to(device)
    with torch.no_grad():
        return (video_codec.encode(batch["video"].to(device)).float(),
                video_codec.encode(batch["depth_video"].to(device)).float())


def model_inputs(batch: dict, video_codec, tasks: TaskSampler, seed: int, num_train_timesteps: int,
                 device: torch.device, draws: list[TaskDraw] | None = None) -> ModelInputs:
    """Latents, conditions, uniform timesteps and noise of a batch; every draw is seeded by the
    example's ``(step, slot)`` key, so it does not depend on the batch split or the process count.
    ``draws`` overrides the sampled tasks (the fixed per-task evaluation)."""
    colour, depth = latents_of(batch, video_codec, device)
    action = batch["action"].to(device=device, dtype=colour.dtype)
    x0 = torch.cat([colour, depth, action], dim=2)
    keys = batch["keys"].tolist()
    draws = draws or [tasks.draw(example_rng(seed, step, slot, CONDITION)) for step, slot in keys]
    timesteps, noise = [], []
    for step, slot in keys:
        rng = example_rng(seed, step, slot, DIFFUSION)
        timesteps.append(int(rng.integers(num_train_timesteps)))
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        noise.append(torch.randn(x0.shape[1:], generator=generator))
    return ModelInputs(x0=x0, noise=torch.stack(noise).to(device), condition=tasks.condition(draws, colour, action),
                       timesteps=torch.tensor(timesteps, device=device), fps=batch["fps"], draws=draws)


class Objective:
    """Per-example losses ``{name: (B,)}`` (and their weighted sum ``total``) of one micro-batch."""

    def __init__(self, config: LossConfig, scheduler, video_codec, action_layout: str = "strided") -> None:
        self.config, self.scheduler, self.video_codec = config, scheduler, video_codec
        self.action_layout = action_layout

    def __call__(self, model, inputs: ModelInputs, batch: dict) -> dict[str, torch.Tensor]:
        noisy = self.scheduler.add_noise(inputs.x0, inputs.noise, inputs.timesteps)
        target = losses.diffusion_target(self.scheduler, inputs.x0, inputs.noise, inputs.timesteps)
        model_in = torch.cat([noisy, inputs.condition], dim=2)
        prediction = model(model_in, inputs.timesteps, inputs.fps)
        terms = {"latent": losses.latent_mse(prediction, target)}
        total = self.config.latent * terms["latent"]
        if self.config.stage == 2:
            x0 = losses.predicted_x0(self.scheduler, noisy, prediction.float(), inputs.timesteps)
            terms.update(self.decoded_losses(x0, batch, noisy.device))
            total = total + sum(getattr(self.config, name) * terms[name] for name in ("ms_ssim", "depth", "pointmap"))
        terms["total"] = total
        return terms

    def decoded_losses(self, x0: torch.Tensor, batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
        """Stage 2: decode the predicted clean latents ``(B, T, 56, h, w)`` and compare in pixels."""
        cfg = self.config
        video = batch["video"].to(device)
        depth = batch["depth"].to(device)
        p_max = batch["p_max"].to(device).view(-1, 1, 1, 1)
        colour = self.video_codec.decode(x0[:, :, :COLOUR_CHANNELS])
        pred_depth = depth_codec.decode(self.video_codec.decode(x0[:, :, _DEPTH]).float())  # relative depth
        valid = depth > 0
        disparity = torch.where(valid, 1.0 / (depth * p_max).clamp_min(1e-12), torch.zeros_like(depth))
        pred_raymap = raymap_codec.unpack(x0[:, :, _RAYMAP], self.action_layout)
        raymap = raymap_codec.unpack(batch["action"].to(device), self.action_layout)
        return {"ms_ssim": losses.colour_loss(colour, video),
                "depth": losses.ssi_depth_loss(1.0 / pred_depth, disparity, valid, cfg.depth_gradient,
                                               cfg.gradient_scales),
                "pointmap": losses.pointmap_loss(pred_depth, pred_raymap, depth * p_max, raymap, cfg.pointmap_norm)}
