"""The training objective: a batch of windows -> model inputs (latents, seeded task conditions,
timesteps and noise) -> per-example losses of stage 1 or 2 (the aether-train README, how it works).

The model input is assembled exactly as :mod:`aether.tasks.sampling` does at inference:
``cat([noisy (56), condition (40)], channel)`` with the integer training timestep, the example's
fps and the stored empty-prompt embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from aether.codecs import depth as depth_codec
from aether.core.errors import ActionLayoutError
from aether.core.interfaces import ACTION_CHANNELS, COLOUR_CHANNELS, DEPTH_CHANNELS, ActionEncoder
from aether.tasks.sampling import seeded_generator
from aether.train import losses
from aether.train.conditions import TaskDraw, TaskSampler
from aether.train.config import ConfigError, LossConfig, Posterior
from aether.train.latents import observed, posteriors_of, single_frames
from aether.train.sampler import CONDITION, DIFFUSION, example_rng, posterior_seeds

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


def model_inputs(batch: dict, video_codec, tasks: TaskSampler, seed: int, num_train_timesteps: int,
                 device: torch.device, draws: list[TaskDraw] | None = None,
                 posterior: Posterior = "sample") -> ModelInputs:
    """Latents, conditions, uniform timesteps and noise of a batch; every draw is seeded by the
    example's ``(step, slot)`` key, so it does not depend on the batch split or the process count.
    ``draws`` overrides the sampled tasks (the fixed per-task evaluation). The codec's posteriors are
    sampled (``posterior="sample"``, as the release samples its conditions) or taken at their mode."""
    keys = batch["keys"].tolist()
    draws = draws or [tasks.draw(example_rng(seed, step, slot, CONDITION)) for step, slot in keys]
    num_frames = batch["video"].shape[1]
    frames = single_frames([tasks.maskings[draw.task] for draw in draws], num_frames)
    posteriors = posteriors_of(batch, video_codec, frames, device)

    def generator(value: int) -> torch.Generator | None:
        return seeded_generator(value, posteriors.colour.device) if posterior == "sample" else None

    colour, depth, observations, timesteps, noise_seeds = [], [], [], [], []
    for i, ((step, slot), draw) in enumerate(zip(keys, draws)):
        condition_seed, target_seed = posterior_seeds(seed, step, slot)
        targets = generator(target_seed)
        colour.append(video_codec.sample(posteriors.colour[i:i + 1], targets).float())
        depth.append(video_codec.sample(posteriors.depth[i:i + 1], targets).float())
        observations.append(observed(video_codec, posteriors, i, tasks.maskings[draw.task], num_frames,
                                     generator(condition_seed)))
        rng = example_rng(seed, step, slot, DIFFUSION)
        timesteps.append(int(rng.integers(num_train_timesteps)))
        noise_seeds.append(int(rng.integers(2**62)))
    action = batch["action"].to(device=device, dtype=torch.float32)
    x0 = torch.cat([torch.cat(colour), torch.cat(depth), action], dim=2)
    noise = [torch.randn(x0.shape[1:], generator=torch.Generator().manual_seed(s)) for s in noise_seeds]
    return ModelInputs(x0=x0, noise=torch.stack(noise).to(device),
                       condition=tasks.condition(draws, observations, action),
                       timesteps=torch.tensor(timesteps, device=device), fps=batch["fps"], draws=draws)


class Objective:
    """Per-example losses ``{name: (B,)}`` (and their weighted sum ``total``) of one micro-batch."""

    def __init__(self, config: LossConfig, scheduler, video_codec, action_encoder: ActionEncoder) -> None:
        self.config, self.scheduler, self.video_codec = config, scheduler, video_codec
        self.action_encoder, self.has_raymap = action_encoder, True
        try:  # the pointmap loss reads the action channels as a raymap: only the encoder knows if they hold one
            action_encoder.to_raymap(torch.zeros(1, 2, action_encoder.channels, 1, 1))
        except ActionLayoutError as exc:
            if config.stage == 2 and config.pointmap > 0:
                raise ConfigError(f"loss.pointmap: {exc}; set loss.pointmap: 0 to train stage 2 without the "
                                  "pointmap loss, or use an action encoder that holds one") from None
            self.has_raymap = False

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
        depth_video = self.video_codec.decode(x0[:, :, _DEPTH]).float()
        # the depth loss reads the disparity unclipped, so it keeps its gradient where the prediction leaves
        # the release's range; the pointmap loss reads the release's depth (detached there)
        pred_disparity = depth_codec.disparity(depth_video, clip=False)
        pred_depth = depth_codec.decode(depth_video)  # relative depth
        valid = depth > 0
        disparity = torch.where(valid, 1.0 / (depth * p_max).clamp_min(1e-12), torch.zeros_like(depth))
        terms = {"ms_ssim": losses.colour_loss(colour, video),
                 "depth": losses.ssi_depth_loss(pred_disparity, disparity, valid, cfg.depth_gradient,
                                                cfg.gradient_scales)}
        if self.has_raymap:
            pred_raymap = self.action_encoder.to_raymap(x0[:, :, _RAYMAP])
            raymap = self.action_encoder.to_raymap(batch["action"].to(device))
            terms["pointmap"] = losses.pointmap_loss(pred_depth, pred_raymap, depth * p_max, raymap,
                                                     cfg.pointmap_norm)
        else:  # weighted 0 (checked on construction): logged as 0
            terms["pointmap"] = torch.zeros_like(terms["depth"])
        return terms
